//! Hostile: a tier split with a classic bug: it never terminates on a line of zero quantity.
use pchost_plugin_sdk::pricing_rule::{Guest, PriceAdjustments, Quote, RuleError};

struct InfiniteLoop;

impl Guest for InfiniteLoop {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mut tiers = 0u64;
        for line in &quote.lines {
            let mut remaining = 100u32;
            // With quantity 0 nothing is ever subtracted.
            while remaining > 0 {
                remaining = remaining.saturating_sub(std::hint::black_box(line.quantity));
                tiers = std::hint::black_box(tiers + 1);
            }
        }
        let _ = tiers;
        Ok(PriceAdjustments {
            lines: Vec::new(),
            reasons: Vec::new(),
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(InfiniteLoop);
