//! Hostile: answers with a 4 MiB reason, far above the host's output limit.
use pchost_plugin_sdk::pricing_rule::{Guest, PriceAdjustments, Quote, RuleError};

struct OversizedOutput;

impl Guest for OversizedOutput {
    fn price(_quote: Quote) -> Result<PriceAdjustments, RuleError> {
        Ok(PriceAdjustments {
            lines: Vec::new(),
            reasons: vec!["x".repeat(4 << 20)],
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(OversizedOutput);
