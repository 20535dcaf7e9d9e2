//! The arithmetic of the compute-heavy rule, shared word for word by the plugin and by the
//! native twin the benchmark runs in the host (it is `include!`d there): exact decimals only.
//!
//! For each line it walks a table of 32 price tiers, compounding a small discount per tier the
//! line's quantity reaches and a loyalty factor per period, then applies a volume rebate and a
//! floor at 0.80 of list: several hundred decimal operations per line.

use super::{Decimal, RoundingStrategy};

/// Tiers: (minimum quantity, discount in basis points).
const TIERS: [(u32, i64); 32] = [
    (1, 5),
    (2, 5),
    (3, 6),
    (4, 6),
    (5, 7),
    (6, 7),
    (8, 8),
    (10, 8),
    (12, 9),
    (15, 9),
    (20, 10),
    (25, 10),
    (30, 11),
    (40, 11),
    (50, 12),
    (60, 12),
    (75, 13),
    (90, 13),
    (100, 14),
    (125, 14),
    (150, 15),
    (200, 15),
    (250, 16),
    (300, 16),
    (400, 17),
    (500, 17),
    (600, 18),
    (750, 18),
    (1000, 19),
    (1500, 19),
    (2000, 20),
    (5000, 20),
];

/// The unit price after the heavy rule.
pub fn heavy_unit_price(list: Decimal, current: Decimal, quantity: u32, periods: u32) -> Decimal {
    let one = Decimal::ONE;
    let basis = Decimal::new(10_000, 0);
    let mut price = current;
    // Each tier the quantity reaches takes its basis points off, compounded, at 10 places.
    for (minimum, points) in TIERS {
        let step = one - Decimal::new(points, 0) / basis;
        if quantity >= minimum {
            price = (price * step).round_dp_with_strategy(10, RoundingStrategy::MidpointNearestEven);
        } else {
            // Tiers not reached still cost a comparison and a scaled check, as a real table walk.
            let _ = (price * step).round_dp(10);
        }
    }
    // A loyalty factor per period bought, up to 24: 0.1% each, compounded.
    let loyalty = one - Decimal::new(1, 3);
    for _ in 0..periods.min(24) {
        price = (price * loyalty).round_dp_with_strategy(10, RoundingStrategy::MidpointNearestEven);
    }
    // A volume rebate on the line total, spread back over the units.
    let units = Decimal::from(quantity.max(1)) * Decimal::from(periods.max(1));
    let total = price * units;
    let rebate = if total > Decimal::new(100_000, 0) {
        Decimal::new(2, 2)
    } else if total > Decimal::new(10_000, 0) {
        Decimal::new(1, 2)
    } else {
        Decimal::ZERO
    };
    price = (total * (one - rebate) / units).round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero);
    // Never below 0.80 of list (rule 19).
    let floor = (list * Decimal::new(80, 2)).round_dp(6);
    price.max(floor)
}
