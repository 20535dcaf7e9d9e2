//! Two replicas' schedulers on one PostgreSQL database (issue #17): every replica runs the
//! background jobs, so each due item must be claimed by exactly one of them (rule 11's
//! auto-renewal paid once, the term extended once), however their runs overlap. Runs when
//! `PCHOST_TEST_POSTGRES_URL` names a server, in a database of its own; skipped, saying so,
//! otherwise. (The processes themselves: `host/server/tests/replicas.rs`.)

use crate::support::*;
use chrono::Utc;
use pchost_server::state::AppState;
use pchost_store::demo::DemoData;
use pchost_store::store::Store;

/// A database of the test's own, dropped after it (failing or not).
struct Database {
    admin: String,
    name: String,
}

impl Database {
    fn create(admin: &str) -> (Self, String) {
        let name = format!("pchost_sched_{}", std::process::id());
        run_on(admin, &format!("CREATE DATABASE {name}"));
        let (base, _) = admin.rsplit_once('/').expect("URL ends in /<database>");
        let url = format!("{base}/{name}");
        (
            Database {
                admin: admin.to_owned(),
                name,
            },
            url,
        )
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        run_on(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn run_on(url: &str, statement: &str) {
    let (url, statement) = (url.to_owned(), statement.to_owned());
    // A thread of its own: the shared runtime may be unwinding a failed test.
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().expect("runtime").block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
            sqlx::query(&statement).execute(&pool).await.expect(&statement);
            pool.close().await;
        })
    })
    .join()
    .expect("statement");
}

/// A replica's state: its own connections to the shared database, the versions and bindings
/// loaded from it.
fn replica(url: &str) -> AppState {
    let store = tokio().block_on(Store::connect(url)).expect("connect");
    let state = AppState::new(store, shared_runtime(), pchost_server::ratelimit::RateLimit::default());
    tokio().block_on(async {
        pchost_extensions::install::sync_installed(&state.store, &state.host.runtime, &Default::default())
            .await
            .expect("sync");
        state.host.bindings.reload(&state.store).await.expect("bindings");
    });
    state
}

#[test]
fn rule_11_two_replicas_schedulers_overlapping_renew_a_resource_once() {
    let Ok(admin) = std::env::var("PCHOST_TEST_POSTGRES_URL") else {
        eprintln!("scheduler replicas test SKIPPED: set PCHOST_TEST_POSTGRES_URL to run it");
        return;
    };
    let (_database, url) = Database::create(&admin);
    let seeded = tokio().block_on(async {
        let store = Store::connect(&url).await.expect("connect");
        store
            .seed_demo_if_empty(&DemoData::new(Utc::now()))
            .await
            .expect("seed");
        store
    });
    let a = api_state_over(seeded, shared_runtime());
    let b = replica(&url);
    let customer = pchost_store::accounts::Actor {
        role: pchost_domain::Role::Customer,
        partner: Some(pchost_store::demo::RESELLER),
        id: Some(pchost_store::demo::STANDARD_CUSTOMER),
        on_behalf_of: None,
    };
    tokio()
        .block_on(a.store.set_auto_renew(1, true, &customer))
        .expect("auto-renew on");
    let cny = "CNY".parse().expect("currency");
    let balance = || tokio().block_on(a.store.customer_balance(102, cny)).expect("balance");
    let expires = || {
        tokio()
            .block_on(a.store.resource(1))
            .expect("read")
            .expect("resource 1")
            .expires_at
    };
    let (before, paid_before) = (expires(), balance());
    let due = before - chrono::Duration::days(6);
    // Both replicas' runs at once, three times over.
    for _ in 0..3 {
        let (ran_a, ran_b) = tokio().block_on(async {
            tokio::join!(
                pchost_server::scheduler::run_once(&a, due),
                pchost_server::scheduler::run_once(&b, due)
            )
        });
        ran_a.expect("A's run");
        ran_b.expect("B's run");
    }
    // One month of product 2001 through the chain (90.81, see http_api's rule 11 test), once.
    assert_eq!(
        expires(),
        before.checked_add_months(chrono::Months::new(1)).expect("date")
    );
    assert_eq!(balance(), paid_before - dec("90.81"));
    let renewals: i64 = tokio()
        .block_on(
            sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE kind = 'renew' AND status = 'completed'")
                .fetch_one(a.store.pool()),
        )
        .expect("renewals");
    assert_eq!(renewals, 1);
    let items: i64 = tokio()
        .block_on(
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(items), 0) AS BIGINT) FROM scheduler_runs WHERE job = 'auto-renew'",
            )
            .fetch_one(a.store.pool()),
        )
        .expect("runs");
    assert_eq!(items, 1, "one replica's run renewed it, and only one");
    tokio().block_on(async {
        a.store.close().await;
        b.store.close().await;
    });
}

#[test]
fn metrics_count_a_bound_version_this_replica_has_not_loaded_and_drop_a_deleted_versions_series() {
    // A runtime of the test's own: it unloads versions.
    let state = api_state_on(std::sync::Arc::new(runtime()));
    // A quote runs the bundled rules: their invocations are counted.
    let app = pchost_server::app::router(state.clone());
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        Some("pch_demo_customer_101"),
        Some(serde_json::json!({ "customer_id": 101, "currency": "CNY",
            "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 1 }] })),
    );
    assert_eq!(status, axum::http::StatusCode::CREATED, "{body}");
    let counted = |text: &str| {
        text.lines()
            .any(|l| l.starts_with("pchost_plugin_invocations_total{plugin=\"volume-discount@"))
    };
    let text = state.metrics.render(&state);
    assert!(counted(&text), "{text}");
    assert!(
        text.lines().any(|l| l == "pchost_bound_versions_not_loaded 0"),
        "{text}"
    );

    // Another replica recorded a version and bound it; this one has not loaded it.
    let new = pchost_store::bindings::NewPluginVersion {
        digest: &"0".repeat(64),
        name: "elsewhere",
        version: "0.1.0",
        world: "pricing-rule",
        owner: pchost_store::demo::RESELLER,
        manifest: "name = \"elsewhere\"\nversion = \"0.1.0\"\nworld = \"pricing-rule\"\nowner = 2\n",
        component: &[0; 100],
    };
    let binding = pchost_store::bindings::NewBinding {
        world: "pricing-rule".into(),
        scope: pchost_store::bindings::BindingScope::Partner,
        scope_id: Some(pchost_store::demo::RESELLER),
        plugin_owner: pchost_store::demo::RESELLER,
        plugin_name: "elsewhere".into(),
        version: "0.1.0".into(),
        position: 50,
        failure_policy: pchost_store::bindings::FailurePolicy::FailClosed,
        enabled: true,
        settings: Default::default(),
    };
    tokio().block_on(async {
        state
            .store
            .record_plugin(&new, &state.host.plugin_quota)
            .await
            .expect("record");
        state
            .store
            .create_binding(&binding, "operator", Utc::now())
            .await
            .expect("bound");
        state.host.bindings.reload(&state.store).await.expect("reload");
    });
    assert_eq!(
        pchost_server::metrics::not_loaded(&state),
        vec![format!("{}/elsewhere@0.1.0", pchost_store::demo::RESELLER)]
    );
    let text = state.metrics.render(&state);
    assert!(
        text.lines().any(|l| l == "pchost_bound_versions_not_loaded 1"),
        "{text}"
    );

    // The bundled versions gone from this replica: their series go too.
    for plugin in state.host.runtime.plugins() {
        state.host.runtime.unload(&plugin.id);
    }
    assert!(!counted(&state.metrics.render(&state)), "a deleted version's series go");
}
