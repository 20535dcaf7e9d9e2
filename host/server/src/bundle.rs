//! Installing plugins at start-up: the ones recorded in the store (from their compiled
//! artefacts) and the bundled example plugins (`plugins/*/plugin.toml` beside their built
//! components).

use anyhow::{Context, bail};
use pchost_domain::store::Store;
use pchost_runtime::{PluginManifest, PluginRuntime};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Loads every plugin the store records as installed.
pub async fn load_installed(store: &Store, runtime: &PluginRuntime) -> anyhow::Result<usize> {
    let records = store.plugins().await?;
    for record in &records {
        let manifest = PluginManifest::from_toml(&record.manifest)
            .with_context(|| format!("stored manifest of plugin {}", record.digest))?;
        runtime
            .load(manifest, &record.digest)
            .with_context(|| format!("loading installed plugin {}", record.digest))?;
    }
    Ok(records.len())
}

/// Installs a component with its manifest and records it in the store. A version is
/// immutable: other bytes under an installed `name@version` of the same owner are refused
/// before anything is written.
pub async fn install(
    store: &Store,
    runtime: &PluginRuntime,
    manifest: PluginManifest,
    wasm: &[u8],
) -> anyhow::Result<String> {
    let digest = hex::encode(Sha256::digest(wasm));
    if let Some(existing) = store
        .plugin_digest(&manifest.name, &manifest.version, manifest.owner)
        .await?
        && existing != digest
    {
        bail!(
            "{} of owner {} is already installed as {existing}, and this component is {digest}: \
             versions are immutable, so bump the version (or start from a fresh database)",
            manifest.label(),
            manifest.owner
        );
    }
    let plugin = runtime.install(manifest, wasm)?;
    let m = &plugin.manifest;
    let recorded = store
        .record_plugin(
            &plugin.digest,
            &m.name,
            &m.version,
            m.world.as_str(),
            m.owner,
            &m.to_toml(),
        )
        .await?;
    if !recorded {
        bail!(
            "{} of owner {} was installed concurrently with other bytes",
            m.label(),
            m.owner
        );
    }
    Ok(plugin.digest.clone())
}

/// Installs every `<manifests>/*/plugin.toml` whose component `<wasm_dir>/<name>.wasm`
/// (dashes as underscores, as cargo names it) exists. Returns the labels installed.
pub async fn install_bundled(
    store: &Store,
    runtime: &PluginRuntime,
    manifests: &Path,
    wasm_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let mut entries: Vec<_> = std::fs::read_dir(manifests)
        .with_context(|| format!("reading {}", manifests.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path().join("plugin.toml"))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut installed = Vec::new();
    for path in entries {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
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
        install(store, runtime, manifest, &wasm)
            .await
            .with_context(|| format!("installing {label}"))?;
        installed.push(label);
    }
    Ok(installed)
}
