//! A partner's refund approval: a frozen customer's refund is rejected; a refund above
//! 50,000 goes to a customer manager (DOMAIN rule 10); anything else is approved.
//! Actions other than refunds are not this rule's concern and are approved.

use pchost_plugin_sdk::approval_rule::{
    ApprovalKind, ApprovalRequest, Decision, Escalation, FreezeState, Guest, Role, RuleError,
};
use pchost_plugin_sdk::rust_decimal::Decimal;

/// Refunds above this amount need a customer manager's approval (rule 10).
const APPROVAL_THRESHOLD: Decimal = Decimal::from_parts(50_000, 0, 0, false, 0);

struct RefundApproval;

impl Guest for RefundApproval {
    fn decide(request: ApprovalRequest) -> Result<Decision, RuleError> {
        if request.kind != ApprovalKind::Refund {
            return Ok(Decision::Approve);
        }
        let customer = request
            .customer
            .ok_or_else(|| RuleError::InvalidInput("a refund request names its customer".into()))?;
        if customer.freeze != FreezeState::NotFrozen {
            return Ok(Decision::Reject(format!(
                "customer {} is frozen: refunds are suspended until it is unfrozen",
                customer.id
            )));
        }
        let amount = request
            .amount
            .ok_or_else(|| RuleError::InvalidInput("a refund request carries its amount".into()))?
            .to_decimal();
        if amount > APPROVAL_THRESHOLD {
            return Ok(Decision::Escalate(Escalation {
                role: Role::CustomerManager,
                reason: format!(
                    "refund of {amount} {} is above {APPROVAL_THRESHOLD}: a customer manager must approve it (rule 10)",
                    request.currency
                ),
            }));
        }
        Ok(Decision::Approve)
    }
}

pchost_plugin_sdk::approval_rule::export_approval_rule!(RefundApproval);
