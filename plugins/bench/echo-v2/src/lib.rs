//! Benchmark fixture (issue #6): `bench-echo-v1` against extension@0.2.0, where the columns of
//! the quote become the columns of the answer without a pass over the lines.

use pchost_plugin_sdk::pricing_rule_v2::{Guest, PriceAdjustments, Quote, RuleError};

struct Echo;

impl Guest for Echo {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let n = quote.line_count();
        Ok(PriceAdjustments {
            line: (0..n as u32).collect(),
            unit_price: quote.lines.unit_price,
            unit_price_scale: quote.lines.unit_price_scale,
            reason: vec![0; n],
            reasons: vec!["unchanged".into()],
        })
    }
}

pchost_plugin_sdk::pricing_rule_v2::export_pricing_rule!(Echo);
