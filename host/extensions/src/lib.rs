//! The plugin host: which plugin versions are bound to which extension points
//! ([`bound::BindingIndex`]), running them under their bindings' failure policies with shadow
//! versions beside them ([`bound::run_bound`]), the pricing chain with its invariants
//! ([`pricing`], [`chain`]), the approval gate ([`approvals`]) and the actions it governs
//! ([`actions`]), replays ([`replay`]), installs
//! ([`install`]) and the invocation audit log ([`audit`]).
//!
//! No HTTP here: the server's handlers and the CLI both call this crate, never each other.
//! It has its own error type ([`ExtensionError`]), each refusal with a stable code.

pub mod actions;
pub mod approvals;
pub mod audit;
pub mod bound;
pub mod chain;
pub mod error;
pub mod install;
pub mod metrics;
pub mod native_rules;
pub mod pricing;
pub mod replay;
pub mod signing;
pub mod views;

pub use error::ExtensionError;

use bound::BindingIndex;
use chain::PriceCeilings;
use pchost_runtime::{CapabilityData, PluginRuntime};
use pchost_store::Store;
use pchost_store::bindings::PluginQuota;
use std::sync::Arc;

/// What running plugins for the host's operations takes; cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    /// The partner-center data, the plugin registry and the audit log.
    pub store: Store,
    /// The plugin runtime.
    pub runtime: Arc<PluginRuntime>,
    /// The capability view plugins read (tenant-scoped by the runtime).
    pub data: Arc<dyn CapabilityData>,
    /// Which plugin versions are bound where.
    pub bindings: Arc<BindingIndex>,
    /// How far above list price each binding scope's pricing rules may raise a price.
    pub price_ceilings: PriceCeilings,
    /// What each owner may keep installed.
    pub plugin_quota: PluginQuota,
    /// Run the bundled example rules natively instead of as plugins: the baseline of the
    /// HTTP benchmark (`serve --native-rules-for-benchmarks`), never a production mode.
    pub native_rules: bool,
    /// Every audited invocation, counted for `/metrics`.
    pub metrics: Arc<metrics::InvocationMetrics>,
    /// Versions that failed to load here, and when to try each again.
    pub load_failures: Arc<install::LoadFailures>,
}

impl PluginHost {
    /// A host over `store` and `runtime` whose plugins read `data`, with no binding loaded yet
    /// (call `bindings.reload`), the default price ceilings and plugin quota.
    pub fn new(store: Store, runtime: Arc<PluginRuntime>, data: Arc<dyn CapabilityData>) -> Self {
        PluginHost {
            store,
            runtime,
            data,
            bindings: Arc::new(BindingIndex::default()),
            price_ceilings: PriceCeilings::default(),
            plugin_quota: PluginQuota::default(),
            native_rules: false,
            metrics: Arc::default(),
            load_failures: Arc::default(),
        }
    }
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("store", &self.store)
            .field("price_ceilings", &self.price_ceilings)
            .field("native_rules", &self.native_rules)
            .finish_non_exhaustive()
    }
}
