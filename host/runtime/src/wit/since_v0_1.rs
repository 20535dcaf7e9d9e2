//! Contract `partner-center:extension@0.1.0`: its worlds' bindings, the conversions of the
//! host's model into its records and back, and the checks of its answers. Its pricing world
//! also generates every shared capability interface (`types`, `log`, `customers`, ...), which
//! every later version reuses (see [`super`]).

use crate::failure::FailureKind;
use crate::limits::RuntimeLimits;
use crate::model::{
    self, ApprovalRequest, Decision, InputError, PriceAdjustments, Quote, Repriced, checked_reasons, decimal_from_wit,
    decimal_to_wit, decimal_to_wit_at, id_to_wit, invalid, period, role_from_wit, text_size,
};
use crate::state::InvocationState;
use pchost_domain::ApprovalKind;

/// The `pricing-rule` world and every shared interface.
pub mod pricing {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "partner-center:extension/pricing-rule@0.1.0",
        imports: { default: async },
        exports: { default: async },
    });
}

/// The `approval-rule` world.
pub mod approval {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "partner-center:extension/approval-rule@0.1.0",
        imports: { default: async },
        exports: { default: async },
        with: {
            "partner-center:types/types": super::pricing::partner_center::types::types,
            "partner-center:log/log": super::pricing::partner_center::log::log,
            "partner-center:customer/customers": super::pricing::partner_center::customer::customers,
            "partner-center:order/orders": super::pricing::partner_center::order::orders,
            "partner-center:pricing/catalog": super::pricing::partner_center::pricing::catalog,
            "partner-center:invoicing/invoices": super::pricing::partner_center::invoicing::invoices,
            "partner-center:extension/errors@0.1.0": super::pricing::partner_center::extension0_1_0::errors,
        },
    });
}

use approval::partner_center::extension0_1_0::approval_types as wa;
pub use pricing::partner_center::extension0_1_0::errors::RuleError;
use pricing::partner_center::extension0_1_0::pricing_types as wp;

// The contract's type-only interfaces: nothing to implement.
impl pricing::partner_center::extension0_1_0::errors::Host for InvocationState {}
impl pricing::partner_center::extension0_1_0::pricing_types::Host for InvocationState {}
impl approval::partner_center::extension0_1_0::approval_types::Host for InvocationState {}

impl Quote {
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

    /// Rough size of a raw 0.1.0 answer, checked before it is validated.
    pub fn raw_size(raw: &wp::PriceAdjustments) -> usize {
        raw.lines.len() * 24 + raw.reasons.iter().map(|r| text_size(r)).sum::<usize>()
    }
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
        let (actor, customer) = super::approval_request_parts!(self, wa);
        Ok(wa::ApprovalRequest {
            kind: approval_kind(self.kind)
                .ok_or_else(|| invalid("kind", format!("extension@0.1.0 rules do not decide {}", self.kind)))?,
            as_of: self.as_of.timestamp_millis(),
            actor,
            partner: id_to_wit(self.partner, || "partner".into())?,
            customer,
            reseller: self.reseller.map(|r| id_to_wit(r, || "reseller".into())).transpose()?,
            order: self.order.map(|o| id_to_wit(o, || "order".into())).transpose()?,
            amount: self.amount.map(|a| decimal_to_wit(a, "amount")).transpose()?,
            currency: self.currency.to_string(),
        })
    }
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

/// The kind as 0.1.0 names it; `None` for the kinds it does not know (its rules are not asked
/// about them: `ApprovalKind::known_to_v0_1`).
fn approval_kind(k: ApprovalKind) -> Option<wa::ApprovalKind> {
    Some(match k {
        ApprovalKind::Refund => wa::ApprovalKind::Refund,
        ApprovalKind::PaymentOnBehalf => wa::ApprovalKind::PaymentOnBehalf,
        ApprovalKind::CouponIssue => wa::ApprovalKind::CouponIssue,
        ApprovalKind::BalanceAllocation => wa::ApprovalKind::BalanceAllocation,
        ApprovalKind::CustomerUnfreeze => wa::ApprovalKind::CustomerUnfreeze,
        ApprovalKind::ResellerInvitation => wa::ApprovalKind::ResellerInvitation,
        _ => return None,
    })
}

/// A 0.1.0 pricing rule's answer, checked against the quote it was given and the limits.
pub(crate) fn checked_price(
    answer: Result<wp::PriceAdjustments, RuleError>,
    line_count: usize,
    limits: &RuntimeLimits,
) -> Result<model::PriceAdjustments, FailureKind> {
    super::check_price_answer(
        answer,
        PriceAdjustments::raw_size,
        |raw| PriceAdjustments::from_wit(raw, line_count, limits.max_reason_bytes),
        limits,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::types as wt;

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
}
