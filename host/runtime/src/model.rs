//! The JSON form of what crosses the plugin boundary: inputs as the API and the CLI accept
//! them, outputs as they print them. Money is a decimal string, never a JSON number.
//!
//! Conversion into the WIT types validates everything a plugin must be able to rely on; the
//! conversions each contract version needs are in its module of [`crate::wit`], the ones all
//! versions share are here.

use crate::wit::{catalog, types as wt};
use chrono::{DateTime, Utc};
use pchost_domain::{
    ApprovalKind, Association, ChargingMode, Currency, CustomerId, DiscountKind, FreezeState, OrderId, PartnerId,
    PartnerKind, PeriodType, Product, Role,
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

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> InputError {
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
pub(crate) fn decimal_to_wit_at(value: Decimal, field: impl Fn() -> String) -> Result<wt::Decimal, InputError> {
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
pub(crate) fn id_to_wit(id: i64, field: impl FnOnce() -> String) -> Result<u64, InputError> {
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
    /// Why the quote is asked for (told to rules from extension@0.3.0 on).
    #[serde(default)]
    pub purpose: QuotePurpose,
    /// The resources renewed or changed, at most one per line (extension@0.3.0 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<LineResource>,
    /// The settings of the binding the rule runs under (extension@0.3.0 on): set per step of
    /// the chain, recorded with the input in the invocation audit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<Setting>,
}

/// Why a quote is asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotePurpose {
    /// A new subscription.
    #[default]
    NewPurchase,
    /// Extending the term of existing resources.
    Renewal,
    /// Changing existing resources' specification.
    SpecChange,
    /// Pay-per-use resources.
    OnDemand,
}

/// The existing resource a quote line renews or changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineResource {
    /// Index into the quote's lines.
    pub line: u32,
    /// The resource.
    pub id: i64,
    /// Its product's specification today.
    pub spec_code: String,
    /// The period its term is bought per.
    pub period: PeriodType,
    /// When its current term ends.
    pub expires_at: DateTime<Utc>,
}

/// One setting of a binding, typed as the plugin's manifest declares it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: SettingValue,
}

/// A setting's value: `{"decimal": "0.08"}`, `{"integer": 3}`, `{"text": "gold"}` or
/// `{"flag": true}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum SettingValue {
    /// An exact decimal.
    Decimal(#[serde(with = "rust_decimal::serde::str")] Decimal),
    /// An integer.
    Integer(i64),
    /// A string, or a one-of setting's option.
    Text(String),
    /// A boolean.
    Flag(bool),
}

impl SettingValue {
    /// Rough encoded size.
    pub(crate) fn encoded_size(&self) -> usize {
        match self {
            SettingValue::Text(text) => 8 + text_size(text),
            _ => 24,
        }
    }
}

/// Rough encoded size of a list of settings.
pub(crate) fn settings_size(settings: &[Setting]) -> usize {
    settings
        .iter()
        .map(|s| text_size(&s.name) + s.value.encoded_size())
        .sum()
}

/// Rough encoded size of a string field: its bytes plus the pointer and length.
pub(crate) fn text_size(s: &str) -> usize {
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
        let resources: usize = self.resources.iter().map(|r| 48 + text_size(&r.spec_code)).sum();
        64 + products + self.lines.len() * 48 + resources + settings_size(&self.settings)
    }

    /// What every contract version requires of the lines: products that exist, prices that
    /// are not negative.
    pub(crate) fn check_lines(&self) -> Result<(), InputError> {
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
        let mut seen = vec![false; self.lines.len()];
        for (i, r) in self.resources.iter().enumerate() {
            let Some(seen) = seen.get_mut(r.line as usize) else {
                return Err(invalid(
                    format!("resources[{i}].line"),
                    format!("index {} but the quote has {} lines", r.line, self.lines.len()),
                ));
            };
            if std::mem::replace(seen, true) {
                return Err(invalid(
                    format!("resources[{i}].line"),
                    format!("line {} has a resource already", r.line),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn products_to_wit(&self) -> Result<Vec<catalog::Product>, InputError> {
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

    pub(crate) fn partner_parts(&self) -> Result<Option<(u64, wt::PartnerKind, Option<u64>)>, InputError> {
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

    pub(crate) fn customer_parts(&self) -> Result<Option<(u64, wt::Association, wt::FreezeState, u8)>, InputError> {
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

/// A quote's lines as the columns of extension@0.2.0 and later: line `i` is the `i`-th
/// element of every column.
pub(crate) struct LineColumns {
    pub(crate) product: Vec<u32>,
    pub(crate) period: Vec<catalog::PeriodType>,
    pub(crate) period_count: Vec<u32>,
    pub(crate) quantity: Vec<u32>,
    pub(crate) list_unit_price: Vec<i64>,
    pub(crate) list_unit_price_scale: Vec<u8>,
    pub(crate) unit_price: Vec<i64>,
    pub(crate) unit_price_scale: Vec<u8>,
}

impl Quote {
    /// The lines as columns (checked by [`Quote::check_lines`] first).
    pub(crate) fn line_columns(&self) -> Result<LineColumns, InputError> {
        self.check_lines()?;
        let n = self.lines.len();
        let mut columns = LineColumns {
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
            columns.product.push(l.product);
            columns.period.push(period(l.period));
            columns.period_count.push(l.period_count);
            columns.quantity.push(l.quantity);
            let list = decimal_to_wit_at(l.list_unit_price, || format!("lines[{i}].list_unit_price"))?;
            columns.list_unit_price.push(list.mantissa);
            columns.list_unit_price_scale.push(list.scale);
            let unit = decimal_to_wit_at(l.unit_price, || format!("lines[{i}].unit_price"))?;
            columns.unit_price.push(unit.mantissa);
            columns.unit_price_scale.push(unit.scale);
        }
        Ok(columns)
    }
}

/// The repriced-line columns of a columnar answer (extension@0.2.0 and later).
pub(crate) struct AnswerColumns<'a> {
    pub(crate) line: &'a [u32],
    pub(crate) unit_price: &'a [i64],
    pub(crate) unit_price_scale: &'a [u8],
    pub(crate) reason: &'a [u32],
}

impl AnswerColumns<'_> {
    /// The repriced lines, checked: every column has one element per repriced line, and
    /// every line as [`Repriced::push`] requires.
    pub(crate) fn repriced(&self, mut lines: Repriced<'_>) -> Result<Vec<LinePrice>, String> {
        let n = self.line.len();
        for (column, len) in [
            ("unit-price", self.unit_price.len()),
            ("unit-price-scale", self.unit_price_scale.len()),
            ("reason", self.reason.len()),
        ] {
            if len != n {
                return Err(format!("column {column} has {len} elements but column line has {n}"));
            }
        }
        for i in 0..n {
            let unit_price = decimal_from_wit(wt::Decimal {
                mantissa: self.unit_price[i],
                scale: self.unit_price_scale[i],
            })
            .map_err(|e| format!("lines[{i}].unit_price: {e}"))?;
            lines.push(i, self.line[i], unit_price, self.reason[i])?;
        }
        Ok(lines.done())
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
    /// The kind of price change, as the rule declared it (extension@0.3.0 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DiscountKind>,
}

/// A pricing rule's validated answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceAdjustments {
    /// Repriced lines, in the order the plugin gave them.
    pub lines: Vec<LinePrice>,
}

/// A rule's reasons, each within the size limit, shared by the lines that cite them.
pub(crate) fn checked_reasons(reasons: Vec<String>, max_reason_bytes: usize) -> Result<Vec<Arc<str>>, String> {
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
pub(crate) struct Repriced<'a> {
    seen: Vec<bool>,
    reasons: &'a [Arc<str>],
    kinds: &'a [DiscountKind],
    lines: Vec<LinePrice>,
}

impl<'a> Repriced<'a> {
    pub(crate) fn new(line_count: usize, repriced: usize, reasons: &'a [Arc<str>]) -> Self {
        Repriced {
            seen: vec![false; line_count],
            reasons,
            kinds: &[],
            lines: Vec::with_capacity(repriced.min(line_count)),
        }
    }

    /// Each reason's kind of adjustment, one per reason, given to the lines citing it.
    pub(crate) fn with_kinds(mut self, kinds: &'a [DiscountKind]) -> Result<Self, String> {
        if kinds.len() != self.reasons.len() {
            return Err(format!(
                "{} reasons but {} reason kinds: every reason declares its kind",
                self.reasons.len(),
                kinds.len()
            ));
        }
        self.kinds = kinds;
        Ok(self)
    }

    /// Adds the `i`-th repriced line of the answer.
    pub(crate) fn push(&mut self, i: usize, line: u32, unit_price: Decimal, reason_index: u32) -> Result<(), String> {
        let line_count = self.seen.len();
        let slot = self
            .seen
            .get_mut(line as usize)
            .ok_or_else(|| format!("lines[{i}].line = {line} but the quote has {line_count} lines"))?;
        if std::mem::replace(slot, true) {
            return Err(format!("lines[{i}] reprices line {line} a second time"));
        }
        let reason = self.reasons.get(reason_index as usize).ok_or_else(|| {
            format!(
                "lines[{i}].reason = {reason_index} but there are {} reasons",
                self.reasons.len()
            )
        })?;
        self.lines.push(LinePrice {
            line,
            unit_price,
            reason: reason.clone(),
            kind: self.kinds.get(reason_index as usize).copied(),
        });
        Ok(())
    }

    pub(crate) fn done(self) -> Vec<LinePrice> {
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
    /// The action with what a rule needs to decide it, as extension@0.3.0 rules receive it.
    /// Absent for the six kinds 0.1.0 knows when only the fields above are known (then
    /// [`ApprovalRequest::action`] derives it from them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ActionDetail>,
    /// The settings of the binding the rule runs under (extension@0.3.0 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<Setting>,
}

/// An account money or a quota moves to or from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Counterpart {
    /// A customer.
    Customer(CustomerId),
    /// A reseller.
    Reseller(PartnerId),
}

/// What is taken back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Reclaimed {
    /// Allocated balance.
    Balance {
        /// From whom.
        counterpart: Counterpart,
        /// How much.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// An unused coupon.
    Coupon {
        /// The coupon.
        coupon: i64,
        /// Its face value.
        #[serde(with = "rust_decimal::serde::str")]
        face: Decimal,
    },
    /// The unissued part of a quota split to a reseller.
    Quota {
        /// The split quota.
        quota: i64,
        /// The reseller holding it.
        reseller: PartnerId,
    },
}

/// A gated action with what a rule needs to decide it (the `approval-action` variant of
/// extension@0.3.0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ActionDetail {
    /// Refunding part or all of a paid order.
    Refund {
        /// The order.
        order: OrderId,
        /// The refund.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// The partner paying a customer's order.
    PaymentOnBehalf {
        /// The order.
        order: OrderId,
        /// Its amount due.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// Issuing a coupon.
    CouponIssue {
        /// The quota.
        quota: i64,
        /// Face value.
        #[serde(with = "rust_decimal::serde::str")]
        face: Decimal,
    },
    /// Allocating balance.
    BalanceAllocation {
        /// The receiver.
        counterpart: Counterpart,
        /// How much.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// Lifting the customer's freeze.
    CustomerUnfreeze {
        /// The freeze lifted.
        freeze: FreezeState,
    },
    /// A distributor inviting a reseller.
    ResellerInvitation {
        /// The reseller.
        reseller: PartnerId,
    },
    /// Unsubscribing a resource with its children.
    Unsubscribe {
        /// The main resource.
        resource: i64,
        /// The order that bought it.
        order: OrderId,
        /// The refund its unused term comes to.
        #[serde(with = "rust_decimal::serde::str")]
        refund: Decimal,
    },
    /// Renewing a resource.
    Renewal {
        /// The resource.
        resource: i64,
        /// Its period.
        period: PeriodType,
        /// Periods added.
        period_count: u32,
        /// When its current term ends.
        expires_at: DateTime<Utc>,
    },
    /// Taking back balance, a coupon or a quota.
    Reclaim(Reclaimed),
    /// Splitting a coupon quota to a reseller.
    QuotaSplit {
        /// The distributor's quota.
        quota: i64,
        /// The reseller.
        reseller: PartnerId,
        /// The amount split.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
        /// The largest face value of its coupons.
        #[serde(with = "rust_decimal::serde::str")]
        max_face: Decimal,
    },
    /// Freezing the customer.
    Freeze {
        /// The freeze asked for.
        freeze: FreezeState,
    },
    /// Setting the customer's budget.
    Budget {
        /// The new budget.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// Changing the customer's association.
    AssociationChange {
        /// The association asked for.
        association: Association,
    },
    /// Unbinding the customer from the partner.
    Unbind,
    /// A new order, before the customer may pay it.
    OrderReview {
        /// The order.
        order: OrderId,
        /// Its amount.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// Cancelling an unpaid order.
    Cancel {
        /// The order.
        order: OrderId,
    },
}

impl ApprovalRequest {
    /// The actor as every contract version carries it: partner, id, role.
    pub(crate) fn actor_parts(&self) -> Result<(Option<u64>, Option<u64>, wt::Role), InputError> {
        Ok((
            self.actor
                .partner
                .map(|p| id_to_wit(p, || "actor.partner".into()))
                .transpose()?,
            self.actor.id.map(|p| id_to_wit(p, || "actor.id".into())).transpose()?,
            role(self.actor.role),
        ))
    }

    /// The customer concerned as every contract version carries it.
    #[allow(clippy::type_complexity, reason = "the fields of one WIT record, in order")]
    pub(crate) fn customer_parts(
        &self,
    ) -> Result<Option<(u64, wt::Association, wt::FreezeState, Option<u64>)>, InputError> {
        self.customer
            .as_ref()
            .map(|c| {
                Ok((
                    id_to_wit(c.id, || "customer.id".into())?,
                    association(c.association),
                    freeze(c.freeze),
                    c.manager
                        .map(|m| id_to_wit(m, || "customer.manager".into()))
                        .transpose()?,
                ))
            })
            .transpose()
    }

    /// The action in full: [`Self::detail`], or what the fields of the six kinds 0.1.0 knows
    /// say about it. `None` when neither is enough (an approval check naming no order, say).
    pub fn action(&self) -> Option<ActionDetail> {
        if let Some(detail) = &self.detail {
            return Some(detail.clone());
        }
        let customer = self.customer.as_ref();
        Some(match self.kind {
            ApprovalKind::Refund => ActionDetail::Refund {
                order: self.order?,
                amount: self.amount?,
            },
            ApprovalKind::PaymentOnBehalf => ActionDetail::PaymentOnBehalf {
                order: self.order?,
                amount: self.amount?,
            },
            ApprovalKind::CouponIssue => return None,
            ApprovalKind::BalanceAllocation => ActionDetail::BalanceAllocation {
                counterpart: match (self.reseller, customer) {
                    (Some(reseller), _) => Counterpart::Reseller(reseller),
                    (None, Some(customer)) => Counterpart::Customer(customer.id),
                    (None, None) => return None,
                },
                amount: self.amount?,
            },
            ApprovalKind::CustomerUnfreeze => ActionDetail::CustomerUnfreeze {
                freeze: customer?.freeze,
            },
            ApprovalKind::ResellerInvitation => ActionDetail::ResellerInvitation {
                reseller: self.reseller?,
            },
            // The kinds of 0.3.0 are described by their detail only.
            _ => return None,
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

pub(crate) fn partner_kind(k: PartnerKind) -> wt::PartnerKind {
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

pub(crate) fn role(r: Role) -> wt::Role {
    match r {
        Role::PlatformOperator => wt::Role::PlatformOperator,
        Role::PartnerAdmin => wt::Role::PartnerAdmin,
        Role::CustomerManager => wt::Role::CustomerManager,
        Role::Supervisor => wt::Role::Supervisor,
        Role::Salesperson => wt::Role::Salesperson,
        Role::Customer => wt::Role::Customer,
    }
}

pub(crate) fn role_from_wit(r: wt::Role) -> Role {
    match r {
        wt::Role::PlatformOperator => Role::PlatformOperator,
        wt::Role::PartnerAdmin => Role::PartnerAdmin,
        wt::Role::CustomerManager => Role::CustomerManager,
        wt::Role::Supervisor => Role::Supervisor,
        wt::Role::Salesperson => Role::Salesperson,
        wt::Role::Customer => Role::Customer,
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
}
