//! Authority (issue #15): least privilege for keys, secrets that stay secret, and what a
//! tenant learns of another. Each test first reproduced the hole it names.

use crate::support::*;
use axum::http::StatusCode;
use pchost_server::app::router;
use serde_json::{Value, json};

/// Creates a key through the API; answers the status and body.
fn create_key(app: &axum::Router, key: &str, body: Value) -> (StatusCode, Value) {
    call(app, "POST", "/v1/api-keys", Some(key), Some(body))
}

/// A new key for reseller 2's admin 500, with `scopes`, made by the demo admin key.
fn admin_key(app: &axum::Router, scopes: &[&str]) -> String {
    let (status, body) = create_key(
        app,
        keys::RESELLER_ADMIN,
        json!({ "name": "narrow", "staff_id": 500, "scopes": scopes }),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["api_key"].as_str().expect("secret").to_owned()
}

#[test]
fn a_key_passes_on_no_more_than_its_own_scopes_through_keys_or_staff() {
    let app = router(api_state());
    let keys_only = admin_key(&app, &["keys:write"]);
    // Before: a `keys:write` key minted a `*` key for any staff member of its partner.
    for scopes in [
        json!(["*"]),
        json!(["orders:write"]),
        json!(["keys:write", "audit:read"]),
    ] {
        let (status, body) = create_key(
            &app,
            &keys_only,
            json!({ "name": "wider", "staff_id": 501, "scopes": scopes }),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("scope-escalation")),
            "{scopes}: {body}"
        );
    }
    // Within its scopes it may; named none, the new key gets the creator's.
    let (status, body) = create_key(
        &app,
        &keys_only,
        json!({ "name": "same", "staff_id": 501, "scopes": ["keys:read"] }),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["key"]["scopes"], json!(["keys:read"]));
    let (status, body) = create_key(&app, &keys_only, json!({ "name": "default", "staff_id": 501 }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["key"]["scopes"], json!(["keys:write"]));

    // Before: `partners:write` added a staff member (an admin, even) with a `*` key.
    let partners_only = admin_key(&app, &["partners:write"]);
    let (status, body) = call(
        &app,
        "POST",
        "/v1/staff",
        Some(&partners_only),
        Some(json!({ "role": "partner-admin" })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let new_admin = body["api_key"].as_str().expect("secret");
    let (_, me) = call(&app, "GET", "/v1/me", Some(new_admin), None);
    assert_eq!(me["scopes"], json!(["partners:write"]), "{me}");
    let (status, body) = call(&app, "GET", "/v1/orders?customer_id=102", Some(new_admin), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("scope-missing"))
    );
}

#[test]
fn a_key_expires_and_passes_on_no_later_expiry_than_its_own() {
    let app = router(api_state());
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let later = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let (status, body) = create_key(
        &app,
        keys::RESELLER_ADMIN,
        json!({ "name": "hour", "staff_id": 500, "expires_at": soon }),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["key"]["expires_at"].is_string(), "{body}");
    let hour = body["api_key"].as_str().expect("secret").to_owned();
    let (status, body) = create_key(
        &app,
        &hour,
        json!({ "name": "outlives", "staff_id": 501, "expires_at": later }),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("scope-escalation")),
        "{body}"
    );
    // With none named, the child expires with its parent.
    let (status, body) = create_key(&app, &hour, json!({ "name": "child", "staff_id": 501 }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, parent) = call(&app, "GET", "/v1/api-keys", Some(&hour), None);
    let parent_expiry = parent
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["name"] == "hour")
        .map(|k| k["expires_at"].clone());
    assert_eq!(Some(body["key"]["expires_at"].clone()), parent_expiry);
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    let (status, body) = create_key(
        &app,
        keys::RESELLER_ADMIN,
        json!({ "name": "past", "staff_id": 500, "expires_at": past }),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("expires_at")),
        "{body}"
    );
}

#[test]
fn an_expired_key_is_refused_and_a_used_key_shows_when() {
    let state = api_state();
    let app = router(state.clone());
    let (status, body) = create_key(
        &app,
        keys::RESELLER_ADMIN,
        json!({ "name": "short", "staff_id": 501, "expires_at": (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339() }),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["key"]["id"].as_i64().expect("id");
    let secret = body["api_key"].as_str().expect("secret").to_owned();
    assert_eq!(body["key"]["last_used_at"], Value::Null);
    let (status, _) = call(&app, "GET", "/v1/me", Some(&secret), None);
    assert_eq!(status, StatusCode::OK);
    let used = tokio().block_on(state.store.api_key(id)).expect("read").expect("key");
    assert!(used.last_used_at.is_some(), "{used:?}");
    // Expired (moved into the past in the store): refused like an unknown key.
    tokio()
        .block_on(
            sqlx::query("UPDATE api_keys SET expires_at = 1 WHERE id = $1")
                .bind(id)
                .execute(state.store.pool()),
        )
        .expect("expire");
    let (status, body) = call(&app, "GET", "/v1/me", Some(&secret), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid-api-key"))
    );
}

#[test]
fn a_principal_lists_and_revokes_its_own_keys_and_no_one_elses() {
    let app = router(api_state());
    // The salesperson makes no keys, but lists and revokes its own.
    let (status, body) = create_key(&app, keys::RESELLER_ADMIN, json!({ "name": "spare", "staff_id": 503 }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let spare = body["key"]["id"].as_i64().expect("id");
    let (status, listed) = call(&app, "GET", "/v1/api-keys", Some(keys::SALESPERSON), None);
    assert_eq!(status, StatusCode::OK, "{listed}");
    let names: Vec<&str> = listed
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["demo", "spare"]);
    assert!(listed.to_string().find("key_hash").is_none(), "no hash: {listed}");
    // Another principal's key, or a key that does not exist: the same refusal.
    let (_, all) = call(&app, "GET", "/v1/api-keys", Some(keys::OPERATOR), None);
    let operators = all
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["principal"]["kind"] == "operator")
        .and_then(|k| k["id"].as_i64())
        .expect("the operator's key");
    for id in [operators, 4242] {
        let (status, body) = call(
            &app,
            "DELETE",
            &format!("/v1/api-keys/{id}"),
            Some(keys::SALESPERSON),
            None,
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("out-of-scope")),
            "{id}: {body}"
        );
    }
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/v1/api-keys/{spare}"),
        Some(keys::SALESPERSON),
        None,
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The partner admin lists its partner's keys only.
    let (_, reseller) = call(&app, "GET", "/v1/api-keys", Some(keys::RESELLER_ADMIN), None);
    let principals: std::collections::BTreeSet<String> = reseller
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["principal"].to_string())
        .collect();
    assert!(
        principals
            .iter()
            .all(|p| p.contains("\"staff\"") || p.contains("\"customer\"")),
        "{principals:?}"
    );
    assert!(
        !reseller.to_string().contains("\"id\":504"),
        "the distributor's admin is not listed"
    );
}

#[test]
fn keys_per_principal_are_capped_and_more_keys_buy_no_more_requests() {
    let state = api_state();
    let app = router(state.clone());
    let mut made = Vec::new();
    // The demo key is one of the twenty.
    for i in 1..pchost_store::keys::MAX_KEYS_PER_PRINCIPAL {
        let (status, body) = create_key(
            &app,
            keys::RESELLER_ADMIN,
            json!({ "name": format!("k{i}"), "staff_id": 503 }),
        );
        assert_eq!(status, StatusCode::CREATED, "{i}: {body}");
        made.push(body["api_key"].as_str().expect("secret").to_owned());
    }
    let (status, body) = create_key(&app, keys::RESELLER_ADMIN, json!({ "name": "21st", "staff_id": 503 }));
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("key-limit-reached")),
        "{body}"
    );

    // The rate limit counts the principal: its 20 keys share one budget.
    let tight = pchost_server::state::AppState {
        limiter: std::sync::Arc::new(pchost_server::ratelimit::RateLimiter::new(
            pchost_server::ratelimit::RateLimit {
                per_second: 1,
                burst: 5,
            },
        )),
        ..state
    };
    let app = router(tight);
    let mut answered = Vec::new();
    for key in made.iter().take(10) {
        answered.push(call(&app, "GET", "/v1/me", Some(key), None).0.as_u16());
    }
    assert_eq!(answered.iter().filter(|s| **s == 200).count(), 5, "{answered:?}");
    assert!(answered[5..].iter().all(|s| *s == 429), "{answered:?}");
}

#[test]
fn rule_25_a_verification_code_goes_to_the_phone_not_the_caller_and_is_each_partners_own() {
    // As a server without --demo: the answer carries no code.
    let mut state = api_state();
    state.reveal_codes = false;
    let app = router(state.clone());
    let phone = json!({ "phone": "+8613800000000" });
    let (status, body) = call(
        &app,
        "POST",
        "/v1/verification-codes",
        Some(keys::RESELLER_ADMIN),
        Some(phone.clone()),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["expires_at"].is_string(), "{body}");
    assert!(body.get("code").is_none(), "the code stays out of the answer: {body}");
    // Again within the minute: nothing is sent.
    let (status, body) = call(
        &app,
        "POST",
        "/v1/verification-codes",
        Some(keys::RESELLER_ADMIN),
        Some(phone.clone()),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate-limited")),
        "{body}"
    );

    // On the demo server the code comes back; another partner's request for the same phone
    // no longer replaces reseller 2's code, which still creates its customer.
    let state = api_state();
    let app = router(state);
    let (_, sent) = call(
        &app,
        "POST",
        "/v1/verification-codes",
        Some(keys::RESELLER_ADMIN),
        Some(phone.clone()),
    );
    let code = sent["code"].as_str().expect("demo answers the code").to_owned();
    let (status, other) = call(
        &app,
        "POST",
        "/v1/verification-codes",
        Some(keys::SELLER_ADMIN),
        Some(phone),
    );
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let (status, created) = call(
        &app,
        "POST",
        "/v1/customers",
        Some(keys::RESELLER_ADMIN),
        Some(
            json!({ "account_name": "maple", "association": "resale", "customer_type": "individual",
            "country": "CN", "phone": "+8613800000000", "verification_code": code }),
        ),
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[test]
fn a_sellers_rule_and_its_audit_see_no_customer_nor_partner() {
    let app = router(api_state());
    let (status, quote) = call(
        &app,
        "POST",
        "/v1/quotes",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "customer_id": 102, "currency": "CNY",
            "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 60 }] })),
    );
    assert_eq!(status, StatusCode::CREATED, "{quote}");
    // Seller 10's volume discount ran (60 units earn it) over the seller's view.
    let (status, audit) = call(&app, "GET", "/v1/invocations", Some(keys::SELLER_ADMIN), None);
    assert_eq!(status, StatusCode::OK, "{audit}");
    let records = audit.as_array().expect("records");
    assert!(!records.is_empty(), "the seller's rule ran");
    for record in records {
        assert_eq!(record["owner"], 10, "{record}");
        let input: Value = serde_json::from_str(record["input"].as_str().expect("input")).expect("JSON");
        assert_eq!(
            (&input["customer"], &input["partner"]),
            (&Value::Null, &Value::Null),
            "the seller's view names no customer nor partner: {input}"
        );
    }
    // The reseller's own rule, over the whole quote, still sees its customer.
    let (_, audit) = call(&app, "GET", "/v1/invocations", Some(keys::RESELLER_ADMIN), None);
    let markup = audit
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["plugin"].as_str().is_some_and(|p| p.starts_with("reseller-markup")))
        .expect("the reseller's markup ran");
    let input: Value = serde_json::from_str(markup["input"].as_str().expect("input")).expect("JSON");
    assert_eq!(input["customer"]["id"], 102);
}

const BOUNDARY: &str = "authority-boundary";

/// A multipart upload of reseller 2's markup rule as `2/signed-markup@<version>`, with a
/// `signature` part when given.
fn upload(
    app: &axum::Router,
    key: &str,
    manifest: &str,
    component: &[u8],
    signature: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{manifest}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"component\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(component);
    body.extend(b"\r\n");
    if let Some(signature) = signature {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\n{signature}\r\n")
                .into_bytes(),
        );
    }
    body.extend(format!("--{BOUNDARY}--\r\n").into_bytes());
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    call_raw(
        app,
        "POST",
        "/v1/plugins",
        Some(key),
        body,
        &[("content-type", content_type.as_str())],
    )
}

fn markup_manifest(version: &str) -> String {
    format!(
        "name = \"signed-markup\"\nversion = \"{version}\"\nworld = \"pricing-rule\"\nworld-version = \"0.3.0\"\nowner = 2\n"
    )
}

/// Registers a new publisher key with the operator (for `owner` only, when given); returns
/// its secret seed and fingerprint.
fn trusted_publisher(app: &axum::Router, owner: Option<i64>) -> (String, String) {
    let (seed, public) = pchost_extensions::signing::generate_signing_key().expect("key");
    let (status, key) = call(
        app,
        "POST",
        "/v1/publisher-keys",
        Some(keys::OPERATOR),
        Some(json!({ "name": "reseller 2 release key", "public_key": public, "owner": owner })),
    );
    assert_eq!(status, StatusCode::CREATED, "{key}");
    (seed, key["fingerprint"].as_str().expect("fingerprint").to_owned())
}

#[test]
fn where_signatures_are_required_only_a_plugin_signed_by_a_trusted_key_installs_and_binds() {
    let app = router(api_state());
    let component = pchost_test_plugins::read(pchost_test_plugins::RESELLER_MARKUP);
    let (seed, fingerprint) = trusted_publisher(&app, None);
    // Unsigned uploads install while the partner scope requires nothing.
    let (status, body) = upload(&app, keys::RESELLER_ADMIN, &markup_manifest("1.0.0"), &component, None);
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["signer"], Value::Null);
    let (status, policies) = call(
        &app,
        "PUT",
        "/v1/signature-policies/partner",
        Some(keys::OPERATOR),
        Some(json!({ "required": true })),
    );
    assert_eq!(status, StatusCode::OK, "{policies}");
    assert_eq!(
        policies,
        json!([{ "scope": "platform", "required": false }, { "scope": "seller", "required": false },
               { "scope": "partner", "required": true }])
    );
    let refused = |(status, body): (StatusCode, Value), code: &str| {
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{body}"
        );
    };
    // Unsigned.
    refused(
        upload(&app, keys::RESELLER_ADMIN, &markup_manifest("1.1.0"), &component, None),
        "signature-required",
    );
    // Tampered: one byte of the component, or of the manifest, changed after signing.
    let manifest = markup_manifest("1.1.0");
    let signature = pchost_extensions::signing::sign(&seed, manifest.as_bytes(), &component).expect("sign");
    let mut tampered = component.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    refused(
        upload(&app, keys::RESELLER_ADMIN, &manifest, &tampered, Some(&signature)),
        "signature-invalid",
    );
    refused(
        upload(
            &app,
            keys::RESELLER_ADMIN,
            &markup_manifest("1.1.1"),
            &component,
            Some(&signature),
        ),
        "signature-invalid",
    );
    refused(
        upload(
            &app,
            keys::RESELLER_ADMIN,
            &manifest,
            &component,
            Some("not a signature"),
        ),
        "signature-invalid",
    );
    // Signed by a key the host does not trust, or trusts for another owner only.
    let (stranger, _) = pchost_extensions::signing::generate_signing_key().expect("key");
    let untrusted = pchost_extensions::signing::sign(&stranger, manifest.as_bytes(), &component).expect("sign");
    refused(
        upload(&app, keys::RESELLER_ADMIN, &manifest, &component, Some(&untrusted)),
        "signer-untrusted",
    );
    let (sellers, _) = trusted_publisher(&app, Some(10));
    let sellers_only = pchost_extensions::signing::sign(&sellers, manifest.as_bytes(), &component).expect("sign");
    refused(
        upload(&app, keys::RESELLER_ADMIN, &manifest, &component, Some(&sellers_only)),
        "signer-untrusted",
    );
    // Signed by the trusted key: installed, and its signer shown and kept.
    let (status, body) = upload(&app, keys::RESELLER_ADMIN, &manifest, &component, Some(&signature));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["signer"]["fingerprint"], fingerprint.as_str(), "{body}");
    let (_, versions) = call(&app, "GET", "/v1/plugins?owner=2", Some(keys::RESELLER_ADMIN), None);
    let signer_of = |version: &str| {
        versions
            .as_array()
            .expect("versions")
            .iter()
            .find(|v| v["name"] == "signed-markup" && v["version"] == version)
            .map(|v| v["signer"].clone())
    };
    assert_eq!(signer_of("1.1.0"), Some(json!(fingerprint)));
    assert_eq!(signer_of("1.0.0"), Some(Value::Null));

    // Binding: the unsigned 1.0.0 no longer binds in the partner scope, the signed one does.
    let bind = |version: &str| {
        call(
            &app,
            "POST",
            "/v1/bindings",
            Some(keys::RESELLER_ADMIN),
            Some(json!({ "world": "pricing-rule", "plugin": "signed-markup", "version": version, "position": 90 })),
        )
    };
    refused(bind("1.0.0"), "signature-required");
    let (status, bound) = bind("1.1.0");
    assert_eq!(status, StatusCode::CREATED, "{bound}");
    // A rollback or upgrade to the unsigned version is no way around it.
    let id = bound["id"].as_i64().expect("binding");
    refused(
        call(
            &app,
            "PATCH",
            &format!("/v1/bindings/{id}"),
            Some(keys::RESELLER_ADMIN),
            Some(json!({ "version": "1.0.0" })),
        ),
        "signature-required",
    );

    // The audit shows who uploaded what, signed by whom.
    let (_, events) = call(
        &app,
        "GET",
        "/v1/admin-events?limit=500",
        Some(keys::RESELLER_ADMIN),
        None,
    );
    let signed_upload = events
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["action"] == "plugin.upload" && e["target"] == "2/signed-markup@1.1.0")
        .expect("the signed upload is on record");
    assert_eq!(signed_upload["actor"], "staff:500@2");
    assert_eq!(signed_upload["detail"]["signer"]["fingerprint"], fingerprint.as_str());
}

#[test]
fn the_operator_alone_trusts_publishers_and_sets_signature_policies() {
    let app = router(api_state());
    let (_, public) = pchost_extensions::signing::generate_signing_key().expect("key");
    for key in [keys::RESELLER_ADMIN, keys::SELLER_ADMIN] {
        let (status, body) = call(
            &app,
            "POST",
            "/v1/publisher-keys",
            Some(key),
            Some(json!({ "name": "mine", "public_key": public })),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("role-not-permitted"))
        );
        let (status, body) = call(
            &app,
            "PUT",
            "/v1/signature-policies/seller",
            Some(key),
            Some(json!({ "required": false })),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("role-not-permitted"))
        );
    }
    let (status, body) = call(
        &app,
        "POST",
        "/v1/publisher-keys",
        Some(keys::OPERATOR),
        Some(json!({ "name": "bad", "public_key": "abc" })),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("public_key")),
        "{body}"
    );
    let (status, body) = call(
        &app,
        "PUT",
        "/v1/signature-policies/galaxy",
        Some(keys::OPERATOR),
        Some(json!({ "required": true })),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scope")),
        "{body}"
    );
}

#[test]
fn the_administrative_audit_names_who_changed_what_and_each_admin_reads_its_own_partners() {
    let app = router(api_state());
    // Reseller 2's admin makes and revokes a key; seller 10's admin disables its binding.
    let (status, made) = create_key(&app, keys::RESELLER_ADMIN, json!({ "name": "temp", "staff_id": 501 }));
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["key"]["id"].as_i64().expect("id");
    let (status, _) = call(
        &app,
        "DELETE",
        &format!("/v1/api-keys/{id}"),
        Some(keys::RESELLER_ADMIN),
        None,
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, bindings) = call(&app, "GET", "/v1/bindings", Some(keys::SELLER_ADMIN), None);
    let sellers = bindings
        .as_array()
        .expect("bindings")
        .iter()
        .find(|b| b["scope"] == "seller")
        .and_then(|b| b["id"].as_i64())
        .expect("a binding of seller 10");
    let (status, _) = call(
        &app,
        "PATCH",
        &format!("/v1/bindings/{sellers}"),
        Some(keys::SELLER_ADMIN),
        Some(json!({ "enabled": false })),
    );
    assert_eq!(status, StatusCode::OK);

    let actions = |key: &str, query: &str| -> Vec<(String, String, String)> {
        let (status, events) = call(&app, "GET", &format!("/v1/admin-events{query}"), Some(key), None);
        assert_eq!(status, StatusCode::OK, "{events}");
        events
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                (
                    e["actor"].as_str().unwrap_or("").to_owned(),
                    e["action"].as_str().unwrap_or("").to_owned(),
                    e["target"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let key = format!("api-key:{id}");
    let reseller = actions(keys::RESELLER_ADMIN, "");
    assert_eq!(
        reseller,
        vec![
            ("staff:500@2".to_owned(), "key.create".to_owned(), key.clone()),
            ("staff:500@2".to_owned(), "key.revoke".to_owned(), key.clone()),
        ]
    );
    let seller = actions(keys::SELLER_ADMIN, "");
    assert_eq!(
        seller,
        vec![(
            "staff:505@10".to_owned(),
            "binding.change".to_owned(),
            format!("binding:{sellers}")
        )]
    );
    // Another partner's events are out of reach; the operator reads them all.
    let (status, body) = call(
        &app,
        "GET",
        "/v1/admin-events?partner_id=2",
        Some(keys::SELLER_ADMIN),
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("out-of-scope"))
    );
    assert_eq!(actions(keys::OPERATOR, "").len(), 3);
    assert_eq!(actions(keys::OPERATOR, "?partner_id=10"), seller);
    let (status, body) = call(&app, "GET", "/v1/admin-events", Some(keys::MANAGER), None);
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("role-not-permitted"))
    );
}

#[test]
fn four_eyes_a_key_the_requester_made_for_someone_else_decides_nothing_it_asked_for() {
    let state = api_state();
    bind_scripted_approval(
        &state,
        pchost_store::bindings::BindingScope::Partner,
        Some(2),
        &json!({ "escalate": "freeze" }),
    );
    let app = router(state);
    let (status, held) = call(
        &app,
        "POST",
        "/v1/customers/102/freeze",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "state": "account-frozen" })),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    let approve = format!("/v1/approval-tasks/{}/approve", held["task"]["id"]);
    // Admin 500 adds an admin and keeps its key; it mints a key for admin 509: either key is
    // in 500's hands, so neither decides what 500 asked for.
    let (status, added) = call(
        &app,
        "POST",
        "/v1/staff",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "role": "partner-admin" })),
    );
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let handed = added["api_key"].as_str().expect("secret");
    let minted_for_509 = admin_key_for(&app, keys::RESELLER_ADMIN, 509);
    // Nor does a key made with one of those: the line goes back to 500.
    let new_admin = added["staff"]["id"].as_i64().expect("staff id");
    let made_with_handed = admin_key_for(&app, handed, new_admin);
    for key in [handed, minted_for_509.as_str(), made_with_handed.as_str()] {
        let (status, body) = call(&app, "POST", &approve, Some(key), Some(json!({})));
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("self-approval")),
            "{body}"
        );
    }
    // 509 makes a key of its own (from the key the demo gave it, which 500 never held) and
    // decides.
    let own = admin_key_for(&app, keys::RESELLER_ADMIN_2, 509);
    let (status, body) = call(&app, "POST", &approve, Some(&own), Some(json!({})));
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{body}"
    );
}

/// A key for staff `staff`, made with `key`.
fn admin_key_for(app: &axum::Router, key: &str, staff: i64) -> String {
    let (status, body) = create_key(app, key, json!({ "name": "for", "staff_id": staff }));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["api_key"].as_str().expect("secret").to_owned()
}

#[test]
fn four_eyes_an_action_asked_with_a_key_the_decider_made_is_the_deciders_own() {
    let state = api_state();
    bind_scripted_approval(
        &state,
        pchost_store::bindings::BindingScope::Partner,
        Some(2),
        &json!({ "escalate": "freeze" }),
    );
    let app = router(state);
    // Admin 500 mints a key for admin 509 and asks through it: the task names 509.
    let as_509 = admin_key_for(&app, keys::RESELLER_ADMIN, 509);
    let (status, held) = call(
        &app,
        "POST",
        "/v1/customers/102/freeze",
        Some(&as_509),
        Some(json!({ "state": "account-frozen" })),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{held}");
    assert_eq!(held["task"]["requested_by"], "staff:509@2");
    let approve = format!("/v1/approval-tasks/{}/approve", held["task"]["id"]);
    // 500 made the key it was asked with: it does not decide.
    let (status, body) = call(&app, "POST", &approve, Some(keys::RESELLER_ADMIN), Some(json!({})));
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("self-approval")),
        "{body}"
    );
    // Nor does 509 (it asked), by any key; the operator, outside the partner, does.
    let (status, body) = call(&app, "POST", &approve, Some(keys::RESELLER_ADMIN_2), Some(json!({})));
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("self-approval"))
    );
    let (status, body) = call(&app, "POST", &approve, Some(keys::OPERATOR), Some(json!({})));
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{body}"
    );
}

#[test]
fn a_partners_staff_share_one_request_budget_so_more_staff_send_no_more() {
    let state = api_state();
    // Every principal keeps a large budget; reseller 2's staff together get 3 requests.
    let tight = pchost_server::state::AppState {
        partners: std::sync::Arc::new(pchost_server::ratelimit::RateLimiter::new(
            pchost_server::ratelimit::RateLimit {
                per_second: 1,
                burst: 3,
            },
        )),
        ..state
    };
    let app = router(tight);
    let staff = [
        keys::RESELLER_ADMIN,
        keys::RESELLER_ADMIN_2,
        keys::MANAGER,
        keys::SUPERVISOR,
        keys::SALESPERSON,
    ];
    let answered: Vec<u16> = staff
        .iter()
        .map(|key| call(&app, "GET", "/v1/me", Some(key), None).0.as_u16())
        .collect();
    assert_eq!(answered, vec![200, 200, 200, 429, 429]);
    // Another partner's staff, and the partner's customers, have budgets of their own.
    assert_eq!(
        call(&app, "GET", "/v1/me", Some(keys::SELLER_ADMIN), None).0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "GET", "/v1/me", Some(keys::CUSTOMER_102), None).0,
        StatusCode::OK
    );
}
