//! A reseller's unsubscribe approval (DOMAIN rule 10): unsubscribing a frozen customer's
//! resource is rejected; an unsubscription whose refund is above `threshold` (5,000 unless
//! the binding's `threshold` setting says otherwise) goes to a partner admin; anything else is
//! approved. Other actions are not this rule's concern and are approved.

use pchost_plugin_sdk::approval_rule_v3::{
    ApprovalAction, ApprovalRequest, Decision, Escalation, FreezeState, Guest, Role, RuleError,
};
use pchost_plugin_sdk::rust_decimal::Decimal;

/// The refund above which a partner admin decides, when the binding sets no `threshold`.
const DEFAULT_THRESHOLD: Decimal = Decimal::from_parts(5_000, 0, 0, false, 0);

struct UnsubscribeApproval;

impl Guest for UnsubscribeApproval {
    fn decide(request: ApprovalRequest) -> Result<Decision, RuleError> {
        let ApprovalAction::Unsubscribe(unsubscribe) = &request.action else {
            return Ok(Decision::Approve);
        };
        if let Some(customer) = &request.customer
            && customer.freeze != FreezeState::NotFrozen
        {
            return Ok(Decision::Reject(format!(
                "customer {} is frozen: its resources are not unsubscribed until it is unfrozen",
                customer.id
            )));
        }
        let threshold = request.decimal_setting("threshold").unwrap_or(DEFAULT_THRESHOLD);
        let refund = unsubscribe.refund.to_decimal();
        if refund > threshold {
            return Ok(Decision::Escalate(Escalation {
                role: Role::PartnerAdmin,
                reason: format!(
                    "unsubscribing resource {} refunds {refund} {}, above {threshold}: a partner admin decides (rule 10)",
                    unsubscribe.resource_id, request.currency
                ),
            }));
        }
        Ok(Decision::Approve)
    }
}

pchost_plugin_sdk::approval_rule_v3::export_approval_rule!(UnsubscribeApproval);
