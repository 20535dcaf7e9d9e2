//! Coupons and coupon quotas: issue from a quota, reclaim, list (rules 12, 13); a
//! distributor splits quota to its resellers and reclaims it.

use super::{Page, money};
use crate::api::approvals::{ApprovalRequestExt, act, approval_request};
use crate::api::extract::{Body, Params, Path};
use crate::auth::{Access, Caller, Principal};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use pchost_domain::DiscountKind;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{ApprovalKind, PartnerKind};
use pchost_extensions::actions::Action;
use pchost_runtime::model::{ActionDetail, Reclaimed};
use pchost_store::coupons::{Coupon, CouponLimits, CouponQuota};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The caller's partner's quotas (the operator: a named partner's).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QuotaQuery {
    /// For the operator: the partner.
    pub partner_id: Option<i64>,
}

/// Lists coupon quotas. Partner admin or operator.
#[utoipa::path(get, path = "/v1/coupon-quotas", tag = "coupons", params(QuotaQuery),
    responses((status = 200, description = "quotas with balance, per-coupon limit and status"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn quotas(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<QuotaQuery>,
) -> Result<Json<Vec<CouponQuota>>, AppError> {
    caller.need("coupons", Access::Read)?;
    let Params(query) = query;
    if !caller.is_operator() {
        caller.partner_admin()?;
    }
    let partner = caller.partner_or(query.partner_id)?;
    Ok(Json(state.store.quotas_of(partner).await?))
}

/// Issuing a coupon.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The quota it draws on (the caller's partner's).
    pub quota_id: i64,
    /// The resale customer it goes to.
    pub customer_id: i64,
    /// Face value, a decimal string.
    #[serde(deserialize_with = "super::exact_decimal")]
    #[schema(value_type = String)]
    pub face: Decimal,
    /// Valid from.
    pub valid_from: DateTime<Utc>,
    /// Valid until.
    pub valid_to: DateTime<Utc>,
    /// Minimum spend, a decimal string (default 0).
    #[serde(default, deserialize_with = "super::exact_decimal_option")]
    #[schema(value_type = Option<String>)]
    pub min_spend: Option<Decimal>,
    /// Only for this service type.
    #[serde(default)]
    pub service_type: Option<String>,
    /// Refused when every line's discount ratio is below this (rule 7).
    #[serde(default, deserialize_with = "super::exact_decimal_option")]
    #[schema(value_type = Option<String>)]
    pub min_discount_ratio: Option<Decimal>,
    /// Discounts it may combine with: `partner-granted`, `contract`, `promotion`.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub combines_with: Vec<DiscountKind>,
}

/// Issues a coupon from one of the partner's quotas to a resale customer (rules 12, 13),
/// after the approval rules (`coupon-issue`) approve. Partner admin.
#[utoipa::path(post, path = "/v1/coupons", tag = "coupons", request_body = IssueRequest,
    responses((status = 201, description = "the coupon"), (status = 202, description = "escalated: an approval task holds it"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<IssueRequest>,
) -> Result<Response, AppError> {
    caller.need("coupons", Access::Write)?;
    let partner = caller.partner_admin()?.id;
    let Body(request) = payload;
    let face = money("face", request.face)?;
    let min_spend = match request.min_spend {
        Some(m) => super::money_or_zero("min_spend", m)?,
        None => Decimal::ZERO,
    };
    if request.valid_to <= request.valid_from {
        return Err(AppError::field("valid_to", "must be after valid_from"));
    }
    let quota = state.store.quota(request.quota_id).await?;
    if quota.partner != partner {
        return Err(AppError::refused(
            ErrorCode::OutOfScope,
            format!("quota {} is not the caller's partner's", quota.id),
        ));
    }
    let customer = caller.customer(&state, request.customer_id).await?;
    let approval = approval_request(
        &caller,
        ApprovalKind::CouponIssue,
        partner,
        Some(&customer),
        quota.currency,
    )
    .with_amount(Some(face))
    .with_detail(ActionDetail::CouponIssue { quota: quota.id, face });
    let limits = CouponLimits {
        valid_from: request.valid_from,
        valid_to: request.valid_to,
        min_spend,
        service_type: request.service_type,
        min_discount_ratio: request.min_discount_ratio,
        combines_with: request.combines_with,
    };
    let action = Action::CouponIssue {
        quota: quota.id,
        customer: customer.id,
        face,
        limits,
    };
    act(&state, &caller, approval, action, StatusCode::CREATED).await
}

/// Reclaims an unused coupon; its value returns to the quota (rule 13). Partner admin.
#[utoipa::path(post, path = "/v1/coupons/{id}/reclaim", tag = "coupons", params(("id" = i64, Path)),
    responses((status = 204), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn reclaim(State(state): State<AppState>, caller: Caller, Path(id): Path<i64>) -> Result<Response, AppError> {
    caller.need("coupons", Access::Write)?;
    let partner = caller.partner_admin()?.id;
    let coupon = state
        .store
        .coupon(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Coupon, id))?;
    if state.store.quota(coupon.quota).await?.partner != partner {
        return Err(AppError::refused(
            ErrorCode::OutOfScope,
            format!("coupon {id} was not issued by the caller's partner"),
        ));
    }
    let customer = caller.customer(&state, coupon.customer).await?;
    let detail = ActionDetail::Reclaim(Reclaimed::Coupon {
        coupon: id,
        face: coupon.face,
    });
    let approval = approval_request(
        &caller,
        ApprovalKind::Reclaim,
        partner,
        Some(&customer),
        coupon.currency,
    )
    .with_amount(Some(coupon.face))
    .with_detail(detail);
    act(
        &state,
        &caller,
        approval,
        Action::CouponReclaim { coupon: id },
        StatusCode::NO_CONTENT,
    )
    .await
}

/// Which coupons.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CouponQuery {
    /// One customer's.
    pub customer_id: Option<i64>,
    /// Ids above this one.
    #[serde(default)]
    pub after: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Lists coupons: a customer its own; staff a customer's they see or (admin) all the
/// partner issued; the operator any customer's.
#[utoipa::path(get, path = "/v1/coupons", tag = "coupons", params(CouponQuery),
    responses((status = 200, description = "coupons"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<CouponQuery>,
) -> Result<Json<Vec<Coupon>>, AppError> {
    caller.need("coupons", Access::Read)?;
    let Params(query) = query;
    let limit = Page {
        after: query.after,
        limit: query.limit,
    }
    .limit()?;
    let (partner, customer) = match (&caller.principal, query.customer_id) {
        (Principal::Customer(c), None) => (None, Some(c.id)),
        (_, Some(id)) => (None, Some(caller.customer(&state, id).await?.id)),
        (Principal::Staff { .. }, None) => (Some(caller.partner_admin()?.id), None),
        (Principal::Operator, None) => {
            return Err(AppError::field(
                "customer_id",
                "name the customer whose coupons to list",
            ));
        }
    };
    Ok(Json(
        state.store.coupons_of(partner, customer, query.after, limit).await?,
    ))
}

/// A quota split.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitRequest {
    /// The distributor's quota to split from.
    pub parent_quota_id: i64,
    /// Amount moved to the reseller's new quota.
    #[serde(deserialize_with = "super::exact_decimal")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    /// Per-coupon limit of the new quota.
    #[serde(deserialize_with = "super::exact_decimal")]
    #[schema(value_type = String)]
    pub max_face: Decimal,
}

/// The new quota.
#[derive(Debug, Serialize, ToSchema)]
pub struct SplitQuota {
    /// Its id.
    pub quota_id: i64,
}

/// Splits part of a distributor's quota to one of its resellers (rule 13). Distributor admin.
#[utoipa::path(post, path = "/v1/resellers/{id}/coupon-quotas", tag = "resellers", params(("id" = i64, Path)), request_body = SplitRequest,
    responses((status = 201, body = SplitQuota), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn split(
    State(state): State<AppState>,
    caller: Caller,
    Path(reseller): Path<i64>,
    payload: Body<SplitRequest>,
) -> Result<Response, AppError> {
    caller.need("resellers", Access::Write)?;
    let distributor = caller.admin_of_kind(&[PartnerKind::Distributor])?.id;
    let Body(request) = payload;
    let amount = money("amount", request.amount)?;
    let max_face = money("max_face", request.max_face)?;
    if state.store.quota(request.parent_quota_id).await?.partner != distributor {
        return Err(AppError::refused(
            ErrorCode::OutOfScope,
            format!("quota {} is not the caller's partner's", request.parent_quota_id),
        ));
    }
    let detail = ActionDetail::QuotaSplit {
        quota: request.parent_quota_id,
        reseller,
        amount,
        max_face,
    };
    let currency = state.store.quota(request.parent_quota_id).await?.currency;
    let approval = approval_request(&caller, ApprovalKind::QuotaSplit, distributor, None, currency)
        .with_reseller(Some(reseller))
        .with_amount(Some(amount))
        .with_detail(detail);
    let action = Action::QuotaSplit {
        parent: request.parent_quota_id,
        reseller,
        amount,
        max_face,
    };
    act(&state, &caller, approval, action, StatusCode::CREATED).await
}

/// What a reclaim returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaReclaimed {
    /// The unissued balance returned to the parent quota.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub returned: Decimal,
}

/// Reclaims a quota split to a reseller. Admin of the distributor that split it.
#[utoipa::path(post, path = "/v1/coupon-quotas/{id}/reclaim", tag = "resellers", params(("id" = i64, Path)),
    responses((status = 200, body = QuotaReclaimed), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn reclaim_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    caller.need("resellers", Access::Write)?;
    let distributor = caller.admin_of_kind(&[PartnerKind::Distributor])?.id;
    let quota = state.store.quota(id).await?;
    let parent = match quota.parent {
        Some(parent) => state.store.quota(parent).await?,
        None => {
            return Err(AppError::refused(
                ErrorCode::QuotaNotSplit,
                format!("quota {id} was not split from another"),
            ));
        }
    };
    if parent.partner != distributor {
        return Err(AppError::refused(
            ErrorCode::OutOfScope,
            format!("quota {id} was not split by the caller's partner"),
        ));
    }
    let detail = ActionDetail::Reclaim(Reclaimed::Quota {
        quota: id,
        reseller: quota.partner,
    });
    let approval = approval_request(&caller, ApprovalKind::Reclaim, distributor, None, quota.currency)
        .with_reseller(Some(quota.partner))
        .with_detail(detail);
    act(
        &state,
        &caller,
        approval,
        Action::QuotaReclaim { quota: id },
        StatusCode::OK,
    )
    .await
}
