//! Sections 1 and 2: a warm call (the host's fixed cost of entering a plugin, the boundary
//! cost per line of each contract version) and an isolated invocation (a fresh store and
//! instance per call, as the API runs rules).

use crate::fixtures::{Bench, ECHO_V1, ECHO_V2, VOLUME, as_of, quote};
use crate::measure::{Latency, Results, measure, measure_batched};
use anyhow::bail;
use pchost_runtime::WarmPricing;
use pchost_runtime::model::Quote;
use std::hint::black_box;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

impl Bench {
    pub(crate) fn warm_and_isolated(&self, results: &mut Results) -> anyhow::Result<()> {
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
