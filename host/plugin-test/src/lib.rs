//! A test harness for plugin authors: load a built component with its manifest into the
//! host's own runtime (production limits, the manifest's grants and contract version), give
//! its capability reads a data set, run inputs and assert on the output, the fuel and the
//! time, from a plain `#[test]`:
//!
//! ```no_run
//! use pchost_plugin_test::Rule;
//! let rule = Rule::load("plugin.toml", "target/wasm32-wasip2/release/my_rule.wasm").unwrap();
//! let outcome = rule.run(&serde_json::json!({ "kind": "refund", "...": "..." })).unwrap();
//! assert_eq!(outcome.output["decision"], "approve");
//! assert!(outcome.fuel_used < 100_000);
//! ```
//!
//! Inputs are JSON in the form the host's audit records them (`GET /v1/invocations`), as
//! `pchost plugin test` reads them from fixture files; one without `settings` gets the
//! manifest's defaults, as every bound rule does. Use it from plain `#[test]` functions: it
//! runs its own executor, and refuses to start inside another (`#[tokio::test]`).

use anyhow::Context;
use pchost_runtime::{CapabilityData, PluginManifest, PluginRuntime, RuntimeConfig, World};
use pchost_server::capability_data::StoreData;
use pchost_store::demo::DemoData;
use pchost_store::store::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use pchost_store::demo::DemoData as DataSet;

/// A loaded plugin and the data its capability reads see.
pub struct Rule {
    runtime: PluginRuntime,
    id: String,
    world: World,
    defaults: Vec<pchost_runtime::model::Setting>,
    data: Arc<dyn CapabilityData>,
    // The store's connections live on this runtime.
    executor: tokio::runtime::Runtime,
}

/// What one invocation gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The validated answer, as JSON (an approval decision, price adjustments).
    pub output: serde_json::Value,
    /// Fuel burnt: roughly, Wasm instructions executed.
    pub fuel_used: u64,
    /// Wall time of the whole invocation.
    pub wall_time: Duration,
    /// The log lines it wrote.
    pub logs: Vec<String>,
}

impl Rule {
    /// Loads `component` as `manifest` declares it (refused as an upload would be: an
    /// ungranted import, limits above the ceilings...). Capability reads see the demo data
    /// until [`Rule::with_data`] replaces it.
    pub fn load(manifest: impl AsRef<Path>, component: impl AsRef<Path>) -> anyhow::Result<Rule> {
        let (manifest, component) = (manifest.as_ref(), component.as_ref());
        let text = std::fs::read_to_string(manifest).with_context(|| format!("reading {}", manifest.display()))?;
        let manifest = PluginManifest::from_toml(&text)
            .with_context(|| format!("{} is not a valid manifest", manifest.display()))?;
        let bytes = std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
        let runtime = PluginRuntime::new(RuntimeConfig::default())?;
        let world = manifest.world;
        let defaults = pchost_runtime::settings::resolve(&manifest.settings, &Default::default())
            .map_err(|e| anyhow::anyhow!("the manifest's setting {} has no default: {}", e.field, e.message))?;
        let plugin = runtime.install(manifest, &bytes)?;
        let executor = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let data = executor.block_on(data_store(&DemoData::new(chrono::Utc::now())))?;
        Ok(Rule {
            id: plugin.id.clone(),
            runtime,
            world,
            defaults,
            data,
            executor,
        })
    }

    /// Answers capability reads from `data` instead (partners, customers, products, prices,
    /// orders, invoices, staff), scoped to the plugin's owner as in production.
    pub fn with_data(mut self, data: &DataSet) -> anyhow::Result<Rule> {
        self.data = self.executor.block_on(data_store(data))?;
        Ok(self)
    }

    /// Runs the plugin on `input`: a quote for a pricing rule, an approval request for an
    /// approval rule.
    pub fn run(&self, input: &serde_json::Value) -> anyhow::Result<Outcome> {
        let data = self.data.clone();
        let (output, usage, wall_time, logs) = match self.world {
            World::PricingRule => {
                let mut quote: pchost_runtime::model::Quote =
                    serde_json::from_value(input.clone()).context("the input is not a quote")?;
                if quote.settings.is_empty() {
                    quote.settings = self.defaults.clone();
                }
                let run = self.runtime.price(&self.id, &quote, data)?;
                (serde_json::to_value(&run.output)?, run.usage, run.wall_time, run.logs)
            }
            World::ApprovalRule => {
                let mut request: pchost_runtime::model::ApprovalRequest =
                    serde_json::from_value(input.clone()).context("the input is not an approval request")?;
                if request.settings.is_empty() {
                    request.settings = self.defaults.clone();
                }
                let run = self.runtime.decide(&self.id, &request, data)?;
                (serde_json::to_value(&run.output)?, run.usage, run.wall_time, run.logs)
            }
        };
        Ok(Outcome {
            output,
            fuel_used: usage.fuel_used,
            wall_time,
            logs: logs.into_iter().map(|line| line.message).collect(),
        })
    }
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("plugin", &self.id)
            .field("world", &self.world)
            .finish_non_exhaustive()
    }
}

async fn data_store(data: &DataSet) -> anyhow::Result<Arc<dyn CapabilityData>> {
    let store = Store::in_memory().await?;
    store.seed_demo_if_empty(data).await?;
    Ok(Arc::new(StoreData::new(store)))
}
