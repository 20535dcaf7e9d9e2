//! The WASI surface a plugin gets: only the interfaces a `wasm32-wasip2` std guest imports,
//! none that reaches the network, and nothing that waits on real time.
//!
//! A plugin is a pure function of its input, so nothing it can wait on will ever happen
//! during its invocation except the passing of time. The monotonic clock is therefore a
//! virtual one, owned by the invocation: it starts at zero and moves only when the plugin
//! waits on it. `poll` and `pollable.block` never block: they answer at once with what is
//! ready; when nothing is but a clock subscription, the clock jumps to it, as long as that
//! stays within the invocation's deadline. A wait that would end past the deadline, or on a
//! pollable that can never become ready, fails the invocation as a timeout at once, instead of
//! holding a thread and a pool slot (and a replay of the same input waits the same way).
//!
//! Every other interface is wasmtime-wasi's, over a context with no authority: no
//! preopened directories, no environment, no arguments, stdin closed, stdout discarded,
//! stderr captured and bounded, the wall clock fixed at the invocation's as-of time and
//! randomness seeded (see [`crate::state`]).

use crate::state::InvocationState;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi_io::bindings::wasi::io::{self as wasi_io, poll as wasi_poll};
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};

/// The WASI interfaces (`package/interface`, any 0.2.x version) plugins may import.
const PROVIDED: [&str; 20] = [
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// Whether the sandbox provides a WASI import (`wasi:io/poll@0.2.6`): one of [`PROVIDED`], at
/// a 0.2 version. Sockets, HTTP and any other WASI package are not provided.
pub(crate) fn provides(import: &str) -> bool {
    let Some((interface, version)) = import.split_once('@') else {
        return false;
    };
    version.starts_with("0.2.") && PROVIDED.contains(&interface)
}

/// Whether the sandbox provides interfaces of a WASI package (`wasi:io`): such a package
/// cannot be declared unused (see `PluginManifest::unused_imports`).
pub(crate) fn provides_package(package: &str) -> bool {
    PROVIDED
        .iter()
        .any(|interface| interface.split_once('/').is_some_and(|(p, _)| p == package))
}

/// Links the provided WASI interfaces, with the virtual monotonic clock and non-blocking
/// polls of this module in place of wasmtime-wasi's.
pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    type S = InvocationState;
    let l = linker;
    wasi_io::error::add_to_linker::<S, Table>(l, |s| s.ctx().table)?;
    wasi_io::streams::add_to_linker::<S, Table>(l, |s| s.ctx().table)?;
    wasi_poll::add_to_linker::<S, Waits>(l, InvocationState::waits)?;
    clocks::monotonic_clock::add_to_linker::<S, Waits>(l, InvocationState::waits)?;
    clocks::wall_clock::add_to_linker::<S, WasiClocks>(l, S::clocks)?;
    filesystem::types::add_to_linker::<S, WasiFilesystem>(l, S::filesystem)?;
    filesystem::preopens::add_to_linker::<S, WasiFilesystem>(l, S::filesystem)?;
    random::random::add_to_linker::<S, WasiRandom>(l, S::random)?;
    random::insecure::add_to_linker::<S, WasiRandom>(l, S::random)?;
    random::insecure_seed::add_to_linker::<S, WasiRandom>(l, S::random)?;
    cli::exit::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::environment::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stdin::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stdout::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::stderr::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_input::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_output::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stdin::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stdout::add_to_linker::<S, WasiCli>(l, S::cli)?;
    cli::terminal_stderr::add_to_linker::<S, WasiCli>(l, S::cli)?;
    Ok(())
}

/// `wasi:io/error` and `wasi:io/streams` work on the resource table alone.
struct Table;

impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

/// The invocation's monotonic clock, in nanoseconds since the invocation began.
#[derive(Debug)]
pub(crate) struct VirtualClock {
    now: AtomicU64,
    /// The earliest subscription found not yet due by the last readiness check.
    earliest_pending: AtomicU64,
    /// How far the clock may go: the invocation's deadline.
    limit: u64,
}

impl VirtualClock {
    /// A clock at zero that may advance up to `limit` nanoseconds.
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(VirtualClock {
            now: AtomicU64::new(0),
            earliest_pending: AtomicU64::new(u64::MAX),
            limit,
        })
    }

    fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}

/// A subscription to the virtual clock: ready once the clock reaches `at`.
struct ClockSubscription {
    at: u64,
    clock: Arc<VirtualClock>,
}

#[wasmtime_wasi_io::async_trait]
impl Pollable for ClockSubscription {
    async fn ready(&mut self) {
        if self.clock.now() >= self.at {
            return;
        }
        // Not due: say when it will be, for the poll deciding whether to move the clock.
        self.clock.earliest_pending.fetch_min(self.at, Ordering::Relaxed);
        std::future::pending::<()>().await;
    }
}

/// A wait that cannot end within the invocation: the invocation fails as a timeout.
#[derive(Debug, thiserror::Error)]
#[error("the plugin waited {what}, past its deadline")]
pub(crate) struct WaitPastDeadline {
    what: String,
}

/// The clock and the resource table, for the monotonic clock and `wasi:io/poll`.
pub(crate) struct Waits;

impl HasData for Waits {
    type Data<'a> = WaitsView<'a>;
}

/// What the clock and the polls work on.
pub(crate) struct WaitsView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) clock: &'a Arc<VirtualClock>,
}

impl WaitsView<'_> {
    fn subscribe_at(&mut self, at: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let subscription = self.table.push(ClockSubscription {
            at,
            clock: self.clock.clone(),
        })?;
        subscribe(self.table, subscription)
    }

    /// The indexes of the ready pollables, checked without waiting; empty when none is.
    fn ready_now(&mut self, pollables: &[Resource<DynPollable>]) -> wasmtime::Result<Vec<u32>> {
        let borrowed = pollables.iter().map(|p| Resource::new_borrow(p.rep())).collect();
        let check = wasi_poll::Host::poll(&mut *self.table, borrowed);
        match pin!(check).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(ready) => ready,
            Poll::Pending => Ok(Vec::new()),
        }
    }

    /// `poll` without blocking: what is ready now, else the earliest clock subscription
    /// among `pollables` after moving the clock to it, else a timeout.
    fn poll_now(&mut self, pollables: &[Resource<DynPollable>]) -> wasmtime::Result<Vec<u32>> {
        self.clock.earliest_pending.store(u64::MAX, Ordering::Relaxed);
        let ready = self.ready_now(pollables)?;
        if !ready.is_empty() {
            return Ok(ready);
        }
        let at = self.clock.earliest_pending.load(Ordering::Relaxed);
        if at == u64::MAX {
            return Err(WaitPastDeadline {
                what: "on a pollable that cannot become ready during an invocation".into(),
            }
            .into());
        }
        if at > self.clock.limit {
            return Err(WaitPastDeadline {
                what: format!(
                    "{} ms on the monotonic clock",
                    at.saturating_sub(self.clock.now()) / 1_000_000
                ),
            }
            .into());
        }
        self.clock.now.fetch_max(at, Ordering::Relaxed);
        self.ready_now(pollables)
    }
}

impl clocks::monotonic_clock::Host for WaitsView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.clock.now())
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_at(when)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let at = self.clock.now().saturating_add(duration);
        self.subscribe_at(at)
    }
}

impl wasi_poll::Host for WaitsView<'_> {
    async fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        if pollables.is_empty() {
            return Err(wasmtime::format_err!("empty poll list"));
        }
        self.poll_now(&pollables)
    }
}

impl wasi_poll::HostPollable for WaitsView<'_> {
    async fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.poll_now(&[pollable]).map(drop)
    }

    async fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        Ok(!self.ready_now(&[pollable])?.is_empty())
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        wasi_poll::HostPollable::drop(&mut *self.table, pollable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_interfaces_of_a_std_guest_are_provided() {
        assert!(provides("wasi:io/poll@0.2.6"));
        assert!(provides("wasi:cli/stderr@0.2.0"));
        assert!(provides("wasi:random/insecure-seed@0.2.3"));
        assert!(!provides("wasi:sockets/tcp@0.2.6"));
        assert!(!provides("wasi:sockets/ip-name-lookup@0.2.6"));
        assert!(!provides("wasi:http/outgoing-handler@0.2.6"));
        assert!(!provides("wasi:io/poll@0.3.0"));
        assert!(!provides("wasi:io/poll"));
    }
}
