//! What the operator's Prometheus scrapes about plugins: every invocation counted per plugin
//! and owner with its outcome, its duration and the fuel it burnt. The families are observed
//! from the audit records (so what is counted is exactly what is audited) and registered by the
//! server next to its own (`/metrics`).

use pchost_store::audit::InvocationRecord;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A plugin version and its owner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// `name@version`.
    pub plugin: String,
    /// The owning partner's id.
    pub owner: String,
}

/// One invocation's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `name@version`.
    pub plugin: String,
    /// The owning partner's id.
    pub owner: String,
    /// `live`, `shadow` or `replay`.
    pub purpose: String,
    /// `ok`, or the failure's kind (`timeout`, `out-of-fuel`, `trap`, `invalid-output`,
    /// `rule-error`, `concurrency-limit`...: docs/errors.md).
    pub outcome: String,
}

/// The invocation families.
#[derive(Clone, Debug)]
pub struct InvocationMetrics {
    invocations: Family<OutcomeLabels, Counter>,
    duration: Family<PluginLabels, Histogram>,
    fuel: Family<PluginLabels, Counter>,
    denied: Family<PluginLabels, Counter>,
    /// Every label set created, by plugin: what [`InvocationMetrics::retain`] removes.
    series: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PluginLabels, Vec<OutcomeLabels>>>>,
}

fn duration_histogram() -> Histogram {
    // 50 µs to about 1.6 s: a compiled rule answers in tens of microseconds, an interpreted
    // one in milliseconds, and deadlines stop the rest.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Default for InvocationMetrics {
    fn default() -> Self {
        InvocationMetrics {
            invocations: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            fuel: Family::default(),
            denied: Family::default(),
            series: Default::default(),
        }
    }
}

impl InvocationMetrics {
    /// Adds the families to `registry` (they stay shared with this value).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pchost_plugin_invocations",
            "Plugin invocations, by plugin, owner, purpose and outcome (ok or the failure's kind)",
            self.invocations.clone(),
        );
        registry.register(
            "pchost_plugin_invocation_duration_seconds",
            "Wall time of plugin invocations, admission included",
            self.duration.clone(),
        );
        registry.register(
            "pchost_plugin_fuel",
            "Fuel plugin invocations burnt (roughly, WebAssembly instructions)",
            self.fuel.clone(),
        );
        registry.register(
            "pchost_plugin_denied_capability_calls",
            "Capability calls refused as outside the plugin owner's scope",
            self.denied.clone(),
        );
    }

    /// Counts one audited invocation.
    pub fn observe(&self, record: &InvocationRecord) {
        let plugin = PluginLabels {
            plugin: record.plugin.clone(),
            owner: record.owner.to_string(),
        };
        let outcome = OutcomeLabels {
            plugin: plugin.plugin.clone(),
            owner: plugin.owner.clone(),
            purpose: record.purpose.clone(),
            outcome: record.failure.as_deref().map_or_else(|| "ok".to_owned(), failure_kind),
        };
        {
            let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            let outcomes = series.entry(plugin.clone()).or_default();
            if !outcomes.contains(&outcome) {
                outcomes.push(outcome.clone());
            }
        }
        self.invocations.get_or_create(&outcome).inc();
        self.duration
            .get_or_create(&plugin)
            .observe(record.duration_us.max(0) as f64 / 1e6);
        if let Some(fuel) = record.fuel_used.and_then(|f| u64::try_from(f).ok()) {
            self.fuel.get_or_create(&plugin).inc_by(fuel);
        }
        if let Ok(denied @ 1..) = u64::try_from(record.denied_calls) {
            self.denied.get_or_create(&plugin).inc_by(denied);
        }
    }
}

impl InvocationMetrics {
    /// Removes the series of the plugins `keep` (given `name@version` and the owner's id) says
    /// are gone: a deleted version's counts leave the exposition, and the memory.
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        series.retain(|plugin, outcomes| {
            if keep(&plugin.plugin, &plugin.owner) {
                return true;
            }
            for outcome in outcomes.iter() {
                self.invocations.remove(outcome);
            }
            self.duration.remove(plugin);
            self.fuel.remove(plugin);
            self.denied.remove(plugin);
            false
        });
    }
}

/// The kind of a recorded failure (`{"kind": {"kind": "timeout", ...}}`), or `failed`.
fn failure_kind(failure: &str) -> String {
    serde_json::from_str::<serde_json::Value>(failure)
        .ok()
        .and_then(|f| f.pointer("/kind/kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "failed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn record(failure: Option<&str>) -> InvocationRecord {
        InvocationRecord {
            id: 0,
            plugin: "volume-discount@0.3.0".into(),
            digest: "d".into(),
            world: "pricing-rule".into(),
            owner: 10,
            input_hash: String::new(),
            input: "{}".into(),
            as_of: Utc::now(),
            output: None,
            failure: failure.map(str::to_owned),
            duration_us: 1500,
            fuel_used: Some(1234),
            capability_calls: 0,
            denied_calls: 0,
            logs: "[]".into(),
            purpose: "live".into(),
        }
    }

    #[test]
    fn invocations_are_counted_per_plugin_owner_and_outcome_with_their_fuel() {
        let metrics = InvocationMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.observe(&record(None));
        metrics.observe(&record(None));
        metrics.observe(&record(Some(
            r#"{"plugin":"volume-discount@0.3.0","digest":"d","kind":{"kind":"timeout","detail":50}}"#,
        )));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        let encoded = |registry: &Registry| {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
            text
        };
        for line in [
            r#"pchost_plugin_invocations_total{plugin="volume-discount@0.3.0",owner="10",purpose="live",outcome="ok"} 2"#,
            r#"pchost_plugin_invocations_total{plugin="volume-discount@0.3.0",owner="10",purpose="live",outcome="timeout"} 1"#,
            r#"pchost_plugin_fuel_total{plugin="volume-discount@0.3.0",owner="10"} 3702"#,
            r#"pchost_plugin_invocation_duration_seconds_count{plugin="volume-discount@0.3.0",owner="10"} 3"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        // Deleted: its series go.
        metrics.retain(|plugin, _| plugin != "volume-discount@0.3.0");
        assert!(
            !encoded(&registry).contains("volume-discount"),
            "{}",
            encoded(&registry)
        );
    }
}
