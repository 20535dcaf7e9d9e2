//! `pchost plugin new`: a plugin project outside this repository, from a worked example of its
//! world in its language: the example's source, its manifest under the new name and owner, its
//! fixtures and a README with the four commands (build, test, check, upload).
//!
//! - Rust: depends on the SDK by path; the SDK carries the WIT it builds against, and the
//!   project gets the guests' stack setting.
//! - JavaScript (componentize-js) and Python (componentize-py): the project holds the WIT and
//!   the kit's module (`pchost.js`, `pchost.py`: exact decimals and the contract's shapes), and
//!   pins its toolchain, which the README installs into the project's own folder.

use anyhow::{Context, bail};
use pchost_runtime::{PluginManifest, World};
use std::path::{Path, PathBuf};

/// The languages a project can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the plugin SDK crate.
    Rust,
    /// JavaScript, built with componentize-js.
    Js,
    /// Python, built with componentize-py.
    Python,
}

/// A worked example a project starts from.
struct Template {
    manifest: &'static str,
    /// The source file's path in the project, and its text.
    source: (&'static str, &'static str),
    fixtures: &'static [(&'static str, &'static str)],
}

const REFUND_FIXTURES: &[(&str, &str)] = &[
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
];

const VOLUME_FIXTURES: &[(&str, &str)] = &[
    (
        "tiers.input.json",
        include_str!("../../../examples/volume-discount/tiers.input.json"),
    ),
    (
        "tiers.expected.json",
        include_str!("../../../examples/volume-discount/tiers.expected.json"),
    ),
];

/// The template of a world in a language: the bundled example plugin written in it.
fn template(world: World, lang: Lang) -> Template {
    macro_rules! example {
        ($dir:literal, $source:literal, $fixtures:expr) => {
            Template {
                manifest: include_str!(concat!("../../../plugins/", $dir, "/plugin.toml")),
                source: (
                    $source,
                    include_str!(concat!("../../../plugins/", $dir, "/", $source)),
                ),
                fixtures: $fixtures,
            }
        };
    }
    match (world, lang) {
        (World::ApprovalRule, Lang::Rust) => example!("refund-approval", "src/lib.rs", REFUND_FIXTURES),
        (World::PricingRule, Lang::Rust) => example!("volume-discount", "src/lib.rs", VOLUME_FIXTURES),
        (World::ApprovalRule, Lang::Js) => example!("js/refund-approval", "rule.js", REFUND_FIXTURES),
        (World::PricingRule, Lang::Js) => example!("js/volume-discount", "rule.js", VOLUME_FIXTURES),
        (World::ApprovalRule, Lang::Python) => example!("python/refund-approval", "app.py", REFUND_FIXTURES),
        (World::PricingRule, Lang::Python) => example!("python/volume-discount", "app.py", VOLUME_FIXTURES),
    }
}

/// The WIT the JavaScript and Python projects build against: the SDK's copy (identical to the
/// host's `wit/`, a test checks it), every file of it (a test checks that too).
const WIT: &[(&str, &str)] = &[
    ("extension.wit", include_str!("../../../plugins/sdk/wit/extension.wit")),
    (
        "deps/customer/customer.wit",
        include_str!("../../../plugins/sdk/wit/deps/customer/customer.wit"),
    ),
    (
        "deps/extension-0.2.0/extension.wit",
        include_str!("../../../plugins/sdk/wit/deps/extension-0.2.0/extension.wit"),
    ),
    (
        "deps/extension-0.3.0/extension.wit",
        include_str!("../../../plugins/sdk/wit/deps/extension-0.3.0/extension.wit"),
    ),
    (
        "deps/invoicing/invoicing.wit",
        include_str!("../../../plugins/sdk/wit/deps/invoicing/invoicing.wit"),
    ),
    (
        "deps/log/log.wit",
        include_str!("../../../plugins/sdk/wit/deps/log/log.wit"),
    ),
    (
        "deps/order/order.wit",
        include_str!("../../../plugins/sdk/wit/deps/order/order.wit"),
    ),
    (
        "deps/pricing/pricing.wit",
        include_str!("../../../plugins/sdk/wit/deps/pricing/pricing.wit"),
    ),
    (
        "deps/types/types.wit",
        include_str!("../../../plugins/sdk/wit/deps/types/types.wit"),
    ),
];

/// The JavaScript kit's module, beside the rule in a project.
const JS_KIT: &str = include_str!("../../../plugins/js/sdk/pchost.js");
/// The Python kit's module, beside the rule in a project.
const PYTHON_KIT: &str = include_str!("../../../plugins/python/sdk/pchost.py");
/// The pinned Python toolchain (the same as plugins/python/requirements.txt).
const PYTHON_REQUIREMENTS: &str = include_str!("../../../plugins/python/requirements.txt");
/// The pinned JavaScript toolchain: plugins/js/package.json's.
const JS_PACKAGE: &str = include_str!("../../../plugins/js/package.json");

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

/// Writes the project `dir/<name>` for a rule of `world` in `lang` owned by partner `owner`; a
/// Rust project depends on the SDK at `sdk`. Refuses a name the manifest would refuse, and an
/// existing directory.
pub fn new_project(
    dir: &Path,
    name: &str,
    world: World,
    lang: Lang,
    owner: i64,
    sdk: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    // The name becomes a directory, a crate or package and a manifest line: a-z first (cargo
    // refuses a leading digit), then a-z, 0-9 and '-', so that it can neither leave `dir` nor
    // inject.
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
    let template = template(world, lang);
    let manifest = manifest_for(template.manifest, name, owner);
    let parsed = PluginManifest::from_toml(&manifest).with_context(|| format!("the manifest of {name:?}"))?;
    if parsed.name != name {
        bail!("{name:?} is not a plugin name");
    }
    let project = dir.join(name);
    if project.exists() {
        bail!("{} exists already", project.display());
    }
    let wit_world = parsed.wit_world();
    let mut files: Vec<(PathBuf, String)> = vec![
        ("plugin.toml".into(), manifest),
        (template.source.0.into(), template.source.1.to_owned()),
        ("README.md".into(), readme(name, world, lang, wit_world)),
    ];
    match lang {
        Lang::Rust => {
            let sdk = sdk.context("name the plugin SDK (plugins/sdk of a pchost checkout) with --sdk")?;
            let sdk = sdk
                .canonicalize()
                .with_context(|| format!("the SDK at {}", sdk.display()))?;
            if !sdk.join("Cargo.toml").is_file() || !sdk.join("wit").is_dir() {
                bail!("{} is not the plugin SDK (no Cargo.toml and wit/ there)", sdk.display());
            }
            let feature = match world {
                World::ApprovalRule => "approval-rule-v3",
                World::PricingRule => "pricing-rule-v3",
            };
            files.push(("Cargo.toml".into(), cargo_toml(name, &sdk, feature)));
            files.push((".cargo/config.toml".into(), CARGO_CONFIG.to_owned()));
        }
        Lang::Js => {
            files.push(("pchost.js".into(), JS_KIT.to_owned()));
            files.push(("package.json".into(), package_json(name, wit_world)?));
        }
        Lang::Python => {
            files.push(("pchost.py".into(), PYTHON_KIT.to_owned()));
            files.push(("requirements.txt".into(), PYTHON_REQUIREMENTS.to_owned()));
        }
    }
    if lang != Lang::Rust {
        files.extend(
            WIT.iter()
                .map(|(path, text)| (Path::new("wit").join(path), (*text).to_owned())),
        );
    }
    files.extend(
        template
            .fixtures
            .iter()
            .map(|(file, text)| (Path::new("fixtures").join(file), (*text).to_owned())),
    );
    // Created here, not merely checked above: a directory made meanwhile is refused too,
    // never written into.
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::create_dir(&project).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => anyhow::anyhow!("{} exists already", project.display()),
        _ => anyhow::Error::new(e).context(format!("creating {}", project.display())),
    })?;
    for (path, text) in files {
        let path = project.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(project)
}

/// The project's package.json: the kit's pinned toolchain (componentize-js, its wizer pinned)
/// under the project's name, and the build command as `npm run build`.
fn package_json(name: &str, wit_world: &str) -> anyhow::Result<String> {
    let mut package: serde_json::Value = serde_json::from_str(JS_PACKAGE).context("the kit's package.json")?;
    package["name"] = name.into();
    package["description"] = format!("A {wit_world} plugin for the partner-center plugin host.").into();
    package["scripts"] = serde_json::json!({
        "build": format!(
            "componentize-js rule.js --wit wit --world-name {wit_world} --disable http fetch-event -o {name}.wasm"
        )
    });
    Ok(serde_json::to_string_pretty(&package)? + "\n")
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

fn readme(name: &str, world: World, lang: Lang, wit_world: &str) -> String {
    let lib = name.replace('-', "_");
    let (source, component, setup, build, money) = match lang {
        Lang::Rust => (
            "src/lib.rs",
            format!("target/wasm32-wasip2/release/{lib}.wasm"),
            "rustup target add wasm32-wasip2".to_owned(),
            "cargo build --release --target wasm32-wasip2".to_owned(),
            "`rust_decimal::Decimal` (re-exported by the SDK)",
        ),
        Lang::Js => (
            "rule.js",
            format!("{name}.wasm"),
            "npm install   # componentize-js, pinned in package.json, into ./node_modules".to_owned(),
            "npm run build".to_owned(),
            "`Decimal` of `pchost.js` (BigInt-backed)",
        ),
        Lang::Python => (
            "app.py",
            format!("{name}.wasm"),
            "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt   # componentize-py, pinned".to_owned(),
            format!(".venv/bin/componentize-py -d wit -w {wit_world} componentize app -o {name}.wasm"),
            "`decimal.Decimal` (with `pchost.py` to convert)",
        ),
    };
    format!(
        r#"# {name}

A `{world}` plugin for the partner-center plugin host, started from one of its worked
examples: change `{source}`, `plugin.toml` (its settings) and the fixtures to your rule.

```sh
# Once: the toolchain.
{setup}
# Build the component.
{build}
# Run every fixture: fixtures/<case>.input.json against fixtures/<case>.expected.json.
pchost plugin test --manifest plugin.toml --component {component} --fixtures fixtures
# Check it as an upload is checked: world, imports against grants, limits, standard fixtures.
pchost plugin check {component} --manifest plugin.toml
# Upload it with your partner admin's key, then bind it (POST /v1/bindings).
curl -s http://127.0.0.1:8080/v1/plugins -H "authorization: Bearer $PCHOST_KEY" \
  -F manifest=@plugin.toml -F component=@{component}
```

An input fixture is what the rule receives, as the host's audit records it
(`GET /v1/invocations` shows real ones); the expected output is its answer. Money is exact:
{money}, never floats. Versions are immutable: bump `version` in plugin.toml for each upload.{imports}
"#,
        imports = if lang == Lang::Rust {
            ""
        } else {
            "\n\nThe component imports every interface of its world, whatever the rule calls: `unused-imports`\nin plugin.toml lists the capabilities it never calls, which need no grant (a call to one fails\nthe invocation). To read one, move it from `unused-imports` to `grants`."
        }
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
            let refused = new_project(&dir, name, World::PricingRule, Lang::Rust, 10, Some(&sdk));
            assert!(refused.is_err(), "{name:?} was accepted");
        }
        assert!(
            new_project(&dir, "fine", World::PricingRule, Lang::Js, 0, None).is_err(),
            "owner 0"
        );
    }

    #[test]
    fn a_templates_manifest_takes_the_new_name_version_and_owner() {
        let manifest = manifest_for(template(World::ApprovalRule, Lang::Rust).manifest, "my-refunds", 7);
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
        for lang in [Lang::Rust, Lang::Js, Lang::Python] {
            let pricing = manifest_for(template(World::PricingRule, lang).manifest, "tiers", 10);
            assert_eq!(
                PluginManifest::from_toml(&pricing).expect("valid").name,
                "tiers",
                "{lang:?}"
            );
        }
    }

    #[test]
    fn projects_in_javascript_and_python_carry_every_wit_file_the_sdk_ships() {
        let sdk_wit = default_sdk().expect("the SDK of this tree").join("wit");
        let mut on_disk = Vec::new();
        let mut pending = vec![sdk_wit.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("wit dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    on_disk.push(
                        path.strip_prefix(&sdk_wit)
                            .expect("inside")
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = WIT.iter().map(|(path, _)| (*path).to_owned()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "scaffold::WIT must list every file of plugins/sdk/wit"
        );
    }

    #[test]
    fn a_javascript_project_pins_the_kits_toolchain_and_builds_its_world() {
        let dir = std::env::temp_dir().join(format!("pchost-scaffold-js-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let project = new_project(&dir, "tiers", World::PricingRule, Lang::Js, 10, None).expect("made");
        let package: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(project.join("package.json")).expect("package.json"))
                .expect("JSON");
        assert_eq!(package["name"], "tiers");
        assert_eq!(
            package["devDependencies"]["@bytecodealliance/componentize-js"],
            "0.23.0"
        );
        assert_eq!(package["overrides"]["@bytecodealliance/wizer"], "10.0.0");
        assert!(
            package["scripts"]["build"]
                .as_str()
                .is_some_and(|b| b.contains("--world-name partner-center:extension/pricing-rule@0.3.0")),
            "{package}"
        );
        for file in [
            "rule.js",
            "pchost.js",
            "plugin.toml",
            "README.md",
            "wit/deps/types/types.wit",
            "fixtures/tiers.input.json",
        ] {
            assert!(project.join(file).is_file(), "{file}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
