//! A marketplace seller's volume discount: the more units of one of its products on a line,
//! the lower the unit price. The host sends a seller's rule only the lines of that seller's
//! products, so every line here is the seller's own.

use pchost_plugin_sdk::pricing_rule_v2::{Guest, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

/// Tiers from the largest: (minimum quantity, discount in percent, reason).
const TIERS: [(u32, i64, &str); 3] = [
    (100, 15, "volume tier 100+ units: 15% off"),
    (50, 10, "volume tier 50+ units: 10% off"),
    (10, 5, "volume tier 10+ units: 5% off"),
];

/// Unit prices keep the contract's 6 decimal places.
const PRICE_PLACES: u32 = 6;

struct VolumeDiscount;

impl Guest for VolumeDiscount {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mut answer = PriceAdjustments::with_capacity(quote.line_count());
        // The reason of each tier, written once and shared by all its lines.
        let mut tier_reason: [Option<u32>; TIERS.len()] = [None; TIERS.len()];
        for line in quote.lines() {
            let Some(tier) = TIERS.iter().position(|(min, _, _)| line.quantity >= *min) else {
                continue;
            };
            let (_, percent, text) = TIERS[tier];
            let factor = Decimal::new(100 - percent, 2);
            let unit_price =
                (line.unit_price * factor).round_dp_with_strategy(PRICE_PLACES, RoundingStrategy::MidpointAwayFromZero);
            let reason = *tier_reason[tier].get_or_insert_with(|| answer.reason(text));
            answer.reprice(line.index, unit_price, reason);
        }
        Ok(answer)
    }
}

pchost_plugin_sdk::pricing_rule_v2::export_pricing_rule!(VolumeDiscount);
