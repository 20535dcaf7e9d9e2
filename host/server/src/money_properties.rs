//! Property tests of the money paths: any answer a pricing rule could give, through the
//! chain's answer handling ([`pchost_extensions::chain`]) and the runtime's conversion of
//! WIT decimals; any amount a request could carry, through its validation and the cents
//! conversion. Nothing may panic, every refusal carries a stable code, and whatever is
//! accepted keeps the invariants exactly.
//!
//! 256 cases per property by default; `PROPTEST_CASES=100000 cargo test -p pchost-server
//! --lib money_properties` runs a long search.

use crate::api::accounts::Transfer;
use chrono::DateTime;
use pchost_domain::errors::ErrorCode;
use pchost_domain::money::{self, MAX_AMOUNT, MAX_CENTS, from_cents, to_cents};
use pchost_domain::{ChargingMode, Currency, PeriodType, Product};
use pchost_extensions::chain::{PriceCeilings, apply_answer, check_answer, priced_lines};
use pchost_extensions::pricing::{Adjustment, PricedLine};
use pchost_runtime::model::{self, PriceAdjustments, Quote, QuoteLine};
use pchost_runtime::wit::since_v0_1::pricing::partner_center::extension0_1_0::pricing_types as wp;
use pchost_runtime::wit::types as wt;
use pchost_store::bindings::BindingScope;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The line a rule's answer names: one of those it was shown, or any index at all.
#[derive(Clone, Debug)]
enum LineChoice {
    /// The view's line at this index modulo the view's length.
    Shown(u32),
    Any(u32),
}

/// The price a rule answers: a factor of the line's current price (what real rules do), or
/// any mantissa and scale.
#[derive(Clone, Debug)]
enum PriceChoice {
    Times(Decimal),
    Raw { mantissa: i64, scale: u8 },
}

/// One step of the chain: a binding's scope, the lines its view shows, and its answer: a
/// price and a reason index for some of the view's lines, in order, and now and then one
/// more entry for any line (a line repriced twice, or one it was not shown).
#[derive(Clone, Debug)]
struct Step {
    scope: BindingScope,
    shown: Vec<bool>,
    prices: Vec<Option<(PriceChoice, u32)>>,
    extra: Option<(LineChoice, PriceChoice, u32)>,
}

/// Mostly counts as the API takes them, now and then any.
fn count() -> impl Strategy<Value = u32> {
    prop_oneof![36 => 1u32..=100, 3 => 1u32..=100_000, 1 => any::<u32>()]
}

/// `(list price, quantity, periods)` of a line: mostly list prices up to 100,000 with 2 to 6
/// places, now and then up to 10^11, or any mantissa.
fn line() -> impl Strategy<Value = (Decimal, u32, u32)> {
    let list = prop_oneof![
        24 => (0i64..=10_000_000, 2u32..=6),
        5 => (0i64..=100_000_000_000, 0u32..=6),
        1 => (0i64..=i64::MAX, 0u32..=6),
    ];
    (list.prop_map(|(m, s)| Decimal::new(m, s)), count(), count())
}

fn step() -> impl Strategy<Value = Step> {
    let scope = prop_oneof![
        Just(BindingScope::Platform),
        Just(BindingScope::Seller),
        Just(BindingScope::Partner)
    ];
    let line = prop_oneof![
        12 => any::<u32>().prop_map(LineChoice::Shown),
        1 => any::<u32>().prop_map(LineChoice::Any),
    ];
    // Mostly half to one and a half times the price so far, as real rules answer; else 0 to
    // 12 times it, any mantissa with a scale the contract takes, or with any scale at all.
    let times = |percent: std::ops::RangeInclusive<i64>| {
        percent.prop_map(|percent| PriceChoice::Times(Decimal::new(percent, 2)))
    };
    let price = prop_oneof![
        16 => times(50..=150),
        4 => times(0..=1_200),
        1 => (any::<i64>(), 0u8..=10).prop_map(|(mantissa, scale)| PriceChoice::Raw { mantissa, scale }),
        1 => (any::<i64>(), any::<u8>()).prop_map(|(mantissa, scale)| PriceChoice::Raw { mantissa, scale }),
    ];
    let reason = || prop_oneof![19 => Just(0u32), 1 => any::<u32>()];
    let repriced = proptest::option::weighted(0.7, (price.clone(), reason()));
    let extra = proptest::option::weighted(0.1, (line, price, reason()));
    (
        scope,
        proptest::collection::vec(any::<bool>(), 5),
        proptest::collection::vec(repriced, 5),
        extra,
    )
        .prop_map(|(scope, shown, prices, extra)| Step {
            scope,
            shown,
            prices,
            extra,
        })
}

fn ceilings() -> impl Strategy<Value = PriceCeilings> {
    // 1.0 to 20.0 times list.
    let ceiling = (10i64..=200).prop_map(|tenths| Decimal::new(tenths, 1));
    prop_oneof![
        Just(PriceCeilings::default()),
        (ceiling.clone(), ceiling.clone(), ceiling).prop_map(|(platform, seller, partner)| PriceCeilings {
            platform,
            seller,
            partner
        }),
    ]
}

fn quote(lines: &[(Decimal, u32, u32)]) -> Quote {
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
        lines: lines
            .iter()
            .map(|&(list, quantity, period_count)| QuoteLine {
                product: 0,
                period: PeriodType::Month,
                period_count,
                quantity,
                list_unit_price: list,
                unit_price: list,
            })
            .collect(),
        purpose: Default::default(),
        resources: Vec::new(),
        settings: Vec::new(),
    }
}

/// The raw answer a plugin of this step gives, as the WIT record the runtime receives.
fn raw_answer(step: &Step, quote: &Quote, map: &[usize]) -> wp::PriceAdjustments {
    let price_of = |line: u32, price: &PriceChoice| match *price {
        PriceChoice::Raw { mantissa, scale } => wt::Decimal { mantissa, scale },
        PriceChoice::Times(factor) => map
            .get(line as usize)
            .and_then(|&index| quote.lines[index].unit_price.checked_mul(factor))
            .and_then(|price| model::decimal_to_wit(price.round_dp(6), "price").ok())
            .unwrap_or(wt::Decimal {
                mantissa: i64::MAX,
                scale: 0,
            }),
    };
    let repriced = (0..map.len())
        .zip(&step.prices)
        .filter_map(|(k, price)| Some((u32::try_from(k).ok()?, price.as_ref()?)));
    let mut lines: Vec<wp::LinePrice> = repriced
        .map(|(line, (price, reason))| wp::LinePrice {
            line,
            unit_price: price_of(line, price),
            reason: *reason,
        })
        .collect();
    if let Some((line, price, reason)) = &step.extra {
        let line = match *line {
            LineChoice::Shown(k) => k % u32::try_from(map.len().max(1)).unwrap_or(u32::MAX),
            LineChoice::Any(k) => k,
        };
        lines.push(wp::LinePrice {
            line,
            unit_price: price_of(line, price),
            reason: *reason,
        });
    }
    wp::PriceAdjustments {
        lines,
        reasons: vec!["reason".into()],
    }
}

/// unit price × quantity × periods, settled to the cent half-up, in cents: exactly, on the
/// unit price's own mantissa and scale, independently of `rust_decimal`'s arithmetic.
fn exact_cents(unit_price: Decimal, quantity: u32, periods: u32) -> i128 {
    let product = unit_price
        .mantissa()
        .checked_mul(i128::from(quantity))
        .and_then(|p| p.checked_mul(i128::from(periods)))
        .expect("an accepted line's product fits an i128");
    let scale = unit_price.scale();
    if scale <= 2 {
        return product * 10_i128.pow(2 - scale);
    }
    let divisor = 10_i128.pow(scale - 2);
    let (cents, rest) = (product / divisor, product % divisor);
    // Prices are never negative: half-up is away from zero.
    if 2 * rest >= divisor { cents + 1 } else { cents }
}

fn cents_of(amount: Decimal) -> i128 {
    let amount = amount.round_dp(2);
    amount.mantissa() * 10_i128.pow(2 - amount.scale())
}

fn ceiling_of(ceilings: &PriceCeilings, scope: BindingScope) -> Decimal {
    ceilings.bounds(scope).ceiling
}

/// Checks every invariant of an accepted quote.
fn check_priced(
    quote: &Quote,
    lines: &[PricedLine],
    total: Decimal,
    scopes: &[BindingScope],
    ceilings: &PriceCeilings,
) -> Result<(), TestCaseError> {
    let highest = [ceilings.platform, ceilings.seller, ceilings.partner]
        .into_iter()
        .max()
        .unwrap_or(Decimal::ONE);
    let mut sum = 0_i128;
    for (line, priced) in quote.lines.iter().zip(lines) {
        let list = line.list_unit_price;
        prop_assert!(!priced.unit_price.is_sign_negative() || priced.unit_price.is_zero());
        // The adjustments lead from list price to the final price, each within its scope's
        // bounds: never negative, a partner's never below 0.80 of list (rule 19), none
        // raised above its scope's ceiling.
        let mut price = list;
        for Adjustment { from, to, binding, .. } in &priced.adjustments {
            prop_assert_eq!(*from, price);
            let scope = scopes[usize::try_from(*binding).expect("step index")];
            prop_assert!(*to >= Decimal::ZERO, "negative {}", to);
            if scope == BindingScope::Partner {
                prop_assert!(
                    *to >= list * Decimal::new(80, 2),
                    "rule 19: {} below 0.80 of {}",
                    to,
                    list
                );
            }
            if to > from
                && let Some(ceiling) = list.checked_mul(ceiling_of(ceilings, scope))
            {
                prop_assert!(*to <= ceiling, "{} raised {} above {}", scope, to, ceiling);
            }
            price = *to;
        }
        prop_assert_eq!(price, priced.unit_price);
        if let Some(ceiling) = list.checked_mul(highest) {
            prop_assert!(priced.unit_price <= ceiling.max(list));
        }
        // Line amount = settle(unit × quantity × periods), exactly, within the range and
        // exact in cents.
        let cents = exact_cents(priced.unit_price, priced.quantity, priced.period_count);
        prop_assert_eq!(cents_of(priced.amount), cents);
        prop_assert!(priced.amount.scale() <= 2 && priced.amount <= MAX_AMOUNT);
        let ledger_cents = to_cents(priced.amount).expect("a line amount is whole cents");
        prop_assert_eq!(i128::from(ledger_cents), cents);
        // What the stored quote's body reads back is what was priced.
        let body = serde_json::to_string(priced).expect("serialize");
        let read: PricedLine = serde_json::from_str(&body).expect("read back");
        prop_assert_eq!((read.unit_price, read.amount), (priced.unit_price, priced.amount));
        sum += cents;
    }
    // Total = the sum of the lines, exactly, within the range.
    prop_assert_eq!(cents_of(total), sum);
    prop_assert!(total <= MAX_AMOUNT);
    prop_assert_eq!(to_cents(total).map(i128::from), Some(sum));
    Ok(())
}

/// A decimal of any 96-bit mantissa, sign and scale.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28)
        .prop_map(|(lo, mid, hi, negative, scale)| Decimal::from_parts(lo, mid, hi, negative, scale))
}

/// Text a client could send as an amount: decimal strings of up to 40 digits and 32 places,
/// signed or not, any decimal's own text, and junk.
fn amount_text() -> impl Strategy<Value = String> {
    let digits = |range| {
        proptest::collection::vec(0u8..10, range)
            .prop_map(|d| d.iter().map(|d| char::from(b'0' + d)).collect::<String>())
    };
    prop_oneof![
        3 => (0i64..=10_000_000_000_000_000, 0u32..=3).prop_map(|(m, s)| Decimal::new(m, s).to_string()),
        4 => (any::<bool>(), digits(1..=40), proptest::option::of(digits(0..=32))).prop_map(|(negative, whole, places)| {
            format!(
                "{}{whole}{}",
                if negative { "-" } else { "" },
                places.map(|p| format!(".{p}")).unwrap_or_default()
            )
        }),
        2 => any_decimal().prop_map(|d| d.to_string()),
        1 => "[-+.eE0-9 a-z]{0,16}",
    ]
}

proptest! {
    #[test]
    fn any_plugin_answer_keeps_the_chains_invariants_rule_19_included_or_is_refused_with_a_code(
        lines in proptest::collection::vec(line(), 1..=5),
        steps in proptest::collection::vec(step(), 0..=4),
        ceilings in ceilings(),
    ) {
        let mut quote = quote(&lines);
        let mut adjustments: Vec<Vec<Adjustment>> = quote.lines.iter().map(|_| Vec::new()).collect();
        let scopes: Vec<BindingScope> = steps.iter().map(|s| s.scope).collect();
        for (index, step) in steps.iter().enumerate() {
            // A seller sees its own lines only; the platform and partners see them all.
            let map: Vec<usize> = (0..quote.lines.len())
                .filter(|&i| step.scope != BindingScope::Seller || step.shown[i])
                .collect();
            let raw = raw_answer(step, &quote, &map);
            // What the runtime does with the plugin's raw answer, then the host's invariants.
            let checked = PriceAdjustments::from_wit(raw, map.len(), 1024)
                .and_then(|output| check_answer(&quote, &map, ceilings.bounds(step.scope), output));
            match checked {
                Ok(answer) => {
                    let binding = i64::try_from(index).expect("step index");
                    apply_answer(&mut quote, answer, "rule@1.0.0", binding, &mut adjustments);
                }
                // The plugin's invalid-output, naming the line; the binding's policy decides
                // (here: fail-open, the chain goes on without the step).
                Err(why) => prop_assert!(why.starts_with("line"), "{}", why),
            }
        }
        match priced_lines(&quote, adjustments) {
            Ok((priced, total)) => check_priced(&quote, &priced, total, &scopes, &ceilings)?,
            Err(refused) => {
                prop_assert_eq!(refused.code(), ErrorCode::AmountOutOfRange);
                prop_assert!(
                    matches!(refused.field_at_fault(), Some(f) if f == "total" || f.ends_with(".amount")),
                    "{:?}", refused
                );
            }
        }
    }

    #[test]
    fn any_request_amount_is_money_within_range_or_refused_with_a_code(text in amount_text()) {
        let body = serde_json::json!({ "currency": "CNY", "amount": text });
        // Text that is no decimal the API takes fails parsing: `invalid-json`, naming the field.
        let Ok(transfer) = serde_json::from_value::<Transfer>(body) else { return Ok(()) };
        match crate::api::money("amount", transfer.amount) {
            Ok(amount) => {
                // Exactly the amount the client wrote, never rounded.
                prop_assert_eq!(Decimal::from_str_exact(&text).ok(), Some(amount));
                prop_assert!(amount > Decimal::ZERO && amount <= MAX_AMOUNT);
                prop_assert!(amount.normalize().scale() <= 2);
                let cents = to_cents(amount).expect("accepted money is whole cents");
                prop_assert!(cents > 0 && cents <= MAX_CENTS);
                prop_assert_eq!(from_cents(cents), amount);
            }
            Err(refused) => {
                prop_assert!(
                    matches!(refused.code(), ErrorCode::InvalidField | ErrorCode::AmountOutOfRange),
                    "{:?}", refused
                );
                prop_assert_eq!(refused.field_at_fault(), Some("amount"));
                if refused.code() == ErrorCode::AmountOutOfRange {
                    prop_assert!(transfer.amount > MAX_AMOUNT);
                }
            }
        }
    }

    #[test]
    fn money_conversions_of_any_decimal_never_panic_and_round_trip_what_they_accept(
        amount in any_decimal(),
        quantity in any::<u32>(),
        periods in any::<u32>(),
    ) {
        if let Some(cents) = to_cents(amount) {
            prop_assert_eq!(from_cents(cents), amount);
        }
        if let Some(line) = money::line_amount(amount, quantity, periods) {
            prop_assert!(money::in_range(line));
        }
        if let Some(sum) = money::total([amount, amount]) {
            prop_assert!(money::in_range(sum));
        }
        // Across the plugin boundary: exact within 10 places and 64 bits, else refused.
        match model::decimal_to_wit(amount, "amount") {
            Ok(wit) => prop_assert_eq!(model::decimal_from_wit(wit), Ok(amount)),
            Err(refused) => prop_assert!(
                matches!(&refused, model::InputError::Invalid { field, .. } if field == "amount"),
                "{:?}", refused
            ),
        }
    }
}
