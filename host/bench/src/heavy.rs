//! The compute-heavy rule, natively: the very arithmetic of `plugins/heavy-pricing`.

use rust_decimal::{Decimal, RoundingStrategy};

#[path = "../../../plugins/heavy-pricing/src/rule.rs"]
mod rule;

pub use rule::heavy_unit_price;
