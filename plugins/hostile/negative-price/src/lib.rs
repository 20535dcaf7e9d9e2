//! Hostile: prices every line of 100 units or more at -1, a "bulk discount" beyond the price,
//! and leaves smaller lines alone. The host must refuse the negative answer and apply the
//! binding's failure policy; on small lines it answers like a rule that changes nothing.
use pchost_plugin_sdk::pricing_rule::{Guest, LinePrice, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::Decimal;

/// Lines of at least this many units get the impossible price.
const BULK: u32 = 100;

struct NegativePrice;

impl Guest for NegativePrice {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let lines: Vec<LinePrice> = (0..quote.lines.len())
            .filter(|&index| quote.lines[index].quantity >= BULK)
            .map(|index| LinePrice {
                line: index as u32,
                unit_price: Decimal::NEGATIVE_ONE.into(),
                reason: 0,
            })
            .collect();
        let reasons = if lines.is_empty() {
            Vec::new()
        } else {
            vec!["bulk: everything must go".into()]
        };
        Ok(PriceAdjustments { lines, reasons })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(NegativePrice);
