//! The README's walkthrough, end to end, against the real `pchost` binary serving on
//! 127.0.0.1 over a fresh SQLite file: the operator creates a distributor and a reseller; the
//! reseller registers and invites a customer; a seller uploads and binds a pricing plugin; the
//! reseller uploads and binds its own pricing and approval plugins; the customer gets a quote
//! showing each adjustment, creates and pays an order; an invoice is requested; a refund asks
//! the approval rule; the audit lists every plugin invocation.

mod common;

use common::*;
use pchost_test_plugins as built;
use serde_json::{Value, json};

/// `world` may name the extension package's version as WIT does (`pricing-rule@0.2.0`).
fn manifest(name: &str, world: &str, owner: i64) -> String {
    let (world, version) = world.split_once('@').unwrap_or((world, "0.1.0"));
    format!(
        "name = \"{name}\"\nversion = \"1.0.0\"\nworld = \"{world}\"\nworld-version = \"{version}\"\nowner = {owner}\ngrants = []\n"
    )
}

#[test]
fn the_readme_walkthrough_runs_against_a_real_server() {
    let dir = std::env::temp_dir().join(format!("pchost-walkthrough-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let operator = pchost(&dir, &["keys", "create-operator"]).trim().to_owned();
    assert!(operator.starts_with("pch_") && operator.len() == 68, "{operator}");
    let server = serve(dir, &[]);
    let id = |v: &Value, path: &str| v.pointer(path).and_then(Value::as_i64).expect(path);

    // The operator registers a distributor and a reseller; each gets a first admin key.
    let distributor = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/partners",
            &operator,
            json!({ "kind": "distributor", "name": "Northwind Distribution", "country": "CN" }),
        ),
    );
    let reseller = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/partners",
            &operator,
            json!({ "kind": "reseller", "name": "Bluebird Cloud", "country": "CN" }),
        ),
    );
    let distributor_key = distributor["api_key"].as_str().expect("key").to_owned();
    let reseller_key = reseller["api_key"].as_str().expect("key").to_owned();
    let reseller_id = id(&reseller, "/partner/id");
    ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/resellers",
            &distributor_key,
            json!({ "reseller_id": reseller_id }),
        ),
    );
    ok(
        200,
        request(
            &server,
            "POST",
            &format!("/v1/partners/{reseller_id}/top-ups"),
            Some(&operator),
            "application/json",
            json!({ "currency": "CNY", "amount": "250000.00" })
                .to_string()
                .as_bytes(),
            "Idempotency-Key: walkthrough-top-up\r\n",
        ),
    );

    // The reseller registers a customer and invites it; the customer accepts and gets a key.
    let customer = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/customers",
            &reseller_key,
            json!({ "account_name": "harbor-foods", "association": "resale", "customer_type": "enterprise", "country": "CN" }),
        ),
    );
    let customer_id = id(&customer, "/id");
    let invitation = ok(
        201,
        json_call(
            &server,
            "POST",
            &format!("/v1/customers/{customer_id}/invitations"),
            &reseller_key,
            json!({ "channel": "online" }),
        ),
    );
    let (status, accepted) = request(
        &server,
        "POST",
        "/v1/invitations/accept",
        None,
        "application/json",
        json!({ "token": invitation["token"] }).to_string().as_bytes(),
        "",
    );
    assert_eq!(status, 201, "{accepted}");
    let customer_key = accepted["api_key"].as_str().expect("key").to_owned();
    // A resale customer is frozen on association until its partner sets its budget (rule 18):
    // what it may spend a month, room enough for the 66,236.94 order and the spec change below.
    let budgeted = ok(
        200,
        json_call(
            &server,
            "POST",
            &format!("/v1/customers/{customer_id}/budget"),
            &reseller_key,
            json!({ "amount": "200000.00" }),
        ),
    );
    assert_eq!(budgeted["freeze"], "not-frozen");
    ok(
        204,
        request(
            &server,
            "POST",
            &format!("/v1/customers/{customer_id}/allocations"),
            Some(&reseller_key),
            "application/json",
            json!({ "currency": "CNY", "amount": "200000.00" })
                .to_string()
                .as_bytes(),
            "Idempotency-Key: walkthrough-allocation\r\n",
        ),
    );

    // Seller 10 (the demo catalog's seller of product 2001) gets a key from the operator,
    // uploads its volume-discount rule and binds it to its products.
    let seller_key = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/api-keys",
            &operator,
            json!({ "name": "seller", "staff_id": 505 }),
        ),
    );
    let seller_key = seller_key["api_key"].as_str().expect("key").to_owned();
    let uploaded = ok(
        201,
        upload(
            &server,
            &seller_key,
            &manifest("volume-discount", "pricing-rule@0.3.0", 10),
            &built::read(built::VOLUME_DISCOUNT),
        ),
    );
    assert_eq!(uploaded["id"], "10/volume-discount@1.0.0");
    let bound = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/bindings",
            &seller_key,
            json!({ "world": "pricing-rule", "plugin": "volume-discount", "version": "1.0.0" }),
        ),
    );
    assert_eq!(
        (bound["scope"].as_str(), bound["scope_id"].as_i64()),
        (Some("seller"), Some(10))
    );

    // The reseller uploads and binds its markup and its refund approval rule.
    ok(
        201,
        upload(
            &server,
            &reseller_key,
            &manifest("reseller-markup", "pricing-rule@0.3.0", reseller_id),
            &built::read(built::RESELLER_MARKUP),
        ),
    );
    ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/bindings",
            &reseller_key,
            json!({ "world": "pricing-rule", "plugin": "reseller-markup", "version": "1.0.0" }),
        ),
    );
    ok(
        201,
        upload(
            &server,
            &reseller_key,
            &manifest("refund-approval", "approval-rule@0.3.0", reseller_id),
            &built::read(built::REFUND_APPROVAL),
        ),
    );
    ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/bindings",
            &reseller_key,
            json!({ "world": "approval-rule", "plugin": "refund-approval", "version": "1.0.0" }),
        ),
    );

    // The customer gets a quote: 60 units of product 2001 for a month. The seller's tier
    // takes 10% off 88.50 (79.65), then the reseller adds 8% (86.022).
    let quote = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/quotes",
            &customer_key,
            json!({
        "customer_id": customer_id, "currency": "CNY",
        "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 60 }] }),
        ),
    );
    let line = &quote["lines"][0];
    assert_eq!(line["unit_price"], "86.022000");
    assert_eq!(line["adjustments"][0]["plugin"], "volume-discount@1.0.0");
    assert_eq!(line["adjustments"][0]["to"], "79.650000");
    assert_eq!(line["adjustments"][1]["plugin"], "reseller-markup@1.0.0");
    assert_eq!(quote["total"], "5161.32"); // 86.022 × 60 = 5161.32

    // It orders the quote and pays from its balance; the order keeps the breakdown.
    let order = request(
        &server,
        "POST",
        "/v1/orders",
        Some(&customer_key),
        "application/json",
        json!({ "quote_id": quote["quote_id"] }).to_string().as_bytes(),
        "Idempotency-Key: walkthrough-order\r\n",
    );
    let order = ok(201, order);
    let order_id = id(&order, "/order/id");
    assert_eq!(order["order"]["amount"], "5161.32");
    let paid = ok(
        201,
        request(
            &server,
            "POST",
            &format!("/v1/orders/{order_id}/payments"),
            Some(&customer_key),
            "application/json",
            b"{}",
            "Idempotency-Key: walkthrough-pay\r\n",
        ),
    );
    assert_eq!(paid["amount"], "5161.32");
    let detail = ok(
        200,
        json_call(
            &server,
            "GET",
            &format!("/v1/orders/{order_id}"),
            &customer_key,
            Value::Null,
        ),
    );
    assert_eq!(detail["order"]["status"], "completed", "paid and provisioned");
    assert_eq!(
        detail["quote"]["lines"][0]["adjustments"].as_array().map(Vec::len),
        Some(2)
    );
    // The payment provisioned the month of product 2001 as a resource of the customer's.
    let resources = ok(
        200,
        json_call(
            &server,
            "GET",
            &format!("/v1/customers/{customer_id}/resources"),
            &customer_key,
            Value::Null,
        ),
    );
    let resources = resources.as_array().expect("resources");
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert_eq!(
        (resources[0]["product_id"].as_i64(), resources[0]["period"].as_str()),
        (Some(2001), Some("month"))
    );

    // An invoice: the title first (rule 4), then the request by order, issued by the reseller (rule 5).
    ok(
        200,
        json_call(
            &server,
            "PUT",
            &format!("/v1/customers/{customer_id}/invoice-info"),
            &customer_key,
            json!({ "title_type": "enterprise", "title": "Harbor Foods Ltd", "tax_id": "91310000MA1HARBOR" }),
        ),
    );
    let invoice = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/invoices",
            &customer_key,
            json!({
        "customer_id": customer_id, "scope": { "basis": "order", "order": order_id },
        "kind": "vat-special", "medium": "digital", "currency": "CNY" }),
        ),
    );
    assert_eq!(
        (invoice["amount"].as_str(), invoice["issuer"].as_str()),
        (Some("5161.32"), Some("partner"))
    );

    // A 1,000 refund: the reseller's approval rule approves it.
    ok(
        201,
        request(
            &server,
            "POST",
            &format!("/v1/orders/{order_id}/refunds"),
            Some(&reseller_key),
            "application/json",
            json!({ "amount": "1000.00" }).to_string().as_bytes(),
            "Idempotency-Key: walkthrough-refund\r\n",
        ),
    );

    // The audit: each owner sees its own plugins' invocations; the operator sees all four.
    let seller_audit = ok(
        200,
        json_call(&server, "GET", "/v1/invocations", &seller_key, Value::Null),
    );
    assert_eq!(seller_audit.as_array().map(Vec::len), Some(1), "{seller_audit}");
    assert_eq!(seller_audit[0]["plugin"], "volume-discount@1.0.0");
    let reseller_audit = ok(
        200,
        json_call(&server, "GET", "/v1/invocations", &reseller_key, Value::Null),
    );
    let plugins: Vec<&str> = reseller_audit
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["plugin"].as_str())
        .collect();
    // Newest first: the refund, the order's review (an extension@0.3.0 approval rule is asked
    // about every gated action, new orders included), the quote.
    assert_eq!(
        plugins,
        [
            "refund-approval@1.0.0",
            "refund-approval@1.0.0",
            "reseller-markup@1.0.0"
        ],
        "newest first"
    );
    let all = ok(
        200,
        json_call(&server, "GET", "/v1/invocations", &operator, Value::Null),
    );
    assert_eq!(all.as_array().map(Vec::len), Some(4));
    assert!(
        all.as_array()
            .expect("list")
            .iter()
            .all(|r| r["failure"].is_null() && r["input_hash"].as_str().is_some_and(|h| h.len() == 64))
    );

    // Lifecycle from the CLI while the server runs: install 1.1.0, upgrade the binding to it;
    // the server picks both up without a restart. Then roll back over the API.
    let manifest_path = server.dir.join("markup-1.1.0.toml");
    std::fs::write(
        &manifest_path,
        manifest("reseller-markup", "pricing-rule@0.3.0", reseller_id).replace("1.0.0", "1.1.0"),
    )
    .expect("manifest");
    pchost(
        &server.dir,
        &[
            "plugin",
            "install",
            "--manifest",
            manifest_path.to_str().expect("path"),
            "--component",
            built::RESELLER_MARKUP,
        ],
    );
    let bindings = ok(
        200,
        json_call(&server, "GET", "/v1/bindings", &reseller_key, Value::Null),
    );
    let markup = bindings
        .as_array()
        .expect("list")
        .iter()
        .find(|b| b["plugin_name"] == "reseller-markup")
        .expect("bound");
    let binding = id(markup, "/id").to_string();
    pchost(&server.dir, &["binding", "upgrade", &binding, "--version", "1.1.0"]);
    let quote_body = json!({ "customer_id": customer_id, "currency": "CNY",
        "lines": [{ "product_id": 1001, "period": "month", "period_count": 1, "quantity": 1 }] });
    let markup_version = || {
        let quote = ok(
            201,
            json_call(&server, "POST", "/v1/quotes", &customer_key, quote_body.clone()),
        );
        quote["lines"][0]["adjustments"][0]["plugin"]
            .as_str()
            .expect("adjusted")
            .to_owned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while markup_version() != "reseller-markup@1.1.0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not pick up the CLI's upgrade"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let rolled_back = ok(
        200,
        json_call(
            &server,
            "POST",
            &format!("/v1/bindings/{binding}/rollback"),
            &reseller_key,
            Value::Null,
        ),
    );
    assert_eq!(
        (
            rolled_back["version"].as_str(),
            rolled_back["previous_version"].as_str()
        ),
        (Some("1.0.0"), Some("1.1.0"))
    );
    assert_eq!(
        markup_version(),
        "reseller-markup@1.0.0",
        "a rollback over the API applies at once"
    );

    // Deleting versions. 1.1.0 is the binding's previous version: it stays. 1.2.0, bound
    // nowhere, goes over the API, and 1.3.0 from the CLI. Their component stays stored: 1.0.0
    // and 1.1.0 have the same bytes.
    let versions = |v: &str| format!("/v1/plugins/{reseller_id}/reseller-markup/{v}");
    let (status, in_use) = json_call(&server, "DELETE", &versions("1.1.0"), &reseller_key, Value::Null);
    assert_eq!(
        (status, in_use["code"].as_str()),
        (409, Some("version-in-use")),
        "{in_use}"
    );
    let markup_manifest = |v: &str| manifest("reseller-markup", "pricing-rule@0.3.0", reseller_id).replace("1.0.0", v);
    for v in ["1.2.0", "1.3.0"] {
        ok(
            201,
            upload(
                &server,
                &reseller_key,
                &markup_manifest(v),
                &built::read(built::RESELLER_MARKUP),
            ),
        );
    }
    ok(
        204,
        json_call(&server, "DELETE", &versions("1.2.0"), &reseller_key, Value::Null),
    );
    let deleted: Value = serde_json::from_str(&pchost(
        &server.dir,
        &[
            "plugin",
            "delete",
            "--owner",
            &reseller_id.to_string(),
            "--plugin",
            "reseller-markup",
            "--version",
            "1.3.0",
        ],
    ))
    .expect("JSON");
    assert_eq!(deleted["deleted"], format!("{reseller_id}/reseller-markup@1.3.0"));
    let digest = deleted["digest"].as_str().expect("digest");
    assert!(
        std::fs::read_dir(server.dir.join("artefacts"))
            .expect("artefacts")
            .any(|f| f
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{digest}."))),
        "1.0.0 has the bytes"
    );
    let (status, gone) = json_call(&server, "DELETE", &versions("1.3.0"), &reseller_key, Value::Null);
    assert_eq!((status, gone["code"].as_str()), (404, Some("not-found")), "{gone}");

    // Issue #5: human approval. The reseller hires a supervisor and a customer manager under
    // it, and puts the manager in charge of the customer (rule 16).
    let supervisor = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/staff",
            &reseller_key,
            json!({ "role": "supervisor" }),
        ),
    );
    // Each gets a key from the operator and revokes the one its admin handed over: a key the
    // admin made (or one made with it) may still be in the admin's hands, and decides nothing
    // the admin asks for (four eyes).
    let own_key = |handed: &str, staff: &Value| -> String {
        let made = ok(
            201,
            json_call(
                &server,
                "POST",
                "/v1/api-keys",
                &operator,
                json!({ "name": "from the operator", "staff_id": id(staff, "/staff/id") }),
            ),
        );
        let (status, me) = json_call(&server, "GET", "/v1/me", handed, Value::Null);
        assert_eq!(status, 200, "{me}");
        let handed_id = me["key_id"].as_i64().expect("key id");
        let (status, revoked) = json_call(
            &server,
            "DELETE",
            &format!("/v1/api-keys/{handed_id}"),
            handed,
            Value::Null,
        );
        assert_eq!(status, 204, "{revoked}");
        made["api_key"].as_str().expect("key").to_owned()
    };
    let supervisor_key = own_key(supervisor["api_key"].as_str().expect("key"), &supervisor);
    let manager = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/staff",
            &reseller_key,
            json!({ "role": "customer-manager", "supervisor_id": id(&supervisor, "/staff/id") }),
        ),
    );
    let manager_key = own_key(manager["api_key"].as_str().expect("key"), &manager);
    ok(
        200,
        json_call(
            &server,
            "POST",
            &format!("/v1/customers/{customer_id}/manager"),
            &reseller_key,
            json!({ "manager_id": id(&manager, "/staff/id") }),
        ),
    );
    // 11 months of 70 units: (88.50 - 10%) + 8% = 86.022 × 770 = 66,236.94, ordered and paid.
    let big = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/quotes",
            &customer_key,
            json!({
        "customer_id": customer_id, "currency": "CNY",
        "lines": [{ "product_id": 2001, "period": "month", "period_count": 11, "quantity": 70 }] }),
        ),
    );
    assert_eq!(big["total"], "66236.94");
    let big_order = ok(
        201,
        request(
            &server,
            "POST",
            "/v1/orders",
            Some(&customer_key),
            "application/json",
            json!({ "quote_id": big["quote_id"] }).to_string().as_bytes(),
            "Idempotency-Key: walkthrough-big\r\n",
        ),
    );
    let big_order = id(&big_order, "/order/id");
    ok(
        201,
        request(
            &server,
            "POST",
            &format!("/v1/orders/{big_order}/payments"),
            Some(&customer_key),
            "application/json",
            b"{}",
            "Idempotency-Key: walkthrough-big-pay\r\n",
        ),
    );

    // A 60,000 refund escalates to a customer manager and waits; nothing is refunded yet.
    let refund = |amount: &str| {
        request(
            &server,
            "POST",
            &format!("/v1/orders/{big_order}/refunds"),
            Some(&reseller_key),
            "application/json",
            json!({ "amount": amount }).to_string().as_bytes(),
            &format!("Idempotency-Key: walkthrough-refund-{amount}\r\n"),
        )
    };
    let escalated = ok(202, refund("60000.00"));
    let task = id(&escalated, "/task/id");
    assert_eq!(
        (escalated["task"]["status"].as_str(), escalated["task"]["role"].as_str()),
        (Some("pending"), Some("customer-manager"))
    );
    let pending = ok(
        200,
        json_call(
            &server,
            "GET",
            &format!("/v1/approval-tasks/{task}"),
            &manager_key,
            Value::Null,
        ),
    );
    assert_eq!(pending["status"], "pending");
    let refunded = |order: i64| {
        let detail = ok(
            200,
            json_call(
                &server,
                "GET",
                &format!("/v1/orders/{order}"),
                &customer_key,
                Value::Null,
            ),
        );
        detail["order"]["status"].as_str().unwrap_or("").to_owned()
    };
    assert_eq!(refunded(big_order), "completed", "not refunded while the task waits");
    // The customer manager approves: the refund completes.
    let approved = ok(
        200,
        json_call(
            &server,
            "POST",
            &format!("/v1/approval-tasks/{task}/approve"),
            &manager_key,
            json!({ "note": "contract ends early" }),
        ),
    );
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(approved["outcome"]["amount"], "60000.00", "{approved}");
    // Another large refund escalates; the supervisor rejects it, and it is refused for good.
    let second = ok(202, refund("55000.00"));
    let second = id(&second, "/task/id");
    let rejected = ok(
        200,
        json_call(
            &server,
            "POST",
            &format!("/v1/approval-tasks/{second}/reject"),
            &supervisor_key,
            json!({ "note": "no" }),
        ),
    );
    assert_eq!(rejected["status"], "rejected");
    let (status, again) = json_call(
        &server,
        "POST",
        &format!("/v1/approval-tasks/{second}/approve"),
        &manager_key,
        json!({}),
    );
    assert_eq!((status, again["code"].as_str()), (409, Some("task-not-pending")));
    // Both decisions and both escalations are on record.
    let tasks = ok(
        200,
        json_call(&server, "GET", "/v1/approval-tasks", &reseller_key, Value::Null),
    );
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
    let manager_label = format!("staff:{}@{reseller_id}", id(&manager, "/staff/id"));
    let supervisor_label = format!("staff:{}@{reseller_id}", id(&supervisor, "/staff/id"));
    assert_eq!(
        decided,
        [
            ("approved", manager_label.as_str()),
            ("rejected", supervisor_label.as_str())
        ]
    );
    let escalations = ok(
        200,
        json_call(
            &server,
            "GET",
            "/v1/invocations?plugin=refund-approval",
            &reseller_key,
            Value::Null,
        ),
    );
    let escalations = escalations
        .as_array()
        .expect("audit")
        .iter()
        .filter(|r| r["output"].as_str().is_some_and(|o| o.contains("escalate")))
        .count();
    assert_eq!(escalations, 2);

    // The CLI sees the same tasks, and replays a recorded invocation identically.
    let tasks: Value = serde_json::from_str(&pchost(&server.dir, &["tasks", "list"])).expect("JSON");
    assert_eq!(tasks.as_array().map(Vec::len), Some(2));
    let first = seller_audit[0]["id"].as_i64().expect("an invocation").to_string();
    let report: Value = serde_json::from_str(&pchost(&server.dir, &["replay", &first])).expect("JSON");
    assert_eq!(
        (report["identical"].as_bool(), report["plugin"].as_str()),
        (Some(true), Some("volume-discount@1.0.0"))
    );

    // The first order is invoiced once: asking again is refused.
    let (status, again) = json_call(
        &server,
        "POST",
        "/v1/invoices",
        &customer_key,
        json!({
    "customer_id": customer_id, "scope": { "basis": "order", "order": order_id },
    "kind": "vat-special", "medium": "digital", "currency": "CNY" }),
    );
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("already-invoiced")),
        "{again}"
    );

    // The seller adds its renewal discount (5% by default), after its volume discount.
    ok(
        201,
        upload(
            &server,
            &seller_key,
            &manifest("renewal-discount", "pricing-rule@0.3.0", 10),
            &built::read(built::RENEWAL_DISCOUNT),
        ),
    );
    ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/bindings",
            &seller_key,
            json!({ "world": "pricing-rule", "plugin": "renewal-discount", "version": "1.0.0", "position": 5 }),
        ),
    );
    // The customer renews the month of 60 units the first order provisioned: 88.50 less 10%
    // (79.65), less 5% to the cent (75.67), plus 8% (81.7236), × 60 = 4,903.42, charged as a
    // renewal order; paying it extends the term by a month.
    let resources = ok(
        200,
        json_call(
            &server,
            "GET",
            &format!("/v1/customers/{customer_id}/resources"),
            &customer_key,
            Value::Null,
        ),
    );
    let resource = &resources[0];
    assert_eq!(resource["quantity"], 60);
    let resource_id = id(resource, "/id");
    let expires = resource["expires_at"].as_str().expect("expiry").to_owned();
    let renewal = ok(
        201,
        request(
            &server,
            "POST",
            &format!("/v1/resources/{resource_id}/renewals"),
            Some(&customer_key),
            "application/json",
            br#"{"period_count": 1}"#,
            "Idempotency-Key: walkthrough-renewal\r\n",
        ),
    );
    assert_eq!(
        (renewal["order"]["kind"].as_str(), renewal["order"]["amount"].as_str()),
        (Some("renew"), Some("4903.42")),
        "{renewal}"
    );
    let renewal_id = id(&renewal, "/order/id");
    ok(
        201,
        request(
            &server,
            "POST",
            &format!("/v1/orders/{renewal_id}/payments"),
            Some(&customer_key),
            "application/json",
            b"{}",
            "Idempotency-Key: walkthrough-renewal-pay\r\n",
        ),
    );
    let renewed = ok(
        200,
        json_call(
            &server,
            "GET",
            &format!("/v1/customers/{customer_id}/resources"),
            &customer_key,
            Value::Null,
        ),
    );
    let before: chrono::DateTime<chrono::Utc> = expires.parse().expect("time");
    let after: chrono::DateTime<chrono::Utc> = renewed[0]["expires_at"]
        .as_str()
        .expect("expiry")
        .parse()
        .expect("time");
    assert_eq!(after, before.checked_add_months(chrono::Months::new(1)).expect("date"));

    // It changes the 60 units to the enterprise spec (product 2002) for the rest of the term:
    // the chain prices the new spec, the difference over the time left is ordered (kind
    // `change`) and paid, and the payment changes the spec.
    let change = ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/quotes/spec-change",
            &customer_key,
            json!({ "resource_id": resource_id, "product_id": 2002 }),
        ),
    );
    let change_total = change["total"].as_str().expect("total").to_owned();
    assert_eq!(
        (change["change"]["quantity"].as_i64(), change["credit"].as_str()),
        (Some(60), Some("0"))
    );
    let change_order = ok(
        201,
        request(
            &server,
            "POST",
            "/v1/orders",
            Some(&customer_key),
            "application/json",
            json!({ "quote_id": change["quote_id"] }).to_string().as_bytes(),
            "Idempotency-Key: walkthrough-change\r\n",
        ),
    );
    assert_eq!(
        (
            change_order["order"]["kind"].as_str(),
            change_order["order"]["amount"].as_str()
        ),
        (Some("change"), Some(change_total.as_str())),
        "{change_order}"
    );
    let change_id = id(&change_order, "/order/id");
    ok(
        201,
        request(
            &server,
            "POST",
            &format!("/v1/orders/{change_id}/payments"),
            Some(&customer_key),
            "application/json",
            b"{}",
            "Idempotency-Key: walkthrough-change-pay\r\n",
        ),
    );
    let changed = ok(
        200,
        json_call(
            &server,
            "GET",
            &format!("/v1/customers/{customer_id}/resources"),
            &customer_key,
            Value::Null,
        ),
    );
    assert_eq!(changed[0]["product_id"], 2002, "{changed}");

    // It unsubscribes at once: the reseller's rule is asked, the resource closes, and the
    // unused part of each payment comes back to the customer: all that is left of the first
    // order (5,161.32 less the 1,000.00 refunded), all of the renewal (its month has not
    // begun) and nearly all of the change.
    let done = ok(
        201,
        request(
            &server,
            "POST",
            &format!("/v1/resources/{resource_id}/unsubscribe"),
            Some(&customer_key),
            "application/json",
            b"{}",
            "Idempotency-Key: walkthrough-unsubscribe\r\n",
        ),
    );
    assert_eq!(done["closed"], json!([resource_id]));
    assert_eq!(
        (
            done["refunds"][0]["order_id"].as_i64(),
            done["refunds"][0]["amount"].as_str()
        ),
        (Some(order_id), Some("4161.32")),
        "{done}"
    );
    // In the order their stretches of the term begin: the change's now, the renewal's later.
    assert_eq!(done["refunds"][1]["order_id"].as_i64(), Some(change_id));
    let decimal = |v: &Value| -> rust_decimal::Decimal { v.as_str().expect("amount").parse().expect("decimal") };
    let change_paid = decimal(&change_order["order"]["amount"]);
    let change_share = decimal(&done["refunds"][1]["amount"]);
    assert!(
        change_share <= change_paid && change_share >= change_paid - rust_decimal::Decimal::ONE,
        "the unused part of the change: {done}"
    );
    assert_eq!(
        (
            done["refunds"][2]["order_id"].as_i64(),
            done["refunds"][2]["amount"].as_str()
        ),
        (Some(renewal_id), Some("4903.42")),
        "{done}"
    );
    let asked = ok(
        200,
        json_call(
            &server,
            "GET",
            "/v1/invocations?plugin=refund-approval",
            &reseller_key,
            Value::Null,
        ),
    );
    assert!(
        asked
            .as_array()
            .expect("audit")
            .iter()
            .any(|r| r["input"].as_str().is_some_and(|i| i.contains("\"unsubscribe\""))),
        "the reseller's rule was asked about the unsubscription"
    );
}
