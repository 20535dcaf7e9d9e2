//! A volume discount: the more units of a product on a line, the lower the unit price. Three
//! tiers ("from N units, P% off") come from the binding's settings, so one component serves
//! every seller or partner that binds it with its own numbers (`plugin.toml`). The host sends
//! a seller's rule only the lines of that seller's products, and a partner's rule the lines of
//! its customer's quote.

use pchost_plugin_sdk::pricing_rule_v3::{DiscountKind, Guest, PriceAdjustments, Quote, RuleError};
use pchost_plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

/// Each tier's settings and the defaults `plugin.toml` declares for them: the host always
/// sends the manifest's defaults, so these serve only a run without a manifest (`pchost plugin
/// run`).
const TIERS: [(&str, &str, i64, i64); 3] = [
    ("tier-1-units", "tier-1-percent", 10, 5),
    ("tier-2-units", "tier-2-percent", 50, 10),
    ("tier-3-units", "tier-3-percent", 100, 15),
];

/// Unit prices keep the contract's 6 decimal places.
const PRICE_PLACES: u32 = 6;

struct Tier {
    units: u32,
    percent: Decimal,
    /// What a unit price is multiplied by: 1 - percent / 100.
    factor: Decimal,
    /// The index of its reason in the answer, written once on first use.
    reason: Option<u32>,
}

fn tiers(quote: &Quote) -> Result<Vec<Tier>, RuleError> {
    let mut tiers = Vec::with_capacity(TIERS.len());
    for (n, (units_setting, percent_setting, units, percent)) in TIERS.into_iter().enumerate() {
        let units = quote.integer_setting(units_setting).unwrap_or(units);
        let percent = quote.decimal_setting(percent_setting).unwrap_or(Decimal::from(percent));
        if !(Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&percent) {
            return Err(RuleError::InvalidInput(format!(
                "tier {} is {percent}%: not within 0 to 100",
                n + 1
            )));
        }
        let units = u32::try_from(units)
            .ok()
            .filter(|u| *u > 0)
            .ok_or_else(|| RuleError::InvalidInput(format!("tier {} starts at {units} units", n + 1)))?;
        if !percent.is_zero() {
            // × 0.01 rather than ÷ 100: exact either way, and a decimal product is cheap.
            let factor = Decimal::ONE - percent * Decimal::new(1, 2);
            tiers.push(Tier {
                units,
                percent,
                factor,
                reason: None,
            });
        }
    }
    // The tier with the most units a line reaches wins: look from the largest.
    tiers.sort_by_key(|t| std::cmp::Reverse(t.units));
    Ok(tiers)
}

fn kind(quote: &Quote) -> DiscountKind {
    match quote.text_setting("kind") {
        Some("partner-granted") => DiscountKind::PartnerGranted,
        Some("promotion") => DiscountKind::Promotion,
        Some("contract") => DiscountKind::Contract,
        _ => DiscountKind::SellerDiscount,
    }
}

struct VolumeDiscount;

impl Guest for VolumeDiscount {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let mut tiers = tiers(&quote)?;
        let kind = kind(&quote);
        let mut answer = PriceAdjustments::with_capacity(quote.line_count());
        for line in quote.lines() {
            let Some(tier) = tiers.iter_mut().find(|t| line.quantity >= t.units) else {
                continue;
            };
            let unit_price = (line.unit_price * tier.factor)
                .round_dp_with_strategy(PRICE_PLACES, RoundingStrategy::MidpointAwayFromZero);
            let (units, percent) = (tier.units, tier.percent.normalize());
            let reason = *tier
                .reason
                .get_or_insert_with(|| answer.reason(format!("volume tier {units}+ units: {percent}% off"), kind));
            answer.reprice(line.index, unit_price, reason);
        }
        Ok(answer)
    }
}

pchost_plugin_sdk::pricing_rule_v3::export_pricing_rule!(VolumeDiscount);
