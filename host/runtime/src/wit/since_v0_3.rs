//! Contract `partner-center:extension@0.3.0`: pricing with the quote's purpose, the resources
//! a line renews or changes, and adjustments that declare their kind; approval requests that
//! carry every gated action as a typed case; both with the settings of their binding. Its
//! bindings reuse the shared capability interfaces that [`super::since_v0_1`] generates, and
//! the columnar lines of 0.2.0 (`model::LineColumns`, `model::AnswerColumns`).

use super::since_v0_1::RuleError;
use super::types as wt;
use crate::failure::FailureKind;
use crate::limits::RuntimeLimits;
use crate::model::{
    self, ActionDetail, AnswerColumns, ApprovalRequest, Counterpart, Decision, InputError, LineResource,
    PriceAdjustments, Quote, QuotePurpose, Reclaimed, Repriced, Setting, SettingValue, association, checked_reasons,
    decimal_to_wit, freeze, id_to_wit, invalid, period, text_size,
};
use crate::state::InvocationState;
use pchost_domain::DiscountKind;

/// The `pricing-rule` world of extension@0.3.0; it also generates the version's `common`
/// interface, which the approval world reuses.
pub mod pricing {
    crate::wit::bindgen_sharing_capabilities!("partner-center:extension/pricing-rule@0.3.0");
}

/// The `approval-rule` world of extension@0.3.0.
pub mod approval {
    crate::wit::bindgen_sharing_capabilities!(
        "partner-center:extension/approval-rule@0.3.0",
        "partner-center:extension/common@0.3.0": super::pricing::partner_center::extension0_3_0::common
    );
}

use approval::partner_center::extension0_3_0::approval_types as wa3;
use pricing::partner_center::extension0_3_0::common as wc3;
use pricing::partner_center::extension0_3_0::pricing_types as wp3;

// The contract's type-only interfaces: nothing to implement.
impl wc3::Host for InvocationState {}
impl wp3::Host for InvocationState {}
impl wa3::Host for InvocationState {}

/// 0.3.0's `rule-error` means what 0.1.0's does: the host handles one.
impl From<wc3::RuleError> for RuleError {
    fn from(error: wc3::RuleError) -> Self {
        match error {
            wc3::RuleError::InvalidInput(message) => RuleError::InvalidInput(message),
            wc3::RuleError::Capability(error) => RuleError::Capability(error),
        }
    }
}

fn settings_to_wit(settings: &[Setting]) -> Result<Vec<wc3::Setting>, InputError> {
    settings
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let value = match &s.value {
                SettingValue::Decimal(d) => wc3::SettingValue::Decimal(decimal_to_wit(*d, &format!("settings[{i}]"))?),
                SettingValue::Integer(n) => wc3::SettingValue::Integer(*n),
                SettingValue::Text(t) => wc3::SettingValue::Text(t.clone()),
                SettingValue::Flag(b) => wc3::SettingValue::Flag(*b),
            };
            Ok(wc3::Setting {
                name: s.name.clone(),
                value,
            })
        })
        .collect()
}

fn purpose(p: QuotePurpose) -> wp3::Purpose {
    match p {
        QuotePurpose::NewPurchase => wp3::Purpose::NewPurchase,
        QuotePurpose::Renewal => wp3::Purpose::Renewal,
        QuotePurpose::SpecChange => wp3::Purpose::SpecChange,
        QuotePurpose::OnDemand => wp3::Purpose::OnDemand,
    }
}

fn discount_kind(k: wp3::DiscountKind) -> DiscountKind {
    match k {
        wp3::DiscountKind::SellerDiscount => DiscountKind::SellerDiscount,
        wp3::DiscountKind::PartnerGranted => DiscountKind::PartnerGranted,
        wp3::DiscountKind::Promotion => DiscountKind::Promotion,
        wp3::DiscountKind::Contract => DiscountKind::Contract,
        wp3::DiscountKind::Markup => DiscountKind::Markup,
    }
}

fn resource_to_wit(i: usize, r: &LineResource) -> Result<wp3::LineResource, InputError> {
    Ok(wp3::LineResource {
        line: r.line,
        id: id_to_wit(r.id, || format!("resources[{i}].id"))?,
        spec_code: r.spec_code.clone(),
        period: period(r.period),
        expires_at: r.expires_at.timestamp_millis(),
    })
}

impl Quote {
    /// Validates the quote and converts it into the WIT record of extension@0.3.0.
    pub fn to_wit_v3(&self) -> Result<wp3::Quote, InputError> {
        let (partner, customer, lines) = super::columnar_quote_parts!(self, wp3);
        Ok(wp3::Quote {
            purpose: purpose(self.purpose),
            currency: self.currency.to_string(),
            as_of: self.as_of.timestamp_millis(),
            partner,
            customer,
            products: self.products_to_wit()?,
            lines,
            resources: self
                .resources
                .iter()
                .enumerate()
                .map(|(i, r)| resource_to_wit(i, r))
                .collect::<Result<_, _>>()?,
            settings: settings_to_wit(&self.settings)?,
        })
    }
}

impl PriceAdjustments {
    /// Validates a 0.3.0 answer: the columns of 0.2.0, and one kind per reason.
    pub fn from_wit_v3(raw: wp3::PriceAdjustments, line_count: usize, max_reason_bytes: usize) -> Result<Self, String> {
        let reasons = checked_reasons(raw.reasons, max_reason_bytes)?;
        let kinds: Vec<DiscountKind> = raw.reason_kind.into_iter().map(discount_kind).collect();
        let columns = AnswerColumns {
            line: &raw.line,
            unit_price: &raw.unit_price,
            unit_price_scale: &raw.unit_price_scale,
            reason: &raw.reason,
        };
        let lines = columns.repriced(Repriced::new(line_count, raw.line.len(), &reasons).with_kinds(&kinds)?)?;
        Ok(PriceAdjustments { lines })
    }

    /// Rough size of a raw 0.3.0 answer, checked before it is validated.
    pub fn raw_size_v3(raw: &wp3::PriceAdjustments) -> usize {
        raw.line.len() * 4
            + raw.unit_price.len() * 8
            + raw.unit_price_scale.len()
            + raw.reason.len() * 4
            + raw.reason_kind.len()
            + raw.reasons.iter().map(|r| text_size(r)).sum::<usize>()
    }
}

/// A 0.3.0 pricing rule's answer, checked against the quote it was given and the limits.
pub(crate) fn checked_price_v3(
    answer: Result<wp3::PriceAdjustments, wc3::RuleError>,
    line_count: usize,
    limits: &RuntimeLimits,
) -> Result<model::PriceAdjustments, FailureKind> {
    super::check_price_answer(
        answer.map_err(RuleError::from),
        PriceAdjustments::raw_size_v3,
        |raw| PriceAdjustments::from_wit_v3(raw, line_count, limits.max_reason_bytes),
        limits,
    )
}

fn amount(value: rust_decimal::Decimal, field: &str) -> Result<wt::Decimal, InputError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(invalid(field, "must not be negative"));
    }
    decimal_to_wit(value, field)
}

fn counterpart(c: Counterpart, field: &str) -> Result<wa3::Counterpart, InputError> {
    Ok(match c {
        Counterpart::Customer(id) => wa3::Counterpart::Customer(id_to_wit(id, || field.to_owned())?),
        Counterpart::Reseller(id) => wa3::Counterpart::Reseller(id_to_wit(id, || field.to_owned())?),
    })
}

fn order_amount(order: i64, value: rust_decimal::Decimal) -> Result<wa3::OrderAmount, InputError> {
    Ok(wa3::OrderAmount {
        order: id_to_wit(order, || "action.order".into())?,
        amount: amount(value, "action.amount")?,
    })
}

fn action_to_wit(action: &ActionDetail) -> Result<wa3::ApprovalAction, InputError> {
    let id = |value: i64, field: &'static str| id_to_wit(value, || field.to_owned());
    Ok(match action {
        ActionDetail::Refund { order, amount: a } => wa3::ApprovalAction::Refund(order_amount(*order, *a)?),
        ActionDetail::PaymentOnBehalf { order, amount: a } => {
            wa3::ApprovalAction::PaymentOnBehalf(order_amount(*order, *a)?)
        }
        ActionDetail::CouponIssue { quota, face } => wa3::ApprovalAction::CouponIssue(wa3::CouponIssue {
            quota: id(*quota, "action.quota")?,
            face: amount(*face, "action.face")?,
        }),
        ActionDetail::BalanceAllocation {
            counterpart: c,
            amount: a,
        } => wa3::ApprovalAction::BalanceAllocation(wa3::Transfer {
            counterpart: counterpart(*c, "action.counterpart")?,
            amount: amount(*a, "action.amount")?,
        }),
        ActionDetail::CustomerUnfreeze { freeze: f } => wa3::ApprovalAction::CustomerUnfreeze(freeze(*f)),
        ActionDetail::ResellerInvitation { reseller } => {
            wa3::ApprovalAction::ResellerInvitation(id(*reseller, "action.reseller")?)
        }
        ActionDetail::Unsubscribe {
            resource,
            order,
            refund,
        } => wa3::ApprovalAction::Unsubscribe(wa3::Unsubscribe {
            resource_id: id(*resource, "action.resource")?,
            order: id(*order, "action.order")?,
            refund: amount(*refund, "action.refund")?,
        }),
        ActionDetail::Renewal {
            resource,
            period: p,
            period_count,
            expires_at,
        } => wa3::ApprovalAction::Renewal(wa3::Renewal {
            resource_id: id(*resource, "action.resource")?,
            period: period(*p),
            period_count: *period_count,
            expires_at: expires_at.timestamp_millis(),
        }),
        ActionDetail::Reclaim(what) => wa3::ApprovalAction::Reclaim(match what {
            Reclaimed::Balance {
                counterpart: c,
                amount: a,
            } => wa3::Reclaim::Balance(wa3::Transfer {
                counterpart: counterpart(*c, "action.counterpart")?,
                amount: amount(*a, "action.amount")?,
            }),
            Reclaimed::Coupon { coupon, face } => {
                wa3::Reclaim::Coupon((id(*coupon, "action.coupon")?, amount(*face, "action.face")?))
            }
            Reclaimed::Quota { quota, reseller } => {
                wa3::Reclaim::Quota((id(*quota, "action.quota")?, id(*reseller, "action.reseller")?))
            }
        }),
        ActionDetail::QuotaSplit {
            quota,
            reseller,
            amount: a,
            max_face,
        } => wa3::ApprovalAction::QuotaSplit(wa3::QuotaSplit {
            quota: id(*quota, "action.quota")?,
            reseller: id(*reseller, "action.reseller")?,
            amount: amount(*a, "action.amount")?,
            max_face: amount(*max_face, "action.max_face")?,
        }),
        ActionDetail::Freeze { freeze: f } => wa3::ApprovalAction::Freeze(freeze(*f)),
        ActionDetail::Budget { amount: a } => wa3::ApprovalAction::Budget(amount(*a, "action.amount")?),
        ActionDetail::AssociationChange { association: a } => wa3::ApprovalAction::AssociationChange(association(*a)),
        ActionDetail::Unbind => wa3::ApprovalAction::Unbind,
        ActionDetail::OrderReview { order, amount: a } => wa3::ApprovalAction::OrderReview(order_amount(*order, *a)?),
        ActionDetail::Cancel { order } => wa3::ApprovalAction::Cancel(id(*order, "action.order")?),
    })
}

impl ApprovalRequest {
    /// Validates the request and converts it into the WIT record of extension@0.3.0. The
    /// action must be known in full ([`ApprovalRequest::action`]).
    pub fn to_wit_v3(&self) -> Result<wa3::ApprovalRequest, InputError> {
        let action = self.action().ok_or_else(|| {
            invalid(
                "action",
                format!("a {} request names too little for an extension@0.3.0 rule", self.kind),
            )
        })?;
        let (actor, customer) = super::approval_request_parts!(self, wa3);
        Ok(wa3::ApprovalRequest {
            action: action_to_wit(&action)?,
            as_of: self.as_of.timestamp_millis(),
            actor,
            partner: id_to_wit(self.partner, || "partner".into())?,
            customer,
            currency: self.currency.to_string(),
            settings: settings_to_wit(&self.settings)?,
        })
    }
}

impl Decision {
    /// Validates a 0.3.0 rule's raw decision: the same checks as 0.1.0's.
    pub fn from_wit_v3(raw: wa3::Decision, max_reason_bytes: usize) -> Result<Self, String> {
        use super::since_v0_1::approval::partner_center::extension0_1_0::approval_types as wa;
        Decision::from_wit(
            match raw {
                wa3::Decision::Approve => wa::Decision::Approve,
                wa3::Decision::Reject(reason) => wa::Decision::Reject(reason),
                wa3::Decision::Escalate(e) => wa::Decision::Escalate(wa::Escalation {
                    role: e.role,
                    reason: e.reason,
                }),
            },
            max_reason_bytes,
        )
    }
}
