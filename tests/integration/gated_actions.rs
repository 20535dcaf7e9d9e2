//! The actions extension@0.3.0 approval rules are asked about beyond 0.1.0's six (DOMAIN rules
//! 8, 10-14, 17, 18): each, under a bound 0.3.0 rule that rejects it, is refused with the
//! rule's reason and changes nothing; under one that escalates it, it is held as an approval
//! task that a partner admin decides, and the approved task carries it out. The reseller's
//! bundled 0.1.0 rules are never asked about them.

use crate::support::*;
use axum::http::StatusCode;
use chrono::Utc;
use pchost_extensions::actions::Action;
use pchost_server::app::router;
use pchost_store::bindings::BindingScope;
use pchost_store::demo;
use pchost_store::tasks::NewTask;
use serde_json::{Value, json};

/// An action: its kind, who asks, the path and body, the status it answers when carried out,
/// and the requests (caller, path, body) that set the demo data up for it.
struct Gated {
    kind: &'static str,
    key: &'static str,
    path: &'static str,
    body: Option<Value>,
    done: StatusCode,
    setup: Vec<(&'static str, &'static str, Value)>,
}

fn gated() -> Vec<Gated> {
    let by = |key, kind, path, body, done| Gated {
        kind,
        key,
        path,
        body,
        done,
        setup: Vec::new(),
    };
    let post = |kind, path, body, done| by(keys::RESELLER_ADMIN, kind, path, body, done);
    let cny = |amount: &str| Some(json!({ "currency": "CNY", "amount": amount }));
    // Demo quota 1 is the distributor's; a split makes quota 3.
    let split = json!({ "parent_quota_id": 1, "amount": "100.00", "max_face": "50.00" });
    let coupon = json!({
        "quota_id": 2, "customer_id": 102, "face": "10.00",
        "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2036-01-01T00:00:00Z"
    });
    vec![
        post(
            "freeze",
            "/v1/customers/102/freeze",
            Some(json!({ "state": "account-frozen" })),
            StatusCode::OK,
        ),
        post(
            "budget",
            "/v1/customers/102/budget",
            Some(json!({ "amount": "1000.00" })),
            StatusCode::OK,
        ),
        post(
            "association-change",
            "/v1/customers/102/association",
            Some(json!({ "association": "referral" })),
            StatusCode::OK,
        ),
        post("unbind", "/v1/customers/101/unbind", None, StatusCode::NO_CONTENT),
        post("cancel", "/v1/orders/9004/cancel", None, StatusCode::OK),
        post(
            "renewal",
            "/v1/resources/1/renewals",
            Some(json!({ "period_count": 1 })),
            StatusCode::CREATED,
        ),
        post("unsubscribe", "/v1/resources/1/unsubscribe", None, StatusCode::CREATED),
        post(
            "reclaim",
            "/v1/customers/102/reclaims",
            cny("10.00"),
            StatusCode::NO_CONTENT,
        ),
        Gated {
            setup: vec![(
                keys::DISTRIBUTOR_ADMIN,
                "/v1/resellers/2/allocations",
                json!({ "currency": "CNY", "amount": "100.00" }),
            )],
            ..by(
                keys::DISTRIBUTOR_ADMIN,
                "reclaim",
                "/v1/resellers/2/reclaims",
                cny("10.00"),
                StatusCode::NO_CONTENT,
            )
        },
        Gated {
            setup: vec![(keys::RESELLER_ADMIN, "/v1/coupons", coupon)],
            ..post("reclaim", "/v1/coupons/1/reclaim", None, StatusCode::NO_CONTENT)
        },
        by(
            keys::DISTRIBUTOR_ADMIN,
            "quota-split",
            "/v1/resellers/2/coupon-quotas",
            Some(split.clone()),
            StatusCode::CREATED,
        ),
        Gated {
            setup: vec![(keys::DISTRIBUTOR_ADMIN, "/v1/resellers/2/coupon-quotas", split)],
            ..by(
                keys::DISTRIBUTOR_ADMIN,
                "reclaim",
                "/v1/coupon-quotas/3/reclaim",
                None,
                StatusCode::OK,
            )
        },
    ]
}

/// Runs an action's setup requests, each of which must succeed (each under an idempotency
/// key of its own: some move money).
fn set_up(app: &axum::Router, action: &Gated) {
    for (i, (key, path, body)) in action.setup.iter().enumerate() {
        let idempotency_key = format!("gated-setup-{i}");
        let (status, answer) = call_raw(
            app,
            "POST",
            path,
            Some(key),
            body.to_string(),
            &[("idempotency-key", &idempotency_key)],
        );
        assert!(status.is_success(), "{}: setup {path}: {answer}", action.kind);
    }
}

/// Sends an action's request, with an idempotency key (the endpoints that move money or
/// create orders need one; the others ignore it).
fn ask(app: &axum::Router, action: &Gated) -> (StatusCode, Value) {
    let body = action.body.as_ref().map(Value::to_string).unwrap_or_default();
    call_raw(
        app,
        "POST",
        action.path,
        Some(action.key),
        body,
        &[("idempotency-key", "gated-action")],
    )
}

/// A demo server with the scripted 0.3.0 approval rule bound for reseller 2 (and distributor
/// 1) under `settings`.
fn server(settings: Value) -> (pchost_server::state::AppState, axum::Router) {
    let state = api_state();
    // The distributor's actions (reclaims from resellers, quota splits) are governed by its
    // own rules.
    for partner in [demo::RESELLER, demo::DISTRIBUTOR] {
        bind_scripted_approval(&state, BindingScope::Partner, Some(partner), &settings);
    }
    let app = router(state.clone());
    (state, app)
}

fn invocations_of(app: &axum::Router, plugin: &str) -> usize {
    let (_, audit) = call(app, "GET", "/v1/invocations?limit=500", Some(keys::OPERATOR), None);
    audit
        .as_array()
        .expect("audit")
        .iter()
        .filter(|r| r["plugin"] == plugin)
        .count()
}

#[test]
fn a_rule_that_rejects_a_gated_action_refuses_it_with_its_reason_and_changes_nothing() {
    for action in gated() {
        let (state, app) = server(json!({ "reject": action.kind }));
        set_up(&app, &action);
        let (old_rule, scripted) = (
            invocations_of(&app, "payment-on-behalf@0.1.0"),
            invocations_of(&app, "scripted-approval@1.0.0"),
        );
        let before: (i64, String) = tokio()
            .block_on(async {
                let c = state.store.customer(102).await.expect("read").expect("customer");
                let o = state.store.order(9004).await.expect("read").expect("order");
                Ok::<_, ()>((
                    i64::from(c.freeze != pchost_domain::FreezeState::NotFrozen),
                    o.status.to_string(),
                ))
            })
            .expect("state");
        let (status, body) = ask(&app, &action);
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("approval-rejected")),
            "{} {}: {body}",
            action.kind,
            action.path
        );
        let reason = format!("the script rejects {}", action.kind);
        assert!(body["message"].as_str().is_some_and(|m| m.contains(&reason)), "{body}");
        let after: (i64, String) = tokio()
            .block_on(async {
                let c = state.store.customer(102).await.expect("read").expect("customer");
                let o = state.store.order(9004).await.expect("read").expect("order");
                Ok::<_, ()>((
                    i64::from(c.freeze != pchost_domain::FreezeState::NotFrozen),
                    o.status.to_string(),
                ))
            })
            .expect("state");
        assert_eq!(before, after, "{}: nothing changed", action.kind);
        // The reseller's 0.1.0 rules know six actions: they were not asked about this one.
        assert_eq!(
            invocations_of(&app, "payment-on-behalf@0.1.0"),
            old_rule,
            "{}",
            action.kind
        );
        assert_eq!(
            invocations_of(&app, "scripted-approval@1.0.0"),
            scripted + 1,
            "{}",
            action.kind
        );
    }
}

#[test]
fn a_rule_that_escalates_a_gated_action_holds_it_as_a_task_that_another_admin_decides() {
    for action in gated() {
        let (_state, app) = server(json!({ "escalate": action.kind }));
        set_up(&app, &action);
        let (status, body) = ask(&app, &action);
        assert_eq!(status, StatusCode::ACCEPTED, "{}: {body}", action.kind);
        assert_eq!(body["status"], "pending-approval");
        let task = &body["task"];
        assert_eq!(
            (task["kind"].as_str(), task["role"].as_str(), task["reason"].as_str()),
            (
                Some(action.kind),
                Some("partner-admin"),
                Some(format!("the script escalates {}", action.kind).as_str())
            )
        );
        let id = task["id"].as_i64().expect("task id");
        // Four eyes: the admin who asked decides neither way, with this key or another.
        for verb in ["approve", "reject"] {
            let (status, refused) = call(
                &app,
                "POST",
                &format!("/v1/approval-tasks/{id}/{verb}"),
                Some(action.key),
                Some(json!({})),
            );
            assert_eq!(
                (status, refused["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("self-approval")),
                "{} {verb}: {refused}",
                action.kind
            );
        }
        // Reseller 2's second admin decides what the first asked; the distributor has one
        // admin, so the operator decides its actions.
        let decider = if action.key == keys::RESELLER_ADMIN {
            keys::RESELLER_ADMIN_2
        } else {
            keys::OPERATOR
        };
        let (status, decided) = call(
            &app,
            "POST",
            &format!("/v1/approval-tasks/{id}/approve"),
            Some(decider),
            Some(json!({})),
        );
        assert_eq!(status, StatusCode::OK, "{}: {decided}", action.kind);
        // Approved, the action ran as the request would have without the escalation.
        assert_eq!(decided["status"], "approved", "{}: {decided}", action.kind);
        assert!(
            decided["outcome"].is_object() || action.done == StatusCode::NO_CONTENT,
            "{decided}"
        );
    }
}

#[test]
fn with_no_rule_objecting_each_gated_action_is_carried_out_as_before() {
    for action in gated() {
        let (_state, app) = server(json!({}));
        set_up(&app, &action);
        let (status, body) = ask(&app, &action);
        assert_eq!(status, action.done, "{} {}: {body}", action.kind, action.path);
    }
}

/// Customer 102 prices one month of product 2001 and orders it with idempotency key `key`.
fn order_one_month(app: &axum::Router, key: &str) -> (StatusCode, Value) {
    let (status, quote) = call(
        app,
        "POST",
        "/v1/quotes",
        Some(keys::CUSTOMER_102),
        Some(json!({
            "customer_id": 102, "currency": "CNY",
            "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }]
        })),
    );
    assert_eq!(status, StatusCode::CREATED, "{quote}");
    order_quote(app, &quote["quote_id"], key)
}

fn order_status(state: &pchost_server::state::AppState, id: i64) -> String {
    tokio()
        .block_on(state.store.order(id))
        .expect("read")
        .expect("order")
        .status
        .to_string()
}

#[test]
fn a_new_order_is_reviewed_by_the_rules_rejected_it_is_cancelled_escalated_it_waits_for_its_task() {
    // No rule objects: the order is payable at once.
    let (_state, app) = server(json!({}));
    let (status, body) = order_one_month(&app, "order-ok");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["order"]["status"], "pending-payment");
    assert!(body["payment_deadline"].is_string());

    // Rejected: refused with the rule's reason, and the order it was is cancelled, not payable.
    let (state_r, app_r) = server(json!({ "reject": "order-review" }));
    let (status, body) = order_one_month(&app_r, "order-no");
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("approval-rejected")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("the script rejects order-review"))
    );
    let (_, cancelled) = call(
        &app_r,
        "GET",
        "/v1/orders?customer_id=102&status=cancelled",
        Some(keys::CUSTOMER_102),
        None,
    );
    let cancelled = cancelled.as_array().expect("orders");
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    let refused = cancelled[0]["id"].as_i64().expect("id");
    assert_eq!(order_status(&state_r, refused), "cancelled");

    // Escalated: 202, the order waits in review and cannot be paid; a retry asks nothing again.
    let (state_e, app_e) = server(json!({ "escalate": "order-review" }));
    let (status, body) = order_one_month(&app_e, "order-held");
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = body["task"]["id"].as_i64().expect("task");
    assert_eq!(body["task"]["kind"], "order-review");
    let asked = invocations_of(&app_e, "scripted-approval@1.0.0");
    let (_, in_review) = call(
        &app_e,
        "GET",
        "/v1/orders?customer_id=102&status=pending-review",
        Some(keys::CUSTOMER_102),
        None,
    );
    let held = in_review[0]["id"].as_i64().expect("the held order");
    let quote = in_review[0]["quote_id"].clone();
    let (status, again) = order_quote(&app_e, &quote, "order-held");
    assert_eq!(
        (status, again["order"]["id"].as_i64()),
        (StatusCode::ACCEPTED, Some(held)),
        "{again}"
    );
    assert_eq!(
        invocations_of(&app_e, "scripted-approval@1.0.0"),
        asked,
        "a retry asks no rule"
    );
    let (status, pay) = call_raw(
        &app_e,
        "POST",
        &format!("/v1/orders/{held}/payments"),
        Some(keys::CUSTOMER_102),
        "{}",
        &[("idempotency-key", "pay-held")],
    );
    assert_eq!(
        (status, pay["code"].as_str()),
        (StatusCode::CONFLICT, Some("order-state")),
        "{pay}"
    );
    // A partner admin approves: the order becomes payable.
    let (status, decided) = call(
        &app_e,
        "POST",
        &format!("/v1/approval-tasks/{task}/approve"),
        Some(keys::RESELLER_ADMIN),
        Some(json!({})),
    );
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["outcome"]["order"]["status"], "pending-payment", "{decided}");
    assert_eq!(order_status(&state_e, held), "pending-payment");

    // A crash after the order was written and before the rules answered leaves it in review
    // with no task (simulated: its task is removed). A retry asks the rules again.
    let (status, body) = order_one_month(&app_e, "order-crashed");
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let lost = body["task"]["id"].as_i64().expect("task");
    tokio()
        .block_on(
            sqlx::query("DELETE FROM approval_tasks WHERE id = $1")
                .bind(lost)
                .execute(state_e.store.pool()),
        )
        .expect("the task is lost");
    let (_, in_review) = call(
        &app_e,
        "GET",
        "/v1/orders?customer_id=102&status=pending-review",
        Some(keys::CUSTOMER_102),
        None,
    );
    let crashed = in_review[0]["id"].as_i64().expect("the order in review");
    let quote = in_review[0]["quote_id"].clone();
    let asked = invocations_of(&app_e, "scripted-approval@1.0.0");
    let (status, again) = order_quote(&app_e, &quote, "order-crashed");
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(
        (again["task"]["kind"].as_str(), again["task"]["status"].as_str()),
        (Some("order-review"), Some("pending")),
        "a new task holds it: {again}"
    );
    assert_eq!(
        invocations_of(&app_e, "scripted-approval@1.0.0"),
        asked + 1,
        "asked again"
    );
    // The customer cancels it while in review: the task, approved later, fails.
    let task = again["task"]["id"].as_i64().expect("task");
    let (status, cancelled) = call(
        &app_e,
        "POST",
        &format!("/v1/orders/{crashed}/cancel"),
        Some(keys::CUSTOMER_102),
        None,
    );
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled")),
        "{cancelled}"
    );
    let (status, decided) = call(
        &app_e,
        "POST",
        &format!("/v1/approval-tasks/{task}/approve"),
        Some(keys::RESELLER_ADMIN),
        Some(json!({})),
    );
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(
        (decided["status"].as_str(), decided["outcome"]["code"].as_str()),
        (Some("failed"), Some("order-state")),
        "{decided}"
    );

    // Escalated again and rejected by the admin: the order is cancelled.
    let (status, body) = order_one_month(&app_e, "order-held-2");
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = body["task"]["id"].as_i64().expect("task");
    let (status, decided) = call(
        &app_e,
        "POST",
        &format!("/v1/approval-tasks/{task}/reject"),
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "note": "not this month" })),
    );
    assert_eq!(status, StatusCode::OK, "{decided}");
    let (_, cancelled) = call(
        &app_e,
        "GET",
        "/v1/orders?customer_id=102&status=cancelled",
        Some(keys::CUSTOMER_102),
        None,
    );
    assert_eq!(
        cancelled.as_array().map(Vec::len),
        Some(2),
        "the one cancelled in review, and this one: {cancelled}"
    );
}

/// An approval task for `action`, approved (as a person's decision is) but with no outcome:
/// the host stopped before its action ended.
fn interrupted_task(store: &pchost_store::Store, kind: pchost_domain::ApprovalKind, action: &Action) -> i64 {
    tokio().block_on(async {
        let task = store
            .create_task(
                &NewTask {
                    kind,
                    partner: demo::RESELLER,
                    customer: Some(demo::STANDARD_CUSTOMER),
                    role: pchost_domain::Role::PartnerAdmin,
                    reason: "big".into(),
                    plugin: "scripted-approval@1.0.0".into(),
                    action: serde_json::to_value(action).expect("action"),
                    requested_by: "customer:102".into(),
                    requested_key: None,
                },
                Utc::now(),
            )
            .await
            .expect("task");
        store
            .decide_task(task.id, true, "staff:601@2", None, Utc::now())
            .await
            .expect("approved");
        task.id
    })
}

#[test]
fn an_approved_task_a_crash_interrupted_is_finished_once_by_the_outbox_or_marked_for_a_person() {
    let store = demo_store();
    let customer = pchost_store::accounts::Actor {
        role: pchost_domain::Role::Customer,
        partner: Some(demo::RESELLER),
        id: Some(demo::STANDARD_CUSTOMER),
        on_behalf_of: None,
    };
    let cny = "CNY".parse().expect("currency");
    let balance = || {
        tokio()
            .block_on(store.customer_balance(demo::STANDARD_CUSTOMER, cny))
            .expect("balance")
    };
    let before = balance();
    // A refund of demo order 9003 (1,500.00 paid by customer 102), keyed by its request.
    let refund = Action::Refund {
        order: 9003,
        amount: dec("100.00"),
        actor: customer.clone(),
        idempotency_key: "refund-9003".into(),
    };
    let refund_task = interrupted_task(&store, pchost_domain::ApprovalKind::Refund, &refund);
    // The crash came after the refund committed, before the outcome was recorded.
    tokio()
        .block_on(refund.execute(&store, Utc::now()))
        .expect("refunded once");
    assert_eq!(balance(), before + dec("100.00"));
    // A second refund of 50.00, keyed by its request: the crash came before it ran.
    let second = Action::Refund {
        order: 9003,
        amount: dec("50.00"),
        actor: customer,
        idempotency_key: "refund-9003-b".into(),
    };
    let second_task = interrupted_task(&store, pchost_domain::ApprovalKind::Refund, &second);
    // A cancellation of demo order 9004 is not safe to do twice: it is left for a person.
    let cancel = Action::Cancel { order: 9004 };
    let cancel_task = interrupted_task(&store, pchost_domain::ApprovalKind::Cancel, &cancel);

    let finish = |at| {
        tokio()
            .block_on(pchost_extensions::approvals::finish_interrupted_tasks(&store, at))
            .expect("outbox")
    };
    assert!(
        finish(Utc::now()).is_empty(),
        "within its grace, the approving request may still be at work"
    );
    let finished = finish(Utc::now() + chrono::Duration::minutes(3));
    let by_id = |id: i64| finished.iter().find(|t| t.id == id).expect("finished");
    let refunded = by_id(refund_task);
    assert_eq!(
        (
            refunded.status.as_str(),
            refunded.outcome.as_ref().map(|o| o["amount"].clone())
        ),
        ("approved", Some(json!("100.00"))),
        "{refunded:?}"
    );
    let carried_out = by_id(second_task);
    assert_eq!(carried_out.status.as_str(), "approved", "{carried_out:?}");
    assert_eq!(
        balance(),
        before + dec("150.00"),
        "the first refund's key: refunded once, not twice; the second done once"
    );
    let interrupted = by_id(cancel_task);
    assert_eq!(
        (
            interrupted.status.as_str(),
            interrupted.outcome.as_ref().map(|o| o["code"].clone())
        ),
        ("failed", Some(json!("action-interrupted"))),
        "{interrupted:?}"
    );
    let order = tokio().block_on(store.order(9004)).expect("read").expect("order 9004");
    assert_eq!(
        order.status.as_str(),
        "pending-payment",
        "the cancellation was not redone"
    );
    // A second run (or instance) finds nothing left.
    assert!(finish(Utc::now() + chrono::Duration::minutes(4)).is_empty());
    assert_eq!(balance(), before + dec("150.00"));
}

#[test]
fn rule_11_an_escalated_auto_renewal_waits_for_one_task_and_is_paid_once_it_is_approved() {
    let (state, app) = server(json!({ "escalate": "renewal" }));
    let now = Utc::now();
    // Demo resource 1 expires in 5 days, renewing itself.
    tokio().block_on(async {
        sqlx::query("UPDATE resources SET expires_at = $1 WHERE id = 1")
            .bind((now + chrono::Duration::days(5)).timestamp_millis())
            .execute(state.store.pool())
            .await
            .expect("expiry");
    });
    let (status, body) = call(
        &app,
        "PUT",
        "/v1/resources/1/auto-renew",
        Some(keys::CUSTOMER_102),
        Some(json!({ "enabled": true })),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let expires = || {
        tokio()
            .block_on(state.store.resource(1))
            .expect("read")
            .expect("resource 1")
            .expires_at
    };
    let before = expires();
    let run = |at: chrono::DateTime<Utc>| {
        tokio()
            .block_on(pchost_server::scheduler::run_once(&state, at))
            .expect("run")
    };
    let pending_renewals = || {
        let (status, tasks) = call(
            &app,
            "GET",
            "/v1/approval-tasks?status=pending",
            Some(keys::RESELLER_ADMIN),
            None,
        );
        assert_eq!(status, StatusCode::OK, "{tasks}");
        tasks
            .as_array()
            .expect("tasks")
            .iter()
            .filter(|t| t["kind"] == "renewal")
            .cloned()
            .collect::<Vec<_>>()
    };
    // The rule escalates: a task for the partner admin, requested by the customer whose
    // standing instruction it is; nothing is ordered or paid.
    run(now);
    let tasks = pending_renewals();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(
        (tasks[0]["role"].as_str(), tasks[0]["requested_by"].as_str()),
        (Some("partner-admin"), Some("customer:102"))
    );
    assert_eq!(expires(), before);
    // A day later, still undecided: the try waits for that task rather than asking again.
    run(now + chrono::Duration::days(1) + chrono::Duration::minutes(1));
    assert_eq!(pending_renewals().len(), 1);
    // Approved, it orders the renewal; the next try pays it, and the term extends once.
    let id = tasks[0]["id"].as_i64().expect("task id");
    let (status, decided) = call(
        &app,
        "POST",
        &format!("/v1/approval-tasks/{id}/approve"),
        Some(keys::RESELLER_ADMIN),
        Some(json!({})),
    );
    assert_eq!(
        (status, decided["status"].as_str()),
        (StatusCode::OK, Some("approved")),
        "{decided}"
    );
    assert_eq!(expires(), before, "approved, ordered, not yet paid");
    run(now + chrono::Duration::days(2) + chrono::Duration::minutes(2));
    let renewed = before.checked_add_months(chrono::Months::new(1)).expect("date");
    assert_eq!(expires(), renewed);
    run(now + chrono::Duration::days(3) + chrono::Duration::minutes(3));
    assert_eq!(expires(), renewed, "paid once");
    assert!(pending_renewals().is_empty());
}

#[test]
fn a_change_to_a_cheaper_spec_is_reviewed_as_the_refund_of_its_credit() {
    // Demo resource 1's unused term (of the 1,500.00 demo order 9003) is worth more than the
    // enterprise spec for the days left: the change is a credit, refunded when it is paid.
    let quote_change = |app: &axum::Router| {
        let (status, quote) = call(
            app,
            "POST",
            "/v1/quotes/spec-change",
            Some(keys::CUSTOMER_102),
            Some(json!({ "resource_id": 1, "product_id": 2002 })),
        );
        assert_eq!(status, StatusCode::CREATED, "{quote}");
        assert_eq!(quote["total"].as_str().map(dec), Some(dec("0")), "{quote}");
        quote
    };
    // A rule that rejects refunds rejects it: the order is cancelled, nothing is refunded.
    let (state, app) = server(json!({ "reject": "refund" }));
    let quote = quote_change(&app);
    let (status, body) = order_quote(&app, &quote["quote_id"], "cheaper");
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("approval-rejected")),
        "{body}"
    );
    assert_eq!(
        tokio()
            .block_on(state.store.resource(1))
            .expect("read")
            .expect("resource")
            .product,
        2001
    );
    // One that escalates refunds holds it for a person, with the credit as the amount asked.
    let (_state, app) = server(json!({ "escalate": "refund" }));
    let quote = quote_change(&app);
    let (status, body) = order_quote(&app, &quote["quote_id"], "cheaper");
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["task"]["kind"], "refund", "{body}");
    // Rules that object to order reviews only are not what a credit is asked of.
    let (_state, app) = server(json!({ "reject": "order-review" }));
    let quote = quote_change(&app);
    let (status, body) = order_quote(&app, &quote["quote_id"], "cheaper");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (
            body["order"]["kind"].as_str(),
            body["order"]["amount"].as_str().map(dec)
        ),
        (Some("change"), Some(dec("0")))
    );
}

/// Customer 102's freeze, asked by reseller 2's admin: the gated action of these tests.
fn freeze_102(app: &axum::Router) -> (StatusCode, Value) {
    call(
        app,
        "POST",
        "/v1/customers/102/freeze",
        Some(keys::RESELLER_ADMIN),
        Some(json!({ "state": "account-frozen" })),
    )
}

fn freeze_state(state: &pchost_server::state::AppState) -> pchost_domain::FreezeState {
    tokio()
        .block_on(state.store.customer(102))
        .expect("read")
        .expect("customer")
        .freeze
}

#[test]
fn four_eyes_a_partners_rule_cannot_hand_its_actions_to_the_operator_or_the_customer() {
    for role in ["platform-operator", "customer"] {
        let state = api_state();
        bind_scripted_approval(
            &state,
            BindingScope::Partner,
            Some(demo::RESELLER),
            &json!({ "escalate": "freeze", "escalate-to": role }),
        );
        let app = router(state.clone());
        // An escalation out of the partner is an invalid answer: the fail-closed binding
        // refuses the action, and no task is queued for anyone.
        let (status, body) = freeze_102(&app);
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_GATEWAY, Some("plugin-failed")),
            "{role}: {body}"
        );
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains("escalat")),
            "the message says why: {body}"
        );
        assert_eq!(freeze_state(&state), pchost_domain::FreezeState::NotFrozen);
        let (_, tasks) = call(&app, "GET", "/v1/approval-tasks", Some(keys::OPERATOR), None);
        assert_eq!(tasks, json!([]), "{role}");
    }
}

#[test]
fn four_eyes_a_task_a_platform_rule_hands_to_the_operator_is_decided_by_the_operator_only() {
    let state = api_state();
    bind_scripted_approval(
        &state,
        BindingScope::Platform,
        None,
        &json!({ "escalate": "freeze", "escalate-to": "platform-operator" }),
    );
    let app = router(state.clone());
    let (status, body) = freeze_102(&app);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["task"]["role"], "platform-operator", "{body}");
    let id = body["task"]["id"].as_i64().expect("task");
    // No partner role is above the operator: reseller 2's other admin may not decide it.
    for verb in ["approve", "reject"] {
        let (status, refused) = call(
            &app,
            "POST",
            &format!("/v1/approval-tasks/{id}/{verb}"),
            Some(keys::RESELLER_ADMIN_2),
            Some(json!({})),
        );
        assert_eq!(
            (status, refused["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("role-not-permitted")),
            "{verb}: {refused}"
        );
    }
    assert_eq!(freeze_state(&state), pchost_domain::FreezeState::NotFrozen);
    let (status, decided) = call(
        &app,
        "POST",
        &format!("/v1/approval-tasks/{id}/approve"),
        Some(keys::OPERATOR),
        Some(json!({})),
    );
    assert_eq!(
        (status, decided["status"].as_str(), decided["decided_by"].as_str()),
        (StatusCode::OK, Some("approved"), Some("operator(key 1)")),
        "{decided}"
    );
    assert_eq!(freeze_state(&state), pchost_domain::FreezeState::AccountFrozen);
}

#[test]
fn rule_16_a_page_of_tasks_holds_the_ones_the_staff_sees_however_many_others_come_between() {
    let state = api_state();
    let app = router(state.clone());
    let task = |customer: i64| NewTask {
        kind: pchost_domain::ApprovalKind::Refund,
        partner: demo::RESELLER,
        customer: Some(customer),
        role: pchost_domain::Role::CustomerManager,
        reason: "big".into(),
        plugin: "refund-approval@0.2.0".into(),
        action: json!({ "refund": { "order": 9001, "amount": "60000.00" } }),
        requested_by: "partner-admin:2/500".into(),
        requested_key: None,
    };
    // One task of the manager's customer 101 after 600 of the salesperson's customer 102.
    let created = tokio().block_on(async {
        for _ in 0..600 {
            state
                .store
                .create_task(&task(demo::STANDARD_CUSTOMER), Utc::now())
                .await
                .expect("task");
        }
        state
            .store
            .create_task(&task(demo::KEY_ACCOUNT_CUSTOMER), Utc::now())
            .await
            .expect("task")
    });
    let ids = |key: &str| {
        let (status, tasks) = call(
            &app,
            "GET",
            "/v1/approval-tasks?status=pending&limit=50",
            Some(key),
            None,
        );
        assert_eq!(status, StatusCode::OK, "{tasks}");
        tasks
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| (t["id"].as_i64().expect("id"), t["customer"].as_i64().expect("customer")))
            .collect::<Vec<_>>()
    };
    // The first page of customer 101's manager (and its supervisor) holds that task, not an
    // empty page that 102's tasks filled.
    assert_eq!(ids(keys::MANAGER), vec![(created.id, demo::KEY_ACCOUNT_CUSTOMER)]);
    assert_eq!(ids(keys::SUPERVISOR), vec![(created.id, demo::KEY_ACCOUNT_CUSTOMER)]);
    // The salesperson's page is full of its own customer's, and the admin's of every one.
    let salesperson = ids(keys::SALESPERSON);
    assert_eq!(salesperson.len(), 50);
    assert!(
        salesperson
            .iter()
            .all(|(_, customer)| *customer == demo::STANDARD_CUSTOMER)
    );
    assert_eq!(ids(keys::RESELLER_ADMIN).len(), 50);
}
