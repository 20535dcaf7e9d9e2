//! Opportunities: a partner shares a PO with the platform, reviewed for completeness and
//! plausibility (rule 20), and lists its own.

use super::Page;
use crate::api::extract::{Body, Params};
use crate::auth::{Access, Caller};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use pchost_store::opportunities::{NewOpportunity, Opportunity};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A PO: the BANT fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoRequest {
    /// The prospective customer.
    pub customer_name: String,
    /// Budget.
    #[serde(default)]
    pub budget: Option<String>,
    /// Decision maker.
    #[serde(default)]
    pub decision_maker: Option<String>,
    /// Need.
    #[serde(default)]
    pub need: Option<String>,
    /// Purchase timeline.
    #[serde(default)]
    pub timeline: Option<String>,
    /// Expected monthly revenue, a decimal string.
    #[serde(deserialize_with = "super::exact_decimal")]
    #[schema(value_type = String)]
    pub monthly_revenue: Decimal,
}

/// The submitted PO and its review.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoSubmitted {
    /// Id.
    pub id: i64,
    /// `approved`, `incomplete`, `implausible` or `duplicate`.
    pub review: String,
}

/// Submits a PO for the caller's partner (partner staff).
#[utoipa::path(post, path = "/v1/opportunities", tag = "opportunities", request_body = PoRequest,
    responses((status = 201, body = PoSubmitted), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<PoRequest>,
) -> Result<(StatusCode, Json<PoSubmitted>), AppError> {
    caller.need("opportunities", Access::Write)?;
    let (_, partner) = caller.staff()?;
    let partner = partner.id;
    let Body(po) = payload;
    let limit = |field: &str, value: &Option<String>| match value {
        Some(v) if v.chars().count() > 512 => Err(AppError::field(field, "at most 512 characters")),
        _ => Ok(()),
    };
    limit("budget", &po.budget)?;
    limit("decision_maker", &po.decision_maker)?;
    limit("need", &po.need)?;
    limit("timeline", &po.timeline)?;
    super::money_or_zero("monthly_revenue", po.monthly_revenue)?;
    let new = NewOpportunity {
        customer_name: super::text("customer_name", &po.customer_name, 128)?,
        budget: po.budget,
        decision_maker: po.decision_maker,
        need: po.need,
        timeline: po.timeline,
        monthly_revenue: po.monthly_revenue,
    };
    let (id, review) = state.store.submit_po(partner, &new, Utc::now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(PoSubmitted {
            id,
            review: review.to_string(),
        }),
    ))
}

/// Which opportunities.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OpportunityQuery {
    /// For the operator: the partner.
    pub partner_id: Option<i64>,
    /// Ids above this one.
    #[serde(default)]
    pub after: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Lists the caller's partner's opportunities (the operator: a named partner's).
#[utoipa::path(get, path = "/v1/opportunities", tag = "opportunities", params(OpportunityQuery),
    responses((status = 200, description = "opportunities with their review"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<OpportunityQuery>,
) -> Result<Json<Vec<Opportunity>>, AppError> {
    caller.need("opportunities", Access::Read)?;
    let Params(query) = query;
    let limit = Page {
        after: query.after,
        limit: query.limit,
    }
    .limit()?;
    let partner = caller.partner_or(query.partner_id)?;
    Ok(Json(state.store.opportunities_of(partner, query.after, limit).await?))
}
