//! Hostile: recurses without end until the stack overflows.
use pchost_plugin_sdk::pricing_rule::{Guest, PriceAdjustments, Quote, RuleError};

struct DeepRecursion;

#[expect(unconditional_recursion, reason = "this plugin exists to overflow the stack")]
fn descend(depth: u64) -> u64 {
    // black_box keeps the compiler from turning the recursion into a loop.
    std::hint::black_box(descend(std::hint::black_box(depth + 1))) + 1
}

impl Guest for DeepRecursion {
    fn price(_quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let _ = descend(0);
        Ok(PriceAdjustments {
            lines: Vec::new(),
            reasons: Vec::new(),
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(DeepRecursion);
