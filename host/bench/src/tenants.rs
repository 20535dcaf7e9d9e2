//! Section 5: many tenants' rules loaded in one process: memory per installed rule and the
//! cost of a first invocation, measured in a child process of its own.

use crate::fixtures::{manifest, quote};
use crate::measure::{Latency, Results, measure};
use anyhow::{Context, bail};
use chrono::Utc;
use pchost_runtime::{CapabilityData, PluginRuntime, RuntimeConfig};
use pchost_server::capability_data::StoreData;
use pchost_store::demo::DemoData;
use pchost_store::store::Store;
use serde_json::{Value, json};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
/// Section 5: installed versions in a child process each, so that resident memory is its own.
pub(crate) fn tenants(results: &mut Results) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("pchost-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Precompile the two components the children load from artefacts.
    let runtime = PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(dir.clone()),
        ..RuntimeConfig::default()
    })?;
    let shared = runtime.install(
        manifest("markup", "0.1.0", 2),
        &std::fs::read(pchost_test_plugins::RESELLER_MARKUP)?,
    )?;
    let other = runtime.install(
        manifest("volume", "0.1.0", 10),
        &std::fs::read(pchost_test_plugins::VOLUME_DISCOUNT)?,
    )?;
    let cwasm = std::fs::metadata(
        runtime
            .compiled_artefact(&shared.digest)
            .ok_or_else(|| anyhow::anyhow!("no artefact store"))?,
    )?
    .len();
    results.figure(
        "5 tenants",
        "compiled size of one example rule (.cwasm)",
        cwasm as f64 / 1024.0,
        "KiB",
    );
    drop(runtime);
    for count in [10usize, 1_000, 10_000] {
        let output = std::process::Command::new(std::env::current_exe()?)
            .args([
                "tenants-child",
                &count.to_string(),
                &dir.display().to_string(),
                &shared.digest,
                &other.digest,
            ])
            .output()
            .context("running the tenants child")?;
        if !output.status.success() {
            bail!("tenants child failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let figures: Value = serde_json::from_slice(&output.stdout)?;
        let f = |k: &str| figures[k].as_f64().unwrap_or(f64::NAN);
        let section = "5 tenants";
        results.figure(
            section,
            &format!("{count} versions: resident memory"),
            f("rss_kib") / 1024.0,
            "MiB",
        );
        results.figure(
            section,
            &format!("{count} versions: idle memory per version"),
            f("per_version_kib"),
            "KiB",
        );
        results.figure(
            section,
            &format!("{count} versions: start-up (load all from artefacts)"),
            f("startup_ms"),
            "ms",
        );
        results.figure(
            section,
            &format!("{count} versions: load one precompiled plugin (new digest)"),
            f("load_new_us"),
            "µs",
        );
        results.figure(
            section,
            &format!("{count} versions: its first invocation, isolated"),
            f("first_call_us"),
            "µs",
        );
        results.latency(
            section,
            &format!("{count} versions: a loaded plugin, isolated invocation"),
            Latency {
                p50: f("loaded_p50_us"),
                p99: f("loaded_p99_us"),
            },
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

pub(crate) fn rss_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// The child: loads `count` versions of one component from the artefact store (as many
/// tenants installing one published rule), then a component it has not loaded yet.
pub(crate) fn tenants_child(args: &[String]) -> anyhow::Result<()> {
    let [count, dir, shared, other] = args else {
        bail!("usage: tenants-child <count> <artefact dir> <digest> <other digest>");
    };
    let count: usize = count.parse()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let store = tokio.block_on(async {
        let store = Store::in_memory().await?;
        store.seed_demo_if_empty(&DemoData::new(Utc::now())).await?;
        anyhow::Ok(store)
    })?;
    let data: Arc<dyn CapabilityData> = Arc::new(StoreData::new(store));
    let runtime = PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(PathBuf::from(dir)),
        ..RuntimeConfig::default()
    })?;
    let before = rss_kib();
    let started = Instant::now();
    for i in 0..count {
        runtime.load(manifest(&format!("markup-{i}"), "1.0.0", 2), shared, None)?;
    }
    let startup = started.elapsed();
    let after = rss_kib();
    let started = Instant::now();
    let fresh = runtime.load(manifest("volume", "1.0.0", 10), other, None)?;
    let load_new = started.elapsed();
    let q = quote(20, 60);
    let started = Instant::now();
    runtime.price(&fresh.id, &q, data.clone())?;
    let first_call = started.elapsed();
    let loaded = format!("2/markup-{}@1.0.0", count / 2);
    let latency = measure(|| {
        black_box(runtime.price(&loaded, &q, data.clone()).ok());
    });
    println!(
        "{}",
        json!({
            "rss_kib": after,
            "per_version_kib": (after - before) / count as f64,
            "startup_ms": startup.as_secs_f64() * 1e3,
            "load_new_us": load_new.as_secs_f64() * 1e6,
            "first_call_us": first_call.as_secs_f64() * 1e6,
            "loaded_p50_us": latency.p50,
            "loaded_p99_us": latency.p99,
        })
    );
    Ok(())
}
