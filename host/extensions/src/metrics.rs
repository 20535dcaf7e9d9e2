//! What the operator's Prometheus scrapes about plugins: every invocation counted per plugin
//! and owner with its outcome, its duration and the fuel it burnt. The families are observed
//! from the audit records (so what is counted is exactly what is audited) and registered by the
//! server next to its own (`/metrics`).
//!
//! Besides the cumulative families, the last hour is kept minute by minute per plugin
//! ([`InvocationMetrics::last_hour`]): what the console's health page draws without a
//! Prometheus server. Those figures are this replica's; Prometheus sums the replicas.

use chrono::{DateTime, Utc};
use pchost_store::audit::InvocationRecord;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

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
    /// Every label set created, by plugin (what [`InvocationMetrics::retain`] removes), and
    /// the last hour's tallies: one lock per observation for both.
    series: Arc<Mutex<HashMap<PluginLabels, Series>>>,
}

/// What is kept of one plugin besides its families.
#[derive(Debug, Default)]
struct Series {
    /// The outcome label sets created.
    outcomes: Vec<OutcomeLabels>,
    /// The last hour, oldest minute first; minutes with no invocation are absent.
    minutes: VecDeque<Minute>,
}

/// One minute's invocations of one plugin.
#[derive(Clone, Debug)]
struct Minute {
    /// Minutes since the Unix epoch.
    at: i64,
    ok: u64,
    /// Failures by kind.
    failures: BTreeMap<String, u64>,
    /// Durations, counted in [`duration_bounds`]' buckets (the last one is above them all).
    durations: [u64; DURATION_BUCKETS + 1],
}

/// How many minutes [`InvocationMetrics::last_hour`] covers.
pub const WINDOW_MINUTES: i64 = 60;
const DURATION_BUCKETS: usize = 16;

/// The duration buckets' upper bounds, in seconds: 50 µs to about 1.6 s (a compiled rule
/// answers in tens of microseconds, an interpreted one in milliseconds, and deadlines stop
/// the rest).
fn duration_bounds() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, DURATION_BUCKETS as u16)
}

fn duration_histogram() -> Histogram {
    Histogram::new(duration_bounds())
}

/// The last hour of one plugin, or of all those asked about.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hour {
    /// Invocations per minute, oldest first, [`WINDOW_MINUTES`] of them ending with the
    /// current minute: (minutes since the epoch, succeeded, failed).
    pub minutes: Vec<(i64, u64, u64)>,
    /// Failures by kind.
    pub failures: BTreeMap<String, u64>,
    /// Per plugin, by `name@version` and owner.
    pub plugins: Vec<PluginHour>,
}

/// One plugin's last hour.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginHour {
    /// `name@version`.
    pub plugin: String,
    /// The owner's id.
    pub owner: String,
    /// Invocations.
    pub invocations: u64,
    /// Of which failed.
    pub failed: u64,
    /// Median duration, in seconds (estimated within its bucket, as Prometheus does).
    pub p50_seconds: f64,
    /// 99th percentile duration, in seconds.
    pub p99_seconds: f64,
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
        let seconds = record.duration_us.max(0) as f64 / 1e6;
        {
            let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            let kept = series.entry(plugin.clone()).or_default();
            if !kept.outcomes.contains(&outcome) {
                kept.outcomes.push(outcome.clone());
            }
            kept.tally(Utc::now().timestamp().div_euclid(60), &outcome.outcome, seconds);
        }
        self.invocations.get_or_create(&outcome).inc();
        self.duration.get_or_create(&plugin).observe(seconds);
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
        series.retain(|plugin, kept| {
            if keep(&plugin.plugin, &plugin.owner) {
                return true;
            }
            for outcome in kept.outcomes.iter() {
                self.invocations.remove(outcome);
            }
            self.duration.remove(plugin);
            self.fuel.remove(plugin);
            self.denied.remove(plugin);
            false
        });
    }
}

impl InvocationMetrics {
    /// The hour up to `now`, minute by minute, of the plugins `owner` owns (all with `None`).
    pub fn last_hour(&self, now: DateTime<Utc>, owner: Option<&str>) -> Hour {
        let current = now.timestamp().div_euclid(60);
        let first = current - WINDOW_MINUTES + 1;
        let mut hour = Hour {
            minutes: (first..=current).map(|at| (at, 0, 0)).collect(),
            ..Hour::default()
        };
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        for (labels, kept) in series.iter() {
            if owner.is_some_and(|o| o != labels.owner) {
                continue;
            }
            let mut durations = [0u64; DURATION_BUCKETS + 1];
            let (mut invocations, mut failed) = (0, 0);
            for minute in kept.minutes.iter().filter(|m| (first..=current).contains(&m.at)) {
                let failures: u64 = minute.failures.values().sum();
                let slot = &mut hour.minutes[(minute.at - first) as usize];
                slot.1 += minute.ok;
                slot.2 += failures;
                for (kind, n) in &minute.failures {
                    *hour.failures.entry(kind.clone()).or_default() += n;
                }
                for (total, n) in durations.iter_mut().zip(minute.durations) {
                    *total += n;
                }
                invocations += minute.ok + failures;
                failed += failures;
            }
            if invocations > 0 {
                hour.plugins.push(PluginHour {
                    plugin: labels.plugin.clone(),
                    owner: labels.owner.clone(),
                    invocations,
                    failed,
                    p50_seconds: quantile(&durations, 0.5),
                    p99_seconds: quantile(&durations, 0.99),
                });
            }
        }
        hour.plugins
            .sort_by(|a, b| (&a.owner, &a.plugin).cmp(&(&b.owner, &b.plugin)));
        hour
    }
}

impl Series {
    /// Counts one invocation in minute `at`, dropping the minutes that left the window.
    fn tally(&mut self, at: i64, outcome: &str, seconds: f64) {
        while self.minutes.front().is_some_and(|m| m.at <= at - WINDOW_MINUTES) {
            self.minutes.pop_front();
        }
        if self.minutes.back().is_none_or(|m| m.at < at) {
            self.minutes.push_back(Minute {
                at,
                ok: 0,
                failures: BTreeMap::new(),
                durations: [0; DURATION_BUCKETS + 1],
            });
        }
        // A clock stepped back counts in the latest minute kept.
        let Some(minute) = self.minutes.back_mut() else {
            return;
        };
        if outcome == "ok" {
            minute.ok += 1;
        } else {
            *minute.failures.entry(outcome.to_owned()).or_default() += 1;
        }
        let bucket = duration_bounds()
            .position(|bound| seconds <= bound)
            .unwrap_or(DURATION_BUCKETS);
        minute.durations[bucket] += 1;
    }
}

/// The `q` quantile of durations counted in [`duration_bounds`]' buckets, interpolated
/// linearly within its bucket as Prometheus' `histogram_quantile` does; the last bucket (above
/// every bound) answers its lower bound. 0 when nothing was counted.
fn quantile(counts: &[u64; DURATION_BUCKETS + 1], q: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let bounds: Vec<f64> = duration_bounds().collect();
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &n) in counts.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let Some(&upper) = bounds.get(i) else {
                return lower;
            };
            return lower + (upper - lower) * ((rank - below as f64) / n as f64);
        }
        below += n;
    }
    bounds[DURATION_BUCKETS - 1]
}

/// The kind of a recorded failure (`{"kind": {"kind": "timeout", ...}}`), or `failed`.
pub fn failure_kind(failure: &str) -> String {
    serde_json::from_str::<serde_json::Value>(failure)
        .ok()
        .and_then(|f| f.pointer("/kind/kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "failed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Deleted: its series go, and its last hour.
        metrics.retain(|plugin, _| plugin != "volume-discount@0.3.0");
        assert!(
            !encoded(&registry).contains("volume-discount"),
            "{}",
            encoded(&registry)
        );
    }

    #[test]
    fn the_last_hour_counts_minutes_failures_by_kind_and_duration_quantiles_per_owner() {
        let metrics = InvocationMetrics::default();
        let mut quick = record(None);
        quick.duration_us = 1_000;
        for _ in 0..98 {
            metrics.observe(&quick);
        }
        let mut slow = record(None);
        slow.duration_us = 300_000;
        metrics.observe(&slow);
        let mut timed_out = record(Some(r#"{"kind":{"kind":"timeout","detail":50}}"#));
        timed_out.duration_us = 300_000;
        metrics.observe(&timed_out);
        let now = Utc::now();
        let hour = metrics.last_hour(now, Some("10"));
        assert_eq!(hour.minutes.len(), WINDOW_MINUTES as usize);
        let (at, ok, failed) = *hour.minutes.last().expect("the current minute");
        assert_eq!((at, ok, failed), (now.timestamp().div_euclid(60), 99, 1));
        assert_eq!(hour.failures, BTreeMap::from([("timeout".to_owned(), 1)]));
        assert_eq!(hour.plugins.len(), 1);
        let plugin = &hour.plugins[0];
        assert_eq!((plugin.invocations, plugin.failed), (100, 1));
        // 1 ms lies in the bucket (0.8 ms, 1.6 ms]; 300 ms in (204.8 ms, 409.6 ms].
        assert!(
            (0.0008..=0.0016).contains(&plugin.p50_seconds),
            "{}",
            plugin.p50_seconds
        );
        assert!(
            (0.2048..=0.4096).contains(&plugin.p99_seconds),
            "{}",
            plugin.p99_seconds
        );
        // Another owner's view has none of it.
        assert_eq!(metrics.last_hour(now, Some("11")).plugins, Vec::new());
        // An hour later, the window is empty again.
        let later = metrics.last_hour(now + chrono::Duration::minutes(WINDOW_MINUTES), None);
        assert!(later.plugins.is_empty() && later.minutes.iter().all(|m| (m.1, m.2) == (0, 0)));
        // A deleted version leaves the window too.
        metrics.retain(|_, _| false);
        assert!(metrics.last_hour(now, None).plugins.is_empty());
    }

    #[test]
    fn minutes_older_than_the_window_are_dropped_as_new_ones_come() {
        let mut series = Series::default();
        series.tally(100, "ok", 0.001);
        series.tally(100 + WINDOW_MINUTES - 1, "ok", 0.001);
        assert_eq!(series.minutes.len(), 2);
        series.tally(100 + WINDOW_MINUTES, "trap", 0.001);
        assert_eq!(
            series.minutes.iter().map(|m| m.at).collect::<Vec<_>>(),
            vec![100 + WINDOW_MINUTES - 1, 100 + WINDOW_MINUTES]
        );
    }
}
