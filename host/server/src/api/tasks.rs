//! Approval tasks: actions an approval rule escalated to a role, waiting for a person. A
//! principal with that role (or above it: a supervisor for a customer manager's or
//! salesperson's task, the partner admin for any, the operator) approves it, which carries the
//! action out, or rejects it, which refuses it. Rule 16 applies: a decider must see the
//! customer the task concerns. Four eyes: whoever requested the action decides it with none
//! of its keys (`self-approval`, enforced by the store), and a task for the platform operator
//! is decided by the operator only.

use super::Page;
use crate::api::extract::{Body, Params, Path};
use crate::auth::{Access, Caller, Principal};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use pchost_domain::Role;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_store::keys::{KeyPrincipal, principal_of_label};
use pchost_store::store::Store;
use pchost_store::tasks::{ApprovalTask, TaskFilter, TaskStatus};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Which tasks.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// `pending`, `approved`, `rejected` or `failed`.
    #[param(value_type = Option<String>)]
    pub status: Option<TaskStatus>,
    /// Ids above this one.
    #[serde(default)]
    pub after: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Lists the approval tasks of the caller's partner (the operator: all), oldest first; a
/// manager, supervisor or salesperson sees those of the customers it sees (rule 16).
#[utoipa::path(get, path = "/v1/approval-tasks", tag = "approvals", params(TaskQuery),
    responses((status = 200, description = "tasks: kind, role, reason, the escalating plugin, the action, status, decision"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<TaskQuery>,
) -> Result<Json<Vec<ApprovalTask>>, AppError> {
    caller.need("approvals", Access::Read)?;
    let Params(query) = query;
    let limit = Page {
        after: query.after,
        limit: query.limit,
    }
    .limit()?;
    let partner = if caller.is_operator() {
        None
    } else {
        Some(caller.staff()?.1.id)
    };
    // Rule 16: a manager, supervisor or salesperson sees only the tasks of its customers, and
    // the query leaves the others out, so that a page is full whenever more follow.
    let filter = TaskFilter {
        partner,
        status: query.status,
        managers: caller.managers_seen(),
    };
    Ok(Json(state.store.tasks(&filter, query.after, limit).await?))
}

/// Gets a task of the caller's partner.
#[utoipa::path(get, path = "/v1/approval-tasks/{id}", tag = "approvals", params(("id" = i64, Path)),
    responses((status = 200, description = "the task"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ApprovalTask>, AppError> {
    caller.need("approvals", Access::Read)?;
    let own = if caller.is_operator() {
        None
    } else {
        Some(caller.staff()?.1.id)
    };
    let task = load(&state.store, &caller, id).await?;
    if own.is_some_and(|partner| partner != task.partner) {
        return Err(AppError::refused(
            ErrorCode::OutOfScope,
            format!("task {id} is another partner's"),
        ));
    }
    if let Some(customer) = task.customer {
        caller.customer(&state, customer).await?;
    }
    Ok(Json(task))
}

/// A decision's note.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why (kept with the task; at most 1 KiB).
    #[serde(default)]
    pub note: Option<String>,
}

/// Approves a task: the action is carried out now, as it would have been without the
/// escalation. If the action is then refused (the balance fell short meanwhile, say), the
/// task ends `failed` with the refusal as its outcome.
#[utoipa::path(post, path = "/v1/approval-tasks/{id}/approve", tag = "approvals", params(("id" = i64, Path)), request_body = Decision,
    responses((status = 200, description = "the decided task, with the action's outcome"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    payload: Body<Decision>,
) -> Result<Json<ApprovalTask>, AppError> {
    caller.need("approvals", Access::Write)?;
    let Body(decision) = payload;
    decidable(&state, &caller, id, &decision).await?;
    let task =
        pchost_extensions::approvals::decide_task(&state.store, id, true, &caller.label(), decision.note.as_deref())
            .await?;
    record_decision(&state, &caller, "task.approve", &task).await?;
    Ok(Json(task))
}

/// Rejects a task: the action is refused and never carried out.
#[utoipa::path(post, path = "/v1/approval-tasks/{id}/reject", tag = "approvals", params(("id" = i64, Path)), request_body = Decision,
    responses((status = 200, description = "the rejected task"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    payload: Body<Decision>,
) -> Result<Json<ApprovalTask>, AppError> {
    caller.need("approvals", Access::Write)?;
    let Body(decision) = payload;
    decidable(&state, &caller, id, &decision).await?;
    let task =
        pchost_extensions::approvals::decide_task(&state.store, id, false, &caller.label(), decision.note.as_deref())
            .await?;
    record_decision(&state, &caller, "task.reject", &task).await?;
    Ok(Json(task))
}

/// Records a decision in the administrative audit, for the task's partner.
async fn record_decision(state: &AppState, caller: &Caller, action: &str, task: &ApprovalTask) -> Result<(), AppError> {
    crate::api::record_event(
        state,
        caller,
        Some(task.partner),
        action,
        format!("task:{}", task.id),
        serde_json::json!({ "kind": task.kind, "requested_by": task.requested_by, "status": task.status }),
    )
    .await
}

/// Task `id`. A missing one is, to anyone but the operator, refused as another partner's
/// would be: task ids tell nothing of other tenants' approvals.
async fn load(store: &Store, caller: &Caller, id: i64) -> Result<ApprovalTask, AppError> {
    match store.task(id).await? {
        Some(task) => Ok(task),
        None if caller.is_operator() => Err(AppError::not_found(Entity::ApprovalTask, id)),
        None => Err(AppError::refused(
            ErrorCode::OutOfScope,
            format!("task {id} is another partner's"),
        )),
    }
}

/// The task, when the caller may decide it: the operator; or staff of the task's partner
/// whose role is the task's, or above it, and who see the customer concerned (rule 16).
async fn decidable(state: &AppState, caller: &Caller, id: i64, decision: &Decision) -> Result<ApprovalTask, AppError> {
    if decision.note.as_ref().is_some_and(|n| n.len() > 1024) {
        return Err(AppError::field("note", "at most 1024 bytes"));
    }
    let task = load(&state.store, caller, id).await?;
    if let Principal::Staff { staff, partner, .. } = &caller.principal {
        if partner.id != task.partner {
            return Err(AppError::refused(
                ErrorCode::OutOfScope,
                format!("task {id} is another partner's"),
            ));
        }
        // A task for the platform operator is the operator's alone (four eyes across the
        // tenant line): no partner role is above it.
        let may = task.role != Role::PlatformOperator
            && (staff.role == task.role
                || staff.role == Role::PartnerAdmin
                || (staff.role == Role::Supervisor && matches!(task.role, Role::CustomerManager | Role::Salesperson)));
        if !may {
            return Err(AppError::refused(
                ErrorCode::RoleNotPermitted,
                format!("task {id} needs a {}; the caller is a {}", task.role, staff.role),
            ));
        }
    } else if !caller.is_operator() {
        return Err(AppError::refused(
            ErrorCode::RoleNotPermitted,
            "only partner staff or the operator decide tasks",
        ));
    }
    if let Some(customer) = task.customer {
        caller.customer(state, customer).await?;
    }
    // Four eyes, beyond the requester's own keys (which the store refuses): a key the
    // requester made, or made from a key it made or held, may be in its hands too.
    // The operator registers every partner's first admin, so every partner key descends from
    // one it made: its own requests are held to its own keys only (the store's check).
    if let Some(requester) = principal_of_label(&task.requested_by)
        && requester != KeyPrincipal::Operator
        && state.store.key_line_touches(caller.key_id, requester).await?
    {
        return Err(AppError::refused(
            ErrorCode::SelfApproval,
            format!(
                "task {id} was requested by {}, who made or held this key or a key it was made with: decide with a key it never held (made by the operator or another admin)",
                task.requested_by
            ),
        ));
    }
    // And the other way round: an action asked with a key the decider made or held (one it
    // minted for a colleague, a new staff member's first key) is the decider's own request.
    if let (Some(asked_with), Principal::Staff { staff, .. }) = (task.requested_key, &caller.principal)
        && state
            .store
            .key_line_touches(asked_with, KeyPrincipal::Staff(staff.id))
            .await?
    {
        return Err(AppError::refused(
            ErrorCode::SelfApproval,
            format!(
                "task {id} was asked with a key {} made or held: another person decides it",
                caller.label()
            ),
        ));
    }
    if task.status != TaskStatus::Pending {
        return Err(AppError::refused(
            ErrorCode::TaskNotPending,
            format!("task {id} is already {}", task.status),
        ));
    }
    Ok(task)
}
