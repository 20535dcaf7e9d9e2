//! The HTTP API over the real router, with the demo data, the demo keys and the bundled
//! plugins installed and bound, as `serve --demo` runs it.

use crate::support::*;
use axum::http::StatusCode;
use chrono::Utc;
use pchost_server::app::router;
use pchost_server::ratelimit::{RateLimiter, UploadLimit};
use pchost_server::state::AppState;
use pchost_store::bindings::{BindingScope, FailurePolicy, NewBinding, PluginQuota};
use pchost_store::demo;
use serde_json::{Value, json};
use std::sync::Arc;

fn quote_body(customer: i64, lines: Value) -> Value {
    json!({ "customer_id": customer, "currency": "CNY", "lines": lines })
}

#[test]
fn a_quote_runs_the_sellers_binding_then_the_resellers_lists_each_reason_and_is_stored() {
    let state = api_state();
    let app = router(state.clone());
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        Some(keys::CUSTOMER_102),
        Some(quote_body(
            102,
            json!([
                { "product_id": 2001, "period": "month", "period_count": 11, "quantity": 60 },
                { "product_id": 1001, "period": "month", "period_count": 1, "quantity": 2 }
            ]),
        )),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Line 0: seller tier (60 units: 10% off 88.50 = 79.650), then reseller markup 8% = 86.02200.
    let line = &body["lines"][0];
    assert_eq!(line["list_unit_price"], "88.500000");
    assert_eq!(line["unit_price"], "86.022000");
    assert_eq!(line["amount"], "56774.52"); // 86.022 × 60 × 11 = 56774.52
    assert_eq!(line["adjustments"][0]["plugin"], "volume-discount@0.2.0");
    assert_eq!(line["adjustments"][0]["reason"], "volume tier 50+ units: 10% off");
    assert_eq!(line["adjustments"][1]["plugin"], "reseller-markup@0.2.0");
    assert_eq!(line["adjustments"][1]["reason"], "reseller markup: 8%");
    // Line 1 is the platform's own product: only the reseller's rule applies (200 + 8%).
    let line = &body["lines"][1];
    assert_eq!(line["unit_price"], "216.000000");
    assert_eq!(line["adjustments"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["total"], "57206.52");
    // The seller's renewal discount (nothing to renew) and volume discount saw only its line.
    let steps: Vec<(&str, &str, i64)> = body["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .map(|s| {
            (
                s["plugin"].as_str().unwrap_or_default(),
                s["scope"].as_str().unwrap_or_default(),
                s["lines"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("renewal-discount@0.1.0", "seller", 1),
            ("volume-discount@0.2.0", "seller", 1),
            ("reseller-markup@0.2.0", "partner", 2)
        ]
    );
    let id = body["quote_id"].as_i64().expect("a stored quote");
    let saved = tokio()
        .block_on(state.store.saved_quote(id))
        .expect("read")
        .expect("stored");
    assert_eq!((saved.customer, saved.total.to_string()), (102, "57206.52".to_owned()));
}

#[test]
fn approval_checks_escalate_a_60000_refund_and_approve_a_1000_one() {
    let app = router(api_state());
    let check = |amount: &str| {
        call(
            &app,
            "POST",
            "/v1/approvals/check",
            Some(keys::SALESPERSON),
            Some(json!({
                "kind": "refund",
                "customer_id": 102,
                "order_id": 9003,
                "amount": amount,
                "currency": "CNY"
            })),
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
        Some(3),
        "the reseller's three approval rules ran"
    );
    // A check names the action in full: extension@0.3.0 rules decide on the order too.
    let (status, body) = call(
        &app,
        "POST",
        "/v1/approvals/check",
        Some(keys::SALESPERSON),
        Some(json!({ "kind": "refund", "customer_id": 102, "amount": "10.00", "currency": "CNY" })),
    );
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-field"), Some("order_id")),
        "{body}"
    );
}

#[test]
fn bad_requests_get_a_precise_4xx_and_store_nothing() {
    let state = api_state();
    let app = router(state.clone());
    let key = Some(keys::RESELLER_ADMIN);
    let quotes_before = count(&state, "quotes");

    let (status, body) = call_raw(&app, "POST", "/v1/quotes", None, "{}", &[]);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing-api-key"))
    );
    let (status, body) = call_raw(&app, "POST", "/v1/quotes", Some("pch_not_a_key"), "{}", &[]);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid-api-key"))
    );

    let (status, body) = call_raw(&app, "POST", "/v1/quotes", key, "{not json", &[]);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-json"))
    );

    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        key,
        Some(json!({ "customer_id": 102, "currency": "CNY", "lines": [], "colour": 1 })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-json"))
    );
    assert!(body["message"].as_str().is_some_and(|m| m.contains("colour")), "{body}");

    let (status, body) = call(
        &app,
        "POST",
        "/v1/customers/102/allocations",
        key,
        Some(json!({ "currency": "CNY", "amount": 100.5 })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-json")),
        "a JSON number is not money: {body}"
    );
    for (amount, why) in [
        ("-5", "negative"),
        ("0", "zero"),
        ("1.005", "three places"),
        ("abc", "not a decimal"),
    ] {
        let (status, body) = call_raw(
            &app,
            "POST",
            "/v1/customers/102/allocations",
            key,
            json!({ "currency": "CNY", "amount": amount }).to_string(),
            &[("idempotency-key", "bad-amount")],
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert!(
            body["field"] == "amount" || body["code"] == "invalid-json",
            "{why}: {body}"
        );
    }

    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        key,
        Some(quote_body(
            999,
            json!([{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }]),
        )),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("customer-not-found"))
    );

    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        key,
        Some(quote_body(
            102,
            json!([{ "product_id": 2001, "period": "month", "period_count": 0, "quantity": 1 }]),
        )),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("lines[0].period_count"))
    );

    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        key,
        Some(json!({ "customer_id": 102, "currency": "USD",
            "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }] })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("currency-mismatch"))
    );

    let huge = format!(
        "{{\"customer_id\": 102, \"currency\": \"CNY\", \"lines\": [], \"pad\": \"{}\"}}",
        "x".repeat(300 << 10)
    );
    let (status, body) = call_raw(&app, "POST", "/v1/quotes", key, huge.clone(), &[]);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload-too-large"))
    );

    assert_eq!(count(&state, "quotes"), quotes_before, "no refused quote was stored");
    let ledger: i64 = scalar(&state, "SELECT COUNT(*) FROM ledger_entries");
    let fresh = api_state();
    assert_eq!(
        ledger,
        scalar(&fresh, "SELECT COUNT(*) FROM ledger_entries"),
        "no refused allocation moved money"
    );
}

#[test]
fn a_reclaim_of_an_amount_beyond_the_platforms_range_answers_422_instead_of_dropping_the_connection() {
    // Seen: this amount overflowed the conversion to cents, and the panic dropped the
    // connection. The largest amount the platform handles is 10^15.
    let state = api_state();
    let app = router(state.clone());
    let entries_before = count(&state, "ledger_entries");
    let reclaim = |amount: &str| {
        call_raw(
            &app,
            "POST",
            "/v1/customers/101/reclaims",
            Some(keys::RESELLER_ADMIN),
            json!({ "currency": "CNY", "amount": amount }).to_string(),
            &[("idempotency-key", "huge-reclaim")],
        )
    };
    for amount in [
        "7922816251426433759354395033",
        "79228162514264337593543950335",
        "1000000000000000.01",
    ] {
        let (status, body) = reclaim(amount);
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("amount-out-of-range"),
                Some("amount")
            ),
            "{amount}: {body}"
        );
    }
    // Text a decimal cannot hold exactly is refused while parsing, naming the field: one
    // digit more than it holds, or places it would round away (once taken as 1.00).
    for amount in [
        "792281625142643375935439503350",
        "1.000000000000000000000000000001",
        "1e2",
    ] {
        let (status, body) = reclaim(amount);
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-json")),
            "{amount}: {body}"
        );
        assert!(body["message"].as_str().is_some_and(|m| m.contains("amount")), "{body}");
    }
    assert_eq!(count(&state, "ledger_entries"), entries_before, "nothing moved");

    // Within the range, the reclaim is refused for what it is: more than the balance.
    let (status, body) = reclaim("1000000000000000.00");
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient-balance")),
        "{body}"
    );
}

#[test]
fn every_invocation_is_audited_and_a_failing_rule_refuses_the_quote_naming_the_plugin() {
    let state = api_state();
    let app = router(state.clone());
    let body = quote_body(
        102,
        json!([{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 60 }]),
    );
    let (status, _) = call(&app, "POST", "/v1/quotes", Some(keys::CUSTOMER_102), Some(body.clone()));
    assert_eq!(status, StatusCode::CREATED);

    let (status, seller) = call(&app, "GET", "/v1/invocations", Some(keys::SELLER_ADMIN), None);
    assert_eq!(status, StatusCode::OK, "{seller}");
    // The seller's two rules (renewal and volume discounts) ran over its line.
    let mut plugins: Vec<&str> = seller
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["plugin"].as_str())
        .collect();
    plugins.sort_unstable();
    assert_eq!(
        plugins,
        ["renewal-discount@0.1.0", "volume-discount@0.2.0"],
        "the seller sees its own plugins' invocations only"
    );
    let volume = seller
        .as_array()
        .and_then(|records| records.iter().find(|r| r["plugin"] == "volume-discount@0.2.0"))
        .expect("the volume discount's invocation");
    assert_eq!(volume["world"], "partner-center:extension/pricing-rule@0.3.0");
    assert!(volume["failure"].is_null() && volume["fuel_used"].as_i64().is_some_and(|f| f > 0));
    let input: Value = serde_json::from_str(volume["input"].as_str().expect("input")).expect("input is JSON");
    assert_eq!(
        input["lines"].as_array().map(Vec::len),
        Some(1),
        "the input as the plugin saw it"
    );
    let (_, reseller) = call(&app, "GET", "/v1/invocations", Some(keys::RESELLER_ADMIN), None);
    assert_eq!(reseller.as_array().map(Vec::len), Some(1));
    let (_, all) = call(&app, "GET", "/v1/invocations", Some(keys::OPERATOR), None);
    assert_eq!(all.as_array().map(Vec::len), Some(3), "the operator sees every owner's");

    // The reseller adds a rule that panics: the quote is refused, naming it, and audited.
    let panicking = pchost_test_plugins::read(pchost_test_plugins::HOSTILE_PANICKING);
    tokio().block_on(async {
        pchost_extensions::install::install(
            &state.store,
            &state.host.runtime,
            manifest("panicking", "pricing-rule", demo::RESELLER, &[]),
            &panicking,
            &state.host.plugin_quota,
        )
        .await
        .expect("install");
        state
            .store
            .create_binding(
                &partner_binding("panicking", 5, FailurePolicy::FailClosed),
                "test",
                Utc::now(),
            )
            .await
            .expect("bind");
        state.host.bindings.reload(&state.store).await.expect("reload");
    });
    let (status, refused) = call(&app, "POST", "/v1/quotes", Some(keys::CUSTOMER_102), Some(body));
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("plugin-failed"))
    );
    assert_eq!(refused["plugin"]["plugin"], "panicking@0.1.0");
    assert_eq!(refused["plugin"]["kind"]["kind"], "trap");
    let (_, failed) = call(
        &app,
        "GET",
        "/v1/invocations?failed=true",
        Some(keys::RESELLER_ADMIN),
        None,
    );
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
    assert_eq!(failed[0]["plugin"], "panicking@0.1.0");
    assert!(
        failed[0]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("no tier table for currency CNY"))
    );
}

#[test]
fn a_partner_rule_pricing_below_080_of_list_is_refused_rule_19() {
    // Reseller 2 binds a 15% volume discount after its markup, which floors a key account at
    // 0.80 of list: the discount takes it below, which rule 19 forbids.
    let state = api_state();
    let volume = pchost_test_plugins::read(pchost_test_plugins::VOLUME_DISCOUNT);
    tokio().block_on(async {
        pchost_extensions::install::install(
            &state.store,
            &state.host.runtime,
            manifest("volume-discount", "pricing-rule@0.3.0", demo::RESELLER, &[]),
            &volume,
            &state.host.plugin_quota,
        )
        .await
        .expect("install");
        state
            .store
            .create_binding(
                &partner_binding("volume-discount", 10, FailurePolicy::FailClosed),
                "test",
                Utc::now(),
            )
            .await
            .expect("bind");
        state.host.bindings.reload(&state.store).await.expect("reload");
    });
    let app = router(state);
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        Some(keys::CUSTOMER_101),
        Some(quote_body(
            101,
            json!([{ "product_id": 1001, "period": "month", "period_count": 1, "quantity": 100 }]),
        )),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("plugin-failed")),
        "{body}"
    );
    assert_eq!(body["plugin"]["plugin"], "volume-discount@0.1.0");
    assert_eq!(
        body["plugin"]["kind"],
        json!({ "kind": "invalid-output", "detail": "line 0: 136.000000 is below 0.80 of list price 200.000000 (rule 19)" })
    );
}

#[test]
fn the_openapi_document_lists_every_route_with_its_security() {
    let app = router(api_state());
    let (status, doc) = call(&app, "GET", "/openapi.json", None, None);
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/quotes",
        "/v1/orders/{id}/payments",
        "/v1/plugins",
        "/v1/bindings/{id}/rollback",
        "/v1/invocations",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert!(paths.len() >= 40, "{} paths", paths.len());
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");
}

#[test]
fn a_principal_over_its_rate_limit_gets_429_with_retry_after() {
    let state = api_state();
    let limited = AppState {
        limiter: std::sync::Arc::new(pchost_server::ratelimit::RateLimiter::new(
            pchost_server::ratelimit::RateLimit {
                per_second: 1,
                burst: 2,
            },
        )),
        ..state
    };
    let app = router(limited);
    for _ in 0..2 {
        assert_eq!(
            call(&app, "GET", "/v1/me", Some(keys::CUSTOMER_102), None).0,
            StatusCode::OK
        );
    }
    let (status, body) = call(&app, "GET", "/v1/me", Some(keys::CUSTOMER_102), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate-limited"))
    );
    assert_eq!(
        call(&app, "GET", "/v1/me", Some(keys::CUSTOMER_101), None).0,
        StatusCode::OK,
        "other keys are unaffected"
    );
    // Guessing keys is limited per client address like any other request.
    let guesses: Vec<_> = (0..3)
        .map(|_| call(&app, "GET", "/v1/me", Some("pch_guess"), None).1["code"].clone())
        .collect();
    assert_eq!(
        guesses,
        [
            json!("invalid-api-key"),
            json!("invalid-api-key"),
            json!("rate-limited")
        ]
    );
}

fn partner_binding(plugin: &str, position: i32, failure_policy: FailurePolicy) -> NewBinding {
    NewBinding {
        world: "pricing-rule".into(),
        scope: BindingScope::Partner,
        scope_id: Some(demo::RESELLER),
        plugin_owner: demo::RESELLER,
        plugin_name: plugin.into(),
        version: "0.1.0".into(),
        position,
        failure_policy,
        enabled: true,
        settings: Default::default(),
    }
}

fn count(state: &AppState, table: &str) -> i64 {
    scalar(state, &format!("SELECT COUNT(*) FROM {table}"))
}

fn scalar(state: &AppState, sql: &str) -> i64 {
    tokio()
        .block_on(sqlx::query_scalar::<_, i64>(sql).fetch_one(state.store.pool()))
        .expect("count")
}

/// A `multipart/form-data` upload body with a manifest and a component.
fn upload_body(manifest: &str, component: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{manifest}\r\n").as_bytes(),
    );
    body.extend(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"component\"; filename=\"c.wasm\"\r\n\r\n")
            .as_bytes(),
    );
    body.extend(component);
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

const BOUNDARY: &str = "pchost-test-boundary";

fn upload(app: &axum::Router, key: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let (status, _, answer) = upload_retry_after(app, key, body);
    (status, answer)
}

/// An upload's status, `Retry-After` header and answer.
fn upload_retry_after(app: &axum::Router, key: &str, body: Vec<u8>) -> (StatusCode, Option<String>, Value) {
    use tower::ServiceExt;
    tokio().block_on(async {
        let request = axum::http::Request::post("/v1/plugins")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(axum::body::Body::from(body))
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (
            status,
            retry_after,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    })
}

/// `world` may name the extension package's version as WIT does (`pricing-rule@0.2.0`).
fn plugin_manifest(name: &str, world: &str, owner: i64, extra: &str) -> String {
    let (world, version) = world.split_once('@').unwrap_or((world, "0.1.0"));
    format!(
        "name = \"{name}\"\nversion = \"2.0.0\"\nworld = \"{world}\"\nworld-version = \"{version}\"\nowner = {owner}\ngrants = []\n{extra}"
    )
}

#[test]
fn bad_uploads_get_a_precise_4xx_and_nothing_is_stored() {
    let state = api_state();
    let app = router(state.clone());
    let key = keys::RESELLER_ADMIN;
    let versions_before = count(&state, "plugin_versions");
    let markup = pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP);
    let pricing = |name: &str| plugin_manifest(name, "pricing-rule@0.3.0", demo::RESELLER, "");

    let cases: Vec<(Vec<u8>, StatusCode, &str, &str)> = vec![
        (
            upload_body(&pricing("junk"), b"not wasm at all"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-component",
            "magic bytes",
        ),
        (
            upload_body(&pricing("core"), b"\0asm\x01\0\0\0"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-component",
            "core WebAssembly module",
        ),
        (
            upload_body(
                &pricing("huge"),
                &vec![0u8; pchost_runtime::DEFAULT_MAX_COMPONENT_BYTES + 1],
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "larger than",
        ),
        (
            upload_body(
                &plugin_manifest("payer", "approval-rule", demo::RESELLER, ""),
                &pchost_test_plugins::read(pchost_test_plugins::PAYMENT_ON_BEHALF),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing-grant",
            "order",
        ),
        (
            upload_body(
                &plugin_manifest(
                    "greedy",
                    "pricing-rule@0.3.0",
                    demo::RESELLER,
                    "[limits]\nmemory-mib = 4096\n",
                ),
                &markup,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit-above-ceiling",
            "memory-mib",
        ),
        (
            upload_body(&plugin_manifest("wrong", "approval-rule", demo::RESELLER, ""), &markup),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong-world",
            "approval-rule",
        ),
        (
            // The markup is built against extension@0.2.0; its manifest claims 0.1.0.
            upload_body(
                &plugin_manifest("old-contract", "pricing-rule", demo::RESELLER, ""),
                &markup,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong-world",
            "pricing-rule@0.1.0",
        ),
        (
            upload_body("name = [", &markup),
            StatusCode::BAD_REQUEST,
            "invalid-field",
            "manifest",
        ),
        (
            upload_body(
                &plugin_manifest("theirs", "pricing-rule@0.3.0", demo::OTHER_RESELLER, ""),
                &markup,
            ),
            StatusCode::FORBIDDEN,
            "not-owner",
            "owner 3",
        ),
        (
            upload_body(
                &plugin_manifest("reseller-markup", "pricing-rule@0.3.0", demo::RESELLER, "").replace("2.0.0", "0.2.0"),
                &pchost_test_plugins::read(pchost_test_plugins::VOLUME_DISCOUNT),
            ),
            StatusCode::CONFLICT,
            "version-exists",
            "immutable",
        ),
        (
            b"--pchost-test-boundary--\r\n".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-field",
            "manifest",
        ),
    ];
    for (body, status, code, mention) in cases {
        let (got, answer) = upload(&app, key, body);
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| m.contains(mention)),
            "{code}: {answer}"
        );
    }
    assert_eq!(
        count(&state, "plugin_versions"),
        versions_before,
        "no refused upload was recorded"
    );
    for name in ["junk", "core", "huge", "payer", "greedy", "wrong", "theirs"] {
        let id = format!("{}/{name}@2.0.0", demo::RESELLER);
        assert!(
            state.host.runtime.plugin(&id).is_none(),
            "{id} was refused, so it is not loaded"
        );
    }

    let (status, body) = upload(&app, key, upload_body(&pricing("markup-two"), &markup));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["id"], "2/markup-two@2.0.0");
    assert_eq!(count(&state, "plugin_versions"), versions_before + 1);
}

#[test]
fn uploads_past_the_servers_in_flight_cap_get_503_with_retry_after_before_their_body_is_read() {
    let state = api_state();
    let app = router(state.clone());
    let markup = pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP);
    let body = |name: &str| {
        upload_body(
            &plugin_manifest(name, "pricing-rule@0.3.0", demo::RESELLER, ""),
            &markup,
        )
    };
    // Every slot held, as by uploads still being received.
    let held = tokio()
        .block_on(
            state
                .uploads_in_flight
                .clone()
                .acquire_many_owned(pchost_server::state::MAX_UPLOADS_IN_FLIGHT as u32),
        )
        .expect("slots");
    let versions_before = count(&state, "plugin_versions");
    let (status, retry_after, refused) = upload_retry_after(&app, keys::RESELLER_ADMIN, body("in-flight-one"));
    assert_eq!(
        (status, refused["code"].as_str(), retry_after.as_deref()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("uploads-busy"), Some("5")),
        "{refused}"
    );
    assert_eq!(count(&state, "plugin_versions"), versions_before, "nothing installed");
    // A slot freed, the next upload goes in (and gives its slot back when done).
    drop(held);
    let (status, installed) = upload(&app, keys::RESELLER_ADMIN, body("in-flight-two"));
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    assert_eq!(
        state.uploads_in_flight.available_permits(),
        pchost_server::state::MAX_UPLOADS_IN_FLIGHT
    );
}

#[test]
fn an_owners_uploads_past_its_budget_get_429_with_retry_after_and_other_owners_keep_theirs() {
    let state = api_state();
    let app = router(AppState {
        uploads: Arc::new(RateLimiter::for_uploads(UploadLimit {
            per_minute: 1,
            burst: 2,
        })),
        ..state.clone()
    });
    let versions_before = count(&state, "plugin_versions");
    let markup = pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP);
    let reseller = |name: &str| {
        upload_body(
            &plugin_manifest(name, "pricing-rule@0.3.0", demo::RESELLER, ""),
            &markup,
        )
    };
    for name in ["budget-one", "budget-two"] {
        let (status, body) = upload(&app, keys::RESELLER_ADMIN, reseller(name));
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, retry_after, body) = upload_retry_after(&app, keys::RESELLER_ADMIN, reseller("budget-three"));
    assert_eq!(
        (status, body["code"].as_str(), retry_after.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("upload-rate-limited"), Some("60")),
        "{body}"
    );
    // The operator uploading for the reseller spends the reseller's budget.
    let (status, body) = upload(&app, keys::OPERATOR, reseller("budget-four"));
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("upload-rate-limited"))
    );
    // A caller refused as not the owner spends nobody's budget; the seller still has its own.
    let seller = |name: &str| {
        upload_body(
            &plugin_manifest(name, "pricing-rule@0.3.0", demo::SELLER, ""),
            &pchost_test_plugins::read(pchost_test_plugins::VOLUME_DISCOUNT),
        )
    };
    for _ in 0..3 {
        assert_eq!(
            upload(&app, keys::RESELLER_ADMIN, seller("budget-seller")).0,
            StatusCode::FORBIDDEN
        );
    }
    let (status, body) = upload(&app, keys::SELLER_ADMIN, seller("budget-seller"));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(count(&state, "plugin_versions"), versions_before + 3);
    for refused in ["budget-three", "budget-four"] {
        assert!(
            state.host.runtime.plugin(&format!("2/{refused}@2.0.0")).is_none(),
            "{refused} not loaded"
        );
    }
}

#[test]
fn uploads_past_an_owners_quota_of_versions_or_bytes_get_409_and_store_nothing() {
    let state = api_state();
    let markup = pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP);
    let size = markup.len() as u64;
    let reseller = |name: &str| {
        upload_body(
            &plugin_manifest(name, "pricing-rule@0.3.0", demo::RESELLER, ""),
            &markup,
        )
    };
    let usage = || {
        tokio()
            .block_on(state.store.plugin_usage(demo::RESELLER))
            .expect("usage")
    };
    let with_quota = |quota: PluginQuota| {
        router(AppState {
            host: pchost_extensions::PluginHost {
                plugin_quota: quota,
                ..state.host.clone()
            },
            ..state.clone()
        })
    };

    // Room for one more version.
    let app = with_quota(PluginQuota {
        max_versions: usage().versions + 1,
        max_bytes: u64::MAX,
    });
    let (status, body) = upload(&app, keys::RESELLER_ADMIN, reseller("quota-one"));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = upload(&app, keys::RESELLER_ADMIN, reseller("quota-two"));
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("version-quota-exceeded")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("DELETE /v1/plugins")),
        "{body}"
    );
    let (status, body) = upload(&app, keys::RESELLER_ADMIN, reseller("quota-one"));
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the same version again needs no room: {body}"
    );

    // Room for versions, one byte short for the component.
    let app = with_quota(PluginQuota {
        max_versions: u64::MAX,
        max_bytes: usage().bytes + size - 1,
    });
    let versions_before = count(&state, "plugin_versions");
    let (status, body) = upload(&app, keys::RESELLER_ADMIN, reseller("quota-three"));
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("storage-quota-exceeded")),
        "{body}"
    );
    assert_eq!(count(&state, "plugin_versions"), versions_before, "nothing recorded");
    for refused in ["quota-two", "quota-three"] {
        assert!(
            state.host.runtime.plugin(&format!("2/{refused}@2.0.0")).is_none(),
            "{refused} not loaded"
        );
    }
    // Each version lists its size: what it counts against the quota.
    let (_, listed) = call(&app, "GET", "/v1/plugins", Some(keys::RESELLER_ADMIN), None);
    let quota_one = listed
        .as_array()
        .and_then(|all| all.iter().find(|v| v["name"] == "quota-one"))
        .expect("listed");
    assert_eq!(quota_one["size_bytes"], json!(size));
}

#[test]
fn a_version_is_read_with_its_manifest_by_whoever_may_list_its_owners_versions() {
    let state = api_state();
    let app = router(state.clone());
    let markup = pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP);
    let settings =
        "[settings.rate]\ntype = \"decimal\"\nmin = \"0\"\nmax = \"1\"\ndefault = \"0.08\"\ndoc = \"The markup.\"\n";
    let (status, body) = upload(
        &app,
        keys::RESELLER_ADMIN,
        upload_body(
            &plugin_manifest(
                "readable",
                "pricing-rule@0.3.0",
                demo::RESELLER,
                &format!("[limits]\nfuel = 5000000\n{settings}"),
            ),
            &markup,
        ),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = "/v1/plugins/2/readable/2.0.0";
    // The reseller's staff, salesperson included, read it: the version and its manifest.
    let (status, body) = call(&app, "GET", path, Some(keys::SALESPERSON), None);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["name"], &body["version"], &body["manifest"]["world-version"]),
        (&json!("readable"), &json!("2.0.0"), &json!("0.3.0")),
    );
    assert!(body["digest"].as_str().is_some_and(|d| d.len() == 64), "{body}");
    assert_eq!(body["manifest"]["limits"]["fuel"], 5_000_000, "{body}");
    assert_eq!(body["manifest"]["settings"]["rate"]["default"], "0.08", "{body}");
    // Another tenant learns nothing of it, not even whether it exists.
    for other in ["/v1/plugins/2/readable/2.0.0", "/v1/plugins/2/nothing/1.0.0"] {
        let (status, body) = call(&app, "GET", other, Some(keys::SELLER_ADMIN), None);
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("out-of-scope")),
            "{body}"
        );
    }
    let (status, body) = call(
        &app,
        "GET",
        "/v1/plugins/2/nothing/1.0.0",
        Some(keys::RESELLER_ADMIN),
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-found")),
        "{body}"
    );
}

#[test]
fn a_version_is_deleted_by_its_owner_or_the_operator_once_no_binding_names_it() {
    let state = api_state();
    let app = router(state.clone());
    let markup = pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP);
    let (status, body) = upload(
        &app,
        keys::RESELLER_ADMIN,
        upload_body(
            &plugin_manifest("deletable", "pricing-rule@0.3.0", demo::RESELLER, ""),
            &markup,
        ),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, binding) = call(
        &app,
        "POST",
        "/v1/bindings",
        Some(keys::RESELLER_ADMIN),
        Some(
            json!({ "world": "pricing-rule", "plugin": "deletable", "version": "2.0.0", "position": 5, "enabled": false }),
        ),
    );
    assert_eq!(status, StatusCode::CREATED, "{binding}");
    let path = "/v1/plugins/2/deletable/2.0.0";

    let (status, body) = call(&app, "DELETE", path, Some(keys::SELLER_ADMIN), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not-owner"))
    );
    let (status, body) = call(&app, "DELETE", path, Some(keys::RESELLER_ADMIN), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("version-in-use")),
        "{body}"
    );
    let named = format!("binding {} (active)", binding["id"]);
    assert!(body["message"].as_str().is_some_and(|m| m.contains(&named)), "{body}");
    assert!(
        state.host.runtime.plugin("2/deletable@2.0.0").is_some(),
        "a refusal unloads nothing"
    );

    let unbind = format!("/v1/bindings/{}", binding["id"]);
    assert_eq!(
        call(&app, "DELETE", &unbind, Some(keys::RESELLER_ADMIN), None).0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = call(&app, "DELETE", path, Some(keys::RESELLER_ADMIN), None);
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(state.host.runtime.plugin("2/deletable@2.0.0").is_none(), "unloaded");
    let (_, listed) = call(&app, "GET", "/v1/plugins", Some(keys::RESELLER_ADMIN), None);
    assert!(!listed.to_string().contains("deletable"), "{listed}");
    let (status, body) = call(&app, "DELETE", path, Some(keys::RESELLER_ADMIN), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-found"))
    );

    // The bundled markup is bound; the operator may delete any owner's unbound version.
    let (status, body) = call(
        &app,
        "DELETE",
        "/v1/plugins/2/reseller-markup/0.2.0",
        Some(keys::OPERATOR),
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("version-in-use"))
    );
    let (status, body) = upload(
        &app,
        keys::SELLER_ADMIN,
        upload_body(
            &plugin_manifest("deletable", "pricing-rule@0.3.0", demo::SELLER, ""),
            &pchost_test_plugins::read(pchost_test_plugins::VOLUME_DISCOUNT),
        ),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = call(
        &app,
        "DELETE",
        "/v1/plugins/10/deletable/2.0.0",
        Some(keys::OPERATOR),
        None,
    );
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(state.host.runtime.plugin("10/deletable@2.0.0").is_none());
}

#[test]
fn a_payment_on_a_customers_behalf_asks_the_approval_rules_and_records_both_principals_rule_21() {
    let state = api_state();
    let app = router(state.clone());
    let (status, paid) = call_raw(
        &app,
        "POST",
        "/v1/orders/9004/payments",
        Some(keys::RESELLER_ADMIN),
        "{}",
        &[("idempotency-key", "on-behalf-1")],
    );
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(
        (paid["payer"].as_str(), paid["amount"].as_str()),
        (Some("partner"), Some("900.00"))
    );
    let (_, accounts) = call(&app, "GET", "/v1/accounts", Some(keys::RESELLER_ADMIN), None);
    let cash = accounts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["kind"] == "cash"))
        .expect("the reseller's cash account");
    let (_, ledger) = call(
        &app,
        "GET",
        &format!("/v1/accounts/{}/ledger", cash["id"]),
        Some(keys::RESELLER_ADMIN),
        None,
    );
    let last = ledger.as_array().and_then(|l| l.last()).expect("an entry");
    assert_eq!(
        (last["amount"].as_str(), last["reason"].as_str(), last["order"].as_i64()),
        (Some("-900.00"), Some("payment"), Some(9004))
    );
    assert_eq!(last["actor"], "partner-admin:2/500");
    assert_eq!(last["on_behalf_of"], "customer:102");
    let (_, audit) = call(&app, "GET", "/v1/invocations", Some(keys::RESELLER_ADMIN), None);
    let asked: Vec<&str> = audit
        .as_array()
        .expect("audit")
        .iter()
        .filter(|r| r["input"].as_str().is_some_and(|i| i.contains("payment-on-behalf")))
        .filter_map(|r| r["plugin"].as_str())
        .collect();
    assert_eq!(
        asked,
        [
            "unsubscribe-approval@0.1.0",
            "refund-approval@0.2.0",
            "payment-on-behalf@0.1.0"
        ],
        "the reseller's three approval rules were asked"
    );
}

#[test]
fn a_binding_outside_what_its_extension_point_serves_is_refused() {
    let app = router(api_state());
    let (status, body) = call(
        &app,
        "POST",
        "/v1/bindings",
        Some(keys::SELLER_ADMIN),
        Some(json!({ "world": "approval-rule", "plugin": "volume-discount", "version": "0.2.0" })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("scope-not-applicable"))
    );
    let (status, body) = call(
        &app,
        "POST",
        "/v1/bindings",
        Some(keys::SELLER_ADMIN),
        Some(json!({ "world": "pricing-rule", "plugin": "volume-discount", "version": "0.2.0" })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("binding-exists")),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "POST",
        "/v1/bindings",
        Some(keys::SELLER_ADMIN),
        Some(json!({ "world": "pricing-rule", "plugin": "volume-discount", "version": "9.9.9", "position": 1 })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("plugin-version-not-found")),
        "{body}"
    );
}

#[test]
fn the_native_benchmark_baseline_prices_exactly_as_the_plugins_do() {
    let plugins = router(api_state());
    let plugins_state = api_state();
    let native = router(AppState {
        host: pchost_extensions::PluginHost {
            native_rules: true,
            ..plugins_state.host.clone()
        },
        ..plugins_state
    });
    for (key, customer) in [(keys::CUSTOMER_102, 102), (keys::CUSTOMER_101, 101)] {
        let body = quote_body(
            customer,
            json!([
                { "product_id": 2001, "period": "month", "period_count": 11, "quantity": 60 },
                { "product_id": 2001, "period": "month", "period_count": 1, "quantity": 5 },
                { "product_id": 1001, "period": "month", "period_count": 3, "quantity": 120 }
            ]),
        );
        let (_, a) = call(&plugins, "POST", "/v1/quotes", Some(key), Some(body.clone()));
        let (_, b) = call(&native, "POST", "/v1/quotes", Some(key), Some(body));
        let prices = |q: &Value| -> Vec<Value> {
            q["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .map(|l| l["unit_price"].clone())
                .collect()
        };
        assert_eq!(prices(&a), prices(&b), "customer {customer}");
        assert_eq!(a["total"], b["total"]);
        // Every bundled pricing rule ran as its native twin.
        let steps: Vec<&str> = b["chain"]
            .as_array()
            .expect("chain")
            .iter()
            .filter_map(|s| s["plugin"].as_str())
            .collect();
        assert_eq!(
            steps,
            [
                "renewal-discount@0.1.0 (native)",
                "volume-discount@0.2.0 (native)",
                "reseller-markup@0.2.0 (native)"
            ],
            "customer {customer}"
        );
    }
}

#[test]
fn a_revoked_key_is_refused_as_invalid_from_the_next_request_on() {
    let app = router(api_state());
    let (status, created) = call(
        &app,
        "POST",
        "/v1/api-keys",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "name": "integration", "staff_id": 500, "scopes": ["orders:read"] })),
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["api_key"].as_str().expect("the secret, shown once").to_owned();
    assert_eq!(call(&app, "GET", "/v1/me", Some(&secret), None).0, StatusCode::OK);
    let id = created["key"]["id"].as_i64().expect("id");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/v1/api-keys/{id}"),
        Some(keys::RESELLER_ADMIN),
        None,
    );
    assert!(status.is_success(), "{status}");
    let (status, body) = call(&app, "GET", "/v1/me", Some(&secret), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid-api-key"))
    );
}

#[test]
fn a_renewal_gets_the_sellers_renewal_discount_a_new_purchase_does_not_across_contract_versions() {
    let state = api_state();
    // Seller 10's bundled renewal discount (extension@0.3.0) runs beside its volume discount
    // (0.3.0); reseller 2 runs a 0.1.0 and a 0.2.0 rule that keep every price before its
    // markup (0.3.0).
    tokio().block_on(async {
        for (name, world, component, position) in [
            (
                "keep-prices",
                "pricing-rule@0.1.0",
                pchost_test_plugins::BENCH_ECHO_V1,
                -100,
            ),
            (
                "keep-prices-v2",
                "pricing-rule@0.2.0",
                pchost_test_plugins::BENCH_ECHO_V2,
                -50,
            ),
        ] {
            pchost_extensions::install::install(
                &state.store,
                &state.host.runtime,
                manifest(name, world, demo::RESELLER, &[]),
                &pchost_test_plugins::read(component),
                &state.host.plugin_quota,
            )
            .await
            .expect("install");
            let binding = partner_binding(name, position, FailurePolicy::FailClosed);
            state
                .store
                .create_binding(&binding, "test", Utc::now())
                .await
                .expect("bind");
        }
        state.host.bindings.reload(&state.store).await.expect("reload");
    });
    let app = router(state.clone());
    // Demo resource 1: customer 102's monthly subscription of product 2001 (list 88.50).
    let (status, renewal) = call(
        &app,
        "POST",
        "/v1/quotes/renewal",
        Some(keys::CUSTOMER_102),
        Some(json!({ "resource_id": 1, "period_count": 1 })),
    );
    assert_eq!(status, StatusCode::CREATED, "{renewal}");
    let line = &renewal["lines"][0];
    // renewal-discount (extension@0.3.0): 5% off 88.50 = 84.075, rounded to the cent 84.08,
    // declared a seller discount; volume-discount (0.3.0): 1 unit, no tier. keep-prices
    // (0.1.0) and keep-prices-v2 (0.2.0): 84.08 unchanged, no kind. reseller-markup (0.3.0):
    // 84.08 + 8% = 90.8064, declared a markup.
    assert_eq!(line["list_unit_price"], "88.500000");
    let steps: Vec<_> = line["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .map(|a| {
            (
                a["plugin"].as_str().unwrap_or_default().to_owned(),
                a["to"].as_str().unwrap_or_default().to_owned(),
                a["kind"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let step = |plugin: &str, to: &str, kind: Option<&str>| (plugin.to_owned(), to.to_owned(), kind.map(str::to_owned));
    assert_eq!(
        steps,
        vec![
            step("renewal-discount@0.1.0", "84.08", Some("seller-discount")),
            step("keep-prices@0.1.0", "84.08", None),
            step("keep-prices-v2@0.1.0", "84.08", None),
            step("reseller-markup@0.2.0", "90.8064", Some("markup")),
        ]
    );
    assert_eq!(line["unit_price"], "90.8064");
    assert_eq!(renewal["total"], "90.81");

    // The same product and term as a new purchase: no renewal discount.
    let (status, new) = call(
        &app,
        "POST",
        "/v1/quotes",
        Some(keys::CUSTOMER_102),
        Some(quote_body(
            102,
            json!([{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }]),
        )),
    );
    assert_eq!(status, StatusCode::CREATED, "{new}");
    assert_eq!(new["lines"][0]["unit_price"], "95.580000");
    let plugins: Vec<&str> = new["lines"][0]["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .filter_map(|a| a["plugin"].as_str())
        .collect();
    assert_eq!(
        plugins,
        ["keep-prices@0.1.0", "keep-prices-v2@0.1.0", "reseller-markup@0.2.0"],
        "no renewal discount"
    );
    assert_eq!(new["total"], "95.58");
}

/// A renewal quote of demo resource 1 (product 2001, list 88.50, customer 102): its unit
/// price.
fn renewal_price(app: &axum::Router) -> Value {
    let (status, quote) = call(
        app,
        "POST",
        "/v1/quotes/renewal",
        Some(keys::CUSTOMER_102),
        Some(json!({ "resource_id": 1, "period_count": 1 })),
    );
    assert_eq!(status, StatusCode::CREATED, "{quote}");
    quote["lines"][0]["unit_price"].clone()
}

#[test]
fn a_bindings_settings_are_checked_at_bind_time_reach_the_plugin_and_roll_back_with_it() {
    let state = api_state();
    let app = router(state.clone());
    // Seller 10's bundled renewal discount declares `rate`: a decimal of 0.01 to 0.5, 0.05 by
    // default.
    let bindings_before = count(&state, "plugin_bindings");
    // Refused at bind time, naming the setting.
    for (settings, why) in [
        (json!({ "rate": "0.9" }), "above the greatest value"),
        (json!({ "rate": 0.1 }), "a decimal is a string"),
        (json!({ "colour": "red" }), "not a setting of the plugin"),
    ] {
        let (status, body) = call(
            &app,
            "POST",
            "/v1/bindings",
            Some(keys::SELLER_ADMIN),
            Some(json!({
                "world": "pricing-rule", "plugin": "renewal-discount", "version": "0.1.0",
                "position": 2, "settings": settings
            })),
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            (body["code"].as_str(), body["field"].as_str()),
            (
                Some("invalid-field"),
                Some("settings.rate")
                    .filter(|_| why != "not a setting of the plugin")
                    .or(Some("settings.colour"))
            )
        );
        assert!(body["message"].as_str().is_some_and(|m| m.contains(why)), "{body}");
    }
    assert_eq!(count(&state, "plugin_bindings"), bindings_before, "nothing was bound");
    // By default: 88.50 - 5% = 84.075, to the cent 84.08; then reseller 2's markup, 8%:
    // 90.8064.
    assert_eq!(renewal_price(&app), "90.8064");

    let (_, bindings) = call(&app, "GET", "/v1/bindings", Some(keys::SELLER_ADMIN), None);
    let id = bindings
        .as_array()
        .and_then(|all| all.iter().find(|b| b["plugin_name"] == "renewal-discount"))
        .and_then(|b| b["id"].as_i64())
        .expect("the bundled renewal discount's binding");
    let patch = |body: Value| {
        call(
            &app,
            "PATCH",
            &format!("/v1/bindings/{id}"),
            Some(keys::SELLER_ADMIN),
            Some(body),
        )
    };
    let (status, body) = patch(json!({ "settings": { "rate": "0.00" } }));
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("settings.rate")),
        "{body}"
    );
    let (status, body) = patch(json!({ "settings": { "rate": "0.10" } }));
    assert_eq!(status, StatusCode::OK, "{body}");
    // 88.50 - 10% = 79.65, then reseller 2's markup: 79.65 x 1.08 = 86.0220.
    assert_eq!(renewal_price(&app), "86.0220");
    let (status, body) = patch(json!({ "settings": { "rate": "0.20" } }));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["previous_settings"], json!({ "rate": "0.10" }));
    // 88.50 - 20% = 70.80; x 1.08 = 76.4640.
    assert_eq!(renewal_price(&app), "76.4640");

    // The invocation audit records the settings the plugin was given.
    let (_, audit) = call(&app, "GET", "/v1/invocations", Some(keys::SELLER_ADMIN), None);
    let last = audit
        .as_array()
        .and_then(|records| records.iter().find(|r| r["plugin"] == "renewal-discount@0.1.0"))
        .expect("an invocation of the renewal discount");
    let input: Value = serde_json::from_str(last["input"].as_str().expect("input")).expect("JSON");
    assert_eq!(
        input["settings"],
        json!([{ "name": "rate", "value": { "decimal": "0.20" } }])
    );

    // A rollback restores the settings the binding had.
    let (status, body) = call(
        &app,
        "POST",
        &format!("/v1/bindings/{id}/rollback"),
        Some(keys::SELLER_ADMIN),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["settings"], json!({ "rate": "0.10" }));
    assert_eq!(renewal_price(&app), "86.0220");
}

#[test]
fn an_approval_check_of_a_kind_only_0_3_0_rules_decide_is_refused_naming_the_field() {
    let app = router(api_state());
    let (status, body) = call(
        &app,
        "POST",
        "/v1/approvals/check",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "kind": "freeze", "customer_id": 102, "currency": "CNY" })),
    );
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-field"), Some("kind")),
        "{body}"
    );
}

#[test]
fn a_spec_change_is_priced_through_the_chain_with_its_purpose_and_the_resource_it_changes() {
    let state = api_state();
    let app = router(state.clone());
    // Demo resource 1: customer 102's monthly product 2001 (list 88.50), changed to product
    // 2002 (list 299.99 a month).
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes/spec-change",
        Some(keys::CUSTOMER_102),
        Some(json!({ "resource_id": 1, "product_id": 2002 })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The seller's renewal discount leaves a spec change alone; its volume discount has no
    // tier for 1 unit; reseller 2's markup: 299.99 + 8% = 323.9892.
    let adjustments: Vec<(&str, &str)> = body["priced"]["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .map(|a| {
            (
                a["plugin"].as_str().unwrap_or_default(),
                a["to"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(adjustments, [("reseller-markup@0.2.0", "323.989200")]);
    assert_eq!(body["priced"]["unit_price"], "323.989200");
    // The new spec's price for the days left, less what is unused of the 1,500.00 demo order
    // 9003 paid for the resource's 30-day term (10 days used: about 1,000.00).
    let change = &body["change"];
    assert_eq!(
        (change["product"].as_i64(), change["unit_price"].as_str()),
        (Some(2002), Some("323.989200"))
    );
    let periods = dec(change["periods"].as_str().expect("periods"));
    assert!(periods > dec("0"), "the demo resource has term left");
    let cost =
        (dec("323.9892") * periods).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let amount = change["amount"].as_str().map(dec).expect("amount");
    let unused = cost - amount;
    assert!(unused > dec("999.90") && unused <= dec("1000.00"), "{change}");
    // That unused part is worth more than the new spec's time left: a credit, and an order
    // of nothing to pay, which confirms the change when paid.
    assert!(amount < dec("0"), "{change}");
    assert_eq!(
        (body["total"].as_str().map(dec), body["credit"].as_str().map(dec)),
        (Some(dec("0")), Some(-amount))
    );
    let (status, order) = order_quote(&app, &body["quote_id"], "change-1");
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(
        (
            order["order"]["kind"].as_str(),
            order["order"]["amount"].as_str().map(dec)
        ),
        (Some("change"), Some(dec("0")))
    );
    // The order shows the quote it came from, the change and the chain as they were priced.
    let order_id = order["order"]["id"].as_i64().expect("order id");
    let (status, detail) = call(
        &app,
        "GET",
        &format!("/v1/orders/{order_id}"),
        Some(keys::CUSTOMER_102),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(
        (
            &detail["quote"]["quote_id"],
            &detail["quote"]["change"]["amount"],
            &detail["quote"]["priced"]["unit_price"]
        ),
        (&body["quote_id"], &change["amount"], &json!("323.989200")),
        "{detail}"
    );

    // The rules were told what the quote is for and which resource it changes.
    let (_, audit) = call(&app, "GET", "/v1/invocations", Some(keys::RESELLER_ADMIN), None);
    let markup = audit
        .as_array()
        .and_then(|records| records.iter().find(|r| r["plugin"] == "reseller-markup@0.2.0"))
        .expect("the markup's invocation is audited");
    let input: Value = serde_json::from_str(markup["input"].as_str().expect("input")).expect("JSON");
    assert_eq!(input["purpose"], "spec-change");
    assert_eq!(
        (&input["resources"][0]["id"], &input["resources"][0]["spec_code"]),
        (&json!(1), &json!("datavault.backup.pro"))
    );
}

#[test]
fn a_child_resource_changes_spec_only_with_its_main_one() {
    let state = api_state();
    let app = router(state.clone());
    let main = demo_resource_1(&state);
    let child = tokio()
        .block_on(state.store.create_resource(
            main.customer,
            2001,
            pchost_domain::PeriodType::Month,
            pchost_store::resources::ExpiryPolicy::GracePeriod,
            Utc::now(),
            main.expires_at,
            Some(main.id),
            None,
        ))
        .expect("child");
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes/spec-change",
        Some(keys::CUSTOMER_102),
        Some(json!({ "resource_id": child, "product_id": 2002 })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not-a-main-resource")),
        "{body}"
    );
    // Nor to another kind of product: product 1001 is a cloud server, not a backup plan.
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes/spec-change",
        Some(keys::CUSTOMER_102),
        Some(json!({ "resource_id": 1, "product_id": 1001 })),
    );
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("spec-not-compatible"),
            Some("product_id")
        ),
        "{body}"
    );
}

#[test]
fn rule_7_coupons_are_checked_against_the_discount_kind_the_pricing_rules_declared() {
    let app = router(api_state());
    // Customer 101 is a key account: reseller 2's markup rule grants it 25% off, declared
    // `partner-granted` (extension@0.3.0).
    let quote = quote_1001(&app, keys::CUSTOMER_101, 101, 1);
    assert_eq!(
        quote["lines"][0]["adjustments"][0]["kind"], "partner-granted",
        "{quote}"
    );
    let (status, order) = call_raw(
        &app,
        "POST",
        "/v1/orders",
        Some(keys::CUSTOMER_101),
        json!({ "quote_id": quote["quote_id"] }).to_string(),
        &[("idempotency-key", "rule-7")],
    );
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order = order["order"]["id"].as_i64().expect("order id");
    let coupon = |combines_with: Value| {
        let (status, body) = call(
            &app,
            "POST",
            "/v1/coupons",
            Some(keys::RESELLER_ADMIN),
            Some(json!({ "quota_id": 2, "customer_id": 101, "face": "10.00",
                "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2036-01-01T00:00:00Z",
                "combines_with": combines_with })),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().expect("coupon id")
    };
    let apply = |body: Value| {
        call(
            &app,
            "POST",
            &format!("/v1/orders/{order}/coupons"),
            Some(keys::CUSTOMER_101),
            Some(body),
        )
    };

    // A coupon that combines with nothing: the client names no discount, yet the rules declared one.
    let alone = coupon(json!([]));
    let (status, body) = apply(json!({ "coupon_ids": [alone] }));
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("coupon-not-combinable")),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("partner-granted")),
        "{body}"
    );
    // Naming another kind than the rules declared is refused, naming the field.
    let with_partner = coupon(json!(["partner-granted"]));
    let (status, body) = apply(json!({ "coupon_ids": [with_partner], "discount": "promotion" }));
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("coupon-not-combinable"),
            Some("discount")
        ),
        "{body}"
    );
    // A coupon that combines with a partner-granted discount applies: 200 × 0.80 (the
    // discount capped at rule 19's floor) = 160.00, less 10.00.
    let (status, body) = apply(json!({ "coupon_ids": [with_partner] }));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["amount_due"], "150.00");
}

#[test]
fn rules_9_and_10_a_refund_needs_an_idempotency_key_and_a_retry_refunds_once() {
    let state = api_state();
    let app = router(state.clone());
    // Customer 102 buys one month of product 1001 (216.00 with its reseller's markup) and pays
    // it from its own balance.
    let quote = quote_1001(&app, keys::CUSTOMER_102, 102, 1);
    let keyed = |key: &str, path: &str, who: &str, body: Value| {
        call_raw(
            &app,
            "POST",
            path,
            Some(who),
            body.to_string(),
            &[("idempotency-key", key)],
        )
    };
    let (status, order) = keyed(
        "o-1",
        "/v1/orders",
        keys::CUSTOMER_102,
        json!({ "quote_id": quote["quote_id"] }),
    );
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order = order["order"]["id"].as_i64().expect("order id");
    let payments = format!("/v1/orders/{order}/payments");
    let (status, paid) = keyed("p-1", &payments, keys::CUSTOMER_102, json!({}));
    assert_eq!(
        (status, paid["amount"].as_str()),
        (StatusCode::CREATED, Some("216.00")),
        "{paid}"
    );
    let balance = || {
        tokio()
            .block_on(state.store.customer_balance(102, "CNY".parse().expect("currency")))
            .expect("balance")
    };
    let after_payment = balance();

    let refunds = format!("/v1/orders/{order}/refunds");
    let (status, body) = call(
        &app,
        "POST",
        &refunds,
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "amount": "16.00" })),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-field")),
        "no key: {body}"
    );
    let (status, first) = keyed("r-1", &refunds, keys::RESELLER_ADMIN, json!({ "amount": "16.00" }));
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = keyed("r-1", &refunds, keys::RESELLER_ADMIN, json!({ "amount": "16.00" }));
    assert_eq!(
        (status, &again["refund_id"]),
        (StatusCode::CREATED, &first["refund_id"]),
        "{again}"
    );
    // Rule 9: back to the customer, who paid; once.
    assert_eq!(balance(), after_payment + dec("16.00"));
    // More than is left (200.00) is refused and moves nothing.
    let (status, body) = keyed("r-2", &refunds, keys::RESELLER_ADMIN, json!({ "amount": "200.01" }));
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-field")),
        "{body}"
    );
    assert_eq!(balance(), after_payment + dec("16.00"));
}

#[test]
fn a_subscription_quote_runs_1_to_11_months_or_1_to_3_years_and_nothing_else() {
    let app = router(api_state());
    let quote = |period: &str, count: u32| {
        call(
            &app,
            "POST",
            "/v1/quotes",
            Some(keys::CUSTOMER_102),
            Some(quote_body(
                102,
                json!([
                    { "product_id": 1001, "period": "month", "period_count": 1, "quantity": 1 },
                    { "product_id": 1001, "period": period, "period_count": count, "quantity": 1 }
                ]),
            )),
        )
    };
    for (period, count) in [("month", 1), ("month", 11), ("year", 1), ("year", 3)] {
        let (status, body) = quote(period, count);
        assert_eq!(status, StatusCode::CREATED, "{count} {period}: {body}");
    }
    for (period, count, field) in [
        ("month", 12, "lines[1].period_count"),
        ("month", 0, "lines[1].period_count"),
        ("year", 4, "lines[1].period_count"),
        ("month", 100_000, "lines[1].period_count"),
        ("day", 30, "lines[1].period"),
        ("hour", 1, "lines[1].period"),
    ] {
        let (status, body) = quote(period, count);
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-field"), Some(field)),
            "{count} {period}: {body}"
        );
    }
}

#[test]
fn rule_11_a_renewal_is_an_order_priced_by_the_chain_and_paying_it_extends_the_term() {
    let state = api_state();
    let app = router(state.clone());
    let expiry = || demo_resource_1(&state).expires_at;
    let before = expiry();
    let renew = |key: &str| {
        call_raw(
            &app,
            "POST",
            "/v1/resources/1/renewals",
            Some(keys::CUSTOMER_102),
            json!({ "period_count": 2 }).to_string(),
            &[("idempotency-key", key)],
        )
    };
    // Two months of product 2001: the seller's renewal discount (5% of 88.50, to the cent
    // 84.08), then reseller 2's markup (8%: 90.8064), × 2 = 181.6128 -> 181.61.
    let (status, ordered) = renew("renew-1");
    assert_eq!(status, StatusCode::CREATED, "{ordered}");
    let order = &ordered["order"];
    assert_eq!(
        (
            order["kind"].as_str(),
            order["status"].as_str(),
            order["amount"].as_str()
        ),
        (Some("renew"), Some("pending-payment"), Some("181.61")),
        "{ordered}"
    );
    assert_eq!(expiry(), before, "nothing extends before the renewal is paid");
    // A retry answers the same order, priced once.
    let (status, again) = renew("renew-1");
    assert_eq!(
        (status, &again["order"]["id"]),
        (StatusCode::CREATED, &order["id"]),
        "{again}"
    );

    let id = order["id"].as_i64().expect("order id");
    let pay = || {
        call_raw(
            &app,
            "POST",
            &format!("/v1/orders/{id}/payments"),
            Some(keys::CUSTOMER_102),
            "{}",
            &[("idempotency-key", "pay-renewal")],
        )
    };
    let (status, paid) = pay();
    assert_eq!(
        (status, paid["amount"].as_str()),
        (StatusCode::CREATED, Some("181.61")),
        "{paid}"
    );
    let extended = expiry();
    assert_eq!(
        extended,
        before.checked_add_months(chrono::Months::new(2)).expect("date")
    );
    // The payment's retry pays and extends nothing more.
    let (status, _) = pay();
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(expiry(), extended);
    // The same key for another term is another request: another order.
    let (status, other) = call_raw(
        &app,
        "POST",
        "/v1/resources/1/renewals",
        Some(keys::CUSTOMER_102),
        json!({ "period_count": 1 }).to_string(),
        &[("idempotency-key", "renew-1")],
    );
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_ne!(other["order"]["id"], order["id"]);
    // A renewal quote is not ordered around its renewal rules.
    let (status, quote) = call(
        &app,
        "POST",
        "/v1/quotes/renewal",
        Some(keys::CUSTOMER_102),
        Some(json!({ "resource_id": 1, "period_count": 1 })),
    );
    assert_eq!(status, StatusCode::CREATED, "{quote}");
    let (status, body) = order_quote(&app, &quote["quote_id"], "around-the-rules");
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("quote-mismatch"),
            Some("quote_id")
        ),
        "{body}"
    );
    // No key, no renewal.
    let (status, body) = call(
        &app,
        "POST",
        "/v1/resources/1/renewals",
        Some(keys::CUSTOMER_102),
        Some(json!({ "period_count": 2 })),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Idempotency-Key")),
        "{body}"
    );
}

#[test]
fn rule_18_a_frozen_partners_staff_can_read_but_not_act_and_its_customers_cannot_buy() {
    let state = api_state();
    let app = router(state.clone());
    // A quote of customer 102's, priced before the freeze.
    let quote = quote_1001(&app, keys::CUSTOMER_102, 102, 1);
    tokio()
        .block_on(state.store.freeze_partner(demo::RESELLER))
        .expect("reseller 2 frozen");

    let (status, customers) = call(&app, "GET", "/v1/customers", Some(keys::RESELLER_ADMIN), None);
    assert_eq!(status, StatusCode::OK, "reading is allowed: {customers}");
    let (status, body) = call_raw(
        &app,
        "POST",
        "/v1/customers/101/allocations",
        Some(keys::RESELLER_ADMIN),
        json!({ "currency": "CNY", "amount": "10.00" }).to_string(),
        &[("idempotency-key", "frozen-allocation")],
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("partner-frozen")),
        "{body}"
    );
    // Freezing the partner froze its resale customers: 102 cannot order.
    let (status, body) = order_quote(&app, &quote["quote_id"], "frozen-order");
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("customer-frozen")),
        "{body}"
    );
}

#[test]
fn rule_10_unsubscribing_asks_the_rules_closes_the_resource_and_refunds_the_payer_once() {
    let state = api_state();
    let app = router(state.clone());
    let keyed = |key: &str, path: &str, body: Value| {
        call_raw(
            &app,
            "POST",
            path,
            Some(keys::CUSTOMER_102),
            body.to_string(),
            &[("idempotency-key", key)],
        )
    };
    // Three months of product 1001 (216.00 a month with reseller 2's markup): 648.00, paid by
    // the customer from its balance; the payment provisions the resource.
    let quote = quote_1001(&app, keys::CUSTOMER_102, 102, 3);
    let (status, order) = keyed("o-1", "/v1/orders", json!({ "quote_id": quote["quote_id"] }));
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order = order["order"]["id"].as_i64().expect("order");
    let (status, paid) = keyed("p-1", &format!("/v1/orders/{order}/payments"), json!({}));
    assert_eq!(
        (status, paid["amount"].as_str()),
        (StatusCode::CREATED, Some("648.00")),
        "{paid}"
    );
    let resource: i64 = tokio()
        .block_on(
            sqlx::query_scalar("SELECT id FROM resources WHERE order_id = $1")
                .bind(order)
                .fetch_one(state.store.pool()),
        )
        .expect("provisioned");
    let balance = || {
        tokio()
            .block_on(state.store.customer_balance(102, "CNY".parse().expect("currency")))
            .expect("balance")
    };
    let after_payment = balance();

    let path = format!("/v1/resources/{resource}/unsubscribe");
    let (status, body) = call(&app, "POST", &path, Some(keys::CUSTOMER_102), None);
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Idempotency-Key")),
        "{body}"
    );
    // At once: the whole term is unused, so all that was paid comes back, to the customer.
    let (status, done) = keyed("u-1", &path, json!({}));
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(
        (done["closed"].clone(), done["amount"].as_str()),
        (json!([resource]), Some("648.00")),
        "{done}"
    );
    assert_eq!(done["refunds"][0]["order_id"], order);
    assert_eq!(balance(), after_payment + dec("648.00"));
    // The reseller's unsubscribe rule was asked, and a retry refunds nothing more.
    let (_, audit) = call(&app, "GET", "/v1/invocations", Some(keys::RESELLER_ADMIN), None);
    assert!(
        audit.as_array().is_some_and(
            |records| records.iter().any(|r| r["plugin"] == "unsubscribe-approval@0.1.0"
                && r["input"].as_str().is_some_and(|i| i.contains("unsubscribe")))
        ),
        "{audit}"
    );
    let (status, again) = keyed("u-1", &path, json!({}));
    assert_eq!(
        (status, &again["refunds"]),
        (StatusCode::CREATED, &done["refunds"]),
        "{again}"
    );
    assert_eq!(balance(), after_payment + dec("648.00"));
}

#[test]
fn rule_8_the_scheduler_expires_an_unpaid_order_and_the_operator_sees_the_run() {
    let state = api_state();
    let app = router(state.clone());
    let quote = quote_1001(&app, keys::CUSTOMER_102, 102, 1);
    let (status, order) = order_quote(&app, &quote["quote_id"], "to-expire");
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["order"]["id"].as_i64().expect("order");
    // Eight days on, the scheduler's run cancels it.
    let later = Utc::now() + chrono::Duration::days(8);
    run_scheduler(&state, later);
    let (_, order) = call(&app, "GET", &format!("/v1/orders/{id}"), Some(keys::CUSTOMER_102), None);
    assert_eq!(order["order"]["status"], "cancelled", "{order}");
    let (status, runs) = call(&app, "GET", "/v1/scheduler/runs", Some(keys::OPERATOR), None);
    assert_eq!(status, StatusCode::OK, "{runs}");
    assert_eq!(
        (runs[0]["job"].as_str(), runs[0]["items"].as_i64()),
        (Some("expire-unpaid-orders"), Some(1)),
        "{runs}"
    );
    let (status, body) = call(&app, "GET", "/v1/scheduler/runs", Some(keys::RESELLER_ADMIN), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("role-not-permitted")),
        "{body}"
    );
}

/// Demo resource 1 (customer 102's) as stored now.
fn demo_resource_1(state: &AppState) -> pchost_store::resources::Resource {
    tokio()
        .block_on(state.store.resource(1))
        .expect("read")
        .expect("demo resource 1")
}

/// One run of every scheduler job as of `at`.
fn run_scheduler(state: &AppState, at: chrono::DateTime<Utc>) {
    tokio()
        .block_on(pchost_server::scheduler::run_once(state, at))
        .expect("run")
}

/// Customer 102's renewal orders, as it lists them.
fn renewals_of_102(app: &axum::Router) -> Vec<Value> {
    let (status, orders) = call(app, "GET", "/v1/orders?customer_id=102", Some(keys::CUSTOMER_102), None);
    assert_eq!(status, StatusCode::OK, "{orders}");
    orders
        .as_array()
        .expect("orders")
        .iter()
        .filter(|o| o["kind"] == "renew")
        .cloned()
        .collect()
}

#[test]
fn rule_11_the_scheduler_auto_renews_from_7_days_before_expiry_priced_by_the_chain_and_paid_once() {
    let state = api_state();
    let app = router(state.clone());
    let balance = || {
        tokio()
            .block_on(state.store.customer_balance(102, "CNY".parse().expect("currency")))
            .expect("balance")
    };
    let before = demo_resource_1(&state).expires_at;
    let (status, body) = call(
        &app,
        "PUT",
        "/v1/resources/1/auto-renew",
        Some(keys::CUSTOMER_102),
        Some(json!({ "enabled": true })),
    );
    assert_eq!(
        (status, body["expiry_policy"].as_str()),
        (StatusCode::OK, Some("auto-renew")),
        "{body}"
    );
    let paid_before = balance();
    // Eight days before expiry: not yet.
    run_scheduler(&state, before - chrono::Duration::days(8));
    assert_eq!((demo_resource_1(&state).expires_at, balance()), (before, paid_before));
    // Six days before: one month of product 2001 as a renewal through the chain (the seller's
    // renewal discount, 84.08, then reseller 2's markup, 90.8064 -> 90.81), paid by the
    // customer from its balance; the term extends by a month of its own type.
    let due = before - chrono::Duration::days(6);
    run_scheduler(&state, due);
    let renewed = before.checked_add_months(chrono::Months::new(1)).expect("date");
    assert_eq!(demo_resource_1(&state).expires_at, renewed);
    assert_eq!(balance(), paid_before - dec("90.81"));
    let renewals = renewals_of_102(&app);
    assert_eq!(
        renewals
            .iter()
            .map(|o| (o["status"].as_str(), o["amount"].as_str()))
            .collect::<Vec<_>>(),
        vec![(Some("completed"), Some("90.81"))],
        "{renewals:?}"
    );
    // The run again at the same time (a second instance, or a retry): nothing more.
    run_scheduler(&state, due);
    assert_eq!(
        (demo_resource_1(&state).expires_at, balance()),
        (renewed, paid_before - dec("90.81"))
    );
    let (status, runs) = call(&app, "GET", "/v1/scheduler/runs", Some(keys::OPERATOR), None);
    assert_eq!(status, StatusCode::OK, "{runs}");
    let auto_renew: Vec<i64> = runs
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["job"] == "auto-renew")
        .map(|r| r["items"].as_i64().expect("items"))
        .collect();
    assert_eq!(auto_renew, vec![1], "{runs}");
}

#[test]
fn rule_11_an_auto_renewal_the_customer_cannot_pay_lets_the_resource_expire_into_its_grace_period() {
    let state = api_state();
    let app = router(state.clone());
    let store = &state.store;
    let expires = demo_resource_1(&state).expires_at;
    let customer = pchost_store::accounts::Actor {
        role: pchost_domain::Role::Customer,
        partner: Some(demo::RESELLER),
        id: Some(demo::STANDARD_CUSTOMER),
        on_behalf_of: None,
    };
    tokio()
        .block_on(store.set_auto_renew(1, true, &customer))
        .expect("auto-renew on");
    // Customer 102 has nothing left to pay with.
    tokio()
        .block_on(
            sqlx::query(
                "UPDATE accounts SET balance_cents = 0, credit_limit_cents = 0 WHERE owner_kind = 'customer' AND owner_id = 102",
            )
            .execute(store.pool()),
        )
        .expect("emptied");
    run_scheduler(&state, expires - chrono::Duration::days(6));
    let renewals = renewals_of_102(&app);
    assert_eq!(
        renewals.iter().map(|o| o["status"].as_str()).collect::<Vec<_>>(),
        vec![Some("pending-payment")],
        "ordered once, not paid: {renewals:?}"
    );
    let tried = || -> Option<i64> {
        tokio()
            .block_on(
                sqlx::query_scalar("SELECT auto_renew_tried_at FROM resources WHERE id = 1").fetch_one(store.pool()),
            )
            .expect("read")
    };
    let first_try = tried();
    assert!(first_try.is_some());
    // A run an hour later does not try again: one try a day.
    run_scheduler(&state, expires - chrono::Duration::days(6) + chrono::Duration::hours(1));
    assert_eq!(tried(), first_try);
    // The next day's run tries the same order again, and orders no second one.
    run_scheduler(&state, expires - chrono::Duration::days(5));
    assert_ne!(tried(), first_try);
    assert_eq!(renewals_of_102(&app).len(), 1);
    // At expiry, unpaid: the grace period (still renewable), then release after 15 days.
    run_scheduler(&state, expires + chrono::Duration::hours(1));
    let (status, body) = call(
        &app,
        "GET",
        "/v1/customers/102/resources",
        Some(keys::CUSTOMER_102),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let one = body
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["id"] == 1)
        .expect("resource 1 listed");
    assert_eq!(one["status"], "expired", "{body}");
    run_scheduler(&state, expires + chrono::Duration::days(16));
    assert_eq!(demo_resource_1(&state).status.as_str(), "closed");
    let (status, body) = call_raw(
        &app,
        "POST",
        "/v1/resources/1/renewals",
        Some(keys::CUSTOMER_102),
        json!({ "period_count": 1 }).to_string(),
        &[("idempotency-key", "too-late")],
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not-renewable")),
        "{body}"
    );
}

#[test]
fn rule_18_a_distributor_freezes_and_unfreezes_its_reseller_whose_customers_are_unfrozen_one_by_one() {
    let state = api_state();
    let app = router(state.clone());
    let post = |key: &str, path: &str, body: Option<Value>| call(&app, "POST", path, Some(key), body);
    // One allocation, sent until it goes through: a refusal consumes no key.
    let allocate = || {
        call_raw(
            &app,
            "POST",
            "/v1/customers/101/allocations",
            Some(keys::RESELLER_ADMIN),
            json!({ "currency": "CNY", "amount": "10.00" }).to_string(),
            &[("idempotency-key", "allocation-after-unfreeze")],
        )
    };
    assert_eq!(
        post(keys::DISTRIBUTOR_ADMIN, "/v1/partners/2/freeze", None).0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = allocate();
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("partner-frozen")),
        "{body}"
    );
    // A frozen reseller's admin cannot lift its own freeze; its distributor can.
    let (status, body) = post(keys::RESELLER_ADMIN, "/v1/partners/2/unfreeze", None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("partner-frozen")),
        "{body}"
    );
    assert_eq!(
        post(keys::DISTRIBUTOR_ADMIN, "/v1/partners/2/unfreeze", None).0,
        StatusCode::NO_CONTENT
    );
    // Its customers stay frozen until each is unfrozen: 101 receives nothing yet.
    let (status, body) = allocate();
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("customer-frozen")),
        "{body}"
    );
    let (status, body) = post(
        keys::RESELLER_ADMIN,
        "/v1/customers/101/unfreeze",
        Some(json!({ "state": "account-frozen" })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(allocate().0, StatusCode::NO_CONTENT);
}

/// `customer` (with its key) prices `months` months of one unit of the platform's product
/// 1001 (200.00 a month); the priced quote.
fn quote_1001(app: &axum::Router, key: &str, customer: i64, months: u32) -> Value {
    let (status, quote) = call(
        app,
        "POST",
        "/v1/quotes",
        Some(key),
        Some(quote_body(
            customer,
            json!([{ "product_id": 1001, "period": "month", "period_count": months, "quantity": 1 }]),
        )),
    );
    assert_eq!(status, StatusCode::CREATED, "{quote}");
    quote
}

#[test]
fn allocations_reclaims_and_top_ups_need_an_idempotency_key_and_a_retry_moves_money_once() {
    // Issue #14's crash test: an allocation retried after its answer was lost was applied
    // twice. Each of these writes now takes a key, claimed in the transaction of its effect.
    let state = api_state();
    let app = router(state.clone());
    let writes = [
        (keys::RESELLER_ADMIN, "/v1/customers/101/allocations", 204),
        (keys::RESELLER_ADMIN, "/v1/customers/101/reclaims", 204),
        (keys::DISTRIBUTOR_ADMIN, "/v1/resellers/2/allocations", 204),
        (keys::DISTRIBUTOR_ADMIN, "/v1/resellers/2/reclaims", 204),
        (keys::OPERATOR, "/v1/partners/2/top-ups", 200),
    ];
    let body = json!({ "currency": "CNY", "amount": "10.00" }).to_string();
    for (key, path, done) in writes {
        let entries = count(&state, "ledger_entries");
        let (status, answer) = call(
            &app,
            "POST",
            path,
            Some(key),
            Some(json!({ "currency": "CNY", "amount": "10.00" })),
        );
        assert_eq!(
            (status, answer["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Idempotency-Key")),
            "{path}: {answer}"
        );
        let send = || {
            call_raw(
                &app,
                "POST",
                path,
                Some(key),
                body.clone(),
                &[("idempotency-key", "once")],
            )
        };
        let (status, first) = send();
        assert_eq!(status.as_u16(), done, "{path}: {first}");
        let (status, again) = send();
        assert_eq!(
            (status.as_u16(), &again),
            (done, &first),
            "{path}: a retry answers the first answer"
        );
        let moved = if path.ends_with("top-ups") { 1 } else { 2 };
        assert_eq!(
            count(&state, "ledger_entries"),
            entries + moved,
            "{path}: one effect, however often it is sent"
        );
    }
}

#[test]
fn an_unsubscription_sent_twice_at_once_under_one_key_answers_both_alike() {
    // Found by the ledger's property tests in the store, whose look-ups the handler repeats:
    // a client retrying before its first attempt was answered got `resource-not-in-use` or
    // `nothing-to-refund` when the first closed the resource between the retry's look-up of
    // its key and its look at the resource.
    use pchost_domain::{Currency, PeriodType, Role};
    use pchost_store::accounts::Actor;
    use pchost_store::orders::{NewOrder, NewOrderLine, Payer};
    use tower::ServiceExt;
    let state = api_state();
    let app = router(state.clone());
    let customer = Actor {
        role: Role::Customer,
        partner: Some(demo::RESELLER),
        id: Some(demo::STANDARD_CUSTOMER),
        on_behalf_of: None,
    };
    let price = rust_decimal::Decimal::new(8850, 2);
    let resources: Vec<i64> = tokio().block_on(async {
        let mut resources = Vec::new();
        for i in 0..40 {
            let line = NewOrderLine {
                product: 2001,
                period: PeriodType::Month,
                period_count: 1,
                quantity: 1,
                list_unit_price: price,
                unit_price: price,
            };
            let order = NewOrder {
                customer: demo::STANDARD_CUSTOMER,
                currency: Currency::CNY,
                lines: vec![line],
                quote: None,
            };
            let (order_key, pay_key) = (format!("twin-order-{i}"), format!("twin-pay-{i}"));
            let created = state
                .store
                .create_order(&order, &customer, &order_key, Utc::now())
                .await
                .expect("order");
            let paying = state
                .store
                .pay_order(created.id, Payer::Customer, &customer, &pay_key, Utc::now());
            paying.await.expect("paid");
            let resource = sqlx::query_scalar("SELECT id FROM resources WHERE order_id = $1")
                .bind(created.id)
                .fetch_one(state.store.pool());
            resources.push(resource.await.expect("provisioned"));
        }
        resources
    });
    for (i, resource) in resources.into_iter().enumerate() {
        let send = || {
            let request = axum::http::Request::builder()
                .method("POST")
                .uri(format!("/v1/resources/{resource}/unsubscribe"))
                .header("authorization", format!("Bearer {}", keys::CUSTOMER_102))
                .header("idempotency-key", format!("twin-{i}"))
                .body(axum::body::Body::empty())
                .expect("request");
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await.expect("response");
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
                (status, serde_json::from_slice::<Value>(&bytes).expect("JSON"))
            }
        };
        // The twin starts 0 to 12 ms after the first: some land in that window.
        let later = async {
            tokio::time::sleep(std::time::Duration::from_micros(300 * i as u64)).await;
            send().await
        };
        let (one, other) = tokio().block_on(async { tokio::join!(send(), later) });
        assert_eq!(one.0, StatusCode::CREATED, "{}", one.1);
        assert_eq!(other, one, "resource {resource}: the twin answers the first answer");
    }
}

/// One cell of the freeze matrix: who does what, and the status and code it gets.
struct FreezeCell {
    what: &'static str,
    key: &'static str,
    status: StatusCode,
    code: Option<&'static str>,
}

/// How a row of the freeze matrix freezes the demo server.
type Freeze = dyn Fn(&axum::Router);

/// Tries each operation of the freeze matrix (docs/api.md "Freezes") once, on a fresh demo
/// server frozen by `freeze`, and returns what each got, in the order of `cells`.
fn freeze_row(freeze: &Freeze, cells: &[FreezeCell]) -> Vec<(StatusCode, Option<String>)> {
    let app = router(api_state());
    // A quote of customer 102, made before the freeze, for the order cell.
    let quote = quote_1001(&app, keys::CUSTOMER_102, 102, 1);
    freeze(&app);
    cells
        .iter()
        .map(|cell| {
            let keyed = |path: &str, body: Value| {
                call_raw(
                    &app,
                    "POST",
                    path,
                    Some(cell.key),
                    body.to_string(),
                    &[("idempotency-key", cell.what)],
                )
            };
            let (status, body) = match cell.what {
                "quote" => call(
                    &app,
                    "POST",
                    "/v1/quotes",
                    Some(cell.key),
                    Some(json!({ "customer_id": 102, "currency": "CNY",
                        "lines": [{ "product_id": 1001, "period": "month", "period_count": 1, "quantity": 1 }] })),
                ),
                "order" => keyed("/v1/orders", json!({ "quote_id": quote["quote_id"] })),
                "renew" => keyed("/v1/resources/1/renewals", json!({ "period_count": 1 })),
                "pay" => keyed("/v1/orders/9004/payments", json!({})),
                "allocation" => keyed(
                    "/v1/customers/102/allocations",
                    json!({ "currency": "CNY", "amount": "10.00" }),
                ),
                "read" => call(&app, "GET", "/v1/orders?customer_id=102", Some(cell.key), None),
                other => panic!("no cell {other}"),
            };
            (status, body["code"].as_str().map(str::to_owned))
        })
        .collect()
}

#[test]
fn rule_18_the_freeze_matrix_holds_cell_by_cell() {
    use StatusCode as S;
    let cell = |what, key, status, code| FreezeCell {
        what,
        key,
        status,
        code,
    };
    let customer = |frozen: Option<&'static str>| {
        let refused = |what| {
            cell(
                what,
                keys::CUSTOMER_102,
                S::UNPROCESSABLE_ENTITY,
                Some("customer-frozen"),
            )
        };
        match frozen {
            None => vec![
                cell("quote", keys::CUSTOMER_102, S::CREATED, None),
                cell("order", keys::CUSTOMER_102, S::CREATED, None),
                cell("renew", keys::CUSTOMER_102, S::CREATED, None),
                cell("pay", keys::CUSTOMER_102, S::CREATED, None),
                cell("allocation", keys::RESELLER_ADMIN, S::NO_CONTENT, None),
            ],
            Some(_) => vec![
                cell("quote", keys::CUSTOMER_102, S::CREATED, None),
                refused("order"),
                refused("renew"),
                refused("pay"),
                cell(
                    "allocation",
                    keys::RESELLER_ADMIN,
                    S::UNPROCESSABLE_ENTITY,
                    Some("customer-frozen"),
                ),
            ],
        }
    };
    let freeze_customer = |state: &'static str| {
        move |app: &axum::Router| {
            let (status, body) = call(
                app,
                "POST",
                "/v1/customers/102/freeze",
                Some(keys::RESELLER_ADMIN),
                Some(json!({ "state": state })),
            );
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    let partner_frozen = |what| cell(what, keys::RESELLER_ADMIN, S::FORBIDDEN, Some("partner-frozen"));
    let rows: Vec<(&str, Box<Freeze>, Vec<FreezeCell>)> = vec![
        ("not frozen", Box::new(|_: &axum::Router| {}), customer(None)),
        (
            "account-frozen",
            Box::new(freeze_customer("account-frozen")),
            customer(Some("account-frozen")),
        ),
        (
            "account-and-resources-frozen",
            Box::new(freeze_customer("account-and-resources-frozen")),
            customer(Some("account-and-resources-frozen")),
        ),
        (
            "staff of a frozen partner",
            Box::new(|app: &axum::Router| {
                let (status, body) = call(app, "POST", "/v1/partners/2/freeze", Some(keys::OPERATOR), None);
                assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            }),
            vec![
                cell("read", keys::RESELLER_ADMIN, S::OK, None),
                partner_frozen("quote"),
                partner_frozen("order"),
                partner_frozen("renew"),
                partner_frozen("pay"),
                partner_frozen("allocation"),
            ],
        ),
    ];
    let mut differ = Vec::new();
    for (row, freeze, cells) in &rows {
        let got = freeze_row(freeze.as_ref(), cells);
        for (cell, (status, code)) in cells.iter().zip(got) {
            if (status, code.as_deref()) != (cell.status, cell.code) {
                differ.push(format!(
                    "{row} / {} by {}: expected {} {:?}, got {status} {code:?}",
                    cell.what, cell.key, cell.status, cell.code
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} cells differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn a_renewal_quote_tells_a_caller_out_of_scope_nothing_about_the_resource() {
    let state = api_state();
    let app = router(state.clone());
    // Customer 102's resource 1, closed: its owner learns it is not renewable.
    tokio().block_on(async {
        sqlx::query("UPDATE resources SET status = 'closed' WHERE id = 1")
            .execute(state.store.pool())
            .await
            .expect("closed");
    });
    let ask = |key| {
        call(
            &app,
            "POST",
            "/v1/quotes/renewal",
            Some(key),
            Some(json!({ "resource_id": 1, "period_count": 1 })),
        )
    };
    let (status, body) = ask(keys::CUSTOMER_102);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not-renewable")),
        "{body}"
    );
    // Another customer learns only that it is out of its scope, as for one in use.
    let (status, body) = ask(keys::CUSTOMER_101);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("out-of-scope")),
        "{body}"
    );
}
