//! Compiling components within bounds. Compilation is the one step of an install whose cost an
//! uploader controls beyond the size of its upload (the pre-check bounds what gets here), so
//! it runs at most `concurrency` at a time, each within a time ceiling: in a thread of this
//! process, or, for a server, in a child process that lowers its own priority (nice 19),
//! limits its own CPU time and address space and is killed past the ceiling.
//!
//! The child builds its engine from the same [`EngineSettings`] through [`engine_config`], so
//! the parent loads what it compiled as if it had compiled it itself.

use crate::RuntimeConfig;
use crate::failure::InstallError;
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// What the engine's configuration depends on: all a child compiler needs to build an engine
/// whose artefacts the runtime's engine accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSettings {
    /// Fuel metering (it changes the generated code).
    pub meter_fuel: bool,
    /// Instances alive at once: the pool's size.
    pub max_concurrent_instances: u32,
    /// The largest linear memory of an instance.
    pub max_memory_bytes: usize,
    /// Core instances one component may have.
    pub core_instances_per_component: u32,
    /// Memories one component may have.
    pub memories_per_component: u32,
    /// Tables one component may have.
    pub tables_per_component: u32,
    /// Memory (and table) bytes of a pool slot kept resident between instances
    /// ([`crate::RuntimeLimits::slot_resident_bytes`]).
    pub slot_resident_bytes: usize,
}

impl EngineSettings {
    /// The settings of a runtime's engine.
    pub fn of(config: &RuntimeConfig) -> Self {
        let limits = &config.limits;
        EngineSettings {
            meter_fuel: config.meter_fuel,
            max_concurrent_instances: limits.max_concurrent_instances,
            max_memory_bytes: limits.max_memory_bytes,
            core_instances_per_component: limits.per_component.core_instances,
            memories_per_component: limits.per_component.memories,
            tables_per_component: limits.per_component.tables,
            slot_resident_bytes: limits.slot_resident_bytes,
        }
    }
}

/// The engine configuration (pooling allocator, epoch interruption, fuel) of the runtime and
/// of its child compilers alike.
pub fn engine_config(settings: &EngineSettings) -> Config {
    let instances = settings.max_concurrent_instances;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        // Per component: what one invocation may hold of the pool, checked at install.
        .max_core_instances_per_component(settings.core_instances_per_component)
        .max_memories_per_component(settings.memories_per_component)
        .max_tables_per_component(settings.tables_per_component)
        // A Rust component holds its module plus small shim modules (with a table each).
        .total_core_instances(instances * 8)
        .total_memories(instances * 2)
        .total_tables(instances * 8)
        // One fiber stack per running invocation.
        .total_stacks(instances)
        .max_memory_size(settings.max_memory_bytes)
        // Reset the first pages of a returned slot by zeroing them rather than handing them
        // back to the kernel: the next instance would fault them all in again (and every
        // madvise costs the other cores a TLB shootdown). A rule's working set is small
        // when its stack is (the default wasm32 stack is 1 MiB, below the data).
        .linear_memory_keep_resident(settings.slot_resident_bytes)
        .table_keep_resident(settings.slot_resident_bytes);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(settings.meter_fuel)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// How the runtime compiles components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileConfig {
    /// Where compilations run.
    pub compiler: Compiler,
    /// Compilations at once; other installs wait for a turn.
    pub concurrency: u32,
    /// How long an install waits for a turn before it is refused (`compile-busy`).
    pub max_wait: Duration,
    /// How long one compilation may take; past it the install is refused (`compile-timeout`).
    pub ceiling: Duration,
}

impl Default for CompileConfig {
    fn default() -> Self {
        CompileConfig {
            compiler: Compiler::InProcess,
            concurrency: 1,
            max_wait: Duration::from_secs(30),
            ceiling: Duration::from_secs(30),
        }
    }
}

/// Where compilations run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compiler {
    /// On a thread of this process. Past the ceiling the install is refused, but nothing can
    /// stop the compilation: it runs to its end and keeps its turn until then, so no more than
    /// `concurrency` ever run. For tests and library users; a server uses a child process.
    InProcess,
    /// In a child process, killed at the ceiling.
    ChildProcess(ChildCompiler),
}

/// A child process that compiles one component: `program compile-component <request>`, the
/// component on its stdin, the compiled artefact on its stdout. `pchost` is such a program
/// (it runs [`child_main`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildCompiler {
    /// The executable.
    pub program: PathBuf,
    /// Address space the child may map beyond its engine's own reservations: what the
    /// compiler may allocate, the component and its artefact included.
    pub memory_bytes: u64,
    /// Threads the compiler may use.
    pub threads: u32,
}

impl ChildCompiler {
    /// `program` as the compiler, with 1 GiB of memory and one thread.
    pub fn new(program: PathBuf) -> Self {
        ChildCompiler {
            program,
            memory_bytes: 1 << 30,
            threads: 1,
        }
    }
}

/// The subcommand under which a program serves [`ChildCompiler`] requests.
pub const CHILD_SUBCOMMAND: &str = "compile-component";

/// The nice value of a child compiler: the lowest priority. An uploader controls what its
/// compilation costs (an interpreter's takes 12-15 s of a core); the live invocations of
/// every tenant, whose guest threads run at nice 10, come first.
const COMPILE_NICE: i32 = 19;

/// The child's exit code when the component does not compile: its stderr says why.
const EXIT_INVALID: u8 = 2;

/// Bytes of the child's stderr kept: its refusal, or what it said before it crashed.
const MAX_CHILD_STDERR: u64 = 16 << 10;

/// What the parent asks of a child, as its one argument (JSON).
#[derive(Debug, Serialize, Deserialize)]
struct ChildRequest {
    engine: EngineSettings,
    /// RLIMIT_CPU: a backstop for a child whose parent can no longer kill it.
    cpu_seconds: u64,
    /// RLIMIT_AS beyond the engine's reservations.
    memory_bytes: u64,
    /// The largest component read from stdin.
    max_input_bytes: usize,
}

/// A compiled component, with its serialized artefact when the compiler produced one (a child
/// does; in process it is serialized when it is stored).
pub(crate) struct Compiled {
    pub component: Component,
    pub artefact: Option<Vec<u8>>,
}

/// The runtime's compilers: the turns and the strategy.
#[derive(Debug)]
pub(crate) struct Compilers {
    config: CompileConfig,
    settings: EngineSettings,
    max_input_bytes: usize,
    turns: Arc<Turns>,
}

impl Compilers {
    pub(crate) fn new(config: CompileConfig, settings: EngineSettings, max_input_bytes: usize) -> Self {
        let turns = Arc::new(Turns {
            queue: Mutex::new(Queue {
                free: config.concurrency.max(1),
                next_ticket: 0,
                waiting: VecDeque::new(),
                owners: HashSet::new(),
            }),
            freed: Condvar::new(),
        });
        Compilers {
            config,
            settings,
            max_input_bytes,
            turns,
        }
    }

    /// Waits for a turn to compile, at most `max_wait`, for an install by `owner` (`None`: the
    /// host recompiling an installed version). Turns go first come, first served, and an
    /// owner has one install in line at a time (its next waits for it to end before it gets
    /// in line): an owner uploading slow components one after the other holds one place in
    /// line, not the compiler.
    pub(crate) fn turn(&self, owner: Option<i64>) -> Result<Turn, InstallError> {
        let wait = self.config.max_wait;
        let deadline = Instant::now() + wait;
        let busy = || InstallError::CompileBusy {
            waited_ms: millis(wait),
        };
        let turns = &self.turns;
        let (mut queue, ready) = turns.wait_for(turns.lock(), deadline, |queue| {
            owner.is_none_or(|owner| !queue.owners.contains(&owner))
        });
        if !ready {
            return Err(busy());
        }
        if let Some(owner) = owner {
            queue.owners.insert(owner);
        }
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push_back(ticket);
        let (mut queue, ready) = turns.wait_for(queue, deadline, |queue| {
            queue.free > 0 && queue.waiting.front() == Some(&ticket)
        });
        if !ready {
            queue.waiting.retain(|t| *t != ticket);
            if let Some(owner) = owner {
                queue.owners.remove(&owner);
            }
            turns.freed.notify_all();
            return Err(busy());
        }
        queue.waiting.pop_front();
        queue.free -= 1;
        // Another turn may be free for the next in line.
        turns.freed.notify_all();
        Ok(Turn {
            turns: turns.clone(),
            owner,
        })
    }

    /// Compiles `bytes` in its turn, within the ceiling.
    pub(crate) fn compile(&self, turn: Turn, engine: &Engine, bytes: &[u8]) -> Result<Compiled, InstallError> {
        let started = Instant::now();
        let compiled = match &self.config.compiler {
            Compiler::InProcess => self.in_process(turn, engine, bytes),
            Compiler::ChildProcess(child) => {
                let compiled = self.in_child(child, engine, bytes);
                drop(turn);
                compiled
            }
        };
        tracing::debug!(elapsed = ?started.elapsed(), ok = compiled.is_ok(), "component compiled");
        compiled
    }

    fn in_process(&self, turn: Turn, engine: &Engine, bytes: &[u8]) -> Result<Compiled, InstallError> {
        let (done, result) = mpsc::sync_channel(1);
        let (engine, bytes) = (engine.clone(), bytes.to_vec());
        std::thread::Builder::new()
            .name("pchost-compile".into())
            .spawn(move || {
                // Held until the compilation ends, past the ceiling too.
                let _turn = turn;
                let _ = done.send(Component::new(&engine, &bytes));
            })
            .map_err(|e| InstallError::Compiler(format!("no compile thread: {e}")))?;
        match result.recv_timeout(self.config.ceiling) {
            Ok(Ok(component)) => Ok(Compiled {
                component,
                artefact: None,
            }),
            Ok(Err(e)) => Err(InstallError::Invalid(format!("{e:#}"))),
            Err(RecvTimeoutError::Timeout) => Err(self.timeout()),
            Err(RecvTimeoutError::Disconnected) => Err(InstallError::Compiler("the compile thread panicked".into())),
        }
    }

    fn in_child(&self, child: &ChildCompiler, engine: &Engine, bytes: &[u8]) -> Result<Compiled, InstallError> {
        let ceiling = self.config.ceiling;
        let threads = child.threads.max(1);
        let request = ChildRequest {
            engine: self.settings.clone(),
            // Whole seconds of CPU over all its threads, rounded up, and one to spare: the
            // parent's kill at the ceiling comes first.
            cpu_seconds: (ceiling.as_secs_f64() * f64::from(threads)).ceil() as u64 + 1,
            memory_bytes: child.memory_bytes,
            max_input_bytes: self.max_input_bytes,
        };
        let request = serde_json::to_string(&request).map_err(|e| InstallError::Compiler(e.to_string()))?;
        let mut process = Command::new(&child.program)
            .arg(CHILD_SUBCOMMAND)
            .arg(request)
            // wasmtime compiles functions in parallel on rayon's pool.
            .env("RAYON_NUM_THREADS", threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| InstallError::Compiler(format!("{}: {e}", child.program.display())))?;
        let started = Instant::now();
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (process.stdin.take(), process.stdout.take(), process.stderr.take())
        else {
            let _ = kill(&mut process);
            return Err(InstallError::Compiler("the compiler has no pipes".into()));
        };
        // Threads feed and drain the pipes, so the child never blocks on them while the
        // parent watches the clock. They end when the child does.
        let input = bytes.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&input));
        let limit = child.memory_bytes;
        let output = std::thread::spawn(move || read_at_most(stdout, limit));
        let errors = std::thread::spawn(move || read_at_most(stderr, MAX_CHILD_STDERR));
        let mut pause = Duration::from_millis(1);
        let status = loop {
            let waited = process
                .try_wait()
                .map_err(|e| InstallError::Compiler(format!("waiting for the compiler: {e}")));
            match waited {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < ceiling => {
                    std::thread::sleep(pause.min(ceiling.saturating_sub(started.elapsed())));
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Ok(None) => {
                    kill(&mut process).map_err(|e| InstallError::Compiler(format!("killing the compiler: {e}")))?;
                    tracing::warn!(?ceiling, "compiler killed at the ceiling");
                    return Err(self.timeout());
                }
                Err(e) => {
                    let _ = kill(&mut process);
                    return Err(e);
                }
            }
        };
        let _ = feeder.join();
        let artefact = output.join().unwrap_or_else(|_| Ok(Vec::new()));
        let said = errors.join().unwrap_or_else(|_| Ok(Vec::new())).unwrap_or_default();
        let said = String::from_utf8_lossy(&said).trim().to_owned();
        if status.success() {
            let artefact = artefact.map_err(|e| InstallError::Compiler(format!("reading the artefact: {e}")))?;
            #[expect(
                unsafe_code,
                reason = "the artefact was compiled by this host's own executable in a child process, \
                          with the engine configuration of this runtime, from a component that passed \
                          the pre-check; wasmtime checks the engine configuration and version before using it"
            )]
            // SAFETY: see the reason above: host-produced code, not tenant input.
            let component = unsafe { Component::deserialize(engine, &artefact) };
            let component = component
                .map_err(|e| InstallError::Compiler(format!("the compiler's artefact does not load: {e:#}")))?;
            return Ok(Compiled {
                component,
                artefact: Some(artefact),
            });
        }
        if status.code() == Some(i32::from(EXIT_INVALID)) {
            return Err(InstallError::Invalid(said));
        }
        // Its CPU limit: the same ceiling, as the child measured it.
        if status.signal() == Some(rustix::process::Signal::XCPU.as_raw()) {
            return Err(self.timeout());
        }
        tracing::warn!(%status, stderr = %said, "the compiler stopped abnormally");
        Err(InstallError::CompileFailed(format!(
            "it exited with {status} (it may map at most {} MiB)",
            child.memory_bytes >> 20
        )))
    }

    fn timeout(&self) -> InstallError {
        InstallError::CompileTimeout {
            ceiling_ms: millis(self.config.ceiling),
        }
    }
}

fn kill(process: &mut std::process::Child) -> std::io::Result<()> {
    process.kill()?;
    process.wait().map(drop)
}

fn read_at_most(from: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    from.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The turns to compile, and who waits for one.
#[derive(Debug)]
struct Turns {
    queue: Mutex<Queue>,
    freed: Condvar,
}

impl Turns {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` holds of the queue or `deadline` passes; says which.
    fn wait_for<'a>(
        &'a self,
        mut queue: std::sync::MutexGuard<'a, Queue>,
        deadline: Instant,
        ready: impl Fn(&Queue) -> bool,
    ) -> (std::sync::MutexGuard<'a, Queue>, bool) {
        while !ready(&queue) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (queue, false);
            }
            queue = self
                .freed
                .wait_timeout(queue, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        (queue, true)
    }
}

#[derive(Debug)]
struct Queue {
    free: u32,
    next_ticket: u64,
    /// The tickets of the installs waiting, oldest first.
    waiting: VecDeque<u64>,
    /// The owners with an install waiting or compiling.
    owners: HashSet<i64>,
}

/// A turn to compile, given back (and its owner's place in line) when dropped.
#[derive(Debug)]
pub(crate) struct Turn {
    turns: Arc<Turns>,
    owner: Option<i64>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut queue = self.turns.lock();
        queue.free += 1;
        if let Some(owner) = self.owner {
            queue.owners.remove(&owner);
        }
        self.turns.freed.notify_all();
    }
}

/// Serves one [`ChildCompiler`] request, as the child: limits itself, reads the component
/// from stdin, compiles it and writes the artefact to stdout. A component that does not
/// compile exits with code 2 and the reason on stderr; any other failure with code 1.
pub fn child_main(request: &str) -> ExitCode {
    match serve(request) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ChildError::Invalid(reason)) => {
            eprintln!("{reason}");
            ExitCode::from(EXIT_INVALID)
        }
        Err(ChildError::Host(reason)) => {
            eprintln!("compile-component: {reason}");
            ExitCode::FAILURE
        }
    }
}

enum ChildError {
    /// The component does not compile.
    Invalid(String),
    /// Anything else.
    Host(String),
}

/// An I/O failure of the child, saying what it was doing.
fn host(what: &'static str) -> impl Fn(std::io::Error) -> ChildError {
    move |e| ChildError::Host(format!("{what}: {e}"))
}

fn serve(request: &str) -> Result<(), ChildError> {
    let request: ChildRequest =
        serde_json::from_str(request).map_err(|e| ChildError::Host(format!("bad request: {e}")))?;
    limit_self_before_engine(request.cpu_seconds).map_err(host("limiting CPU time"))?;
    let engine = Engine::new(&engine_config(&request.engine)).map_err(|e| ChildError::Host(format!("{e:#}")))?;
    // After the engine: its pool reserves address space (never touched here) that a limit
    // set before would have to allow for.
    limit_address_space(request.memory_bytes).map_err(host("limiting the address space"))?;
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(request.max_input_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(host("reading the component"))?;
    if bytes.len() > request.max_input_bytes {
        return Err(ChildError::Invalid(format!(
            "component is over {} bytes",
            request.max_input_bytes
        )));
    }
    let component = Component::new(&engine, &bytes).map_err(|e| ChildError::Invalid(format!("{e:#}")))?;
    let artefact = component.serialize().map_err(|e| ChildError::Host(format!("{e:#}")))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&artefact)
        .and_then(|()| stdout.flush())
        .map_err(host("writing the artefact"))
}

/// Dies with the parent, writes no core dump, and stops at `cpu_seconds` of CPU time (a
/// SIGXCPU, then a SIGKILL a second later).
fn limit_self_before_engine(cpu_seconds: u64) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, Signal, setrlimit};
    // Before the engine's compiler threads exist, which inherit it: an upload's compilation
    // yields the CPU to everything else, the tenants' live invocations (nice 10) included.
    rustix::process::setpriority_process(None, COMPILE_NICE)?;
    #[cfg(target_os = "linux")]
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(cpu_seconds),
            maximum: Some(cpu_seconds + 1),
        },
    )?;
    Ok(())
}

/// Lets the process map at most `bytes` more than it has mapped now.
fn limit_address_space(bytes: u64) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    // The first field of statm: the pages mapped now.
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .next()
        .and_then(|pages| pages.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected /proc/self/statm: {statm:?}")))?;
    let mapped = pages * rustix::param::page_size() as u64;
    let limit = mapped.saturating_add(bytes);
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(limit),
            maximum: Some(limit),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_has_one_install_in_line_and_turns_go_first_come_first_served() {
        let config = CompileConfig {
            max_wait: Duration::from_secs(10),
            ..CompileConfig::default()
        };
        let compilers = Compilers::new(config, EngineSettings::of(&RuntimeConfig::default()), 1 << 20);
        let waiting = || compilers.turns.lock().waiting.len();
        let compiling = compilers.turn(Some(10)).expect("a free turn");
        let served = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            let take = |owner| {
                let (compilers, served) = (&compilers, &served);
                move || {
                    let turn = compilers.turn(Some(owner)).expect("a turn within the wait");
                    served.lock().expect("lock").push(owner);
                    std::thread::sleep(Duration::from_millis(10));
                    drop(turn);
                }
            };
            // Owner 10 asks again first, but waits for its compile to end before it gets in
            // line; owners 2 and 3 get in line meanwhile, in that order.
            scope.spawn(take(10));
            scope.spawn(take(2));
            while waiting() < 1 {
                std::thread::yield_now();
            }
            scope.spawn(take(3));
            while waiting() < 2 {
                std::thread::yield_now();
            }
            drop(compiling);
        });
        assert_eq!(served.into_inner().expect("lock"), vec![2, 3, 10]);
    }
}
