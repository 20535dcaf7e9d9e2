//! The HTTP API over the real router, with the demo data and the bundled plugins installed,
//! as `serve --demo` runs it.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use pchost_runtime::{PluginRuntime, StoreData};
use pchost_server::app::{AppState, router};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

fn app() -> axum::Router {
    app_with_store().0
}

/// The app and its store, to look at what the requests wrote.
fn app_with_store() -> (axum::Router, pchost_domain::store::Store, Arc<PluginRuntime>) {
    let store = demo_store();
    let runtime = Arc::new(runtime());
    let installed = tokio()
        .block_on(pchost_server::bundle::install_bundled(
            &store,
            &runtime,
            &pchost_test_plugins::repo_root().join("plugins"),
            std::path::Path::new(pchost_test_plugins::WASM_DIR),
        ))
        .expect("bundled plugins install");
    assert_eq!(
        installed,
        [
            "payment-on-behalf@0.1.0",
            "refund-approval@0.1.0",
            "reseller-markup@0.1.0",
            "volume-discount@0.1.0"
        ]
    );
    let data = Arc::new(StoreData::new(store.clone(), tokio().handle().clone()));
    let app = router(AppState {
        store: store.clone(),
        runtime: runtime.clone(),
        data,
    });
    (app, store, runtime)
}

fn post(app: &axum::Router, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    tokio().block_on(async {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(body.into())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    })
}

#[test]
fn a_quote_runs_the_sellers_rule_then_the_resellers_and_lists_each_reason() {
    let app = app();
    let (status, body) = post(
        &app,
        "/v1/quotes",
        json!({
            "customer_id": 102,
            "currency": "CNY",
            "lines": [
                { "product_id": 2001, "period": "month", "period_count": 12, "quantity": 60 },
                { "product_id": 1001, "period": "month", "period_count": 1, "quantity": 2 }
            ]
        })
        .to_string(),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    // Line 0: seller tier (60 units: 10% off 88.50 = 79.650), then reseller markup 8% = 86.02200.
    let line = &body["lines"][0];
    assert_eq!(line["list_unit_price"], "88.500000");
    assert_eq!(line["unit_price"], "86.022000");
    assert_eq!(line["amount"], "61935.84"); // 86.022 × 60 × 12 = 61935.84
    assert_eq!(line["adjustments"][0]["plugin"], "volume-discount@0.1.0");
    assert_eq!(line["adjustments"][0]["reason"], "volume tier 50+ units: 10% off");
    assert_eq!(line["adjustments"][1]["plugin"], "reseller-markup@0.1.0");
    assert_eq!(line["adjustments"][1]["reason"], "reseller markup: 8%");
    // Line 1 is the platform's own product: only the reseller's rule applies (200 + 8%).
    let line = &body["lines"][1];
    assert_eq!(line["unit_price"], "216.000000");
    assert_eq!(line["adjustments"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["total"], "62367.84");
    assert_eq!(body["chain"][0]["lines"], 1, "the seller saw only its own line");
    assert_eq!(body["chain"][1]["lines"], 2);
}

#[test]
fn approval_checks_escalate_a_60000_refund_and_approve_a_1000_one() {
    let app = app();
    let check = |amount: &str| {
        post(
            &app,
            "/v1/approvals/check",
            json!({
                "kind": "refund",
                "partner_id": 2,
                "customer_id": 101,
                "order_id": 9001,
                "amount": amount,
                "currency": "CNY",
                "actor": { "role": "salesperson", "id": 501, "partner": 2 }
            })
            .to_string(),
        )
    };
    let (status, body) = check("60000.00");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["decision"],
        json!({
            "decision": "escalate",
            "role": "customer-manager",
            "reason": "refund of 60000.00 CNY is above 50000: a customer manager must approve it (rule 10)"
        })
    );
    let (status, body) = check("1000.00");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], json!({ "decision": "approve" }));
    assert_eq!(
        body["rules"].as_array().map(Vec::len),
        Some(2),
        "both of the reseller's approval rules ran"
    );
}

#[test]
fn bad_requests_get_a_precise_4xx() {
    let app = app();
    let (status, body) = post(&app, "/v1/quotes", "{not json");
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-json"))
    );

    let (status, body) = post(
        &app,
        "/v1/quotes",
        json!({ "customer_id": 102, "currency": "CNY", "lines": [], "colour": 1 }).to_string(),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-json"))
    );
    assert!(body["message"].as_str().is_some_and(|m| m.contains("colour")), "{body}");

    let (status, body) = post(
        &app,
        "/v1/approvals/check",
        json!({
            "kind": "refund", "partner_id": 2, "amount": 60000.5, "currency": "CNY", "actor": { "role": "salesperson" }
        })
        .to_string(),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-json")),
        "a JSON number is not money"
    );

    let (status, body) = post(
        &app,
        "/v1/approvals/check",
        json!({
            "kind": "refund", "partner_id": 2, "amount": "-5", "currency": "CNY", "actor": { "role": "salesperson" }
        })
        .to_string(),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("amount"))
    );

    let (status, body) = post(&app, "/v1/quotes", json!({
        "customer_id": 999, "currency": "CNY", "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }]
    }).to_string());
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("customer-not-found"))
    );

    let (status, body) = post(&app, "/v1/quotes", json!({
        "customer_id": 102, "currency": "CNY", "lines": [{ "product_id": 2001, "period": "month", "period_count": 0, "quantity": 1 }]
    }).to_string());
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("lines[0].period_count"))
    );

    let (status, body) = post(&app, "/v1/quotes", json!({
        "customer_id": 102, "currency": "USD", "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }]
    }).to_string());
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("currency-mismatch"))
    );

    let huge = format!(
        "{{\"customer_id\": 102, \"currency\": \"CNY\", \"lines\": [], \"pad\": \"{}\"}}",
        "x".repeat(300 << 10)
    );
    let (status, body) = post(&app, "/v1/quotes", huge);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload-too-large"))
    );
}

fn quote_body() -> String {
    json!({
        "customer_id": 102,
        "currency": "CNY",
        "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 60 }]
    })
    .to_string()
}

#[test]
fn every_invocation_is_audited_and_a_failing_rule_refuses_the_quote_naming_the_plugin() {
    let (app, store, runtime) = app_with_store();
    let (status, _) = post(&app, "/v1/quotes", quote_body());
    assert_eq!(status, StatusCode::OK);
    let audit = |owner| {
        let filter = pchost_domain::audit::AuditFilter {
            owner: Some(owner),
            digest: None,
        };
        tokio().block_on(store.invocations(&filter, 10)).expect("audit")
    };
    let seller = audit(pchost_domain::demo::SELLER);
    assert_eq!(seller.len(), 1);
    assert_eq!(
        (seller[0].plugin.as_str(), seller[0].world.as_str()),
        ("volume-discount@0.1.0", "pricing-rule")
    );
    assert!(seller[0].failure.is_none() && seller[0].fuel_used.is_some_and(|f| f > 0));
    let input: Value = serde_json::from_str(&seller[0].input).expect("input is JSON");
    assert_eq!(
        input["lines"].as_array().map(Vec::len),
        Some(1),
        "the input as the plugin saw it"
    );
    assert_eq!(audit(pchost_domain::demo::RESELLER).len(), 1);

    // The reseller adds a rule that panics: the quote is refused, naming it, and audited.
    let panicking = pchost_test_plugins::read(pchost_test_plugins::HOSTILE_PANICKING);
    runtime
        .install(
            manifest("panicking", "pricing-rule", pchost_domain::demo::RESELLER, &[]),
            &panicking,
        )
        .expect("install");
    let (status, body) = post(&app, "/v1/quotes", quote_body());
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("plugin-failed"))
    );
    assert_eq!(body["plugin"]["plugin"], "panicking@0.1.0");
    assert_eq!(body["plugin"]["kind"]["kind"], "trap");
    let reseller = audit(pchost_domain::demo::RESELLER);
    let failed: Vec<_> = reseller.iter().filter(|r| r.failure.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].plugin, "panicking@0.1.0");
    assert!(
        failed[0]
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("no tier table for currency CNY"))
    );
}

#[test]
fn a_partner_rule_pricing_below_080_of_list_is_refused_rule_19() {
    // Reseller 2 runs two rules (rules of one owner run by label): reseller-markup floors a
    // key account at 0.80 of list, then a 15% volume discount takes it below: rule 19.
    let store = demo_store();
    let runtime = Arc::new(runtime());
    let reseller = pchost_domain::demo::RESELLER;
    let markup = pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP);
    runtime
        .install(manifest("reseller-markup", "pricing-rule", reseller, &[]), &markup)
        .expect("install");
    let volume = pchost_test_plugins::read(pchost_test_plugins::VOLUME_DISCOUNT);
    runtime
        .install(manifest("volume-discount", "pricing-rule", reseller, &[]), &volume)
        .expect("install");
    let data = Arc::new(StoreData::new(store.clone(), tokio().handle().clone()));
    let app = router(AppState { store, runtime, data });
    let body = json!({
        "customer_id": 101,
        "currency": "CNY",
        "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 100 }]
    });
    let (status, body) = post(&app, "/v1/quotes", body.to_string());
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("plugin-failed")),
        "{body}"
    );
    assert_eq!(body["plugin"]["plugin"], "volume-discount@0.1.0");
    assert_eq!(
        body["plugin"]["kind"],
        json!({ "kind": "invalid-output", "detail": "line 0: 60.180000 is below 0.80 of list price 88.500000 (rule 19)" })
    );
}
