//! The scheduler's runs, for the operator.

use crate::api::extract::Params;
use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use pchost_store::scheduler::SchedulerRun;
use serde::Deserialize;
use utoipa::IntoParams;

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// At most this many (1 to 200, default 50).
    pub limit: Option<u32>,
}

/// Lists the scheduler's recent runs that did something or failed, newest first: the job,
/// when it ran, how many items it did, and its error. The operator only.
#[utoipa::path(get, path = "/v1/scheduler/runs", tag = "audit", params(RunsQuery),
    responses((status = 200, body = Vec<SchedulerRun>), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<RunsQuery>,
) -> Result<Json<Vec<SchedulerRun>>, AppError> {
    caller.operator()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::field("limit", "1 to 200"));
    }
    Ok(Json(state.store.scheduler_runs(limit).await?))
}
