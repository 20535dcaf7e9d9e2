//! The plugin manifest: who owns a plugin, which world it implements, which capabilities it
//! is granted and the limits it asks for. Parsed from TOML, validated before anything else.

use crate::limits::{InvocationLimits, RuntimeLimits};
use crate::sandbox;
use crate::settings::{self, SettingError, SettingSpec};
use pchost_domain::PartnerId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The extension point a plugin implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// `partner-center:extension/pricing-rule@0.1.0`
    PricingRule,
    /// `partner-center:extension/approval-rule@0.1.0`
    ApprovalRule,
}

impl World {
    /// The short name used in manifests, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            World::PricingRule => "pricing-rule",
            World::ApprovalRule => "approval-rule",
        }
    }

    /// The function the world exports: what the host calls.
    pub fn export(self) -> &'static str {
        match self {
            World::PricingRule => "price",
            World::ApprovalRule => "decide",
        }
    }

    /// The fully qualified WIT world at a version of the extension package; `None` when that
    /// version has no such world.
    pub fn wit_name(self, version: WorldVersion) -> Option<&'static str> {
        match (self, version) {
            (World::PricingRule, WorldVersion::V0_1) => Some("partner-center:extension/pricing-rule@0.1.0"),
            (World::PricingRule, WorldVersion::V0_2) => Some("partner-center:extension/pricing-rule@0.2.0"),
            (World::ApprovalRule, WorldVersion::V0_1) => Some("partner-center:extension/approval-rule@0.1.0"),
            (World::ApprovalRule, WorldVersion::V0_2) => None,
            (World::PricingRule, WorldVersion::V0_3) => Some("partner-center:extension/pricing-rule@0.3.0"),
            (World::ApprovalRule, WorldVersion::V0_3) => Some("partner-center:extension/approval-rule@0.3.0"),
        }
    }
}

/// The version of the extension package (`partner-center:extension`) a plugin is built
/// against. Every released version keeps running: the host implements each side by side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorldVersion {
    /// 0.1.0: both worlds; quote lines as a list of records.
    #[default]
    #[serde(rename = "0.1.0")]
    V0_1,
    /// 0.2.0: the pricing rule with columnar quote lines (`wit/deps/extension-0.2.0`).
    #[serde(rename = "0.2.0")]
    V0_2,
    /// 0.3.0: both worlds with settings; pricing with the quote's purpose and the resources it
    /// concerns, adjustments with their kind; every gated action as a typed case
    /// (`wit/deps/extension-0.3.0`).
    #[serde(rename = "0.3.0")]
    V0_3,
}

impl WorldVersion {
    /// Every version the host runs, oldest first.
    pub const ALL: [WorldVersion; 3] = [WorldVersion::V0_1, WorldVersion::V0_2, WorldVersion::V0_3];

    /// The first host version (`pchost --version`) that runs plugins built against this
    /// version; every later host keeps running them.
    pub fn first_host(self) -> &'static str {
        match self {
            WorldVersion::V0_1 | WorldVersion::V0_2 | WorldVersion::V0_3 => "0.1.0",
        }
    }

    /// As written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            WorldVersion::V0_1 => "0.1.0",
            WorldVersion::V0_2 => "0.2.0",
            WorldVersion::V0_3 => "0.3.0",
        }
    }
}

impl fmt::Display for WorldVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorldVersion {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "0.1.0" => Ok(WorldVersion::V0_1),
            "0.2.0" => Ok(WorldVersion::V0_2),
            "0.3.0" => Ok(WorldVersion::V0_3),
            other => Err(ManifestError::UnknownWorldVersion(other.chars().take(64).collect())),
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for World {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pricing-rule" => Ok(World::PricingRule),
            "approval-rule" => Ok(World::ApprovalRule),
            other => Err(ManifestError::UnknownWorld(other.chars().take(64).collect())),
        }
    }
}

/// A capability a plugin may import, granted in its manifest. Logging needs no grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `partner-center:customer/customers`
    Customer,
    /// `partner-center:order/orders`
    Order,
    /// `partner-center:pricing/catalog`
    Pricing,
    /// `partner-center:invoicing/invoices`
    Invoicing,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 4] = [
        Capability::Customer,
        Capability::Order,
        Capability::Pricing,
        Capability::Invoicing,
    ];

    /// The grant's name in a manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Customer => "customer",
            Capability::Order => "order",
            Capability::Pricing => "pricing",
            Capability::Invoicing => "invoicing",
        }
    }

    /// The WIT package that holds the capability's interface.
    pub fn wit_package(self) -> &'static str {
        match self {
            Capability::Customer => "partner-center:customer",
            Capability::Order => "partner-center:order",
            Capability::Pricing => "partner-center:pricing",
            Capability::Invoicing => "partner-center:invoicing",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ManifestError::UnknownCapability(s.chars().take(64).collect()))
    }
}

/// Limits a manifest asks for; each must lie within the operator's ceiling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RequestedLimits {
    /// Deadline in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Fuel per invocation.
    pub fuel: Option<u64>,
    /// Memory cap in MiB.
    pub memory_mib: Option<u64>,
}

/// A plugin manifest as written in `plugin.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginManifest {
    /// Lower-case letters, digits and `-`; at most 64 characters.
    pub name: String,
    /// Semantic version of the plugin.
    pub version: String,
    /// The world it implements.
    pub world: World,
    /// The version of the extension package it is built against (default 0.1.0).
    #[serde(default)]
    pub world_version: WorldVersion,
    /// The partner (reseller, distributor, solution provider or seller) that owns it; its
    /// capability reads are scoped to this partner.
    pub owner: PartnerId,
    /// Capabilities it may import.
    #[serde(default)]
    pub grants: BTreeSet<Capability>,
    /// What the component imports but never calls: capabilities it has no grant for, and
    /// WASI packages the host does not provide (e.g. `wasi:sockets`). A JavaScript or Python
    /// component imports every interface of its world, whatever its rule calls; listing them
    /// here installs it without those grants, each import linked to a stub that fails the
    /// invocation if it is ever called. An import neither granted nor listed is refused.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unused_imports: BTreeSet<String>,
    /// Limits it asks for.
    #[serde(default)]
    pub limits: RequestedLimits,
    /// The settings a binding gives it (extension@0.3.0 on; see [`crate::settings`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, SettingSpec>,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The TOML does not parse or has unknown fields.
    #[error("manifest is not valid: {0}")]
    Syntax(String),
    /// The manifest is larger than any real manifest.
    #[error("manifest is {0} bytes; the limit is {MAX_MANIFEST_BYTES}")]
    TooLarge(usize),
    /// Bad name.
    #[error("name {0:?} must be 1-64 characters of a-z, 0-9 and '-'")]
    BadName(String),
    /// Bad version.
    #[error("version {0:?} is not a semantic version (e.g. 1.2.0)")]
    BadVersion(String),
    /// Unknown world.
    #[error("unknown world {0:?}: expected pricing-rule or approval-rule")]
    UnknownWorld(String),
    /// Unknown version of the extension package.
    #[error("unknown world-version {0:?}: expected 0.1.0, 0.2.0 or 0.3.0")]
    UnknownWorldVersion(String),
    /// The extension package at that version has no such world.
    #[error("{world} has no version {version}: approval-rule exists at 0.1.0 and 0.3.0")]
    NoSuchWorldVersion {
        /// The world.
        world: World,
        /// The version asked for.
        version: WorldVersion,
    },
    /// Unknown capability.
    #[error("unknown capability {0:?}: expected customer, order, pricing or invoicing")]
    UnknownCapability(String),
    /// Owner id not positive.
    #[error("owner {0} is not a partner id")]
    BadOwner(PartnerId),
    /// A limit above the operator's ceiling, or zero.
    #[error("limit {field} = {value} is outside 1..={ceiling}")]
    LimitOutOfRange {
        /// Which limit.
        field: &'static str,
        /// Asked for.
        value: u64,
        /// The operator's ceiling.
        ceiling: u64,
    },
    /// A setting's declaration is refused, or settings at a version that has none.
    #[error("{0}")]
    BadSetting(#[from] SettingError),
    /// An entry of `unused-imports` that names nothing the host could stub.
    #[error(
        "unused-imports entry {0:?}: expected an ungranted capability (customer, order, pricing, invoicing) or a WASI package the host does not provide (e.g. \"wasi:sockets\")"
    )]
    BadUnusedImport(String),
    /// A fuel limit on a host that does not meter fuel.
    #[error(
        "this host does not meter fuel (its operator turned metering off): remove the fuel limit; the deadline still bounds the plugin"
    )]
    FuelNotMetered,
}

/// The largest manifest accepted.
pub const MAX_MANIFEST_BYTES: usize = 16 << 10;

/// The most entries `unused-imports` may have: a world has four capabilities, and WASI a
/// dozen packages.
pub const MAX_UNUSED_IMPORTS: usize = 16;

impl PluginManifest {
    /// Parses and validates a manifest from TOML.
    pub fn from_toml(text: &str) -> Result<Self, ManifestError> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge(text.len()));
        }
        let manifest: PluginManifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax(e.message().to_owned()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| unreachable!("a manifest always serialises: {e}"))
    }

    /// Checks the fields that the type system does not.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(ManifestError::BadName(self.name.chars().take(80).collect()));
        }
        if semver::Version::parse(&self.version).is_err() {
            return Err(ManifestError::BadVersion(self.version.chars().take(80).collect()));
        }
        if self.owner <= 0 {
            return Err(ManifestError::BadOwner(self.owner));
        }
        if self.world.wit_name(self.world_version).is_none() {
            return Err(ManifestError::NoSuchWorldVersion {
                world: self.world,
                version: self.world_version,
            });
        }
        if !self.settings.is_empty() && self.world_version < WorldVersion::V0_3 {
            return Err(SettingError {
                field: "settings".into(),
                message: format!(
                    "extension@{} gives plugins no settings: declare world-version = \"0.3.0\"",
                    self.world_version
                ),
            }
            .into());
        }
        settings::validate(&self.settings)?;
        self.validate_unused_imports()
    }

    /// Each entry of `unused-imports` names an ungranted capability or a WASI package the
    /// host does not provide: stubbing a granted capability or a provided WASI interface would
    /// only take from the plugin what it may use.
    fn validate_unused_imports(&self) -> Result<(), ManifestError> {
        if self.unused_imports.len() > MAX_UNUSED_IMPORTS {
            return Err(ManifestError::BadUnusedImport(format!(
                "{} entries; at most {MAX_UNUSED_IMPORTS}",
                self.unused_imports.len()
            )));
        }
        for entry in &self.unused_imports {
            let valid = match entry.parse::<Capability>() {
                Ok(capability) => !self.grants.contains(&capability),
                Err(_) => entry.strip_prefix("wasi:").is_some_and(|package| {
                    !package.is_empty()
                        && package.len() <= 32
                        && package.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                        && !sandbox::provides_package(entry)
                }),
            };
            if !valid {
                return Err(ManifestError::BadUnusedImport(entry.chars().take(80).collect()));
            }
        }
        Ok(())
    }

    /// Whether `unused-imports` lists the capability.
    pub fn lists_unused(&self, capability: Capability) -> bool {
        self.unused_imports.contains(capability.as_str())
    }

    /// Whether `unused-imports` lists the WASI package of `import` (`wasi:sockets/tcp@0.2.9`
    /// is in `wasi:sockets`).
    pub fn lists_unused_wasi(&self, import: &str) -> bool {
        import
            .split_once('/')
            .is_some_and(|(package, _)| package.starts_with("wasi:") && self.unused_imports.contains(package))
    }

    /// The fully qualified WIT world the plugin implements.
    pub fn wit_world(&self) -> &'static str {
        // `validate` refuses the combinations that have no world, and every constructor of a
        // manifest that reaches the runtime validates it.
        self.world
            .wit_name(self.world_version)
            .unwrap_or("partner-center:extension (no such world)")
    }

    /// `owner/name@version`: what identifies an installed plugin version. Two owners may
    /// install the same component; each gets its own id.
    pub fn id(&self) -> String {
        format!("{}/{}@{}", self.owner, self.name, self.version)
    }

    /// `name@version`, as failures and logs name a plugin.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The limits an invocation of this plugin runs under: the manifest's requests within the
    /// operator's ceilings, the operator's defaults elsewhere.
    pub fn invocation_limits(&self, runtime: &RuntimeLimits) -> Result<InvocationLimits, ManifestError> {
        fn check(field: &'static str, value: u64, ceiling: u64) -> Result<u64, ManifestError> {
            if value == 0 || value > ceiling {
                Err(ManifestError::LimitOutOfRange { field, value, ceiling })
            } else {
                Ok(value)
            }
        }
        let defaults = runtime.default_invocation;
        let deadline = match self.limits.deadline_ms {
            Some(ms) => Duration::from_millis(check("deadline-ms", ms, runtime.max_deadline.as_millis() as u64)?),
            None => defaults.deadline,
        };
        let fuel = match self.limits.fuel {
            Some(fuel) => Some(check("fuel", fuel, runtime.max_fuel)?),
            None => defaults.fuel,
        };
        let memory_bytes = match self.limits.memory_mib {
            Some(mib) => (check("memory-mib", mib, (runtime.max_memory_bytes >> 20) as u64)? << 20) as usize,
            None => defaults.memory_bytes,
        };
        Ok(InvocationLimits {
            deadline,
            fuel,
            memory_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_manifest_parses() {
        let m = PluginManifest::from_toml(
            "name = \"payment-on-behalf\"\nversion = \"0.1.0\"\nworld = \"approval-rule\"\nowner = 2\ngrants = [\"order\"]\n[limits]\ndeadline-ms = 50\n",
        )
        .expect("valid manifest");
        assert_eq!(m.world, World::ApprovalRule);
        assert_eq!(m.world_version, WorldVersion::V0_1, "0.1.0 when not given");
        assert_eq!(m.wit_world(), "partner-center:extension/approval-rule@0.1.0");
        assert!(m.grants.contains(&Capability::Order));
        let limits = m.invocation_limits(&RuntimeLimits::default()).expect("within ceilings");
        assert_eq!(limits.deadline, Duration::from_millis(50));
    }

    #[test]
    fn bad_manifests_are_refused_with_the_field_named() {
        let base = "version = \"0.1.0\"\nworld = \"pricing-rule\"\nowner = 2\n";
        assert_eq!(
            PluginManifest::from_toml(&format!("name = \"Bad Name\"\n{base}")),
            Err(ManifestError::BadName("Bad Name".into()))
        );
        assert!(matches!(
            PluginManifest::from_toml(&format!("name = \"x\"\n{base}grants = [\"network\"]\n")),
            Err(ManifestError::Syntax(msg)) if msg.contains("network")
        ));
        assert_eq!(
            PluginManifest::from_toml(
                "name = \"x\"\nversion = \"0.1.0\"\nworld = \"approval-rule\"\nworld-version = \"0.2.0\"\nowner = 2\n"
            ),
            Err(ManifestError::NoSuchWorldVersion {
                world: World::ApprovalRule,
                version: WorldVersion::V0_2
            })
        );
        assert!(matches!(
            PluginManifest::from_toml(&format!("name = \"x\"\n{base}world-version = \"0.4.0\"\n")),
            Err(ManifestError::Syntax(msg)) if msg.contains("0.4.0")
        ));
        assert!(matches!(
            PluginManifest::from_toml(&format!("name = \"x\"\n{base}colour = 1\n")),
            Err(ManifestError::Syntax(msg)) if msg.contains("colour")
        ));
        let greedy =
            PluginManifest::from_toml(&format!("name = \"x\"\n{base}[limits]\nmemory-mib = 4096\n")).expect("parses");
        assert_eq!(
            greedy.invocation_limits(&RuntimeLimits::default()),
            Err(ManifestError::LimitOutOfRange {
                field: "memory-mib",
                value: 4096,
                ceiling: 256
            })
        );
    }

    #[test]
    fn unused_imports_name_only_what_the_host_would_otherwise_refuse() {
        let base = "name = \"x\"\nversion = \"0.1.0\"\nworld = \"pricing-rule\"\nowner = 2\ngrants = [\"order\"]\n";
        let parse = |list: &str| PluginManifest::from_toml(&format!("{base}unused-imports = {list}\n"));
        let m = parse("[\"customer\", \"invoicing\", \"wasi:sockets\"]").expect("valid");
        assert!(m.lists_unused(Capability::Customer) && !m.lists_unused(Capability::Order));
        assert!(m.lists_unused_wasi("wasi:sockets/tcp@0.2.9"));
        assert!(!m.lists_unused_wasi("wasi:http/types@0.2.9"));
        // A granted capability, a provided WASI package, or anything else is refused.
        for bad in [
            "order",
            "wasi:io",
            "wasi:cli",
            "network",
            "wasi:",
            "wasi:Sockets",
            "acme:evil",
        ] {
            assert_eq!(
                parse(&format!("[\"{bad}\"]")),
                Err(ManifestError::BadUnusedImport(bad.into())),
                "{bad}"
            );
        }
        let many: Vec<String> = (0..=MAX_UNUSED_IMPORTS)
            .map(|i| format!("\"wasi:p{}\"", "x".repeat(i + 1)))
            .collect();
        assert!(matches!(
            parse(&format!("[{}]", many.join(", "))),
            Err(ManifestError::BadUnusedImport(message)) if message.contains("at most 16")
        ));
    }
}
