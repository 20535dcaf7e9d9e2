//! The scheduler inside `serve`: jobs run on a timer. Each job's work is a conditional update
//! in the store, so a crash, an overlapping run or a second instance never does an item twice.
//! A run that did something, or failed, is logged and recorded for the operator
//! (`GET /v1/scheduler/runs`); idle runs are not recorded.
//!
//! Jobs: expiring unpaid orders (pending payment, or still in review) past their 7 days
//! (rule 8). Auto-renewal
//! (rule 11) is not scheduled yet.

use chrono::{DateTime, Utc};
use pchost_store::store::Store;
use std::time::Duration;

/// The job that cancels pending-payment orders past their deadline (rule 8).
pub const EXPIRE_UNPAID_ORDERS: &str = "expire-unpaid-orders";

/// Runs every job once as of `now`, recording the runs that did something or failed.
pub async fn run_once(store: &Store, now: DateTime<Utc>) -> anyhow::Result<()> {
    let started = Utc::now();
    let result = store.expire_unpaid_orders(now).await;
    let finished = Utc::now();
    match result {
        Ok(expired) if expired.is_empty() => {}
        Ok(expired) => {
            tracing::info!(job = EXPIRE_UNPAID_ORDERS, ?expired, "unpaid orders expired (rule 8)");
            store
                .record_scheduler_run(EXPIRE_UNPAID_ORDERS, started, finished, expired.len(), None)
                .await?;
        }
        Err(error) => {
            tracing::warn!(job = EXPIRE_UNPAID_ORDERS, %error, "scheduled job failed; it runs again next time");
            store
                .record_scheduler_run(EXPIRE_UNPAID_ORDERS, started, finished, 0, Some(&error.to_string()))
                .await?;
        }
    }
    Ok(())
}

/// Runs the jobs every `interval`, for as long as the server runs.
pub async fn run_every(store: Store, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = run_once(&store, Utc::now()).await {
            tracing::warn!(error = %format!("{error:#}"), "recording a scheduler run failed");
        }
    }
}
