//! Section 8: one rule, the volume discount, written in Rust, JavaScript (componentize-js) and
//! Python (componentize-py), side by side: install (compile) time, isolated invocation p50
//! and p99 in alternating rounds, the same with 8 MiB of each pool slot kept resident (`serve
//! --slot-resident-kib`), a warm call, and the resident memory a live instance holds.
//!
//! The JavaScript and Python components come from `scripts/build-polyglot`, which
//! `scripts/bench` runs; it points `PCHOST_POLYGLOT_DIR` at them.

use crate::fixtures::{as_of, manifest, quote};
use crate::measure::{Results, alternating, measure};
use pchost_runtime::{CapabilityData, PluginManifest, PluginRuntime, RuntimeConfig, RuntimeLimits};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const SECTION: &str = "8 polyglot";
/// Live instances held to measure the resident memory of one.
const LIVE_INSTANCES: usize = 16;
/// The slot memory kept resident in the operator's trade measured here.
const RESIDENT_SLOT_BYTES: usize = 8 << 20;

/// One contender: its language, manifest and component.
struct Rule {
    lang: &'static str,
    manifest: PluginManifest,
    bytes: Vec<u8>,
}

fn rules(dir: &std::path::Path) -> anyhow::Result<Vec<Rule>> {
    let root = pchost_test_plugins::repo_root();
    let bundled = |path: &str| -> anyhow::Result<PluginManifest> {
        let text = std::fs::read_to_string(root.join("plugins").join(path).join("plugin.toml"))?;
        Ok(PluginManifest::from_toml(&text)?)
    };
    Ok(vec![
        Rule {
            lang: "Rust",
            manifest: manifest("volume-discount", "0.1.0", 10),
            bytes: std::fs::read(pchost_test_plugins::VOLUME_DISCOUNT)?,
        },
        Rule {
            lang: "JavaScript",
            manifest: bundled("js/volume-discount")?,
            bytes: std::fs::read(dir.join("volume-discount-js.wasm"))?,
        },
        Rule {
            lang: "Python",
            manifest: bundled("python/volume-discount")?,
            bytes: std::fs::read(dir.join("volume-discount-py.wasm"))?,
        },
    ])
}

pub(crate) fn polyglot(results: &mut Results, data: Arc<dyn CapabilityData>) -> anyhow::Result<()> {
    let Some(dir) = std::env::var_os("PCHOST_POLYGLOT_DIR").map(PathBuf::from) else {
        eprintln!("section 8 skipped: PCHOST_POLYGLOT_DIR is not set (scripts/bench builds the JS and Python rules)");
        return Ok(());
    };
    let rules = rules(&dir)?;
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let mut ids = Vec::new();
    for rule in &rules {
        results.figure(
            SECTION,
            &format!("{}: component size", rule.lang),
            rule.bytes.len() as f64 / 1e6,
            "MB",
        );
        // Each on a runtime of its own, so that nothing is cached: validation, the pre-check,
        // compiling (in this process, on every core) and pre-linking.
        let fresh = PluginRuntime::new(RuntimeConfig::default())?;
        let started = Instant::now();
        fresh.install(rule.manifest.clone(), &rule.bytes)?;
        results.figure(
            SECTION,
            &format!("{}: install (compile, every core)", rule.lang),
            started.elapsed().as_secs_f64(),
            "s",
        );
        ids.push(runtime.install(rule.manifest.clone(), &rule.bytes)?.id.clone());
    }
    // Isolated invocations, as the API makes them: a fresh instance each, 20 lines repriced.
    let q = quote(20, 60);
    let (rust, js, python) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let [r, j, p] = alternating(
        10,
        [
            &mut || {
                black_box(runtime.price(&rust, &q, data.clone()).ok());
            },
            &mut || {
                black_box(runtime.price(&js, &q, data.clone()).ok());
            },
            &mut || {
                black_box(runtime.price(&python, &q, data.clone()).ok());
            },
        ],
    );
    let [rust_ratio_js, rust_ratio_py] = [j.ratios_to(&r), p.ratios_to(&r)];
    for (rule, measured) in rules.iter().zip([&r, &j, &p]) {
        results.latency(
            SECTION,
            &format!("{}: isolated invocation, 20 lines", rule.lang),
            measured.all,
        );
    }
    results.ratio(SECTION, "JavaScript / Rust, isolated invocation p50", &rust_ratio_js);
    results.ratio(SECTION, "Python / Rust, isolated invocation p50", &rust_ratio_py);
    // The operator's trade (`serve --slot-resident-kib`): 8 MiB of each slot kept resident
    // instead of 256 KiB, side by side with the default.
    let resident = PluginRuntime::new(RuntimeConfig {
        limits: RuntimeLimits {
            slot_resident_bytes: RESIDENT_SLOT_BYTES,
            ..RuntimeLimits::default()
        },
        ..RuntimeConfig::default()
    })?;
    for rule in &rules[1..] {
        resident.install(rule.manifest.clone(), &rule.bytes)?;
    }
    let [jd, jr, pd, pr] = alternating(
        10,
        [
            &mut || {
                black_box(runtime.price(&js, &q, data.clone()).ok());
            },
            &mut || {
                black_box(resident.price(&js, &q, data.clone()).ok());
            },
            &mut || {
                black_box(runtime.price(&python, &q, data.clone()).ok());
            },
            &mut || {
                black_box(resident.price(&python, &q, data.clone()).ok());
            },
        ],
    );
    for (lang, default, kept) in [("JavaScript", &jd, &jr), ("Python", &pd, &pr)] {
        results.latency(
            SECTION,
            &format!("{lang}: isolated invocation, 8 MiB of each slot resident"),
            kept.all,
        );
        results.ratio(
            SECTION,
            &format!("{lang}: 8 MiB resident / 256 KiB (default), isolated p50"),
            &kept.ratios_to(default),
        );
    }
    // The same calls on one live instance (not what the API does: see `warm_pricing`): what
    // the rule itself costs, without a fresh instance's start.
    for (rule, id) in rules.iter().zip(&ids) {
        let mut warm = runtime.warm_pricing(id, as_of(), data.clone())?;
        results.latency(
            SECTION,
            &format!("{}: warm call on one instance, 20 lines", rule.lang),
            measure(|| {
                black_box(warm.price(&q).ok());
            }),
        );
    }
    // Resident memory of a live instance: instances held at once, each having priced a quote.
    for (rule, id) in rules.iter().zip(&ids) {
        let before = crate::tenants::rss_kib();
        let mut live = Vec::with_capacity(LIVE_INSTANCES);
        for _ in 0..LIVE_INSTANCES {
            let mut warm = runtime.warm_pricing(id, as_of(), data.clone())?;
            warm.price(&q)?;
            live.push(warm);
        }
        let after = crate::tenants::rss_kib();
        drop(live);
        results.figure(
            SECTION,
            &format!("{}: resident memory per live instance", rule.lang),
            (after - before) / LIVE_INSTANCES as f64 / 1024.0,
            "MiB",
        );
    }
    Ok(())
}
