//! A marketplace seller's volume discount: the more units of one of its products on a line,
//! the lower the unit price. The host sends a seller's rule only the lines of that seller's
//! products, so every line here is the seller's own.

use pchost_plugin_sdk::pricing_rule::{Guest, LinePrice, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

/// Tiers from the largest: (minimum quantity, discount in percent).
const TIERS: [(u32, i64); 3] = [(100, 15), (50, 10), (10, 5)];

/// Unit prices keep the contract's 6 decimal places.
const PRICE_PLACES: u32 = 6;

struct VolumeDiscount;

impl Guest for VolumeDiscount {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mut reasons = Vec::new();
        // The reason of each tier, written once and shared by all its lines.
        let mut tier_reason: [Option<u32>; TIERS.len()] = [None; TIERS.len()];
        let mut lines = Vec::new();
        for (index, line) in quote.lines.iter().enumerate() {
            let Some(tier) = TIERS.iter().position(|(min, _)| line.quantity >= *min) else {
                continue;
            };
            let (minimum, percent) = TIERS[tier];
            let factor = Decimal::new(100 - percent, 2);
            let unit_price = (line.unit_price.to_decimal() * factor)
                .round_dp_with_strategy(PRICE_PLACES, RoundingStrategy::MidpointAwayFromZero);
            let reason = *tier_reason[tier].get_or_insert_with(|| {
                reasons.push(format!("volume tier {minimum}+ units: {percent}% off"));
                (reasons.len() - 1) as u32
            });
            lines.push(LinePrice {
                line: index as u32,
                unit_price: unit_price.into(),
                reason,
            });
        }
        Ok(PriceAdjustments { lines, reasons })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(VolumeDiscount);
