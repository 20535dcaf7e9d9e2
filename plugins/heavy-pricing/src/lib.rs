//! A compute-heavy pricing rule for the benchmarks (issue #6): a 32-tier table walk, loyalty
//! compounding, a volume rebate and the rule-19 floor, in exact decimals, several hundred
//! operations per line. The host runs the same arithmetic natively (`rule.rs` is shared) to
//! measure what running it as a plugin costs.

use pchost_plugin_sdk::pricing_rule::{Guest, LinePrice, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

mod rule;

struct HeavyPricing;

impl Guest for HeavyPricing {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let lines = quote
            .lines
            .iter()
            .enumerate()
            .map(|(index, line)| LinePrice {
                line: index as u32,
                unit_price: rule::heavy_unit_price(
                    line.list_unit_price.to_decimal(),
                    line.unit_price.to_decimal(),
                    line.quantity,
                    line.period_count,
                )
                .into(),
                reason: 0,
            })
            .collect();
        Ok(PriceAdjustments {
            lines,
            reasons: vec!["tiered, loyalty and volume pricing".into()],
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(HeavyPricing);
