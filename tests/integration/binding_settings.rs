//! Per-binding settings (extension@0.3.0) on the bundled volume-discount example: one
//! installed component, bound for two resellers with different tiers, prices their customers
//! differently; bad settings are refused at bind time naming the setting; a rollback restores
//! the settings a binding had.

use crate::support::*;
use axum::http::StatusCode;
use pchost_server::app::router;
use pchost_store::demo;
use serde_json::{Value, json};

/// The bundled volume discount's own manifest, installed once under distributor 1 as
/// `distributor-volume@1.0.0`: the same component and the same settings it declares.
fn install_distributor_volume(state: &pchost_server::state::AppState) {
    let manifest =
        std::fs::read_to_string(pchost_test_plugins::repo_root().join("plugins/volume-discount/plugin.toml"))
            .expect("plugin.toml")
            .replace("name = \"volume-discount\"", "name = \"distributor-volume\"")
            .replace("version = \"0.2.0\"", "version = \"1.0.0\"")
            .replace("owner = 10", &format!("owner = {}", demo::DISTRIBUTOR));
    let manifest = pchost_runtime::PluginManifest::from_toml(&manifest).expect("manifest");
    assert_eq!(manifest.settings.len(), 7, "the example declares its tiers and kind");
    tokio().block_on(async {
        pchost_extensions::install::install(
            &state.store,
            &state.host.runtime,
            manifest,
            &pchost_test_plugins::read(pchost_test_plugins::VOLUME_DISCOUNT),
            &state.host.plugin_quota,
        )
        .await
        .expect("install");
    });
}

/// The operator binds distributor 1's volume discount into `reseller`'s scope, first in its
/// chain, with `settings`.
fn bind(app: &axum::Router, reseller: i64, settings: Value) -> (StatusCode, Value) {
    call(
        app,
        "POST",
        "/v1/bindings",
        Some(keys::OPERATOR),
        Some(json!({
            "world": "pricing-rule", "owner": demo::DISTRIBUTOR, "plugin": "distributor-volume",
            "version": "1.0.0", "scope": "partner", "scope_id": reseller, "position": -10,
            "settings": settings
        })),
    )
}

/// A new purchase of 5 units of product 2001 (list 88.50) for one month, by `customer`:
/// the unit price and the steps that set it.
fn five_units(app: &axum::Router, customer: i64) -> (Value, Vec<(String, String, String)>) {
    let (status, quote) = call(
        app,
        "POST",
        "/v1/quotes",
        Some(keys::OPERATOR),
        Some(json!({
            "customer_id": customer, "currency": "CNY",
            "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 5 }]
        })),
    );
    assert_eq!(status, StatusCode::CREATED, "{quote}");
    let line = &quote["lines"][0];
    let steps = line["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .map(|a| {
            let text = |field: &str| a[field].as_str().unwrap_or_default().to_owned();
            (text("plugin"), text("to"), text("kind"))
        })
        .collect();
    (line["unit_price"].clone(), steps)
}

fn step(plugin: &str, to: &str, kind: &str) -> (String, String, String) {
    (plugin.to_owned(), to.to_owned(), kind.to_owned())
}

#[test]
fn one_volume_discount_bound_for_two_resellers_with_its_own_settings_prices_their_customers_differently() {
    let state = api_state();
    install_distributor_volume(&state);
    let app = router(state.clone());
    let bindings_before = tokio().block_on(state.store.bindings()).expect("bindings").len();

    // Refused at bind time, each naming the setting at fault; nothing is bound.
    for (settings, field, why) in [
        (
            json!({ "tier-1-percent": "150" }),
            "settings.tier-1-percent",
            "above the greatest value",
        ),
        (json!({ "tier-2-units": "50" }), "settings.tier-2-units", "integer"),
        (
            json!({ "tier-1-units": 0 }),
            "settings.tier-1-units",
            "below the least value",
        ),
        (json!({ "kind": "coupon" }), "settings.kind", "one of seller-discount"),
        (
            json!({ "tier-4-units": 500 }),
            "settings.tier-4-units",
            "not a setting of the plugin",
        ),
    ] {
        let (status, body) = bind(&app, demo::RESELLER, settings);
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-field"), Some(field)),
            "{body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(why)),
            "{why}: {body}"
        );
    }
    let bindings = tokio().block_on(state.store.bindings()).expect("bindings");
    assert_eq!(bindings.len(), bindings_before, "nothing was bound");

    // Reseller 2's customers: 3% from 5 units. Reseller 3's: 7% from 5 units. Both are
    // partner-granted discounts; the tiers left out keep their defaults.
    let (status, for_2) = bind(
        &app,
        demo::RESELLER,
        json!({ "tier-1-units": 5, "tier-1-percent": "3", "kind": "partner-granted" }),
    );
    assert_eq!(status, StatusCode::CREATED, "{for_2}");
    let (status, for_3) = bind(
        &app,
        demo::OTHER_RESELLER,
        json!({ "tier-1-units": 5, "tier-1-percent": "7", "kind": "partner-granted" }),
    );
    assert_eq!(status, StatusCode::CREATED, "{for_3}");
    assert_eq!(
        (&for_2["plugin_name"], &for_2["version"]),
        (&for_3["plugin_name"], &for_3["version"]),
        "one component, bound twice"
    );

    // Customer 102 (reseller 2): the seller's volume discount has no tier for 5 units; 88.50
    // less 3% = 85.845; then reseller 2's markup, 8%: 92.7126.
    let (price, steps) = five_units(&app, demo::STANDARD_CUSTOMER);
    assert_eq!(price, "92.712600");
    assert_eq!(
        steps,
        [
            step("distributor-volume@1.0.0", "85.845000", "partner-granted"),
            step("reseller-markup@0.2.0", "92.712600", "markup"),
        ]
    );
    // Customer 104 (reseller 3, no markup): 88.50 less 7% = 82.305.
    let (price, steps) = five_units(&app, demo::OTHER_RESELLERS_CUSTOMER);
    assert_eq!(price, "82.305000");
    assert_eq!(
        steps,
        [step("distributor-volume@1.0.0", "82.305000", "partner-granted")]
    );

    // Reseller 2's binding is reconfigured to 4%, then rolled back to its 3%.
    let id = for_2["id"].as_i64().expect("id");
    let (status, changed) = call(
        &app,
        "PATCH",
        &format!("/v1/bindings/{id}"),
        Some(keys::OPERATOR),
        Some(json!({ "settings": { "tier-1-units": 5, "tier-1-percent": "4", "kind": "partner-granted" } })),
    );
    assert_eq!(status, StatusCode::OK, "{changed}");
    // 88.50 less 4% = 84.96; plus 8% = 91.7568.
    assert_eq!(five_units(&app, demo::STANDARD_CUSTOMER).0, "91.756800");
    assert_eq!(
        five_units(&app, demo::OTHER_RESELLERS_CUSTOMER).0,
        "82.305000",
        "reseller 3's binding is its own"
    );
    let (status, back) = call(
        &app,
        "POST",
        &format!("/v1/bindings/{id}/rollback"),
        Some(keys::OPERATOR),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["settings"], for_2["settings"]);
    assert_eq!(five_units(&app, demo::STANDARD_CUSTOMER).0, "92.712600");
}
