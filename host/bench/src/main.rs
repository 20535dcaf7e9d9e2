//! `pchost-bench`: the benchmark suite of issue #6. It prints every figure, writes them to
//! `bench-results/results.json` and `results.md`, and plots the cost growth to
//! `bench-results/cost-growth.svg`. Run it in release (`scripts/bench`); a debug build
//! measures the bindgen glue, not the host.
//!
//! Every comparison is measured side by side in the same run, on the same quotes, in
//! alternating rounds ([`measure::alternating`], and the HTTP section's rounds). One module
//! per section: 1-2 `warm`, 3 `versus_native`, 4 `http`, 5 `tenants`, 6 `growth`, 7 `noisy`,
//! 8 `polyglot`.

mod fixtures;
mod growth;
mod heavy;
mod http;
mod measure;
mod native;
mod noisy;
mod plot;
mod polyglot;
mod tenants;
mod versus_native;
mod warm;

use fixtures::Bench;
use measure::Results;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("tenants-child") {
        return tenants::tenants_child(&args[2..]);
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
    if run("8") {
        polyglot::polyglot(&mut results, bench.data.clone())?;
    }
    if run("5") {
        tenants::tenants(&mut results)?;
    }
    drop(bench);
    if run("4") {
        http::http_under_load(&mut results)?;
    }
    if run("7") {
        noisy::noisy_neighbour(&mut results)?;
    }
    if only.is_empty() {
        results.write(&out)?;
    }
    Ok(())
}
