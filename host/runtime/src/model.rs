//! The JSON form of what crosses the plugin boundary: inputs as the API and the CLI accept
//! them, outputs as they print them. Money is a decimal string, never a JSON number.
//!
//! Conversion into the WIT types validates everything a plugin must be able to rely on.

use crate::bindings::approval::partner_center::extension0_1_0::approval_types as wa;
use crate::bindings::pricing::partner_center::extension0_1_0::pricing_types as wp;
use crate::bindings::pricing_v2::partner_center::extension0_2_0::pricing_types as wp2;
use crate::bindings::{catalog, types as wt};
use chrono::{DateTime, Utc};
use pchost_domain::{
    ApprovalKind, Association, ChargingMode, Currency, CustomerId, FreezeState, OrderId, PartnerId, PartnerKind,
    PeriodType, Product, Role,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most decimal places an amount may carry across the boundary.
pub const MAX_SCALE: u32 = 10;

/// An input the host refuses to send to a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A field is out of range; `field` is its JSON path.
    #[error("{field}: {message}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The input is larger than the operator allows.
    #[error("input is about {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Estimated size.
        size: usize,
        /// Limit.
        limit: usize,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InputError {
    InputError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A decimal as the contract carries it: exact, at most 10 places, mantissa within 64 bits.
pub fn decimal_to_wit(value: Decimal, field: &str) -> Result<wt::Decimal, InputError> {
    decimal_to_wit_at(value, || field.to_owned())
}

/// [`decimal_to_wit`] naming the field only when the value is refused: the hot path of a
/// quote's lines allocates nothing per line.
fn decimal_to_wit_at(value: Decimal, field: impl Fn() -> String) -> Result<wt::Decimal, InputError> {
    // Keep the caller's scale (`60000.00` stays two places) unless it is needlessly long.
    let value = if value.scale() > MAX_SCALE {
        value.normalize()
    } else {
        value
    };
    if value.scale() > MAX_SCALE {
        return Err(invalid(
            field(),
            format!("{value} has more than {MAX_SCALE} decimal places"),
        ));
    }
    let mantissa = i64::try_from(value.mantissa()).map_err(|_| invalid(field(), format!("{value} is out of range")))?;
    Ok(wt::Decimal {
        mantissa,
        scale: value.scale() as u8,
    })
}

/// The exact value of a WIT decimal, or why it is not acceptable.
pub fn decimal_from_wit(value: wt::Decimal) -> Result<Decimal, String> {
    if u32::from(value.scale) > MAX_SCALE {
        return Err(format!("decimal scale {} exceeds {MAX_SCALE}", value.scale));
    }
    Ok(Decimal::new(value.mantissa, u32::from(value.scale)))
}

/// An id as the contract carries it; `field` names it only when it is refused.
fn id_to_wit(id: i64, field: impl FnOnce() -> String) -> Result<u64, InputError> {
    u64::try_from(id).map_err(|_| invalid(field(), format!("id {id} is negative")))
}

/// The partner selling to the customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerContext {
    /// Id.
    pub id: PartnerId,
    /// Kind.
    pub kind: PartnerKind,
    /// A reseller's distributor.
    #[serde(default)]
    pub distributor: Option<PartnerId>,
}

/// The customer a quote is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerContext {
    /// Id.
    pub id: CustomerId,
    /// Resale or referral.
    pub association: Association,
    /// Freeze state.
    pub freeze: FreezeState,
    /// Level (0 = unset).
    #[serde(default)]
    pub level: u8,
}

/// One line of a quote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteLine {
    /// Index into [`Quote::products`].
    pub product: u32,
    /// Period.
    pub period: PeriodType,
    /// Number of periods.
    pub period_count: u32,
    /// Units.
    pub quantity: u32,
    /// List price per unit per period.
    #[serde(with = "rust_decimal::serde::str")]
    pub list_unit_price: Decimal,
    /// Price per unit per period so far.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
}

/// A quote to price: the input of the `pricing-rule` world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    /// Currency of every amount.
    pub currency: Currency,
    /// The time the quote is priced at.
    pub as_of: DateTime<Utc>,
    /// The selling partner.
    #[serde(default)]
    pub partner: Option<PartnerContext>,
    /// The customer.
    #[serde(default)]
    pub customer: Option<CustomerContext>,
    /// Distinct products referenced by the lines.
    pub products: Vec<Product>,
    /// Lines.
    pub lines: Vec<QuoteLine>,
}

/// Rough encoded size of a string field: its bytes plus the pointer and length.
fn text_size(s: &str) -> usize {
    s.len() + 8
}

impl Quote {
    /// Estimated size of the quote once lowered into a plugin's memory.
    pub fn encoded_size(&self) -> usize {
        let products: usize = self
            .products
            .iter()
            .map(|p| {
                48 + text_size(&p.service_type)
                    + text_size(&p.resource_type)
                    + text_size(&p.spec_code)
                    + text_size(&p.region)
            })
            .sum();
        64 + products + self.lines.len() * 48
    }

    /// Validates the quote and converts it into the WIT record of extension@0.1.0.
    pub fn to_wit(&self) -> Result<wp::Quote, InputError> {
        self.check_lines()?;
        let lines = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Ok(wp::QuoteLine {
                    product: l.product,
                    period: period(l.period),
                    period_count: l.period_count,
                    quantity: l.quantity,
                    list_unit_price: decimal_to_wit_at(l.list_unit_price, || format!("lines[{i}].list_unit_price"))?,
                    unit_price: decimal_to_wit_at(l.unit_price, || format!("lines[{i}].unit_price"))?,
                })
            })
            .collect::<Result<Vec<_>, InputError>>()?;
        let partner = self
            .partner_parts()?
            .map(|(id, kind, distributor)| wp::PartnerContext { id, kind, distributor });
        let customer = self
            .customer_parts()?
            .map(|(id, association, freeze, level)| wp::CustomerContext {
                id,
                association,
                freeze,
                level,
            });
        Ok(wp::Quote {
            currency: self.currency.to_string(),
            as_of: self.as_of.timestamp_millis(),
            partner,
            customer,
            products: self.products_to_wit()?,
            lines,
        })
    }

    /// Validates the quote and converts it into the columnar WIT record of extension@0.2.0.
    pub fn to_wit_v2(&self) -> Result<wp2::Quote, InputError> {
        self.check_lines()?;
        let n = self.lines.len();
        let mut lines = wp2::QuoteLines {
            product: Vec::with_capacity(n),
            period: Vec::with_capacity(n),
            period_count: Vec::with_capacity(n),
            quantity: Vec::with_capacity(n),
            list_unit_price: Vec::with_capacity(n),
            list_unit_price_scale: Vec::with_capacity(n),
            unit_price: Vec::with_capacity(n),
            unit_price_scale: Vec::with_capacity(n),
        };
        for (i, l) in self.lines.iter().enumerate() {
            lines.product.push(l.product);
            lines.period.push(period(l.period));
            lines.period_count.push(l.period_count);
            lines.quantity.push(l.quantity);
            let list = decimal_to_wit_at(l.list_unit_price, || format!("lines[{i}].list_unit_price"))?;
            lines.list_unit_price.push(list.mantissa);
            lines.list_unit_price_scale.push(list.scale);
            let unit = decimal_to_wit_at(l.unit_price, || format!("lines[{i}].unit_price"))?;
            lines.unit_price.push(unit.mantissa);
            lines.unit_price_scale.push(unit.scale);
        }
        let partner = self
            .partner_parts()?
            .map(|(id, kind, distributor)| wp2::PartnerContext { id, kind, distributor });
        let customer = self
            .customer_parts()?
            .map(|(id, association, freeze, level)| wp2::CustomerContext {
                id,
                association,
                freeze,
                level,
            });
        Ok(wp2::Quote {
            currency: self.currency.to_string(),
            as_of: self.as_of.timestamp_millis(),
            partner,
            customer,
            products: self.products_to_wit()?,
            lines,
        })
    }

    /// What every contract version requires of the lines: products that exist, prices that
    /// are not negative.
    fn check_lines(&self) -> Result<(), InputError> {
        for (i, l) in self.lines.iter().enumerate() {
            if l.product as usize >= self.products.len() {
                return Err(invalid(
                    format!("lines[{i}].product"),
                    format!("index {} but the quote has {} products", l.product, self.products.len()),
                ));
            }
            for (name, value) in [("list_unit_price", l.list_unit_price), ("unit_price", l.unit_price)] {
                if value.is_sign_negative() && !value.is_zero() {
                    return Err(invalid(format!("lines[{i}].{name}"), "must not be negative"));
                }
            }
        }
        Ok(())
    }

    fn products_to_wit(&self) -> Result<Vec<catalog::Product>, InputError> {
        self.products
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(catalog::Product {
                    id: id_to_wit(p.id, || format!("products[{i}].id"))?,
                    seller: p
                        .seller
                        .map(|s| id_to_wit(s, || format!("products[{i}].seller")))
                        .transpose()?,
                    service_type: p.service_type.clone(),
                    resource_type: p.resource_type.clone(),
                    spec_code: p.spec_code.clone(),
                    region: p.region.clone(),
                    charging_mode: charging_mode(p.charging_mode),
                })
            })
            .collect()
    }

    fn partner_parts(&self) -> Result<Option<(u64, wt::PartnerKind, Option<u64>)>, InputError> {
        self.partner
            .as_ref()
            .map(|p| {
                Ok((
                    id_to_wit(p.id, || "partner.id".into())?,
                    partner_kind(p.kind),
                    p.distributor
                        .map(|d| id_to_wit(d, || "partner.distributor".into()))
                        .transpose()?,
                ))
            })
            .transpose()
    }

    fn customer_parts(&self) -> Result<Option<(u64, wt::Association, wt::FreezeState, u8)>, InputError> {
        self.customer
            .as_ref()
            .map(|c| {
                Ok((
                    id_to_wit(c.id, || "customer.id".into())?,
                    association(c.association),
                    freeze(c.freeze),
                    c.level,
                ))
            })
            .transpose()
    }
}

/// One repriced line of a pricing rule's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinePrice {
    /// Index into the quote's lines.
    pub line: u32,
    /// New unit price.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// Why: shared by every line the rule gave the same reason.
    pub reason: Arc<str>,
}

/// A pricing rule's validated answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceAdjustments {
    /// Repriced lines, in the order the plugin gave them.
    pub lines: Vec<LinePrice>,
}

impl PriceAdjustments {
    /// Validates a plugin's raw answer against the quote it was given. Every index must
    /// point somewhere, every line is repriced at most once, every price fits the contract.
    pub fn from_wit(raw: wp::PriceAdjustments, line_count: usize, max_reason_bytes: usize) -> Result<Self, String> {
        let reasons = checked_reasons(raw.reasons, max_reason_bytes)?;
        let mut lines = Repriced::new(line_count, raw.lines.len(), &reasons);
        for (i, l) in raw.lines.into_iter().enumerate() {
            let unit_price = decimal_from_wit(l.unit_price).map_err(|e| format!("lines[{i}].unit_price: {e}"))?;
            lines.push(i, l.line, unit_price, l.reason)?;
        }
        Ok(PriceAdjustments { lines: lines.done() })
    }

    /// [`from_wit`](Self::from_wit) for the columnar answer of extension@0.2.0: the columns
    /// must have one element per repriced line each.
    pub fn from_wit_v2(raw: wp2::PriceAdjustments, line_count: usize, max_reason_bytes: usize) -> Result<Self, String> {
        let n = raw.line.len();
        for (column, len) in [
            ("unit-price", raw.unit_price.len()),
            ("unit-price-scale", raw.unit_price_scale.len()),
            ("reason", raw.reason.len()),
        ] {
            if len != n {
                return Err(format!("column {column} has {len} elements but column line has {n}"));
            }
        }
        let reasons = checked_reasons(raw.reasons, max_reason_bytes)?;
        let mut lines = Repriced::new(line_count, n, &reasons);
        for i in 0..n {
            let unit_price = decimal_from_wit(wt::Decimal {
                mantissa: raw.unit_price[i],
                scale: raw.unit_price_scale[i],
            })
            .map_err(|e| format!("lines[{i}].unit_price: {e}"))?;
            lines.push(i, raw.line[i], unit_price, raw.reason[i])?;
        }
        Ok(PriceAdjustments { lines: lines.done() })
    }

    /// Rough size of a raw 0.1.0 answer, checked before it is validated.
    pub fn raw_size(raw: &wp::PriceAdjustments) -> usize {
        raw.lines.len() * 24 + raw.reasons.iter().map(|r| text_size(r)).sum::<usize>()
    }

    /// Rough size of a raw 0.2.0 answer, checked before it is validated.
    pub fn raw_size_v2(raw: &wp2::PriceAdjustments) -> usize {
        raw.line.len() * 4
            + raw.unit_price.len() * 8
            + raw.unit_price_scale.len()
            + raw.reason.len() * 4
            + raw.reasons.iter().map(|r| text_size(r)).sum::<usize>()
    }
}

/// A rule's reasons, each within the size limit, shared by the lines that cite them.
fn checked_reasons(reasons: Vec<String>, max_reason_bytes: usize) -> Result<Vec<Arc<str>>, String> {
    if let Some((i, r)) = reasons.iter().enumerate().find(|(_, r)| r.len() > max_reason_bytes) {
        return Err(format!(
            "reasons[{i}] is {} bytes; the limit is {max_reason_bytes}",
            r.len()
        ));
    }
    Ok(reasons.into_iter().map(Arc::from).collect())
}

/// The repriced lines of an answer, checked as they are added: every index points somewhere
/// and no line is repriced twice.
struct Repriced<'a> {
    seen: Vec<bool>,
    reasons: &'a [Arc<str>],
    lines: Vec<LinePrice>,
}

impl<'a> Repriced<'a> {
    fn new(line_count: usize, repriced: usize, reasons: &'a [Arc<str>]) -> Self {
        Repriced {
            seen: vec![false; line_count],
            reasons,
            lines: Vec::with_capacity(repriced.min(line_count)),
        }
    }

    /// Adds the `i`-th repriced line of the answer.
    fn push(&mut self, i: usize, line: u32, unit_price: Decimal, reason: u32) -> Result<(), String> {
        let line_count = self.seen.len();
        let slot = self
            .seen
            .get_mut(line as usize)
            .ok_or_else(|| format!("lines[{i}].line = {line} but the quote has {line_count} lines"))?;
        if std::mem::replace(slot, true) {
            return Err(format!("lines[{i}] reprices line {line} a second time"));
        }
        let reason = self.reasons.get(reason as usize).ok_or_else(|| {
            format!(
                "lines[{i}].reason = {reason} but there are {} reasons",
                self.reasons.len()
            )
        })?;
        self.lines.push(LinePrice {
            line,
            unit_price,
            reason: reason.clone(),
        });
        Ok(())
    }

    fn done(self) -> Vec<LinePrice> {
        self.lines
    }
}

/// Who asks for an action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// The actor's partner.
    #[serde(default)]
    pub partner: Option<PartnerId>,
    /// Staff or customer id.
    #[serde(default)]
    pub id: Option<i64>,
    /// Role.
    pub role: Role,
}

/// The customer an action concerns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectCustomer {
    /// Id.
    pub id: CustomerId,
    /// Resale or referral.
    pub association: Association,
    /// Freeze state.
    pub freeze: FreezeState,
    /// Assigned manager.
    #[serde(default)]
    pub manager: Option<i64>,
}

/// An action awaiting a decision: the input of the `approval-rule` world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// What is asked.
    pub kind: ApprovalKind,
    /// When.
    pub as_of: DateTime<Utc>,
    /// Who asks.
    pub actor: Principal,
    /// Whose rules apply.
    pub partner: PartnerId,
    /// The customer concerned.
    #[serde(default)]
    pub customer: Option<SubjectCustomer>,
    /// The reseller concerned.
    #[serde(default)]
    pub reseller: Option<PartnerId>,
    /// The order concerned.
    #[serde(default)]
    pub order: Option<OrderId>,
    /// The amount at stake.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub amount: Option<Decimal>,
    /// Currency of the amount.
    pub currency: Currency,
}

impl ApprovalRequest {
    /// Validates the request and converts it into the WIT record.
    pub fn to_wit(&self) -> Result<wa::ApprovalRequest, InputError> {
        if let Some(amount) = self.amount
            && amount.is_sign_negative()
            && !amount.is_zero()
        {
            return Err(invalid("amount", "must not be negative"));
        }
        Ok(wa::ApprovalRequest {
            kind: approval_kind(self.kind),
            as_of: self.as_of.timestamp_millis(),
            actor: wa::Principal {
                partner: self
                    .actor
                    .partner
                    .map(|p| id_to_wit(p, || "actor.partner".into()))
                    .transpose()?,
                id: self.actor.id.map(|p| id_to_wit(p, || "actor.id".into())).transpose()?,
                role: role(self.actor.role),
            },
            partner: id_to_wit(self.partner, || "partner".into())?,
            customer: self
                .customer
                .as_ref()
                .map(|c| -> Result<_, InputError> {
                    Ok(wa::SubjectCustomer {
                        id: id_to_wit(c.id, || "customer.id".into())?,
                        association: association(c.association),
                        freeze: freeze(c.freeze),
                        manager: c
                            .manager
                            .map(|m| id_to_wit(m, || "customer.manager".into()))
                            .transpose()?,
                    })
                })
                .transpose()?,
            reseller: self.reseller.map(|r| id_to_wit(r, || "reseller".into())).transpose()?,
            order: self.order.map(|o| id_to_wit(o, || "order".into())).transpose()?,
            amount: self.amount.map(|a| decimal_to_wit(a, "amount")).transpose()?,
            currency: self.currency.to_string(),
        })
    }
}

/// An approval rule's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Decision {
    /// Proceed.
    Approve,
    /// Refuse, with the reason.
    Reject {
        /// Why.
        reason: String,
    },
    /// A person holding `role` decides.
    Escalate {
        /// Who decides.
        role: Role,
        /// Why.
        reason: String,
    },
}

impl Decision {
    /// Validates a plugin's raw decision.
    pub fn from_wit(raw: wa::Decision, max_reason_bytes: usize) -> Result<Self, String> {
        let check = |reason: String| {
            if reason.len() > max_reason_bytes {
                Err(format!(
                    "reason is {} bytes; the limit is {max_reason_bytes}",
                    reason.len()
                ))
            } else {
                Ok(reason)
            }
        };
        Ok(match raw {
            wa::Decision::Approve => Decision::Approve,
            wa::Decision::Reject(reason) => Decision::Reject { reason: check(reason)? },
            wa::Decision::Escalate(e) => Decision::Escalate {
                role: role_from_wit(e.role),
                reason: check(e.reason)?,
            },
        })
    }
}

pub(crate) fn charging_mode(m: ChargingMode) -> wt::ChargingMode {
    match m {
        ChargingMode::YearlyMonthly => wt::ChargingMode::YearlyMonthly,
        ChargingMode::OnDemand => wt::ChargingMode::OnDemand,
    }
}

pub(crate) fn period(p: PeriodType) -> catalog::PeriodType {
    match p {
        PeriodType::Hour => catalog::PeriodType::Hour,
        PeriodType::Day => catalog::PeriodType::Day,
        PeriodType::Month => catalog::PeriodType::Month,
        PeriodType::Year => catalog::PeriodType::Year,
        PeriodType::OneTime => catalog::PeriodType::OneTime,
    }
}

pub(crate) fn period_from_wit(p: catalog::PeriodType) -> PeriodType {
    match p {
        catalog::PeriodType::Hour => PeriodType::Hour,
        catalog::PeriodType::Day => PeriodType::Day,
        catalog::PeriodType::Month => PeriodType::Month,
        catalog::PeriodType::Year => PeriodType::Year,
        catalog::PeriodType::OneTime => PeriodType::OneTime,
    }
}

fn partner_kind(k: PartnerKind) -> wt::PartnerKind {
    match k {
        PartnerKind::SolutionProvider => wt::PartnerKind::SolutionProvider,
        PartnerKind::Distributor => wt::PartnerKind::Distributor,
        PartnerKind::Reseller => wt::PartnerKind::Reseller,
        PartnerKind::Seller => wt::PartnerKind::Seller,
    }
}

pub(crate) fn association(a: Association) -> wt::Association {
    match a {
        Association::Resale => wt::Association::Resale,
        Association::Referral => wt::Association::Referral,
    }
}

pub(crate) fn freeze(f: FreezeState) -> wt::FreezeState {
    match f {
        FreezeState::NotFrozen => wt::FreezeState::NotFrozen,
        FreezeState::AccountFrozen => wt::FreezeState::AccountFrozen,
        FreezeState::AccountAndResourcesFrozen => wt::FreezeState::AccountAndResourcesFrozen,
    }
}

fn role(r: Role) -> wt::Role {
    match r {
        Role::PlatformOperator => wt::Role::PlatformOperator,
        Role::PartnerAdmin => wt::Role::PartnerAdmin,
        Role::CustomerManager => wt::Role::CustomerManager,
        Role::Supervisor => wt::Role::Supervisor,
        Role::Salesperson => wt::Role::Salesperson,
        Role::Customer => wt::Role::Customer,
    }
}

fn role_from_wit(r: wt::Role) -> Role {
    match r {
        wt::Role::PlatformOperator => Role::PlatformOperator,
        wt::Role::PartnerAdmin => Role::PartnerAdmin,
        wt::Role::CustomerManager => Role::CustomerManager,
        wt::Role::Supervisor => Role::Supervisor,
        wt::Role::Salesperson => Role::Salesperson,
        wt::Role::Customer => Role::Customer,
    }
}

fn approval_kind(k: ApprovalKind) -> wa::ApprovalKind {
    match k {
        ApprovalKind::Refund => wa::ApprovalKind::Refund,
        ApprovalKind::PaymentOnBehalf => wa::ApprovalKind::PaymentOnBehalf,
        ApprovalKind::CouponIssue => wa::ApprovalKind::CouponIssue,
        ApprovalKind::BalanceAllocation => wa::ApprovalKind::BalanceAllocation,
        ApprovalKind::CustomerUnfreeze => wa::ApprovalKind::CustomerUnfreeze,
        ApprovalKind::ResellerInvitation => wa::ApprovalKind::ResellerInvitation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_cross_exactly_and_refuse_what_does_not_fit() {
        let d = |s: &str| Decimal::from_str_exact(s).expect("decimal literal");
        let parts = |v: &str| decimal_to_wit(d(v), "x").map(|w| (w.mantissa, w.scale));
        assert_eq!(parts("12.345600"), Ok((12345600, 6)));
        assert_eq!(parts("1.000000000000"), Ok((1, 0)));
        assert_eq!(
            decimal_from_wit(wt::Decimal {
                mantissa: 123456,
                scale: 4
            }),
            Ok(d("12.3456"))
        );
        assert!(matches!(
            decimal_to_wit(d("0.00000000001"), "x"),
            Err(InputError::Invalid { .. })
        ));
        assert!(matches!(
            decimal_to_wit(d("99999999999999999999"), "x"),
            Err(InputError::Invalid { .. })
        ));
        assert!(decimal_from_wit(wt::Decimal { mantissa: 1, scale: 11 }).is_err());
    }

    #[test]
    fn amounts_must_be_decimal_strings_not_json_numbers() {
        let line = r#"{"product":0,"period":"month","period_count":1,"quantity":1,"list_unit_price":10.5,"unit_price":"10.5"}"#;
        assert!(serde_json::from_str::<QuoteLine>(line).is_err());
        let line = line.replace("10.5,", "\"10.5\",");
        assert!(serde_json::from_str::<QuoteLine>(&line).is_ok());
    }

    #[test]
    fn adjustments_pointing_nowhere_are_refused() {
        let raw = |line, reason| wp::PriceAdjustments {
            lines: vec![wp::LinePrice {
                line,
                unit_price: wt::Decimal { mantissa: 1, scale: 0 },
                reason,
            }],
            reasons: vec!["r".into()],
        };
        assert!(PriceAdjustments::from_wit(raw(0, 0), 1, 100).is_ok());
        assert_eq!(
            PriceAdjustments::from_wit(raw(1, 0), 1, 100),
            Err("lines[0].line = 1 but the quote has 1 lines".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit(raw(0, 3), 1, 100),
            Err("lines[0].reason = 3 but there are 1 reasons".into())
        );
    }

    fn quote_with_prices(prices: &[&str]) -> Quote {
        let d = |s: &str| Decimal::from_str_exact(s).expect("decimal literal");
        Quote {
            currency: Currency::CNY,
            as_of: DateTime::<Utc>::UNIX_EPOCH,
            partner: None,
            customer: None,
            products: vec![Product {
                id: 1,
                seller: None,
                service_type: "ECS".into(),
                resource_type: "cloudserver".into(),
                spec_code: "s6.large.2".into(),
                region: "cn-north-4".into(),
                charging_mode: ChargingMode::YearlyMonthly,
            }],
            lines: prices
                .iter()
                .map(|p| QuoteLine {
                    product: 0,
                    period: PeriodType::Month,
                    period_count: 1,
                    quantity: 1,
                    list_unit_price: d("100"),
                    unit_price: d(p),
                })
                .collect(),
        }
    }

    #[test]
    fn columnar_lines_keep_each_prices_own_scale() {
        let wit = quote_with_prices(&["88.5", "0.0000001", "60000.00"])
            .to_wit_v2()
            .expect("valid");
        assert_eq!(wit.lines.unit_price, vec![885, 1, 6_000_000]);
        assert_eq!(wit.lines.unit_price_scale, vec![1, 7, 2]);
        assert_eq!(wit.lines.list_unit_price, vec![100; 3]);
        assert_eq!(wit.lines.list_unit_price_scale, vec![0; 3]);
        assert_eq!(wit.lines.product.len(), 3);
        assert_eq!(wit.lines.period.len(), 3);
    }

    #[test]
    fn a_columnar_price_beyond_the_contract_is_refused_naming_it() {
        let refused = quote_with_prices(&["1", "99999999999999999999"]).to_wit_v2();
        assert_eq!(
            refused.map(|q| q.lines.unit_price),
            Err(InputError::Invalid {
                field: "lines[1].unit_price".into(),
                message: "99999999999999999999 is out of range".into()
            })
        );
        let negative = quote_with_prices(&["-1"]).to_wit_v2().map(|q| q.lines.unit_price);
        assert_eq!(
            negative,
            Err(InputError::Invalid {
                field: "lines[0].unit_price".into(),
                message: "must not be negative".into()
            })
        );
    }

    #[test]
    fn columnar_answers_with_ragged_columns_or_bad_indices_are_refused() {
        let raw = |line: Vec<u32>, scale: Vec<u8>, reason: Vec<u32>| wp2::PriceAdjustments {
            unit_price: vec![1; line.len()],
            line,
            unit_price_scale: scale,
            reason,
            reasons: vec!["r".into()],
        };
        let ok = PriceAdjustments::from_wit_v2(raw(vec![1, 0], vec![2, 0], vec![0, 0]), 2, 100).expect("valid");
        assert_eq!(
            ok.lines
                .iter()
                .map(|l| (l.line, l.unit_price.to_string()))
                .collect::<Vec<_>>(),
            vec![(1, "0.01".to_owned()), (0, "1".to_owned())]
        );
        assert!(
            Arc::ptr_eq(&ok.lines[0].reason, &ok.lines[1].reason),
            "one reason, shared"
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![0, 1], vec![0], vec![0, 0]), 2, 100),
            Err("column unit-price-scale has 1 elements but column line has 2".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![0, 0], vec![0, 0], vec![0, 0]), 2, 100),
            Err("lines[1] reprices line 0 a second time".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![2], vec![0], vec![0]), 2, 100),
            Err("lines[0].line = 2 but the quote has 2 lines".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![0], vec![11], vec![0]), 2, 100),
            Err("lines[0].unit_price: decimal scale 11 exceeds 10".into())
        );
        assert_eq!(
            PriceAdjustments::from_wit_v2(raw(vec![0], vec![0], vec![1]), 2, 100),
            Err("lines[0].reason = 1 but there are 1 reasons".into())
        );
    }
}
