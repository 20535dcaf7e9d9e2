//! Hostile: panics, as a rule with an unchecked lookup would.
use pchost_plugin_sdk::pricing_rule::{Guest, PriceAdjustments, Quote, RuleError};

struct Panicking;

impl Guest for Panicking {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        panic!("no tier table for currency {}", quote.currency);
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(Panicking);
