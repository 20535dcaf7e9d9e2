//! Containment: no plugin can hold a thread, an instance slot or the host's time past its
//! deadline, whichever way it waits, and no owner can take another owner's share of the
//! instance pool. Each test asserts the specific failure, then that the next normal
//! invocation succeeds.

use crate::support::*;
use axum::http::StatusCode;
use chrono::Utc;
use pchost_domain::entities as d;
use pchost_runtime::{
    CapabilityData, FailureKind, InvokeError, PluginFailure, PluginRuntime, RuntimeConfig, RuntimeLimits,
};
use pchost_store::bindings::{BindingScope, FailurePolicy, NewBinding};
use pchost_store::demo;
use pchost_test_plugins as built;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the noisy neighbour does, by the quantity of the first line (plugins/hostile/README.md).
mod mode {
    pub const SLEEP_AN_HOUR: u32 = 1;
    pub const POLL_NEVER_READY: u32 = 2;
    pub const READ_STDIN: u32 = 3;
    pub const CAPABILITY_LOOP: u32 = 4;
    pub const SLEEP_10_MS: u32 = 5;
    pub const CAPABILITY_1000_TIMES: u32 = 6;
    pub const SPIN: u32 = 7;
    pub const COUNT_INVOCATIONS: u32 = 11;
    pub const ALIASED_REASONS: u32 = 12;
    pub const SUBSCRIBE_IN_A_LOOP: u32 = 13;
    pub const ANSWER: u32 = 10;
}

/// Installs the noisy neighbour for `owner` (granted the customer capability); returns its id.
fn install_noisy(runtime: &PluginRuntime, owner: i64) -> String {
    runtime
        .install(
            noisy_manifest(owner, None),
            &built::read(built::HOSTILE_NOISY_NEIGHBOUR),
        )
        .expect("a valid component")
        .id
        .clone()
}

/// The deadline of a noisy neighbour that must still be spinning while a test looks at what
/// it holds: long enough that a busy machine cannot end it first.
const LONG_DEADLINE_MS: u64 = 1_500;

/// Installs a second noisy neighbour for `owner`, named `spinner`, with the long deadline.
fn install_spinner(runtime: &PluginRuntime, owner: i64) -> String {
    runtime
        .install(
            noisy_manifest(owner, Some(LONG_DEADLINE_MS)),
            &built::read(built::HOSTILE_NOISY_NEIGHBOUR),
        )
        .expect("a valid component")
        .id
        .clone()
}

fn noisy_manifest(owner: i64, deadline_ms: Option<u64>) -> pchost_runtime::PluginManifest {
    let name = if deadline_ms.is_some() {
        "spinner"
    } else {
        "noisy-neighbour"
    };
    let mut manifest = manifest(name, "pricing-rule@0.2.0", owner, &["customer"]);
    manifest.limits.deadline_ms = deadline_ms;
    manifest
}

/// Waits until `owner` has `count` invocations running (admitted), for at most 10 s.
fn until_running(runtime: &PluginRuntime, owner: i64, count: u32) {
    let started = Instant::now();
    while runtime.running(owner) < count {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "owner {owner} never had {count} invocations running"
        );
        std::thread::yield_now();
    }
}

/// A quote of customer 102 whose first line asks the noisy neighbour for `mode`.
fn asking(mode: u32) -> pchost_runtime::model::Quote {
    quote(demo::STANDARD_CUSTOMER, 1, &[(mode, "100")])
}

fn failure<T: std::fmt::Debug>(result: Result<T, InvokeError>) -> PluginFailure {
    match result {
        Err(InvokeError::Plugin(failure)) => failure,
        other => panic!("expected a plugin failure, got {other:?}"),
    }
}

/// What a successful invocation logged.
fn logged(
    result: Result<pchost_runtime::Invocation<pchost_runtime::model::PriceAdjustments>, InvokeError>,
) -> Vec<String> {
    let invocation = result.expect("the plugin answers");
    invocation.logs.into_iter().map(|line| line.message).collect()
}

/// The next normal invocation after a failure runs and answers.
fn next_one_answers(runtime: &PluginRuntime, id: &str) {
    runtime
        .price(id, &asking(mode::ANSWER), demo_data())
        .expect("the next invocation runs normally");
}

#[test]
fn a_sleep_past_the_deadline_fails_as_a_timeout_at_once_without_waiting() {
    let runtime = runtime();
    let id = install_noisy(&runtime, demo::SELLER);
    let started = Instant::now();
    let failed = failure(runtime.price(&id, &asking(mode::SLEEP_AN_HOUR), demo_data()));
    assert_eq!(failed.kind, FailureKind::Timeout(100));
    // The hour is never waited: the virtual clock cannot reach it within the deadline. (A
    // generous bound: the point is that no real time is waited, let alone the deadline.)
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    next_one_answers(&runtime, &id);
}

#[test]
fn a_poll_on_a_pollable_that_never_becomes_ready_fails_as_a_timeout() {
    let runtime = runtime();
    let id = install_noisy(&runtime, demo::SELLER);
    let failed = failure(runtime.price(&id, &asking(mode::POLL_NEVER_READY), demo_data()));
    assert_eq!(failed.kind, FailureKind::Timeout(100));
    next_one_answers(&runtime, &id);
}

#[test]
fn a_blocking_read_of_stdin_returns_at_once_because_stdin_is_closed() {
    let runtime = runtime();
    let id = install_noisy(&runtime, demo::SELLER);
    assert_eq!(
        logged(runtime.price(&id, &asking(mode::READ_STDIN), demo_data())),
        vec!["stdin: Ok(0)".to_owned()]
    );
    next_one_answers(&runtime, &id);
}

#[test]
fn a_sleep_within_the_deadline_passes_on_the_virtual_clock_the_same_way_every_time() {
    let runtime = runtime();
    let id = install_noisy(&runtime, demo::SELLER);
    for _ in 0..2 {
        assert_eq!(
            logged(runtime.price(&id, &asking(mode::SLEEP_10_MS), demo_data())),
            vec!["slept 10 ms".to_owned()]
        );
    }
}

#[test]
fn a_capability_call_in_a_loop_is_refused_past_its_budget_and_stopped_at_the_deadline() {
    // A budget of 10, so that the loop passes it well within the deadline even on a loaded
    // machine (a debug build beside a compile once made only 70 calls in 100 ms).
    let budget = 10;
    let runtime = PluginRuntime::new(RuntimeConfig {
        limits: RuntimeLimits {
            max_capability_calls: budget,
            ..RuntimeLimits::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let id = install_noisy(&runtime, demo::RESELLER);
    let failed = failure(runtime.price(&id, &asking(mode::CAPABILITY_LOOP), demo_data()));
    assert_eq!(failed.kind, FailureKind::Timeout(100));
    // Every call is counted for the audit, the refused ones past the budget included.
    assert!(failed.usage.capability_calls > budget, "{:?}", failed.usage);
    next_one_answers(&runtime, &id);
}

#[test]
fn a_plugin_sees_the_capability_budget_as_a_clear_error_on_the_call_past_it() {
    let runtime = runtime();
    // The long deadline: 101 reads of a debug build beside the CPU-bound tests of this file
    // can take longer than 100 ms on a busy 2-core machine (seen: 30 reads). What is tested
    // is the budget, not the deadline.
    let id = install_spinner(&runtime, demo::RESELLER);
    let invocation = runtime
        .price(&id, &asking(mode::CAPABILITY_1000_TIMES), demo_data())
        .expect("the plugin answers");
    assert_eq!(
        invocation.logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        vec![r#"call 101: CapabilityError::Unavailable("capability call limit reached: 100 per invocation")"#]
    );
    assert_eq!(invocation.usage.capability_calls, 101);
    assert_eq!(invocation.usage.denied_calls, 0);
}

#[test]
fn reads_outside_the_owners_scope_are_counted_as_denied() {
    let runtime = runtime();
    // Seller 10 sees no customers: every read is refused as outside its scope.
    let id = install_noisy(&runtime, demo::SELLER);
    let invocation = runtime
        .price(&id, &asking(mode::CAPABILITY_1000_TIMES), demo_data())
        .expect("the plugin answers");
    assert_eq!(
        invocation.logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        vec!["call 1: CapabilityError::AccessDenied"]
    );
    assert_eq!(
        (invocation.usage.capability_calls, invocation.usage.denied_calls),
        (1, 1)
    );
}

/// Host data whose every read waits forever: a database that stopped answering.
struct Stalled;

#[async_trait::async_trait]
impl CapabilityData for Stalled {
    async fn partner(&self, _: d::PartnerId) -> Result<Option<d::Partner>, String> {
        std::future::pending().await
    }
    async fn customer(&self, _: d::CustomerId) -> Result<Option<d::Customer>, String> {
        std::future::pending().await
    }
    async fn customers_of(&self, _: &[d::PartnerId], _: d::CustomerId, _: u32) -> Result<Vec<d::Customer>, String> {
        std::future::pending().await
    }
    async fn resellers_of(&self, _: d::PartnerId) -> Result<Vec<d::PartnerId>, String> {
        std::future::pending().await
    }
    async fn order(&self, _: d::OrderId) -> Result<Option<d::Order>, String> {
        std::future::pending().await
    }
    async fn recent_orders(&self, _: d::CustomerId, _: u32) -> Result<Vec<d::Order>, String> {
        std::future::pending().await
    }
    async fn product(&self, _: d::ProductId) -> Result<Option<d::Product>, String> {
        std::future::pending().await
    }
    async fn list_price(&self, _: d::ProductId, _: d::PeriodType) -> Result<Option<d::ListPrice>, String> {
        std::future::pending().await
    }
    async fn invoice_info(&self, _: d::CustomerId) -> Result<Option<d::InvoiceInfo>, String> {
        std::future::pending().await
    }
    async fn invoice_requests(&self, _: d::CustomerId, _: u32) -> Result<Vec<d::InvoiceRequest>, String> {
        std::future::pending().await
    }
}

/// Host data that knows no customer, noting the nice value of the thread each customer read
/// runs on.
#[derive(Default)]
struct NiceOfReads {
    seen: std::sync::Mutex<Vec<i32>>,
}

/// The calling thread's nice value (Linux: field 19 of its `stat`).
fn this_threads_nice() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
    let after_name = &stat[stat.rfind(')').expect("name") + 2..];
    after_name.split(' ').nth(16).expect("nice").parse().expect("a number")
}

#[async_trait::async_trait]
impl CapabilityData for NiceOfReads {
    async fn partner(&self, _: d::PartnerId) -> Result<Option<d::Partner>, String> {
        Ok(None)
    }
    async fn customer(&self, _: d::CustomerId) -> Result<Option<d::Customer>, String> {
        self.seen.lock().expect("lock").push(this_threads_nice());
        Ok(None)
    }
    async fn customers_of(&self, _: &[d::PartnerId], _: d::CustomerId, _: u32) -> Result<Vec<d::Customer>, String> {
        Ok(Vec::new())
    }
    async fn resellers_of(&self, _: d::PartnerId) -> Result<Vec<d::PartnerId>, String> {
        Ok(Vec::new())
    }
    async fn order(&self, _: d::OrderId) -> Result<Option<d::Order>, String> {
        Ok(None)
    }
    async fn recent_orders(&self, _: d::CustomerId, _: u32) -> Result<Vec<d::Order>, String> {
        Ok(Vec::new())
    }
    async fn product(&self, _: d::ProductId) -> Result<Option<d::Product>, String> {
        Ok(None)
    }
    async fn list_price(&self, _: d::ProductId, _: d::PeriodType) -> Result<Option<d::ListPrice>, String> {
        Ok(None)
    }
    async fn invoice_info(&self, _: d::CustomerId) -> Result<Option<d::InvoiceInfo>, String> {
        Ok(None)
    }
    async fn invoice_requests(&self, _: d::CustomerId, _: u32) -> Result<Vec<d::InvoiceRequest>, String> {
        Ok(Vec::new())
    }
}

#[test]
fn host_reads_run_at_the_hosts_priority_not_at_the_guests() {
    let runtime = runtime();
    // The long deadline, as for the budget's test above: 101 reads, each a hop to the host
    // and back to a guest thread of lower priority, on a busy machine.
    let id = install_spinner(&runtime, demo::SELLER);
    let host_nice = this_threads_nice();
    let reads = Arc::new(NiceOfReads::default());
    runtime
        .price(&id, &asking(mode::CAPABILITY_1000_TIMES), reads.clone())
        .expect("the plugin answers");
    // This thread ran the guest, at the guests' lower priority; the reads ran on the host's.
    let guest_nice = this_threads_nice();
    assert!(guest_nice > host_nice, "guest code ran at nice {guest_nice}");
    let seen = reads.seen.lock().expect("lock").clone();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|nice| *nice == host_nice), "reads ran at nice {seen:?}");
}

#[test]
fn the_watchdog_stops_an_invocation_waiting_on_a_host_read_and_its_slot_and_thread_come_back() {
    // Two instance slots only: were a stalled invocation to keep its slot, the third would
    // find none.
    let runtime = Arc::new(
        PluginRuntime::new(RuntimeConfig {
            limits: RuntimeLimits {
                max_concurrent_instances: 2,
                owner_concurrency: 2,
                ..RuntimeLimits::default()
            },
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let id = install_noisy(&runtime, demo::RESELLER);
    let stalled = |runtime: Arc<PluginRuntime>, id: String| {
        std::thread::spawn(move || {
            let started = Instant::now();
            let failed = failure(runtime.price(&id, &asking(mode::CAPABILITY_LOOP), Arc::new(Stalled)));
            (failed.kind, started.elapsed())
        })
    };
    for _ in 0..2 {
        let both = [
            stalled(runtime.clone(), id.clone()),
            stalled(runtime.clone(), id.clone()),
        ];
        for thread in both {
            let (kind, took) = thread.join().expect("the thread comes back");
            assert_eq!(kind, FailureKind::Timeout(100));
            // The deadline (100 ms) plus the watchdog's margin (20 ms), give or take a busy
            // machine: not the forever the read would wait.
            assert!(took < Duration::from_secs(2), "took {took:?}");
        }
    }
    assert_eq!(runtime.running(demo::RESELLER), 0);
    next_one_answers(&runtime, &id);
}

#[test]
fn an_owner_past_its_share_of_the_pool_is_refused_while_other_owners_run() {
    let _alone = spinning_alone();
    let runtime = Arc::new(
        PluginRuntime::new(RuntimeConfig {
            limits: RuntimeLimits {
                max_concurrent_instances: 4,
                owner_concurrency: 1,
                admission_wait: Duration::from_millis(10),
                ..RuntimeLimits::default()
            },
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let seller = install_noisy(&runtime, demo::SELLER);
    let spinner = install_spinner(&runtime, demo::SELLER);
    let reseller = install_noisy(&runtime, demo::RESELLER);
    // Seller 10's one permit is held by a plugin spinning until its deadline.
    let spinning = {
        let runtime = runtime.clone();
        std::thread::spawn(move || failure(runtime.price(&spinner, &asking(mode::SPIN), demo_data())).kind)
    };
    until_running(&runtime, demo::SELLER, 1);
    let refused = failure(runtime.price(&seller, &asking(mode::ANSWER), demo_data()));
    assert_eq!(
        refused.kind,
        FailureKind::ConcurrencyLimit {
            owner: demo::SELLER,
            limit: 1
        }
    );
    // Reseller 2's plugins are not held back by seller 10's share.
    runtime
        .price(&reseller, &asking(mode::ANSWER), demo_data())
        .expect("another owner's invocation runs meanwhile");
    assert_eq!(spinning.join().expect("joined"), FailureKind::Timeout(LONG_DEADLINE_MS));
    next_one_answers(&runtime, &seller);
}

#[test]
fn over_the_api_a_busy_owner_is_refused_429_for_its_own_products_only_and_audited() {
    let _alone = spinning_alone();
    let runtime = Arc::new(
        PluginRuntime::new(RuntimeConfig {
            limits: RuntimeLimits {
                owner_concurrency: 1,
                admission_wait: Duration::from_millis(10),
                ..RuntimeLimits::default()
            },
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let state = api_state_on(runtime.clone());
    tokio().block_on(async {
        pchost_extensions::install::install(
            &state.store,
            &state.host.runtime,
            noisy_manifest(demo::SELLER, Some(LONG_DEADLINE_MS)),
            &built::read(built::HOSTILE_NOISY_NEIGHBOUR),
            &state.host.plugin_quota,
        )
        .await
        .expect("installed");
        state
            .store
            .create_binding(
                &NewBinding {
                    world: "pricing-rule".into(),
                    scope: BindingScope::Seller,
                    scope_id: Some(demo::SELLER),
                    plugin_owner: demo::SELLER,
                    plugin_name: "spinner".into(),
                    version: "0.1.0".into(),
                    position: -10,
                    failure_policy: FailurePolicy::FailClosed,
                    enabled: true,
                    settings: Default::default(),
                },
                "test",
                Utc::now(),
            )
            .await
            .expect("bound");
        state.host.bindings.reload(&state.store).await.expect("reload");
    });
    let app = pchost_server::app::router(state);
    let seller_line = |quantity: u32| {
        json!({ "customer_id": 102, "currency": "CNY",
                "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": quantity }] })
    };
    // Seller 10's one permit is held by a quote whose first rule spins until its deadline.
    let spinning = {
        let app = app.clone();
        let body = seller_line(mode::SPIN);
        std::thread::spawn(move || call(&app, "POST", "/v1/quotes", Some(keys::CUSTOMER_102), Some(body)))
    };
    until_running(&runtime, demo::SELLER, 1);
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        Some(keys::CUSTOMER_102),
        Some(seller_line(mode::ANSWER)),
    );
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "plugin-concurrency-limit");
    assert_eq!(
        body["plugin"]["kind"],
        json!({ "kind": "concurrency-limit", "detail": { "owner": 10, "limit": 1 } })
    );
    // Reseller 2's quote for customer 101 names no product of seller 10: priced meanwhile.
    let (status, body) = call(
        &app,
        "POST",
        "/v1/quotes",
        Some(keys::CUSTOMER_101),
        Some(json!({ "customer_id": 101, "currency": "CNY",
                     "lines": [{ "product_id": 1001, "period": "month", "period_count": 1, "quantity": 2 }] })),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = spinning.join().expect("joined");
    assert_eq!(
        (status, &body["plugin"]["kind"]["kind"]),
        (StatusCode::BAD_GATEWAY, &json!("timeout"))
    );
    // Both are on the seller's audit trail, the refusal with what it was.
    // Both are on the seller's audit trail, the refusal with what it was: the spinner, the
    // first of its rules (bound before its volume discount), found its share taken.
    let (status, audit) = call(&app, "GET", "/v1/invocations", Some(keys::SELLER_ADMIN), None);
    assert_eq!(status, StatusCode::OK);
    let mut outcomes: Vec<(String, String)> = audit
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            let failure: serde_json::Value =
                serde_json::from_str(r["failure"].as_str().unwrap_or("null")).expect("JSON");
            let kind = failure["kind"]["kind"].as_str().unwrap_or("ok").to_owned();
            (r["plugin"].as_str().unwrap_or_default().to_owned(), kind)
        })
        .collect();
    outcomes.sort();
    let expected = [("spinner@0.1.0", "concurrency-limit"), ("spinner@0.1.0", "timeout")];
    assert_eq!(
        outcomes,
        expected.map(|(p, k)| (p.to_owned(), k.to_owned())),
        "{audit:#}"
    );
}

/// A runtime that runs guest code one invocation at a time (as on one core), its epoch
/// advancing every `tick`.
/// The tests that keep guest code spinning until its deadline run one at a time: each
/// measures how turns and slots are shared, on two cores another such test would saturate.
fn spinning_alone() -> std::sync::MutexGuard<'static, ()> {
    static SPINNING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SPINNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn one_turn_runtime(tick: Duration) -> Arc<PluginRuntime> {
    Arc::new(
        PluginRuntime::new(RuntimeConfig {
            epoch_tick: tick,
            limits: RuntimeLimits {
                guest_turns: 1,
                ..RuntimeLimits::default()
            },
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    )
}

#[test]
fn an_owner_spinning_on_every_core_leaves_another_owners_rule_a_turn_within_a_tick() {
    let _alone = spinning_alone();
    // One turn of guest code at a time (one core), held by three of seller 10's invocations
    // spinning until their deadline: without turns, reseller 2's rule would wait for them.
    let runtime = one_turn_runtime(RuntimeConfig::default().epoch_tick);
    let spinner = install_spinner(&runtime, demo::SELLER);
    let reseller = install_noisy(&runtime, demo::RESELLER);
    let spinners: Vec<_> = (0..3)
        .map(|_| {
            let (runtime, spinner) = (runtime.clone(), spinner.clone());
            std::thread::spawn(move || failure(runtime.price(&spinner, &asking(mode::SPIN), demo_data())).kind)
        })
        .collect();
    until_running(&runtime, demo::SELLER, 3);
    runtime
        .price(&reseller, &asking(mode::ANSWER), demo_data())
        .expect("reseller 2's rule gets a turn");
    // It answered while all three spinners were still running (each runs to its deadline).
    assert_eq!(runtime.running(demo::SELLER), 3);
    for spinner in spinners {
        assert_eq!(spinner.join().expect("joined"), FailureKind::Timeout(LONG_DEADLINE_MS));
    }
}

#[test]
fn a_rule_waiting_for_a_turn_sends_a_spinner_to_its_callback_at_once_not_at_the_next_tick() {
    let _alone = spinning_alone();
    // Ticks 3 s apart and one turn: only the waiting rule's nudge can take the turn from the
    // spinner before the next tick.
    let tick = Duration::from_secs(3);
    let runtime = one_turn_runtime(tick);
    let spinner = install_spinner(&runtime, demo::SELLER);
    // The waiting rule's deadline is long too (1.5 s, half the tick): on a busy machine its
    // turn may come later than 100 ms after the nudge, and what is tested is that it comes
    // before the tick. Without the nudge it would wait for the tick and time out.
    let reseller = install_spinner(&runtime, demo::RESELLER);
    let spinning = {
        let (runtime, spinner) = (runtime.clone(), spinner.clone());
        std::thread::spawn(move || failure(runtime.price(&spinner, &asking(mode::SPIN), demo_data())).kind)
    };
    until_running(&runtime, demo::SELLER, 1);
    // Past the spinner's slice of its turn (200 µs) by far, even on a busy machine where its
    // thread takes a while to reach its turn after admission: were it to take its turn within
    // a slice of the nudge, it would rightly keep it until the next tick.
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    runtime
        .price(&reseller, &asking(mode::ANSWER), demo_data())
        .expect("reseller 2's rule gets the turn");
    let waited = asked.elapsed();
    assert!(
        waited < tick / 2,
        "reseller 2's rule waited {waited:?}, as for the tick"
    );
    // The spinner ran on to its deadline, stopped at the tick after it.
    assert_eq!(spinning.join().expect("joined"), FailureKind::Timeout(LONG_DEADLINE_MS));
    next_one_answers(&runtime, &spinner);
}

#[test]
fn an_answer_whose_strings_all_alias_one_buffer_is_refused_before_the_host_copies_more_than_2_mib() {
    let runtime = runtime();
    let id = install_noisy(&runtime, demo::SELLER);
    // 1 MiB in the guest, 100 MiB were the host to copy every reason.
    let failed = failure(runtime.price(&id, &asking(mode::ALIASED_REASONS), demo_data()));
    assert_eq!(
        failed.kind,
        FailureKind::InvalidOutput(format!(
            "the plugin passed the host more than {} bytes in one call; the output limit is {}",
            2 << 20,
            1 << 20
        ))
    );
    next_one_answers(&runtime, &id);
}

#[test]
fn a_guest_holding_host_resources_in_a_loop_traps_at_1024_instead_of_growing_the_host() {
    let runtime = runtime();
    let id = install_noisy(&runtime, demo::SELLER);
    let failed = failure(runtime.price(&id, &asking(mode::SUBSCRIBE_IN_A_LOOP), demo_data()));
    // A trap naming the full table, not a timeout after a million pollables.
    let FailureKind::Trap(message) = &failed.kind else {
        panic!("expected a trap, got {:?}", failed.kind);
    };
    assert!(message.contains("resource table has no free keys"), "{message}");
    next_one_answers(&runtime, &id);
}

#[test]
fn no_state_survives_from_one_invocation_to_the_next() {
    let runtime = runtime();
    let id = install_noisy(&runtime, demo::SELLER);
    for _ in 0..3 {
        assert_eq!(
            logged(runtime.price(&id, &asking(mode::COUNT_INVOCATIONS), demo_data())),
            vec!["invocation 1".to_owned()]
        );
    }
}
