//! The scheduler inside `serve`: jobs run on a timer. Each job's work is a conditional update
//! in the store, or keyed by an idempotency key, so a crash, an overlapping run or a second
//! instance never does an item twice. A run that did something, or failed, is logged and
//! recorded for the operator (`GET /v1/scheduler/runs`); idle runs are not recorded.
//!
//! Jobs, in this order:
//! - `auto-renew` (rule 11): from 7 days before expiry, an auto-renewing resource is renewed
//!   for one period of its type as its customer's standing instruction: priced by the chain
//!   (purpose renewal), asked of the approval rules, ordered and paid from the customer's
//!   accounts, each under a key naming the resource and the term renewed. Each try is claimed
//!   on the resource first (one instance at a time); one the rules refuse, or the customer
//!   cannot pay (its order waits, payable by hand), is tried again a day later until its term
//!   ends; then its expiry policy applies as for a grace period. One the rules escalate becomes
//!   an approval task, once per term: approved, it orders the renewal, and the next try pays
//!   it; rejected (or failed, its quote expired after 24 hours), the next try asks again.
//! - `apply-expiry-policies` (rule 11): see [`pchost_store::store::Store::apply_expiry_policies`].
//! - `finish-interrupted-tasks`: the approval tasks' outbox, see
//!   [`pchost_extensions::approvals::finish_interrupted_tasks`]. The first run comes as the
//!   server starts, so a task a crash interrupted is finished on the restart.
//! - `expire-unpaid-orders` (rule 8): unpaid orders (pending payment, or still in review)
//!   past their 7 days are cancelled.

use crate::api::approvals::{decide_only, escalate};
use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use pchost_domain::{ApprovalKind, FreezeState, OrderStatus};
use pchost_runtime::model::Decision;
use pchost_store::orders::Payer;
use pchost_store::resources::Resource;
use std::time::Duration;

/// The job that renews auto-renewing resources from 7 days before expiry (rule 11).
pub const AUTO_RENEW: &str = "auto-renew";
/// The job that applies expiry policies at expiry and ends grace periods (rule 11).
pub const APPLY_EXPIRY_POLICIES: &str = "apply-expiry-policies";
/// The approval tasks' outbox: finishes approved tasks whose action was interrupted.
pub const FINISH_INTERRUPTED_TASKS: &str = "finish-interrupted-tasks";
/// The job that cancels pending-payment orders past their deadline (rule 8).
pub const EXPIRE_UNPAID_ORDERS: &str = "expire-unpaid-orders";

/// Runs every job once as of `now`, recording the runs that did something or failed.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> anyhow::Result<()> {
    let store = &state.store;
    let started = Utc::now();
    let renewed = auto_renew(state, now).await;
    record(state, AUTO_RENEW, started, renewed).await?;

    let started = Utc::now();
    let applied = store.apply_expiry_policies(now).await;
    if let Ok(applied) = &applied
        && !applied.is_empty()
    {
        tracing::info!(
            job = APPLY_EXPIRY_POLICIES,
            ?applied,
            "expiry policies applied (rule 11)"
        );
    }
    record(state, APPLY_EXPIRY_POLICIES, started, applied.map(|a| a.len())).await?;

    let started = Utc::now();
    let finished = pchost_extensions::approvals::finish_interrupted_tasks(store, now).await;
    record(state, FINISH_INTERRUPTED_TASKS, started, finished.map(|f| f.len())).await?;

    let started = Utc::now();
    let expired = store.expire_unpaid_orders(now).await;
    if let Ok(expired) = &expired
        && !expired.is_empty()
    {
        tracing::info!(job = EXPIRE_UNPAID_ORDERS, ?expired, "unpaid orders expired (rule 8)");
    }
    record(state, EXPIRE_UNPAID_ORDERS, started, expired.map(|e| e.len())).await
}

/// Records a run that did `items` things, or failed; counts every run for `/metrics`.
async fn record(
    state: &AppState,
    job: &str,
    started: DateTime<Utc>,
    result: Result<usize, impl std::fmt::Display>,
) -> anyhow::Result<()> {
    let store = &state.store;
    let result = result.map_err(|e| e.to_string());
    state.metrics.scheduler_run(job, &result);
    let finished = Utc::now();
    match result {
        Ok(0) => {}
        Ok(items) => {
            store.record_scheduler_run(job, started, finished, items, None).await?;
        }
        Err(error) => {
            tracing::warn!(job, %error, "scheduled job failed; it runs again next time");
            store
                .record_scheduler_run(job, started, finished, 0, Some(&error.to_string()))
                .await?;
        }
    }
    Ok(())
}

/// Renews every auto-renewing resource due at `now`; returns how many renewals were paid.
/// One resource that cannot be renewed now does not hold the others back: it is logged and
/// tried again at the next run.
async fn auto_renew(state: &AppState, now: DateTime<Utc>) -> Result<usize, AppError> {
    let mut paid = 0;
    for resource in state.store.resources_due_for_renewal(now).await? {
        let id = resource.id;
        match renew_one(state, resource, now).await {
            Ok(AutoRenewal::Paid) => paid += 1,
            Ok(AutoRenewal::NotNow(why)) => {
                tracing::info!(job = AUTO_RENEW, resource = id, why, "not renewed this time");
            }
            Err(error) => {
                tracing::warn!(job = AUTO_RENEW, resource = id, %error, "auto-renewal failed; tried again next run");
            }
        }
    }
    Ok(paid)
}

/// What one auto-renewal came to.
enum AutoRenewal {
    /// The renewal order was paid: the term is extended.
    Paid,
    /// Not this time, and why.
    NotNow(String),
}

/// Renews one resource for one period of its type, as its customer's standing instruction:
/// the order and its payment each carry a key naming the resource and the expiry renewed, so a
/// run that crashed half-way (or a second instance) finds the order and pays it once.
async fn renew_one(state: &AppState, resource: Resource, now: DateTime<Utc>) -> Result<AutoRenewal, AppError> {
    let store = &state.store;
    if !store.claim_auto_renewal(resource.id, now).await? {
        return Ok(AutoRenewal::NotNow(
            "tried less than a day ago, or by another instance".into(),
        ));
    }
    let Some(customer) = store.customer(resource.customer).await? else {
        return Ok(AutoRenewal::NotNow(format!("customer {} not found", resource.customer)));
    };
    if customer.freeze != FreezeState::NotFrozen {
        return Ok(AutoRenewal::NotNow(format!(
            "customer {} is {} (rule 18)",
            customer.id, customer.freeze
        )));
    }
    let caller = Caller::standing_instruction(customer.clone());
    let actor = caller.actor(None);
    // The term and the spec renewed: a renewal ordered before a spec change can no longer be
    // paid (`resource-changed`), so the next try orders one for the new spec.
    let key = format!(
        "auto-renew:{}:{}:{}",
        resource.id,
        resource.expires_at.timestamp_millis(),
        resource.product
    );
    let order = match store.order_created_with_key(&actor, &key).await? {
        Some(created) => created.id,
        None => {
            // Escalated by an earlier try: its task decides, once.
            if let Some(task) = store
                .pending_task_keyed(customer.partner, ApprovalKind::Renewal, &key)
                .await?
            {
                return Ok(AutoRenewal::NotNow(format!("waiting for approval task {}", task.id)));
            }
            let (approval, action) =
                crate::api::orders::renewal(state, &caller, &resource, &customer, 1, key.clone(), now).await?;
            let response = decide_only(state, approval).await?;
            match &response.decision {
                Decision::Approve => {}
                Decision::Reject { reason } => return Ok(AutoRenewal::NotNow(format!("rejected: {reason}"))),
                Decision::Escalate { role, .. } => {
                    // A task for the role the rules named: approved, it orders the renewal,
                    // which the next try pays.
                    let subject = (ApprovalKind::Renewal, customer.partner, Some(customer.id));
                    let task = escalate(state, &caller, subject, &response, &action).await?;
                    return Ok(AutoRenewal::NotNow(format!(
                        "escalated to {role}: approval task {}",
                        task.id
                    )));
                }
            }
            action.execute(store, now).await?;
            store
                .order_created_with_key(&actor, &key)
                .await?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("auto-renewal order {key} was not recorded")))?
                .id
        }
    };
    let status = store.order(order).await?.map(|o| o.status);
    if status != Some(OrderStatus::PendingPayment) {
        // Paid already by a run that crashed before it counted it, or cancelled.
        return Ok(AutoRenewal::NotNow(format!("order {order} is {status:?}")));
    }
    match store
        .pay_order(order, Payer::Customer, &actor, &format!("{key}:pay"), now)
        .await
    {
        Ok(_) => {
            tracing::info!(
                job = AUTO_RENEW,
                resource = resource.id,
                order,
                "auto-renewed (rule 11)"
            );
            Ok(AutoRenewal::Paid)
        }
        // A refusal (too little balance, over budget...): the customer may top up before
        // the next run. Anything else is a failure of the run.
        Err(error) => match AppError::from(error) {
            refusal @ AppError::Refused { .. } => Ok(AutoRenewal::NotNow(format!("order {order} not paid: {refusal}"))),
            error => Err(error),
        },
    }
}

/// Runs the jobs every `interval` until the server shuts down; a run in progress then
/// finishes first (the server waits for it).
pub async fn run_every(state: AppState, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.lifecycle.stopping() => return,
            _ = ticker.tick() => {}
        }
        if let Err(error) = run_once(&state, Utc::now()).await {
            tracing::warn!(error = %format!("{error:#}"), "recording a scheduler run failed");
        }
    }
}
