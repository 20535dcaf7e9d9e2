//! The operator's controls over who may publish code, and the administrative audit: trusted
//! publisher keys, the signature policy of each binding scope, and the record of who changed
//! plugins, bindings, keys and policies or decided tasks.

use super::Page;
use crate::api::extract::{Body, Params, Path};
use crate::api::record_event;
use crate::auth::{Access, Caller};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use pchost_domain::PartnerId;
use pchost_domain::errors::ErrorCode;
use pchost_extensions::signing;
use pchost_store::admin_events::AdminEvent;
use pchost_store::bindings::BindingScope;
use pchost_store::publishers::{NewPublisherKey, PublisherKey, SignaturePolicy};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// A publisher key to trust.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPublisher {
    /// A name for people (1 to 64 characters).
    pub name: String,
    /// The ed25519 public key, 64 hex digits (what `pchost plugin keygen` prints).
    pub public_key: String,
    /// The only owner whose plugins it may sign; any owner's when absent.
    #[serde(default)]
    pub owner: Option<PartnerId>,
}

/// Registers a publisher key the host trusts. Operator only.
#[utoipa::path(post, path = "/v1/publisher-keys", tag = "plugins", request_body = NewPublisher,
    responses((status = 201, description = "the key, with its fingerprint"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn add_publisher(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<NewPublisher>,
) -> Result<(StatusCode, Json<PublisherKey>), AppError> {
    caller.need("plugins", Access::Write)?;
    caller.operator()?;
    let Body(request) = payload;
    let name = super::text("name", &request.name, 64)?;
    let public = signing::parse_public_key(&request.public_key).map_err(|e| AppError::field("public_key", e))?;
    let key = state
        .store
        .add_publisher_key(
            &NewPublisherKey {
                name,
                fingerprint: signing::fingerprint(&public),
                public_key: hex::encode(public.as_bytes()),
                owner: request.owner,
                created_by: caller.label(),
            },
            Utc::now(),
        )
        .await?;
    record_event(
        &state,
        &caller,
        key.owner,
        "publisher-key.add",
        format!("publisher-key:{}", key.fingerprint),
        serde_json::json!({ "name": key.name, "owner": key.owner }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// Lists the publisher keys, revoked ones included. Operator only.
#[utoipa::path(get, path = "/v1/publisher-keys", tag = "plugins",
    responses((status = 200, description = "the keys"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn publishers(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<PublisherKey>>, AppError> {
    caller.need("plugins", Access::Read)?;
    caller.operator()?;
    Ok(Json(state.store.publisher_keys().await?))
}

/// Stops trusting a publisher key: versions it signed are no longer bound where signatures
/// are required. Operator only.
#[utoipa::path(delete, path = "/v1/publisher-keys/{id}", tag = "plugins", params(("id" = i64, Path)),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn revoke_publisher(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    caller.need("plugins", Access::Write)?;
    caller.operator()?;
    if !state.store.revoke_publisher_key(id, Utc::now()).await? {
        return Err(AppError::refused(
            ErrorCode::NotFound,
            format!("publisher key {id} is not registered, or is revoked already"),
        ));
    }
    record_event(
        &state,
        &caller,
        None,
        "publisher-key.revoke",
        format!("publisher-key:{id}"),
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a scope requires signed plugins.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// Required or not.
    pub required: bool,
}

/// The signature policy of each binding scope (platform, seller, partner).
#[utoipa::path(get, path = "/v1/signature-policies", tag = "plugins",
    responses((status = 200, description = "each scope and whether it requires signatures"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn policies(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<SignaturePolicy>>, AppError> {
    caller.need("plugins", Access::Read)?;
    caller.not_customer()?;
    Ok(Json(state.store.signature_policies().await?))
}

/// Sets whether a scope requires signed plugins: uploads for owners of that scope (a seller's
/// for `seller`, any other partner's for `partner`) and bindings there. Operator only.
#[utoipa::path(put, path = "/v1/signature-policies/{scope}", tag = "plugins", params(("scope" = String, Path)),
    request_body = PolicyChange,
    responses((status = 200, description = "the policies"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn set_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(scope): Path<String>,
    payload: Body<PolicyChange>,
) -> Result<Json<Vec<SignaturePolicy>>, AppError> {
    caller.need("plugins", Access::Write)?;
    caller.operator()?;
    let scope: BindingScope = scope
        .parse()
        .map_err(|_| AppError::field("scope", "`platform`, `seller` or `partner`"))?;
    let Body(change) = payload;
    state
        .store
        .set_signature_policy(scope, change.required, &caller.label(), Utc::now())
        .await?;
    record_event(
        &state,
        &caller,
        None,
        "signature-policy.set",
        format!("scope:{scope}"),
        serde_json::json!({ "required": change.required }),
    )
    .await?;
    Ok(Json(state.store.signature_policies().await?))
}

/// Which events.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// One partner's (the operator; a partner admin always gets its own).
    pub partner_id: Option<PartnerId>,
    /// Ids above this one.
    #[serde(default)]
    pub after: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// The administrative audit, oldest first: who uploaded, bound, changed, rolled back or
/// deleted a plugin or binding, created or revoked a key, decided a task, or changed who may
/// publish. The operator reads all (or one partner's), a partner admin its own partner's.
#[utoipa::path(get, path = "/v1/admin-events", tag = "audit", params(EventQuery),
    responses((status = 200, description = "events: at, actor, partner, action, target, detail"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<EventQuery>,
) -> Result<Json<Vec<AdminEvent>>, AppError> {
    caller.need("audit", Access::Read)?;
    let Params(query) = query;
    let limit = Page {
        after: query.after,
        limit: query.limit,
    }
    .limit()?;
    let partner = if caller.is_operator() {
        query.partner_id
    } else {
        caller.partner_admin()?;
        Some(caller.partner_or(query.partner_id)?)
    };
    Ok(Json(state.store.admin_events(partner, query.after, limit).await?))
}
