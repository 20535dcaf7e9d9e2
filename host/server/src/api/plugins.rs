//! Plugin lifecycle: upload a component with its manifest, list versions, delete a version no
//! binding uses, bind a version to an extension point in a scope, enable, disable, upgrade,
//! roll back and unbind. Only the owner (and the operator) manages a plugin, and nobody binds
//! into another tenant's scope.
//!
//! Changes take effect on the next request: every binding change rebuilds the binding index,
//! and an uploaded version is compiled and loaded before the upload answers.

use crate::api::extract::{Body, Params, Path};
use crate::api::record_event;
use crate::auth::{Access, Caller};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use chrono::Utc;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{PartnerId, PartnerKind};
use pchost_extensions::bound::{check_change, check_settings};
use pchost_extensions::install::MAX_MANIFEST_BYTES;
use pchost_extensions::signing::{self, MAX_SIGNATURE_BYTES};
use pchost_runtime::{PluginManifest, World};
use pchost_store::bindings::{Binding, BindingChange, BindingScope, FailurePolicy, NewBinding, PluginVersion};
use pchost_store::publishers::PublisherKey;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An installed version.
#[derive(Debug, Serialize, ToSchema)]
pub struct Installed {
    /// `owner/name@version`.
    pub id: String,
    /// sha256 of the component: what runs.
    pub digest: String,
    /// The extension point it implements.
    pub world: String,
    /// Its owner.
    pub owner: PartnerId,
    /// The trusted publisher key that signed it, if a signature was sent.
    #[schema(value_type = Option<Object>)]
    pub signer: Option<PublisherKey>,
}

/// Uploads a component with its manifest as `multipart/form-data`: a `manifest` part (the
/// `plugin.toml` text), a `component` part (the `.wasm` bytes) and, when signed, a
/// `signature` part (the `.sig` of `pchost plugin sign`: required where the owner's scope
/// requires signatures, and then verified against the trusted publisher keys). The manifest's owner must
/// be the caller's partner (the operator may upload for any partner); its limits must lie
/// within the operator's ceilings; a version is immutable and content-addressed. Each owner
/// has an upload budget (`upload-rate-limited`) and a quota of versions and bytes. The
/// component is pre-checked, then compiled within the host's time ceiling, before anything is
/// stored.
#[utoipa::path(post, path = "/v1/plugins", tag = "plugins",
    request_body(content_type = "multipart/form-data", description = "parts `manifest` (TOML) and `component` (wasm)"),
    responses((status = 201, body = Installed), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<Installed>), AppError> {
    let _in_flight = admit_upload(&state, &caller)?;
    let mut multipart =
        multipart.map_err(|e| AppError::invalid_json(format!("not a multipart/form-data body: {e}")))?;
    let mut parts = UploadParts::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if !parts.read(&state, &name, field).await? {
            return Err(AppError::field(name, UploadParts::EXPECTED));
        }
    }
    Ok((StatusCode::CREATED, Json(install_upload(&state, &caller, parts).await?)))
}

/// Checks that the caller may upload, then takes one of the server's upload places (held
/// until the guard drops): a busy server refuses at once rather than buffer more uploads than
/// it allows at a time, before a byte of the body is read.
pub(crate) fn admit_upload(state: &AppState, caller: &Caller) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
    caller.need("plugins", Access::Write)?;
    if !caller.is_operator() {
        caller.partner_admin()?;
    }
    state.uploads_in_flight.clone().try_acquire_owned().map_err(|_| {
        AppError::retry_later(
            ErrorCode::UploadsBusy,
            format!(
                "{} plugin uploads are being received already, the most this server takes at once",
                crate::state::MAX_UPLOADS_IN_FLIGHT
            ),
            5,
        )
    })
}

/// The parts of an upload, each checked against its limit as it is read.
#[derive(Debug, Default)]
pub(crate) struct UploadParts {
    manifest: Option<(PluginManifest, String)>,
    component: Option<axum::body::Bytes>,
    signature: Option<axum::body::Bytes>,
}

impl UploadParts {
    /// What a part other than those expected is told.
    pub(crate) const EXPECTED: &str =
        "unexpected or repeated part: send one `manifest`, one `component` and at most one `signature`";

    /// Reads `field` when it is a part not read yet (`manifest`, `component`, `signature`);
    /// false for any other, left unread.
    pub(crate) async fn read(
        &mut self,
        state: &AppState,
        name: &str,
        field: axum::extract::multipart::Field<'_>,
    ) -> Result<bool, AppError> {
        match name {
            "manifest" if self.manifest.is_none() => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() > MAX_MANIFEST_BYTES {
                    return Err(AppError::field(
                        "manifest",
                        format!("at most {MAX_MANIFEST_BYTES} bytes"),
                    ));
                }
                let text =
                    String::from_utf8(bytes.to_vec()).map_err(|_| AppError::field("manifest", "not UTF-8 text"))?;
                let manifest =
                    PluginManifest::from_toml(&text).map_err(|e| AppError::field("manifest", e.to_string()))?;
                self.manifest = Some((manifest, text));
            }
            "signature" if self.signature.is_none() => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() > MAX_SIGNATURE_BYTES {
                    return Err(AppError::field(
                        "signature",
                        format!("at most {MAX_SIGNATURE_BYTES} bytes"),
                    ));
                }
                self.signature = Some(bytes);
            }
            "component" if self.component.is_none() => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                let max_component = state.host.runtime.limits().max_component_bytes;
                if bytes.len() > max_component {
                    return Err(AppError::payload_too_large(max_component));
                }
                self.component = Some(bytes);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Without an empty signature part: what a form's file input left empty sends.
    pub(crate) fn without_empty_signature(mut self) -> Self {
        self.signature = self.signature.filter(|s| !s.is_empty());
        self
    }
}

/// Installs an upload's version for `caller`: the owner is the caller's partner (any, for the
/// operator), the signature is checked, then the component is compiled and stored.
pub(crate) async fn install_upload(
    state: &AppState,
    caller: &Caller,
    parts: UploadParts,
) -> Result<Installed, AppError> {
    let (manifest, manifest_text) = parts
        .manifest
        .ok_or_else(|| AppError::field("manifest", "the `manifest` part is missing"))?;
    let component = parts
        .component
        .ok_or_else(|| AppError::field("component", "the `component` part is missing"))?;
    let signature = parts.signature;
    let owner_kind = match caller.partner() {
        Some(own) if own.id != manifest.owner => {
            return Err(AppError::refused(
                ErrorCode::NotOwner,
                format!(
                    "the manifest names owner {}, the caller is of partner {}",
                    manifest.owner, own.id
                ),
            ));
        }
        Some(own) => own.kind,
        None => {
            state
                .store
                .partner(manifest.owner)
                .await?
                .ok_or_else(|| AppError::not_found(Entity::Partner, manifest.owner))?
                .kind
        }
    };
    // After the owner is known to be the caller's: nobody spends another owner's budget.
    state.uploads.check(&format!("owner:{}", manifest.owner))?;
    // Before compiling: an unsigned, tampered or untrusted upload costs the host nothing.
    let signer = signing::check_upload(
        &state.store,
        manifest.owner,
        signing::upload_scope(owner_kind),
        manifest_text.as_bytes(),
        &component,
        signature.as_deref(),
    )
    .await?;
    let signed_manifest = manifest.to_toml();
    let plugin = pchost_extensions::install::install(
        &state.store,
        &state.host.runtime,
        manifest,
        &component,
        &state.host.plugin_quota,
    )
    .await?;
    let m = &plugin.manifest;
    if let Some(key) = &signer {
        state
            .store
            .record_signer(m.owner, &m.name, &m.version, &signed_manifest, &key.fingerprint)
            .await?;
    }
    // What the version holds: the first signature of the manifest stored stands.
    let signer = state.store.plugin_signer(m.owner, &m.name, &m.version).await?;
    tracing::info!(plugin = %plugin.id, digest = %plugin.digest, signer = ?signer.as_ref().map(|k| &k.fingerprint), by = %caller.label(), "plugin uploaded");
    record_event(
        state,
        caller,
        Some(plugin.manifest.owner),
        "plugin.upload",
        plugin.id.clone(),
        serde_json::json!({
            "digest": plugin.digest,
            "signer": signer.as_ref().map(|k| serde_json::json!({ "fingerprint": k.fingerprint, "name": k.name })),
        }),
    )
    .await?;
    Ok(Installed {
        id: plugin.id.clone(),
        digest: plugin.digest.clone(),
        world: plugin.manifest.world.to_string(),
        owner: plugin.manifest.owner,
        signer,
    })
}

pub(crate) fn multipart_error(e: axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::payload_too_large(crate::state::MAX_UPLOAD_BYTES)
    } else {
        AppError::invalid_json(format!("bad multipart body: {}", e.body_text()))
    }
}

/// Whose versions.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// For the operator: one owner's.
    pub owner: Option<PartnerId>,
}

/// Lists installed versions: the caller's partner's (the operator: all, or one owner's).
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", params(VersionQuery),
    responses((status = 200, description = "installed versions"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<VersionQuery>,
) -> Result<Json<Vec<PluginVersion>>, AppError> {
    caller.need("plugins", Access::Read)?;
    let Params(query) = query;
    let owner = if caller.is_operator() {
        query.owner
    } else {
        Some(caller.partner_or(query.owner)?)
    };
    Ok(Json(state.store.plugin_versions(owner).await?))
}

/// An installed version with its manifest.
#[derive(Debug, Serialize)]
pub struct VersionDetail {
    /// The version, as listed.
    #[serde(flatten)]
    pub version: PluginVersion,
    /// Its manifest: extension point and contract version, grants, the limits it asks for, the
    /// settings it declares.
    pub manifest: PluginManifest,
}

/// Gets an installed version with its manifest: who may list the owner's versions may read it.
#[utoipa::path(get, path = "/v1/plugins/{owner}/{name}/{version}", tag = "plugins",
    params(("owner" = i64, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, description = "the version and its manifest"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn version(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, version)): Path<(PartnerId, String, String)>,
) -> Result<Json<VersionDetail>, AppError> {
    caller.need("plugins", Access::Read)?;
    if !caller.is_operator() {
        caller.partner_or(Some(owner))?;
    }
    let id = format!("{owner}/{name}@{version}");
    let found = state
        .store
        .plugin_versions(Some(owner))
        .await?
        .into_iter()
        .find(|v| v.name == name && v.version == version)
        .ok_or_else(|| AppError::not_found(Entity::PluginVersion, &id))?;
    let manifest = state
        .store
        .plugin_manifest(owner, &name, &version)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::PluginVersion, &id))?;
    let manifest = PluginManifest::from_toml(&manifest)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the stored manifest of {id} does not read: {e}")))?;
    Ok(Json(VersionDetail {
        version: found,
        manifest,
    }))
}

/// Deletes an installed version that no binding names as its active, previous or shadow
/// version (`version-in-use` otherwise): its record, its loaded code, and its stored
/// component unless another version has the same bytes. The owner's admin, or the operator.
#[utoipa::path(delete, path = "/v1/plugins/{owner}/{name}/{version}", tag = "plugins",
    params(("owner" = i64, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn delete_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name, version)): Path<(PartnerId, String, String)>,
) -> Result<StatusCode, AppError> {
    caller.need("plugins", Access::Write)?;
    if !caller.is_operator() {
        let own = caller.partner_admin()?;
        if own.id != owner {
            return Err(AppError::refused(
                ErrorCode::NotOwner,
                format!("plugins of partner {owner} are not the caller's to delete"),
            ));
        }
    }
    pchost_extensions::install::delete(&state.store, &state.host.runtime, owner, &name, &version).await?;
    tracing::info!(plugin = %format!("{owner}/{name}@{version}"), by = %caller.label(), "plugin version deleted");
    record_event(
        &state,
        &caller,
        Some(owner),
        "plugin.delete",
        format!("{owner}/{name}@{version}"),
        serde_json::json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A binding to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBindingRequest {
    /// The extension point: `pricing-rule` or `approval-rule`.
    pub world: String,
    /// `platform` (operator only), `seller` (a seller's products) or `partner` (a partner's
    /// customers). Default: the caller's own (seller for a seller, else partner).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub scope: Option<BindingScope>,
    /// The seller or partner of the scope. Default: the caller's partner.
    #[serde(default)]
    pub scope_id: Option<PartnerId>,
    /// The plugin's owner (default: the caller's partner).
    #[serde(default)]
    pub owner: Option<PartnerId>,
    /// The plugin's name.
    pub plugin: String,
    /// The version to run.
    pub version: String,
    /// Order within the scope: lower runs first (-1000 to 1000, default 0).
    #[serde(default)]
    pub position: i32,
    /// `fail-closed` (default), `fail-open` or `fallback`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub failure_policy: Option<FailurePolicy>,
    /// Whether it runs (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Values for the settings the plugin's manifest declares (extension@0.3.0): a decimal
    /// as a string (`"0.08"`), an integer, a string or one-of option, a bool. A setting left
    /// out takes its default. Checked against the manifest; settings are not secrets.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Binds an installed version to an extension point in a scope.
#[utoipa::path(post, path = "/v1/bindings", tag = "plugins", request_body = NewBindingRequest,
    responses((status = 201, description = "the binding"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn bind(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<NewBindingRequest>,
) -> Result<(StatusCode, Json<Binding>), AppError> {
    caller.need("plugins", Access::Write)?;
    if !caller.is_operator() {
        caller.partner_admin()?;
    }
    let Body(request) = payload;
    let world = request
        .world
        .parse::<World>()
        .map_err(|_| AppError::field("world", "`pricing-rule` or `approval-rule`"))?;
    let own = caller.partner();
    let scope = match (request.scope, own) {
        (Some(scope), _) => scope,
        (None, Some(p)) if p.kind == PartnerKind::Seller => BindingScope::Seller,
        (None, Some(_)) => BindingScope::Partner,
        (None, None) => return Err(AppError::field("scope", "the operator names the scope")),
    };
    let scope_id = match scope {
        BindingScope::Platform => None,
        _ => Some(
            request
                .scope_id
                .or(own.map(|p| p.id))
                .ok_or_else(|| AppError::field("scope_id", "name the seller or partner of the scope"))?,
        ),
    };
    let owner = request
        .owner
        .or(own.map(|p| p.id))
        .ok_or_else(|| AppError::field("owner", "the operator names the plugin's owner"))?;
    if let Some(own) = own {
        if owner != own.id {
            return Err(AppError::refused(
                ErrorCode::NotOwner,
                format!("plugins of partner {owner} are not the caller's to bind"),
            ));
        }
        if scope == BindingScope::Platform || scope_id != Some(own.id) {
            return Err(AppError::refused(
                ErrorCode::OutOfScope,
                "a partner binds only into its own scope; platform-wide bindings are the operator's",
            ));
        }
        let expected = if own.kind == PartnerKind::Seller {
            BindingScope::Seller
        } else {
            BindingScope::Partner
        };
        if scope != expected {
            return Err(AppError::refused(
                ErrorCode::OutOfScope,
                format!("a {} binds into a `{expected}` scope", own.kind),
            ));
        }
    }
    if world == World::ApprovalRule && scope == BindingScope::Seller {
        return Err(AppError::refused_at(
            ErrorCode::ScopeNotApplicable,
            "scope",
            "approval rules govern a partner's actions: bind them platform-wide or in a partner scope",
        ));
    }
    if !(-1000..=1000).contains(&request.position) {
        return Err(AppError::field("position", "-1000 to 1000"));
    }
    let settings = request.settings.unwrap_or_default();
    check_settings(&state.store, owner, &request.plugin, &request.version, &settings).await?;
    let binding = state
        .store
        .create_binding(
            &NewBinding {
                world: request.world,
                scope,
                scope_id,
                plugin_owner: owner,
                plugin_name: request.plugin,
                version: request.version,
                position: request.position,
                failure_policy: request.failure_policy.unwrap_or(FailurePolicy::FailClosed),
                enabled: request.enabled.unwrap_or(true),
                settings,
            },
            &caller.label(),
            Utc::now(),
        )
        .await?;
    state.host.bindings.reload(&state.store).await?;
    tracing::info!(binding = binding.id, by = %caller.label(), "plugin bound");
    record_binding_event(&state, &caller, "binding.create", &binding).await?;
    Ok((StatusCode::CREATED, Json(binding)))
}

/// Lists bindings: those of the caller's partner's plugins or scope (the operator: all).
#[utoipa::path(get, path = "/v1/bindings", tag = "plugins",
    responses((status = 200, description = "bindings"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn bindings(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Binding>>, AppError> {
    caller.need("plugins", Access::Read)?;
    let all = state.store.bindings().await?;
    if caller.is_operator() {
        return Ok(Json(all));
    }
    let own = caller.partner_or(None)?;
    Ok(Json(
        all.into_iter()
            .filter(|b| b.plugin_owner == own || b.scope_id == Some(own))
            .collect(),
    ))
}

/// Enables, disables, upgrades, reorders or reconfigures (settings) a binding.
#[utoipa::path(patch, path = "/v1/bindings/{id}", tag = "plugins", params(("id" = i64, Path)), request_body = BindingChange,
    responses((status = 200, description = "the binding"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    payload: Body<BindingChange>,
) -> Result<Json<Binding>, AppError> {
    caller.need("plugins", Access::Write)?;
    let current = managed(&state, &caller, id).await?;
    let Body(change) = payload;
    if change.position.is_some_and(|p| !(-1000..=1000).contains(&p)) {
        return Err(AppError::field("position", "-1000 to 1000"));
    }
    check_change(&state.store, &current, &change).await?;
    let binding = state
        .store
        .update_binding(id, &change, &caller.label(), Utc::now())
        .await?;
    state.host.bindings.reload(&state.store).await?;
    record_binding_event(&state, &caller, "binding.change", &binding).await?;
    Ok(Json(binding))
}

/// Rolls a binding back to its previous revision: version and settings.
#[utoipa::path(post, path = "/v1/bindings/{id}/rollback", tag = "plugins", params(("id" = i64, Path)),
    responses((status = 200, description = "the binding"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Binding>, AppError> {
    caller.need("plugins", Access::Write)?;
    managed(&state, &caller, id).await?;
    let binding = state.store.rollback_binding(id, &caller.label(), Utc::now()).await?;
    state.host.bindings.reload(&state.store).await?;
    record_binding_event(&state, &caller, "binding.rollback", &binding).await?;
    Ok(Json(binding))
}

/// Removes a binding.
#[utoipa::path(delete, path = "/v1/bindings/{id}", tag = "plugins", params(("id" = i64, Path)),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn unbind(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    caller.need("plugins", Access::Write)?;
    let binding = managed(&state, &caller, id).await?;
    state.store.delete_binding(id).await?;
    state.host.bindings.reload(&state.store).await?;
    record_binding_event(&state, &caller, "binding.delete", &binding).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The binding, when the caller manages it: the operator any, a partner admin those of its
/// own plugins in its own scope.
pub(crate) async fn managed(state: &AppState, caller: &Caller, id: i64) -> Result<Binding, AppError> {
    let binding = state.store.binding(id).await?;
    if caller.is_operator() {
        return binding.ok_or_else(|| AppError::not_found(Entity::Binding, id));
    }
    let own = caller.partner_admin()?.id;
    // A missing binding is refused as another tenant's would be: ids tell nothing.
    let Some(binding) = binding.filter(|b| b.plugin_owner == own && b.scope_id == Some(own)) else {
        return Err(AppError::refused(
            ErrorCode::NotOwner,
            format!("binding {id} is not the caller's to manage"),
        ));
    };
    Ok(binding)
}

/// Paging of shadow differences.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// Ids above this one.
    #[serde(default)]
    pub after: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Lists the live requests on which a binding's shadow version answered differently from its
/// active version: both versions, the input's hash, both answers and both invocations.
#[utoipa::path(get, path = "/v1/bindings/{id}/shadow-diffs", tag = "plugins", params(("id" = i64, Path), DiffQuery),
    responses((status = 200, description = "the differences, oldest first"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn shadow_diffs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    query: Params<DiffQuery>,
) -> Result<Json<Vec<pchost_store::bindings::ShadowDiff>>, AppError> {
    caller.need("plugins", Access::Read)?;
    let Params(query) = query;
    let limit = crate::api::Page {
        after: query.after,
        limit: query.limit,
    }
    .limit()?;
    managed(&state, &caller, id).await?;
    Ok(Json(state.store.shadow_diffs(id, query.after, limit).await?))
}

/// Records a change of `binding` in the administrative audit, for the partner whose scope it
/// is (the plugin's owner for a platform-wide binding), with the revision it left.
async fn record_binding_event(
    state: &AppState,
    caller: &Caller,
    action: &str,
    binding: &Binding,
) -> Result<(), AppError> {
    record_event(
        state,
        caller,
        Some(binding.scope_id.unwrap_or(binding.plugin_owner)),
        action,
        format!("binding:{}", binding.id),
        serde_json::json!({
            "plugin": format!("{}/{}@{}", binding.plugin_owner, binding.plugin_name, binding.version),
            "world": binding.world,
            "scope": binding.scope,
            "scope_id": binding.scope_id,
            "enabled": binding.enabled,
            "shadow_version": binding.shadow_version,
            "settings": binding.settings,
        }),
    )
    .await
}
