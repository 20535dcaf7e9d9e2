//! Paths of the plugin components, built from `plugins/` for wasm32-wasip2 by this crate's
//! build script whenever their sources change.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// The bytes of a component.
pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading component {path}: {e}"))
}

/// The root of the repository (for examples/ and plugins/ manifests).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Into::into)
        .unwrap_or_default()
}
