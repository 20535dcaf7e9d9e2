//! Plugins and bindings: installed versions per owner with their manifests, upload and
//! delete; bindings per extension point in chain order, with their settings, enable and
//! disable, upgrade, rollback, shadow versions and their differences. Every read and change
//! goes through the API's handler, with its checks.

use super::page::{done, failure, json_block, time, token, urlencode};
use super::{Fields, Nav, PathId, Posted, Session, page};
use crate::api::extract::{Body, Params, Path};
use crate::api::plugins::{self as api, DiffQuery, NewBindingRequest, UploadParts, VersionQuery};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use pchost_domain::errors::ErrorCode;
use pchost_runtime::PluginManifest;
use pchost_runtime::settings::{SettingSpec, SettingType};
use pchost_store::bindings::{Binding, BindingChange, PluginVersion};
use serde_json::{Map, Value};

type Page = Result<Response, Response>;

/// The most versions the plugins page lists at once.
const MAX_LISTED: usize = 200;

/// The owner filter of the operator's pages: none, or a partner id.
fn owner_filter(fields: &Fields) -> Result<Option<i64>, AppError> {
    number("owner", fields.filled("owner"))
}

/// A version's manifest, through `GET /v1/plugins/{owner}/{name}/{version}`: others' versions
/// are refused as that route refuses them, before anything of them is read.
async fn visible_manifest(
    state: &AppState,
    session: &Session,
    owner: i64,
    name: &str,
    version: &str,
) -> Result<PluginManifest, AppError> {
    let Json(detail) = api::version(
        State(state.clone()),
        session.caller.clone(),
        Path((owner, name.to_owned(), version.to_owned())),
    )
    .await?;
    Ok(detail.manifest)
}

/// A version's manifest, as installed (what `GET /v1/plugins/{owner}/{name}/{version}`
/// answers); for versions the caller was shown by the API already.
async fn manifest(state: &AppState, owner: i64, name: &str, version: &str) -> Result<Option<PluginManifest>, AppError> {
    Ok(state
        .store
        .plugin_manifest(owner, name, version)
        .await?
        .and_then(|text| PluginManifest::from_toml(&text).ok()))
}

pub(super) async fn list(State(state): State<AppState>, session: Session, query: Fields) -> Page {
    let owner = owner_filter(&query).map_err(|e| failure(Some(&session), e))?;
    let fail = |e| failure(Some(&session), e);
    let Json(versions) = api::versions(
        State(state.clone()),
        session.caller.clone(),
        Params(VersionQuery { owner }),
    )
    .await
    .map_err(fail)?;
    // One page: an owner holds at most its quota of versions (200 by default); the operator
    // filters by owner past that.
    let total = versions.len();
    let mut rows = Vec::with_capacity(total.min(MAX_LISTED));
    for version in versions.into_iter().take(MAX_LISTED) {
        let manifest = manifest(&state, version.owner, &version.name, &version.version)
            .await
            .map_err(fail)?;
        rows.push((version, manifest));
    }
    let may_upload = session.caller.is_operator() || session.caller.partner_admin().is_ok();
    let body = html! {
        (done(query.get("done")))
        @if session.caller.is_operator() {
            form.inline method="get" action="/console/plugins" {
                label for="owner" { "Owner (partner id)" }
                input #owner type="number" name="owner" min="1" value=[owner];
                button type="submit" { "Filter" }
                a href="/console/plugins" { "All owners" }
            }
        }
        @if total > rows.len() {
            p.notice role="status" { "Showing the first " (rows.len()) " of " (total) " versions: filter by owner to see the others." }
        }
        @if rows.is_empty() {
            p { "No plugin versions installed" @if owner.is_some() { " for this owner" } "." }
        } @else {
            table {
                caption { "Installed versions, by owner and name" }
                thead { tr {
                    th scope="col" { "Owner" } th scope="col" { "Plugin" } th scope="col" { "Extension point (contract)" }
                    th scope="col" { "Digest" } th scope="col" { "Signer" } th scope="col" { "Limits asked" }
                    th scope="col" { "Settings" } th scope="col" { "Installed" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for (version, manifest) in &rows { (version_row(&session, version, manifest.as_ref(), may_upload)) }
                }
            }
        }
        @if may_upload {
            section aria-labelledby="upload-title" {
                h2 #upload-title { "Upload a version" }
                p.help {
                    "The manifest (" code { "plugin.toml" } ") names the owner, which must be "
                    @if session.caller.is_operator() { "an existing partner" } @else { "your partner" }
                    "; a version is immutable. The component is checked and compiled within the host's limits before it is stored. "
                    "A signature (" code { ".sig" } " of " code { "pchost plugin sign" } ") is needed where the owner's signature policy asks for one."
                }
                form.stack method="post" action="/console/plugins" enctype="multipart/form-data" {
                    (token(&session))
                    label for="manifest" { "Manifest (plugin.toml)" }
                    input #manifest type="file" name="manifest" accept=".toml,text/plain" required;
                    label for="component" { "Component (.wasm)" }
                    input #component type="file" name="component" accept=".wasm,application/wasm" required;
                    label for="signature" { "Signature (.sig, optional)" }
                    input #signature type="file" name="signature" accept=".sig";
                    button type="submit" { "Upload" }
                }
            }
        }
    };
    Ok(page(&session, Nav::Plugins, "Plugins", body))
}

fn version_row(session: &Session, version: &PluginVersion, manifest: Option<&PluginManifest>, manage: bool) -> Markup {
    let id = format!("{}@{}", version.name, version.version);
    html! {
        tr {
            td { (version.owner) }
            td { strong { (id) } }
            td {
                (version.world)
                @if let Some(m) = manifest { br; span.help { "contract " (m.world_version) } }
            }
            td { code title=(version.digest) { (version.digest.get(..12).unwrap_or(&version.digest)) "…" } }
            td { (version.signer.as_deref().unwrap_or("unsigned")) }
            td {
                @if let Some(m) = manifest {
                    (limit("deadline", m.limits.deadline_ms, "ms")) br;
                    (limit("fuel", m.limits.fuel, "")) br;
                    (limit("memory", m.limits.memory_mib, " MiB"))
                }
            }
            td {
                @match manifest {
                    Some(m) if !m.settings.is_empty() => {
                        details {
                            summary { (m.settings.len()) " settings" }
                            dl.settings {
                                @for (name, spec) in &m.settings {
                                    dt { code { (name) } " " span.help { (kind_label(spec)) } }
                                    dd { (spec.doc) @if let Some(d) = &spec.default { " Default " code { (plain(d)) } "." } }
                                }
                            }
                        }
                    }
                    _ => { "none" }
                }
            }
            td { (time(version.installed_at)) }
            td {
                @if manage {
                    a href=(format!("/console/bindings/new?owner={}&plugin={}&version={}", version.owner, urlencode(&version.name), urlencode(&version.version))) {
                        "Bind" span.visually-hidden { " " (id) }
                    }
                    form.inline method="post" action=(format!("/console/plugins/{}/{}/{}/delete", version.owner, version.name, version.version)) {
                        (token(session))
                        button.quiet type="submit" { "Delete" span.visually-hidden { " " (id) } }
                    }
                }
            }
        }
    }
}

fn limit(name: &str, value: Option<u64>, unit: &str) -> String {
    match value {
        Some(v) => format!("{name} {v}{unit}"),
        None => format!("{name}: host default"),
    }
}

fn kind_label(spec: &SettingSpec) -> String {
    let bounds = match (&spec.min, &spec.max) {
        (Some(min), Some(max)) => format!(", {} to {}", plain(min), plain(max)),
        (Some(min), None) => format!(", from {}", plain(min)),
        (None, Some(max)) => format!(", up to {}", plain(max)),
        (None, None) => String::new(),
    };
    match spec.kind {
        SettingType::Decimal => format!("decimal{bounds}"),
        SettingType::Integer => format!("integer{bounds}"),
        SettingType::String => "text".into(),
        SettingType::Bool => "yes or no".into(),
        SettingType::OneOf => format!("one of {}", spec.options.join(", ")),
    }
}

/// A JSON value as text: a string without its quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) async fn upload(
    State(state): State<AppState>,
    session: Session,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Page {
    let fail = |e| failure(Some(&session), e);
    let _in_flight = api::admit_upload(&state, &session.caller).map_err(fail)?;
    let mut multipart =
        multipart.map_err(|e| fail(AppError::invalid_json(format!("not a multipart/form-data body: {e}"))))?;
    // The form's token comes first, before a byte of any file is read, and is read no further
    // than a token's length.
    let first = multipart
        .next_field()
        .await
        .map_err(|e| fail(api::multipart_error(e)))?;
    let sent = match first {
        Some(mut field) if field.name() == Some("csrf") => {
            let mut token = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| fail(api::multipart_error(e)))? {
                token.extend_from_slice(&chunk);
                if token.len() > 128 {
                    break;
                }
            }
            String::from_utf8(token).ok().filter(|t| t.len() <= 128)
        }
        _ => None,
    };
    session.check_token(sent.as_deref()).map_err(fail)?;
    let mut parts = UploadParts::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| fail(api::multipart_error(e)))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if !parts.read(&state, &name, field).await.map_err(fail)? {
            return Err(fail(AppError::field(name, UploadParts::EXPECTED)));
        }
    }
    let installed = api::install_upload(&state, &session.caller, parts.without_empty_signature())
        .await
        .map_err(fail)?;
    tracing::info!(plugin = %installed.id, "uploaded from the console");
    Ok(Redirect::to("/console/plugins?done=uploaded").into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    axum::extract::Path((owner, name, version)): axum::extract::Path<(String, String, String)>,
    posted: Posted,
) -> Page {
    let session = &posted.session;
    let owner = owner
        .parse::<i64>()
        .map_err(|_| failure(Some(session), AppError::field("owner", "a partner id")))?;
    api::delete_version(State(state), session.caller.clone(), Path((owner, name, version)))
        .await
        .map_err(|e| failure(Some(session), e))?;
    Ok(Redirect::to("/console/plugins?done=deleted").into_response())
}

pub(super) async fn bindings(State(state): State<AppState>, session: Session, query: Fields) -> Page {
    let Json(all) = api::bindings(State(state.clone()), session.caller.clone())
        .await
        .map_err(|e| failure(Some(&session), e))?;
    let mut worlds: Vec<&str> = all.iter().map(|b| b.world.as_str()).collect();
    worlds.dedup();
    let body = html! {
        (done(query.get("done")))
        p.help {
            "Each extension point runs its enabled bindings in chain order: platform-wide first, then the seller's "
            "(over its own products), then the partner's (over its customers); by position within a scope. "
            "Bind an installed version from the " a href="/console/plugins" { "plugins" } " page."
        }
        @if all.is_empty() { p { "No bindings." } }
        @for world in &worlds {
            section aria-labelledby=(format!("world-{world}")) {
                h2 #(format!("world-{world}")) { (world) }
                table {
                    caption { "Bindings of " (world) ", in chain order" }
                    thead { tr {
                        th scope="col" { "Binding" } th scope="col" { "Scope" } th scope="col" { "Position" }
                        th scope="col" { "Plugin" } th scope="col" { "State" } th scope="col" { "Failure policy" }
                        th scope="col" { "Shadow" } th scope="col" { "Settings" } th scope="col" { "Last change" }
                    } }
                    tbody {
                        @for b in all.iter().filter(|b| b.world == *world) {
                            tr {
                                td { a href=(format!("/console/bindings/{}", b.id)) { "#" (b.id) } }
                                td { (b.scope) @if let Some(id) = b.scope_id { " " (id) } }
                                td { (b.position) }
                                td { (b.plugin_owner) "/" (b.plugin_name) "@" (b.version) }
                                td { @if b.enabled { span.ok { "enabled" } } @else { span.off { "disabled" } } }
                                td { (b.failure_policy) }
                                td { (b.shadow_version.as_deref().unwrap_or("none")) }
                                td { (settings_text(&b.settings)) }
                                td { (time(b.updated_at)) br; span.help { (b.updated_by) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&session, Nav::Bindings, "Bindings", body))
}

fn settings_text(settings: &Map<String, Value>) -> String {
    if settings.is_empty() {
        return "defaults".into();
    }
    settings
        .iter()
        .map(|(k, v)| format!("{k} = {}", plain(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The settings inputs of a manifest, filled with `current` values (blank: the default).
fn settings_inputs(manifest: &PluginManifest, current: &Map<String, Value>) -> Markup {
    html! {
        @if manifest.settings.is_empty() {
            p.help { "This version declares no settings." }
        } @else {
            fieldset {
                legend { "Settings (blank: the manifest's default)" }
                @for (name, spec) in &manifest.settings {
                    @let id = format!("setting-{name}");
                    @let value = current.get(name).map(plain);
                    div.field {
                        label for=(id) { code { (name) } " " span.help { (kind_label(spec)) } }
                        @match spec.kind {
                            SettingType::Bool | SettingType::OneOf => {
                                select #(id) name=(format!("setting.{name}")) aria-describedby=(format!("{id}-doc")) {
                                    option value="" selected[value.is_none()] {
                                        "default" @if let Some(d) = &spec.default { " (" (plain(d)) ")" }
                                    }
                                    @let options: Vec<String> = if spec.kind == SettingType::Bool {
                                        vec!["true".into(), "false".into()]
                                    } else {
                                        spec.options.clone()
                                    };
                                    @for option in &options {
                                        option value=(option) selected[value.as_deref() == Some(option.as_str())] { (option) }
                                    }
                                    // A value the manifest no longer offers stays as it is until changed.
                                    @if let Some(current) = value.as_ref().filter(|v| !options.contains(v)) {
                                        option value=(current) selected { (current) " (current; not among the options)" }
                                    }
                                }
                            }
                            _ => {
                                input #(id) type="text" name=(format!("setting.{name}")) value=[value]
                                    placeholder=[spec.default.as_ref().map(plain)] aria-describedby=(format!("{id}-doc"));
                            }
                        }
                        p.help #(format!("{id}-doc")) { (spec.doc) }
                    }
                }
            }
        }
    }
}

/// The settings a form sends, typed by the manifest; blank ones are left out (default).
fn settings_of(manifest: &PluginManifest, fields: &Fields) -> Result<Map<String, Value>, AppError> {
    let mut settings = Map::new();
    for (name, value) in fields.with_prefix("setting.") {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let Some(spec) = manifest.settings.get(name) else {
            return Err(AppError::field(
                format!("settings.{name}"),
                "not a setting of this version",
            ));
        };
        let typed = match spec.kind {
            SettingType::Integer => Value::from(
                value
                    .parse::<i64>()
                    .map_err(|_| AppError::field(format!("settings.{name}"), "a whole number"))?,
            ),
            SettingType::Bool => Value::Bool(match value {
                "true" => true,
                "false" => false,
                _ => return Err(AppError::field(format!("settings.{name}"), "true or false")),
            }),
            // Decimals stay text: exact, never a float (the manifest check reads them).
            SettingType::Decimal | SettingType::String | SettingType::OneOf => Value::String(value.to_owned()),
        };
        settings.insert(name.to_owned(), typed);
    }
    Ok(settings)
}

pub(super) async fn new_binding(State(state): State<AppState>, session: Session, query: Fields) -> Page {
    let fail = |e| failure(Some(&session), e);
    let owner = owner_filter(&query)
        .and_then(|o| o.ok_or_else(|| AppError::field("owner", "name the plugin's owner")))
        .map_err(fail)?;
    let (name, version) = (
        query.filled("plugin").unwrap_or_default(),
        query.filled("version").unwrap_or_default(),
    );
    let manifest = visible_manifest(&state, &session, owner, name, version)
        .await
        .map_err(fail)?;
    let world = manifest.world.to_string();
    let body = html! {
        p { "Bind " strong { (owner) "/" (name) "@" (version) } " (" (world) ", contract " (manifest.world_version) ")." }
        form.stack method="post" action="/console/bindings" {
            (token(&session))
            input type="hidden" name="world" value=(world);
            input type="hidden" name="owner" value=(owner);
            input type="hidden" name="plugin" value=(name);
            input type="hidden" name="version" value=(version);
            @if session.caller.is_operator() {
                label for="scope" { "Scope" }
                select #scope name="scope" {
                    option value="platform" { "platform-wide" }
                    option value="seller" { "a seller's products" }
                    option value="partner" { "a partner's customers" }
                }
                label for="scope_id" { "Seller or partner id (not for platform-wide)" }
                input #scope_id type="number" name="scope_id" min="1";
            } @else {
                p.help { "It is bound in your own scope." }
            }
            label for="position" { "Position (lower runs first, -1000 to 1000)" }
            input #position type="number" name="position" value="0" min="-1000" max="1000" required;
            label for="failure_policy" { "Failure policy" }
            (policy_select("fail-closed"))
            div.check {
                input #enabled type="checkbox" name="enabled" value="true" checked;
                label for="enabled" { "Enabled (runs from the next request)" }
            }
            (settings_inputs(&manifest, &Map::new()))
            button type="submit" { "Bind" }
        }
    };
    Ok(page(&session, Nav::Bindings, "New binding", body))
}

fn policy_select(current: &str) -> Markup {
    html! {
        select #failure_policy name="failure_policy" aria-describedby="policy-help" {
            @for (value, label) in [
                ("fail-closed", "fail-closed: a failure refuses the request"),
                ("fail-open", "fail-open: a failure skips this plugin"),
                ("fallback", "fallback: a failure runs the previous version"),
            ] {
                option value=(value) selected[value == current] { (label) }
            }
        }
        p.help #policy-help { "What a request gets when this plugin fails (trap, timeout, out of fuel, bad answer)." }
    }
}

/// A form's word as the serde value it names (`fail-open`, `seller`...).
fn word<T: serde::de::DeserializeOwned>(field: &str, value: Option<&str>) -> Result<Option<T>, AppError> {
    value
        .map(|v| {
            serde_json::from_value(Value::String(v.to_owned()))
                .map_err(|_| AppError::field(field.to_owned(), format!("{v:?} is not one of the choices")))
        })
        .transpose()
}

fn number<T: std::str::FromStr>(field: &str, value: Option<&str>) -> Result<Option<T>, AppError> {
    value
        .map(|v| {
            v.parse()
                .map_err(|_| AppError::field(field.to_owned(), "a whole number"))
        })
        .transpose()
}

pub(super) async fn bind(State(state): State<AppState>, posted: Posted) -> Page {
    let (session, fields) = (&posted.session, &posted.fields);
    let fail = |e| failure(Some(session), e);
    let request = async {
        let owner: i64 = number("owner", fields.filled("owner"))?.ok_or_else(|| AppError::field("owner", "missing"))?;
        let plugin = fields.filled("plugin").unwrap_or_default().to_owned();
        let version = fields.filled("version").unwrap_or_default().to_owned();
        // Who may not bind is refused as the API refuses it, before any setting is read; the
        // settings are typed by a manifest the caller may see, and the API checks the rest.
        session.caller.need("plugins", crate::auth::Access::Write)?;
        if !session.caller.is_operator() {
            session.caller.partner_admin()?;
        }
        let manifest = visible_manifest(&state, session, owner, &plugin, &version).await?;
        let settings = settings_of(&manifest, fields)?;
        Ok::<_, AppError>(NewBindingRequest {
            world: fields.filled("world").unwrap_or_default().to_owned(),
            scope: word("scope", fields.filled("scope"))?,
            scope_id: number("scope_id", fields.filled("scope_id"))?,
            owner: Some(owner),
            plugin,
            version,
            position: number("position", fields.filled("position"))?.unwrap_or(0),
            failure_policy: word("failure_policy", fields.filled("failure_policy"))?,
            enabled: Some(fields.get("enabled") == Some("true")),
            settings: Some(settings),
        })
    }
    .await
    .map_err(fail)?;
    let (_, Json(binding)) = api::bind(State(state), session.caller.clone(), Body(request))
        .await
        .map_err(fail)?;
    Ok(Redirect::to(&format!("/console/bindings/{}?done=bound", binding.id)).into_response())
}

/// Binding `id` when the caller sees it (as `GET /v1/bindings` lists it), and whether it may
/// change it.
async fn visible_binding(state: &AppState, session: &Session, id: i64) -> Result<(Binding, bool), AppError> {
    let Json(all) = api::bindings(State(state.clone()), session.caller.clone()).await?;
    let binding = all.into_iter().find(|b| b.id == id).ok_or_else(|| {
        AppError::refused(
            ErrorCode::NotOwner,
            format!("binding {id} is not one the caller may see"),
        )
    })?;
    let manages = api::managed(state, &session.caller, id).await.is_ok();
    Ok((binding, manages))
}

pub(super) async fn binding(
    State(state): State<AppState>,
    PathId(id): PathId,
    session: Session,
    query: Fields,
) -> Page {
    let fail = |e| failure(Some(&session), e);
    let (b, manages) = visible_binding(&state, &session, id).await.map_err(fail)?;
    let manifest = manifest(&state, b.plugin_owner, &b.plugin_name, &b.version)
        .await
        .map_err(fail)?;
    let others: Vec<String> = state
        .store
        .plugin_versions(Some(b.plugin_owner))
        .await
        .map_err(|e| fail(e.into()))?
        .into_iter()
        .filter(|v| v.name == b.plugin_name && v.world == b.world && v.version != b.version)
        .map(|v| v.version)
        .collect();
    let action = format!("/console/bindings/{id}");
    let body = html! {
        (done(query.get("done")))
        dl.facts {
            dt { "Extension point" } dd { (b.world) }
            dt { "Scope" } dd { (b.scope) @if let Some(s) = b.scope_id { " " (s) } }
            dt { "Plugin" } dd { (b.plugin_owner) "/" (b.plugin_name) "@" strong { (b.version) } }
            dt { "Previous version" } dd { (b.previous_version.as_deref().unwrap_or("none")) }
            dt { "Shadow version" } dd {
                (b.shadow_version.as_deref().unwrap_or("none"))
                @if manages {
                    " · " a href=(format!("/console/bindings/{id}/shadow-diffs")) { "shadow differences" }
                }
            }
            dt { "Position" } dd { (b.position) }
            dt { "State" } dd { @if b.enabled { span.ok { "enabled" } } @else { span.off { "disabled" } } }
            dt { "Failure policy" } dd { (b.failure_policy) }
            dt { "Settings" } dd { (settings_text(&b.settings)) }
            dt { "Last change" } dd { (time(b.updated_at)) " by " (b.updated_by) }
        }
        @if !manages {
            p.help { "Only the plugin's owner (its admins) or the operator changes this binding." }
        } @else {
            section aria-labelledby="actions-title" {
                h2 #actions-title { "Change it" }
                div.actions {
                    form method="post" action=(action) {
                        (token(&session))
                        @if b.enabled {
                            input type="hidden" name="action" value="disable";
                            button type="submit" { "Disable" }
                        } @else {
                            input type="hidden" name="action" value="enable";
                            button type="submit" { "Enable" }
                        }
                    }
                    @if let Some(previous) = &b.previous_version {
                        form method="post" action=(format!("/console/bindings/{id}/rollback")) {
                            (token(&session))
                            button type="submit" { "Roll back to " (previous) }
                        }
                    }
                }
                @if !others.is_empty() {
                    form.inline method="post" action=(action) {
                        (token(&session))
                        input type="hidden" name="action" value="upgrade";
                        label for="upgrade-version" { "Run another version" }
                        select #upgrade-version name="version" {
                            @for v in &others { option value=(v) { (v) } }
                        }
                        button type="submit" { "Switch" }
                    }
                    form.inline method="post" action=(action) {
                        (token(&session))
                        input type="hidden" name="action" value="shadow";
                        label for="shadow-version" { "Shadow with" }
                        select #shadow-version name="version" {
                            @for v in &others { option value=(v) selected[b.shadow_version.as_deref() == Some(v.as_str())] { (v) } }
                        }
                        button type="submit" { "Shadow on" }
                    }
                }
                @if b.shadow_version.is_some() {
                    form.inline method="post" action=(action) {
                        (token(&session))
                        input type="hidden" name="action" value="unshadow";
                        button type="submit" { "Shadow off" }
                    }
                }
                form.inline method="post" action=(action) {
                    (token(&session))
                    input type="hidden" name="action" value="policy";
                    label for="failure_policy" { "Failure policy" }
                    (policy_select(&b.failure_policy.to_string()))
                    button type="submit" { "Set" }
                }
                form.inline method="post" action=(action) {
                    (token(&session))
                    input type="hidden" name="action" value="position";
                    label for="position" { "Position" }
                    input #position type="number" name="position" value=(b.position) min="-1000" max="1000" required;
                    button type="submit" { "Move" }
                }
                @if let Some(m) = &manifest {
                    form.stack method="post" action=(action) {
                        (token(&session))
                        input type="hidden" name="action" value="settings";
                        (settings_inputs(m, &b.settings))
                        @if !m.settings.is_empty() { button type="submit" { "Save settings" } }
                    }
                }
                form.inline method="post" action=(format!("/console/bindings/{id}/delete")) {
                    (token(&session))
                    button.danger type="submit" { "Remove this binding" }
                }
            }
        }
    };
    Ok(page(&session, Nav::Bindings, &format!("Binding #{id}"), body))
}

pub(super) async fn change(State(state): State<AppState>, PathId(id): PathId, posted: Posted) -> Page {
    let (session, fields) = (&posted.session, &posted.fields);
    let fail = |e| failure(Some(session), e);
    let change = async {
        let version = || fields.filled("version").map(str::to_owned);
        Ok::<_, AppError>(match fields.get("action").unwrap_or_default() {
            "enable" => BindingChange {
                enabled: Some(true),
                ..BindingChange::default()
            },
            "disable" => BindingChange {
                enabled: Some(false),
                ..BindingChange::default()
            },
            "upgrade" => BindingChange {
                version: Some(version().ok_or_else(|| AppError::field("version", "choose a version"))?),
                ..BindingChange::default()
            },
            "shadow" => BindingChange {
                shadow_version: Some(Some(
                    version().ok_or_else(|| AppError::field("version", "choose a version"))?,
                )),
                ..BindingChange::default()
            },
            "unshadow" => BindingChange {
                shadow_version: Some(None),
                ..BindingChange::default()
            },
            "policy" => BindingChange {
                failure_policy: word("failure_policy", fields.filled("failure_policy"))?,
                ..BindingChange::default()
            },
            "position" => BindingChange {
                position: number("position", fields.filled("position"))?,
                ..BindingChange::default()
            },
            "settings" => {
                let (binding, _) = visible_binding(&state, session, id).await?;
                let manifest = manifest(&state, binding.plugin_owner, &binding.plugin_name, &binding.version)
                    .await?
                    .ok_or_else(|| AppError::field("settings", "the active version's manifest is not installed"))?;
                BindingChange {
                    settings: Some(settings_of(&manifest, fields)?),
                    ..BindingChange::default()
                }
            }
            other => {
                return Err(AppError::field(
                    "action",
                    format!("{other:?} is not an action on a binding"),
                ));
            }
        })
    }
    .await
    .map_err(fail)?;
    let Json(_) = api::change(State(state), session.caller.clone(), Path(id), Body(change))
        .await
        .map_err(fail)?;
    Ok(Redirect::to(&format!("/console/bindings/{id}?done=changed")).into_response())
}

pub(super) async fn rollback(State(state): State<AppState>, PathId(id): PathId, posted: Posted) -> Page {
    let session = &posted.session;
    let Json(_) = api::rollback(State(state), session.caller.clone(), Path(id))
        .await
        .map_err(|e| failure(Some(session), e))?;
    Ok(Redirect::to(&format!("/console/bindings/{id}?done=rolled-back")).into_response())
}

pub(super) async fn unbind(State(state): State<AppState>, PathId(id): PathId, posted: Posted) -> Page {
    let session = &posted.session;
    api::unbind(State(state), session.caller.clone(), Path(id))
        .await
        .map_err(|e| failure(Some(session), e))?;
    Ok(Redirect::to("/console/bindings?done=unbound").into_response())
}

pub(super) async fn shadow_diffs(
    State(state): State<AppState>,
    PathId(id): PathId,
    session: Session,
    query: Fields,
) -> Page {
    let fail = |e| failure(Some(&session), e);
    let after = number("after", query.filled("after")).map_err(fail)?.unwrap_or(0);
    let Json(diffs) = api::shadow_diffs(
        State(state.clone()),
        session.caller.clone(),
        Path(id),
        Params(DiffQuery { after, limit: Some(20) }),
    )
    .await
    .map_err(fail)?;
    let body = html! {
        p {
            "Live requests on which binding " a href=(format!("/console/bindings/{id}")) { "#" (id) }
            "'s shadow version answered otherwise than its active version, oldest first. The shadow's answers never reach a request."
        }
        @if diffs.is_empty() { p { "No differences recorded" @if after > 0 { " after #" (after) } "." } }
        @for diff in &diffs {
            @let active: Value = serde_json::from_str(&diff.active_output).unwrap_or(Value::Null);
            @let shadow: Value = serde_json::from_str(&diff.shadow_output).unwrap_or(Value::Null);
            section.diff aria-labelledby=(format!("diff-{}", diff.id)) {
                h2 #(format!("diff-{}", diff.id)) { "Difference #" (diff.id) }
                p.help {
                    (time(diff.recorded_at)) " · input sha256 " code { (diff.input_hash.get(..12).unwrap_or(&diff.input_hash)) "…" }
                }
                table.paths {
                    caption { "Where the answers differ" }
                    thead { tr { th scope="col" { "Path" } th scope="col" { "Active " (diff.active_version) } th scope="col" { "Shadow " (diff.shadow_version) } } }
                    tbody {
                        @for d in pchost_extensions::replay::differences(&active, &shadow) {
                            tr { td { code { (d.path) } } td.was { code { (d.recorded) } } td.now { code { (d.replayed) } } }
                        }
                    }
                }
                div.side-by-side {
                    div {
                        h3 { "Active " (diff.active_version) }
                        @if let Some(inv) = diff.active_invocation { p { a href=(format!("/console/invocations/{inv}")) { "invocation #" (inv) } } }
                        (json_block(&diff.active_output))
                    }
                    div {
                        h3 { "Shadow " (diff.shadow_version) }
                        @if let Some(inv) = diff.shadow_invocation { p { a href=(format!("/console/invocations/{inv}")) { "invocation #" (inv) } } }
                        (json_block(&diff.shadow_output))
                    }
                }
            }
        }
        @if let Some(last) = diffs.last() {
            @if diffs.len() == 20 {
                p { a href=(format!("/console/bindings/{id}/shadow-diffs?after={}", last.id)) { "Later differences" } }
            }
        }
    };
    Ok(page(
        &session,
        Nav::Bindings,
        &format!("Shadow differences of binding #{id}"),
        body,
    ))
}
