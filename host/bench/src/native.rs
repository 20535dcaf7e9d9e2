//! The rules as native Rust over the host's own in-memory quote, with no boundary to cross:
//! the example rules are the server's benchmark baseline, the compute-heavy one shares its
//! arithmetic with `plugins/heavy-pricing`. What the plugin versions cost beyond these is the
//! price of isolation.

use pchost_runtime::model::{LinePrice, PriceAdjustments, Quote};

pub use pchost_extensions::native_rules::{reseller_markup, volume_discount};

/// `plugins/heavy-pricing`.
pub fn heavy(quote: &Quote) -> PriceAdjustments {
    let reason: std::sync::Arc<str> = "tiered, loyalty and volume pricing".into();
    let lines = quote
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| LinePrice {
            line: index as u32,
            unit_price: crate::heavy::heavy_unit_price(
                line.list_unit_price,
                line.unit_price,
                line.quantity,
                line.period_count,
            ),
            reason: reason.clone(),
            kind: None,
        })
        .collect();
    PriceAdjustments { lines }
}
