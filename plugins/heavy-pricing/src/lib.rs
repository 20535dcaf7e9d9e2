//! A compute-heavy pricing rule for the benchmarks (issue #6): a 32-tier table walk, loyalty
//! compounding, a volume rebate and the rule-19 floor, in exact decimals, several hundred
//! operations per line. The host runs the same arithmetic natively (`rule.rs` is shared) to
//! measure what running it as a plugin costs.

use pchost_plugin_sdk::pricing_rule_v2::{Guest, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

mod rule;

struct HeavyPricing;

impl Guest for HeavyPricing {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mut answer = PriceAdjustments::with_capacity(quote.line_count());
        let reason = answer.reason("tiered, loyalty and volume pricing");
        for line in quote.lines() {
            let price = rule::heavy_unit_price(line.list_unit_price, line.unit_price, line.quantity, line.period_count);
            answer.reprice(line.index, price, reason);
        }
        Ok(answer)
    }
}

pchost_plugin_sdk::pricing_rule_v2::export_pricing_rule!(HeavyPricing);
