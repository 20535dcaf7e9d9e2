//! Rule 23 over the HTTP API: a partner operates inside a customer's account only with its
//! authorization, which the partner requests (agreeing to the terms the first time) and the
//! customer grants, refuses or revokes; what is done under it records both principals
//! (rule 21). The demo's customers 101, 102 and 103 authorized reseller 2; 106 was never asked.

use crate::support::*;
use axum::http::StatusCode;
use pchost_server::app::router;
use serde_json::{Value, json};

fn authorization(customer: i64) -> String {
    format!("/v1/customers/{customer}/authorization")
}

/// A POST with an idempotency key.
fn keyed(app: &axum::Router, key: &str, path: &str, body: Value, idempotency: &str) -> (StatusCode, Value) {
    call_raw(
        app,
        "POST",
        path,
        Some(key),
        body.to_string(),
        &[("idempotency-key", idempotency)],
    )
}

/// A key for `customer`, created by reseller 2's admin.
fn customer_key(app: &axum::Router, customer: i64) -> String {
    let (status, created) = call(
        app,
        "POST",
        "/v1/api-keys",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "name": "customer", "customer_id": customer })),
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["api_key"].as_str().expect("the secret").to_owned()
}

/// A saved subscription quote of `months` months of `quantity` units of product 1001.
fn quote(app: &axum::Router, key: &str, customer: i64, months: u32, quantity: u32) -> Value {
    let (status, quote) = call(
        app,
        "POST",
        "/v1/quotes",
        Some(key),
        Some(json!({ "customer_id": customer, "currency": "CNY",
            "lines": [{ "product_id": 1001, "period": "month", "period_count": months, "quantity": quantity }] })),
    );
    assert_eq!(status, StatusCode::CREATED, "{quote}");
    quote
}

/// `(status, code)` of an answer.
fn outcome(answer: (StatusCode, Value)) -> (u16, String) {
    let (status, body) = answer;
    let code = body["code"]
        .as_str()
        .or(body["status"].as_str())
        .unwrap_or("")
        .to_owned();
    (status.as_u16(), code)
}

fn refused(code: &str) -> (u16, String) {
    (403, code.to_owned())
}

#[test]
fn rule_23_the_partner_requests_agreeing_to_the_terms_and_the_customer_grants_refuses_or_revokes() {
    let app = router(api_state());
    let customer = customer_key(&app, 106);
    let path = authorization(106);
    let post =
        |key: &str, suffix: &str, body: Option<Value>| call(&app, "POST", &format!("{path}{suffix}"), Some(key), body);
    let (status, none) = call(&app, "GET", &path, Some(keys::RESELLER_ADMIN), None);
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_eq!(
        none,
        json!({ "customer_id": 106, "partner_id": 2, "status": "none", "terms_agreed_at": null, "updated_at": null, "history": [] })
    );

    // The first request agrees to the operate-on-behalf terms.
    for body in [json!({}), json!({ "agree_terms": false })] {
        let (status, body) = post(keys::RESELLER_ADMIN, "", Some(body));
        assert_eq!(
            (status.as_u16(), body["code"].as_str()),
            (422, Some("operate-terms-not-agreed")),
            "{body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains("rule 23")),
            "{body}"
        );
    }
    assert_eq!(
        outcome(post(&customer, "/grant", None)),
        (422, "authorization-state".into()),
        "nothing to grant yet"
    );
    let (status, requested) = post(keys::RESELLER_ADMIN, "", Some(json!({ "agree_terms": true })));
    assert_eq!(
        (status, requested["status"].as_str()),
        (StatusCode::OK, Some("requested")),
        "{requested}"
    );
    assert!(requested["terms_agreed_at"].is_string(), "{requested}");
    assert_eq!(
        outcome(post(keys::RESELLER_ADMIN, "", Some(json!({ "agree_terms": true })))),
        (422, "authorization-state".into()),
        "already pending"
    );

    // Only the customer answers; the operator neither grants nor refuses; another customer
    // does not see it; a distributor asks nothing of its reseller's customers.
    for key in [keys::RESELLER_ADMIN, keys::MANAGER, keys::OPERATOR] {
        assert_eq!(
            outcome(post(key, "/grant", None)),
            refused("role-not-permitted"),
            "{key} grants"
        );
        assert_eq!(
            outcome(post(key, "/refuse", None)),
            refused("role-not-permitted"),
            "{key} refuses"
        );
    }
    assert_eq!(
        outcome(post(keys::CUSTOMER_102, "/grant", None)),
        refused("out-of-scope")
    );
    assert_eq!(
        outcome(post(keys::CUSTOMER_102, "", Some(json!({ "agree_terms": true })))),
        refused("role-not-permitted")
    );
    assert_eq!(
        outcome(post(keys::OPERATOR, "", Some(json!({ "agree_terms": true })))),
        refused("role-not-permitted")
    );
    assert_eq!(
        outcome(post(keys::DISTRIBUTOR_ADMIN, "", Some(json!({ "agree_terms": true })))),
        (422, "not-of-partner".into())
    );
    assert_eq!(
        outcome(post(keys::SALESPERSON, "", Some(json!({ "agree_terms": true })))),
        refused("out-of-scope"),
        "rule 16: 106 is not the salesperson's"
    );

    assert_eq!(
        outcome(post(&customer, "/revoke", None)),
        (422, "authorization-state".into()),
        "only a grant is revoked"
    );
    assert_eq!(outcome(post(&customer, "/refuse", None)), (200, "refused".into()));
    assert_eq!(
        outcome(post(&customer, "/grant", None)),
        (422, "authorization-state".into()),
        "a refused request is asked again first"
    );
    // Asked again, by the customer's manager, with no new agreement.
    assert_eq!(
        outcome(post(keys::MANAGER, "", Some(json!({})))),
        (200, "requested".into())
    );
    assert_eq!(outcome(post(&customer, "/grant", None)), (200, "granted".into()));
    assert_eq!(
        outcome(post(keys::RESELLER_ADMIN, "", Some(json!({})))),
        (200, "granted".into()),
        "asking while granted changes nothing"
    );
    assert_eq!(
        outcome(post(&customer, "/refuse", None)),
        (422, "authorization-state".into()),
        "a grant is revoked, not refused"
    );
    for key in [keys::RESELLER_ADMIN, keys::MANAGER] {
        assert_eq!(
            outcome(post(key, "/revoke", None)),
            refused("role-not-permitted"),
            "{key} revokes"
        );
    }
    assert_eq!(outcome(post(&customer, "/revoke", None)), (200, "revoked".into()));
    assert_eq!(
        outcome(post(keys::OPERATOR, "/revoke", None)),
        (422, "authorization-state".into())
    );
    // The operator may revoke a grant too (it takes power away, never gives it).
    assert_eq!(
        outcome(post(keys::RESELLER_ADMIN, "", Some(json!({})))),
        (200, "requested".into())
    );
    assert_eq!(outcome(post(&customer, "/grant", None)), (200, "granted".into()));
    assert_eq!(outcome(post(keys::OPERATOR, "/revoke", None)), (200, "revoked".into()));

    // Rule 21: every move with who made it, as the customer and its partner's staff see it.
    let (status, seen) = call(&app, "GET", &path, Some(&customer), None);
    assert_eq!(status, StatusCode::OK, "{seen}");
    let history: Vec<(&str, &str)> = seen["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| (e["status"].as_str().unwrap_or(""), e["by"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        history,
        [
            ("requested", "partner-admin:2/500"),
            ("refused", "customer:2/106"),
            ("requested", "customer-manager:2/501"),
            ("granted", "customer:2/106"),
            ("revoked", "customer:2/106"),
            ("requested", "partner-admin:2/500"),
            ("granted", "customer:2/106"),
            ("revoked", "platform-operator:/"),
        ]
    );
    assert_eq!(seen["status"], "revoked");
    assert_eq!(call(&app, "GET", &path, Some(keys::MANAGER), None).1, seen);
    assert_eq!(
        outcome(call(&app, "GET", &path, Some(keys::SALESPERSON), None)),
        refused("out-of-scope")
    );
}

#[test]
fn rule_23_each_action_in_the_customers_account_is_refused_once_revoked_and_allowed_after_a_new_grant() {
    let state = api_state();
    let app = router(state.clone());
    let path = authorization(102);
    let admin = keys::RESELLER_ADMIN;
    // Pricing is not acting in the account: the partner prices while it may not buy.
    let staff_quote = quote(&app, admin, 102, 1, 1);
    let invocations = || scalar(&state, "SELECT COUNT(*) FROM invocations");
    let quotes = || scalar(&state, "SELECT COUNT(*) FROM quotes");
    let orders = || scalar(&state, "SELECT COUNT(*) FROM orders");

    assert_eq!(
        outcome(call(
            &app,
            "POST",
            &format!("{path}/revoke"),
            Some(keys::CUSTOMER_102),
            None
        )),
        (200, "revoked".into())
    );
    let (asked, priced, ordered) = (invocations(), quotes(), orders());
    let refused_as = |answer: (StatusCode, Value), what: &str, why: &str| {
        let (status, body) = answer;
        assert_eq!(
            (status.as_u16(), body["code"].as_str()),
            (403, Some("not-authorized")),
            "{what}: {body}"
        );
        let message = body["message"].as_str().unwrap_or("");
        assert!(
            message.contains("partner 2") && message.contains(why) && message.contains("rule 23"),
            "{what}: {message}"
        );
    };
    let not_authorized = |answer, what: &str| refused_as(answer, what, "(revoked)");
    let order = json!({ "quote_id": staff_quote["quote_id"] });
    not_authorized(keyed(&app, admin, "/v1/orders", order.clone(), "o-1"), "buy");
    not_authorized(
        keyed(&app, keys::DISTRIBUTOR_ADMIN, "/v1/orders", order.clone(), "o-1"),
        "the distributor buys for its reseller's customer",
    );
    not_authorized(
        keyed(&app, keys::SALESPERSON, "/v1/orders", order.clone(), "o-1"),
        "the customer's salesperson buys",
    );
    not_authorized(
        keyed(&app, admin, "/v1/orders/9004/payments", json!({}), "p-1"),
        "pay on its behalf",
    );
    not_authorized(
        keyed(
            &app,
            admin,
            "/v1/resources/1/renewals",
            json!({ "period_count": 1 }),
            "r-1",
        ),
        "renew",
    );
    not_authorized(
        keyed(&app, admin, "/v1/resources/1/unsubscribe", json!({}), "u-1"),
        "unsubscribe",
    );
    not_authorized(
        call(
            &app,
            "PUT",
            "/v1/resources/1/auto-renew",
            Some(admin),
            Some(json!({ "enabled": true })),
        ),
        "auto-renew",
    );
    assert_eq!(
        (invocations(), quotes(), orders()),
        (asked, priced, ordered),
        "refused before any rule was asked, any renewal priced or any order written"
    );
    // Prices are still quoted, the spec change too: nothing is done in the account.
    quote(&app, admin, 102, 1, 1);
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes/spec-change",
        Some(admin),
        Some(json!({ "resource_id": 1, "product_id": 2002 })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The customer acts in its own account without any authorization.
    let own = quote(&app, keys::CUSTOMER_102, 102, 1, 1);
    let (status, body) = keyed(
        &app,
        keys::CUSTOMER_102,
        "/v1/orders",
        json!({ "quote_id": own["quote_id"] }),
        "own-1",
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["order"]["created_by"], "customer:2/102");
    let (status, body) = call(
        &app,
        "PUT",
        "/v1/resources/1/auto-renew",
        Some(keys::CUSTOMER_102),
        Some(json!({ "enabled": false })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");

    // Asked again (no new agreement) and granted: every action is allowed again.
    assert_eq!(
        outcome(call(&app, "POST", &path, Some(admin), Some(json!({})))),
        (200, "requested".into())
    );
    refused_as(
        keyed(&app, admin, "/v1/orders", order.clone(), "o-2"),
        "requested is not granted",
        "(requested, not yet granted)",
    );
    assert_eq!(
        outcome(call(
            &app,
            "POST",
            &format!("{path}/grant"),
            Some(keys::CUSTOMER_102),
            None
        )),
        (200, "granted".into())
    );
    let (status, bought) = keyed(&app, admin, "/v1/orders", order, "o-3");
    assert_eq!(status, StatusCode::CREATED, "{bought}");
    let (status, paid) = keyed(&app, admin, "/v1/orders/9004/payments", json!({}), "p-2");
    assert_eq!(
        (status, paid["payer"].as_str()),
        (StatusCode::CREATED, Some("partner")),
        "{paid}"
    );
    let (status, renewal) = keyed(
        &app,
        admin,
        "/v1/resources/1/renewals",
        json!({ "period_count": 1 }),
        "r-2",
    );
    assert_eq!(status, StatusCode::CREATED, "{renewal}");
    let (status, body) = call(
        &app,
        "PUT",
        "/v1/resources/1/auto-renew",
        Some(admin),
        Some(json!({ "enabled": true })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, unsubscribed) = keyed(&app, admin, "/v1/resources/1/unsubscribe", json!({}), "u-2");
    assert_eq!(status, StatusCode::CREATED, "{unsubscribed}");

    // Rule 21: both principals, the staff member and the customer it acted for.
    for created in [&bought["order"], &renewal["order"]] {
        assert_eq!(
            (created["customer_id"].as_i64(), created["created_by"].as_str()),
            (Some(102), Some("partner-admin:2/500")),
            "{created}"
        );
        let (_, got) = call(
            &app,
            "GET",
            &format!("/v1/orders/{}", created["id"]),
            Some(keys::CUSTOMER_102),
            None,
        );
        assert_eq!(
            got["order"]["created_by"], "partner-admin:2/500",
            "the customer sees who acted in its account"
        );
    }
    let (_, accounts) = call(&app, "GET", "/v1/accounts", Some(admin), None);
    let cash = accounts
        .as_array()
        .and_then(|a| a.iter().find(|a| a["kind"] == "cash"))
        .expect("the reseller's cash account");
    let (_, ledger) = call(
        &app,
        "GET",
        &format!("/v1/accounts/{}/ledger", cash["id"]),
        Some(admin),
        None,
    );
    let payment = ledger
        .as_array()
        .and_then(|l| l.iter().find(|e| e["order"] == 9004))
        .expect("the payment of 9004");
    assert_eq!(
        (
            payment["amount"].as_str(),
            payment["actor"].as_str(),
            payment["on_behalf_of"].as_str()
        ),
        (Some("-900.00"), Some("partner-admin:2/500"), Some("customer:102"))
    );
}

#[test]
fn rule_23_an_approval_task_held_before_a_revocation_fails_when_approved() {
    let state = api_state();
    let app = router(state.clone());
    let admin = keys::RESELLER_ADMIN;
    // 11 months of 4 units (9,504.00) is more than 5 times customer 102's largest paid order:
    // the reseller's payment-on-behalf rule sends paying it to a partner admin.
    let big = quote(&app, admin, 102, 11, 4);
    let (status, bought) = keyed(&app, admin, "/v1/orders", json!({ "quote_id": big["quote_id"] }), "o-1");
    assert_eq!(status, StatusCode::CREATED, "{bought}");
    let order = bought["order"]["id"].as_i64().expect("order");
    let (status, held) = keyed(&app, admin, &format!("/v1/orders/{order}/payments"), json!({}), "p-1");
    assert_eq!(
        (status, held["status"].as_str()),
        (StatusCode::ACCEPTED, Some("pending-approval")),
        "{held}"
    );
    let task = held["task"]["id"].as_i64().expect("task");

    let revoke = format!("{}/revoke", authorization(102));
    assert_eq!(
        outcome(call(&app, "POST", &revoke, Some(keys::CUSTOMER_102), None)),
        (200, "revoked".into())
    );
    let (status, decided) = call(
        &app,
        "POST",
        &format!("/v1/approval-tasks/{task}/approve"),
        Some(keys::RESELLER_ADMIN_2),
        Some(json!({})),
    );
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(
        (decided["status"].as_str(), decided["outcome"]["code"].as_str()),
        (Some("failed"), Some("not-authorized")),
        "{decided}"
    );
    let (_, got) = call(
        &app,
        "GET",
        &format!("/v1/orders/{order}"),
        Some(keys::CUSTOMER_102),
        None,
    );
    assert_eq!(got["order"]["status"], "pending-payment", "nothing was paid");
}

fn scalar(state: &pchost_server::state::AppState, sql: &str) -> i64 {
    tokio()
        .block_on(sqlx::query_scalar(sql).fetch_one(state.store.pool()))
        .expect(sql)
}
