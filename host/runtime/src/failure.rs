//! How installing or invoking a plugin fails. A plugin's failure is always a value, never a
//! host panic, and the next invocation runs normally.

use crate::manifest::{Capability, ManifestError};
use crate::model::InputError;
use serde::Serialize;

/// Why an install was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The file is larger than the operator allows.
    #[error("component is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Size of the upload.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file: it does not start with the magic bytes \\0asm")]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    /// WebAssembly of a version or layer this host does not know.
    #[error("unsupported WebAssembly binary version/layer {0:02x?}")]
    UnsupportedBinary([u8; 4]),
    /// The component does not validate or compile.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// It imports a capability its manifest does not grant.
    #[error(
        "component imports `{import}`, which needs the `{capability}` grant; its manifest neither grants it nor lists it in unused-imports (for an import the rule never calls)"
    )]
    MissingGrant {
        /// The capability.
        capability: Capability,
        /// The import that needs it.
        import: String,
    },
    /// It imports something the host does not provide.
    #[error("component imports `{0}`, which this host does not provide")]
    UnknownImport(String),
    /// It does not implement the manifest's world.
    #[error(
        "component does not implement {world} (the manifest's world and world-version; a component built against another version of the extension package needs its world-version): {detail}"
    )]
    WrongWorld {
        /// The world the manifest names.
        world: &'static str,
        /// What is missing or mismatched.
        detail: String,
    },
    /// It holds more than the operator allows of something compile time grows with.
    #[error("component has {count} {what}; the limit is {limit}")]
    TooComplex {
        /// What was counted: `core modules`, `function bodies`, `bytes of code`...
        what: &'static str,
        /// How many it has (counting stops at the first past the limit).
        count: u64,
        /// The operator's limit.
        limit: u64,
    },
    /// Compiling took longer than the operator's ceiling.
    #[error("compiling the component took longer than {ceiling_ms} ms, the host's ceiling")]
    CompileTimeout {
        /// The ceiling.
        ceiling_ms: u64,
    },
    /// Every compile slot stayed busy for as long as an install may wait.
    #[error("the host is compiling other components: no compile slot came free within {waited_ms} ms, retry later")]
    CompileBusy {
        /// How long it waited.
        waited_ms: u64,
    },
    /// The compiler stopped abnormally on this component, e.g. at its memory limit.
    #[error("the compiler stopped on this component: {0}")]
    CompileFailed(String),
    /// The host could not run its compiler (a host fault, not the component's).
    #[error("could not run the compiler: {0}")]
    Compiler(String),
    /// This owner already installed this name and version with other bytes or manifest.
    #[error("{id} is already installed as {digest}: versions are immutable, so bump the version")]
    VersionExists {
        /// `owner/name@version`.
        id: String,
        /// The installed component.
        digest: String,
    },
    /// Neither the caller nor the artefact store has the original component to compile (or
    /// the store's copy is unreadable or altered).
    #[error("the original component {0} is not in the artefact store, or not whole")]
    OriginalMissing(String),
    /// The artefact store could not be written.
    #[error("could not store the compiled component: {0}")]
    Storage(String),
}

/// What went wrong in one invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum FailureKind {
    /// The epoch deadline passed.
    #[error("timed out at its deadline of {0} ms")]
    Timeout(u64),
    /// The memory cap was hit.
    #[error("ran out of memory at its cap of {0} bytes")]
    OutOfMemory(usize),
    /// The fuel limit was exhausted.
    #[error("ran out of fuel at its limit of {0}")]
    OutOfFuel(u64),
    /// The guest trapped (panic, stack overflow, unreachable...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The output breaks the contract or the size limit.
    #[error("returned invalid output: {0}")]
    InvalidOutput(String),
    /// The rule answered with its own error.
    #[error("returned a rule error: {0}")]
    RuleError(RuleFailure),
    /// No instance slot was free (too many concurrent invocations).
    #[error("could not start: {0}")]
    Capacity(String),
    /// The plugin's owner already runs its whole share of the instance pool: only that
    /// owner's invocations are refused.
    #[error("refused: owner {owner} already runs {limit} plugin invocations at once, its share of the pool")]
    ConcurrencyLimit {
        /// The plugin's owner.
        owner: i64,
        /// Its share: invocations at once.
        limit: u32,
    },
}

/// A rule's own error, as the plugin reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "error", content = "detail", rename_all = "kebab-case")]
pub enum RuleFailure {
    /// The rule found its input unusable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A capability call failed.
    #[error("capability call failed: {0}")]
    Capability(CapabilityFailure),
}

/// A capability error a rule passed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code", content = "detail", rename_all = "kebab-case")]
pub enum CapabilityFailure {
    /// Not found.
    #[error("not-found")]
    NotFound,
    /// Outside the owner's scope.
    #[error("access-denied")]
    AccessDenied,
    /// Bad argument.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Host storage unavailable.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// A failed invocation, naming the plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("plugin {plugin} ({digest}) {kind}")]
pub struct PluginFailure {
    /// `name@version`.
    pub plugin: String,
    /// sha256 of the component.
    pub digest: String,
    /// What went wrong.
    pub kind: FailureKind,
    /// What the invocation used before it failed: for the audit record, not the caller.
    #[serde(skip)]
    pub usage: Usage,
}

/// What one invocation used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Fuel burnt (roughly, Wasm instructions executed); 0 when the runtime does not meter
    /// fuel.
    pub fuel_used: u64,
    /// Capability calls made, refused ones included.
    pub capability_calls: u32,
    /// Capability calls refused as outside the owner's scope.
    pub denied_calls: u32,
}

/// Why an invocation produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// No plugin version is installed under that id.
    #[error("no plugin is installed as {0}")]
    UnknownPlugin(String),
    /// The plugin implements another world.
    #[error("plugin {plugin} implements {actual}, not {expected}")]
    WrongWorld {
        /// `name@version`.
        plugin: String,
        /// Its world.
        actual: &'static str,
        /// The world called.
        expected: &'static str,
    },
    /// The input was refused before the plugin ran.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginFailure),
}
