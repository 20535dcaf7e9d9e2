//! Hostile: allocates 1 MiB blocks, touching each, until the host's memory cap stops it.
use pchost_plugin_sdk::pricing_rule::{Guest, PriceAdjustments, Quote, RuleError};

struct MemoryHog;

impl Guest for MemoryHog {
    fn price(_quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            blocks.push(std::hint::black_box(vec![0xA5u8; 1 << 20]));
        }
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(MemoryHog);
