//! `pchost plugin new`: a plugin project outside this repository, from a worked example of its
//! world: the example's source, its manifest under the new name and owner, its fixtures, the
//! guests' stack setting and a README with the four commands (build, test, check, upload).
//! The project depends on the SDK by path; the SDK carries the WIT it builds against.

use anyhow::{Context, bail};
use pchost_runtime::{PluginManifest, World};
use std::path::{Path, PathBuf};

/// A worked example a project starts from.
struct Template {
    manifest: &'static str,
    source: &'static str,
    /// The SDK feature of its world and contract version.
    feature: &'static str,
    fixtures: &'static [(&'static str, &'static str)],
}

const APPROVAL_RULE: Template = Template {
    manifest: include_str!("../../../plugins/refund-approval/plugin.toml"),
    source: include_str!("../../../plugins/refund-approval/src/lib.rs"),
    feature: "approval-rule-v3",
    fixtures: &[
        (
            "approve-1000.input.json",
            include_str!("../../../examples/refund-approval/approve-1000.input.json"),
        ),
        (
            "approve-1000.expected.json",
            include_str!("../../../examples/refund-approval/approve-1000.expected.json"),
        ),
        (
            "escalate-60000.input.json",
            include_str!("../../../examples/refund-approval/escalate-60000.input.json"),
        ),
        (
            "escalate-60000.expected.json",
            include_str!("../../../examples/refund-approval/escalate-60000.expected.json"),
        ),
    ],
};

const PRICING_RULE: Template = Template {
    manifest: include_str!("../../../plugins/volume-discount/plugin.toml"),
    source: include_str!("../../../plugins/volume-discount/src/lib.rs"),
    feature: "pricing-rule-v3",
    fixtures: &[
        (
            "tiers.input.json",
            include_str!("../../../examples/volume-discount/tiers.input.json"),
        ),
        (
            "tiers.expected.json",
            include_str!("../../../examples/volume-discount/tiers.expected.json"),
        ),
    ],
};

/// The guests' stack: the same as the bundled plugins' (plugins/.cargo/config.toml).
const CARGO_CONFIG: &str = "# Plugins run with a 64 KiB stack instead of wasm32's default 1 MiB, as the host's
# bundled plugins do: the whole working set stays in the pages the host keeps resident, and
# an invocation starts without page faults. A rule that recurses deeply may need more.
[target.wasm32-wasip2]
rustflags = [\"-C\", \"link-arg=-zstack-size=65536\"]
";

/// The SDK of the tree this binary was built from, if it is still there.
pub fn default_sdk() -> Option<PathBuf> {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins/sdk"))
        .canonicalize()
        .ok()
}

/// Writes the project `dir/<name>` for a rule of `world` owned by partner `owner`, depending
/// on the SDK at `sdk`. Refuses a name the manifest would refuse, and an existing directory.
pub fn new_project(dir: &Path, name: &str, world: World, owner: i64, sdk: &Path) -> anyhow::Result<PathBuf> {
    // The name becomes a directory, a crate and a manifest line: a-z first (cargo refuses a
    // leading digit), then a-z, 0-9 and '-', so that it can neither leave `dir` nor inject.
    let valid = name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        bail!("{name:?} is not a plugin name: a letter a-z, then up to 63 of a-z, 0-9 and '-'");
    }
    if owner <= 0 {
        bail!("--owner {owner} is not a partner id");
    }
    let template = match world {
        World::ApprovalRule => &APPROVAL_RULE,
        World::PricingRule => &PRICING_RULE,
    };
    let manifest = manifest_for(template.manifest, name, owner);
    let parsed = PluginManifest::from_toml(&manifest).with_context(|| format!("the manifest of {name:?}"))?;
    if parsed.name != name {
        bail!("{name:?} is not a plugin name");
    }
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("the SDK at {}", sdk.display()))?;
    if !sdk.join("Cargo.toml").is_file() || !sdk.join("wit").is_dir() {
        bail!("{} is not the plugin SDK (no Cargo.toml and wit/ there)", sdk.display());
    }
    let project = dir.join(name);
    if project.exists() {
        bail!("{} exists already", project.display());
    }
    let lib = name.replace('-', "_");
    let files: Vec<(PathBuf, String)> = [
        ("Cargo.toml", cargo_toml(name, &sdk, template.feature)),
        ("plugin.toml", manifest),
        ("src/lib.rs", template.source.to_owned()),
        (".cargo/config.toml", CARGO_CONFIG.to_owned()),
        ("README.md", readme(name, &lib, world)),
    ]
    .into_iter()
    .map(|(path, text)| (PathBuf::from(path), text))
    .chain(
        template
            .fixtures
            .iter()
            .map(|(file, text)| (Path::new("fixtures").join(file), (*text).to_owned())),
    )
    .collect();
    for (path, text) in files {
        let path = project.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(project)
}

/// The template's manifest under the new name, version 0.1.0 and owner (the comment naming
/// the example's owner dropped).
fn manifest_for(template: &str, name: &str, owner: i64) -> String {
    let lines: Vec<&str> = template.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).copied().unwrap_or_default();
        if line.starts_with('#') && next.starts_with("owner =") {
            continue;
        }
        out.push(if line.starts_with("name =") {
            format!("name = \"{name}\"")
        } else if line.starts_with("version =") {
            "version = \"0.1.0\"".to_owned()
        } else if line.starts_with("owner =") {
            format!(
                "# The partner whose plugin this is: its capability reads are limited to its scope.\nowner = {owner}"
            )
        } else {
            (*line).to_owned()
        });
    }
    out.join("\n") + "\n"
}

fn cargo_toml(name: &str, sdk: &Path, feature: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
pchost-plugin-sdk = {{ path = {sdk:?}, features = ["{feature}"] }}

# Small and fast components, as the host's bundled plugins are built.
[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = "debuginfo"

# A project of its own, not a member of an enclosing workspace.
[workspace]
"#,
        sdk = sdk.display().to_string()
    )
}

fn readme(name: &str, lib: &str, world: World) -> String {
    format!(
        r#"# {name}

A `{world}` plugin for the partner-center plugin host, started from one of its worked
examples: change `src/lib.rs`, `plugin.toml` (its settings) and the fixtures to your rule.

```sh
# Build the component (once: rustup target add wasm32-wasip2).
cargo build --release --target wasm32-wasip2
# Run every fixture: fixtures/<case>.input.json against fixtures/<case>.expected.json.
pchost plugin test --manifest plugin.toml --component target/wasm32-wasip2/release/{lib}.wasm --fixtures fixtures
# Check it as an upload is checked: world, imports against grants, limits, compiling.
pchost plugin check target/wasm32-wasip2/release/{lib}.wasm --manifest plugin.toml
# Upload it with your partner admin's key, then bind it (POST /v1/bindings).
curl -s http://127.0.0.1:8080/v1/plugins -H "authorization: Bearer $PCHOST_KEY" \
  -F manifest=@plugin.toml -F component=@target/wasm32-wasip2/release/{lib}.wasm
```

An input fixture is what the rule receives, as the host's audit records it
(`GET /v1/invocations` shows real ones); the expected output is its answer. Money is exact:
`rust_decimal::Decimal` (re-exported by the SDK), never floats. Versions are immutable: bump
`version` in plugin.toml for each upload.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_could_leave_the_folder_or_break_cargo_is_refused() {
        let dir = std::env::temp_dir();
        let sdk = default_sdk().expect("the SDK of this tree");
        for name in [
            "x\" #/../../../tmp/pwn",
            "../up",
            "2fa",
            "-x",
            "Upper",
            "a b",
            "",
            &"a".repeat(65),
        ] {
            let refused = new_project(&dir, name, World::PricingRule, 10, &sdk);
            assert!(refused.is_err(), "{name:?} was accepted");
        }
        assert!(
            new_project(&dir, "fine", World::PricingRule, 0, &sdk).is_err(),
            "owner 0"
        );
    }

    #[test]
    fn a_templates_manifest_takes_the_new_name_version_and_owner() {
        let manifest = manifest_for(APPROVAL_RULE.manifest, "my-refunds", 7);
        let parsed = PluginManifest::from_toml(&manifest).expect("valid");
        assert_eq!(
            (parsed.name.as_str(), parsed.version.as_str(), parsed.owner),
            ("my-refunds", "0.1.0", 7)
        );
        assert!(
            !manifest.contains("Beijing"),
            "the example's owner comment is dropped: {manifest}"
        );
        assert!(manifest.contains("[settings.threshold]"), "settings kept");
        let pricing = manifest_for(PRICING_RULE.manifest, "tiers", 10);
        assert_eq!(PluginManifest::from_toml(&pricing).expect("valid").name, "tiers");
    }
}
