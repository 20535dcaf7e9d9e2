//! The approval gate: every approval rule bound to the action's extension point (the
//! platform's, then the acting partner's) decides under its binding's failure policy, and
//! the answers combine: any reject rejects, else any escalate escalates, else approve.

use crate::PluginHost;
use crate::actions::Action;
use crate::audit::AuditLog;
use crate::bound::{PolicyApplied, StepOutcome, plugin_id, run_bound, settings_for};
use crate::error::ExtensionError;
use chrono::{DateTime, Utc};
use pchost_domain::Role;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_runtime::model::{self, Decision};
use pchost_runtime::{FailureKind, PluginFailure, World, WorldVersion};
use pchost_store::Store;
use pchost_store::bindings::BindingScope;
use pchost_store::tasks::ApprovalTask;
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
        // A rule is asked only about the actions its contract version knows: 0.1.0 and 0.2.0
        // rules about six, 0.3.0 rules about every gated action.
        let version = host
            .runtime
            .plugin(&plugin_id(binding, &binding.version))
            .map(|p| p.manifest.world_version);
        if !request.kind.known_to_v0_1() && version.is_some_and(|v| v < WorldVersion::V0_3) {
            continue;
        }
        let request = &model::ApprovalRequest {
            settings: settings_for(&host.runtime, binding)?,
            ..request.clone()
        };
        let outcome = run_bound(
            &host.runtime,
            binding,
            request,
            request.as_of,
            audit,
            |plugin| host.runtime.decide(&plugin.id, request, host.data.clone()),
            |plugin, decision| {
                escalation_in_bounds(binding.scope, decision).map_err(|why| PluginFailure {
                    plugin: plugin.manifest.label(),
                    digest: plugin.digest.clone(),
                    kind: FailureKind::InvalidOutput(why),
                    // The invocation's own usage is on its audit record already.
                    usage: Default::default(),
                })
            },
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

/// Refuses an escalation to a role the rule's scope may not hand an action to: a person
/// decides, never the customer; and a partner's rule keeps its actions inside the partner,
/// so only a platform rule may escalate to the platform operator (four eyes: a tenant must
/// not be able to queue work for the operator, nor an operator's task for its own staff).
pub fn escalation_in_bounds(scope: BindingScope, decision: Decision) -> Result<Decision, String> {
    match &decision {
        Decision::Escalate {
            role: Role::Customer, ..
        } => Err("an escalation goes to a partner's staff or the platform operator, not to the customer".into()),
        Decision::Escalate {
            role: Role::PlatformOperator,
            ..
        } if scope != BindingScope::Platform => Err(format!(
            "a {scope} rule escalates to roles inside the partner; only a platform rule escalates to the platform operator"
        )),
        _ => Ok(decision),
    }
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

/// Decides a pending approval task (the caller's right to was checked): approving claims it
/// and carries its action out, recording the outcome (`failed` when the action is refused);
/// rejecting claims it with the note. Of two racing deciders exactly one wins; the other gets
/// `task-not-pending`.
pub async fn decide_task(
    store: &Store,
    id: i64,
    approve: bool,
    decided_by: &str,
    note: Option<&str>,
) -> Result<ApprovalTask, ExtensionError> {
    let task = store
        .task(id)
        .await?
        .ok_or_else(|| ExtensionError::not_found(Entity::ApprovalTask, id))?;
    let action = serde_json::from_value::<Action>(task.action)
        .map_err(|e| ExtensionError::Internal(anyhow::anyhow!("task {id} holds an unreadable action: {e}")))?
        .keyed_for_task(id);
    if !approve {
        let note = serde_json::json!({ "rejected": note.unwrap_or_default() });
        let task = store
            .decide_task(id, false, decided_by, Some(&note), Utc::now())
            .await?;
        action.on_rejection(store).await?;
        tracing::info!(task = id, by = %decided_by, "approval task rejected");
        return Ok(task);
    }
    // An approval keeps no note: the outcome is the action's result.
    let task = store.decide_task(id, true, decided_by, None, Utc::now()).await?;
    let task = carry_out(store, task.id, &action, Utc::now()).await?;
    tracing::info!(task = id, status = %task.status, by = %decided_by, "approval task approved");
    Ok(task)
}

/// Carries out the action of approved task `id` and records its outcome: its result, or the
/// refusal that stopped it (the task is then `failed`).
async fn carry_out(
    store: &Store,
    id: i64,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<ApprovalTask, ExtensionError> {
    let (outcome, failed) = match action.execute(store, now).await {
        Ok(result) => (result, false),
        Err(refusal) if refusal.code() == ErrorCode::Internal => return Err(refusal),
        Err(refusal) => (
            serde_json::json!({ "code": refusal.code(), "message": refusal.to_string() }),
            true,
        ),
    };
    Ok(store.record_task_outcome(id, &outcome, failed).await?)
}

/// How long after its approval a task's action must have recorded its outcome: past it, the
/// host that approved it stopped half-way (an action is a few store transactions, done in
/// well under a second), and [`finish_interrupted_tasks`] takes over.
pub const OUTCOME_GRACE: chrono::Duration = chrono::Duration::minutes(2);

/// The outbox of approval tasks (run by the scheduler): an approved task with no outcome
/// [`OUTCOME_GRACE`] after its approval was interrupted between the approval and the end of
/// its action. An action that is safe to run again ([`Action::replays_safely`]: keyed by its
/// request, or setting a state) is carried out again, doing whatever was left undone once;
/// any other is marked `failed` with the code `action-interrupted`, for a person to check
/// what took effect, rather than risk doing it twice. Returns the tasks finished.
pub async fn finish_interrupted_tasks(store: &Store, now: DateTime<Utc>) -> Result<Vec<ApprovalTask>, ExtensionError> {
    let mut finished = Vec::new();
    for task in store.tasks_without_outcome(now - OUTCOME_GRACE).await? {
        let action = serde_json::from_value::<Action>(task.action.clone())
            .map_err(|e| ExtensionError::Internal(anyhow::anyhow!("task {} holds an unreadable action: {e}", task.id)))?
            .keyed_for_task(task.id);
        let result = if action.replays_safely() {
            carry_out(store, task.id, &action, now).await
        } else {
            let outcome = serde_json::json!({
                "code": ErrorCode::ActionInterrupted,
                "message": "the host stopped while carrying this action out, and doing it twice would not be safe: check whether it took effect, and ask again if not",
            });
            store
                .record_task_outcome(task.id, &outcome, true)
                .await
                .map_err(Into::into)
        };
        match result {
            Ok(task) => {
                tracing::warn!(task = task.id, status = %task.status, "interrupted approval task finished");
                finished.push(task);
            }
            // Another instance recorded it meanwhile.
            Err(e) if e.code() == ErrorCode::TaskOutcomeRecorded => {}
            Err(e) => return Err(e),
        }
    }
    Ok(finished)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn four_eyes_a_partners_rule_escalates_inside_the_partner_and_no_rule_to_the_customer() {
        let to = |role| Decision::Escalate {
            role,
            reason: "big".into(),
        };
        for scope in [BindingScope::Partner, BindingScope::Seller] {
            assert!(
                escalation_in_bounds(scope, to(Role::PlatformOperator)).is_err(),
                "{scope}"
            );
            for role in [
                Role::PartnerAdmin,
                Role::CustomerManager,
                Role::Supervisor,
                Role::Salesperson,
            ] {
                assert_eq!(escalation_in_bounds(scope, to(role)), Ok(to(role)));
            }
        }
        assert_eq!(
            escalation_in_bounds(BindingScope::Platform, to(Role::PlatformOperator)),
            Ok(to(Role::PlatformOperator))
        );
        for scope in [BindingScope::Platform, BindingScope::Partner] {
            assert!(escalation_in_bounds(scope, to(Role::Customer)).is_err());
            assert_eq!(escalation_in_bounds(scope, Decision::Approve), Ok(Decision::Approve));
        }
    }
}
