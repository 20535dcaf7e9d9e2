//! A partner's refund approval: a frozen customer's refund is rejected; a refund above the
//! binding's `threshold` (50,000 by default) goes to a customer manager (DOMAIN rule 10);
//! anything else is approved. Actions other than refunds are not this rule's concern and are
//! approved.

use pchost_plugin_sdk::approval_rule_v3::{
    ApprovalAction, ApprovalRequest, Decision, Escalation, FreezeState, Guest, Role, RuleError,
};
use pchost_plugin_sdk::rust_decimal::Decimal;

/// The default `plugin.toml` declares: the host always sends it when a binding sets none, so
/// this serves only a run without a manifest (`pchost plugin run`).
const DEFAULT_THRESHOLD: Decimal = Decimal::from_parts(50_000, 0, 0, false, 0);

struct RefundApproval;

impl Guest for RefundApproval {
    fn decide(request: ApprovalRequest) -> Result<Decision, RuleError> {
        let ApprovalAction::Refund(refund) = &request.action else {
            return Ok(Decision::Approve);
        };
        let customer = request
            .customer
            .as_ref()
            .ok_or_else(|| RuleError::InvalidInput("a refund request names its customer".into()))?;
        if customer.freeze != FreezeState::NotFrozen {
            return Ok(Decision::Reject(format!(
                "customer {} is frozen: refunds are suspended until it is unfrozen",
                customer.id
            )));
        }
        let threshold = request.decimal_setting("threshold").unwrap_or(DEFAULT_THRESHOLD);
        let amount = refund.amount.to_decimal();
        if amount > threshold {
            return Ok(Decision::Escalate(Escalation {
                role: Role::CustomerManager,
                reason: format!(
                    "refund of {amount} {} is above {threshold}: a customer manager must approve it (rule 10)",
                    request.currency
                ),
            }));
        }
        Ok(Decision::Approve)
    }
}

pchost_plugin_sdk::approval_rule_v3::export_approval_rule!(RefundApproval);
