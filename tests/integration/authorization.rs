//! The authorization matrix: every endpoint × every role, each cell asserting the exact
//! outcome (the success status, or the refusal's status and code). Each cell runs against a
//! fresh demo data set, so a cell's outcome does not depend on the cells before it.
//!
//! Columns: no key; the platform operator; distributor 1's admin; reseller 2's admin; its
//! customer manager 501 (customer 101's manager); its supervisor 502 (over 501); its
//! salesperson 503 (customer 102's manager); seller 10's admin; customer 102.
//! Rule 16 shows in the columns of 501 and 503: each sees only its own customers' data.

use crate::support::*;
use axum::http::StatusCode;
use pchost_server::app::router;
use pchost_server::state::AppState;
use pchost_store::bindings::{NewPluginVersion, Recorded};
use serde_json::{Value, json};

const ROLES: [(&str, Option<&str>); 9] = [
    ("anonymous", None),
    ("operator", Some(keys::OPERATOR)),
    ("distributor-admin", Some(keys::DISTRIBUTOR_ADMIN)),
    ("reseller-admin", Some(keys::RESELLER_ADMIN)),
    ("manager-501", Some(keys::MANAGER)),
    ("supervisor-502", Some(keys::SUPERVISOR)),
    ("salesperson-503", Some(keys::SALESPERSON)),
    ("seller-admin", Some(keys::SELLER_ADMIN)),
    ("customer-102", Some(keys::CUSTOMER_102)),
];

/// One row: a request and the outcome for each role, as tokens: a success status (`200`),
/// `u` (401 missing-api-key), `r` (403 role-not-permitted), `s` (403 out-of-scope),
/// `n` (403 not-owner), or `<status>:<code>` for another refusal.
struct Row {
    method: &'static str,
    path: &'static str,
    body: Option<Body>,
    setup: Option<fn(&AppState)>,
    expect: &'static str,
}

/// A request body: JSON, or a plugin upload.
enum Body {
    Json(Value),
    Upload,
}

const BOUNDARY: &str = "matrix-boundary";

/// Reseller 2's markup as `2/matrix-rule@1.0.0`, as a multipart upload.
fn upload_body() -> Vec<u8> {
    let manifest =
        "name = \"matrix-rule\"\nversion = \"1.0.0\"\nworld = \"pricing-rule\"\nworld-version = \"0.3.0\"\nowner = 2\n";
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{manifest}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"component\"\r\n\r\n"
    )
    .into_bytes();
    body.extend(pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP));
    body.extend(format!("\r\n--{BOUNDARY}--\r\n").into_bytes());
    body
}

fn row(method: &'static str, path: &'static str, body: Option<Value>, expect: &'static str) -> Row {
    Row {
        method,
        path,
        body: body.map(Body::Json),
        setup: None,
        expect,
    }
}

fn expected(token: &str) -> (u16, &str) {
    match token {
        "u" => (401, "missing-api-key"),
        "r" => (403, "role-not-permitted"),
        "s" => (403, "out-of-scope"),
        "n" => (403, "not-owner"),
        other => match other.split_once(':') {
            Some((status, code)) => (status.parse().expect("status"), code),
            None => (other.parse().expect("status"), ""),
        },
    }
}

fn quote_of_102(state: &AppState) {
    let (status, body) = call(
        &router(state.clone()),
        "POST",
        "/v1/quotes",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "customer_id": 102, "currency": "CNY",
            "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }] })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn customer_asks_partner_to_pay(state: &AppState) {
    let (status, body) = call(
        &router(state.clone()),
        "POST",
        "/v1/orders/9004/payment-requests",
        Some(keys::CUSTOMER_102),
        None,
    );
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

fn customer_pays_9004(state: &AppState) {
    let (status, body) = call_raw(
        &router(state.clone()),
        "POST",
        "/v1/orders/9004/payments",
        Some(keys::CUSTOMER_102),
        "{}",
        &[("idempotency-key", "setup-pay")],
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn a_coupon_for_102(state: &AppState) {
    let (status, body) = call(
        &router(state.clone()),
        "POST",
        "/v1/coupons",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "quota_id": 2, "customer_id": 102, "face": "10.00",
            "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2030-01-01T00:00:00Z" })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Task 1: a 60,000 refund of customer 102's order 9003, escalated to a customer manager.
fn an_escalated_refund_of_102(state: &AppState) {
    let (status, body) = call_raw(
        &router(state.clone()),
        "POST",
        "/v1/orders/9003/refunds",
        Some(keys::RESELLER_ADMIN),
        json!({ "amount": "60000.00" }).to_string(),
        &[("idempotency-key", "setup-refund")],
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// Task 1: the refund of [`an_escalated_refund_of_102`], asked for by the operator.
fn an_escalated_refund_of_102_asked_by_the_operator(state: &AppState) {
    let (status, body) = call_raw(
        &router(state.clone()),
        "POST",
        "/v1/orders/9003/refunds",
        Some(keys::OPERATOR),
        json!({ "amount": "60000.00" }).to_string(),
        &[("idempotency-key", "setup-refund")],
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// Task 1: the refund of [`an_escalated_refund_of_102`], which a platform rule hands to the
/// platform operator.
fn a_refund_of_102_escalated_to_the_operator(state: &AppState) {
    bind_scripted_approval(
        state,
        pchost_store::bindings::BindingScope::Platform,
        None,
        &json!({ "escalate": "refund", "escalate-to": "platform-operator" }),
    );
    an_escalated_refund_of_102(state);
}

/// Customer 102 revokes reseller 2's authorization (rule 23) and reseller 2's admin asks again.
fn a_pending_authorization_request_to_102(state: &AppState) {
    let app = router(state.clone());
    for (path, key) in [
        ("/v1/customers/102/authorization/revoke", keys::CUSTOMER_102),
        ("/v1/customers/102/authorization", keys::RESELLER_ADMIN),
    ] {
        let (status, body) = call(&app, "POST", path, Some(key), Some(json!({})));
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

fn an_unbound_plugin_of_reseller_2(state: &AppState) {
    let new = NewPluginVersion {
        digest: &"0".repeat(64),
        name: "extra-rule",
        version: "0.1.0",
        world: "pricing-rule",
        owner: 2,
        manifest: "name = \"extra-rule\"\nversion = \"0.1.0\"\nworld = \"pricing-rule\"\nowner = 2\n",
        component: &[0; 1000],
    };
    let recorded = tokio()
        .block_on(state.store.record_plugin(&new, &state.host.plugin_quota))
        .expect("record");
    assert_eq!(recorded, Recorded::Yes);
}

/// Narrows every demo key to `keys:write`.
fn every_key_holds_only_keys_write(state: &AppState) {
    tokio()
        .block_on(sqlx::query("UPDATE api_keys SET scopes = 'keys:write'").execute(state.store.pool()))
        .expect("narrow the keys");
}

fn rows() -> Vec<Row> {
    let (_, publisher) = pchost_extensions::signing::generate_signing_key().expect("a publisher key");
    let quote = json!({ "customer_id": 102, "currency": "CNY",
        "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }] });
    let transfer = json!({ "currency": "CNY", "amount": "10.00" });
    vec![
        row("GET", "/v1/me", None, "u 200 200 200 200 200 200 200 200"),
        row(
            "POST",
            "/v1/api-keys",
            Some(json!({ "name": "k", "customer_id": 102 })),
            "u 201 201 201 r r r s 201",
        ),
        // Key 10 is customer 102's demo key.
        row("DELETE", "/v1/api-keys/10", None, "u 204 204 204 s s s s 204"),
        row("GET", "/v1/api-keys", None, "u 200 200 200 200 200 200 200 200"),
        // Scope escalation through key creation: every key holds only `keys:write`, and asks
        // a `*` key for reseller 2's admin.
        Row {
            method: "POST",
            path: "/v1/api-keys",
            body: Some(Body::Json(json!({ "name": "wider", "staff_id": 500, "scopes": ["*"] }))),
            setup: Some(every_key_holds_only_keys_write),
            expect: "u 403:scope-escalation s 403:scope-escalation r r r s r",
        },
        row(
            "POST",
            "/v1/publisher-keys",
            Some(json!({ "name": "release", "public_key": publisher })),
            "u 201 r r r r r r r",
        ),
        row("GET", "/v1/publisher-keys", None, "u 200 r r r r r r r"),
        row("DELETE", "/v1/publisher-keys/1", None, "u 404:not-found r r r r r r r"),
        row("GET", "/v1/signature-policies", None, "u 200 200 200 200 200 200 200 r"),
        row(
            "PUT",
            "/v1/signature-policies/partner",
            Some(json!({ "required": true })),
            "u 200 r r r r r r r",
        ),
        row("GET", "/v1/admin-events", None, "u 200 200 200 r r r 200 r"),
        row(
            "POST",
            "/v1/partners",
            Some(json!({ "kind": "reseller", "name": "n", "country": "CN" })),
            "u 201 r r r r r r r",
        ),
        row("GET", "/v1/partners", None, "u 200 r r r r r r r"),
        row("GET", "/v1/partners/2", None, "u 200 200 200 200 200 200 s 200"),
        row(
            "POST",
            "/v1/staff",
            Some(json!({ "role": "salesperson" })),
            "u r 201 201 r r r 201 r",
        ),
        row(
            "POST",
            "/v1/resellers",
            Some(json!({ "reseller_id": 3 })),
            "u r 201 r r r r r r",
        ),
        row("GET", "/v1/resellers", None, "u r 200 r r r r r r"),
        row(
            "POST",
            "/v1/resellers/2/allocations",
            Some(transfer.clone()),
            "u r 204 r r r r r r",
        ),
        row(
            "POST",
            "/v1/resellers/2/reclaims",
            Some(transfer.clone()),
            "u r 204 r r r r r r",
        ),
        row(
            "POST",
            "/v1/resellers/2/coupon-quotas",
            Some(json!({ "parent_quota_id": 1, "amount": "100.00", "max_face": "10.00" })),
            "u r 201 r r r r r r",
        ),
        row(
            "POST",
            "/v1/coupon-quotas/2/reclaim",
            None,
            "u r 422:quota-not-split r r r r r r",
        ),
        row(
            "POST",
            "/v1/customers",
            Some(
                json!({ "account_name": "new", "association": "resale", "customer_type": "individual", "country": "CN", "partner_id": 2 }),
            ),
            "u 201 s 201 201 201 201 s r",
        ),
        row("GET", "/v1/customers", None, "u 200 200 200 200 200 200 200 r"),
        row("GET", "/v1/customers/102", None, "u 200 200 200 s s 200 s 200"),
        row(
            "POST",
            "/v1/verification-codes",
            Some(json!({ "phone": "+8613800000000" })),
            "u r 201 201 201 201 201 201 r",
        ),
        row(
            "POST",
            "/v1/customers/102/invitations",
            Some(json!({ "channel": "online" })),
            "u r 422:customer-not-registered 201 s s 201 s r",
        ),
        row(
            "POST",
            "/v1/invitations/accept",
            Some(json!({ "token": "nope" })),
            "422:invitation-unknown 422:invitation-unknown 422:invitation-unknown 422:invitation-unknown 422:invitation-unknown 422:invitation-unknown 422:invitation-unknown 422:invitation-unknown 422:invitation-unknown",
        ),
        row(
            "POST",
            "/v1/customers/102/freeze",
            Some(json!({ "state": "account-frozen" })),
            "u 200 200 200 r r r s r",
        ),
        row(
            "POST",
            "/v1/customers/103/unfreeze",
            Some(json!({ "state": "account-frozen" })),
            "u 200 200 200 r r r s r",
        ),
        row(
            "POST",
            "/v1/customers/102/association",
            Some(json!({ "association": "referral" })),
            "u r 422:partner-admin-only 200 r r r s r",
        ),
        row(
            "POST",
            "/v1/customers/102/unbind",
            None,
            "u r 422:partner-admin-only 422:orders-awaiting-payment r r r s r",
        ),
        row(
            "POST",
            "/v1/customers/102/real-name",
            Some(json!({ "customer_type": "individual" })),
            "u 422:real-name-state 422:real-name-state 422:real-name-state s s 422:real-name-state s 422:real-name-state",
        ),
        row(
            "POST",
            "/v1/customers/102/real-name/result",
            Some(json!({ "verified": true })),
            "u 422:real-name-state r r r r r r r",
        ),
        row(
            "POST",
            "/v1/customers/102/manager",
            Some(json!({ "manager_id": 501 })),
            "u r 422:assignment-not-permitted 200 r s r s r",
        ),
        row(
            "POST",
            "/v1/customers/102/budget",
            Some(json!({ "amount": "1000.00" })),
            "u r 200 200 r r r s r",
        ),
        row(
            "GET",
            "/v1/customers/102/authorization",
            None,
            "u 200 200 200 s s 200 s 200",
        ),
        row(
            "POST",
            "/v1/customers/102/authorization",
            Some(json!({ "agree_terms": true })),
            "u r 422:not-of-partner 200 s s 200 s r",
        ),
        Row {
            method: "POST",
            path: "/v1/customers/102/authorization/grant",
            body: None,
            setup: Some(a_pending_authorization_request_to_102),
            expect: "u r r r r r r r 200",
        },
        Row {
            method: "POST",
            path: "/v1/customers/102/authorization/refuse",
            body: None,
            setup: Some(a_pending_authorization_request_to_102),
            expect: "u r r r r r r r 200",
        },
        row(
            "POST",
            "/v1/customers/102/authorization/revoke",
            None,
            "u 200 r r r r r r 200",
        ),
        row("GET", "/v1/accounts?partner_id=2", None, "u 200 200 200 r r r s r"),
        row("GET", "/v1/accounts/6/ledger", None, "u 200 200 200 s s 200 s 200"),
        row(
            "POST",
            "/v1/customers/102/allocations",
            Some(transfer.clone()),
            "u r 422:not-of-partner 204 r r r s r",
        ),
        row(
            "POST",
            "/v1/customers/102/reclaims",
            Some(transfer.clone()),
            "u r 422:not-of-partner 204 r r r s r",
        ),
        row(
            "POST",
            "/v1/partners/2/top-ups",
            Some(transfer.clone()),
            "u 200 r r r r r r r",
        ),
        row("GET", "/v1/coupon-quotas?partner_id=2", None, "u 200 s 200 r r r s r"),
        row(
            "POST",
            "/v1/coupons",
            Some(json!({ "quota_id": 2, "customer_id": 102, "face": "10.00",
                "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2030-01-01T00:00:00Z" })),
            "u r s 201 r r r s r",
        ),
        row(
            "GET",
            "/v1/coupons?customer_id=102",
            None,
            "u 200 200 200 s s 200 s 200",
        ),
        row(
            "POST",
            "/v1/coupons/1/reclaim",
            None,
            "u r 404:coupon-not-found 404:coupon-not-found r r r 404:coupon-not-found r",
        ),
        row("POST", "/v1/quotes", Some(quote.clone()), "u 201 201 201 s s 201 s 201"),
        row(
            "POST",
            "/v1/quotes/on-demand",
            Some(
                json!({ "customer_id": 102, "currency": "CNY", "lines": [{ "product_id": 1002, "hours": 10, "quantity": 1 }] }),
            ),
            "u 201 201 201 s s 201 s 201",
        ),
        row(
            "POST",
            "/v1/quotes/renewal",
            Some(json!({ "resource_id": 1, "period_count": 1 })),
            "u 201 201 201 s s 201 s 201",
        ),
        row(
            "POST",
            "/v1/quotes/spec-change",
            Some(json!({ "resource_id": 1, "product_id": 2002 })),
            "u 201 201 201 s s 201 s 201",
        ),
        Row {
            method: "POST",
            path: "/v1/orders",
            body: Some(Body::Json(json!({ "quote_id": 1 }))),
            setup: Some(quote_of_102),
            expect: "u 201 201 201 s s 201 s 201",
        },
        row("GET", "/v1/orders?customer_id=102", None, "u 200 200 200 s s 200 s 200"),
        row("GET", "/v1/orders/9004", None, "u 200 200 200 s s 200 s 200"),
        row(
            "POST",
            "/v1/orders/9004/payments",
            Some(json!({})),
            "u r 422:not-of-partner 201 s s r s 201",
        ),
        Row {
            method: "POST",
            path: "/v1/orders/9004/coupons",
            body: Some(Body::Json(json!({ "coupon_ids": [1] }))),
            setup: Some(a_coupon_for_102),
            expect: "u 200 200 200 s s 200 s 200",
        },
        row("POST", "/v1/orders/9004/cancel", None, "u 200 200 200 s s 200 s 200"),
        row("POST", "/v1/orders/9004/payment-requests", None, "u r r r r r r r 204"),
        Row {
            method: "POST",
            path: "/v1/orders/9004/payment-requests/reject",
            body: None,
            setup: Some(customer_asks_partner_to_pay),
            expect: "u r 422:no-pending-payment-request 204 r r r s r",
        },
        Row {
            method: "POST",
            path: "/v1/orders/9004/refunds",
            body: Some(Body::Json(json!({ "amount": "100.00" }))),
            setup: Some(customer_pays_9004),
            expect: "u 201 201 201 s s 201 s r",
        },
        row(
            "GET",
            "/v1/customers/102/resources",
            None,
            "u 200 200 200 s s 200 s 200",
        ),
        row(
            "POST",
            "/v1/resources/1/renewals",
            Some(json!({ "period_count": 1 })),
            "u 201 201 201 s s 201 s 201",
        ),
        row(
            "POST",
            "/v1/resources/1/unsubscribe",
            None,
            "u 201 201 201 s s 201 s 201",
        ),
        row(
            "PUT",
            "/v1/resources/1/auto-renew",
            Some(json!({ "enabled": true })),
            "u 200 200 200 s s 200 s 200",
        ),
        row(
            "GET",
            "/v1/customers/101/invoice-info",
            None,
            "u 200 200 200 200 200 s s s",
        ),
        row(
            "PUT",
            "/v1/customers/102/invoice-info",
            Some(json!({ "title_type": "individual", "title": "Zhang San" })),
            "u 200 200 200 s s 200 s 200",
        ),
        row(
            "POST",
            "/v1/invoices",
            Some(
                json!({ "customer_id": 101, "scope": { "basis": "order", "order": 9001 },
                "kind": "vat-general", "medium": "electronic", "currency": "CNY" }),
            ),
            "u 201 201 201 201 201 s s s",
        ),
        row(
            "GET",
            "/v1/invoices?customer_id=101",
            None,
            "u 200 200 200 200 200 s s s",
        ),
        row(
            "POST",
            "/v1/opportunities",
            Some(
                json!({ "customer_name": "acme", "budget": "1m", "decision_maker": "cto", "need": "cloud migration",
                "timeline": "Q1", "monthly_revenue": "20000" }),
            ),
            "u r 201 201 201 201 201 201 r",
        ),
        row(
            "GET",
            "/v1/opportunities?partner_id=2",
            None,
            "u 200 s 200 200 200 200 s r",
        ),
        row(
            "POST",
            "/v1/approvals/check",
            Some(
                json!({ "kind": "refund", "customer_id": 102, "order_id": 9003, "amount": "10.00", "currency": "CNY" }),
            ),
            "u 200 200 200 s s 200 s r",
        ),
        row("GET", "/v1/plugins", None, "u 200 200 200 200 200 200 200 r"),
        Row {
            method: "POST",
            path: "/v1/plugins",
            body: Some(Body::Upload),
            setup: None,
            expect: "u 201 n 201 r r r n r",
        },
        Row {
            method: "GET",
            path: "/v1/plugins/2/extra-rule/0.1.0",
            body: None,
            setup: Some(an_unbound_plugin_of_reseller_2),
            expect: "u 200 s 200 200 200 200 s r",
        },
        Row {
            method: "DELETE",
            path: "/v1/plugins/2/extra-rule/0.1.0",
            body: None,
            setup: Some(an_unbound_plugin_of_reseller_2),
            expect: "u 204 n 204 r r r n r",
        },
        Row {
            method: "POST",
            path: "/v1/bindings",
            body: Some(Body::Json(
                json!({ "world": "pricing-rule", "scope": "partner", "scope_id": 2, "owner": 2,
                "plugin": "extra-rule", "version": "0.1.0", "position": 9 }),
            )),
            setup: Some(an_unbound_plugin_of_reseller_2),
            expect: "u 201 n 201 r r r n r",
        },
        row("GET", "/v1/bindings", None, "u 200 200 200 200 200 200 200 r"),
        row(
            "PATCH",
            "/v1/bindings/4",
            Some(json!({ "enabled": false })),
            "u 200 n 200 r r r n r",
        ),
        row(
            "POST",
            "/v1/bindings/4/rollback",
            None,
            "u 409:no-previous-version n 409:no-previous-version r r r n r",
        ),
        row("DELETE", "/v1/bindings/4", None, "u 204 n 204 r r r n r"),
        row("GET", "/v1/invocations", None, "u 200 200 200 r r r 200 r"),
        // The seller's view of a quote: the reseller's rules ran over customer 102's whole
        // quote, and their inputs (naming the customer) are the reseller's to read, not the
        // seller's; the seller's own rule saw no customer (authority::a_sellers_rule_...).
        Row {
            method: "GET",
            path: "/v1/invocations?owner=2",
            body: None,
            setup: Some(quote_of_102),
            expect: "u 200 s 200 r r r s r",
        },
        row("GET", "/v1/scheduler/runs", None, "u 200 r r r r r r r"),
        row("POST", "/v1/partners/3/freeze", None, "u 204 204 s r r r s r"),
        row("POST", "/v1/partners/3/unfreeze", None, "u 204 204 s r r r s r"),
        row("GET", "/v1/approval-tasks", None, "u 200 200 200 200 200 200 200 r"),
        Row {
            method: "GET",
            path: "/v1/approval-tasks/1",
            body: None,
            setup: Some(an_escalated_refund_of_102),
            expect: "u 200 s 200 s s 200 s r",
        },
        // Four eyes: the reseller admin asked for task 1, so it decides it neither way.
        Row {
            method: "POST",
            path: "/v1/approval-tasks/1/approve",
            body: Some(Body::Json(json!({}))),
            setup: Some(an_escalated_refund_of_102),
            expect: "u 200 s 403:self-approval s s r s r",
        },
        Row {
            method: "POST",
            path: "/v1/approval-tasks/1/reject",
            body: Some(Body::Json(json!({ "note": "no" }))),
            setup: Some(an_escalated_refund_of_102),
            expect: "u 200 s 403:self-approval s s r s r",
        },
        // The same task asked for by the operator: the reseller admin decides it, not the
        // operator.
        Row {
            method: "POST",
            path: "/v1/approval-tasks/1/approve",
            body: Some(Body::Json(json!({}))),
            setup: Some(an_escalated_refund_of_102_asked_by_the_operator),
            expect: "u 403:self-approval s 200 s s r s r",
        },
        // A platform rule hands task 1 to the platform operator: no partner role decides it.
        Row {
            method: "POST",
            path: "/v1/approval-tasks/1/approve",
            body: Some(Body::Json(json!({}))),
            setup: Some(a_refund_of_102_escalated_to_the_operator),
            expect: "u 200 s r r r r s r",
        },
        Row {
            method: "POST",
            path: "/v1/approval-tasks/1/reject",
            body: Some(Body::Json(json!({}))),
            setup: Some(a_refund_of_102_escalated_to_the_operator),
            expect: "u 200 s r r r r s r",
        },
        Row {
            method: "POST",
            path: "/v1/invocations/3/replay",
            body: None,
            setup: Some(quote_of_102),
            expect: "u 200 n 200 r r r n r",
        },
        row("GET", "/v1/bindings/6/shadow-diffs", None, "u 200 n n r r r 200 r"),
    ]
}

#[test]
fn every_endpoint_for_every_role_is_allowed_or_refused_exactly() {
    let mut mismatches = Vec::new();
    let rows = rows();
    for row in &rows {
        let tokens: Vec<&str> = row.expect.split_whitespace().collect();
        assert_eq!(
            tokens.len(),
            ROLES.len(),
            "{} {}: one outcome per role",
            row.method,
            row.path
        );
        for ((role, key), token) in ROLES.iter().zip(tokens) {
            let state = api_state();
            if let Some(setup) = row.setup {
                setup(&state);
            }
            let app = router(state);
            let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
            let (body, headers) = match &row.body {
                Some(Body::Json(value)) => (value.to_string().into_bytes(), vec![("idempotency-key", "matrix-1")]),
                Some(Body::Upload) => (upload_body(), vec![("content-type", content_type.as_str())]),
                None => (Vec::new(), vec![("idempotency-key", "matrix-1")]),
            };
            let (status, answer) = call_raw(&app, row.method, row.path, *key, body, &headers);
            let (want_status, want_code) = expected(token);
            let code = answer["code"].as_str().unwrap_or("");
            if status.as_u16() != want_status || (status.as_u16() >= 400 && code != want_code) {
                mismatches.push(format!(
                    "{} {} as {role}: expected {token}, got {} {code} ({})",
                    row.method,
                    row.path,
                    status.as_u16(),
                    answer["message"].as_str().unwrap_or("")
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} cells differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(rows.len() >= 60, "every endpoint has a row");
}

#[test]
fn the_matrix_covers_every_route_of_the_openapi_document() {
    let (_, doc) = pchost_server::app::router_and_openapi(api_state());
    let doc = serde_json::to_value(doc).expect("document");
    let rows = rows();
    let mut missing = Vec::new();
    for (template, methods) in doc["paths"].as_object().expect("paths") {
        for method in methods.as_object().expect("methods").keys() {
            let covered = rows.iter().any(|row| {
                let path = row.path.split('?').next().unwrap_or(row.path);
                row.method.eq_ignore_ascii_case(method) && matches_template(template, path)
            });
            if !covered {
                missing.push(format!("{} {template}", method.to_uppercase()));
            }
        }
    }
    assert!(missing.is_empty(), "routes without a matrix row: {missing:?}");
}

fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}
