//! `pchost-bench`: the benchmark suite of issue #6. It prints every figure, writes them to
//! `bench-results/results.json` and `results.md`, and plots the cost growth to
//! `bench-results/cost-growth.svg`. Run it in release (`scripts/bench`); a debug build
//! measures the bindgen glue, not the host.
//!
//! Every comparison is measured side by side in the same run, on the same quotes.

mod heavy;
mod native;
mod noisy;
mod plot;

use anyhow::{Context, bail};
use chrono::{TimeZone, Utc};
use pchost_domain::{Association, FreezeState, PartnerKind, PeriodType};
use pchost_runtime::model::{CustomerContext, PartnerContext, Quote, QuoteLine};
use pchost_runtime::{CapabilityData, PluginManifest, PluginRuntime, RuntimeConfig, WarmPricing};
use pchost_server::capability_data::StoreData;
use pchost_store::demo::DemoData;
use pchost_store::store::Store;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Samples per latency figure.
const SAMPLES: usize = 2_000;

/// Rounds of 5 s per mode in the HTTP section.
const HTTP_ROUNDS: usize = 5;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("tenants-child") {
        return tenants_child(&args[2..]);
    }
    let out = PathBuf::from(std::env::var("PCHOST_BENCH_OUT").unwrap_or_else(|_| "bench-results".into()));
    std::fs::create_dir_all(&out)?;
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; the figures mean little (run scripts/bench)");
    }
    // `pchost-bench 1 3` runs sections 1-2 and 3 only, printing without writing results:
    // for profiling one section (`perf record -g pchost-bench 2`).
    let only: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let run = |section: &str| only.is_empty() || only.contains(&section);
    let bench = Bench::new()?;
    let mut results = Results::default();
    if run("1") || run("2") {
        bench.warm_and_isolated(&mut results)?;
    }
    if run("3") {
        bench.plugin_vs_native(&mut results)?;
        bench.without_fuel_metering(&mut results)?;
    }
    if run("6") {
        bench.cost_growth(&mut results)?;
    }
    if run("5") {
        tenants(&mut results)?;
    }
    drop(bench);
    if run("4") {
        http_under_load(&mut results)?;
    }
    if run("7") {
        noisy::noisy_neighbour(&mut results)?;
    }
    if only.is_empty() {
        results.write(&out)?;
    }
    Ok(())
}

/// Latency percentiles of a sample set, in microseconds.
#[derive(Clone, Copy, Debug)]
struct Latency {
    p50: f64,
    p99: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
        Latency {
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

/// Times `f` per call, after a warm-up.
fn measure(mut f: impl FnMut()) -> Latency {
    for _ in 0..SAMPLES / 10 {
        f();
    }
    let samples = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    Latency::of(samples)
}

/// Times `f` in batches of `batch` calls and reports per-call figures of the batches: for
/// calls too short to time one by one (the clock read would dominate).
fn measure_batched(batch: u32, mut f: impl FnMut()) -> Latency {
    for _ in 0..batch * 10 {
        f();
    }
    let samples = (0..SAMPLES / 4)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..batch {
                f();
            }
            started.elapsed() / batch
        })
        .collect();
    Latency::of(samples)
}

/// The figures, in the order they were measured.
#[derive(Default)]
struct Results {
    rows: Vec<(String, String, Value)>,
    growth: Vec<(usize, f64)>,
}

impl Results {
    fn latency(&mut self, section: &str, name: &str, latency: Latency) {
        println!(
            "{section:<22} {name:<58} p50 {:>10.3} µs   p99 {:>10.3} µs",
            latency.p50, latency.p99
        );
        self.rows.push((
            section.into(),
            name.into(),
            json!({ "p50_us": latency.p50, "p99_us": latency.p99 }),
        ));
    }

    fn figure(&mut self, section: &str, name: &str, value: f64, unit: &str) {
        println!("{section:<22} {name:<58} {value:>14.3} {unit}");
        self.rows
            .push((section.into(), name.into(), json!({ "value": value, "unit": unit })));
    }

    fn write(&self, out: &Path) -> anyhow::Result<()> {
        let machine = machine();
        let json = json!({
            "machine": machine,
            "measured_at": Utc::now(),
            "figures": self.rows.iter().map(|(s, n, v)| json!({ "section": s, "name": n, "figure": v })).collect::<Vec<_>>(),
            "cost_growth": self.growth.iter().map(|(l, us)| json!({ "lines": l, "p50_us": us })).collect::<Vec<_>>(),
        });
        std::fs::write(out.join("results.json"), serde_json::to_string_pretty(&json)?)?;
        let mut md = format!(
            "Measured {} on {machine}.\n\n| section | figure | value |\n|---|---|---|\n",
            Utc::now().format("%Y-%m-%d %H:%M UTC")
        );
        for (section, name, value) in &self.rows {
            let shown = match (value.get("p50_us"), value.get("value")) {
                (Some(p50), _) => format!(
                    "p50 {:.3} µs, p99 {:.3} µs",
                    p50.as_f64().unwrap_or(0.0),
                    value["p99_us"].as_f64().unwrap_or(0.0)
                ),
                (None, Some(v)) => format!(
                    "{:.3} {}",
                    v.as_f64().unwrap_or(0.0),
                    value["unit"].as_str().unwrap_or("")
                ),
                _ => String::new(),
            };
            md.push_str(&format!("| {section} | {name} | {shown} |\n"));
        }
        std::fs::write(out.join("results.md"), md)?;
        std::fs::write(out.join("cost-growth.svg"), plot::cost_growth(&self.growth))?;
        println!(
            "\nwritten: {0}/results.json, {0}/results.md, {0}/cost-growth.svg",
            out.display()
        );
        Ok(())
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cpu}, {cores} cores")
}

/// The runtime, the example and bench plugins, and the demo data behind the capabilities.
struct Bench {
    runtime: PluginRuntime,
    data: Arc<dyn CapabilityData>,
    _tokio: tokio::runtime::Runtime,
}

const VOLUME: &str = "10/volume-discount@0.1.0";
const MARKUP: &str = "2/reseller-markup@0.1.0";
const HEAVY: &str = "2/heavy-pricing@0.1.0";
const ECHO_V1: &str = "2/bench-echo-v1@0.1.0";
const ECHO_V2: &str = "2/bench-echo-v2@0.1.0";

impl Bench {
    fn new() -> anyhow::Result<Bench> {
        let tokio = tokio::runtime::Runtime::new()?;
        let store = tokio.block_on(async {
            let store = Store::in_memory().await?;
            store.seed_demo_if_empty(&DemoData::new(Utc::now())).await?;
            anyhow::Ok(store)
        })?;
        let data: Arc<dyn CapabilityData> = Arc::new(StoreData::new(store));
        let runtime = PluginRuntime::new(RuntimeConfig::default())?;
        for (name, owner, path) in [
            ("volume-discount", 10, pchost_test_plugins::VOLUME_DISCOUNT),
            ("reseller-markup", 2, pchost_test_plugins::RESELLER_MARKUP),
            ("heavy-pricing", 2, pchost_test_plugins::HEAVY_PRICING),
        ] {
            runtime.install(manifest(name, "0.1.0", owner), &std::fs::read(path)?)?;
        }
        // The same do-nothing rule against each contract version: the boundary cost per line.
        for (name, world_version, path) in [
            ("bench-echo-v1", "0.1.0", pchost_test_plugins::BENCH_ECHO_V1),
            ("bench-echo-v2", "0.2.0", pchost_test_plugins::BENCH_ECHO_V2),
        ] {
            runtime.install(manifest_at(name, "0.1.0", 2, world_version), &std::fs::read(path)?)?;
        }
        Ok(Bench {
            runtime,
            data,
            _tokio: tokio,
        })
    }

    fn warm_and_isolated(&self, results: &mut Results) -> anyhow::Result<()> {
        results.latency(
            "1 warm call",
            "typed no-op call (bench-noop `func()`), batched",
            self.warm_noop()?,
        );
        let mut warm = self.runtime.warm_pricing(VOLUME, as_of(), self.data.clone())?;
        let empty = quote(0, 1);
        results.latency(
            "1 warm call",
            "volume-discount, empty quote, batched",
            measure_batched(100, || {
                black_box(warm.price(&empty).ok());
            }),
        );
        for lines in [1, 20, 200] {
            let q = quote(lines, 60);
            results.latency(
                "1 warm call",
                &format!("volume-discount, {lines} lines (all repriced)"),
                measure(|| {
                    black_box(warm.price(&q).ok());
                }),
            );
        }
        // Boundary cost per line: a rule that reprices every line at its own price (no
        // arithmetic), against each contract version, from the slope between 20 and 200 lines:
        // lowering the line, the guest's bindings, the answer lifted back and validated.
        let small = quote(20, 60);
        let large = quote(200, 60);
        for (version, id) in [("0.1.0 (list of records)", ECHO_V1), ("0.2.0 (columns)", ECHO_V2)] {
            let mut echo = self.runtime.warm_pricing(id, as_of(), self.data.clone())?;
            if echo.price(&large)?.lines.len() != 200 {
                bail!("{id} must reprice every line");
            }
            results.figure(
                "1 warm call",
                &format!("boundary cost per line, extension@{version}"),
                ns_per_line(&mut echo, &small, &large),
                "ns",
            );
        }
        // The example rule's own cost per line on top: lines it leaves alone, and lines it
        // reprices (a decimal product and a rounding each).
        for (what, quantity) in [("left alone", 1), ("repriced", 60)] {
            results.figure(
                "1 warm call",
                &format!("volume-discount cost per line, {what} (slope 20→200 lines)"),
                ns_per_line(&mut warm, &quote(20, quantity), &quote(200, quantity)),
                "ns",
            );
        }
        results.latency(
            "2 isolated invocation",
            "fresh store + instance, no-op rule (empty quote)",
            measure(|| {
                black_box(self.runtime.price(VOLUME, &empty, self.data.clone()).ok());
            }),
        );
        for lines in [1, 20, 200] {
            let q = quote(lines, 60);
            results.latency(
                "2 isolated invocation",
                &format!("fresh store + instance, volume-discount, {lines} lines"),
                measure(|| {
                    black_box(self.runtime.price(VOLUME, &q, self.data.clone()).ok());
                }),
            );
        }
        Ok(())
    }

    /// A typed call of `bench-noop`'s `func()` export on a warm instance, on the runtime's own
    /// engine (pooling allocator, epoch deadline, fuel metering): the host's fixed cost of
    /// entering a plugin, before any contract.
    fn warm_noop(&self) -> anyhow::Result<Latency> {
        struct Host {
            wasi: WasiCtx,
            table: ResourceTable,
        }
        impl WasiView for Host {
            fn ctx(&mut self) -> WasiCtxView<'_> {
                WasiCtxView {
                    ctx: &mut self.wasi,
                    table: &mut self.table,
                }
            }
        }
        let engine = self.runtime.engine();
        let component = Component::new(engine, std::fs::read(pchost_test_plugins::BENCH_NOOP)?)?;
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let mut store = wasmtime::Store::new(
            engine,
            Host {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        store.set_epoch_deadline(u64::MAX / 2);
        // The runtime meters fuel by default: give the instance all of it, as warm rules get.
        store.set_fuel(u64::MAX / 2)?;
        let instance = linker.instantiate(&mut store, &component)?;
        let noop = instance.get_typed_func::<(), ()>(&mut store, "noop")?;
        Ok(measure_batched(1000, || {
            noop.call(&mut store, ()).expect("the no-op call");
        }))
    }

    fn plugin_vs_native(&self, results: &mut Results) -> anyhow::Result<()> {
        type Native = fn(&Quote) -> pchost_runtime::model::PriceAdjustments;
        let cases: [(&str, &str, Native); 3] = [
            ("volume-discount", VOLUME, native::volume_discount),
            ("reseller-markup", MARKUP, native::reseller_markup),
            ("heavy-pricing (compute-heavy)", HEAVY, native::heavy),
        ];
        for (name, id, native_rule) in cases {
            let mut warm = self.runtime.warm_pricing(id, as_of(), self.data.clone())?;
            for lines in [20, 200] {
                let q = quote(lines, 60);
                // The same answers, or the comparison means nothing.
                let plugin_prices: Vec<Decimal> = warm.price(&q)?.lines.iter().map(|l| l.unit_price).collect();
                let native_prices: Vec<Decimal> = native_rule(&q).lines.iter().map(|l| l.unit_price).collect();
                if plugin_prices != native_prices {
                    bail!("{name}: the native twin answers differently from the plugin");
                }
                let n = measure(|| {
                    black_box(native_rule(black_box(&q)));
                });
                let w = measure(|| {
                    black_box(warm.price(&q).ok());
                });
                let i = measure(|| {
                    black_box(self.runtime.price(id, &q, self.data.clone()).ok());
                });
                let section = "3 plugin vs native";
                results.latency(section, &format!("{name}, {lines} lines, native"), n);
                results.latency(section, &format!("{name}, {lines} lines, plugin warm"), w);
                results.latency(section, &format!("{name}, {lines} lines, plugin isolated"), i);
                results.figure(
                    section,
                    &format!("{name}, {lines} lines, warm plugin / native (p50)"),
                    w.p50 / n.p50,
                    "×",
                );
                results.figure(
                    section,
                    &format!("{name}, {lines} lines, isolated plugin / native (p50)"),
                    i.p50 / n.p50,
                    "×",
                );
            }
        }
        Ok(())
    }

    /// The compute-heavy rule once more, on a runtime that does not meter fuel
    /// (`serve --no-fuel-metering`): what fuel accounting costs a compute-bound rule.
    fn without_fuel_metering(&self, results: &mut Results) -> anyhow::Result<()> {
        let runtime = PluginRuntime::new(RuntimeConfig {
            meter_fuel: false,
            ..RuntimeConfig::default()
        })?;
        runtime.install(
            manifest("heavy-pricing", "0.1.0", 2),
            &std::fs::read(pchost_test_plugins::HEAVY_PRICING)?,
        )?;
        let mut warm = runtime.warm_pricing(HEAVY, as_of(), self.data.clone())?;
        let section = "3 plugin vs native";
        for lines in [20, 200] {
            let q = quote(lines, 60);
            let n = measure(|| {
                black_box(native::heavy(black_box(&q)));
            });
            let w = measure(|| {
                black_box(warm.price(&q).ok());
            });
            let i = measure(|| {
                black_box(runtime.price(HEAVY, &q, self.data.clone()).ok());
            });
            let name = format!("heavy-pricing (compute-heavy), {lines} lines, fuel not metered");
            results.latency(section, &format!("{name}, plugin warm"), w);
            results.figure(
                section,
                &format!("{name}, warm plugin / native (p50)"),
                w.p50 / n.p50,
                "×",
            );
            results.figure(
                section,
                &format!("{name}, isolated plugin / native (p50)"),
                i.p50 / n.p50,
                "×",
            );
        }
        Ok(())
    }

    fn cost_growth(&self, results: &mut Results) -> anyhow::Result<()> {
        let mut points = Vec::new();
        for lines in [1, 10, 50, 100, 200, 400, 600, 800, 1000] {
            let q = quote(lines, 60);
            let latency = measure(|| {
                black_box(self.runtime.price(VOLUME, &q, self.data.clone()).ok());
            });
            results.latency("6 cost growth", &format!("isolated invocation, {lines} lines"), latency);
            points.push((lines, latency.p50));
        }
        // Least squares: time = a + b × lines; R² says how straight the line is.
        let n = points.len() as f64;
        let (sx, sy) = points
            .iter()
            .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + *x as f64, sy + y));
        let (mx, my) = (sx / n, sy / n);
        let sxy: f64 = points.iter().map(|(x, y)| (*x as f64 - mx) * (y - my)).sum();
        let sxx: f64 = points.iter().map(|(x, _)| (*x as f64 - mx).powi(2)).sum();
        let slope = sxy / sxx;
        let intercept = my - slope * mx;
        let ss_res: f64 = points
            .iter()
            .map(|(x, y)| (y - (intercept + slope * *x as f64)).powi(2))
            .sum();
        let ss_tot: f64 = points.iter().map(|(_, y)| (y - my).powi(2)).sum();
        results.figure("6 cost growth", "fixed cost (intercept)", intercept, "µs");
        results.figure("6 cost growth", "cost per line (slope)", slope * 1000.0, "ns");
        results.figure(
            "6 cost growth",
            "linearity (R² of the straight-line fit)",
            1.0 - ss_res / ss_tot,
            "",
        );
        results.growth = points;
        Ok(())
    }
}

/// The cost per line of a warm rule, in ns: the slope of the p50 between two quotes.
fn ns_per_line(rule: &mut WarmPricing, small: &Quote, large: &Quote) -> f64 {
    let a = measure(|| {
        black_box(rule.price(small).ok());
    });
    let b = measure(|| {
        black_box(rule.price(large).ok());
    });
    (b.p50 - a.p50) * 1000.0 / (large.lines.len() - small.lines.len()) as f64
}

/// A manifest of one of the example pricing rules, which are built against extension@0.2.0.
fn manifest(name: &str, version: &str, owner: i64) -> PluginManifest {
    manifest_at(name, version, owner, "0.2.0")
}

/// A pricing-rule manifest against a version of the extension package.
fn manifest_at(name: &str, version: &str, owner: i64, world_version: &str) -> PluginManifest {
    PluginManifest::from_toml(&format!(
        "name = \"{name}\"\nversion = \"{version}\"\nworld = \"pricing-rule\"\nworld-version = \"{world_version}\"\nowner = {owner}\n"
    ))
    .expect("a valid manifest")
}

fn as_of() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("a date")
}

/// A quote of `lines` lines of seller 10's product 2001 (list 88.50), `quantity` units each,
/// for a standard customer of reseller 2.
fn quote(lines: usize, quantity: u32) -> Quote {
    let products = DemoData::new(as_of())
        .products
        .into_iter()
        .filter(|p| p.id == 2001)
        .collect();
    let price = Decimal::new(88_500_000, 6);
    Quote {
        currency: pchost_domain::Currency::CNY,
        as_of: as_of(),
        partner: Some(PartnerContext {
            id: 2,
            kind: PartnerKind::Reseller,
            distributor: Some(1),
        }),
        customer: Some(CustomerContext {
            id: 102,
            association: Association::Resale,
            freeze: FreezeState::NotFrozen,
            level: 1,
        }),
        products,
        lines: (0..lines)
            .map(|i| QuoteLine {
                product: 0,
                period: PeriodType::Month,
                period_count: 1 + (i % 12) as u32,
                quantity,
                list_unit_price: price,
                unit_price: price,
            })
            .collect(),
    }
}

/// Section 5: installed versions in a child process each, so that resident memory is its own.
fn tenants(results: &mut Results) -> anyhow::Result<()> {
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
    let cwasm = std::fs::metadata(dir.join(format!("{}.cwasm", shared.digest)))?.len();
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

fn rss_kib() -> f64 {
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
fn tenants_child(args: &[String]) -> anyhow::Result<()> {
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
        runtime.load(manifest(&format!("markup-{i}"), "1.0.0", 2), shared)?;
    }
    let startup = started.elapsed();
    let after = rss_kib();
    let started = Instant::now();
    let fresh = runtime.load(manifest("volume", "1.0.0", 10), other)?;
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

/// Section 4: the quote endpoint under load from `wrk`, with the three-rule chain (platform
/// surcharge, the seller's volume discount, the reseller's markup) as plugins (a fresh instance
/// per invocation, every invocation audited) and as native Rust, in alternating rounds.
fn http_under_load(results: &mut Results) -> anyhow::Result<()> {
    let Ok(wrk) = which("wrk") else {
        println!("4 HTTP under load: skipped, `wrk` is not installed (scripts/bench installs it)");
        return Ok(());
    };
    let pchost = std::env::current_exe()?.with_file_name("pchost");
    if !pchost.exists() {
        bail!("{} is missing: build the workspace in release first", pchost.display());
    }
    let script = std::env::temp_dir().join(format!("pchost-bench-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        r#"wrk.method = "POST"
wrk.body = '{"customer_id":102,"currency":"CNY","lines":[{"product_id":2001,"period":"month","period_count":1,"quantity":60}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer pch_demo_customer_102"
"#,
    )?;
    // Both servers up at once, driven in turns: background load on this shared machine then
    // falls on both modes alike, and the ratio is taken per round.
    // No rate limit: wrk drives one key as fast as the server answers.
    let servers = [
        HttpServer::start(&pchost, false, 1_000_000, &std::env::temp_dir())?,
        HttpServer::start(&pchost, true, 1_000_000, &std::env::temp_dir())?,
    ];
    let mut rounds: [Vec<(f64, f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..HTTP_ROUNDS {
        for (server, figures) in servers.iter().zip(rounds.iter_mut()) {
            let output = std::process::Command::new(&wrk)
                .args(["-t1", "-c8", "-d5s", "--latency", "-s"])
                .arg(&script)
                .arg(format!("http://{}/v1/quotes", server.address))
                .output()?;
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            if text.contains("Non-2xx") {
                bail!("some requests failed:\n{text}");
            }
            let rps = wrk_figure(&text, "Requests/sec:").context("wrk printed no throughput")?;
            let p50 = wrk_latency(&text, "50%").context("wrk printed no p50")?;
            let p99 = wrk_latency(&text, "99%").context("wrk printed no p99")?;
            figures.push((rps, p50, p99));
        }
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for (mode, figures) in ["plugins", "native rules"].iter().zip(&rounds) {
        results.figure(
            "4 HTTP under load",
            &format!("POST /v1/quotes, 3-rule chain as {mode}: throughput (median of {HTTP_ROUNDS} rounds)"),
            median(figures.iter().map(|f| f.0).collect()),
            "req/s",
        );
        results.latency(
            "4 HTTP under load",
            &format!("POST /v1/quotes, 3-rule chain as {mode} (medians)"),
            Latency {
                p50: median(figures.iter().map(|f| f.1).collect()),
                p99: median(figures.iter().map(|f| f.2).collect()),
            },
        );
    }
    let ratios: Vec<f64> = rounds[0]
        .iter()
        .zip(&rounds[1])
        .map(|(p, n)| p.0 / n.0 * 100.0)
        .collect();
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    results.figure(
        "4 HTTP under load",
        "throughput, plugins / native rules, lowest round",
        low,
        "%",
    );
    results.figure(
        "4 HTTP under load",
        "throughput, plugins / native rules, highest round",
        high,
        "%",
    );
    results.figure(
        "4 HTTP under load",
        "throughput, plugins / native rules (median of the rounds)",
        median(ratios),
        "%",
    );
    std::fs::remove_file(&script)?;
    Ok(())
}

fn which(program: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .with_context(|| format!("{program} not found"))
}

fn wrk_figure(text: &str, label: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.trim_start().starts_with(label))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A latency line of `wrk --latency` (`99%   12.34ms`), in microseconds.
fn wrk_latency(text: &str, label: &str) -> Option<f64> {
    let after = text.split("Latency Distribution").nth(1)?;
    let value = after
        .lines()
        .find(|l| l.trim_start().starts_with(label))?
        .split_whitespace()
        .nth(1)?;
    let (number, factor) = if let Some(v) = value.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// A `pchost serve --demo` on a free port with the bundled rules and a platform surcharge
/// bound platform-wide; killed when dropped.
struct HttpServer {
    child: std::process::Child,
    address: String,
    dir: PathBuf,
    program: PathBuf,
}

impl HttpServer {
    /// `rate_limit`: requests per second (and burst) each API key may make; `base`: where its
    /// database and artefacts go.
    fn start(pchost: &Path, native: bool, rate_limit: u32, base: &Path) -> anyhow::Result<HttpServer> {
        use std::io::BufRead;
        let dir = base.join(format!("pchost-bench-http-{}-{native}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let db = dir.join("pchost.db");
        let root = pchost_test_plugins::repo_root();
        let mut command = std::process::Command::new(pchost);
        command
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .arg("--rate-limit-per-second")
            .arg(rate_limit.to_string())
            .arg("--rate-limit-burst")
            .arg(rate_limit.to_string())
            .arg("--db")
            .arg(&db)
            .arg("--bundled-plugins")
            .arg(root.join("plugins"))
            .arg("--wasm-dir")
            .arg(pchost_test_plugins::WASM_DIR)
            .env("RUST_LOG", "warn,pchost_server::cli=info")
            .env("NO_COLOR", "1")
            .stderr(std::process::Stdio::piped());
        if native {
            command.arg("--native-rules-for-benchmarks");
        }
        // From here on the server is killed on every way out, failures included.
        let mut server = HttpServer {
            child: command.spawn()?,
            address: String::new(),
            dir: dir.clone(),
            program: pchost.to_owned(),
        };
        let stderr = server.child.stderr.take().context("stderr")?;
        let mut lines = std::io::BufReader::new(stderr).lines();
        server.address = loop {
            let line = lines.next().context("the server stopped before serving")??;
            if line.contains("serving")
                && let Some(rest) = line.split("address=").nth(1)
            {
                break rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        // The platform-wide step: the markup component as an 8% platform surcharge.
        let manifest = dir.join("surcharge.toml");
        std::fs::write(
            &manifest,
            "name = \"platform-surcharge\"\nversion = \"1.0.0\"\nworld = \"pricing-rule\"\nworld-version = \"0.2.0\"\nowner = 1\n",
        )?;
        let manifest = manifest.display().to_string();
        server.pchost(&[
            "plugin",
            "install",
            "--manifest",
            &manifest,
            "--component",
            pchost_test_plugins::RESELLER_MARKUP,
        ])?;
        server.pchost(&[
            "binding",
            "create",
            "--world",
            "pricing-rule",
            "--scope",
            "platform",
            "--owner",
            "1",
            "--plugin",
            "platform-surcharge",
            "--version",
            "1.0.0",
        ])?;
        // The server picks both up within its 2 s sync.
        std::thread::sleep(Duration::from_secs(3));
        Ok(server)
    }

    /// Runs a `pchost` command on this server's database (a running server picks up what it
    /// installs or binds within its 2 s sync).
    fn pchost(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = std::process::Command::new(&self.program)
            .args(args)
            .arg("--db")
            .arg(self.dir.join("pchost.db"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("pchost {args:?} failed");
        }
        Ok(())
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
