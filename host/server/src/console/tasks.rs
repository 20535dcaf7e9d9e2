//! Approval tasks the session's role may see (rule 16), with approve and reject; four eyes
//! and every other check are the API's.

use super::page::{done, failure, json_block, time, token};
use super::{Fields, Nav, Posted, Session, page};
use crate::api::extract::{Body, Params, Path};
use crate::api::tasks::{self as api, Decision, TaskQuery};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use pchost_store::tasks::TaskStatus;

type Page = Result<Response, Response>;

/// Tasks a page lists.
const PAGE: u32 = 100;

pub(super) async fn list(State(state): State<AppState>, session: Session, query: Fields) -> Page {
    let fail = |e| failure(Some(&session), e);
    let status = match query.filled("status") {
        None => Some(TaskStatus::Pending),
        Some("all") => None,
        Some(word) => Some(
            serde_json::from_value(serde_json::Value::String(word.to_owned()))
                .map_err(|_| fail(AppError::field("status", "pending, approved, rejected, failed or all")))?,
        ),
    };
    let shown = query.filled("status").unwrap_or("pending");
    let after = query
        .filled("after")
        .map(|a| a.parse::<i64>().map_err(|_| AppError::field("after", "a task id")))
        .transpose()
        .map_err(fail)?
        .unwrap_or(0);
    let Json(tasks) = api::list(
        State(state),
        session.caller.clone(),
        Params(TaskQuery {
            status,
            after,
            limit: Some(PAGE),
        }),
    )
    .await
    .map_err(fail)?;
    // The tasks of customers the caller does not see (rule 16) are left out by the query, so a
    // page holds fewer than PAGE only when no more follow.
    let next = tasks.last().filter(|_| tasks.len() == PAGE as usize).map(|t| t.id);
    let body = html! {
        (done(query.get("done")))
        p.help {
            "Actions an approval rule escalated to a role. A task is decided by someone with its role or above "
            "(a supervisor for a manager's or salesperson's task, a partner admin for any) who sees its customer, "
            "and never by whoever asked for the action: four eyes. Oldest first."
        }
        nav.tabs aria-label="Task status" {
            ul {
                @for s in ["pending", "approved", "rejected", "failed", "all"] {
                    li { a href=(format!("/console/tasks?status={s}")) aria-current=[(s == shown).then_some("page")] { (s) } }
                }
            }
        }
        @if tasks.is_empty() {
            p { "No " @if shown != "all" { (shown) " " } "tasks you may see." }
        }
        @if after > 0 {
            p { "Tasks after #" (after) ". " a href=(format!("/console/tasks?status={shown}")) { "From the first" } }
        }
        @for task in &tasks {
            article.task aria-labelledby=(format!("task-{}", task.id)) {
                h2 #(format!("task-{}", task.id)) {
                    "Task #" (task.id) ": " (task.kind)
                    @if let Some(c) = task.customer { " for customer " (c) }
                }
                dl.facts {
                    dt { "Status" } dd { strong { (task.status) } }
                    dt { "For" } dd { "a " (task.role) }
                    dt { "Why" } dd { (task.reason) }
                    dt { "Escalated by" } dd { (task.plugin) }
                    dt { "Asked by" } dd { (task.requested_by) " at " (time(task.created_at)) }
                    @if let Some(by) = &task.decided_by {
                        dt { "Decided by" } dd { (by) @if let Some(at) = task.decided_at { " at " (time(at)) } }
                    }
                }
                details {
                    summary { "The action" }
                    (json_block(&task.action.to_string()))
                }
                @if let Some(outcome) = &task.outcome {
                    details open {
                        summary { "Outcome" }
                        (json_block(&outcome.to_string()))
                    }
                }
                @if task.status == TaskStatus::Pending {
                    @let note = format!("note-{}", task.id);
                    form.stack method="post" action=(format!("/console/tasks/{}/approve", task.id)) {
                        (token(&session))
                        label for=(note) { "Reason (kept with a rejection)" }
                        textarea #(note) name="note" rows="2" maxlength="1024" {}
                        div.actions {
                            button type="submit" { "Approve" span.visually-hidden { " task " (task.id) } }
                            button.danger type="submit" formaction=(format!("/console/tasks/{}/reject", task.id)) {
                                "Reject" span.visually-hidden { " task " (task.id) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(last) = next {
            p { a href=(format!("/console/tasks?status={shown}&after={last}")) { "Later tasks" } }
        }
    };
    Ok(page(&session, Nav::Tasks, "Approval tasks", body))
}

pub(super) async fn decide(
    State(state): State<AppState>,
    axum::extract::Path((id, decision)): axum::extract::Path<(String, String)>,
    posted: Posted,
) -> Page {
    let session = &posted.session;
    let fail = |e| failure(Some(session), e);
    let id: i64 = id
        .parse()
        .map_err(|_| fail(AppError::field("path", "a task id is a number")))?;
    let note = Decision {
        note: posted.fields.filled("note").map(str::to_owned),
    };
    let (caller, path) = (session.caller.clone(), Path(id));
    let Json(task) = match decision.as_str() {
        "approve" => api::approve(State(state), caller, path, Body(note)).await,
        "reject" => api::reject(State(state), caller, path, Body(note)).await,
        _ => Err(AppError::field("path", "approve or reject")),
    }
    .map_err(fail)?;
    let done = match task.status {
        TaskStatus::Rejected => "rejected",
        TaskStatus::Failed => "approved-failed",
        _ => "approved",
    };
    // The page that starts with the decided task.
    Ok(Redirect::to(&format!(
        "/console/tasks?status=all&after={}&done={done}#task-{id}",
        id - 1
    ))
    .into_response())
}
