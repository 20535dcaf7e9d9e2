//! Extension points: which plugin versions are bound where, and running a bound plugin
//! under its binding's failure policy.
//!
//! Bindings live in the store; this index is a snapshot of the enabled ones, rebuilt after
//! every change, so a change takes effect on the next request without a restart and a
//! request never scans other tenants' bindings.

use crate::audit::{self, AuditLog, PendingDiff, Purpose};
use crate::error::ExtensionError;
use chrono::{DateTime, Utc};
use pchost_domain::PartnerId;
use pchost_runtime::model::{InputError, Setting};
use pchost_runtime::settings::{SettingError, resolve};
use pchost_runtime::{Invocation, InvokeError, LoadedPlugin, PluginFailure, PluginManifest, PluginRuntime, World};
use pchost_store::bindings::{Binding, BindingChange, BindingScope, FailurePolicy, NewShadowDiff};
use pchost_store::store::Store;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

type Key = (World, BindingScope, Option<PartnerId>);

/// The enabled bindings, by extension point and scope, in the order they run.
#[derive(Debug, Default)]
pub struct BindingIndex {
    current: RwLock<Arc<HashMap<Key, Arc<[Binding]>>>>,
}

impl BindingIndex {
    /// Rebuilds the snapshot from the store.
    pub async fn reload(&self, store: &Store) -> Result<usize, ExtensionError> {
        let mut index: HashMap<Key, Vec<Binding>> = HashMap::new();
        let mut count = 0;
        for binding in store.bindings().await? {
            let Ok(world) = binding.world.parse::<World>() else {
                tracing::warn!(binding = binding.id, world = %binding.world, "binding to an unknown world ignored");
                continue;
            };
            if binding.enabled {
                count += 1;
                index
                    .entry((world, binding.scope, binding.scope_id))
                    .or_default()
                    .push(binding);
            }
        }
        let index = index
            .into_iter()
            .map(|(key, mut bindings)| {
                bindings.sort_by_key(|b| (b.position, b.id));
                (key, Arc::from(bindings))
            })
            .collect();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(index);
        Ok(count)
    }

    /// The plugin versions (`owner/name@version`) the enabled bindings run, active ones only.
    pub fn active_versions(&self) -> Vec<String> {
        let snapshot = self.current.read().unwrap_or_else(|e| e.into_inner());
        snapshot
            .values()
            .flat_map(|bindings| bindings.iter().map(|b| plugin_id(b, &b.version)))
            .collect()
    }

    /// The enabled bindings of one extension point in one scope, in order: shared with the
    /// snapshot, so a request copies no binding.
    pub fn bound(&self, world: World, scope: BindingScope, scope_id: Option<PartnerId>) -> Arc<[Binding]> {
        let snapshot = self.current.read().unwrap_or_else(|e| e.into_inner());
        snapshot
            .get(&(world, scope, scope_id))
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }
}

/// The plugin id (`owner/name@version`) a binding runs, or its previous version.
pub fn plugin_id(binding: &Binding, version: &str) -> String {
    format!("{}/{}@{}", binding.plugin_owner, binding.plugin_name, version)
}

/// What the plugin a binding runs receives as its settings: the binding's values, else the
/// defaults of the active version's manifest. They were checked when the binding was set;
/// a fallback or shadow version receives the same.
pub fn settings_for(runtime: &PluginRuntime, binding: &Binding) -> Result<Vec<Setting>, ExtensionError> {
    match runtime.plugin(&plugin_id(binding, &binding.version)) {
        Some(plugin) => resolve(&plugin.manifest.settings, &binding.settings).map_err(settings_refused),
        // `run_bound` reports the missing plugin.
        None => Ok(Vec::new()),
    }
}

/// Checks the settings a binding gives `owner/name@version` against that version's manifest,
/// when it is bound: a refusal names the setting (`settings.rate`). A version that is not
/// installed is left to the store to refuse.
pub async fn check_settings(
    store: &Store,
    owner: PartnerId,
    name: &str,
    version: &str,
    settings: &Map<String, Value>,
) -> Result<(), ExtensionError> {
    let Some(text) = store.plugin_manifest(owner, name, version).await? else {
        return Ok(());
    };
    let manifest = PluginManifest::from_toml(&text).map_err(|e| {
        ExtensionError::Internal(anyhow::anyhow!("the stored manifest of {owner}/{name}@{version}: {e}"))
    })?;
    resolve(&manifest.settings, settings)
        .map(drop)
        .map_err(settings_refused)
}

/// Checks a change of a binding: its settings (new, or kept) against the version active
/// after it, when it changes either.
pub async fn check_change(store: &Store, binding: &Binding, change: &BindingChange) -> Result<(), ExtensionError> {
    if change.settings.is_none() && change.version.is_none() {
        return Ok(());
    }
    let version = change.version.as_ref().unwrap_or(&binding.version);
    let settings = change.settings.as_ref().unwrap_or(&binding.settings);
    check_settings(store, binding.plugin_owner, &binding.plugin_name, version, settings).await
}

fn settings_refused(error: SettingError) -> ExtensionError {
    ExtensionError::Input(InputError::Invalid {
        field: error.field,
        message: error.message,
    })
}

/// A bound plugin step that did not count: skipped under fail-open, or answered by the
/// previous version under fallback.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyApplied {
    /// The binding.
    pub binding: i64,
    /// `name@version` that failed.
    pub plugin: String,
    /// `fail-open` (skipped) or `fallback` (the previous version answered).
    #[schema(value_type = String)]
    pub policy: FailurePolicy,
    /// The failure.
    #[schema(value_type = Object)]
    pub failure: PluginFailure,
    /// The version that answered instead, under fallback.
    pub answered_by: Option<String>,
}

/// What running a bound plugin gave.
#[derive(Debug)]
pub enum StepOutcome<T> {
    /// The plugin (or, under fallback, its previous version) answered.
    Answered {
        /// Who answered.
        plugin: Arc<LoadedPlugin>,
        /// The checked answer.
        value: T,
        /// The invocation's cost.
        fuel_used: u64,
        /// The invocation's wall time.
        wall_time_us: u64,
        /// Set when the previous version answered.
        policy: Option<PolicyApplied>,
    },
    /// The plugin failed and its binding is fail-open: the step is skipped.
    Skipped(PolicyApplied),
}

/// Runs the plugin a binding names: `invoke` calls it, `check` validates and converts its
/// output (an invariant broken there is a failure of the plugin like any other). Every
/// invocation is added to `log`. A failure is handled by the binding's policy: fail-closed
/// refuses the action, fail-open skips the step, fallback runs the previous version (and
/// refuses when there is none or it fails too). When the active version answered and the
/// binding has a shadow version, the shadow runs on the same input; its answer never counts,
/// and a difference from the active answer is recorded.
pub fn run_bound<I: Serialize, O, T>(
    runtime: &PluginRuntime,
    binding: &Binding,
    input: &I,
    as_of: DateTime<Utc>,
    log: &mut AuditLog,
    invoke: impl Fn(&LoadedPlugin) -> Result<Invocation<O>, InvokeError>,
    check: impl Fn(&LoadedPlugin, O) -> Result<T, PluginFailure>,
) -> Result<StepOutcome<T>, ExtensionError>
where
    O: Serialize,
{
    let load = |version: &str| {
        let id = plugin_id(binding, version);
        runtime.plugin(&id).ok_or_else(|| {
            ExtensionError::Internal(anyhow::anyhow!(
                "binding {} names {id}, which is not loaded",
                binding.id
            ))
        })
    };
    let attempt = |version: &str, log: &mut AuditLog| -> Result<_, ExtensionError> {
        let plugin = load(version)?;
        let started = Instant::now();
        let result = invoke(&plugin);
        log.records
            .extend(audit::record(&plugin, input, as_of, started, Purpose::Live, &result));
        match result {
            Ok(invocation) => {
                let fuel_used = invocation.usage.fuel_used;
                let wall_time_us = invocation.wall_time.as_micros().try_into().unwrap_or(u64::MAX);
                let answer = serde_json::to_string(&invocation.output).unwrap_or_default();
                match check(&plugin, invocation.output) {
                    Ok(value) => Ok(Ok((plugin, value, fuel_used, wall_time_us, answer))),
                    Err(failure) => {
                        if let Some(last) = log.records.last_mut() {
                            last.failure = serde_json::to_string(&failure).ok();
                        }
                        Ok(Err(failure))
                    }
                }
            }
            Err(InvokeError::Plugin(failure)) => Ok(Err(failure)),
            Err(other) => Err(other.into()),
        }
    };
    let failure = match attempt(&binding.version, log)? {
        Ok((plugin, value, fuel_used, wall_time_us, answer)) => {
            if let Some(shadow) = &binding.shadow_version {
                run_shadow(binding, shadow, &load, input, as_of, log, &invoke, answer);
            }
            return Ok(StepOutcome::Answered {
                plugin,
                value,
                fuel_used,
                wall_time_us,
                policy: None,
            });
        }
        Err(failure) => failure,
    };
    tracing::warn!(binding = binding.id, plugin = %failure.plugin, policy = %binding.failure_policy, failure = ?failure.kind, "bound plugin failed");
    match binding.failure_policy {
        FailurePolicy::FailClosed => Err(ExtensionError::PluginFailed(failure)),
        FailurePolicy::FailOpen => Ok(StepOutcome::Skipped(PolicyApplied {
            binding: binding.id,
            plugin: failure.plugin.clone(),
            policy: FailurePolicy::FailOpen,
            failure,
            answered_by: None,
        })),
        FailurePolicy::Fallback => {
            // After a change of settings alone the previous revision runs the same version:
            // there is nothing else to fall back to.
            let Some(previous) = binding.previous_version.as_ref().filter(|p| **p != binding.version) else {
                return Err(ExtensionError::PluginFailed(failure));
            };
            match attempt(previous, log)? {
                Ok((plugin, value, fuel_used, wall_time_us, _)) => Ok(StepOutcome::Answered {
                    policy: Some(PolicyApplied {
                        binding: binding.id,
                        plugin: failure.plugin.clone(),
                        policy: FailurePolicy::Fallback,
                        failure,
                        answered_by: Some(plugin.manifest.label()),
                    }),
                    plugin,
                    value,
                    fuel_used,
                    wall_time_us,
                }),
                Err(second) => Err(ExtensionError::PluginFailed(second)),
            }
        }
    }
}

/// Runs a binding's shadow version on the input the active version answered, and records a
/// difference when its raw answer (or its failure) is not the active one. Never fails the
/// request: a shadow that cannot run is logged.
#[allow(clippy::too_many_arguments, reason = "the pieces of one shadow run")]
fn run_shadow<I: Serialize, O: Serialize>(
    binding: &Binding,
    shadow: &str,
    load: &impl Fn(&str) -> Result<Arc<LoadedPlugin>, ExtensionError>,
    input: &I,
    as_of: DateTime<Utc>,
    log: &mut AuditLog,
    invoke: &impl Fn(&LoadedPlugin) -> Result<Invocation<O>, InvokeError>,
    active_answer: String,
) {
    let plugin = match load(shadow) {
        Ok(plugin) => plugin,
        Err(e) => {
            tracing::warn!(binding = binding.id, error = %e, "shadow version not run");
            return;
        }
    };
    let active = log.records.len().saturating_sub(1);
    let started = Instant::now();
    let result = invoke(&plugin);
    let Some(record) = audit::record(&plugin, input, as_of, started, Purpose::Shadow, &result) else {
        return;
    };
    let shadow_answer = match &result {
        Ok(invocation) => serde_json::to_string(&invocation.output).unwrap_or_default(),
        Err(_) => record.failure.clone().unwrap_or_default(),
    };
    let input_hash = record.input_hash.clone();
    log.records.push(record);
    if shadow_answer != active_answer {
        log.diffs.push(PendingDiff {
            active,
            shadow: log.records.len() - 1,
            diff: NewShadowDiff {
                binding: binding.id,
                active_version: binding.version.clone(),
                shadow_version: shadow.to_owned(),
                input_hash,
                active_invocation: None,
                shadow_invocation: None,
                active_output: active_answer,
                shadow_output: shadow_answer,
            },
        });
    }
}
