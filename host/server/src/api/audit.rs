//! The invocation audit trail over the API: a plugin owner sees its own plugins' invocations,
//! the operator everyone's.

use crate::api::extract::{Params, Path};
use crate::auth::{Access, Caller};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_store::audit::{AuditFilter, InvocationRecord};
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InvocationQuery {
    /// For the operator: one owner's plugins.
    pub owner: Option<i64>,
    /// A plugin: `name` or `name@version`.
    pub plugin: Option<String>,
    /// One component (sha256).
    pub digest: Option<String>,
    /// The WIT world, e.g. `partner-center:extension/pricing-rule@0.2.0`.
    pub world: Option<String>,
    /// Only failed (true) or only successful (false) invocations.
    pub failed: Option<bool>,
    /// Why the plugin ran: `live`, `shadow` or `replay`.
    pub purpose: Option<String>,
    /// As of this time or later (RFC 3339, e.g. `2026-12-06T13:00:00Z`): for a live or shadow
    /// run, when it ran; a replay keeps the recorded invocation's.
    #[param(value_type = Option<String>)]
    pub since: Option<DateTime<Utc>>,
    /// As of before this time (RFC 3339).
    #[param(value_type = Option<String>)]
    pub until: Option<DateTime<Utc>>,
    /// Ids below this one (paging, newest first).
    pub before: Option<i64>,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Lists recorded plugin invocations, newest first: plugin, digest, world, owner, input (and
/// its sha256), as-of time, output or failure, duration, fuel and logs. Filters combine.
#[utoipa::path(get, path = "/v1/invocations", tag = "audit", params(InvocationQuery),
    responses((status = 200, description = "invocation records"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn invocations(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<InvocationQuery>,
) -> Result<Json<Vec<InvocationRecord>>, AppError> {
    caller.need("audit", Access::Read)?;
    let Params(query) = query;
    let limit = super::Page {
        after: 0,
        limit: query.limit,
    }
    .limit()?;
    let owner = if caller.is_operator() {
        query.owner
    } else {
        caller.partner_admin()?;
        Some(caller.partner_or(query.owner)?)
    };
    if query
        .purpose
        .as_deref()
        .is_some_and(|p| !matches!(p, "live" | "shadow" | "replay"))
    {
        return Err(AppError::field("purpose", "`live`, `shadow` or `replay`"));
    }
    for (field, value) in [
        ("plugin", &query.plugin),
        ("digest", &query.digest),
        ("world", &query.world),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > 128) {
            return Err(AppError::field(field, "at most 128 characters"));
        }
    }
    let filter = AuditFilter {
        owner,
        digest: query.digest,
        plugin: query.plugin,
        world: query.world,
        failed: query.failed,
        before: query.before,
        purpose: query.purpose,
        since: query.since,
        until: query.until,
    };
    Ok(Json(state.store.invocations(&filter, limit).await?))
}

/// Replays a recorded invocation: the same plugin version (checked by digest) runs again on
/// the recorded input and as-of time, and the report says whether it answered identically or
/// where it differs. The replay is itself audited (purpose `replay`). The owner's admin or the
/// operator.
#[utoipa::path(post, path = "/v1/invocations/{id}/replay", tag = "audit", params(("id" = i64, Path)),
    responses((status = 200, body = pchost_extensions::replay::ReplayReport), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<pchost_extensions::replay::ReplayReport>, AppError> {
    caller.need("audit", Access::Write)?;
    let record = visible_invocation(&state, &caller, id).await?;
    Ok(Json(pchost_extensions::replay::replay(&state.host, record).await?))
}

/// Invocation `id`, when the caller may see it: the operator any, a partner admin those of
/// its partner's plugins.
pub(crate) async fn visible_invocation(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<InvocationRecord, AppError> {
    let record = state
        .store
        .invocation(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Invocation, id))?;
    if !caller.is_operator() && caller.partner_admin()?.id != record.owner {
        return Err(AppError::refused(
            ErrorCode::NotOwner,
            format!("invocation {id} is of another owner's plugin"),
        ));
    }
    Ok(record)
}
