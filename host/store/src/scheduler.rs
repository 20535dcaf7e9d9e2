//! The store side of the scheduler inside `serve`: each job's work is one conditional update
//! (so a crash, a retry or a second instance never does an item twice), and every run is
//! recorded for the operator.

use crate::entities::{ApprovalKind, OrderId, OrderStatus};
use crate::resources::GRACE_PERIOD_DAYS;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// Who decides the approval tasks of an order that expired unpaid (rule 8).
pub const TASK_EXPIRY: &str = "scheduler:expire-unpaid-orders";

/// The most runs one listing returns.
pub const MAX_RUNS_PAGE: u32 = 200;
/// The longest error a run records.
const MAX_RUN_ERROR: usize = 1024;

/// One run of a scheduled job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SchedulerRun {
    /// Id.
    pub id: i64,
    /// The job, e.g. `expire-unpaid-orders`.
    pub job: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How many items it did (orders expired...).
    pub items: i64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// What the expiry job did to a main resource (and its children).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryApplied {
    /// The main resource.
    pub resource: i64,
    /// What its policy did.
    pub outcome: ExpiryOutcome,
}

/// What an expiry policy did at a resource's expiry, or at the end of its grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryOutcome {
    /// In its grace period (`expired`), still renewable.
    GracePeriod,
    /// Closed at expiry (`delete`).
    Deleted,
    /// Frozen at expiry (`freeze`).
    Frozen,
    /// Switched to hourly charging, still in use (`to-on-demand`).
    OnDemand,
    /// Released (closed) at the end of its grace period.
    Released,
}

/// One conditional change of [`Store::apply_expiry_policies`]: `set` on main resources in
/// status `from` matching `policy` whose term ended before `ended_before`, then on their
/// children still in `from`.
struct ExpiryChange {
    set: &'static str,
    from: &'static str,
    policy: String,
    ended_before: i64,
    outcome: ExpiryOutcome,
}

fn time(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .ok_or_else(|| StoreError::Corrupt {
            table: "scheduler_runs",
            detail: format!("{millis} is not a time"),
        })
}

impl Store {
    /// Rule 8: cancels every unpaid order (pending payment, or still in review) whose 7 days
    /// passed before `now`, returning their ids, and with each the approval tasks still
    /// pending about it (its review, its payment on the customer's behalf, its cancellation):
    /// they are rejected by the scheduler, their outcome saying why. One conditional update
    /// in one transaction: an order paid meanwhile is left alone, and of two instances
    /// running the job, each order is cancelled once.
    pub async fn expire_unpaid_orders(&self, now: DateTime<Utc>) -> Result<Vec<OrderId>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let expired: Vec<OrderId> = sqlx::query_scalar(
            "UPDATE orders SET status = $1 WHERE status IN ($2, $3) AND payment_deadline IS NOT NULL AND payment_deadline < $4 RETURNING id",
        )
        .bind(OrderStatus::Cancelled.as_str())
        .bind(OrderStatus::PendingPayment.as_str())
        .bind(OrderStatus::PendingReview.as_str())
        .bind(now.timestamp_millis())
        .fetch_all(&mut *tx)
        .await?;
        if !expired.is_empty() {
            let pending =
                sqlx::query("SELECT id, action FROM approval_tasks WHERE status = 'pending' AND kind IN ($1, $2, $3)")
                    .bind(ApprovalKind::OrderReview.as_str())
                    .bind(ApprovalKind::PaymentOnBehalf.as_str())
                    .bind(ApprovalKind::Cancel.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            for task in pending {
                let action: String = task.try_get("action")?;
                let order = serde_json::from_str::<serde_json::Value>(&action)
                    .ok()
                    .and_then(|a| a.get("order").and_then(serde_json::Value::as_i64));
                let Some(order) = order.filter(|o| expired.contains(o)) else {
                    continue;
                };
                let outcome = serde_json::json!({
                    "rejected": format!("order {order} passed its 7 days unpaid and was cancelled (rule 8)"),
                });
                sqlx::query(
                    "UPDATE approval_tasks SET status = 'rejected', decided_by = $1, decided_at = $2, outcome = $3 \
                     WHERE id = $4 AND status = 'pending'",
                )
                .bind(TASK_EXPIRY)
                .bind(now.timestamp_millis())
                .bind(outcome.to_string())
                .bind(task.try_get::<i64, _>("id")?)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(expired)
    }

    /// Rule 11's expiry policies, for main resources whose term ended before `now` (their
    /// children follow them): `grace-period` (and `auto-renew` whose renewal was not paid)
    /// puts it in its grace period (`expired`, still renewable), `delete` closes it, `freeze`
    /// freezes it, `to-on-demand` switches it to hourly charging where its product has an
    /// hourly price (else a grace period); a grace period over ([`GRACE_PERIOD_DAYS`])
    /// releases it (`closed`). Each change is a conditional update, all in one transaction: a
    /// resource renewed meanwhile is left alone, and of two instances running the job, each
    /// change is made once. Returns what was done, by resource.
    pub async fn apply_expiry_policies(&self, now: DateTime<Utc>) -> Result<Vec<ExpiryApplied>, StoreError> {
        let due = now.timestamp_millis();
        let grace_over = (now - Duration::days(GRACE_PERIOD_DAYS)).timestamp_millis();
        let hourly = "EXISTS (SELECT 1 FROM list_prices p WHERE p.product = resources.product AND p.period = 'hour')";
        let changes = [
            ExpiryChange {
                set: "status = 'expired'",
                from: "in-use",
                policy: format!(
                    "(expiry_policy IN ('grace-period', 'auto-renew') OR (expiry_policy = 'to-on-demand' AND NOT {hourly}))"
                ),
                ended_before: due,
                outcome: ExpiryOutcome::GracePeriod,
            },
            ExpiryChange {
                set: "status = 'closed'",
                from: "in-use",
                policy: "expiry_policy = 'delete'".into(),
                ended_before: due,
                outcome: ExpiryOutcome::Deleted,
            },
            ExpiryChange {
                set: "status = 'frozen'",
                from: "in-use",
                policy: "expiry_policy = 'freeze'".into(),
                ended_before: due,
                outcome: ExpiryOutcome::Frozen,
            },
            ExpiryChange {
                set: "period = 'hour'",
                from: "in-use",
                policy: format!("expiry_policy = 'to-on-demand' AND period IN ('month', 'year') AND {hourly}"),
                ended_before: due,
                outcome: ExpiryOutcome::OnDemand,
            },
            ExpiryChange {
                set: "status = 'closed'",
                from: "expired",
                policy: "1 = 1".into(),
                ended_before: grace_over,
                outcome: ExpiryOutcome::Released,
            },
        ];
        let mut applied = Vec::new();
        let mut tx = self.pool().begin().await?;
        for change in changes {
            let ExpiryChange {
                set,
                from,
                policy,
                ended_before,
                outcome,
            } = change;
            let mains: Vec<i64> = sqlx::query_scalar(&format!(
                "UPDATE resources SET {set} WHERE main_resource IS NULL AND status = '{from}' AND {policy} \
                 AND expires_at <= $1 RETURNING id"
            ))
            .bind(ended_before)
            .fetch_all(&mut *tx)
            .await?;
            for resource in mains {
                // The children that ran with it; one closed or frozen on its own stays so.
                sqlx::query(&format!(
                    "UPDATE resources SET {set} WHERE main_resource = $1 AND status = '{from}'"
                ))
                .bind(resource)
                .execute(&mut *tx)
                .await?;
                applied.push(ExpiryApplied { resource, outcome });
            }
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Records a run of `job`.
    pub async fn record_scheduler_run(
        &self,
        job: &str,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        items: usize,
        error: Option<&str>,
    ) -> Result<i64, StoreError> {
        let error = error.map(|e| e.chars().take(MAX_RUN_ERROR).collect::<String>());
        Ok(sqlx::query_scalar(
            "INSERT INTO scheduler_runs (job, started_at, finished_at, items, error) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(job)
        .bind(started_at.timestamp_millis())
        .bind(finished_at.timestamp_millis())
        .bind(i64::try_from(items).unwrap_or(i64::MAX))
        .bind(error)
        .fetch_one(self.pool())
        .await?)
    }

    /// The latest runs, newest first, at most `limit` (capped at [`MAX_RUNS_PAGE`]).
    pub async fn scheduler_runs(&self, limit: u32) -> Result<Vec<SchedulerRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, job, started_at, finished_at, items, error FROM scheduler_runs ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit.min(MAX_RUNS_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SchedulerRun {
                    id: r.try_get("id")?,
                    job: r.try_get("job")?,
                    started_at: time(r.try_get("started_at")?)?,
                    finished_at: time(r.try_get("finished_at")?)?,
                    items: r.try_get("items")?,
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }
}
