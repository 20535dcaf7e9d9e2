//! The bundled example pricing rules as native Rust, over the host's own in-memory quote: the
//! baseline the benchmark suite measures the plugin chain against (`serve
//! --native-rules-for-benchmarks`, and `pchost-bench`). Each gives the same answer as its
//! plugin under the defaults of its settings (`plugins/volume-discount`,
//! `plugins/renewal-discount`, `plugins/reseller-markup`); the benchmark checks that before it
//! measures.

use pchost_domain::DiscountKind;
use pchost_runtime::model::{LinePrice, PriceAdjustments, Quote, QuotePurpose};
use rust_decimal::{Decimal, RoundingStrategy};
use std::sync::Arc;

/// A native rule.
pub type NativeRule = fn(&Quote) -> PriceAdjustments;

/// The native twin of a bundled plugin, by the plugin's name.
pub fn rule(plugin_name: &str) -> Option<NativeRule> {
    match plugin_name {
        "volume-discount" => Some(volume_discount),
        "renewal-discount" => Some(renewal_discount),
        "reseller-markup" | "platform-surcharge" => Some(reseller_markup),
        _ => None,
    }
}

fn line(index: usize, price: Decimal, reason: &Arc<str>, kind: DiscountKind) -> LinePrice {
    LinePrice {
        line: index as u32,
        unit_price: price.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero),
        reason: reason.clone(),
        // The plugins are built against extension@0.3.0 and declare their kinds.
        kind: Some(kind),
    }
}

/// Each reason allocated once per answer and shared by its lines, as a plugin's answer is.
struct Reasons<const N: usize>([Option<Arc<str>>; N]);

impl<const N: usize> Reasons<N> {
    fn new() -> Self {
        Reasons(std::array::from_fn(|_| None))
    }

    fn get(&mut self, index: usize, text: &str) -> &Arc<str> {
        self.0[index].get_or_insert_with(|| text.into())
    }
}

/// `plugins/volume-discount` under its default settings: 15% off from 100 units, 10% from 50,
/// 5% from 10, as a seller discount.
pub fn volume_discount(quote: &Quote) -> PriceAdjustments {
    const TIERS: [(u32, i64, &str); 3] = [
        (100, 15, "volume tier 100+ units: 15% off"),
        (50, 10, "volume tier 50+ units: 10% off"),
        (10, 5, "volume tier 10+ units: 5% off"),
    ];
    let mut reasons = Reasons::<3>::new();
    let lines = quote
        .lines
        .iter()
        .enumerate()
        .filter_map(|(index, l)| {
            let tier = TIERS.iter().position(|(min, _, _)| l.quantity >= *min)?;
            let (_, percent, reason) = TIERS[tier];
            let price = l.unit_price * Decimal::new(100 - percent, 2);
            Some(line(
                index,
                price,
                reasons.get(tier, reason),
                DiscountKind::SellerDiscount,
            ))
        })
        .collect();
    PriceAdjustments { lines }
}

/// `plugins/renewal-discount` under its default settings: 5% off the lines a renewal quote
/// renews, to the cent, as a seller discount; nothing for other purposes.
pub fn renewal_discount(quote: &Quote) -> PriceAdjustments {
    if quote.purpose != QuotePurpose::Renewal {
        return PriceAdjustments { lines: Vec::new() };
    }
    let reason: Arc<str> = "5% renewal discount".into();
    let lines = quote
        .resources
        .iter()
        .filter_map(|r| {
            let l = quote.lines.get(r.line as usize)?;
            let price =
                (l.unit_price * Decimal::new(95, 2)).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            Some(line(r.line as usize, price, &reason, DiscountKind::SellerDiscount))
        })
        .collect();
    PriceAdjustments { lines }
}

/// `plugins/reseller-markup` under its default settings: 8% on standard customers; key
/// accounts (level 3+) 25% off, never below 0.80 of list.
pub fn reseller_markup(quote: &Quote) -> PriceAdjustments {
    let key_account = quote.customer.as_ref().is_some_and(|c| c.level >= 3);
    let mut reasons = Reasons::<3>::new();
    let lines = quote
        .lines
        .iter()
        .enumerate()
        .filter_map(|(index, l)| {
            if !key_account {
                let reason = reasons.get(2, "reseller markup: 8%");
                return Some(line(
                    index,
                    l.unit_price * Decimal::new(108, 2),
                    reason,
                    DiscountKind::Markup,
                ));
            }
            let floor = l.list_unit_price * Decimal::new(80, 2);
            let discounted = l.unit_price * Decimal::new(75, 2);
            if discounted >= floor {
                let reason = reasons.get(1, "key-account discount: 25%");
                Some(line(index, discounted, reason, DiscountKind::PartnerGranted))
            } else if floor < l.unit_price {
                let reason = reasons.get(0, "key-account discount capped at 0.80 of list (rule 19)");
                Some(line(index, floor, reason, DiscountKind::PartnerGranted))
            } else {
                None
            }
        })
        .collect();
    PriceAdjustments { lines }
}
