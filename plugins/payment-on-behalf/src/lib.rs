//! A partner's rule for paying orders on a resale customer's behalf (DOMAIN rule 22),
//! judged on the customer's order history read through the `order` capability:
//! - a frozen customer's request is rejected;
//! - a customer with no paid order in its recent history goes to the partner admin;
//! - an amount above 5× the customer's largest recent paid order goes to the partner admin;
//! - otherwise the payment is approved.

use pchost_plugin_sdk::approval_rule::{
    ApprovalKind, ApprovalRequest, Decision, Escalation, FreezeState, Guest, Role, RuleError, log, orders,
};
use pchost_plugin_sdk::rust_decimal::Decimal;

/// How many recent orders the rule reads.
const HISTORY: u32 = 20;
/// How many times the largest paid order a new payment may be before a person looks at it.
const GROWTH_LIMIT: Decimal = Decimal::from_parts(5, 0, 0, false, 0);

struct PaymentOnBehalf;

impl Guest for PaymentOnBehalf {
    fn decide(request: ApprovalRequest) -> Result<Decision, RuleError> {
        if request.kind != ApprovalKind::PaymentOnBehalf {
            return Ok(Decision::Approve);
        }
        let customer = request
            .customer
            .ok_or_else(|| RuleError::InvalidInput("a payment on behalf names its customer".into()))?;
        if customer.freeze != FreezeState::NotFrozen {
            return Ok(Decision::Reject(format!(
                "customer {} is frozen: no payment on its behalf",
                customer.id
            )));
        }
        let amount = request
            .amount
            .ok_or_else(|| RuleError::InvalidInput("a payment on behalf carries its amount".into()))?
            .to_decimal();

        let history = orders::recent(customer.id, HISTORY).map_err(RuleError::Capability)?;
        let largest_paid = history
            .iter()
            .filter(|o| o.paid_at.is_some() && o.currency == request.currency)
            .map(|o| o.amount.to_decimal())
            .max();
        log::log(
            log::Level::Info,
            &format!(
                "customer {}: {} recent orders, largest paid {:?}",
                customer.id,
                history.len(),
                largest_paid
            ),
        );
        let Some(largest_paid) = largest_paid else {
            return Ok(Decision::Escalate(Escalation {
                role: Role::PartnerAdmin,
                reason: format!(
                    "customer {} has no paid order in its last {HISTORY}: a partner admin must approve paying on its behalf",
                    customer.id
                ),
            }));
        };
        if amount > largest_paid * GROWTH_LIMIT {
            return Ok(Decision::Escalate(Escalation {
                role: Role::PartnerAdmin,
                reason: format!(
                    "{amount} {} is more than {GROWTH_LIMIT}× the customer's largest recent paid order ({largest_paid})",
                    request.currency
                ),
            }));
        }
        Ok(Decision::Approve)
    }
}

pchost_plugin_sdk::approval_rule::export_approval_rule!(PaymentOnBehalf);
