//! The plugin runtime: one wasmtime engine, the installed plugins, and isolated invocations.
//!
//! - Install validates and compiles a component once, stores the compiled artefact
//!   content-addressed by sha256, and keeps one `InstancePre` per plugin version.
//! - Every invocation gets a fresh `Store` and instance from the pooling allocator, an epoch
//!   deadline, fuel metering and a memory cap; nothing survives from one call to the next.
//! - The deadline bounds the whole invocation, host calls included. Guest code is stopped by
//!   the epoch deadline; a guest waiting on the host is stopped by a watchdog: the invocation
//!   runs on a fiber (async), under a timer of its deadline plus a small margin that drops it,
//!   store, instance slot and all, and fails it as a timeout. The WASI surface never waits
//!   on real time (see `sandbox`), so only a slow capability read can need the watchdog.
//! - Each owner's plugins get a bounded share of the instance pool (see `admission`).

use crate::admission::Admission;
use crate::capabilities::CapabilityData;
use crate::compile::{CompileConfig, Compiled, Compilers, EngineSettings, engine_config};
use crate::cpu::{CpuShares, InvocationTurn, OffTurnData};
use crate::failure::{CapabilityFailure, FailureKind, InstallError, InvokeError, PluginFailure, RuleFailure, Usage};
use crate::limits::{InvocationLimits, RuntimeLimits};
use crate::manifest::{Capability, PluginManifest, World};
use crate::model::{self, InputError};
use crate::precheck;
use crate::sandbox::{self, WaitPastDeadline};
use crate::state::{InvocationState, LogLine};
use crate::wit::since_v0_1::checked_price;
use crate::wit::since_v0_2::checked_price_v2;
use crate::wit::since_v0_3::checked_price_v3;
use crate::wit::{Entry, RuleError, WarmRule, types as wt};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceType};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

/// Fuel given to an unmetered call: wasmtime caps injected fuel at `i64::MAX`.
const UNMETERED_FUEL: u64 = i64::MAX as u64;

/// How the runtime is set up.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled artefacts are kept (`<sha256>.wasm` and `<sha256>.cwasm`); `None` keeps
    /// them in memory only.
    pub artefact_dir: Option<PathBuf>,
    /// Limits.
    pub limits: RuntimeLimits,
    /// Resolution of deadlines: how often the epoch advances.
    pub epoch_tick: Duration,
    /// Count the fuel each invocation burns (reported and audited, and enforced for manifests
    /// that set a fuel limit). Turning it off makes compute-bound rules about 7% faster (see
    /// BENCHMARKS.md); invocations then report 0 fuel, manifests with a fuel limit are
    /// refused, and the epoch deadline alone bounds a plugin's time.
    pub meter_fuel: bool,
    /// How components are compiled: where, how many at once, within what time.
    pub compile: CompileConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            artefact_dir: None,
            limits: RuntimeLimits::default(),
            epoch_tick: Duration::from_millis(1),
            meter_fuel: true,
            compile: CompileConfig::default(),
        }
    }
}

/// The successful result of one invocation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Invocation<T> {
    /// The validated output.
    pub output: T,
    /// Fuel, capability calls.
    #[serde(flatten)]
    pub usage: Usage,
    /// Wall time of the whole invocation: store, instance, call, validation.
    #[serde(rename = "wall_time_us", serialize_with = "micros")]
    pub wall_time: Duration,
    /// What the plugin logged (capped).
    pub logs: Vec<LogLine>,
    /// Log lines dropped beyond the cap.
    pub dropped_logs: usize,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros().try_into().unwrap_or(u64::MAX))
}

/// An installed plugin version, ready to instantiate.
pub struct LoadedPlugin {
    /// `owner/name@version`: the key invocations name it by.
    pub id: String,
    /// Its manifest.
    pub manifest: PluginManifest,
    /// sha256 of the component, hex.
    pub digest: String,
    /// The limits its invocations run under.
    pub limits: InvocationLimits,
    entry: Entry,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.id)
            .field("manifest", &self.manifest)
            .field("digest", &self.digest)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A component's compiled code: found compiled (in memory or in the artefact store), or just
/// compiled by this install or load.
enum Code {
    Cached(Component),
    Compiled(Compiled),
}

impl Code {
    fn component(&self) -> &Component {
        match self {
            Code::Cached(component) | Code::Compiled(Compiled { component, .. }) => component,
        }
    }

    /// The serialized artefact: the compiler's, or serialized now.
    fn into_artefact(self) -> Result<Vec<u8>, InstallError> {
        match self {
            Code::Compiled(Compiled {
                artefact: Some(artefact),
                ..
            }) => Ok(artefact),
            code => code
                .component()
                .serialize()
                .map_err(|e| InstallError::Storage(format!("{e:#}"))),
        }
    }
}

/// Advances the engine's epoch every tick, so deadlines cost the guest one counter check.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("pchost-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The installed plugins, by id.
#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<LoadedPlugin>>,
}

/// The plugin runtime. Cheap to share behind an `Arc`; every method takes `&self`.
///
/// Invocations block the calling thread until the plugin answers or its deadline passes:
/// call them from a blocking thread (`spawn_blocking`, a plain thread), never from an async
/// task. Their timers and host reads run on the tokio runtime the `PluginRuntime` was created
/// in, or, when it was created outside any, on a one-thread runtime of its own.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<InvocationState>,
    plugins: RwLock<Registry>,
    /// Compiled components by digest, shared by every version with those bytes.
    components: RwLock<HashMap<String, Component>>,
    compilers: Compilers,
    /// Held while artefact files are written for a version being registered, or removed for a
    /// digest no version uses: so neither sees the other half done.
    artefact_files: Mutex<()>,
    admission: Admission,
    cpu: Arc<CpuShares>,
    /// Drives invocations: their watchdog timers and the host reads they wait on.
    executor: Handle,
    _own_executor: Option<tokio::runtime::Runtime>,
    config: RuntimeConfig,
    /// Names this engine's compiled artefacts (see [`engine_fingerprint`]).
    fingerprint: String,
    _ticker: EpochTicker,
}

/// How full the instance pool is: what `/metrics` reports of containment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occupancy {
    /// Instance slots holding a running invocation.
    pub slots_in_use: u32,
    /// Instance slots in all.
    pub slots: u32,
    /// How many of one owner's invocations may run at once.
    pub owner_share: u32,
    /// Each owner that has run plugins, with its invocations running now, by owner.
    pub running: Vec<(pchost_domain::PartnerId, u32)>,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Calls export `$export` of a plugin pre-linked at some contract version on a fresh
/// instance, under [`PluginRuntime::call`]'s limits, and checks its answer with `$check`: the
/// one body every version's arm shares.
macro_rules! call_export {
    ($runtime:ident, $plugin:expr, $as_of:expr, $data:expr, $pre:expr, $export:ident, $input:expr, $check:expr) => {
        $runtime.call(
            $plugin,
            $as_of,
            $data,
            async |store| {
                $pre.instantiate_async(&mut *store)
                    .await?
                    .$export(&mut *store, $input)
                    .await
            },
            $check,
        )?
    };
}

/// A warm call under the watchdog: a call past it ends as a watchdog timeout.
async fn within<T>(
    watchdog: Duration,
    call: impl std::future::Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    tokio::time::timeout(watchdog, call)
        .await
        .unwrap_or_else(|_| Err(WatchdogTimeout.into()))
}

impl PluginRuntime {
    /// Builds the engine (pooling allocator, epoch interruption, fuel) and the linker with
    /// every capability and a WASI without ambient authority.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let limits = &config.limits;
        let instances = limits.max_concurrent_instances;
        let settings = EngineSettings::of(&config);
        let engine = Engine::new(&engine_config(&settings))?;
        let fingerprint = engine_fingerprint(&engine);
        let compilers = Compilers::new(config.compile.clone(), settings, limits.max_component_bytes);

        let mut linker = Linker::new(&engine);
        sandbox::add_to_linker(&mut linker)?;
        crate::wit::add_to_linker(&mut linker)?;

        if let Some(dir) = &config.artefact_dir {
            std::fs::create_dir_all(dir)?;
        }
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)?;
        let admission = Admission::new(instances, limits.owner_concurrency, limits.admission_wait);
        let cpu = {
            let engine = engine.clone();
            CpuShares::new(limits.guest_turns as usize, move || engine.increment_epoch())
        };
        let (executor, own_executor) = match Handle::try_current() {
            Ok(handle) => (handle, None),
            Err(_) => {
                let own = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("pchost-invocations")
                    .enable_time()
                    .build()?;
                (own.handle().clone(), Some(own))
            }
        };
        Ok(PluginRuntime {
            engine,
            linker,
            plugins: RwLock::new(Registry::default()),
            components: RwLock::new(HashMap::new()),
            compilers,
            artefact_files: Mutex::new(()),
            admission,
            cpu,
            executor,
            _own_executor: own_executor,
            config,
            fingerprint,
            _ticker: ticker,
        })
    }

    /// How many invocations of `owner`'s plugins are running now.
    pub fn running(&self, owner: pchost_domain::PartnerId) -> u32 {
        self.admission.running(owner)
    }

    /// How full the instance pool and each owner's share of it are now.
    pub fn occupancy(&self) -> Occupancy {
        self.admission.occupancy()
    }

    /// The engine every plugin runs on (pooling allocator, epoch deadlines, fuel metering as
    /// configured): for benchmarks and tools that run a component of their own under exactly
    /// the settings plugins get.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The operator's limits.
    pub fn limits(&self) -> &RuntimeLimits {
        &self.config.limits
    }

    /// The installed plugin version with this id (`owner/name@version`).
    pub fn plugin(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .get(id)
            .cloned()
    }

    /// Every installed plugin, by label.
    pub fn plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        let registry = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = registry.by_id.values().cloned().collect();
        all.sort_by_key(|p| p.manifest.label());
        all
    }

    /// Validates, compiles and registers a component. Installing the same bytes with the same
    /// manifest again returns the installed plugin. The component is pre-checked (see
    /// `precheck`) before it is compiled, and compiled within the runtime's bounds (see
    /// [`CompileConfig`]).
    pub fn install(&self, manifest: PluginManifest, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, InstallError> {
        manifest.validate()?;
        let limits = manifest.invocation_limits(&self.config.limits)?;
        if limits.fuel.is_some() && !self.config.meter_fuel {
            return Err(InstallError::Manifest(crate::manifest::ManifestError::FuelNotMetered));
        }
        check_binary(bytes, self.config.limits.max_component_bytes)?;
        let digest = hex::encode(Sha256::digest(bytes));
        if let Some(existing) = self.plugin(&manifest.id()) {
            return if existing.digest == digest && existing.manifest == manifest {
                Ok(existing)
            } else {
                Err(InstallError::VersionExists {
                    id: existing.id.clone(),
                    digest: existing.digest.clone(),
                })
            };
        }
        precheck::check(
            bytes,
            &manifest,
            self.engine.get_wasm_features(),
            &self.config.limits.shape,
        )?;
        let code = match self.compiled(&digest) {
            Some(component) => Code::Cached(component),
            None => self.compile(Some(manifest.owner), &digest, bytes)?,
        };
        let plugin = self.prepare(manifest, digest, limits, code.component())?;
        let plugin = self.keep(plugin, code, Some(bytes))?;
        tracing::info!(plugin = %plugin.manifest.label(), digest = %plugin.digest, world = %plugin.manifest.world, "plugin installed");
        Ok(plugin)
    }

    /// Compiles in a turn of the runtime's compilers, unless another install compiled the same
    /// bytes while this one waited for its turn.
    fn compile(&self, owner: Option<i64>, digest: &str, bytes: &[u8]) -> Result<Code, InstallError> {
        let turn = self.compilers.turn(owner)?;
        match self.compiled(digest) {
            Some(component) => Ok(Code::Cached(component)),
            None => self.compilers.compile(turn, &self.engine, bytes).map(Code::Compiled),
        }
    }

    /// Loads a previously installed plugin from the artefact store, without recompiling
    /// unless this engine has no compiled artefact of it yet (another replica installed it,
    /// or another engine build compiled it). Compiling needs the original component: `original`
    /// when the caller has it (from the database), else the artefact store's copy; with
    /// neither, [`InstallError::OriginalMissing`].
    pub fn load(
        &self,
        manifest: PluginManifest,
        digest: &str,
        original: Option<&[u8]>,
    ) -> Result<Arc<LoadedPlugin>, InstallError> {
        let dir = self
            .config
            .artefact_dir
            .as_deref()
            .ok_or_else(|| InstallError::Storage("this runtime has no artefact store".into()))?;
        manifest.validate()?;
        let limits = manifest.invocation_limits(&self.config.limits)?;
        if limits.fuel.is_some() && !self.config.meter_fuel {
            return Err(InstallError::Manifest(crate::manifest::ManifestError::FuelNotMetered));
        }
        let compiled = self.compiled_path(dir, digest);
        let (code, wasm) = match self
            .compiled(digest)
            .ok_or(())
            .or_else(|()| self.deserialize(&compiled))
        {
            Ok(component) => (Code::Cached(component), None),
            Err(reason) => {
                let bytes = match original {
                    Some(bytes) => bytes.to_vec(),
                    // This node's copy, if it is there and whole; else the caller's (the
                    // database's) is needed.
                    None => match std::fs::read(dir.join(format!("{digest}.wasm"))) {
                        Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == digest => bytes,
                        Ok(_) => {
                            tracing::warn!(%digest, "this node's copy of the component does not match its digest");
                            return Err(InstallError::OriginalMissing(digest.to_owned()));
                        }
                        Err(e) => {
                            if e.kind() != std::io::ErrorKind::NotFound {
                                tracing::warn!(%digest, error = %e, "this node's copy of the component is unreadable");
                            }
                            return Err(InstallError::OriginalMissing(digest.to_owned()));
                        }
                    },
                };
                if hex::encode(Sha256::digest(&bytes)) != digest {
                    return Err(InstallError::Storage(format!(
                        "the component stored as {digest} does not match its digest"
                    )));
                }
                tracing::info!(%digest, %reason, "compiling plugin from its original component");
                // The bytes were checked when installed; the shape limits hold for them
                // still (a replica with other limits refuses what it would not install).
                check_binary(&bytes, self.config.limits.max_component_bytes)?;
                (self.compile(None, digest, &bytes)?, Some(bytes))
            }
        };
        let plugin = self.prepare(manifest, digest.to_owned(), limits, code.component())?;
        self.keep(plugin, code, wasm.as_deref())
    }

    /// The original component of `digest` in the artefact store, if it is there: what an
    /// install before components were kept in the database left only on this disk.
    pub fn stored_original(&self, digest: &str) -> Option<Vec<u8>> {
        let dir = self.config.artefact_dir.as_deref()?;
        if !is_digest(digest) {
            return None;
        }
        let bytes = std::fs::read(dir.join(format!("{digest}.wasm"))).ok()?;
        (hex::encode(Sha256::digest(&bytes)) == digest).then_some(bytes)
    }

    /// Where this engine's compiled artefact of `digest` is kept, when the runtime has an
    /// artefact store.
    pub fn compiled_artefact(&self, digest: &str) -> Option<PathBuf> {
        Some(self.compiled_path(self.config.artefact_dir.as_deref()?, digest))
    }

    /// Where this engine's compiled artefact of `digest` is: named by the engine's
    /// fingerprint too, so that replicas (or versions of the host) with other engine settings
    /// sharing a directory never overwrite each other's.
    fn compiled_path(&self, dir: &Path, digest: &str) -> PathBuf {
        dir.join(format!("{digest}.{}.cwasm", self.fingerprint))
    }

    /// Registers a prepared plugin and makes sure its artefacts are stored: the component
    /// just compiled replaces whatever is there (a stale artefact of another engine build);
    /// one found compiled writes only missing files (a concurrent
    /// [`PluginRuntime::remove_artefacts`] may just have removed them). `wasm` is the original
    /// component, when this is an install.
    fn keep(&self, plugin: LoadedPlugin, code: Code, wasm: Option<&[u8]>) -> Result<Arc<LoadedPlugin>, InstallError> {
        let _files = self.artefact_files.lock().unwrap_or_else(|e| e.into_inner());
        let component = code.component().clone();
        if let Some(dir) = &self.config.artefact_dir {
            let fresh = matches!(code, Code::Compiled(_));
            let original = dir.join(format!("{}.wasm", plugin.digest));
            if let Some(wasm) = wasm
                && (fresh || !original.exists())
            {
                write_atomically(&original, wasm)?;
            }
            let compiled = self.compiled_path(dir, &plugin.digest);
            if fresh || !compiled.exists() {
                write_atomically(&compiled, &code.into_artefact()?)?;
            }
        }
        self.remember(&plugin.digest, &component);
        Ok(self.register(plugin))
    }

    /// Unregisters an installed version: invocations that have begun finish, later ones find
    /// no such plugin. The compiled code of its digest is dropped once no version uses it.
    /// Returns the version, if it was loaded.
    pub fn unload(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        let mut registry = self.plugins.write().unwrap_or_else(|e| e.into_inner());
        let plugin = registry.by_id.remove(id)?;
        if !registry.by_id.values().any(|p| p.digest == plugin.digest) {
            self.components
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&plugin.digest);
        }
        tracing::info!(plugin = %plugin.id, digest = %plugin.digest, "plugin unloaded");
        Some(plugin)
    }

    /// Removes the artefact files of `digest` (see [`remove_artefacts`]) unless a loaded
    /// version uses it. Returns whether they were removed.
    pub fn remove_artefacts(&self, digest: &str) -> std::io::Result<bool> {
        let Some(dir) = &self.config.artefact_dir else {
            return Ok(false);
        };
        let _files = self.artefact_files.lock().unwrap_or_else(|e| e.into_inner());
        let registry = self.plugins.read().unwrap_or_else(|e| e.into_inner());
        if registry.by_id.values().any(|p| p.digest == digest) {
            return Ok(false);
        }
        remove_artefacts(dir, digest)?;
        Ok(true)
    }

    /// The compiled component of a digest already loaded: every version (of any owner) with
    /// the same bytes shares one compiled copy of the code.
    fn compiled(&self, digest: &str) -> Option<Component> {
        self.components
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    fn remember(&self, digest: &str, component: &Component) {
        self.components
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(digest.to_owned())
            .or_insert_with(|| component.clone());
    }

    fn deserialize(&self, path: &Path) -> Result<Component, String> {
        if !path.exists() {
            return Err("no compiled artefact".into());
        }
        #[expect(
            unsafe_code,
            reason = "the artefact was written by this host's own install from a validated component; \
                      wasmtime checks the engine configuration and version before using it"
        )]
        // SAFETY: see the reason above: the file is trusted host state, not tenant input.
        let component = unsafe { Component::deserialize_file(&self.engine, path) };
        component.map_err(|e| format!("{e:#}"))
    }

    fn register(&self, plugin: LoadedPlugin) -> Arc<LoadedPlugin> {
        let plugin = Arc::new(plugin);
        let mut registry = self.plugins.write().unwrap_or_else(|e| e.into_inner());
        registry.by_id.insert(plugin.id.clone(), plugin.clone());
        plugin
    }

    /// Checks imports against the grants and exports against the world, and pre-links.
    fn prepare(
        &self,
        manifest: PluginManifest,
        digest: String,
        limits: InvocationLimits,
        component: &Component,
    ) -> Result<LoadedPlugin, InstallError> {
        let component_type = component.component_type();
        let mut unused = Vec::new();
        // Resource types met so far, in import order: an interface that uses another's
        // resource (sockets use `wasi:io/poll`'s pollable) names it again, and only the
        // import that introduced a resource defines it.
        let mut resources = Vec::new();
        let mut items = 0_usize;
        for (import, item) in component_type.imports(&self.engine) {
            let exports: Vec<(&str, ComponentItem)> = match &item.ty {
                ComponentItem::ComponentInstance(instance) => instance
                    .exports(&self.engine)
                    .take(precheck::MAX_IMPORTED_ITEMS + 1)
                    .map(|(name, export)| (name, export.ty))
                    .collect(),
                other => vec![(import, other.clone())],
            };
            // As the pre-check counts them; it also bounds the search of `resources` below.
            items = items.saturating_add(exports.len());
            if items > precheck::MAX_IMPORTED_ITEMS {
                return Err(InstallError::TooComplex {
                    what: "items of imported interfaces",
                    count: items as u64,
                    limit: precheck::MAX_IMPORTED_ITEMS as u64,
                });
            }
            // An instance imported only for the data types it defines grants no capability; one
            // that defines a resource type needs an implementation of it.
            if !exports
                .iter()
                .any(|(_, ty)| matches!(ty, ComponentItem::ComponentFunc(_) | ComponentItem::Resource(_)))
            {
                continue;
            }
            let link = check_import(import, &manifest)?;
            let mut stubs = Vec::new();
            for (name, ty) in exports {
                match ty {
                    ComponentItem::ComponentFunc(_) => stubs.push(Stub::Func(name.to_owned())),
                    ComponentItem::Resource(resource) if !resources.contains(&resource) => {
                        resources.push(resource);
                        stubs.push(Stub::Resource(name.to_owned()));
                    }
                    _ => {}
                }
            }
            if link == Link::Stub {
                // Only an interface can be stubbed: a bare function or type import listed
                // unused is still one the host does not provide.
                if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                    return Err(InstallError::UnknownImport(import.to_owned()));
                }
                unused.push((import.to_owned(), stubs));
            }
        }
        let pre = if unused.is_empty() {
            self.linker.instantiate_pre(component)
        } else {
            self.stubbed_linker(&manifest, &unused)
                .and_then(|linker| linker.instantiate_pre(component))
        }
        .map_err(|e| InstallError::Invalid(format!("{e:#}")))?;
        let wrong_world = |e: wasmtime::Error| InstallError::WrongWorld {
            world: manifest.wit_world(),
            detail: format!("{e:#}"),
        };
        let entry = Entry::new(manifest.world, manifest.world_version, pre).map_err(wrong_world)?;
        Ok(LoadedPlugin {
            id: manifest.id(),
            manifest,
            digest,
            limits,
            entry,
        })
    }

    /// The runtime's linker with the plugin's unused imports linked to stubs: each function
    /// traps, naming itself and the manifest entry; each resource type is a host type no
    /// function ever makes. A capability's stubs shadow the host's functions, which the shared
    /// linker holds for every plugin. Only the imports given are stubbed, each under its exact
    /// name (a WASI one at its own version, not the one the host links).
    fn stubbed_linker(
        &self,
        manifest: &PluginManifest,
        unused: &[(String, Vec<Stub>)],
    ) -> wasmtime::Result<Linker<InvocationState>> {
        /// The type of every stubbed resource: nothing creates one.
        struct Unused;
        let mut linker = self.linker.clone();
        linker.allow_shadowing(true);
        for (import, stubs) in unused {
            let mut instance = linker.instance(import)?;
            for stub in stubs {
                match stub {
                    Stub::Func(name) => {
                        let why = if import.starts_with("wasi:") {
                            "the host does not provide it"
                        } else {
                            "it has no grant"
                        };
                        let message = format!(
                            "{import}#{name} was called, but plugin {} lists it in unused-imports: {why}",
                            manifest.label()
                        );
                        instance.func_new(name, move |_, _, _, _| Err(wasmtime::format_err!("{message}")))?;
                    }
                    Stub::Resource(name) => instance.resource(name, ResourceType::host::<Unused>(), |_, _| Ok(()))?,
                }
            }
        }
        Ok(linker)
    }

    /// Runs a pricing rule over a quote.
    pub fn price(
        &self,
        plugin_id: &str,
        quote: &model::Quote,
        data: Arc<dyn CapabilityData>,
    ) -> Result<Invocation<model::PriceAdjustments>, InvokeError> {
        let plugin = self
            .plugin(plugin_id)
            .ok_or_else(|| InvokeError::UnknownPlugin(plugin_id.to_owned()))?;
        let limits = &self.config.limits;
        check_quote_size(quote, limits)?;
        let line_count = quote.lines.len();
        let invocation = match &plugin.entry {
            Entry::PricingV0_1(pre) => {
                let input = quote.to_wit()?;
                call_export!(self, &plugin, quote.as_of, data, pre, call_price, &input, |answer| {
                    checked_price(answer, line_count, limits)
                })
            }
            Entry::PricingV0_2(pre) => {
                let input = quote.to_wit_v2()?;
                call_export!(self, &plugin, quote.as_of, data, pre, call_price, &input, |answer| {
                    checked_price_v2(answer, line_count, limits)
                })
            }
            Entry::PricingV0_3(pre) => {
                let input = quote.to_wit_v3()?;
                call_export!(self, &plugin, quote.as_of, data, pre, call_price, &input, |answer| {
                    checked_price_v3(answer, line_count, limits)
                })
            }
            Entry::ApprovalV0_1(_) | Entry::ApprovalV0_3(_) => return Err(wrong_world(&plugin, World::PricingRule)),
        };
        Ok(invocation)
    }

    /// Instantiates a pricing rule once, to be called many times: **opt-in and not what the
    /// API uses.** It saves the instantiation of every call, but the instance's memory and
    /// globals live on between calls, so a rule can carry what one quote told it into the next
    /// answer. Use it only for one tenant's own quotes (never across tenants), for a rule you
    /// trust to be stateless. The deadline, watchdog and fuel are re-armed per call; the memory
    /// cap holds for the instance's life; a failure poisons it (make a new one). It holds an
    /// instance slot for its life, outside the owners' shares of the pool.
    pub fn warm_pricing(
        &self,
        plugin_id: &str,
        as_of: DateTime<Utc>,
        data: Arc<dyn CapabilityData>,
    ) -> Result<WarmPricing, InvokeError> {
        let plugin = self
            .plugin(plugin_id)
            .ok_or_else(|| InvokeError::UnknownPlugin(plugin_id.to_owned()))?;
        if matches!(plugin.entry, Entry::ApprovalV0_1(_) | Entry::ApprovalV0_3(_)) {
            return Err(wrong_world(&plugin, World::PricingRule));
        }
        let mut store = self.store(&plugin, as_of, data);
        arm_deadline(&mut store, plugin.limits.deadline);
        let fail = |error: wasmtime::Error, store: &Store<InvocationState>| {
            let state = store.data();
            InvokeError::Plugin(PluginFailure {
                plugin: plugin.manifest.label(),
                digest: plugin.digest.clone(),
                kind: classify(error, &plugin, state, &self.config.limits),
                usage: usage(0, state),
            })
        };
        if self.config.meter_fuel
            && let Err(e) = store.set_fuel(UNMETERED_FUEL)
        {
            return Err(fail(e, &store));
        }
        let watchdog = self.watchdog(&plugin);
        let rule = self.executor.block_on(async {
            let instantiate = async {
                match &plugin.entry {
                    Entry::PricingV0_1(pre) => pre.instantiate_async(&mut store).await.map(WarmRule::PricingV0_1),
                    Entry::PricingV0_2(pre) => pre.instantiate_async(&mut store).await.map(WarmRule::PricingV0_2),
                    Entry::PricingV0_3(pre) => pre.instantiate_async(&mut store).await.map(WarmRule::PricingV0_3),
                    Entry::ApprovalV0_1(_) | Entry::ApprovalV0_3(_) => {
                        Err(wasmtime::format_err!("an approval rule has no pricing export"))
                    }
                }
            };
            tokio::time::timeout(watchdog, instantiate)
                .await
                .unwrap_or_else(|_| Err(WatchdogTimeout.into()))
        });
        let rule = match rule {
            Ok(rule) => rule,
            Err(e) => return Err(fail(e, &store)),
        };
        Ok(WarmPricing {
            limits: self.config.limits,
            watchdog,
            executor: self.executor.clone(),
            plugin: plugin.clone(),
            store,
            rule,
        })
    }

    /// Runs an approval rule over a request.
    pub fn decide(
        &self,
        plugin_id: &str,
        request: &model::ApprovalRequest,
        data: Arc<dyn CapabilityData>,
    ) -> Result<Invocation<model::Decision>, InvokeError> {
        let plugin = self
            .plugin(plugin_id)
            .ok_or_else(|| InvokeError::UnknownPlugin(plugin_id.to_owned()))?;
        let max_reason = self.config.limits.max_reason_bytes;
        let invocation = match &plugin.entry {
            Entry::ApprovalV0_1(pre) => {
                let input = request.to_wit()?;
                call_export!(self, &plugin, request.as_of, data, pre, call_decide, &input, |answer| {
                    model::Decision::from_wit(answer.map_err(rule_failure)?, max_reason)
                        .map_err(FailureKind::InvalidOutput)
                })
            }
            Entry::ApprovalV0_3(pre) => {
                let input = request.to_wit_v3()?;
                call_export!(self, &plugin, request.as_of, data, pre, call_decide, &input, |answer| {
                    let answer = answer.map_err(|e| rule_failure(e.into()))?;
                    model::Decision::from_wit_v3(answer, max_reason).map_err(FailureKind::InvalidOutput)
                })
            }
            Entry::PricingV0_1(_) | Entry::PricingV0_2(_) | Entry::PricingV0_3(_) => {
                return Err(wrong_world(&plugin, World::ApprovalRule));
            }
        };
        Ok(invocation)
    }

    /// A fresh store for one invocation of `plugin`: its state, memory cap and the bound on
    /// what it copies out; the caller arms its deadline (`arm_deadline` or `take_turns`).
    fn store(
        &self,
        plugin: &LoadedPlugin,
        as_of: DateTime<Utc>,
        data: Arc<dyn CapabilityData>,
    ) -> Store<InvocationState> {
        let state = InvocationState::new(
            data,
            plugin.manifest.owner,
            as_of.timestamp_millis(),
            invocation_seed(&plugin.digest, as_of),
            &plugin.limits,
            &self.config.limits,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // What the host copies out of the guest in one call (an answer, a log line, a
        // capability's arguments) is bounded while it is copied: a list of strings that all
        // point at the same bytes would otherwise make the host allocate far more than the
        // guest's memory holds, before any check of the answer's size could run.
        store.set_hostcall_fuel(hostcall_bytes(&self.config.limits));
        store
    }

    /// How long an invocation of `plugin` may take in all before the watchdog drops it.
    fn watchdog(&self, plugin: &LoadedPlugin) -> Duration {
        plugin
            .limits
            .deadline
            .saturating_add(self.config.limits.watchdog_margin)
    }

    /// One isolated invocation: a permit of the owner's share, a fresh store and instance,
    /// limits armed, the watchdog running, the failure classified.
    fn call<R, T>(
        &self,
        plugin: &LoadedPlugin,
        as_of: DateTime<Utc>,
        data: Arc<dyn CapabilityData>,
        run: impl AsyncFnOnce(&mut Store<InvocationState>) -> wasmtime::Result<R>,
        finish: impl FnOnce(R) -> Result<T, FailureKind>,
    ) -> Result<Invocation<T>, PluginFailure> {
        let started = Instant::now();
        let failure = |kind, usage| PluginFailure {
            plugin: plugin.manifest.label(),
            digest: plugin.digest.clone(),
            kind,
            usage,
        };
        crate::cpu::lower_this_thread();
        let (outcome, state, fuel_used) = self.executor.block_on(async {
            let _admitted = match self.admission.admit(plugin.manifest.owner).await {
                Ok(admitted) => admitted,
                Err(kind) => {
                    tracing::warn!(plugin = %plugin.manifest.label(), owner = plugin.manifest.owner, failure = %kind, "plugin invocation refused");
                    return Err(failure(kind, Usage::default()));
                }
            };
            let turn = InvocationTurn::new(&self.cpu, plugin.manifest.owner);
            let data = Arc::new(OffTurnData {
                data,
                turn: turn.clone(),
            });
            let mut store = self.store(plugin, as_of, data);
            take_turns(&mut store, turn.clone(), plugin.limits.deadline);
            let budget = plugin.limits.fuel.unwrap_or(UNMETERED_FUEL);
            if self.config.meter_fuel
                && let Err(e) = store.set_fuel(budget)
            {
                return Ok((Err(e), store.into_data(), 0));
            }
            // The deadline bounds the whole invocation: waiting for a turn, guest code and
            // host calls alike.
            let guest = async {
                turn.wait().await;
                // A full tick of guest code from the moment the turn came, not from before
                // the wait: else a guest that waited would give its new turn up at once.
                store.set_epoch_deadline(1);
                run(&mut store).await
            };
            let outcome = tokio::time::timeout(self.watchdog(plugin), guest)
                .await
                .unwrap_or_else(|_| Err(WatchdogTimeout.into()));
            // No more guest code runs: the next invocation in line may.
            turn.end();
            let fuel_used = if self.config.meter_fuel {
                budget.saturating_sub(store.get_fuel().unwrap_or(0))
            } else {
                0
            };
            Ok((outcome, store.into_data(), fuel_used))
        })?;
        let result = match outcome {
            Ok(raw) => finish(raw),
            Err(error) => Err(classify(error, plugin, &state, &self.config.limits)),
        };
        let wall_time = started.elapsed();
        let usage = usage(fuel_used, &state);
        match result {
            Ok(output) => {
                tracing::debug!(plugin = %plugin.manifest.label(), fuel_used, ?wall_time, "plugin invocation succeeded");
                Ok(Invocation {
                    output,
                    usage,
                    wall_time,
                    logs: state.logs,
                    dropped_logs: state.dropped_logs,
                })
            }
            Err(kind) => {
                tracing::warn!(plugin = %plugin.manifest.label(), digest = %plugin.digest, failure = %kind, fuel_used, ?wall_time, "plugin invocation failed");
                Err(failure(kind, usage))
            }
        }
    }
}

/// Arms `deadline` from now on a store: its guest code stops at the first epoch callback past
/// it. Deadlines are read on the clock, not counted in ticks, because the epoch also advances
/// when an invocation waiting for a turn nudges the running guests (see `cpu`).
fn arm_deadline(store: &mut Store<InvocationState>, deadline: Duration) {
    let deadline_at = Instant::now() + deadline;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline_at {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Continue(1))
        }
    });
}

/// Arms the deadline of an invocation that runs in turns (see `cpu`): at each epoch tick (or
/// nudge) its guest code reaches, it stops at the deadline, or (after a `YIELD_SLICE` of its
/// turn) gives its turn to another invocation that waits for one and queues again, or runs
/// on.
fn take_turns(store: &mut Store<InvocationState>, turn: InvocationTurn, deadline: Duration) {
    let deadline_at = Instant::now() + deadline;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline_at {
            return Ok(UpdateDeadline::Interrupt);
        }
        if !turn.should_yield(crate::cpu::YIELD_SLICE) {
            return Ok(UpdateDeadline::Continue(1));
        }
        let turn = turn.clone();
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move { turn.without_turn(std::future::ready(())).await }),
        ))
    });
}

/// What an invocation used, from its final state.
fn usage(fuel_used: u64, state: &InvocationState) -> Usage {
    Usage {
        fuel_used,
        capability_calls: state.capability_calls,
        denied_calls: state.denied_calls,
    }
}

/// The watchdog dropped an invocation still running past its deadline and margin: it was
/// waiting on the host (guest code is stopped by the epoch deadline).
#[derive(Debug, thiserror::Error)]
#[error("still running past its deadline: stopped by the watchdog")]
struct WatchdogTimeout;

/// A pricing rule instantiated once and called many times: see
/// [`PluginRuntime::warm_pricing`] for when that is safe.
pub struct WarmPricing {
    limits: RuntimeLimits,
    watchdog: Duration,
    executor: Handle,
    plugin: Arc<LoadedPlugin>,
    store: Store<InvocationState>,
    rule: WarmRule,
}

impl std::fmt::Debug for WarmPricing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPricing")
            .field("plugin", &self.plugin.id)
            .finish_non_exhaustive()
    }
}

impl WarmPricing {
    /// Prices a quote on the warm instance, with the same input and output checks as
    /// [`PluginRuntime::price`].
    pub fn price(&mut self, quote: &model::Quote) -> Result<model::PriceAdjustments, InvokeError> {
        check_quote_size(quote, &self.limits)?;
        arm_deadline(&mut self.store, self.plugin.limits.deadline);
        let line_count = quote.lines.len();
        let (store, limits, watchdog) = (&mut self.store, &self.limits, self.watchdog);
        let checked = match &self.rule {
            WarmRule::PricingV0_1(rule) => {
                let input = quote.to_wit()?;
                let call = rule.call_price(&mut *store, &input);
                self.executor
                    .block_on(within(watchdog, call))
                    .map(|answer| checked_price(answer, line_count, limits))
            }
            WarmRule::PricingV0_2(rule) => {
                let input = quote.to_wit_v2()?;
                let call = rule.call_price(&mut *store, &input);
                self.executor
                    .block_on(within(watchdog, call))
                    .map(|answer| checked_price_v2(answer, line_count, limits))
            }
            WarmRule::PricingV0_3(rule) => {
                let input = quote.to_wit_v3()?;
                let call = rule.call_price(&mut *store, &input);
                self.executor
                    .block_on(within(watchdog, call))
                    .map(|answer| checked_price_v3(answer, line_count, limits))
            }
        };
        let plugin = &self.plugin;
        let state = self.store.data();
        let failure = |kind| {
            InvokeError::Plugin(PluginFailure {
                plugin: plugin.manifest.label(),
                digest: plugin.digest.clone(),
                kind,
                usage: usage(0, state),
            })
        };
        match checked {
            Ok(checked) => checked.map_err(failure),
            Err(error) => Err(failure(classify(error, plugin, state, &self.limits))),
        }
    }
}

/// Refuses a quote beyond the operator's line and size limits before anything is converted.
fn check_quote_size(quote: &model::Quote, limits: &RuntimeLimits) -> Result<(), InvokeError> {
    if quote.lines.len() > limits.max_quote_lines {
        return Err(InputError::Invalid {
            field: "lines".into(),
            message: format!("{} lines; the limit is {}", quote.lines.len(), limits.max_quote_lines),
        }
        .into());
    }
    let size = quote.encoded_size();
    if size > limits.max_input_bytes {
        return Err(InputError::TooLarge {
            size,
            limit: limits.max_input_bytes,
        }
        .into());
    }
    Ok(())
}

fn wrong_world(plugin: &LoadedPlugin, expected: World) -> InvokeError {
    InvokeError::WrongWorld {
        plugin: plugin.manifest.label(),
        actual: plugin.manifest.world.as_str(),
        expected: expected.as_str(),
    }
}

/// Randomness seeded by the plugin and the as-of time: a replay draws the same numbers.
fn invocation_seed(digest: &str, as_of: DateTime<Utc>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(digest.as_bytes());
    hasher.update(as_of.timestamp_millis().to_le_bytes());
    hasher.finalize().into()
}

/// The most the host copies out of a guest in one call: twice the output limit, because the
/// host's copy of a list of strings counts a header per string on top of its bytes.
fn hostcall_bytes(limits: &RuntimeLimits) -> usize {
    limits.max_output_bytes.saturating_mul(2)
}

/// How wasmtime words a copy out of the guest past [`hostcall_bytes`] (its error type is
/// private); a test pins it (`hostile_plugins::an_oversized_output_is_refused`).
const HOSTCALL_BYTES_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Turns a wasmtime error into the failure a plugin owner can act on.
fn classify(
    error: wasmtime::Error,
    plugin: &LoadedPlugin,
    state: &InvocationState,
    runtime: &RuntimeLimits,
) -> FailureKind {
    let limits = &plugin.limits;
    if error
        .chain()
        .any(|cause| cause.to_string().contains(HOSTCALL_BYTES_EXHAUSTED))
    {
        return FailureKind::InvalidOutput(format!(
            "the plugin passed the host more than {} bytes in one call; the output limit is {}",
            hostcall_bytes(runtime),
            runtime.max_output_bytes
        ));
    }
    if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return FailureKind::Capacity(format!("{error}"));
    }
    let deadline_ms = u64::try_from(limits.deadline.as_millis()).unwrap_or(u64::MAX);
    if let Some(wait) = error.downcast_ref::<WaitPastDeadline>() {
        tracing::debug!(plugin = %plugin.manifest.label(), %wait, "plugin waited past its deadline");
        return FailureKind::Timeout(deadline_ms);
    }
    if error.downcast_ref::<WatchdogTimeout>().is_some() {
        tracing::warn!(plugin = %plugin.manifest.label(), digest = %plugin.digest, "watchdog stopped an invocation waiting on the host past its deadline");
        return FailureKind::Timeout(deadline_ms);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => FailureKind::Timeout(deadline_ms),
        Some(Trap::OutOfFuel) => FailureKind::OutOfFuel(limits.fuel.unwrap_or(UNMETERED_FUEL)),
        _ if state.limiter.hit => FailureKind::OutOfMemory(limits.memory_bytes),
        Some(trap) => {
            let stderr = state.stderr.contents();
            let stderr = String::from_utf8_lossy(&stderr);
            let stderr = stderr.trim();
            if stderr.is_empty() {
                FailureKind::Trap(trap.to_string())
            } else {
                FailureKind::Trap(format!("{trap}; guest stderr: {stderr}"))
            }
        }
        None => FailureKind::Trap(format!("{error:#}")),
    }
}

pub(crate) fn rule_failure(error: RuleError) -> FailureKind {
    FailureKind::RuleError(match error {
        RuleError::InvalidInput(message) => RuleFailure::InvalidInput(message),
        RuleError::Capability(e) => RuleFailure::Capability(match e {
            wt::CapabilityError::NotFound => CapabilityFailure::NotFound,
            wt::CapabilityError::AccessDenied => CapabilityFailure::AccessDenied,
            wt::CapabilityError::Invalid(m) => CapabilityFailure::Invalid(m),
            wt::CapabilityError::Unavailable(m) => CapabilityFailure::Unavailable(m),
        }),
    })
}

/// Refuses what is not a WebAssembly component before wasmtime parses it.
fn check_binary(bytes: &[u8], limit: usize) -> Result<(), InstallError> {
    if bytes.len() > limit {
        return Err(InstallError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(InstallError::NotWasm);
    }
    // Bytes 4..8: a version (core modules, 1) or a version and layer (components, layer 1).
    match [bytes[4], bytes[5], bytes[6], bytes[7]] {
        [1, 0, 0, 0] => Err(InstallError::CoreModule),
        [_, _, 1, 0] => Ok(()),
        other => Err(InstallError::UnsupportedBinary(other)),
    }
}

/// What of an unused import [`PluginRuntime::stubbed_linker`] defines.
enum Stub {
    /// A function that traps.
    Func(String),
    /// A resource type the interface introduces.
    Resource(String),
}

/// How an accepted import is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// To the host's implementation.
    Host,
    /// To a stub that fails the invocation if called: the manifest lists it in
    /// `unused-imports`.
    Stub,
}

/// Which capability, if any, an import needs; refuses imports the host does not provide,
/// unless the manifest declares them unused.
pub(crate) fn check_import(import: &str, manifest: &PluginManifest) -> Result<Link, InstallError> {
    // The WASI a std guest needs, with no authority and nothing that waits (see `sandbox`);
    // sockets and every other WASI package are not provided.
    if import.starts_with("wasi:") {
        return if sandbox::provides(import) {
            Ok(Link::Host)
        } else if manifest.lists_unused_wasi(import) {
            Ok(Link::Stub)
        } else {
            Err(InstallError::UnknownImport(import.to_owned()))
        };
    }
    let (package, rest) = import
        .split_once('/')
        .ok_or_else(|| InstallError::UnknownImport(import.to_owned()))?;
    let Some(version) = rest.split_once('@').map(|(_, v)| v) else {
        return Err(InstallError::UnknownImport(import.to_owned()));
    };
    // Capability interfaces exist at 0.1.0; the extension package at the manifest's version.
    let expected = if package == "partner-center:extension" {
        manifest.world_version.as_str()
    } else {
        "0.1.0"
    };
    if version != expected {
        return Err(InstallError::UnknownImport(import.to_owned()));
    }
    match package {
        "partner-center:types" | "partner-center:log" | "partner-center:extension" => Ok(Link::Host),
        _ => match Capability::ALL.into_iter().find(|c| c.wit_package() == package) {
            Some(capability) if manifest.grants.contains(&capability) => Ok(Link::Host),
            Some(capability) if manifest.lists_unused(capability) => Ok(Link::Stub),
            Some(capability) => Err(InstallError::MissingGrant {
                capability,
                import: import.to_owned(),
            }),
            None => Err(InstallError::UnknownImport(import.to_owned())),
        },
    }
}

/// Removes the original and compiled artefacts of `digest` from `dir`, if they are there. For
/// a version deleted from the store when no other version has its bytes: by a process with no
/// runtime, or through [`PluginRuntime::remove_artefacts`], which checks that no loaded
/// version uses them.
pub fn remove_artefacts(dir: &Path, digest: &str) -> std::io::Result<()> {
    // A digest names the files; never let it name another path.
    if !is_digest(digest) {
        return Err(std::io::Error::other(format!("{digest:?} is not a sha256 digest")));
    }
    // The original, the compiled artefact of every engine fingerprint, and any write of them a
    // crash left half done.
    let prefix = format!("{digest}.");
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        entries => entries?,
    };
    for entry in entries {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&prefix)
            && (name.ends_with(".wasm") || name.ends_with(".cwasm") || name.ends_with(".partial"))
        {
            match std::fs::remove_file(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

fn is_digest(digest: &str) -> bool {
    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A short name for an engine's compatibility: wasmtime's version and every setting that
/// changes compiled code, hashed.
fn engine_fingerprint(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same name for the same engine in every process of a build;
    // another build may name it otherwise, which costs a compilation, never a wrong artefact
    // (wasmtime checks compatibility again when it deserializes).
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    use std::io::Write;
    // A temporary file of this write's own, created only if no other has the name: replicas
    // sharing the directory (each maybe PID 1 in its container) write the same artefact at
    // the same time.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let failed = |e: std::io::Error| InstallError::Storage(format!("{}: {e}", path.display()));
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let (temp, mut file) = loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = path.with_extension(format!("{}-{stamp}-{n}.partial", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => break (temp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(e)),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(failed(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::ComponentLimits;
    use crate::state::MemoryCap;

    #[test]
    fn binaries_are_sorted_before_parsing() {
        assert_eq!(check_binary(b"hello world", 100), Err(InstallError::NotWasm));
        assert_eq!(check_binary(b"\0asm\x01\0\0\0", 100), Err(InstallError::CoreModule));
        assert_eq!(check_binary(b"\0asm\x0d\0\x01\0", 100), Ok(()));
        assert_eq!(
            check_binary(&[0; 200], 100),
            Err(InstallError::TooLarge { size: 200, limit: 100 })
        );
    }

    /// A component of `modules` core instances with one memory of `pages` 64 KiB pages each.
    fn component_with_memories(modules: usize, pages: u32) -> Vec<u8> {
        let defs: String = (0..modules)
            .map(|i| format!("(core module $m{i} (memory {pages})) (core instance (instantiate $m{i}))"))
            .collect();
        wat::parse_str(format!("(component {defs})")).expect("valid WAT")
    }

    #[test]
    fn the_memory_cap_counts_all_memories_of_an_invocation_together() {
        let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
        let cap = 64 << 20;
        let instantiate = |bytes: &[u8]| {
            let component = Component::new(runtime.engine(), bytes).expect("compiles");
            let mut store = Store::new(
                runtime.engine(),
                MemoryCap {
                    max_bytes: cap,
                    total_bytes: 0,
                    hit: false,
                },
            );
            store.limiter(|cap| cap);
            let result = Linker::new(runtime.engine())
                .instantiate(&mut store, &component)
                .map(drop);
            (result, store.data().hit)
        };
        // Two memories of 40 MiB: each under the 64 MiB cap, together over it.
        assert!(!instantiate(&component_with_memories(1, 640)).1);
        let (result, hit) = instantiate(&component_with_memories(2, 640));
        assert!(result.is_err() && hit, "two 40 MiB memories must not fit a 64 MiB cap");
    }

    #[test]
    fn a_component_beyond_the_per_component_pool_limits_is_refused_before_it_runs() {
        let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
        let limits = ComponentLimits::default();
        let too_many = component_with_memories(limits.memories as usize + 1, 1);
        let refused = Component::new(runtime.engine(), &too_many)
            .map(drop)
            .map_err(|e| format!("{e:#}"));
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("3 Wasm linear memories")),
            "got {refused:?}"
        );
        assert!(Component::new(runtime.engine(), component_with_memories(limits.memories as usize, 1)).is_ok());
    }

    #[test]
    fn capability_imports_need_their_grant() {
        let mut manifest =
            PluginManifest::from_toml("name = \"x\"\nversion = \"0.1.0\"\nworld = \"approval-rule\"\nowner = 2\n")
                .expect("valid manifest");
        assert_eq!(check_import("wasi:cli/stderr@0.2.6", &manifest), Ok(Link::Host));
        assert_eq!(
            check_import("wasi:sockets/tcp@0.2.6", &manifest),
            Err(InstallError::UnknownImport("wasi:sockets/tcp@0.2.6".into()))
        );
        assert_eq!(check_import("partner-center:log/log@0.1.0", &manifest), Ok(Link::Host));
        assert_eq!(
            check_import("partner-center:order/orders@0.1.0", &manifest),
            Err(InstallError::MissingGrant {
                capability: Capability::Order,
                import: "partner-center:order/orders@0.1.0".into()
            })
        );
        manifest.grants.insert(Capability::Order);
        assert_eq!(
            check_import("partner-center:order/orders@0.1.0", &manifest),
            Ok(Link::Host)
        );
        assert!(matches!(
            check_import("acme:evil/net@1.0.0", &manifest),
            Err(InstallError::UnknownImport(_))
        ));
        assert!(matches!(
            check_import("partner-center:order/orders@9.0.0", &manifest),
            Err(InstallError::UnknownImport(_))
        ));
    }

    #[test]
    fn imports_listed_unused_link_to_stubs_and_nothing_else_does() {
        let manifest = PluginManifest::from_toml(
            "name = \"x\"\nversion = \"0.1.0\"\nworld = \"approval-rule\"\nowner = 2\ngrants = [\"order\"]\nunused-imports = [\"customer\", \"wasi:sockets\"]\n",
        )
        .expect("valid manifest");
        assert_eq!(
            check_import("partner-center:customer/customers@0.1.0", &manifest),
            Ok(Link::Stub)
        );
        assert_eq!(
            check_import("partner-center:order/orders@0.1.0", &manifest),
            Ok(Link::Host)
        );
        assert_eq!(check_import("wasi:sockets/tcp@0.2.9", &manifest), Ok(Link::Stub));
        // What the list does not name keeps its check.
        assert!(matches!(
            check_import("partner-center:invoicing/invoices@0.1.0", &manifest),
            Err(InstallError::MissingGrant {
                capability: Capability::Invoicing,
                ..
            })
        ));
        assert_eq!(
            check_import("wasi:http/types@0.2.9", &manifest),
            Err(InstallError::UnknownImport("wasi:http/types@0.2.9".into()))
        );
        // A listed capability at another version is still unknown.
        assert!(matches!(
            check_import("partner-center:customer/customers@9.0.0", &manifest),
            Err(InstallError::UnknownImport(_))
        ));
    }
}
