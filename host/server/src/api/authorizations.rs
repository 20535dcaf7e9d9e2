//! A partner's authorization to operate inside a customer's account (rule 23): the customer's
//! own partner requests it, agreeing to the operate-on-behalf terms the first time; the
//! customer grants or refuses it and may revoke it; the operator may revoke it too (it takes
//! power away, never gives it). Each move is recorded with who made it (rule 21).
//!
//! What it governs is enforced where those actions write (see
//! `pchost_store::authorizations::check_may_operate`): partner staff buying, renewing,
//! unsubscribing, setting auto-renew or paying on the customer's behalf.

use crate::api::extract::{Body, Path};
use crate::auth::{Access, Caller, Principal};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use pchost_domain::errors::ErrorCode;
use pchost_domain::{Customer, CustomerId, PartnerId};
use pchost_store::authorizations::Authorization;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A partner's request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRequest {
    /// Agrees to the operate-on-behalf terms: required (`true`) on the partner's first request
    /// to this customer, not after.
    #[serde(default)]
    pub agree_terms: bool,
}

/// A customer's authorization of its partner.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationView {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its partner, the one authorized.
    pub partner_id: PartnerId,
    /// `none` (never requested), `requested`, `granted`, `refused` or `revoked`. Only
    /// `granted` lets the partner's staff operate inside the account.
    pub status: String,
    /// When the partner agreed to the operate-on-behalf terms (its first request).
    pub terms_agreed_at: Option<DateTime<Utc>>,
    /// When it last moved.
    pub updated_at: Option<DateTime<Utc>>,
    /// Every move, oldest first, with who made it (rule 21).
    pub history: Vec<AuthorizationEventView>,
}

/// One move of an authorization.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationEventView {
    /// The status it moved to.
    pub status: String,
    /// Who moved it: `partner-admin:2/500` (role:partner/staff), `customer:2/102`
    /// (customer:partner/customer), `platform-operator:/`.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

fn view(customer: &Customer, found: Option<Authorization>) -> AuthorizationView {
    match found {
        Some(a) => AuthorizationView {
            customer_id: a.customer,
            partner_id: a.partner,
            status: a.status.to_string(),
            terms_agreed_at: Some(a.terms_agreed_at),
            updated_at: Some(a.updated_at),
            history: a
                .history
                .into_iter()
                .map(|e| AuthorizationEventView {
                    status: e.status.to_string(),
                    by: e.actor,
                    at: e.at,
                })
                .collect(),
        },
        None => AuthorizationView {
            customer_id: customer.id,
            partner_id: customer.partner,
            status: "none".into(),
            terms_agreed_at: None,
            updated_at: None,
            history: Vec::new(),
        },
    }
}

/// The customer's authorization of its partner, with its history: for the customer, the
/// partner's staff who see it (rule 16), its distributor's admin and the operator.
#[utoipa::path(get, path = "/v1/customers/{id}/authorization", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = AuthorizationView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
) -> Result<Json<AuthorizationView>, AppError> {
    caller.need("customers", Access::Read)?;
    let customer = caller.customer(&state, id).await?;
    let found = state.store.authorization(customer.partner, customer.id).await?;
    Ok(Json(view(&customer, found)))
}

/// The customer's partner asks it for authorization to operate in its account (rule 23):
/// staff of the customer's own partner who see it (rule 16). The first request must agree to
/// the operate-on-behalf terms (`operate-terms-not-agreed`); asking again after a refusal or a
/// revocation needs no new agreement; asking while granted changes nothing; asking while a
/// request is pending is `authorization-state`. A distributor does not ask its reseller's
/// customers: it acts under the reseller's authorization (`not-of-partner`).
#[utoipa::path(post, path = "/v1/customers/{id}/authorization", tag = "customers", params(("id" = i64, Path)),
    request_body = AuthorizationRequest,
    responses((status = 200, body = AuthorizationView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<AuthorizationRequest>,
) -> Result<Json<AuthorizationView>, AppError> {
    caller.need("customers", Access::Write)?;
    let (_, partner) = caller.staff()?;
    let Body(request) = payload;
    let customer = caller.customer(&state, id).await?;
    let found = state
        .store
        .request_authorization(
            partner.id,
            customer.id,
            request.agree_terms,
            &caller.actor(None),
            Utc::now(),
        )
        .await?;
    tracing::info!(customer = id, partner = partner.id, status = %found.status, by = %caller.label(), "authorization requested");
    Ok(Json(view(&customer, Some(found))))
}

/// What the customer (or the operator) answers.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Grant,
    Refuse,
    Revoke,
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    id: CustomerId,
    answer: Answer,
) -> Result<Json<AuthorizationView>, AppError> {
    caller.need("customers", Access::Write)?;
    match (&caller.principal, answer) {
        (Principal::Customer(_), _) | (Principal::Operator, Answer::Revoke) => {}
        (_, Answer::Revoke) => {
            return Err(AppError::refused(
                ErrorCode::RoleNotPermitted,
                "only the customer (or the platform operator) revokes its partner's authorization (rule 23)",
            ));
        }
        _ => {
            return Err(AppError::refused(
                ErrorCode::RoleNotPermitted,
                "only the customer grants or refuses its partner's authorization (rule 23)",
            ));
        }
    }
    let customer = caller.customer(state, id).await?;
    let (store, actor, now) = (&state.store, caller.actor(None), Utc::now());
    let found = match answer {
        Answer::Grant => store.grant_authorization(customer.partner, id, &actor, now).await?,
        Answer::Refuse => store.refuse_authorization(customer.partner, id, &actor, now).await?,
        Answer::Revoke => store.revoke_authorization(customer.partner, id, &actor, now).await?,
    };
    tracing::info!(customer = id, partner = customer.partner, status = %found.status, by = %caller.label(), "authorization answered");
    Ok(Json(view(&customer, Some(found))))
}

/// The customer grants its partner's pending request (rule 23): from now its partner's staff
/// may buy, renew, unsubscribe, set auto-renew and pay on its behalf.
#[utoipa::path(post, path = "/v1/customers/{id}/authorization/grant", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = AuthorizationView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
) -> Result<Json<AuthorizationView>, AppError> {
    answer(&state, &caller, id, Answer::Grant).await
}

/// The customer refuses its partner's pending request (rule 23); the partner may ask again.
#[utoipa::path(post, path = "/v1/customers/{id}/authorization/refuse", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = AuthorizationView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn refuse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
) -> Result<Json<AuthorizationView>, AppError> {
    answer(&state, &caller, id, Answer::Refuse).await
}

/// The customer (or the operator) revokes a granted authorization (rule 23): its partner's
/// staff can no longer operate in the account; an approval task holding such an action fails
/// when approved. The partner may ask again.
#[utoipa::path(post, path = "/v1/customers/{id}/authorization/revoke", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = AuthorizationView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
) -> Result<Json<AuthorizationView>, AppError> {
    answer(&state, &caller, id, Answer::Revoke).await
}
