//! Shared set-up: a runtime, the demo data behind the capabilities, manifests and quotes.

use chrono::{TimeZone, Utc};
use pchost_domain::demo::DemoData;
use pchost_domain::store::Store;
use pchost_runtime::model::{CustomerContext, PartnerContext, Quote, QuoteLine};
use pchost_runtime::{CapabilityData, PluginManifest, PluginRuntime, RuntimeConfig, StoreData};
use rust_decimal::Decimal;
use std::sync::{Arc, OnceLock};

/// One tokio runtime drives every test's store; plugins block on it from test threads.
pub fn tokio() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().expect("tokio runtime"))
}

/// A fresh in-memory store with the demo data.
pub fn demo_store() -> Store {
    tokio().block_on(async {
        let store = Store::in_memory().await.expect("store");
        store
            .seed_demo_if_empty(&DemoData::new(Utc::now()))
            .await
            .expect("seed");
        store
    })
}

/// The capability view over a fresh demo store.
pub fn demo_data() -> Arc<dyn CapabilityData> {
    Arc::new(StoreData::new(demo_store(), tokio().handle().clone()))
}

/// A runtime with the default limits.
pub fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::default()).expect("runtime")
}

/// A manifest.
pub fn manifest(name: &str, world: &str, owner: i64, grants: &[&str]) -> PluginManifest {
    let grants = grants.iter().map(|g| format!("{g:?}")).collect::<Vec<_>>().join(", ");
    PluginManifest::from_toml(&format!(
        "name = {name:?}\nversion = \"0.1.0\"\nworld = {world:?}\nowner = {owner}\ngrants = [{grants}]\n"
    ))
    .expect("valid manifest")
}

/// An exact decimal from a literal.
pub fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).expect("decimal literal")
}

/// A quote of demo product 2001 (seller 10), one line per `(quantity, unit_price)`, list
/// price 100, for `customer` (level `level`) of reseller 2.
pub fn quote(customer: i64, level: u8, lines: &[(u32, &str)]) -> Quote {
    let products = DemoData::new(Utc::now())
        .products
        .into_iter()
        .filter(|p| p.id == 2001)
        .collect();
    Quote {
        currency: "CNY".parse().expect("currency"),
        as_of: Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("date"),
        partner: Some(PartnerContext {
            id: pchost_domain::demo::RESELLER,
            kind: pchost_domain::PartnerKind::Reseller,
            distributor: Some(pchost_domain::demo::DISTRIBUTOR),
        }),
        customer: Some(CustomerContext {
            id: customer,
            association: pchost_domain::Association::Resale,
            freeze: pchost_domain::FreezeState::NotFrozen,
            level,
        }),
        products,
        lines: lines
            .iter()
            .map(|(quantity, price)| QuoteLine {
                product: 0,
                period: pchost_domain::PeriodType::Month,
                period_count: 1,
                quantity: *quantity,
                list_unit_price: dec("100"),
                unit_price: dec(price),
            })
            .collect(),
    }
}
