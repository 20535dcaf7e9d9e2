//! The extension points in the flows (issue #5): the three-scope pricing chain, failure
//! policies against a hostile plugin, approval tasks decided by people, replay and shadow
//! versions. Over the real router with the demo data, keys and bundled plugins.

use crate::support::*;
use axum::http::StatusCode;
use chrono::Utc;
use pchost_server::app::router;
use pchost_server::state::AppState;
use pchost_store::bindings::{BindingScope, FailurePolicy, NewBinding};
use pchost_store::demo;
use serde_json::{Value, json};

/// Installs `component` as `owner/name@version` and records it, as an upload does. The
/// runtime is shared by the tests, so each test names its plugins apart.
fn install(state: &AppState, owner: i64, name: &str, version: &str, component: &str) {
    // The example rules are built against extension@0.3.0, the hostile ones against 0.1.0.
    let world_version = if component.contains("hostile") {
        "0.1.0"
    } else {
        "0.3.0"
    };
    let manifest = pchost_runtime::PluginManifest::from_toml(&format!(
        "name = \"{name}\"\nversion = \"{version}\"\nworld = \"pricing-rule\"\nworld-version = \"{world_version}\"\nowner = {owner}\n"
    ))
    .expect("manifest");
    tokio()
        .block_on(pchost_extensions::install::install(
            &state.store,
            &state.host.runtime,
            manifest,
            &pchost_test_plugins::read(component),
            &state.host.plugin_quota,
        ))
        .expect("install");
}

/// A pricing-rule binding of `owner/name@version` in a scope.
fn pricing(scope: BindingScope, scope_id: Option<i64>, owner: i64, name: &str, version: &str) -> NewBinding {
    NewBinding {
        world: "pricing-rule".into(),
        scope,
        scope_id,
        plugin_owner: owner,
        plugin_name: name.into(),
        version: version.into(),
        position: 10,
        failure_policy: FailurePolicy::FailClosed,
        enabled: true,
        settings: Default::default(),
    }
}

/// Creates a binding and reloads the index; returns the binding id.
fn bind(state: &AppState, binding: NewBinding) -> i64 {
    tokio().block_on(async {
        let binding = state
            .store
            .create_binding(&binding, "test", Utc::now())
            .await
            .expect("bind");
        state.host.bindings.reload(&state.store).await.expect("reload");
        binding.id
    })
}

fn quote(app: &axum::Router, customer_key: &str, customer: i64, lines: Value) -> (StatusCode, Value) {
    call(
        app,
        "POST",
        "/v1/quotes",
        Some(customer_key),
        Some(json!({ "customer_id": customer, "currency": "CNY", "lines": lines })),
    )
}

#[test]
fn a_three_step_chain_platform_seller_reseller_gives_the_exact_breakdown() {
    let state = api_state();
    // The operator runs a platform-wide 8% surcharge (a markup component owned by the
    // distributor) before every seller's and partner's rules.
    install(
        &state,
        demo::DISTRIBUTOR,
        "platform-surcharge",
        "1.0.0",
        pchost_test_plugins::RESELLER_MARKUP,
    );
    bind(
        &state,
        NewBinding {
            position: 0,
            failure_policy: FailurePolicy::FailClosed,
            ..pricing(
                BindingScope::Platform,
                None,
                demo::DISTRIBUTOR,
                "platform-surcharge",
                "1.0.0",
            )
        },
    );
    let app = router(state);
    let (status, body) = quote(
        &app,
        keys::CUSTOMER_102,
        102,
        json!([{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 60 }]),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let line = &body["lines"][0];
    let steps: Vec<(&str, &str, &str, &str)> = line["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .map(|a| {
            (
                a["plugin"].as_str().unwrap_or(""),
                a["from"].as_str().unwrap_or(""),
                a["to"].as_str().unwrap_or(""),
                a["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            // platform: 88.50 × 1.08 = 95.58
            (
                "platform-surcharge@1.0.0",
                "88.500000",
                "95.580000",
                "reseller markup: 8%"
            ),
            // seller 10: 60 units, 10% off: 95.58 × 0.90 = 86.022
            (
                "volume-discount@0.2.0",
                "95.580000",
                "86.022000",
                "volume tier 50+ units: 10% off"
            ),
            // reseller 2: 86.022 × 1.08 = 92.90376
            ("reseller-markup@0.2.0", "86.022000", "92.903760", "reseller markup: 8%"),
        ]
    );
    // 92.90376 × 60 = 5574.2256, settled half-up to 5574.23.
    assert_eq!(
        (line["amount"].as_str(), body["total"].as_str()),
        (Some("5574.23"), Some("5574.23"))
    );
    let scopes: Vec<&str> = body["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .filter_map(|s| s["scope"].as_str())
        .collect();
    // The seller's renewal discount runs too, with nothing to renew.
    assert_eq!(scopes, ["platform", "seller", "seller", "partner"]);
}

fn bulk_line() -> Value {
    json!([{ "product_id": 1001, "period": "month", "period_count": 1, "quantity": 100 }])
}

#[test]
fn a_negative_price_under_fail_closed_refuses_the_quote() {
    let state = api_state();
    install(
        &state,
        demo::RESELLER,
        "bulk-rule",
        "1.0.0",
        pchost_test_plugins::HOSTILE_NEGATIVE_PRICE,
    );
    bind(
        &state,
        NewBinding {
            position: 10,
            failure_policy: FailurePolicy::FailClosed,
            ..pricing(
                BindingScope::Partner,
                Some(demo::RESELLER),
                demo::RESELLER,
                "bulk-rule",
                "1.0.0",
            )
        },
    );
    let app = router(state);
    let (status, body) = quote(&app, keys::CUSTOMER_102, 102, bulk_line());
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("plugin-failed")),
        "{body}"
    );
    assert_eq!(body["plugin"]["plugin"], "bulk-rule@1.0.0");
    assert_eq!(
        body["plugin"]["kind"],
        json!({ "kind": "invalid-output", "detail": "line 0: negative unit price -1" })
    );
}

#[test]
fn a_negative_price_under_fail_open_skips_the_step_and_says_so() {
    let state = api_state();
    install(
        &state,
        demo::RESELLER,
        "bulk-rule",
        "1.0.0",
        pchost_test_plugins::HOSTILE_NEGATIVE_PRICE,
    );
    let binding = bind(
        &state,
        NewBinding {
            position: 10,
            failure_policy: FailurePolicy::FailOpen,
            ..pricing(
                BindingScope::Partner,
                Some(demo::RESELLER),
                demo::RESELLER,
                "bulk-rule",
                "1.0.0",
            )
        },
    );
    let app = router(state);
    let (status, body) = quote(&app, keys::CUSTOMER_102, 102, bulk_line());
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Only the reseller's markup counted: 200 × 1.08 = 216.
    assert_eq!(body["lines"][0]["unit_price"], "216.000000");
    assert_eq!(body["lines"][0]["adjustments"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["policies"].as_array().map(Vec::len), Some(1));
    let skip = &body["policies"][0];
    assert_eq!(
        (
            skip["binding"].as_i64(),
            skip["plugin"].as_str(),
            skip["policy"].as_str()
        ),
        (Some(binding), Some("bulk-rule@1.0.0"), Some("fail-open"))
    );
    assert_eq!(skip["failure"]["kind"]["kind"], "invalid-output");
    assert!(skip["answered_by"].is_null());
}

/// Seller 10 binds the hostile `huge-price` rule to its products under `policy`.
fn bind_huge_seller_price(state: &AppState, policy: FailurePolicy) -> i64 {
    install(
        state,
        demo::SELLER,
        "premium",
        "1.0.0",
        pchost_test_plugins::HOSTILE_HUGE_PRICE,
    );
    bind(
        state,
        NewBinding {
            position: 20,
            failure_policy: policy,
            ..pricing(
                BindingScope::Seller,
                Some(demo::SELLER),
                demo::SELLER,
                "premium",
                "1.0.0",
            )
        },
    )
}

fn one_seller_unit() -> Value {
    json!([{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }])
}

#[test]
fn a_sellers_unit_price_of_i64_max_is_refused_by_the_seller_ceiling_and_no_quote_is_stored() {
    // Seen: a seller's rule answered 9,223,372,036,854,775,807 and the host stored a quote
    // totalling 1.0e25. Sellers' rules may raise a price to 10 times list by default.
    let state = api_state();
    bind_huge_seller_price(&state, FailurePolicy::FailClosed);
    let quotes_before = count_quotes(&state);
    let app = router(state.clone());
    let (status, body) = quote(&app, keys::CUSTOMER_102, 102, one_seller_unit());
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("plugin-failed")),
        "{body}"
    );
    assert_eq!(body["plugin"]["plugin"], "premium@1.0.0");
    assert_eq!(
        body["plugin"]["kind"],
        json!({
            "kind": "invalid-output",
            "detail": "line 0: 9223372036854775807 is above 10 times the list price 88.500000 (the seller scope's ceiling)"
        })
    );
    assert_eq!(count_quotes(&state), quotes_before, "no quote was stored");
}

#[test]
fn a_price_above_the_ceiling_under_fail_open_skips_the_step_and_says_so() {
    let state = api_state();
    let binding = bind_huge_seller_price(&state, FailurePolicy::FailOpen);
    let app = router(state);
    let (status, body) = quote(&app, keys::CUSTOMER_102, 102, one_seller_unit());
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Only the reseller's markup counted: 88.50 × 1.08 = 95.58.
    assert_eq!(body["lines"][0]["unit_price"], "95.580000");
    assert_eq!(body["total"], "95.58");
    assert_eq!(body["policies"][0]["binding"].as_i64(), Some(binding));
    assert_eq!(body["policies"][0]["failure"]["kind"]["kind"], "invalid-output");
}

#[test]
fn the_operators_partner_ceiling_binds_a_markup_above_it_and_the_defaults_do_not() {
    let line = json!([{ "product_id": 1001, "period": "month", "period_count": 1, "quantity": 1 }]);
    // By default (2 times list) the reseller's 8% markup passes: 200 × 1.08 = 216.
    let (status, body) = quote(&router(api_state()), keys::CUSTOMER_102, 102, line.clone());
    assert_eq!(
        (status, body["lines"][0]["unit_price"].as_str()),
        (StatusCode::CREATED, Some("216.000000"))
    );
    // An operator allowing partners 5% above list (`--price-ceiling-partner 1.05`) refuses it.
    let mut state = api_state();
    state.host.price_ceilings.partner = dec("1.05");
    let (status, body) = quote(&router(state), keys::CUSTOMER_102, 102, line);
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(
        body["plugin"]["kind"]["detail"],
        "line 0: 216.000000 is above 1.05 times the list price 200.000000 (the partner scope's ceiling)"
    );
}

fn count_quotes(state: &AppState) -> i64 {
    tokio()
        .block_on(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM quotes").fetch_one(state.store.pool()))
        .expect("count")
}

#[test]
fn a_rule_19_breach_under_fail_open_is_skipped_too() {
    // Volume discount bound after the key-account discount takes customer 101 below 0.80 of list.
    let state = api_state();
    install(
        &state,
        demo::RESELLER,
        "volume-discount",
        "0.1.0",
        pchost_test_plugins::VOLUME_DISCOUNT,
    );
    bind(
        &state,
        NewBinding {
            position: 10,
            failure_policy: FailurePolicy::FailOpen,
            ..pricing(
                BindingScope::Partner,
                Some(demo::RESELLER),
                demo::RESELLER,
                "volume-discount",
                "0.1.0",
            )
        },
    );
    let app = router(state);
    let (status, body) = quote(&app, keys::CUSTOMER_101, 101, bulk_line());
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["lines"][0]["unit_price"], "160.000000",
        "the key-account floor of 0.80 × 200 stands"
    );
    assert_eq!(
        body["policies"][0]["failure"]["kind"]["detail"],
        "line 0: 136.000000 is below 0.80 of list price 200.000000 (rule 19)"
    );
}

#[test]
fn a_negative_price_under_fallback_is_answered_by_the_previous_version() {
    let state = api_state();
    // fallback-rule 1.0.0 is a sound markup; 2.0.0 is the broken one.
    install(
        &state,
        demo::RESELLER,
        "fallback-rule",
        "1.0.0",
        pchost_test_plugins::RESELLER_MARKUP,
    );
    install(
        &state,
        demo::RESELLER,
        "fallback-rule",
        "2.0.0",
        pchost_test_plugins::HOSTILE_NEGATIVE_PRICE,
    );
    let binding = bind(
        &state,
        NewBinding {
            position: 10,
            failure_policy: FailurePolicy::Fallback,
            ..pricing(
                BindingScope::Partner,
                Some(demo::RESELLER),
                demo::RESELLER,
                "fallback-rule",
                "1.0.0",
            )
        },
    );
    let app = router(state.clone());
    let (status, upgraded) = call(
        &app,
        "PATCH",
        &format!("/v1/bindings/{binding}"),
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "version": "2.0.0" })),
    );
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    assert_eq!(
        (upgraded["version"].as_str(), upgraded["previous_version"].as_str()),
        (Some("2.0.0"), Some("1.0.0"))
    );
    let (status, body) = quote(&app, keys::CUSTOMER_102, 102, bulk_line());
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // reseller-markup 216.00, then fallback-rule@1.0.0 answering for 2.0.0: 216 × 1.08 = 233.28.
    let adjustments: Vec<&str> = body["lines"][0]["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .filter_map(|a| a["plugin"].as_str())
        .collect();
    assert_eq!(adjustments, ["reseller-markup@0.2.0", "fallback-rule@1.0.0"]);
    assert_eq!(body["lines"][0]["unit_price"], "233.280000");
    let fallback = &body["policies"][0];
    assert_eq!(
        (
            fallback["plugin"].as_str(),
            fallback["policy"].as_str(),
            fallback["answered_by"].as_str()
        ),
        (
            Some("fallback-rule@2.0.0"),
            Some("fallback"),
            Some("fallback-rule@1.0.0")
        )
    );
}

#[test]
fn replaying_150_recorded_invocations_reproduces_every_output() {
    let state = api_state();
    let app = router(state.clone());
    for i in 0..50u32 {
        let (status, body) = quote(
            &app,
            keys::CUSTOMER_102,
            102,
            json!([{ "product_id": 2001, "period": "month", "period_count": 1 + i % 11, "quantity": 1 + i * 7 }]),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, recorded) = call(
        &app,
        "GET",
        "/v1/invocations?limit=500&purpose=live",
        Some(keys::OPERATOR),
        None,
    );
    let ids: Vec<i64> = recorded
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert_eq!(
        ids.len(),
        150,
        "50 quotes, each priced by the seller's two rules and the reseller's"
    );
    for id in ids {
        let (status, report) = call(
            &app,
            "POST",
            &format!("/v1/invocations/{id}/replay"),
            Some(keys::OPERATOR),
            None,
        );
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["identical"], true, "invocation {id}: {report}");
        assert_eq!(report["differences"], json!([]));
        assert!(
            report["replay"].as_i64().is_some_and(|r| r > 150),
            "the replay is audited itself"
        );
    }
    let (_, replays) = call(
        &app,
        "GET",
        "/v1/invocations?limit=500&purpose=replay",
        Some(keys::OPERATOR),
        None,
    );
    assert_eq!(replays.as_array().map(Vec::len), Some(150));
}

#[test]
fn a_shadow_version_runs_beside_the_active_one_and_records_exactly_the_inputs_where_it_differs() {
    let state = api_state();
    // Seller 10's volume-discount binding gets a shadow: a version that changes nothing below
    // 100 units (like the active one below 10) and prices 100+ units at -1.
    install(
        &state,
        demo::SELLER,
        "volume-discount",
        "0.3.0",
        pchost_test_plugins::HOSTILE_NEGATIVE_PRICE,
    );
    let app = router(state.clone());
    let (_, bindings) = call(&app, "GET", "/v1/bindings", Some(keys::SELLER_ADMIN), None);
    let binding = bindings
        .as_array()
        .and_then(|all| all.iter().find(|b| b["plugin_name"] == "volume-discount"))
        .and_then(|b| b["id"].as_i64())
        .expect("the seller's volume-discount binding");
    let (status, body) = call(
        &app,
        "PATCH",
        &format!("/v1/bindings/{binding}"),
        Some(keys::SELLER_ADMIN),
        Some(json!({ "shadow_version": "0.3.0" })),
    );
    assert_eq!(
        (status, body["shadow_version"].as_str()),
        (StatusCode::OK, Some("0.3.0")),
        "{body}"
    );

    // Quantities 1, 5 (neither version changes them), 20 and 60 (only the active one does),
    // 150 (both, differently). The shadow never changes a result.
    let mut expected_diffs = Vec::new();
    for quantity in [1u32, 5, 20, 60, 150] {
        let (status, body) = quote(
            &app,
            keys::CUSTOMER_102,
            102,
            json!([{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": quantity }]),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body["policies"].as_array().is_some_and(Vec::is_empty));
        assert!(
            body["lines"][0]["adjustments"]
                .as_array()
                .expect("adjustments")
                .iter()
                .all(|a| a["plugin"] != "volume-discount@0.3.0")
        );
        if quantity >= 10 {
            expected_diffs.push(quantity);
        }
    }
    let (status, diffs) = call(
        &app,
        "GET",
        &format!("/v1/bindings/{binding}/shadow-diffs"),
        Some(keys::SELLER_ADMIN),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{diffs}");
    let diffs = diffs.as_array().expect("diffs");
    assert_eq!(diffs.len(), expected_diffs.len(), "{diffs:?}");
    for (diff, quantity) in diffs.iter().zip(expected_diffs) {
        assert_eq!(
            (diff["active_version"].as_str(), diff["shadow_version"].as_str()),
            (Some("0.2.0"), Some("0.3.0"))
        );
        let active: Value = serde_json::from_str(diff["active_output"].as_str().expect("active")).expect("json");
        let shadow: Value = serde_json::from_str(diff["shadow_output"].as_str().expect("shadow")).expect("json");
        assert_ne!(active, shadow);
        assert_eq!(
            active["lines"].as_array().map(Vec::len),
            Some(1),
            "quantity {quantity}: the active version repriced it"
        );
        let shadow_lines = if quantity >= 100 { 1 } else { 0 };
        assert_eq!(
            shadow["lines"].as_array().map(Vec::len),
            Some(shadow_lines),
            "quantity {quantity}"
        );
        let (shadow_call, active_call) = (diff["shadow_invocation"].as_i64(), diff["active_invocation"].as_i64());
        assert!(shadow_call.is_some() && active_call.is_some() && shadow_call != active_call);
    }
    let (_, shadows) = call(
        &app,
        "GET",
        "/v1/invocations?purpose=shadow",
        Some(keys::SELLER_ADMIN),
        None,
    );
    assert_eq!(
        shadows.as_array().map(Vec::len),
        Some(5),
        "the shadow ran on every request"
    );
}

fn ledger_of(app: &axum::Router, key: &str, account: i64) -> Vec<Value> {
    let (status, ledger) = call(app, "GET", &format!("/v1/accounts/{account}/ledger"), Some(key), None);
    assert_eq!(status, StatusCode::OK, "{ledger}");
    ledger.as_array().cloned().unwrap_or_default()
}

#[test]
fn a_60000_refund_escalates_stays_pending_until_a_customer_manager_approves_and_a_supervisor_rejection_refuses() {
    let app = router(api_state());
    // Customer 101 (a key account managed by 501, under supervisor 502) buys 80 units of
    // 2001 for 11 months: the key-account floor prices it at 70.80, 62,304.00 in all.
    let (status, _) = call_raw(
        &app,
        "POST",
        "/v1/customers/101/allocations",
        Some(keys::RESELLER_ADMIN),
        json!({ "currency": "CNY", "amount": "70000.00" }).to_string(),
        &[("idempotency-key", "fund-101")],
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, priced) = quote(
        &app,
        keys::CUSTOMER_101,
        101,
        json!([{ "product_id": 2001, "period": "month", "period_count": 11, "quantity": 80 }]),
    );
    assert_eq!(priced["total"], "62304.00", "{priced}");
    let (status, order) = call_raw(
        &app,
        "POST",
        "/v1/orders",
        Some(keys::CUSTOMER_101),
        json!({ "quote_id": priced["quote_id"] }).to_string(),
        &[("idempotency-key", "big-1")],
    );
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order = order["order"]["id"].as_i64().expect("order");
    let (status, paid) = call_raw(
        &app,
        "POST",
        &format!("/v1/orders/{order}/payments"),
        Some(keys::CUSTOMER_101),
        "{}",
        &[("idempotency-key", "big-1")],
    );
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let account = paid["debits"][0]["account"]
        .as_i64()
        .expect("the customer's cash account");
    let entries_after_payment = ledger_of(&app, keys::RESELLER_ADMIN, account).len();

    // The 60,000 refund escalates: 202, a pending task, no money moved.
    let refund = |amount: &str| {
        call_raw(
            &app,
            "POST",
            &format!("/v1/orders/{order}/refunds"),
            Some(keys::RESELLER_ADMIN),
            json!({ "amount": amount }).to_string(),
            &[("idempotency-key", &format!("refund-{amount}"))],
        )
    };
    let (status, escalated) = refund("60000.00");
    assert_eq!(status, StatusCode::ACCEPTED, "{escalated}");
    let task = &escalated["task"];
    assert_eq!(
        (task["status"].as_str(), task["role"].as_str(), task["plugin"].as_str()),
        (Some("pending"), Some("customer-manager"), Some("refund-approval@0.2.0"))
    );
    assert_eq!(
        task["reason"],
        "refund of 60000.00 CNY is above 50000: a customer manager must approve it (rule 10)"
    );
    let task_id = task["id"].as_i64().expect("task");
    assert_eq!(
        ledger_of(&app, keys::RESELLER_ADMIN, account).len(),
        entries_after_payment,
        "nothing refunded yet"
    );
    let (_, pending) = call(
        &app,
        "GET",
        "/v1/approval-tasks?status=pending",
        Some(keys::MANAGER),
        None,
    );
    assert_eq!(pending.as_array().map(Vec::len), Some(1));
    let (_, unseen) = call(&app, "GET", "/v1/approval-tasks", Some(keys::SALESPERSON), None);
    assert_eq!(unseen, json!([]), "rule 16: customer 101 is not the salesperson's");

    // Only a customer manager (or above) who sees customer 101 decides it.
    let decide = |key: &str, verb: &str, id: i64| {
        call(
            &app,
            "POST",
            &format!("/v1/approval-tasks/{id}/{verb}"),
            Some(key),
            Some(json!({ "note": "checked the contract" })),
        )
    };
    let (status, refused) = decide(keys::SALESPERSON, "approve", task_id);
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("role-not-permitted")),
        "{refused}"
    );
    let (status, approved) = decide(keys::MANAGER, "approve", task_id);
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(
        (approved["status"].as_str(), approved["decided_by"].as_str()),
        (Some("approved"), Some("staff:501@2"))
    );
    // The action's result is a JSON object, not JSON text in a string.
    assert_eq!(approved["outcome"]["amount"], "60000.00", "{approved}");
    assert_eq!(approved["action"]["action"], "refund", "{approved}");
    let ledger = ledger_of(&app, keys::RESELLER_ADMIN, account);
    let refund_entry = ledger.last().expect("the refund");
    assert_eq!(
        (refund_entry["amount"].as_str(), refund_entry["reason"].as_str()),
        (Some("60000.00"), Some("refund"))
    );
    let (status, again) = decide(keys::SUPERVISOR, "reject", task_id);
    assert_eq!(
        (status, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("task-not-pending"))
    );

    // A second large refund escalates too; the supervisor over 501 rejects it: refused for good.
    let (status, escalated) = refund("55000.00");
    assert_eq!(status, StatusCode::ACCEPTED, "{escalated}");
    let second = escalated["task"]["id"].as_i64().expect("task");
    let (status, rejected) = decide(keys::SUPERVISOR, "reject", second);
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(
        (rejected["status"].as_str(), rejected["decided_by"].as_str()),
        (Some("rejected"), Some("staff:502@2"))
    );
    assert_eq!(
        ledger_of(&app, keys::RESELLER_ADMIN, account).len(),
        ledger.len(),
        "the rejected refund moved nothing"
    );

    // Both are audited: the rule's two escalations, and the two decisions on the tasks.
    let (_, audit) = call(
        &app,
        "GET",
        "/v1/invocations?plugin=refund-approval",
        Some(keys::RESELLER_ADMIN),
        None,
    );
    let escalations = audit
        .as_array()
        .expect("audit")
        .iter()
        .filter(|r| r["output"].as_str().is_some_and(|o| o.contains("escalate")))
        .count();
    assert_eq!(escalations, 2);
    let (_, tasks) = call(&app, "GET", "/v1/approval-tasks", Some(keys::RESELLER_ADMIN), None);
    let decided: Vec<(&str, &str)> = tasks
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            (
                t["status"].as_str().unwrap_or(""),
                t["decided_by"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(decided, [("approved", "staff:501@2"), ("rejected", "staff:502@2")]);
}
