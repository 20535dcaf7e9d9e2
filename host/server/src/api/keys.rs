//! API keys: who am I, create a key for a principal, list and revoke keys. A key's secret is
//! shown once, at creation. Every principal lists and revokes its own keys; a partner admin
//! also its staff's and customers'; the operator any.

use crate::api::extract::{Body, Path};
use crate::api::record_event;
use crate::auth::{Access, Caller, Issuer, Principal, issue_key};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{PartnerKind, Role};
use pchost_store::keys::{ApiKey, KeyPrincipal};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `operator`, `staff:<id>@<partner>` or `customer:<id>`.
    pub principal: String,
    /// Its role.
    pub role: String,
    /// Its partner.
    pub partner_id: Option<i64>,
    /// The kind of that partner.
    pub partner_kind: Option<String>,
    /// The key's id.
    pub key_id: i64,
    /// The key's scopes.
    pub scopes: Vec<String>,
}

/// Who the key belongs to.
#[utoipa::path(get, path = "/v1/me", tag = "keys",
    responses((status = 200, body = Me), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        principal: caller.label(),
        role: caller.role().to_string(),
        partner_id: caller.partner().map(|p| p.id),
        partner_kind: caller.partner().map(|p| p.kind.to_string()),
        key_id: caller.key_id,
        scopes: caller.scopes.clone(),
    })
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// What it is for (1 to 64 characters).
    pub name: String,
    /// For a staff member of the caller's partner.
    #[serde(default)]
    pub staff_id: Option<i64>,
    /// For a customer the caller sees.
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// For the operator (operator only).
    #[serde(default)]
    pub operator: bool,
    /// `*` or `<area>:read|write`, e.g. `orders:read`: at most the calling key's scopes
    /// (`scope-escalation` otherwise), which are the default.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When the key stops working (RFC 3339): after now, and no later than the calling
    /// key's own expiry, which is the default.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyCreated {
    /// The key's record.
    #[schema(value_type = Object)]
    pub key: ApiKey,
    /// The secret: keep it, it is not shown again.
    pub api_key: String,
}

/// Creates a key: the operator for anyone; a partner admin for its own staff and for
/// customers it sees; any principal for itself. Scopes only narrow what the principal's role allows, and a key passes
/// on no more than its own scopes and expiry (least privilege). A principal holds at most 20
/// usable keys.
#[utoipa::path(post, path = "/v1/api-keys", tag = "keys", request_body = NewKeyRequest,
    responses((status = 201, body = KeyCreated), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<NewKeyRequest>,
) -> Result<(StatusCode, Json<KeyCreated>), AppError> {
    caller.need("keys", Access::Write)?;
    let Body(request) = payload;
    let name = super::text("name", &request.name, 64)?;
    // Any principal may make a key for itself (to rotate one, say); only an admin or the
    // operator for someone else.
    let for_someone_else = |principal: KeyPrincipal| -> Result<(), AppError> {
        if principal != own_principal(&caller) && !caller.is_operator() {
            caller.partner_admin()?;
        }
        Ok(())
    };
    let principal = match (request.operator, request.staff_id, request.customer_id) {
        (true, None, None) => {
            caller.operator()?;
            KeyPrincipal::Operator
        }
        (false, Some(staff_id), None) => {
            for_someone_else(KeyPrincipal::Staff(staff_id))?;
            // Unknown and another partner's staff answer alike, but to the operator.
            match state.store.staff(staff_id).await? {
                Some(staff) if caller.is_operator() || caller.partner().map(|p| p.id) == Some(staff.partner) => {}
                None if caller.is_operator() => return Err(AppError::not_found(Entity::Staff, staff_id)),
                _ => {
                    return Err(AppError::refused(
                        ErrorCode::OutOfScope,
                        format!("staff {staff_id} is not of the caller's partner"),
                    ));
                }
            }
            KeyPrincipal::Staff(staff_id)
        }
        (false, None, Some(customer_id)) => {
            for_someone_else(KeyPrincipal::Customer(customer_id))?;
            KeyPrincipal::Customer(caller.customer(&state, customer_id).await?.id)
        }
        _ => {
            return Err(AppError::field(
                "staff_id",
                "name exactly one of staff_id, customer_id or operator",
            ));
        }
    };
    let (key, api_key) = issue_key(
        &state,
        &name,
        principal,
        request.scopes,
        request.expires_at,
        Issuer::Caller(&caller),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(KeyCreated { key, api_key })))
}

/// Lists the keys the caller may revoke, revoked and expired ones included (never their
/// secrets): its principal's own; a partner admin's also its staff's and customers'; the
/// operator's every key.
#[utoipa::path(get, path = "/v1/api-keys", tag = "keys",
    responses((status = 200, description = "the keys: id, name, prefix, principal, scopes, created, revoked, expiry, last use"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<ApiKey>>, AppError> {
    caller.need("keys", Access::Read)?;
    let keys = match &caller.principal {
        Principal::Operator => state.store.api_keys(None).await?,
        Principal::Staff { staff, partner, .. } if staff.role == Role::PartnerAdmin => {
            state.store.api_keys_of_partner(partner.id).await?
        }
        _ => state.store.api_keys(Some(own_principal(&caller))).await?,
    };
    Ok(Json(keys))
}

/// The principal the caller's key acts as.
fn own_principal(caller: &Caller) -> KeyPrincipal {
    match &caller.principal {
        Principal::Operator => KeyPrincipal::Operator,
        Principal::Staff { staff, .. } => KeyPrincipal::Staff(staff.id),
        Principal::Customer(customer) => KeyPrincipal::Customer(customer.id),
    }
}

/// Revokes a key: the operator any; a partner admin its partner's staff's and customers'
/// keys; anyone its own principal's keys.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "keys", params(("id" = i64, Path)),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    caller.need("keys", Access::Write)?;
    // Not found and not the caller's answer alike (but to the operator, who sees every key),
    // so that key ids reveal nothing.
    let not_yours = || {
        AppError::refused(
            ErrorCode::OutOfScope,
            format!("api key {id} is not the caller's to revoke"),
        )
    };
    let key = match state.store.api_key(id).await? {
        Some(key) => key,
        None if caller.is_operator() => return Err(AppError::not_found(Entity::ApiKey, id)),
        None => return Err(not_yours()),
    };
    let allowed = key.principal == own_principal(&caller)
        || caller.is_operator()
        || match (&caller.principal, key.principal) {
            (Principal::Staff { staff, partner, .. }, KeyPrincipal::Staff(owner))
                if staff.role == Role::PartnerAdmin =>
            {
                state.store.staff(owner).await?.is_some_and(|s| s.partner == partner.id)
            }
            (Principal::Staff { staff, partner, .. }, KeyPrincipal::Customer(owner))
                if staff.role == Role::PartnerAdmin && partner.kind != PartnerKind::Seller =>
            {
                caller.customer(&state, owner).await.is_ok()
            }
            _ => false,
        };
    if !allowed {
        return Err(not_yours());
    }
    if !state.store.revoke_api_key(id, Utc::now()).await? {
        return Err(AppError::refused(
            ErrorCode::ApiKeyRevoked,
            format!("api key {id} is already revoked"),
        ));
    }
    tracing::info!(key = id, by = %caller.label(), "api key revoked");
    let partner = crate::auth::key_partner(&state, key.principal).await?;
    record_event(
        &state,
        &caller,
        partner,
        "key.revoke",
        format!("api-key:{id}"),
        serde_json::json!({ "principal": key.principal }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
