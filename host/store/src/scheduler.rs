//! The store side of the scheduler inside `serve`: each job's work is one conditional update
//! (so a crash, a retry or a second instance never does an item twice), and every run is
//! recorded for the operator.

use crate::entities::{OrderId, OrderStatus};
use crate::store::{Store, StoreError};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

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
    /// passed before `now`, returning their ids; a task that would have released one then
    /// fails when approved. One conditional update: an order paid meanwhile is left alone,
    /// and of two instances running the job, each order is cancelled once.
    pub async fn expire_unpaid_orders(&self, now: DateTime<Utc>) -> Result<Vec<OrderId>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE orders SET status = $1 WHERE status IN ($2, $3) AND payment_deadline IS NOT NULL AND payment_deadline < $4 RETURNING id",
        )
        .bind(OrderStatus::Cancelled.as_str())
        .bind(OrderStatus::PendingPayment.as_str())
        .bind(OrderStatus::PendingReview.as_str())
        .bind(now.timestamp_millis())
        .fetch_all(self.pool())
        .await?)
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
