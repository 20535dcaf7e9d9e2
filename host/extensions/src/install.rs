//! Installing plugins: the versions recorded in the store (loaded from their compiled
//! artefacts, or compiled from the component the database keeps, at start-up and whenever
//! another process installs one; unloaded when another deletes one), uploads within their
//! owner's quota, deletions of versions no binding uses, and the bundled example plugins
//! (`plugins/*/plugin.toml` beside their built components) with their demo bindings.

use crate::error::ExtensionError;
use anyhow::Context;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{PartnerId, PartnerKind};
use pchost_runtime::{LoadedPlugin, PluginManifest, PluginRuntime};
use pchost_store::bindings::{
    BindingScope, FailurePolicy, NewBinding, NewPluginVersion, PluginQuota, PluginUsage, Recorded,
};
use pchost_store::store::Store;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The largest manifest accepted, in an upload or from a file.
pub const MAX_MANIFEST_BYTES: usize = 16 << 10;

/// What [`sync_installed`] did.
#[derive(Debug, Default)]
pub struct Synced {
    /// Versions loaded (compiled if this node had no artefact of them).
    pub loaded: usize,
    /// Versions unloaded: deleted by another process.
    pub unloaded: usize,
    /// Versions that could not be loaded, with why: the others load regardless.
    pub failed: Vec<(String, String)>,
}

/// Versions that failed to load, and when each may be tried again: a version that cannot
/// load here (another replica's limits, a component refused) is not compiled again at every
/// sync, where it would take the compile turns other tenants' uploads wait for.
#[derive(Debug, Default)]
pub struct LoadFailures {
    /// By `(id, digest)`: the next try, and how many tries failed.
    next: std::sync::Mutex<HashMap<(String, String), (std::time::Instant, u32)>>,
}

impl LoadFailures {
    /// The first wait after a failure; each further failure doubles it, up to [`Self::LONGEST`].
    const FIRST: std::time::Duration = std::time::Duration::from_secs(30);
    /// The longest wait between tries.
    const LONGEST: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    fn due(&self, key: &(String, String)) -> bool {
        let next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        next.get(key).is_none_or(|(at, _)| std::time::Instant::now() >= *at)
    }

    fn failed(&self, key: (String, String)) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let tries = next.get(&key).map_or(0, |(_, tries)| *tries) + 1;
        let wait = Self::FIRST
            .saturating_mul(1 << tries.min(10).saturating_sub(1))
            .min(Self::LONGEST);
        next.insert(key, (std::time::Instant::now() + wait, tries));
    }

    /// Forgets the failures of versions `recorded` no longer names (deleted, or installed again
    /// with other bytes).
    fn forget_unless(&self, recorded: impl Fn(&(String, String)) -> bool) {
        self.next
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|key, _| recorded(key));
    }

    fn loaded(&self, key: &(String, String)) {
        self.next.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// Brings the runtime in line with the store: loads every recorded version it has not loaded
/// (from this node's compiled artefact, or compiling the component kept in the database, as a
/// replica does for a version another one installed), reloads one recorded again with other
/// bytes, and unloads the versions no longer recorded. A version that failed to load is tried
/// again only once its wait in `failures` is over. A component installed before the database
/// kept components, and found only in this node's artefact store, is copied into the database
/// for the other replicas. One version's failure never stops the others'.
pub async fn sync_installed(
    store: &Store,
    runtime: &Arc<PluginRuntime>,
    failures: &LoadFailures,
) -> Result<Synced, ExtensionError> {
    sync_where(store, runtime, failures, |_| true).await
}

/// [`sync_installed`] for the versions bindings name (active, previous or shadow) only: what
/// a server loads before it listens. The others (a tenant may keep up to its quota of unbound
/// versions, each maybe slow to compile) follow once it serves.
pub async fn sync_bound(
    store: &Store,
    runtime: &Arc<PluginRuntime>,
    failures: &LoadFailures,
) -> Result<Synced, ExtensionError> {
    let bound: std::collections::HashSet<String> = store
        .bindings()
        .await?
        .iter()
        .flat_map(|b| {
            [Some(&b.version), b.previous_version.as_ref(), b.shadow_version.as_ref()]
                .into_iter()
                .flatten()
                .map(|version| crate::bound::plugin_id(b, version))
        })
        .collect();
    sync_where(store, runtime, failures, |id| bound.contains(id)).await
}

/// [`sync_installed`], loading only the recorded versions `wanted` names.
async fn sync_where(
    store: &Store,
    runtime: &Arc<PluginRuntime>,
    failures: &LoadFailures,
    wanted: impl Fn(&str) -> bool,
) -> Result<Synced, ExtensionError> {
    let mut synced = Synced::default();
    // In this order: a version loaded now, not being installed a moment later, was recorded
    // by then if it ever will be, so the listing read after shows it.
    let loaded = runtime.plugins();
    let installing = Installing::now(runtime);
    let records = store.plugins().await?;
    let recorded: HashMap<String, &str> = records.iter().map(|r| (r.id(), r.digest.as_str())).collect();
    failures.forget_unless(|key| recorded.get(&key.0) == Some(&key.1.as_str()));
    for plugin in loaded {
        let gone = match recorded.get(&plugin.id) {
            None => !installing.contains(&plugin.id),
            // Deleted and installed again with other bytes: never run the old ones.
            Some(digest) => *digest != plugin.digest,
        };
        if gone {
            runtime.unload(&plugin.id);
            if let Err(e) = forget_artefacts(store, runtime, &plugin.digest).await {
                tracing::warn!(plugin = %plugin.id, error = %e, "the artefacts of a deleted version were not removed");
            }
            synced.unloaded += 1;
        }
    }
    for record in records {
        let id = record.id();
        if !wanted(&id) {
            continue;
        }
        if runtime.plugin(&id).is_some() {
            if !record.component_stored
                && let Some(bytes) = runtime.stored_original(&record.digest)
            {
                match store.store_missing_component(&record.digest, &bytes).await {
                    Ok(true) => {
                        tracing::info!(plugin = %id, digest = %record.digest, "component copied into the database")
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(plugin = %id, error = %e, "component not copied into the database"),
                }
            }
            continue;
        }
        let key = (id.clone(), record.digest.clone());
        if !failures.due(&key) {
            continue;
        }
        match load_recorded(store, runtime, &record).await {
            Ok(true) => {
                failures.loaded(&key);
                synced.loaded += 1;
            }
            // Deleted since the listing: nothing to load.
            Ok(false) => {}
            Err(e) => {
                // A busy compiler or database is tried again at the next sync; what this
                // replica refuses waits.
                let lasting = !matches!(
                    e,
                    ExtensionError::Store(_)
                        | ExtensionError::Install(pchost_runtime::InstallError::CompileBusy { .. })
                );
                tracing::warn!(plugin = %id, digest = %record.digest, error = %e, lasting, "installed plugin not loaded; tried again later");
                if lasting {
                    failures.failed(key);
                }
                synced.failed.push((id, e.to_string()));
            }
        }
    }
    Ok(synced)
}

/// Loads a recorded version with its stored manifest; `false` when it is no longer recorded.
async fn load_recorded(
    store: &Store,
    runtime: &Arc<PluginRuntime>,
    record: &pchost_store::store::PluginRecord,
) -> Result<bool, ExtensionError> {
    let Some(text) = store
        .plugin_manifest(record.owner, &record.name, &record.version)
        .await?
    else {
        return Ok(false);
    };
    let manifest = PluginManifest::from_toml(&text)
        .map_err(|e| ExtensionError::Internal(anyhow::anyhow!("its stored manifest: {e}")))?;
    if manifest.id() != record.id() {
        return Err(ExtensionError::Internal(anyhow::anyhow!(
            "its stored manifest names {}",
            manifest.id()
        )));
    }
    load(store, runtime, manifest, &record.digest).await?;
    Ok(true)
}

/// The versions this process is installing, by runtime (its address, while an install holds
/// it) and id: loaded by the runtime, not yet recorded.
static INSTALLING: std::sync::Mutex<Vec<(usize, String)>> = std::sync::Mutex::new(Vec::new());

/// One version being installed, from before it is loaded until it is recorded (or refused).
struct Installing((usize, String));

impl Installing {
    fn begin(runtime: &Arc<PluginRuntime>, id: String) -> Self {
        let key = (Arc::as_ptr(runtime) as usize, id);
        INSTALLING.lock().unwrap_or_else(|e| e.into_inner()).push(key.clone());
        Installing(key)
    }

    /// The ids `runtime` is installing now.
    fn now(runtime: &Arc<PluginRuntime>) -> std::collections::HashSet<String> {
        let runtime = Arc::as_ptr(runtime) as usize;
        INSTALLING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(of, _)| *of == runtime)
            .map(|(_, id)| id.clone())
            .collect()
    }
}

impl Drop for Installing {
    fn drop(&mut self) {
        let mut installing = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = installing.iter().position(|key| *key == self.0) {
            installing.swap_remove(at);
        }
    }
}

/// Loads one recorded version off the async executor: from this node's artefacts if it has
/// them, else from the component kept in the database.
async fn load(
    store: &Store,
    runtime: &Arc<PluginRuntime>,
    manifest: PluginManifest,
    digest: &str,
) -> Result<(), ExtensionError> {
    let blocking = |manifest: PluginManifest, original: Option<Vec<u8>>| {
        let (runtime, digest) = (runtime.clone(), digest.to_owned());
        tokio::task::spawn_blocking(move || runtime.load(manifest, &digest, original.as_deref()))
    };
    let join = |e: tokio::task::JoinError| ExtensionError::Internal(anyhow::anyhow!("load task failed: {e}"));
    match blocking(manifest.clone(), None).await.map_err(join)? {
        Ok(_) => Ok(()),
        Err(pchost_runtime::InstallError::OriginalMissing(_)) => {
            let bytes = store.plugin_component(digest).await?.ok_or_else(|| {
                ExtensionError::Internal(anyhow::anyhow!(
                    "component {digest} is neither in the database nor in this node's artefact store"
                ))
            })?;
            blocking(manifest, Some(bytes)).await.map_err(join)??;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Installs a component with its manifest and records it in the store. A version is
/// immutable: other bytes under an installed `owner/name@version` are refused before anything
/// is written, and so is a new version its owner's `quota` has no room for. Compiling runs
/// off the async executor. A version the store then refuses (installed concurrently) is not
/// left loaded.
pub async fn install(
    store: &Store,
    runtime: &Arc<PluginRuntime>,
    manifest: PluginManifest,
    wasm: &[u8],
    quota: &PluginQuota,
) -> Result<Arc<LoadedPlugin>, ExtensionError> {
    let digest = hex::encode(Sha256::digest(wasm));
    match store
        .plugin_digest(&manifest.name, &manifest.version, manifest.owner)
        .await?
    {
        Some(existing) if existing != digest => return Err(version_exists(&manifest.id(), &existing, &digest)),
        // The same version again: nothing new to hold.
        Some(_) => {}
        None => {
            let usage = store.plugin_usage(manifest.owner).await?;
            if usage.versions >= quota.max_versions || usage.bytes + wasm.len() as u64 > quota.max_bytes {
                return Err(over_quota(manifest.owner, usage, wasm.len(), quota));
            }
        }
    }
    let loaded_before = runtime.plugin(&manifest.id()).is_some();
    // Loaded before it is recorded: a sync meanwhile must not take it for deleted.
    let _installing = Installing::begin(runtime, manifest.id());
    let bytes = wasm.to_vec();
    let compiler = runtime.clone();
    let plugin = tokio::task::spawn_blocking(move || compiler.install(manifest, &bytes))
        .await
        .map_err(|e| ExtensionError::Internal(anyhow::anyhow!("install task failed: {e}")))??;
    let m = &plugin.manifest;
    let manifest_text = m.to_toml();
    let new = NewPluginVersion {
        digest: &plugin.digest,
        name: &m.name,
        version: &m.version,
        world: m.world.as_str(),
        owner: m.owner,
        manifest: &manifest_text,
        component: wasm,
    };
    let refusal = match store.record_plugin(&new, quota).await {
        Ok(Recorded::Yes) => return Ok(plugin),
        Ok(Recorded::OtherDigest(existing)) => version_exists(&plugin.id, &existing, &plugin.digest),
        Ok(Recorded::OverQuota(usage)) => over_quota(m.owner, usage, wasm.len(), quota),
        Err(e) => e.into(),
    };
    if !loaded_before {
        runtime.unload(&plugin.id);
        forget_artefacts(store, runtime, &plugin.digest).await?;
    }
    Err(refusal)
}

fn version_exists(id: &str, existing: &str, digest: &str) -> ExtensionError {
    ExtensionError::refused(
        ErrorCode::VersionExists,
        format!(
            "{id} is already installed as {existing}, and this component is {digest}: versions are immutable, so bump the version"
        ),
    )
}

fn over_quota(owner: PartnerId, usage: PluginUsage, size: usize, quota: &PluginQuota) -> ExtensionError {
    let make_room = "delete a version no binding uses (DELETE /v1/plugins/{owner}/{name}/{version}) to make room";
    if usage.versions >= quota.max_versions {
        ExtensionError::refused(
            ErrorCode::VersionQuotaExceeded,
            format!(
                "partner {owner} has {} plugin versions installed, its limit: {make_room}",
                usage.versions
            ),
        )
    } else {
        ExtensionError::refused(
            ErrorCode::StorageQuotaExceeded,
            format!(
                "partner {owner}'s installed components hold {} bytes; {size} more would pass its limit of {} bytes: {make_room}",
                usage.bytes, quota.max_bytes
            ),
        )
    }
}

/// Deletes an installed version that no binding names (active, previous or shadow): its
/// record, then the loaded version, then its artefact files unless another version has the
/// same bytes. Refused `version-in-use` (409) while a binding names it.
pub async fn delete(
    store: &Store,
    runtime: &PluginRuntime,
    owner: PartnerId,
    name: &str,
    version: &str,
) -> Result<(), ExtensionError> {
    let id = format!("{owner}/{name}@{version}");
    let digest = store
        .delete_plugin_version(owner, name, version)
        .await?
        .ok_or_else(|| ExtensionError::not_found(Entity::PluginVersion, &id))?;
    runtime.unload(&id);
    forget_artefacts(store, runtime, &digest).await
}

/// Removes the artefact files of a component no recorded version has, unless a loaded version
/// still uses it.
async fn forget_artefacts(store: &Store, runtime: &PluginRuntime, digest: &str) -> Result<(), ExtensionError> {
    if store.digest_installed(digest).await? {
        return Ok(());
    }
    runtime
        .remove_artefacts(digest)
        .map_err(|e| ExtensionError::Internal(anyhow::anyhow!("removing the artefacts of {digest}: {e}")))?;
    Ok(())
}

/// Installs every `<manifests>/*/plugin.toml` whose component `<wasm_dir>/<name>.wasm`
/// (dashes as underscores, as cargo names it) exists, and binds each in its owner's scope
/// (a seller's products, or a partner's customers), in label order. Returns the labels.
pub async fn install_bundled(
    store: &Store,
    runtime: &Arc<PluginRuntime>,
    manifests: &Path,
    wasm_dir: &Path,
    quota: &PluginQuota,
) -> anyhow::Result<Vec<String>> {
    let mut entries: Vec<_> = std::fs::read_dir(manifests)
        .with_context(|| format!("reading {}", manifests.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path().join("plugin.toml"))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut installed = Vec::new();
    for (position, path) in entries.iter().enumerate() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let manifest = PluginManifest::from_toml(&text).with_context(|| format!("in {}", path.display()))?;
        let wasm_path = wasm_dir.join(format!("{}.wasm", manifest.name.replace('-', "_")));
        let wasm = std::fs::read(&wasm_path).with_context(|| {
            format!(
                "component of {} not found at {} (build the plugins first)",
                manifest.name,
                wasm_path.display()
            )
        })?;
        let label = manifest.label();
        let plugin = install(store, runtime, manifest, &wasm, quota)
            .await
            .with_context(|| format!("installing {label}"))?;
        let m = &plugin.manifest;
        let owner = store
            .partner(m.owner)
            .await?
            .with_context(|| format!("owner {} of {label} is not a partner", m.owner))?;
        let scope = if owner.kind == PartnerKind::Seller {
            BindingScope::Seller
        } else {
            BindingScope::Partner
        };
        let binding = NewBinding {
            world: m.world.as_str().to_owned(),
            scope,
            scope_id: Some(owner.id),
            plugin_owner: owner.id,
            plugin_name: m.name.clone(),
            version: m.version.clone(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            failure_policy: FailurePolicy::FailClosed,
            enabled: true,
            // The defaults: a bundled plugin declares one for every setting it has.
            settings: Default::default(),
        };
        crate::bound::check_settings(store, owner.id, &m.name, &m.version, &binding.settings).await?;
        match store.create_binding(&binding, "bundled", chrono::Utc::now()).await {
            Ok(_) => {}
            Err(error) if error.code() == ErrorCode::BindingExists => {}
            Err(e) => return Err(e).with_context(|| format!("binding {label}")),
        }
        installed.push(label);
    }
    Ok(installed)
}
