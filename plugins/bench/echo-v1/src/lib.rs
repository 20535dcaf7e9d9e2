//! Benchmark fixture (issue #6): reprices every line at the price it came with, against
//! extension@0.1.0. No arithmetic, so the cost per line is the contract's boundary: lowering
//! the line, lifting it in the guest, and the answer's way back. `bench-echo-v2` is the same
//! rule against 0.2.0; the benchmark runs both side by side.

use pchost_plugin_sdk::pricing_rule::{Guest, LinePrice, PriceAdjustments, Quote, RuleError};

struct Echo;

impl Guest for Echo {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let lines = quote
            .lines
            .into_iter()
            .enumerate()
            .map(|(index, line)| LinePrice {
                line: index as u32,
                unit_price: line.unit_price,
                reason: 0,
            })
            .collect();
        Ok(PriceAdjustments {
            lines,
            reasons: vec!["unchanged".into()],
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(Echo);
