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
