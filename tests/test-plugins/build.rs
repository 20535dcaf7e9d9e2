//! Builds every guest in `plugins/` (examples, hostile ones, benchmark fixtures) for
//! wasm32-wasip2 and writes a constant with each component's path, so tests always run the
//! components built from the current sources.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = crate_dir
        .ancestors()
        .nth(2)
        .expect("tests/test-plugins lies two levels below the root");
    let plugins = root.join("plugins");
    println!("cargo:rerun-if-changed={}", plugins.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    // Cargo keys a workspace member's build by its path relative to the workspace, so two
    // clones sharing one target directory (CI reuses one) share this script's last run and its
    // absolute rerun-if-changed paths. scripts/test sets this to the clone's root, so a build
    // from another clone reruns and builds its own plugin sources.
    println!("cargo:rerun-if-env-changed=PCHOST_SOURCE_ROOT");

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out: build the guests in
    // <target>/plugins, where scripts/run builds them too, so both share one build.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("plugins"))
        .unwrap_or_else(|| out_dir.join("plugins"));

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        // From plugins/, so that cargo reads plugins/.cargo/config.toml (the guests' stack).
        .current_dir(&plugins)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The host build's flags and wrappers (clippy, coverage) are not for the guests.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("could not run cargo to build the plugins");
    assert!(
        status.success(),
        "building plugins/ for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );

    let wasm_dir = target_dir.join("wasm32-wasip2").join("release");
    let mut constants = String::new();
    for member in members(&plugins) {
        let file = member.replace('-', "_");
        let path = wasm_dir.join(format!("{file}.wasm"));
        assert!(path.is_file(), "expected component {} after the build", path.display());
        let constant = member.to_uppercase().replace('-', "_");
        writeln!(
            constants,
            "/// The `{member}` component.\npub const {constant}: &str = {:?};",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    writeln!(
        constants,
        "/// Where all the built components are.\npub const WASM_DIR: &str = {:?};",
        wasm_dir.display().to_string()
    )
    .expect("writing to a String cannot fail");
    std::fs::write(out_dir.join("components.rs"), constants).expect("writing components.rs");
}

/// The package names of the guest crates (every directory with a Cargo.toml naming a cdylib).
fn members(plugins: &Path) -> Vec<String> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(plugins).expect("reading plugins/").flatten() {
        let path = entry.path();
        if path
            .file_name()
            .is_some_and(|n| n == "hostile" || n == "bench" || n == "fixtures")
        {
            dirs.extend(
                std::fs::read_dir(&path)
                    .expect("reading plugins/hostile, plugins/bench and plugins/fixtures")
                    .flatten()
                    .map(|e| e.path()),
            );
        } else {
            dirs.push(path);
        }
    }
    let mut names: Vec<String> = dirs
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("Cargo.toml")).ok())
        .filter(|manifest| manifest.contains("cdylib"))
        .filter_map(|manifest| {
            manifest.lines().find_map(|l| {
                l.strip_prefix("name = \"")
                    .and_then(|rest| rest.strip_suffix('"'))
                    .map(str::to_owned)
            })
        })
        .collect();
    names.sort();
    names
}
