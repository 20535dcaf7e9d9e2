//! The approval gate: every approval rule bound to the action's extension point (the
//! platform's, then the acting partner's) decides under its binding's failure policy, and
//! the answers combine: any reject rejects, else any escalate escalates, else approve.

use crate::PluginHost;
use crate::audit::AuditLog;
use crate::bound::{PolicyApplied, StepOutcome, run_bound};
use crate::error::ExtensionError;
use pchost_runtime::World;
use pchost_runtime::model::{self, Decision};
use pchost_store::bindings::BindingScope;
use serde::Serialize;
use utoipa::ToSchema;

/// One rule's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleDecision {
    /// The binding.
    pub binding: i64,
    /// `name@version`.
    pub plugin: String,
    /// sha256 of the component.
    pub digest: String,
    /// Its decision.
    #[schema(value_type = Object)]
    pub decision: Decision,
    /// Fuel burnt.
    pub fuel_used: u64,
    /// Wall time.
    pub wall_time_us: u64,
}

/// The combined answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalOutcome {
    /// The combined decision: `{"decision":"approve"}`, `{"decision":"reject","reason":..}`
    /// or `{"decision":"escalate","role":..,"reason":..}`.
    #[schema(value_type = Object)]
    pub decision: Decision,
    /// Each rule's answer, in the order they ran.
    pub rules: Vec<RuleDecision>,
    /// Rules whose plugin failed and whose binding's policy skipped it or fell back.
    pub policies: Vec<PolicyApplied>,
}

/// Asks the bound approval rules about `request`.
pub fn decide(
    host: &PluginHost,
    request: &model::ApprovalRequest,
    audit: &mut AuditLog,
) -> Result<ApprovalOutcome, ExtensionError> {
    let mut rules = Vec::new();
    let mut policies = Vec::new();
    let platform = host.bindings.bound(World::ApprovalRule, BindingScope::Platform, None);
    let partner = host
        .bindings
        .bound(World::ApprovalRule, BindingScope::Partner, Some(request.partner));
    for binding in platform.iter().chain(partner.iter()) {
        let outcome = run_bound(
            &host.runtime,
            binding,
            request,
            request.as_of,
            audit,
            |plugin| host.runtime.decide(&plugin.id, request, host.data.clone()),
            |_, decision| Ok(decision),
        )?;
        match outcome {
            StepOutcome::Skipped(policy) => policies.push(policy),
            StepOutcome::Answered {
                plugin,
                value,
                fuel_used,
                wall_time_us,
                policy,
            } => {
                policies.extend(policy);
                rules.push(RuleDecision {
                    binding: binding.id,
                    plugin: plugin.manifest.label(),
                    digest: plugin.digest.clone(),
                    decision: value,
                    fuel_used,
                    wall_time_us,
                });
            }
        }
    }
    Ok(ApprovalOutcome {
        decision: combine(rules.iter().map(|r| &r.decision)),
        rules,
        policies,
    })
}

/// Any reject rejects, else any escalate escalates, else approve.
pub fn combine<'a>(decisions: impl Iterator<Item = &'a Decision> + Clone) -> Decision {
    if let Some(reject) = decisions.clone().find(|d| matches!(d, Decision::Reject { .. })) {
        return reject.clone();
    }
    if let Some(escalate) = decisions.clone().find(|d| matches!(d, Decision::Escalate { .. })) {
        return escalate.clone();
    }
    Decision::Approve
}

#[cfg(test)]
mod tests {
    use super::*;
    use pchost_domain::Role;

    #[test]
    fn any_reject_rejects_else_any_escalate_escalates() {
        let reject = Decision::Reject { reason: "no".into() };
        let escalate = Decision::Escalate {
            role: Role::CustomerManager,
            reason: "big".into(),
        };
        assert_eq!(
            combine([Decision::Approve, escalate.clone(), reject.clone()].iter()),
            reject
        );
        assert_eq!(combine([Decision::Approve, escalate.clone()].iter()), escalate);
        assert_eq!(combine([Decision::Approve].iter()), Decision::Approve);
        assert_eq!(combine([].iter()), Decision::Approve);
    }
}
