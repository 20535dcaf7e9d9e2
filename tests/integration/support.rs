//! Shared set-up: a runtime, the demo data behind the capabilities, manifests and quotes.

use chrono::{TimeZone, Utc};
use pchost_runtime::model::{CustomerContext, PartnerContext, Quote, QuoteLine};
use pchost_runtime::{CapabilityData, PluginManifest, PluginRuntime, RuntimeConfig};
use pchost_server::capability_data::StoreData;
use pchost_store::demo::DemoData;
use pchost_store::store::Store;
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
    Arc::new(StoreData::new(demo_store()))
}

/// A runtime with the default limits.
pub fn runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig::default()).expect("runtime")
}

/// A manifest. `world` may name the extension package's version as WIT does
/// (`pricing-rule@0.2.0`); without one it is 0.1.0.
pub fn manifest(name: &str, world: &str, owner: i64, grants: &[&str]) -> PluginManifest {
    let grants = grants.iter().map(|g| format!("{g:?}")).collect::<Vec<_>>().join(", ");
    let (world, version) = world.split_once('@').unwrap_or((world, "0.1.0"));
    PluginManifest::from_toml(&format!(
        "name = {name:?}\nversion = \"0.1.0\"\nworld = {world:?}\nworld-version = {version:?}\nowner = {owner}\ngrants = [{grants}]\n"
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
            id: pchost_store::demo::RESELLER,
            kind: pchost_domain::PartnerKind::Reseller,
            distributor: Some(pchost_store::demo::DISTRIBUTOR),
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
        purpose: Default::default(),
        resources: Vec::new(),
        settings: Vec::new(),
    }
}

/// The plugin runtime every API test shares, with the bundled plugins compiled once.
pub fn shared_runtime() -> Arc<PluginRuntime> {
    static RUNTIME: OnceLock<Arc<PluginRuntime>> = OnceLock::new();
    RUNTIME.get_or_init(|| Arc::new(runtime())).clone()
}

/// A server's state over a fresh demo store with the demo API keys and the bundled plugins
/// installed and bound, as `serve --demo --bundled-plugins` sets it up.
pub fn api_state() -> pchost_server::state::AppState {
    api_state_on(shared_runtime())
}

/// [`api_state`] on a runtime of the test's own (other limits).
pub fn api_state_on(runtime: Arc<PluginRuntime>) -> pchost_server::state::AppState {
    api_state_over(demo_store(), runtime)
}

/// [`api_state`] over `store`, which holds the demo data set.
pub fn api_state_over(store: Store, runtime: Arc<PluginRuntime>) -> pchost_server::state::AppState {
    tokio().block_on(async {
        pchost_server::demo::seed(&store)
            .await
            .expect("demo keys, money and resource");
        pchost_extensions::install::install_bundled(
            &store,
            &runtime,
            &pchost_test_plugins::repo_root().join("plugins"),
            std::path::Path::new(pchost_test_plugins::WASM_DIR),
            &pchost_store::bindings::PluginQuota::default(),
        )
        .await
        .expect("bundled plugins install");
        let mut state = pchost_server::state::AppState::new(
            store,
            runtime,
            pchost_server::ratelimit::RateLimit {
                per_second: 10_000,
                burst: 10_000,
            },
        );
        // Tests upload many components as one owner; the upload budget has tests of its own.
        state.uploads = Arc::new(pchost_server::ratelimit::RateLimiter::for_uploads(
            pchost_server::ratelimit::UploadLimit {
                per_minute: 10_000,
                burst: 10_000,
            },
        ));
        // As on a `--demo` server: verification codes come back in the answer.
        state.reveal_codes = true;
        state.host.bindings.reload(&state.store).await.expect("bindings");
        state
    })
}

/// Sends a request to the router: `key` as the bearer API key, `body` as JSON.
pub fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<serde_json::Value>,
) -> (axum::http::StatusCode, serde_json::Value) {
    let body = body.map(|b| b.to_string());
    call_raw(app, method, path, key, body.unwrap_or_default(), &[])
}

/// Sends a request with a raw body and extra headers.
pub fn call_raw(
    app: &axum::Router,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: impl Into<Vec<u8>>,
    headers: &[(&str, &str)],
) -> (axum::http::StatusCode, serde_json::Value) {
    let body: Vec<u8> = body.into();
    use tower::ServiceExt;
    tokio().block_on(async {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if !body.is_empty()
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(axum::body::Body::from(body)).expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 4 << 20).await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    })
}

/// The demo keys (README): one per role.
pub mod keys {
    /// The platform operator.
    pub const OPERATOR: &str = "pch_demo_operator";
    /// Distributor 1's admin.
    pub const DISTRIBUTOR_ADMIN: &str = "pch_demo_distributor_admin";
    /// Reseller 2's admin.
    pub const RESELLER_ADMIN: &str = "pch_demo_reseller_admin";
    /// Reseller 2's second admin 509: decides what 500 asks for (four eyes).
    pub const RESELLER_ADMIN_2: &str = "pch_demo_reseller_admin_2";
    /// Reseller 2's customer manager 501 (manages 101, 103...).
    pub const MANAGER: &str = "pch_demo_reseller_manager";
    /// Reseller 2's supervisor 502, over 501.
    pub const SUPERVISOR: &str = "pch_demo_reseller_supervisor";
    /// Reseller 2's salesperson 503 (manages 102).
    pub const SALESPERSON: &str = "pch_demo_reseller_salesperson";
    /// Seller 10's admin.
    pub const SELLER_ADMIN: &str = "pch_demo_seller_admin";
    /// Customer 101 (reseller 2, resale, key account).
    pub const CUSTOMER_101: &str = "pch_demo_customer_101";
    /// Customer 102 (reseller 2).
    pub const CUSTOMER_102: &str = "pch_demo_customer_102";
}

/// Customer 102 orders saved quote `quote` (its id) with idempotency key `key`.
pub fn order_quote(
    app: &axum::Router,
    quote: &serde_json::Value,
    key: &str,
) -> (axum::http::StatusCode, serde_json::Value) {
    call_raw(
        app,
        "POST",
        "/v1/orders",
        Some(keys::CUSTOMER_102),
        serde_json::json!({ "quote_id": quote }).to_string(),
        &[("idempotency-key", key)],
    )
}

/// Binds the scripted 0.3.0 approval rule (`2/scripted-approval@1.0.0`, a test fixture) at
/// `scope` under `settings` (`reject`, `escalate`, `escalate-to`: see its source), installing
/// it first when this store or the shared runtime lacks it.
pub fn bind_scripted_approval(
    state: &pchost_server::state::AppState,
    scope: pchost_store::bindings::BindingScope,
    scope_id: Option<i64>,
    settings: &serde_json::Value,
) {
    use pchost_store::bindings::{FailurePolicy, NewBinding};
    let component = pchost_test_plugins::read(pchost_test_plugins::FIXTURE_SCRIPTED_APPROVAL);
    tokio().block_on(async {
        let manifest = PluginManifest::from_toml(
            "name = \"scripted-approval\"\nversion = \"1.0.0\"\nworld = \"approval-rule\"\nworld-version = \"0.3.0\"\nowner = 2\n\
             [settings.reject]\ntype = \"string\"\ndefault = \"\"\n[settings.escalate]\ntype = \"string\"\ndefault = \"\"\n\
             [settings.escalate-to]\ntype = \"string\"\ndefault = \"partner-admin\"\n",
        )
        .expect("manifest");
        // The shared runtime may have it from another test already: the same bytes.
        if state.host.runtime.plugin("2/scripted-approval@1.0.0").is_none()
            || state
                .store
                .plugin_manifest(2, "scripted-approval", "1.0.0")
                .await
                .expect("read")
                .is_none()
        {
            pchost_extensions::install::install(
                &state.store,
                &state.host.runtime,
                manifest,
                &component,
                &state.host.plugin_quota,
            )
            .await
            .expect("install");
        }
        let binding = NewBinding {
            world: "approval-rule".into(),
            scope,
            scope_id,
            plugin_owner: 2,
            plugin_name: "scripted-approval".into(),
            version: "1.0.0".into(),
            position: 50,
            failure_policy: FailurePolicy::FailClosed,
            enabled: true,
            settings: settings.as_object().cloned().expect("settings"),
        };
        state.store.create_binding(&binding, "test", Utc::now()).await.expect("bind");
        state.host.bindings.reload(&state.store).await.expect("reload");
    });
}
