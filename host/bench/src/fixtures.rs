//! What the sections measure with: a runtime with the example and bench plugins installed,
//! the demo data behind the capabilities, and the quotes they price.

use chrono::{TimeZone, Utc};
use pchost_domain::{Association, FreezeState, PartnerKind, PeriodType};
use pchost_runtime::model::{CustomerContext, PartnerContext, Quote, QuoteLine};
use pchost_runtime::{CapabilityData, PluginManifest, PluginRuntime, RuntimeConfig};
use pchost_server::capability_data::StoreData;
use pchost_store::demo::DemoData;
use pchost_store::store::Store;
use rust_decimal::Decimal;
use std::sync::Arc;

/// The runtime, the example and bench plugins, and the demo data behind the capabilities.
pub(crate) struct Bench {
    pub(crate) runtime: PluginRuntime,
    pub(crate) data: Arc<dyn CapabilityData>,
    _tokio: tokio::runtime::Runtime,
}

pub(crate) const VOLUME: &str = "10/volume-discount@0.1.0";
pub(crate) const MARKUP: &str = "2/reseller-markup@0.1.0";
pub(crate) const HEAVY: &str = "2/heavy-pricing@0.1.0";
pub(crate) const ECHO_V1: &str = "2/bench-echo-v1@0.1.0";
pub(crate) const ECHO_V2: &str = "2/bench-echo-v2@0.1.0";

impl Bench {
    pub(crate) fn new() -> anyhow::Result<Bench> {
        let tokio = tokio::runtime::Runtime::new()?;
        let store = tokio.block_on(async {
            let store = Store::in_memory().await?;
            store.seed_demo_if_empty(&DemoData::new(Utc::now())).await?;
            anyhow::Ok(store)
        })?;
        let data: Arc<dyn CapabilityData> = Arc::new(StoreData::new(store));
        let runtime = PluginRuntime::new(RuntimeConfig::default())?;
        for (name, owner, path) in [
            ("volume-discount", 10, pchost_test_plugins::VOLUME_DISCOUNT),
            ("reseller-markup", 2, pchost_test_plugins::RESELLER_MARKUP),
        ] {
            runtime.install(manifest(name, "0.1.0", owner), &std::fs::read(path)?)?;
        }
        runtime.install(
            manifest_at("heavy-pricing", "0.1.0", 2, "0.2.0"),
            &std::fs::read(pchost_test_plugins::HEAVY_PRICING)?,
        )?;
        // The same do-nothing rule against each contract version: the boundary cost per line.
        for (name, world_version, path) in [
            ("bench-echo-v1", "0.1.0", pchost_test_plugins::BENCH_ECHO_V1),
            ("bench-echo-v2", "0.2.0", pchost_test_plugins::BENCH_ECHO_V2),
        ] {
            runtime.install(manifest_at(name, "0.1.0", 2, world_version), &std::fs::read(path)?)?;
        }
        Ok(Bench {
            runtime,
            data,
            _tokio: tokio,
        })
    }
}

/// A manifest of one of the example pricing rules, which are built against extension@0.3.0.
/// It declares no settings: the quotes here carry none and each rule prices with the defaults
/// its own `plugin.toml` declares (what the host would send a binding without values, less
/// the lowering of those few records; the HTTP section runs the bundled manifests).
pub(crate) fn manifest(name: &str, version: &str, owner: i64) -> PluginManifest {
    manifest_at(name, version, owner, "0.3.0")
}

/// A pricing-rule manifest against a version of the extension package.
pub(crate) fn manifest_at(name: &str, version: &str, owner: i64, world_version: &str) -> PluginManifest {
    PluginManifest::from_toml(&format!(
        "name = \"{name}\"\nversion = \"{version}\"\nworld = \"pricing-rule\"\nworld-version = \"{world_version}\"\nowner = {owner}\n"
    ))
    .expect("a valid manifest")
}

pub(crate) fn as_of() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("a date")
}

/// A quote of `lines` lines of seller 10's product 2001 (list 88.50), `quantity` units each,
/// for a standard customer of reseller 2.
pub(crate) fn quote(lines: usize, quantity: u32) -> Quote {
    let products = DemoData::new(as_of())
        .products
        .into_iter()
        .filter(|p| p.id == 2001)
        .collect();
    let price = Decimal::new(88_500_000, 6);
    Quote {
        currency: pchost_domain::Currency::CNY,
        as_of: as_of(),
        partner: Some(PartnerContext {
            id: 2,
            kind: PartnerKind::Reseller,
            distributor: Some(1),
        }),
        customer: Some(CustomerContext {
            id: 102,
            association: Association::Resale,
            freeze: FreezeState::NotFrozen,
            level: 1,
        }),
        products,
        lines: (0..lines)
            .map(|i| QuoteLine {
                product: 0,
                period: PeriodType::Month,
                period_count: 1 + (i % 12) as u32,
                quantity,
                list_unit_price: price,
                unit_price: price,
            })
            .collect(),
        purpose: Default::default(),
        resources: Vec::new(),
        settings: Vec::new(),
    }
}
