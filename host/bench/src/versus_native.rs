//! Section 3: the bundled pricing rules and a compute-heavy one as plugins (warm and isolated)
//! against their native Rust twins, on the same quotes, with the same answers. Native and
//! plugin are measured in alternating rounds and every ratio is taken round by round.

use crate::fixtures::{Bench, HEAVY, MARKUP, VOLUME, as_of, manifest_at, quote};
use crate::measure::{Results, alternating};
use crate::native;
use anyhow::bail;
use pchost_runtime::model::Quote;
use pchost_runtime::{PluginRuntime, RuntimeConfig};
use rust_decimal::Decimal;
use std::hint::black_box;

/// Rounds of each comparison: native, warm plugin and isolated plugin in turns.
const ROUNDS: usize = 5;

const SECTION: &str = "3 plugin vs native";

impl Bench {
    pub(crate) fn plugin_vs_native(&self, results: &mut Results) -> anyhow::Result<()> {
        type Native = fn(&Quote) -> pchost_runtime::model::PriceAdjustments;
        let cases: [(&str, &str, Native); 3] = [
            ("volume-discount", VOLUME, native::volume_discount),
            ("reseller-markup", MARKUP, native::reseller_markup),
            ("heavy-pricing (compute-heavy)", HEAVY, native::heavy),
        ];
        for (name, id, native_rule) in cases {
            for lines in [20, 200] {
                let q = quote(lines, 60);
                compare(
                    results,
                    &self.runtime,
                    self,
                    id,
                    native_rule,
                    &q,
                    &format!("{name}, {lines} lines"),
                )?;
            }
        }
        Ok(())
    }

    /// The compute-heavy rule once more, on a runtime that does not meter fuel
    /// (`serve --no-fuel-metering`): what fuel accounting costs a compute-bound rule.
    pub(crate) fn without_fuel_metering(&self, results: &mut Results) -> anyhow::Result<()> {
        let runtime = PluginRuntime::new(RuntimeConfig {
            meter_fuel: false,
            ..RuntimeConfig::default()
        })?;
        runtime.install(
            manifest_at("heavy-pricing", "0.1.0", 2, "0.2.0"),
            &std::fs::read(pchost_test_plugins::HEAVY_PRICING)?,
        )?;
        for lines in [20, 200] {
            let q = quote(lines, 60);
            let name = format!("heavy-pricing (compute-heavy), {lines} lines, fuel not metered");
            compare(results, &runtime, self, HEAVY, native::heavy, &q, &name)?;
        }
        Ok(())
    }
}

/// Measures `id` warm and isolated on `runtime` against `native_rule` over `q`, in alternating
/// rounds, after checking that both answer alike (or the comparison means nothing).
fn compare(
    results: &mut Results,
    runtime: &PluginRuntime,
    bench: &Bench,
    id: &str,
    native_rule: fn(&Quote) -> pchost_runtime::model::PriceAdjustments,
    q: &Quote,
    name: &str,
) -> anyhow::Result<()> {
    let mut warm = runtime.warm_pricing(id, as_of(), bench.data.clone())?;
    let plugin_prices: Vec<Decimal> = warm.price(q)?.lines.iter().map(|l| l.unit_price).collect();
    let native_prices: Vec<Decimal> = native_rule(q).lines.iter().map(|l| l.unit_price).collect();
    if plugin_prices != native_prices {
        bail!("{name}: the native twin answers differently from the plugin");
    }
    let [native, warm, isolated] = alternating(
        ROUNDS,
        [
            &mut || {
                black_box(native_rule(black_box(q)));
            },
            &mut || {
                black_box(warm.price(q).ok());
            },
            &mut || {
                black_box(runtime.price(id, q, bench.data.clone()).ok());
            },
        ],
    );
    results.latency(SECTION, &format!("{name}, native"), native.all);
    results.latency(SECTION, &format!("{name}, plugin warm"), warm.all);
    results.latency(SECTION, &format!("{name}, plugin isolated"), isolated.all);
    results.ratio(
        SECTION,
        &format!("{name}, warm plugin / native (p50)"),
        &warm.ratios_to(&native),
    );
    results.ratio(
        SECTION,
        &format!("{name}, isolated plugin / native (p50)"),
        &isolated.ratios_to(&native),
    );
    Ok(())
}
