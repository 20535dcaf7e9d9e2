//! Plugin bindings: which installed plugin version runs for a world (pricing-rule,
//! approval-rule...) at a scope (the whole platform, one marketplace seller's products, one
//! partner), in which position, and what a failure of it does to the action. A binding keeps
//! the version it ran before its last upgrade, so that an upgrade can be rolled back. A
//! binding may also name a shadow version of the same plugin, run on live requests beside the
//! active version without affecting results; the requests on which the two answered
//! differently are recorded as [`ShadowDiff`]s.

use crate::entities::{PartnerId, PartnerKind};
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::store::StoreError;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::ops::RangeInclusive;

/// The positions a binding may take; lower runs first.
pub const POSITIONS: RangeInclusive<i32> = -1000..=1000;

pchost_domain::word_enum! {
    /// What a failing plugin does to the action.
    pub enum FailurePolicy {
        /// The action is refused.
        FailClosed => "fail-closed",
        /// The action goes on as if the plugin had not run.
        FailOpen => "fail-open",
        /// The action goes on with the host's built-in behaviour.
        Fallback => "fallback",
    }
}

pchost_domain::word_enum! {
    /// Where a binding applies.
    pub enum BindingScope {
        /// Everywhere.
        Platform => "platform",
        /// The products of one marketplace seller.
        Seller => "seller",
        /// One partner and its customers.
        Partner => "partner",
    }
}

/// A plugin bound to a world at a scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// Id.
    pub id: i64,
    /// The world, e.g. `pricing-rule`.
    pub world: String,
    /// Where it applies.
    pub scope: BindingScope,
    /// The seller or partner; `None` for the platform scope.
    pub scope_id: Option<PartnerId>,
    /// The plugin's owner.
    pub plugin_owner: PartnerId,
    /// The plugin's name.
    pub plugin_name: String,
    /// The version that runs.
    pub version: String,
    /// The version that ran before the last version change, for a rollback.
    pub previous_version: Option<String>,
    /// A version of the same plugin run beside `version` on live requests, without affecting
    /// results; never `version` itself.
    pub shadow_version: Option<String>,
    /// Order among the bindings of one world and scope; lower runs first.
    pub position: i32,
    /// What a failure does.
    pub failure_policy: FailurePolicy,
    /// Whether it runs.
    pub enabled: bool,
    /// The values it gives its plugin's settings (checked against the manifest when set).
    pub settings: Map<String, Value>,
    /// The settings of the revision before the last change of version or settings, for a
    /// rollback.
    pub previous_settings: Option<Map<String, Value>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: String,
}

/// A binding to create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewBinding {
    /// The world; must be the installed version's.
    pub world: String,
    /// Where it applies.
    pub scope: BindingScope,
    /// The seller or partner; `None` for the platform scope.
    pub scope_id: Option<PartnerId>,
    /// The plugin's owner.
    pub plugin_owner: PartnerId,
    /// The plugin's name.
    pub plugin_name: String,
    /// An installed version of the plugin.
    pub version: String,
    /// Order, in [`POSITIONS`].
    pub position: i32,
    /// What a failure does.
    pub failure_policy: FailurePolicy,
    /// Whether it runs.
    pub enabled: bool,
    /// Values for the plugin's settings; the caller has checked them against the manifest.
    #[serde(default)]
    pub settings: Map<String, Value>,
}

/// Changes to a binding; `None` (an absent field, in JSON) leaves a field as it is. The API's
/// `PATCH /v1/bindings/{id}` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingChange {
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Run another installed version of the same plugin and world (the current one is kept
    /// as the previous version, for rollback and fallback).
    #[serde(default)]
    pub version: Option<String>,
    /// New order, in [`POSITIONS`] (-1000 to 1000).
    #[serde(default)]
    pub position: Option<i32>,
    /// New failure policy: `fail-closed`, `fail-open` or `fallback`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub failure_policy: Option<FailurePolicy>,
    /// Another installed version to run beside the active one on live requests, without
    /// affecting results (its differences are recorded: `GET /v1/bindings/{id}/shadow-diffs`).
    /// `Some(Some(v))` makes `v`, other than the active version, the shadow version;
    /// `Some(None)` removes the shadow. In JSON, `null` removes it and an absent field leaves
    /// it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub shadow_version: Option<Option<String>>,
    /// New values for the plugin's settings, replacing all of them (a setting left out takes
    /// its default), checked against the manifest of the version active after the change.
    /// Settings are configuration, not secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
}

/// A field that is present, even as `null`: `Some(None)` for `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The longest output of either version a shadow difference keeps, in bytes.
pub const MAX_SHADOW_OUTPUT: usize = 1 << 20;
/// The most shadow differences one query returns.
pub const MAX_SHADOW_PAGE: u32 = 500;

/// One live request on which a binding's shadow version answered differently from its
/// active version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShadowDiff {
    /// Id.
    pub id: i64,
    /// The binding.
    pub binding: i64,
    /// The version that answered for real.
    pub active_version: String,
    /// The version run beside it.
    pub shadow_version: String,
    /// sha256 of the input both were given (see [`crate::audit::InvocationRecord::hash_input`]).
    pub input_hash: String,
    /// The active version's invocation in the audit trail, when it was recorded.
    pub active_invocation: Option<i64>,
    /// The shadow version's invocation in the audit trail, when it was recorded.
    pub shadow_invocation: Option<i64>,
    /// What the active version answered, as JSON.
    pub active_output: String,
    /// What the shadow version answered, as JSON.
    pub shadow_output: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A shadow difference to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewShadowDiff {
    /// The binding; must exist.
    pub binding: i64,
    /// The version that answered for real.
    pub active_version: String,
    /// The version run beside it.
    pub shadow_version: String,
    /// sha256 of the input both were given.
    pub input_hash: String,
    /// The active version's invocation in the audit trail, if recorded.
    pub active_invocation: Option<i64>,
    /// The shadow version's invocation in the audit trail, if recorded.
    pub shadow_invocation: Option<i64>,
    /// What the active version answered, as JSON, at most [`MAX_SHADOW_OUTPUT`] bytes.
    pub active_output: String,
    /// What the shadow version answered, as JSON, at most [`MAX_SHADOW_OUTPUT`] bytes.
    pub shadow_output: String,
}

/// An installed plugin version.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PluginVersion {
    /// The plugin's owner.
    pub owner: PartnerId,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// sha256 of the component, hex.
    pub digest: String,
    /// The world it implements.
    pub world: String,
    /// The component's size in bytes (0 for versions installed before sizes were recorded).
    pub size_bytes: u64,
    /// When it was installed.
    pub installed_at: DateTime<Utc>,
    /// The fingerprint of the publisher key that signed it, if one did.
    pub signer: Option<String>,
}

/// A plugin version to record as installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewPluginVersion<'a> {
    /// sha256 of the component, hex.
    pub digest: &'a str,
    /// Name.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// The world it implements.
    pub world: &'a str,
    /// The plugin's owner.
    pub owner: PartnerId,
    /// The manifest as TOML text.
    pub manifest: &'a str,
    /// The component: kept in the database once per digest, so every replica can compile it;
    /// its size is what the version counts against its owner's quota.
    pub component: &'a [u8],
}

/// What one owner may keep installed: every version counts, and counts its component's
/// bytes, even when another version has the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginQuota {
    /// Installed versions.
    pub max_versions: u64,
    /// Bytes of their components, together.
    pub max_bytes: u64,
}

impl Default for PluginQuota {
    fn default() -> Self {
        PluginQuota {
            max_versions: 200,
            max_bytes: 256 << 20,
        }
    }
}

/// What one owner has installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginUsage {
    /// Installed versions.
    pub versions: u64,
    /// Bytes of their components, together.
    pub bytes: u64,
}

/// What recording a version did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// It is recorded (now, or it was already, with the same digest).
    Yes,
    /// The version is recorded with this other digest; nothing was written.
    OtherDigest(String),
    /// Its owner's quota has no room for it; nothing was written. The owner's usage.
    OverQuota(PluginUsage),
}

const BINDING_FIELDS: &str = "id, world, scope, scope_id, plugin_owner, plugin_name, version, previous_version, shadow_version, position, failure_policy, enabled, settings, previous_settings, created_at, updated_at, updated_by";

/// The largest settings a binding holds, as JSON.
pub const MAX_BINDING_SETTINGS: usize = 8 << 10;

/// A binding's settings as stored: a JSON object of at most [`MAX_BINDING_SETTINGS`] bytes.
fn settings_text(settings: &Map<String, Value>) -> Result<String, StoreError> {
    let text = Value::Object(settings.clone()).to_string();
    if text.len() > MAX_BINDING_SETTINGS {
        return Err(DomainError::Invalid {
            field: "settings",
            message: format!("{} bytes of settings; at most {MAX_BINDING_SETTINGS}", text.len()),
        }
        .into());
    }
    Ok(text)
}

fn settings_from(r: &AnyRow, column: &str) -> Result<Option<Map<String, Value>>, StoreError> {
    let text: Option<String> = r.try_get(column)?;
    text.map(|t| match serde_json::from_str(&t) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(store::corrupt(
            "plugin_bindings",
            format!("{column} is not a JSON object"),
        )),
    })
    .transpose()
}

const SHADOW_DIFF_FIELDS: &str = "id, binding, active_version, shadow_version, input_hash, active_invocation, shadow_invocation, active_output, shadow_output, recorded_at";

fn binding_from_row(r: &AnyRow) -> Result<Binding, StoreError> {
    let scope: BindingScope = store::word(r, "plugin_bindings", "scope")?;
    let scope_id: i64 = r.try_get("scope_id")?;
    let position: i64 = r.try_get("position")?;
    Ok(Binding {
        id: r.try_get("id")?,
        world: r.try_get("world")?,
        scope,
        scope_id: (scope != BindingScope::Platform).then_some(scope_id),
        plugin_owner: r.try_get("plugin_owner")?,
        plugin_name: r.try_get("plugin_name")?,
        version: r.try_get("version")?,
        previous_version: r.try_get("previous_version")?,
        shadow_version: r.try_get("shadow_version")?,
        position: i32::try_from(position)
            .map_err(|_| store::corrupt("plugin_bindings", format!("position {position}")))?,
        failure_policy: store::word(r, "plugin_bindings", "failure_policy")?,
        enabled: store::flag(r, "plugin_bindings", "enabled")?,
        settings: settings_from(r, "settings")?.unwrap_or_default(),
        previous_settings: settings_from(r, "previous_settings")?,
        created_at: store::millis(r, "plugin_bindings", "created_at")?,
        updated_at: store::millis(r, "plugin_bindings", "updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

fn check_position(position: i32) -> Result<(), StoreError> {
    if !POSITIONS.contains(&position) {
        return Err(DomainError::Invalid {
            field: "position",
            message: format!("{position} is outside {} to {}", POSITIONS.start(), POSITIONS.end()),
        }
        .into());
    }
    Ok(())
}

fn binding_not_found(id: i64) -> DomainError {
    DomainError::NotFound {
        what: Entity::Binding,
        id,
    }
}

fn shadow_is_active(id: i64, version: &str) -> DomainError {
    refused(
        ErrorCode::ShadowIsActive,
        format!("{version} would be both the active and the shadow version of binding {id}"),
    )
}

impl Store {
    /// Where `scope` requires signed versions, `owner/name@version` must carry a signature by
    /// a publisher key still trusted: binding, upgrading to or rolling back to an unsigned
    /// version there is refused, whoever asks (the API, the CLI).
    async fn check_signed(
        &self,
        scope: BindingScope,
        owner: PartnerId,
        name: &str,
        version: &str,
    ) -> Result<(), StoreError> {
        if !self.signature_required(scope).await? {
            return Ok(());
        }
        match self.plugin_signer(owner, name, version).await? {
            Some(key) if key.revoked_at.is_none() => Ok(()),
            Some(key) => Err(refused(
                ErrorCode::SignerUntrusted,
                format!(
                    "{owner}/{name}@{version} was signed by publisher key {} ({}), since revoked: the {scope} scope requires a trusted signature",
                    key.fingerprint, key.name
                ),
            )
            .into()),
            None => Err(refused(
                ErrorCode::SignatureRequired,
                format!("{owner}/{name}@{version} is not signed, and the {scope} scope requires signed plugins"),
            )
            .into()),
        }
    }

    /// `owner/name@version` must be installed and implement `world`.
    async fn check_installed(
        &self,
        owner: PartnerId,
        name: &str,
        version: &str,
        world: &str,
    ) -> Result<(), StoreError> {
        let installed: Option<String> =
            sqlx::query_scalar("SELECT world FROM plugin_versions WHERE owner = $1 AND name = $2 AND version = $3")
                .bind(owner)
                .bind(name)
                .bind(version)
                .fetch_optional(self.pool())
                .await?;
        match installed {
            None => Err(refused(
                ErrorCode::PluginVersionNotFound,
                format!("{owner}/{name}@{version} is not installed"),
            )
            .into()),
            Some(installed) if installed != world => Err(refused(
                ErrorCode::WorldMismatch,
                format!("{owner}/{name}@{version} implements {installed}, not {world}"),
            )
            .into()),
            Some(_) => Ok(()),
        }
    }

    /// Binds an installed plugin version to a world at a scope. A plugin is bound at most once
    /// per world and scope.
    pub async fn create_binding(
        &self,
        new: &NewBinding,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Binding, StoreError> {
        check_position(new.position)?;
        let scope_id = match (new.scope, new.scope_id) {
            (BindingScope::Platform, None) => 0,
            (BindingScope::Seller | BindingScope::Partner, Some(id)) => {
                let partner = self.partner(id).await?.ok_or(DomainError::NotFound {
                    what: Entity::Partner,
                    id,
                })?;
                if new.scope == BindingScope::Seller && partner.kind != PartnerKind::Seller {
                    return Err(refused(
                        ErrorCode::ScopeNotSeller,
                        format!("partner {id} is a {}, not a marketplace seller", partner.kind),
                    )
                    .into());
                }
                id
            }
            (BindingScope::Platform, Some(_)) => {
                return Err(DomainError::Invalid {
                    field: "scope_id",
                    message: "a platform binding names no partner".into(),
                }
                .into());
            }
            (_, None) => {
                return Err(DomainError::Invalid {
                    field: "scope_id",
                    message: format!("a {} binding names its partner", new.scope),
                }
                .into());
            }
        };
        self.check_installed(new.plugin_owner, &new.plugin_name, &new.version, &new.world)
            .await?;
        let exists = || {
            refused(
                ErrorCode::BindingExists,
                format!(
                    "{}/{} is already bound to {} at this {} scope",
                    new.plugin_owner, new.plugin_name, new.world, new.scope
                ),
            )
        };
        // An existing binding answers as such before the signature policy is asked: a restart
        // that binds the bundled plugins again finds them bound, whatever the policy says now.
        let bound: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM plugin_bindings WHERE world = $1 AND scope = $2 AND scope_id = $3 \
             AND plugin_owner = $4 AND plugin_name = $5",
        )
        .bind(&new.world)
        .bind(new.scope.as_str())
        .bind(scope_id)
        .bind(new.plugin_owner)
        .bind(&new.plugin_name)
        .fetch_optional(self.pool())
        .await?;
        if bound.is_some() {
            return Err(exists().into());
        }
        self.check_signed(new.scope, new.plugin_owner, &new.plugin_name, &new.version)
            .await?;
        let settings = settings_text(&new.settings)?;
        let row = sqlx::query(&format!(
            "INSERT INTO plugin_bindings (world, scope, scope_id, plugin_owner, plugin_name, version, position, failure_policy, enabled, created_at, updated_at, updated_by, settings) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING {BINDING_FIELDS}"
        ))
        .bind(&new.world)
        .bind(new.scope.as_str())
        .bind(scope_id)
        .bind(new.plugin_owner)
        .bind(&new.plugin_name)
        .bind(&new.version)
        .bind(i64::from(new.position))
        .bind(new.failure_policy.as_str())
        .bind(i64::from(new.enabled))
        .bind(now.timestamp_millis())
        .bind(actor)
        .bind(settings)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(exists)?;
        binding_from_row(&row)
    }

    /// One binding.
    pub async fn binding(&self, id: i64) -> Result<Option<Binding>, StoreError> {
        let row = sqlx::query(&format!("SELECT {BINDING_FIELDS} FROM plugin_bindings WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(binding_from_row).transpose()
    }

    /// Every binding, by world, scope (platform, seller, partner), scope id, position and id.
    pub async fn bindings(&self) -> Result<Vec<Binding>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BINDING_FIELDS} FROM plugin_bindings ORDER BY world, \
             CASE scope WHEN 'platform' THEN 0 WHEN 'seller' THEN 1 ELSE 2 END, scope_id, position, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(binding_from_row).collect()
    }

    /// Changes a binding in one update. A new version must be installed for the same plugin
    /// and world. A change of version or settings keeps the revision it replaces (version and
    /// settings) as the previous one, for rollback; naming the current ones changes nothing. So must a new shadow version, which must also differ from
    /// the version active after the change (refused `shadow-is-active`), so that promoting
    /// the shadow takes removing it, or naming another, in the same change.
    pub async fn update_binding(
        &self,
        id: i64,
        change: &BindingChange,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Binding, StoreError> {
        if let Some(position) = change.position {
            check_position(position)?;
        }
        let settings = change.settings.as_ref().map(settings_text).transpose()?;
        let current = self.binding(id).await?.ok_or_else(|| binding_not_found(id))?;
        let version = change.version.as_ref().unwrap_or(&current.version);
        let shadow = change.shadow_version.as_ref().unwrap_or(&current.shadow_version);
        if shadow.as_ref() == Some(version) {
            return Err(shadow_is_active(id, version).into());
        }
        if let Some(version) = &change.version
            && *version != current.version
        {
            // Owner, name and world never change, so this holds at the update too.
            self.check_installed(current.plugin_owner, &current.plugin_name, version, &current.world)
                .await?;
            self.check_signed(current.scope, current.plugin_owner, &current.plugin_name, version)
                .await?;
        }
        if let Some(Some(shadow)) = &change.shadow_version
            && current.shadow_version.as_ref() != Some(shadow)
        {
            self.check_installed(current.plugin_owner, &current.plugin_name, shadow, &current.world)
                .await?;
            // A shadow runs on live inputs, with capability reads, like the active version.
            self.check_signed(current.scope, current.plugin_owner, &current.plugin_name, shadow)
                .await?;
        }
        // Every right-hand side reads the row as it was before the update, on both engines.
        // The last condition holds the shadow apart from the active version against a
        // concurrent change.
        let row = sqlx::query(&format!(
            "UPDATE plugin_bindings SET \
             enabled = CASE WHEN $1 = 1 THEN $2 ELSE enabled END, \
             position = CASE WHEN $3 = 1 THEN $4 ELSE position END, \
             failure_policy = CASE WHEN $5 = 1 THEN $6 ELSE failure_policy END, \
             previous_version = CASE WHEN ($7 = 1 AND version <> $8) OR ($14 = 1 AND settings <> $15) THEN version ELSE previous_version END, \
             previous_settings = CASE WHEN ($7 = 1 AND version <> $8) OR ($14 = 1 AND settings <> $15) THEN settings ELSE previous_settings END, \
             version = CASE WHEN $7 = 1 THEN $8 ELSE version END, \
             settings = CASE WHEN $14 = 1 THEN $15 ELSE settings END, \
             shadow_version = CASE WHEN $12 = 1 THEN $13 ELSE shadow_version END, \
             updated_at = $9, updated_by = $10 \
             WHERE id = $11 AND (CASE WHEN $12 = 1 THEN $13 ELSE shadow_version END) IS DISTINCT FROM \
             (CASE WHEN $7 = 1 THEN $8 ELSE version END) RETURNING {BINDING_FIELDS}"
        ))
        .bind(i64::from(change.enabled.is_some()))
        .bind(i64::from(change.enabled.unwrap_or(false)))
        .bind(i64::from(change.position.is_some()))
        .bind(i64::from(change.position.unwrap_or(0)))
        .bind(i64::from(change.failure_policy.is_some()))
        .bind(change.failure_policy.map(FailurePolicy::as_str).unwrap_or(""))
        .bind(i64::from(change.version.is_some()))
        .bind(change.version.clone().unwrap_or_default())
        .bind(now.timestamp_millis())
        .bind(actor)
        .bind(id)
        .bind(i64::from(change.shadow_version.is_some()))
        .bind(change.shadow_version.clone().flatten())
        .bind(i64::from(settings.is_some()))
        .bind(settings.unwrap_or_default())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => binding_from_row(&row),
            None => {
                // Changed in between so that the shadow would be the active version.
                let latest = self.binding(id).await?.ok_or_else(|| binding_not_found(id))?;
                Err(shadow_is_active(id, change.version.as_ref().unwrap_or(&latest.version)).into())
            }
        }
    }

    /// Rolls a binding back to its previous revision (version and settings): the two
    /// revisions swap, so rolling back again undoes the rollback. The shadow version stays, unless it is the version rolled
    /// back to: a version never shadows itself, so it is removed then.
    pub async fn rollback_binding(&self, id: i64, actor: &str, now: DateTime<Utc>) -> Result<Binding, StoreError> {
        // A rollback is no way around a signature policy set since the previous version ran.
        if let Some(current) = self.binding(id).await?
            && let Some(previous) = &current.previous_version
        {
            self.check_signed(current.scope, current.plugin_owner, &current.plugin_name, previous)
                .await?;
        }
        let row = sqlx::query(&format!(
            "UPDATE plugin_bindings SET version = previous_version, previous_version = version, \
             settings = COALESCE(previous_settings, '{{}}'), previous_settings = settings, \
             shadow_version = CASE WHEN shadow_version = previous_version THEN NULL ELSE shadow_version END, \
             updated_at = $1, updated_by = $2 \
             WHERE id = $3 AND previous_version IS NOT NULL RETURNING {BINDING_FIELDS}"
        ))
        .bind(now.timestamp_millis())
        .bind(actor)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => binding_from_row(&row),
            None => {
                self.binding(id).await?.ok_or_else(|| binding_not_found(id))?;
                Err(refused(
                    ErrorCode::NoPreviousVersion,
                    format!("binding {id} has no previous version to roll back to"),
                )
                .into())
            }
        }
    }

    /// Deletes a binding. False when there is no such binding.
    pub async fn delete_binding(&self, id: i64) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM plugin_bindings WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Records a difference between a binding's shadow and active versions; returns its id.
    pub async fn record_shadow_diff(&self, diff: &NewShadowDiff, now: DateTime<Utc>) -> Result<i64, StoreError> {
        for (field, output) in [
            ("active_output", &diff.active_output),
            ("shadow_output", &diff.shadow_output),
        ] {
            if output.len() > MAX_SHADOW_OUTPUT {
                return Err(DomainError::Invalid {
                    field,
                    message: format!("at most {MAX_SHADOW_OUTPUT} bytes"),
                }
                .into());
            }
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO shadow_diffs (binding, active_version, shadow_version, input_hash, active_invocation, shadow_invocation, active_output, shadow_output, recorded_at) \
             SELECT id, $2, $3, $4, $5, $6, $7, $8, $9 FROM plugin_bindings WHERE id = $1 RETURNING id",
        )
        .bind(diff.binding)
        .bind(&diff.active_version)
        .bind(&diff.shadow_version)
        .bind(&diff.input_hash)
        .bind(diff.active_invocation)
        .bind(diff.shadow_invocation)
        .bind(&diff.active_output)
        .bind(&diff.shadow_output)
        .bind(now.timestamp_millis())
        .fetch_optional(self.pool())
        .await?;
        Ok(id.ok_or_else(|| binding_not_found(diff.binding))?)
    }

    /// A page of a binding's shadow differences, by id, after `after`; at most `limit`
    /// (capped at [`MAX_SHADOW_PAGE`]).
    pub async fn shadow_diffs(&self, binding: i64, after: i64, limit: u32) -> Result<Vec<ShadowDiff>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SHADOW_DIFF_FIELDS} FROM shadow_diffs WHERE binding = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(binding)
        .bind(after)
        .bind(i64::from(limit.min(MAX_SHADOW_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ShadowDiff {
                    id: r.try_get("id")?,
                    binding: r.try_get("binding")?,
                    active_version: r.try_get("active_version")?,
                    shadow_version: r.try_get("shadow_version")?,
                    input_hash: r.try_get("input_hash")?,
                    active_invocation: r.try_get("active_invocation")?,
                    shadow_invocation: r.try_get("shadow_invocation")?,
                    active_output: r.try_get("active_output")?,
                    shadow_output: r.try_get("shadow_output")?,
                    recorded_at: store::millis(r, "shadow_diffs", "recorded_at")?,
                })
            })
            .collect()
    }

    /// Deletes an installed version, unless a binding names it as its active, previous or
    /// shadow version (refused `version-in-use`, naming them): the check and the deletion
    /// are one statement. Returns the digest of its component; `None` when no such version
    /// is installed.
    pub async fn delete_plugin_version(
        &self,
        owner: PartnerId,
        name: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        const NAMED_BY: &str = "b.plugin_owner = $1 AND b.plugin_name = $2 \
             AND (b.version = $3 OR b.previous_version = $3 OR b.shadow_version = $3)";
        let mut tx = self.pool().begin().await?;
        let digest: Option<String> = sqlx::query_scalar(&format!(
            "DELETE FROM plugin_versions WHERE owner = $1 AND name = $2 AND version = $3 \
             AND NOT EXISTS (SELECT 1 FROM plugin_bindings b WHERE {NAMED_BY}) RETURNING digest"
        ))
        .bind(owner)
        .bind(name)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(digest) = &digest {
            // Its component goes with the last version naming it. Locking the component first
            // waits for an install of the same bytes being recorded (which locks it too), so
            // the check below sees that version once it is committed.
            if self.backend() == store::Backend::Postgres {
                sqlx::query("SELECT digest FROM plugin_components WHERE digest = $1 FOR UPDATE")
                    .bind(digest)
                    .fetch_optional(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "DELETE FROM plugin_components WHERE digest = $1 \
                 AND NOT EXISTS (SELECT 1 FROM plugin_versions WHERE digest = $1)",
            )
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let Some(digest) = digest else {
            let rows = sqlx::query(&format!(
                "SELECT b.id, b.version, b.previous_version FROM plugin_bindings b \
                 WHERE {NAMED_BY} ORDER BY b.id"
            ))
            .bind(owner)
            .bind(name)
            .bind(version)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                return Ok(None);
            }
            let mut uses = Vec::new();
            for row in &rows {
                let id: i64 = row.try_get("id")?;
                let active: String = row.try_get("version")?;
                let previous: Option<String> = row.try_get("previous_version")?;
                let role = if active == version {
                    "active"
                } else if previous.as_deref() == Some(version) {
                    "previous"
                } else {
                    "shadow"
                };
                uses.push(format!("binding {id} ({role})"));
            }
            return Err(refused(
                ErrorCode::VersionInUse,
                format!(
                    "{owner}/{name}@{version} is named by {}: unbind it or change those bindings first",
                    uses.join(", ")
                ),
            )
            .into());
        };
        Ok(Some(digest))
    }

    /// The manifest (TOML) of an installed plugin version.
    pub async fn plugin_manifest(
        &self,
        owner: PartnerId,
        name: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT manifest FROM plugin_versions WHERE owner = $1 AND name = $2 AND version = $3")
                .bind(owner)
                .bind(name)
                .bind(version)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Whether any installed version (of any owner) has this component.
    pub async fn digest_installed(&self, digest: &str) -> Result<bool, StoreError> {
        let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plugin_versions WHERE digest = $1")
            .bind(digest)
            .fetch_one(self.pool())
            .await?;
        Ok(versions > 0)
    }

    /// The installed plugin versions, of every owner or of one, by owner, name, installation
    /// time and version.
    pub async fn plugin_versions(&self, owner: Option<PartnerId>) -> Result<Vec<PluginVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT owner, name, version, digest, world, size_bytes, installed_at, signer FROM plugin_versions \
             WHERE ($1 = 0 OR owner = $2) ORDER BY owner, name, installed_at, version",
        )
        .bind(i64::from(owner.is_some()))
        .bind(owner.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let size: i64 = r.try_get("size_bytes")?;
                Ok(PluginVersion {
                    owner: r.try_get("owner")?,
                    name: r.try_get("name")?,
                    version: r.try_get("version")?,
                    digest: r.try_get("digest")?,
                    world: r.try_get("world")?,
                    size_bytes: u64::try_from(size)
                        .map_err(|_| store::corrupt("plugin_versions", format!("size_bytes {size}")))?,
                    installed_at: store::millis(r, "plugin_versions", "installed_at")?,
                    signer: r.try_get("signer")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{self, DemoData};
    use crate::testing::on_both_backends;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().expect("date")
    }

    /// Seeds the demo and installs volume-discount 0.1.0 and 0.2.0 (pricing-rule) and 0.3.0
    /// (approval-rule) of the seller, and approver 1.0.0 (approval-rule) of the reseller.
    async fn installed(store: &Store) {
        store.seed_demo_if_empty(&DemoData::new(t0())).await.expect("seed");
        for (owner, name, version, world) in [
            (demo::SELLER, "volume-discount", "0.1.0", "pricing-rule"),
            (demo::SELLER, "volume-discount", "0.2.0", "pricing-rule"),
            (demo::SELLER, "volume-discount", "0.3.0", "approval-rule"),
            (demo::RESELLER, "approver", "1.0.0", "approval-rule"),
        ] {
            let digest = format!("{name}-{version}");
            assert_eq!(record(store, &digest, owner, name, version, world).await, Recorded::Yes);
        }
    }

    /// Records a version of 1000 bytes under the default quota.
    async fn record(store: &Store, digest: &str, owner: PartnerId, name: &str, version: &str, world: &str) -> Recorded {
        let new = NewPluginVersion {
            digest,
            name,
            version,
            world,
            owner,
            manifest: "m",
            component: &[0; 1000],
        };
        store
            .record_plugin(&new, &PluginQuota::default())
            .await
            .expect("recorded")
    }

    fn seller_binding(version: &str) -> NewBinding {
        NewBinding {
            world: "pricing-rule".into(),
            scope: BindingScope::Seller,
            scope_id: Some(demo::SELLER),
            plugin_owner: demo::SELLER,
            plugin_name: "volume-discount".into(),
            version: version.into(),
            position: 10,
            failure_policy: FailurePolicy::FailClosed,
            enabled: true,
            settings: Default::default(),
        }
    }

    fn code<T>(r: Result<T, StoreError>) -> Result<(), &'static str> {
        r.map(|_| ()).map_err(|e| e.code().as_str())
    }

    #[test]
    fn a_null_shadow_version_in_json_removes_the_shadow_and_an_absent_one_leaves_it() {
        let parse = |json: &str| serde_json::from_str::<BindingChange>(json).expect("a change");
        assert_eq!(parse("{}").shadow_version, None);
        assert_eq!(parse(r#"{"shadow_version":null}"#).shadow_version, Some(None));
        assert_eq!(
            parse(r#"{"shadow_version":"0.2.0"}"#).shadow_version,
            Some(Some("0.2.0".into()))
        );
        for change in [
            BindingChange::default(),
            BindingChange {
                shadow_version: Some(None),
                ..BindingChange::default()
            },
            BindingChange {
                shadow_version: Some(Some("0.2.0".into())),
                ..BindingChange::default()
            },
        ] {
            let json = serde_json::to_string(&change).expect("json");
            assert_eq!(parse(&json), change, "{json}");
        }
    }

    on_both_backends! {
        async fn a_binding_upgrade_records_the_previous_version_and_rollbacks_swap_them(store: Store) {
            installed(&store).await;
            let created = store.create_binding(&seller_binding("0.1.0"), "operator", t0()).await.expect("bound");
            assert_eq!(
                (created.world.as_str(), created.scope, created.scope_id, created.plugin_owner, created.plugin_name.as_str()),
                ("pricing-rule", BindingScope::Seller, Some(10), 10, "volume-discount")
            );
            assert_eq!((created.version.as_str(), created.previous_version.as_deref()), ("0.1.0", None));
            assert_eq!((created.position, created.failure_policy, created.enabled), (10, FailurePolicy::FailClosed, true));
            assert_eq!((created.created_at, created.updated_at, created.updated_by.as_str()), (t0(), t0(), "operator"));
            assert_eq!(store.binding(created.id).await.expect("read"), Some(created.clone()));

            let t1 = t0() + Duration::minutes(1);
            let upgrade = BindingChange { version: Some("0.2.0".into()), ..BindingChange::default() };
            let upgraded = store.update_binding(created.id, &upgrade, "staff:505", t1).await.expect("upgraded");
            assert_eq!((upgraded.version.as_str(), upgraded.previous_version.as_deref()), ("0.2.0", Some("0.1.0")));
            assert_eq!((upgraded.updated_at, upgraded.updated_by.as_str(), upgraded.created_at), (t1, "staff:505", t0()));
            assert_eq!((upgraded.position, upgraded.enabled), (10, true), "fields not named stay");

            // Naming the current version changes no version; the other fields change.
            let t2 = t0() + Duration::minutes(2);
            let same = BindingChange {
                version: Some("0.2.0".into()),
                position: Some(-5),
                enabled: Some(false),
                failure_policy: Some(FailurePolicy::Fallback),
                shadow_version: None,
                settings: None,
            };
            let changed = store.update_binding(created.id, &same, "staff:505", t2).await.expect("changed");
            assert_eq!((changed.version.as_str(), changed.previous_version.as_deref()), ("0.2.0", Some("0.1.0")));
            assert_eq!((changed.position, changed.enabled, changed.failure_policy), (-5, false, FailurePolicy::Fallback));

            let t3 = t0() + Duration::minutes(3);
            let back = store.rollback_binding(created.id, "operator", t3).await.expect("rolled back");
            assert_eq!((back.version.as_str(), back.previous_version.as_deref()), ("0.1.0", Some("0.2.0")));
            assert_eq!((back.updated_at, back.position, back.enabled), (t3, -5, false));
            let forth = store.rollback_binding(created.id, "operator", t3).await.expect("rolled back again");
            assert_eq!((forth.version.as_str(), forth.previous_version.as_deref()), ("0.2.0", Some("0.1.0")));
            assert_eq!(store.binding(created.id).await.expect("read"), Some(forth));

            // A binding never upgraded has nothing to roll back to.
            let platform = NewBinding { scope: BindingScope::Platform, scope_id: None, ..seller_binding("0.1.0") };
            let fresh = store.create_binding(&platform, "operator", t0()).await.expect("bound at the platform");
            assert_eq!(fresh.scope_id, None);
            assert_eq!(code(store.rollback_binding(fresh.id, "operator", t0()).await), Err("no-previous-version"));
            assert_eq!(code(store.rollback_binding(4242, "operator", t0()).await), Err("binding-not-found"));
        }

        async fn settings_are_versioned_with_the_binding_and_a_rollback_restores_them(store: Store) {
            installed(&store).await;
            let map = |v: serde_json::Value| v.as_object().cloned().expect("an object");
            let bound = NewBinding { settings: map(serde_json::json!({ "rate": "0.08" })), ..seller_binding("0.1.0") };
            let created = store.create_binding(&bound, "operator", t0()).await.expect("bound");
            assert_eq!((created.settings.clone(), created.previous_settings.clone()), (map(serde_json::json!({ "rate": "0.08" })), None));

            // A change of settings alone keeps the revision it replaces: same version, old settings.
            let t1 = t0() + Duration::minutes(1);
            let reconfigure = BindingChange { settings: Some(map(serde_json::json!({ "rate": "0.12" }))), ..BindingChange::default() };
            let changed = store.update_binding(created.id, &reconfigure, "staff:505", t1).await.expect("changed");
            assert_eq!(changed.settings, map(serde_json::json!({ "rate": "0.12" })));
            assert_eq!((changed.previous_version.as_deref(), changed.previous_settings.clone()), (Some("0.1.0"), Some(map(serde_json::json!({ "rate": "0.08" })))));

            // Naming the same settings again is no new revision.
            let again = store.update_binding(created.id, &reconfigure, "staff:505", t1).await.expect("same");
            assert_eq!(again.previous_settings, Some(map(serde_json::json!({ "rate": "0.08" }))));

            let back = store.rollback_binding(created.id, "operator", t1).await.expect("rolled back");
            assert_eq!((back.version.as_str(), back.settings.clone()), ("0.1.0", map(serde_json::json!({ "rate": "0.08" }))));
            let forth = store.rollback_binding(created.id, "operator", t1).await.expect("and forth");
            assert_eq!(forth.settings, map(serde_json::json!({ "rate": "0.12" })));

            // A binding's settings have a size limit.
            let huge = map(serde_json::json!({ "note": "x".repeat(MAX_BINDING_SETTINGS) }));
            let too_big = BindingChange { settings: Some(huge), ..BindingChange::default() };
            assert_eq!(code(store.update_binding(created.id, &too_big, "operator", t1).await), Err("invalid-field"));
        }

        async fn a_shadow_version_is_set_checked_kept_by_rollbacks_and_cleared(store: Store) {
            installed(&store).await;
            assert_eq!(record(&store, "vd-0.4.0", demo::SELLER, "volume-discount", "0.4.0", "pricing-rule").await, Recorded::Yes);
            let created = store.create_binding(&seller_binding("0.1.0"), "operator", t0()).await.expect("bound");
            assert_eq!(created.shadow_version, None);
            let shadow = |version: Option<&str>| BindingChange {
                shadow_version: Some(version.map(str::to_owned)),
                ..BindingChange::default()
            };

            let t1 = t0() + Duration::minutes(1);
            let shadowed = store.update_binding(created.id, &shadow(Some("0.2.0")), "staff:505", t1).await.expect("shadowed");
            assert_eq!(
                (shadowed.version.as_str(), shadowed.previous_version.as_deref(), shadowed.shadow_version.as_deref()),
                ("0.1.0", None, Some("0.2.0"))
            );
            assert_eq!((shadowed.updated_at, shadowed.updated_by.as_str()), (t1, "staff:505"));
            assert_eq!(store.binding(created.id).await.expect("read"), Some(shadowed.clone()));

            // Refused: the active version, a version not installed, another world, another
            // plugin, and making the shadow active while it stays the shadow.
            let refused = |change: BindingChange| {
                let store = store.clone();
                async move { code(store.update_binding(created.id, &change, "operator", t0()).await) }
            };
            assert_eq!(refused(shadow(Some("0.1.0"))).await, Err("shadow-is-active"));
            assert_eq!(refused(shadow(Some("9.9.9"))).await, Err("plugin-version-not-found"));
            assert_eq!(refused(shadow(Some("1.0.0"))).await, Err("plugin-version-not-found"), "approver is another plugin");
            assert_eq!(refused(shadow(Some("0.3.0"))).await, Err("world-mismatch"));
            let promote = BindingChange { version: Some("0.2.0".into()), ..BindingChange::default() };
            assert_eq!(refused(promote).await, Err("shadow-is-active"));
            let both = BindingChange { version: Some("0.4.0".into()), shadow_version: Some(Some("0.4.0".into())), ..BindingChange::default() };
            assert_eq!(refused(both).await, Err("shadow-is-active"));
            assert_eq!(code(store.update_binding(4242, &shadow(Some("0.2.0")), "operator", t0()).await), Err("binding-not-found"));
            assert_eq!(store.binding(created.id).await.expect("read"), Some(shadowed.clone()), "refusals change nothing");

            // Other changes leave the shadow; naming it again changes nothing.
            let moved = BindingChange { position: Some(3), ..shadow(Some("0.2.0")) };
            let moved = store.update_binding(created.id, &moved, "operator", t1).await.expect("moved");
            assert_eq!((moved.position, moved.shadow_version.as_deref()), (3, Some("0.2.0")));
            let disabled = BindingChange { enabled: Some(false), ..BindingChange::default() };
            let disabled = store.update_binding(created.id, &disabled, "operator", t1).await.expect("disabled");
            assert_eq!((disabled.enabled, disabled.shadow_version.as_deref()), (false, Some("0.2.0")));

            // Promoting the shadow while the old version becomes the shadow, in one change.
            let swap = BindingChange { version: Some("0.2.0".into()), shadow_version: Some(Some("0.1.0".into())), ..BindingChange::default() };
            let swapped = store.update_binding(created.id, &swap, "operator", t1).await.expect("swapped");
            assert_eq!(
                (swapped.version.as_str(), swapped.previous_version.as_deref(), swapped.shadow_version.as_deref()),
                ("0.2.0", Some("0.1.0"), Some("0.1.0"))
            );
            // A rollback to the shadow version removes the shadow: a version never shadows itself.
            let back = store.rollback_binding(created.id, "operator", t1).await.expect("rolled back");
            assert_eq!(
                (back.version.as_str(), back.previous_version.as_deref(), back.shadow_version.as_deref()),
                ("0.1.0", Some("0.2.0"), None)
            );
            // Any other shadow stays through rollbacks.
            let other = store.update_binding(created.id, &shadow(Some("0.4.0")), "operator", t1).await.expect("shadowed");
            assert_eq!(other.shadow_version.as_deref(), Some("0.4.0"));
            let forth = store.rollback_binding(created.id, "operator", t1).await.expect("rolled back");
            assert_eq!(
                (forth.version.as_str(), forth.previous_version.as_deref(), forth.shadow_version.as_deref()),
                ("0.2.0", Some("0.1.0"), Some("0.4.0"))
            );

            let cleared = store.update_binding(created.id, &shadow(None), "operator", t1).await.expect("cleared");
            assert_eq!((cleared.version.as_str(), cleared.shadow_version.as_deref()), ("0.2.0", None));
            let again = store.update_binding(created.id, &shadow(None), "operator", t1).await.expect("cleared again");
            assert_eq!(again.shadow_version, None);
            assert_eq!(store.binding(created.id).await.expect("read"), Some(again));
        }

        async fn shadow_differences_are_recorded_and_listed_by_binding(store: Store) {
            installed(&store).await;
            let binding = store.create_binding(&seller_binding("0.1.0"), "operator", t0()).await.expect("bound");
            let other = NewBinding { scope: BindingScope::Platform, scope_id: None, ..seller_binding("0.1.0") };
            let other = store.create_binding(&other, "operator", t0()).await.expect("bound");
            let diff = |n: i64| NewShadowDiff {
                binding: binding.id,
                active_version: "0.1.0".into(),
                shadow_version: "0.2.0".into(),
                input_hash: format!("hash-{n}"),
                active_invocation: Some(n),
                shadow_invocation: (n == 1).then_some(n + 1),
                active_output: format!(r#"{{"total":"{n}00.00"}}"#),
                shadow_output: format!(r#"{{"total":"{n}90.00"}}"#),
            };
            let t1 = t0() + Duration::seconds(1);
            let first = store.record_shadow_diff(&diff(1), t0()).await.expect("recorded");
            store.record_shadow_diff(&NewShadowDiff { binding: other.id, ..diff(9) }, t0()).await.expect("recorded");
            let second = store.record_shadow_diff(&diff(2), t1).await.expect("recorded");

            let listed = store.shadow_diffs(binding.id, 0, 10).await.expect("list");
            assert_eq!(
                listed,
                vec![
                    ShadowDiff {
                        id: first,
                        binding: binding.id,
                        active_version: "0.1.0".into(),
                        shadow_version: "0.2.0".into(),
                        input_hash: "hash-1".into(),
                        active_invocation: Some(1),
                        shadow_invocation: Some(2),
                        active_output: r#"{"total":"100.00"}"#.into(),
                        shadow_output: r#"{"total":"190.00"}"#.into(),
                        recorded_at: t0(),
                    },
                    ShadowDiff {
                        id: second,
                        binding: binding.id,
                        active_version: "0.1.0".into(),
                        shadow_version: "0.2.0".into(),
                        input_hash: "hash-2".into(),
                        active_invocation: Some(2),
                        shadow_invocation: None,
                        active_output: r#"{"total":"200.00"}"#.into(),
                        shadow_output: r#"{"total":"290.00"}"#.into(),
                        recorded_at: t1,
                    },
                ]
            );
            let ids = |diffs: Vec<ShadowDiff>| diffs.iter().map(|d| d.id).collect::<Vec<_>>();
            assert_eq!(ids(store.shadow_diffs(binding.id, first, 10).await.expect("page")), vec![second]);
            assert_eq!(ids(store.shadow_diffs(binding.id, 0, 1).await.expect("page")), vec![first]);
            assert_eq!(store.shadow_diffs(other.id, 0, 10).await.expect("list").len(), 1);

            assert_eq!(code(store.record_shadow_diff(&NewShadowDiff { binding: 4242, ..diff(3) }, t0()).await), Err("binding-not-found"));
            for (field, huge) in [
                ("active_output", NewShadowDiff { active_output: "x".repeat(MAX_SHADOW_OUTPUT + 1), ..diff(3) }),
                ("shadow_output", NewShadowDiff { shadow_output: "x".repeat(MAX_SHADOW_OUTPUT + 1), ..diff(3) }),
            ] {
                let refused = store.record_shadow_diff(&huge, t0()).await;
                assert!(matches!(refused, Err(StoreError::Refused(DomainError::Invalid { field: f, .. })) if f == field), "got {refused:?}");
            }
            assert_eq!(ids(store.shadow_diffs(binding.id, 0, 10).await.expect("list")), vec![first, second], "refusals record nothing");

            // Deleting a binding deletes its differences.
            assert!(store.delete_binding(binding.id).await.expect("deleted"));
            assert!(store.shadow_diffs(binding.id, 0, 10).await.expect("list").is_empty());
            assert_eq!(store.shadow_diffs(other.id, 0, 10).await.expect("list").len(), 1);
        }

        async fn a_version_is_deleted_only_when_no_binding_names_it_as_active_previous_or_shadow(store: Store) {
            installed(&store).await;
            assert_eq!(record(&store, "vd-0.4.0", demo::SELLER, "volume-discount", "0.4.0", "pricing-rule").await, Recorded::Yes);
            // The reseller installed the seller's 0.1.0 bytes under its own name.
            assert_eq!(record(&store, "volume-discount-0.1.0", demo::RESELLER, "copy", "1.0.0", "pricing-rule").await, Recorded::Yes);
            let binding = store.create_binding(&seller_binding("0.1.0"), "operator", t0()).await.expect("bound");
            let change = BindingChange { version: Some("0.2.0".into()), shadow_version: Some(Some("0.4.0".into())), ..BindingChange::default() };
            store.update_binding(binding.id, &change, "operator", t0()).await.expect("upgraded, with a shadow");
            let versions_before = store.plugin_versions(None).await.expect("versions");
            let delete = |version: &'static str| {
                let store = store.clone();
                async move { store.delete_plugin_version(demo::SELLER, "volume-discount", version).await }
            };

            for (version, role) in [("0.2.0", "active"), ("0.1.0", "previous"), ("0.4.0", "shadow")] {
                let refused = delete(version).await;
                let named = format!("binding {} ({role})", binding.id);
                assert!(
                    matches!(&refused, Err(StoreError::Refused(DomainError::Refused { code: ErrorCode::VersionInUse, message })) if message.contains(&named)),
                    "{version}: {refused:?}"
                );
            }
            assert_eq!(store.plugin_versions(None).await.expect("versions"), versions_before, "refusals delete nothing");
            assert_eq!(delete("9.9.9").await.expect("nothing to delete"), None);
            assert_eq!(store.delete_plugin_version(demo::OTHER_SELLER, "volume-discount", "0.3.0").await.expect("another owner's"), None);

            // 0.3.0 is bound nowhere; no other version has its bytes.
            assert_eq!(delete("0.3.0").await.expect("deleted").as_deref(), Some("volume-discount-0.3.0"));
            assert!(!store.digest_installed("volume-discount-0.3.0").await.expect("read"));
            assert_eq!(delete("0.3.0").await.expect("already gone"), None);
            assert_eq!(store.plugin_digest("volume-discount", "0.3.0", demo::SELLER).await.expect("read"), None);

            // Unbound, 0.1.0 goes too; the reseller's copy keeps its bytes in use.
            assert!(store.delete_binding(binding.id).await.expect("unbound"));
            assert_eq!(delete("0.1.0").await.expect("deleted").as_deref(), Some("volume-discount-0.1.0"));
            assert!(store.digest_installed("volume-discount-0.1.0").await.expect("read"));
            assert_eq!(store.plugin_versions(None).await.expect("versions").len(), versions_before.len() - 2);
        }

        async fn concurrent_installs_of_one_owner_never_pass_its_quota_and_keep_their_components(store: Store) {
            installed(&store).await;
            // Room for one more of the seller's versions; 32 recordings at once, as from as many
            // replicas (fewer rarely overlap enough to show the race this guards against).
            let quota = PluginQuota { max_versions: 4, max_bytes: u64::MAX };
            let versions: Vec<String> = (0..32).map(|i| format!("1.0.{i}")).collect();
            let running: Vec<_> = versions
                .iter()
                .cloned()
                .map(|version| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let digest = format!("digest-{version}");
                        let new = NewPluginVersion {
                            digest: &digest,
                            name: "volume-discount",
                            version: &version,
                            world: "pricing-rule",
                            owner: demo::SELLER,
                            manifest: "m",
                            component: digest.as_bytes(),
                        };
                        store.record_plugin(&new, &quota).await.expect("recorded or refused")
                    })
                })
                .collect();
            let mut recorded = Vec::new();
            for run in running {
                recorded.push(run.await.expect("task"));
            }
            assert_eq!(recorded.iter().filter(|r| **r == Recorded::Yes).count(), 1, "{recorded:?}");
            assert_eq!(store.plugin_usage(demo::SELLER).await.expect("usage").versions, 4);
            // Each recorded version has its component; no refused one left one behind.
            for version in &versions {
                let digest = format!("digest-{version}");
                let kept = store.plugin_component(&digest).await.expect("read");
                let recorded = store.plugin_digest("volume-discount", version, demo::SELLER).await.expect("read");
                assert_eq!(kept.is_some(), recorded.is_some(), "{version}");
                assert_eq!(kept.as_deref(), recorded.as_ref().map(|d| d.as_bytes()));
            }
        }

        async fn an_owners_quota_refuses_a_version_past_its_count_or_its_bytes_and_writes_nothing(store: Store) {
            installed(&store).await;
            let quota = PluginQuota { max_versions: 4, max_bytes: 5000 };
            static ZEROS: [u8; 4096] = [0; 4096];
            let new = |version: &'static str, size_bytes: usize| NewPluginVersion {
                digest: version,
                name: "volume-discount",
                version,
                world: "pricing-rule",
                owner: demo::SELLER,
                manifest: "m",
                component: &ZEROS[..size_bytes],
            };
            // The seller has 3 versions of 1000 bytes.
            assert_eq!(store.plugin_usage(demo::SELLER).await.expect("usage"), PluginUsage { versions: 3, bytes: 3000 });
            let too_big = store.record_plugin(&new("0.4.0", 2001), &quota).await.expect("refused");
            assert_eq!(too_big, Recorded::OverQuota(PluginUsage { versions: 3, bytes: 3000 }));
            assert_eq!(store.record_plugin(&new("0.4.0", 2000), &quota).await.expect("fits exactly"), Recorded::Yes);
            let one_more = store.record_plugin(&new("0.5.0", 0), &quota).await.expect("refused");
            assert_eq!(one_more, Recorded::OverQuota(PluginUsage { versions: 4, bytes: 5000 }));
            assert_eq!(store.record_plugin(&new("0.4.0", 2000), &quota).await.expect("again"), Recorded::Yes, "recording it again needs no room");
            assert_eq!(store.plugin_usage(demo::SELLER).await.expect("usage"), PluginUsage { versions: 4, bytes: 5000 });
            assert_eq!(store.plugin_usage(demo::RESELLER).await.expect("usage"), PluginUsage { versions: 1, bytes: 1000 }, "a quota is per owner");
            let sizes: Vec<u64> = store.plugin_versions(Some(demo::SELLER)).await.expect("versions").iter().map(|v| v.size_bytes).collect();
            assert_eq!(sizes, vec![1000, 1000, 1000, 2000]);
        }

        async fn binding_refusals_name_what_is_wrong(store: Store) {
            installed(&store).await;
            let create = |new: NewBinding| {
                let store = store.clone();
                async move { store.create_binding(&new, "operator", t0()).await }
            };
            let wrong_world = NewBinding { world: "approval-rule".into(), ..seller_binding("0.1.0") };
            assert_eq!(code(create(wrong_world).await), Err("world-mismatch"));
            assert_eq!(code(create(seller_binding("9.9.9")).await), Err("plugin-version-not-found"));
            let other_owner = NewBinding { plugin_owner: demo::OTHER_SELLER, ..seller_binding("0.1.0") };
            assert_eq!(code(create(other_owner).await), Err("plugin-version-not-found"));
            let not_seller = NewBinding { scope_id: Some(demo::RESELLER), ..seller_binding("0.1.0") };
            assert_eq!(code(create(not_seller).await), Err("scope-not-seller"));
            let unknown = NewBinding { scope: BindingScope::Partner, scope_id: Some(4242), ..seller_binding("0.1.0") };
            assert_eq!(code(create(unknown).await), Err("partner-not-found"));
            let platform_with_id = NewBinding { scope: BindingScope::Platform, ..seller_binding("0.1.0") };
            let refused = create(platform_with_id).await;
            assert!(matches!(refused, Err(StoreError::Refused(DomainError::Invalid { field: "scope_id", .. }))), "got {refused:?}");
            let partner_without_id = NewBinding { scope: BindingScope::Partner, scope_id: None, ..seller_binding("0.1.0") };
            let refused = create(partner_without_id).await;
            assert!(matches!(refused, Err(StoreError::Refused(DomainError::Invalid { field: "scope_id", .. }))), "got {refused:?}");
            for position in [-1001, 1001] {
                let refused = create(NewBinding { position, ..seller_binding("0.1.0") }).await;
                assert!(matches!(refused, Err(StoreError::Refused(DomainError::Invalid { field: "position", .. }))), "got {refused:?}");
            }

            let first = create(NewBinding { position: 1000, ..seller_binding("0.1.0") }).await.expect("bound");
            let twice = NewBinding { position: -1000, version: "0.2.0".into(), ..seller_binding("0.1.0") };
            assert_eq!(code(create(twice).await), Err("binding-exists"));
            // The same plugin at another scope, or another plugin at the same scope, is fine.
            let at_partner = NewBinding { scope: BindingScope::Partner, scope_id: Some(demo::RESELLER), ..seller_binding("0.1.0") };
            let second = create(at_partner).await.expect("bound at a partner");
            let approver = NewBinding {
                world: "approval-rule".into(),
                scope: BindingScope::Partner,
                scope_id: Some(demo::RESELLER),
                plugin_owner: demo::RESELLER,
                plugin_name: "approver".into(),
                version: "1.0.0".into(),
                position: 0,
                failure_policy: FailurePolicy::FailOpen,
                enabled: true,
                settings: Default::default(),
            };
            let third = create(approver).await.expect("bound");

            // Updates refuse what creation refuses, and change nothing then.
            let to = |version: &str| BindingChange { version: Some(version.into()), ..BindingChange::default() };
            assert_eq!(code(store.update_binding(first.id, &to("0.3.0"), "operator", t0()).await), Err("world-mismatch"));
            assert_eq!(code(store.update_binding(first.id, &to("9.9.9"), "operator", t0()).await), Err("plugin-version-not-found"));
            let far = BindingChange { position: Some(1001), ..BindingChange::default() };
            assert_eq!(code(store.update_binding(first.id, &far, "operator", t0()).await), Err("invalid-field"));
            assert_eq!(code(store.update_binding(4242, &to("0.2.0"), "operator", t0()).await), Err("binding-not-found"));
            assert_eq!(store.binding(first.id).await.expect("read"), Some(first.clone()));

            // Listed by world, scope (platform, seller, partner), scope id, position.
            let ids: Vec<i64> = store.bindings().await.expect("list").iter().map(|b| b.id).collect();
            assert_eq!(ids, vec![third.id, first.id, second.id]);
            assert!(store.delete_binding(second.id).await.expect("deleted"));
            assert!(!store.delete_binding(second.id).await.expect("already gone"));
            assert_eq!(store.binding(second.id).await.expect("read"), None);

            let versions = store.plugin_versions(Some(demo::SELLER)).await.expect("versions");
            let listed: Vec<(&str, &str, &str)> =
                versions.iter().map(|v| (v.name.as_str(), v.version.as_str(), v.world.as_str())).collect();
            assert_eq!(
                listed,
                vec![
                    ("volume-discount", "0.1.0", "pricing-rule"),
                    ("volume-discount", "0.2.0", "pricing-rule"),
                    ("volume-discount", "0.3.0", "approval-rule"),
                ]
            );
            assert_eq!(versions[0].digest, "volume-discount-0.1.0");
            let all = store.plugin_versions(None).await.expect("all");
            assert_eq!(all.iter().map(|v| v.owner).collect::<Vec<_>>(), vec![2, 10, 10, 10]);
        }
    }
}
