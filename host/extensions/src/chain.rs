//! The pure part of the pricing chain: the bounds every step's answer must keep, applying a
//! checked answer to the quote, and the priced lines with their total. No plugin and no
//! store here: [`crate::pricing::run_chain`] runs the plugins and calls these, and the property tests
//! drive them directly with any answer a plugin could give.

use crate::error::ExtensionError;
use crate::pricing::{Adjustment, PricedLine};
use pchost_domain::DiscountKind;
use pchost_domain::errors::out_of_range;
use pchost_domain::money;
use pchost_runtime::model::{LinePrice, PriceAdjustments, Quote};
use pchost_store::bindings::BindingScope;
use rust_decimal::Decimal;

/// A partner's rules never price a line below this share of list (rule 19).
pub const PARTNER_DISCOUNT_FLOOR: Decimal = Decimal::from_parts(80, 0, 0, false, 2);

/// How far above its list price the rules of each binding scope may raise a unit price, as a
/// multiple of list: an operator setting (`pchost serve --price-ceiling-platform` and
/// `-seller`, `-partner`).
///
/// The defaults leave real pricing free and catch the answers no pricing means: a price in
/// cents where units were meant (100×), a mantissa read at the wrong scale, an overflowing
/// computation (9,223,372,036,854,775,807). The bundled rules stay far below them: the
/// platform's 8% surcharge, a seller's volume discounts and a reseller's 8% markup compound
/// to at most 1.1664 × list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceCeilings {
    /// The operator's own platform-wide rules (surcharges, fees): 10× by default.
    pub platform: Decimal,
    /// A seller's rules over its own products: 10× by default, free pricing (premium tiers,
    /// scarcity) within an order of magnitude of the list price the seller published.
    pub seller: Decimal,
    /// A partner's rules over its customers: 2× by default. A reseller's margin on the
    /// platform's price; doubling it is beyond any markup, as 0.80 (rule 19) bounds its
    /// discounts.
    pub partner: Decimal,
}

impl Default for PriceCeilings {
    fn default() -> Self {
        PriceCeilings {
            platform: Decimal::TEN,
            seller: Decimal::TEN,
            partner: Decimal::TWO,
        }
    }
}

impl PriceCeilings {
    /// What the answer of a step bound in `scope` must keep.
    pub fn bounds(&self, scope: BindingScope) -> StepBounds {
        let (floor, ceiling) = match scope {
            BindingScope::Platform => (None, self.platform),
            // A seller prices its own products: rule 19 bounds partners' discounts, not sellers'.
            BindingScope::Seller => (None, self.seller),
            BindingScope::Partner => (Some(PARTNER_DISCOUNT_FLOOR), self.partner),
        };
        StepBounds { scope, floor, ceiling }
    }
}

/// A ceiling as the operator writes it: a decimal multiple of list price of at least 1, since
/// a rule may always price at list.
pub fn parse_ceiling(text: &str) -> Result<Decimal, String> {
    let ceiling = Decimal::from_str_exact(text).map_err(|e| format!("{text:?} is not a decimal: {e}"))?;
    if ceiling < Decimal::ONE {
        return Err(format!("{ceiling} is below 1: a rule may always price at list"));
    }
    Ok(ceiling)
}

/// What one step's prices must keep, by the scope of its binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepBounds {
    /// The scope, named in a breach.
    pub scope: BindingScope,
    /// No price below this share of list (rule 19: partners' rules only).
    pub floor: Option<Decimal>,
    /// No price raised above this multiple of list.
    pub ceiling: Decimal,
}

/// A step's answer that keeps the invariants, each line resolved to the quote's line.
#[derive(Debug)]
pub struct CheckedAnswer {
    lines: Vec<(usize, LinePrice)>,
}

/// Checks a step's answer against the invariants, or says what breaks them: it reprices only
/// lines it was shown (`map[k]` is the quote's line of the view's line `k`), no price is
/// negative, with a floor none is below that share of list (rule 19), and none is raised
/// above the ceiling's multiple of list. The currency cannot change: a rule answers prices
/// only.
pub fn check_answer(
    quote: &Quote,
    map: &[usize],
    bounds: StepBounds,
    output: PriceAdjustments,
) -> Result<CheckedAnswer, String> {
    let mut lines = Vec::with_capacity(output.lines.len());
    for adjusted in output.lines {
        let Some((index, line)) = map
            .get(adjusted.line as usize)
            .and_then(|&index| Some((index, quote.lines.get(index)?)))
        else {
            return Err(format!(
                "line {} is not one of the {} lines the rule was shown",
                adjusted.line,
                map.len()
            ));
        };
        let (price, list) = (adjusted.unit_price, line.list_unit_price);
        if price.is_sign_negative() && !price.is_zero() {
            return Err(format!("line {index}: negative unit price {price}"));
        }
        // A share of at most 1 of a decimal cannot overflow.
        if let Some(ratio) = bounds.floor
            && list.checked_mul(ratio).is_some_and(|floor| price < floor)
        {
            return Err(format!(
                "line {index}: {price} is below {ratio} of list price {list} (rule 19)"
            ));
        }
        // A step may keep or lower a price an earlier step set above its own ceiling; it may
        // not raise one above it. A ceiling beyond what a decimal holds bounds nothing.
        if price > line.unit_price && list.checked_mul(bounds.ceiling).is_some_and(|ceiling| price > ceiling) {
            return Err(format!(
                "line {index}: {price} is above {} times the list price {list} (the {} scope's ceiling)",
                bounds.ceiling, bounds.scope
            ));
        }
        // The declared kind is what rule 7 is checked against: it must say what happened.
        match adjusted.kind {
            Some(DiscountKind::Markup) if price < line.unit_price => {
                return Err(format!(
                    "line {index}: a markup lowers the price from {} to {price}",
                    line.unit_price
                ));
            }
            Some(kind) if kind != DiscountKind::Markup && price > line.unit_price => {
                return Err(format!(
                    "line {index}: a {kind} raises the price from {} to {price}",
                    line.unit_price
                ));
            }
            _ => {}
        }
        lines.push((index, adjusted));
    }
    Ok(CheckedAnswer { lines })
}

/// Applies a checked answer to the quote, and logs each line's adjustment under `plugin` and
/// `binding` in `adjustments` (one list per line of the quote).
pub fn apply_answer(
    quote: &mut Quote,
    answer: CheckedAnswer,
    plugin: &str,
    binding: i64,
    adjustments: &mut [Vec<Adjustment>],
) {
    for (index, adjusted) in answer.lines {
        // The answer was checked against this quote: every index is one of its lines.
        let (Some(line), Some(log)) = (quote.lines.get_mut(index), adjustments.get_mut(index)) else {
            continue;
        };
        log.push(Adjustment {
            plugin: plugin.to_owned(),
            binding,
            reason: adjusted.reason.to_string(),
            from: line.unit_price,
            to: adjusted.unit_price,
            kind: adjusted.kind,
        });
        line.unit_price = adjusted.unit_price;
    }
}

/// The priced lines of the quote, with the adjustments that led to each, and their total.
/// A line's amount is unit price × quantity × periods settled to the cent, half-up (as the
/// order created from the quote computes it); the total is their sum. Each is within the
/// platform's range, or the quote is refused with `amount-out-of-range` naming it.
pub fn priced_lines(
    quote: &Quote,
    adjustments: Vec<Vec<Adjustment>>,
) -> Result<(Vec<PricedLine>, Decimal), ExtensionError> {
    let mut lines = Vec::with_capacity(quote.lines.len());
    for (i, (line, adjustments)) in quote.lines.iter().zip(adjustments).enumerate() {
        let product = quote
            .products
            .get(line.product as usize)
            .ok_or_else(|| ExtensionError::Internal(anyhow::anyhow!("quote line {i} names no product")))?;
        let amount = money::line_amount(line.unit_price, line.quantity, line.period_count).ok_or_else(|| {
            out_of_range(
                format!("lines[{i}].amount"),
                format!("{} × {} × {}", line.unit_price, line.quantity, line.period_count),
            )
        })?;
        lines.push(PricedLine {
            product_id: product.id,
            period: line.period,
            period_count: line.period_count,
            quantity: line.quantity,
            list_unit_price: line.list_unit_price,
            unit_price: line.unit_price,
            amount,
            adjustments,
        });
    }
    let total = money::total(lines.iter().map(|l| l.amount))
        .ok_or_else(|| out_of_range("total", "the sum of the line amounts"))?;
    Ok((lines, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use pchost_domain::{ChargingMode, Currency, PeriodType, Product};
    use pchost_runtime::FailureKind;
    use pchost_runtime::model::QuoteLine;
    use std::sync::Arc;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).expect("decimal literal")
    }

    /// A quote of product 2001, one line per `(list, price so far)`, 1 unit for 1 month.
    fn quote(prices: &[(&str, &str)]) -> Quote {
        Quote {
            currency: Currency::CNY,
            as_of: DateTime::UNIX_EPOCH,
            partner: None,
            customer: None,
            products: vec![Product {
                id: 2001,
                seller: Some(10),
                service_type: "OBS".into(),
                resource_type: "bucket".into(),
                spec_code: "obs.standard".into(),
                region: "cn-north-4".into(),
                charging_mode: ChargingMode::YearlyMonthly,
            }],
            lines: prices
                .iter()
                .map(|(list, price)| QuoteLine {
                    product: 0,
                    period: PeriodType::Month,
                    period_count: 1,
                    quantity: 1,
                    list_unit_price: d(list),
                    unit_price: d(price),
                })
                .collect(),
            purpose: Default::default(),
            resources: Vec::new(),
            settings: Vec::new(),
        }
    }

    fn answer(prices: &[(u32, Decimal)]) -> PriceAdjustments {
        let reason: Arc<str> = "r".into();
        PriceAdjustments {
            lines: prices
                .iter()
                .map(|&(line, unit_price)| LinePrice {
                    line,
                    unit_price,
                    reason: reason.clone(),
                    kind: None,
                })
                .collect(),
        }
    }

    #[test]
    fn rule_7_a_declared_kind_must_say_what_the_price_did() {
        let q = quote(&[("100", "100")]);
        let map = [0];
        let bounds = PriceCeilings::default().bounds(BindingScope::Partner);
        let with_kind = |price: &str, kind| {
            let mut answer = answer(&[(0, d(price))]);
            answer.lines[0].kind = Some(kind);
            check_answer(&q, &map, bounds, answer).map(|_| ())
        };
        assert_eq!(with_kind("90", DiscountKind::PartnerGranted), Ok(()));
        assert_eq!(with_kind("110", DiscountKind::Markup), Ok(()));
        let why = with_kind("110", DiscountKind::Promotion).expect_err("a promotion that raises the price");
        assert!(why.contains("a promotion raises the price from 100 to 110"), "{why}");
        let why = with_kind("90", DiscountKind::Markup).expect_err("a markup that lowers the price");
        assert!(why.contains("a markup lowers the price from 100 to 90"), "{why}");
    }

    fn no_adjustments(lines: usize) -> Vec<Vec<Adjustment>> {
        (0..lines).map(|_| Vec::new()).collect()
    }

    fn check(quote: &Quote, scope: BindingScope, prices: &[(u32, Decimal)]) -> Result<(), String> {
        let map: Vec<usize> = (0..quote.lines.len()).collect();
        check_answer(quote, &map, PriceCeilings::default().bounds(scope), answer(prices)).map(|_| ())
    }

    #[test]
    fn a_sellers_unit_price_of_i64_max_is_refused_by_the_seller_ceiling() {
        // Seen: a seller's rule answered 9,223,372,036,854,775,807 for a line of list 88.50.
        let huge = Decimal::from(i64::MAX);
        let why = check(
            &quote(&[("88.500000", "88.500000")]),
            BindingScope::Seller,
            &[(0, huge)],
        );
        assert_eq!(
            why,
            Err(
                "line 0: 9223372036854775807 is above 10 times the list price 88.500000 (the seller scope's ceiling)"
                    .into()
            )
        );
        // The API answers it as the plugin's failure, under the binding's policy.
        let failure = ExtensionError::PluginFailed(pchost_runtime::PluginFailure {
            plugin: "premium@1.0.0".into(),
            digest: "d".into(),
            kind: FailureKind::InvalidOutput(why.err().unwrap_or_default()),
            usage: Default::default(),
        });
        assert_eq!(failure.code(), pchost_domain::errors::ErrorCode::PluginFailed);
    }

    #[test]
    fn each_scope_raises_a_price_up_to_its_ceiling_and_no_further() {
        let q = quote(&[("100", "100")]);
        for (scope, at, above) in [
            (BindingScope::Platform, "1000", "1000.000001"),
            (BindingScope::Seller, "1000", "1000.000001"),
            (BindingScope::Partner, "200", "200.000001"),
        ] {
            assert_eq!(check(&q, scope, &[(0, d(at))]), Ok(()), "{scope} at its ceiling");
            assert!(check(&q, scope, &[(0, d(above))]).is_err(), "{scope} above it");
        }
    }

    #[test]
    fn the_bundled_rules_stay_far_below_the_default_ceilings() {
        // Platform surcharge 8%, then a reseller's 8% markup: 1.1664 × list.
        let q = quote(&[("88.500000", "95.580000")]);
        assert_eq!(check(&q, BindingScope::Partner, &[(0, d("103.226400"))]), Ok(()));
    }

    #[test]
    fn a_step_may_keep_or_lower_a_price_an_earlier_step_raised_above_its_ceiling() {
        // The platform's rule took list 100 to 900 (within its 10 times); the partner's
        // ceiling is 2 times, but it did not raise the price there.
        let q = quote(&[("100", "900")]);
        assert_eq!(check(&q, BindingScope::Partner, &[(0, d("900"))]), Ok(()));
        assert_eq!(check(&q, BindingScope::Partner, &[(0, d("810"))]), Ok(()));
        assert_eq!(
            check(&q, BindingScope::Partner, &[(0, d("950"))]),
            Err("line 0: 950 is above 2 times the list price 100 (the partner scope's ceiling)".into())
        );
    }

    #[test]
    fn rule_19_a_partners_price_below_080_of_list_is_refused_a_sellers_is_not() {
        let q = quote(&[("200", "200")]);
        assert_eq!(
            check(&q, BindingScope::Partner, &[(0, d("159.99"))]),
            Err("line 0: 159.99 is below 0.80 of list price 200 (rule 19)".into())
        );
        assert_eq!(check(&q, BindingScope::Partner, &[(0, d("160"))]), Ok(()));
        assert_eq!(check(&q, BindingScope::Seller, &[(0, d("1"))]), Ok(()));
        assert_eq!(
            check(&q, BindingScope::Seller, &[(0, d("-1"))]),
            Err("line 0: negative unit price -1".into())
        );
    }

    #[test]
    fn an_answer_for_a_line_outside_the_view_is_refused_not_a_panic() {
        let q = quote(&[("100", "100"), ("100", "100")]);
        let why = check_answer(
            &q,
            &[1],
            PriceCeilings::default().bounds(BindingScope::Seller),
            answer(&[(1, d("1"))]),
        );
        assert_eq!(
            why.map(|_| ()),
            Err("line 1 is not one of the 1 lines the rule was shown".into())
        );
    }

    #[test]
    fn a_checked_answer_reprices_the_lines_of_the_view_and_logs_each_step() {
        let mut q = quote(&[("100", "100"), ("50", "50")]);
        let mut log = vec![Vec::new(), Vec::new()];
        // The view held only the quote's line 1.
        let bounds = PriceCeilings::default().bounds(BindingScope::Seller);
        let checked = check_answer(&q, &[1], bounds, answer(&[(0, d("45"))])).expect("within bounds");
        apply_answer(&mut q, checked, "s@1", 7, &mut log);
        assert_eq!((q.lines[0].unit_price, q.lines[1].unit_price), (d("100"), d("45")));
        assert!(log[0].is_empty());
        let step = &log[1][0];
        assert_eq!(
            (step.plugin.as_str(), step.binding, step.from, step.to),
            ("s@1", 7, d("50"), d("45"))
        );
    }

    #[test]
    fn line_amounts_and_the_total_beyond_the_range_are_refused_naming_them() {
        let refused = |q: &Quote| match priced_lines(q, no_adjustments(q.lines.len())) {
            Err(e) => (e.code().as_str(), e.to_string()),
            Ok(_) => ("accepted", String::new()),
        };
        let mut q = quote(&[("9223372036854775807", "9223372036854775807")]);
        assert_eq!(
            refused(&q),
            (
                "amount-out-of-range",
                "lines[0].amount: 9223372036854775807 × 1 × 1 is beyond the largest amount the platform handles, 1000000000000000"
                    .into()
            )
        );
        q = quote(&[("600000000000000", "600000000000000"); 2]);
        assert_eq!(refused(&q).0, "amount-out-of-range");
        let (lines, total) = priced_lines(&quote(&[("10", "12.345"); 2]), no_adjustments(2)).expect("priced");
        assert_eq!((lines[0].amount, total), (d("12.35"), d("24.70")));
    }

    #[test]
    fn a_ceiling_is_a_decimal_of_at_least_1() {
        assert_eq!(parse_ceiling("10"), Ok(Decimal::TEN));
        assert_eq!(parse_ceiling("1.5"), Ok(d("1.5")));
        assert!(parse_ceiling("0.99").is_err());
        assert!(parse_ceiling("ten").is_err());
        assert!(parse_ceiling("-3").is_err());
    }
}
