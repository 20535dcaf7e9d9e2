//! Hostile: prices every line at 9,223,372,036,854,775,807, the largest mantissa the contract
//! carries, as a rule whose arithmetic overflowed into a wrapped integer would. The host must
//! refuse the answer by the ceiling of the binding's scope (a multiple of list price) and
//! apply the binding's failure policy, never store a quote priced with it.
use pchost_plugin_sdk::pricing_rule::{Guest, LinePrice, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::Decimal;

struct HugePrice;

impl Guest for HugePrice {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let lines: Vec<LinePrice> = (0..quote.lines.len())
            .map(|index| LinePrice {
                line: index as u32,
                unit_price: Decimal::from(i64::MAX).into(),
                reason: 0,
            })
            .collect();
        Ok(PriceAdjustments {
            lines,
            reasons: vec!["premium".into()],
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(HugePrice);
