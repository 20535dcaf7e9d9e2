//! Scale-out on PostgreSQL (issue #17): two `pchost serve` replicas, A and B, on different
//! ports and data directories (neither sees the other's files), share one PostgreSQL database:
//!
//! - a plugin uploaded through A is invoked through B, which compiles it from the component
//!   the database keeps;
//! - a binding changed through A takes effect on B within one second (each delay printed);
//! - 200 concurrent payments split across both, some paid twice at once through both, reconcile
//!   exactly: every balance is the sum of its ledger entries, no account below zero, no order
//!   paid twice, a payment refused only when the balance no longer covered it (rules 6, 9);
//! - A SIGKILLed in the middle of a payment load leaves B serving: every payment that A was
//!   answering is retried on B under its idempotency key, and each order ends paid exactly once;
//! - `/metrics` scraped from each counts the plugin's invocations.
//!
//! Runs when `PCHOST_TEST_POSTGRES_URL` names a server (`.ci/run` sets it), in a database of
//! its own dropped after; skipped, saying so, otherwise.

mod common;

use common::{PostgresDatabase, Server, receive, runtime, send, serve_with, upload};
use pchost_store::store::Store;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SELLER: &str = "pch_demo_seller_admin";
const OPERATOR: &str = "pch_demo_operator";
/// The demo's key-account customer (20,000.00 in cash) and standard one (5,000.00).
const CUSTOMERS: [i64; 2] = [101, 102];

#[test]
fn two_replicas_share_plugins_bindings_and_money_through_postgresql() {
    let Ok(admin_url) = std::env::var("PCHOST_TEST_POSTGRES_URL") else {
        eprintln!("replica test SKIPPED: set PCHOST_TEST_POSTGRES_URL to run it");
        return;
    };
    let database = PostgresDatabase::create(&admin_url, "replicas");
    // A seeds the demo data; B starts on the seeded database.
    let a = replica("a", &database.url);
    let b = replica("b", &database.url);

    let binding = uploaded_through_a_invoked_through_b(&a, &b);
    binding_changes_reach_b_within_a_second(&a, &b, binding);

    let rt = runtime();
    let store = rt
        .block_on(Store::connect(&database.url))
        .expect("the replicas' database");
    let before = rt.block_on(ledger(&store));
    concurrent_payments_reconcile(&a, &b, &rt, &store, &before);
    let a_metrics = invocations_counted(&a);
    one_replica_killed_mid_load_the_other_serves(a, &b, &rt, &store);
    let b_metrics = invocations_counted(&b);
    report(&format!(
        "/metrics: volume-discount@0.2.0 invocations counted on A {a_metrics}, on B {b_metrics}"
    ));
    rt.block_on(store.close());
}

/// Prints a figure of the run past the test harness's capture (it writes to the stream, not
/// through `eprintln!`), so that CI's log shows it on a passing run too.
fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "replicas: {line}");
}

/// `pchost serve` on the shared database, in a data directory of its own.
fn replica(name: &str, url: &str) -> Server {
    let dir = std::env::temp_dir().join(format!("pchost-replica-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");
    serve_with(
        dir,
        &[
            "--demo",
            "--database-url",
            url,
            // The load is not about rate limits.
            "--rate-limit-per-second",
            "100000",
            "--rate-limit-burst",
            "100000",
        ],
    )
}

fn call(server: &Server, method: &str, path: &str, key: &str, body: Value, extra: &str) -> (u16, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    common::request(server, method, path, Some(key), "application/json", &body, extra)
}

fn quote(server: &Server, customer: i64, quantity: u32) -> (u16, Value) {
    call(
        server,
        "POST",
        "/v1/quotes",
        &format!("pch_demo_customer_{customer}"),
        json!({ "customer_id": customer, "currency": "CNY",
            "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": quantity }] }),
        "",
    )
}

/// The total B quotes for 5 units of product 2001 (88.50 a month each).
fn total_on(server: &Server) -> String {
    let (status, body) = quote(server, 102, 5);
    assert_eq!(status, 201, "{body}");
    body["total"].as_str().expect("total").to_owned()
}

/// Polls `server` until its quote totals `expected`; returns how long that took.
fn until_quoted(server: &Server, expected: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let total = total_on(server);
        if total == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{} still quotes {total}, not {expected}, after {within:?}",
            server.address
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The seller uploads the volume discount through A and binds it through A (tier 1 from 2
/// units, 50% off); B, which never saw the file, prices with it. Returns the binding.
fn uploaded_through_a_invoked_through_b(a: &Server, b: &Server) -> i64 {
    let root = pchost_test_plugins::repo_root();
    let manifest = std::fs::read_to_string(root.join("plugins/volume-discount/plugin.toml")).expect("manifest");
    let component = pchost_test_plugins::read(pchost_test_plugins::VOLUME_DISCOUNT);
    assert_eq!(total_on(b), "442.50", "nothing bound yet: list price");
    let uploaded = common::ok(201, upload(a, SELLER, &manifest, &component));
    let digest = uploaded["digest"].as_str().expect("digest").to_owned();
    let bound = common::ok(
        201,
        call(
            a,
            "POST",
            "/v1/bindings",
            SELLER,
            json!({ "world": "pricing-rule", "plugin": "volume-discount", "version": "0.2.0", "position": 10,
                "settings": { "tier-1-units": 2, "tier-1-percent": "50" } }),
            "",
        ),
    );
    let took = until_quoted(b, "221.25", Duration::from_secs(60));
    report(&format!(
        "uploaded through A, priced through B {:.0} ms after the binding (compiled there from the database)",
        took.as_secs_f64() * 1e3
    ));
    let b_files: Vec<String> = std::fs::read_dir(b.dir.join("artefacts"))
        .expect("B's artefacts")
        .map(|f| f.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        b_files.iter().any(|f| f.starts_with(&digest) && f.ends_with(".cwasm")),
        "B compiled its own artefact: {b_files:?}"
    );
    let (status, ready) = common::request(b, "GET", "/readyz", None, "application/json", b"", "");
    assert_eq!(status, 200, "B is ready once it runs every bound plugin: {ready}");
    bound["id"].as_i64().expect("binding id")
}

/// The binding's discount changed through A, five times: each takes effect on B within a
/// second (notified at commit, not polled).
fn binding_changes_reach_b_within_a_second(a: &Server, b: &Server, binding: i64) {
    let mut delays = Vec::new();
    for (percent, total) in [
        ("20", "354.00"),
        ("30", "309.75"),
        ("50", "221.25"),
        ("40", "265.50"),
        ("10", "398.25"),
    ] {
        let change = json!({ "settings": { "tier-1-units": 2, "tier-1-percent": percent } });
        common::ok(
            200,
            call(a, "PATCH", &format!("/v1/bindings/{binding}"), SELLER, change, ""),
        );
        delays.push(until_quoted(b, total, Duration::from_secs(5)));
    }
    let shown: Vec<String> = delays
        .iter()
        .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
        .collect();
    report(&format!(
        "binding changed through A, in effect on B after: {}",
        shown.join(", ")
    ));
    for delay in delays {
        assert!(delay < Duration::from_secs(1), "a change took {delay:?} to reach B");
    }
}

/// Each account's balance, floor and ledger's sum, and each order's payments, from the
/// database.
struct Ledger {
    balances: BTreeMap<i64, Decimal>,
    /// How low each may go: zero for cash, minus its limit for credit (rules 6, 14).
    floors: BTreeMap<i64, Decimal>,
    sums: BTreeMap<i64, Decimal>,
    /// Per order: its amount, status, and what its payment entries took.
    orders: BTreeMap<i64, (Decimal, String, Decimal)>,
    /// Each customer's accounts.
    accounts_of: BTreeMap<i64, Vec<i64>>,
}

async fn ledger(store: &Store) -> Ledger {
    let pool = store.pool();
    let cents = |c: i64| Decimal::new(c, 2);
    let mut ledger = Ledger {
        balances: BTreeMap::new(),
        floors: BTreeMap::new(),
        sums: BTreeMap::new(),
        orders: BTreeMap::new(),
        accounts_of: BTreeMap::new(),
    };
    for row in sqlx::query("SELECT id, owner_kind, owner_id, kind, balance_cents, credit_limit_cents FROM accounts")
        .fetch_all(pool)
        .await
        .expect("accounts")
    {
        let id: i64 = row.get("id");
        ledger.balances.insert(id, cents(row.get("balance_cents")));
        let floor = if row.get::<String, _>("kind") == "credit" {
            -cents(row.get("credit_limit_cents"))
        } else {
            Decimal::ZERO
        };
        ledger.floors.insert(id, floor);
        if row.get::<String, _>("owner_kind") == "customer" {
            ledger.accounts_of.entry(row.get("owner_id")).or_default().push(id);
        }
    }
    for row in
        sqlx::query("SELECT account, CAST(SUM(amount_cents) AS BIGINT) AS total FROM ledger_entries GROUP BY account")
            .fetch_all(pool)
            .await
            .expect("ledger")
    {
        ledger.sums.insert(row.get("account"), cents(row.get("total")));
    }
    let payments: BTreeMap<i64, Decimal> = sqlx::query(
        "SELECT order_id, CAST(SUM(amount_cents) AS BIGINT) AS total FROM ledger_entries \
         WHERE reason = 'payment' AND order_id IS NOT NULL GROUP BY order_id",
    )
    .fetch_all(pool)
    .await
    .expect("payments")
    .iter()
    .map(|r| (r.get("order_id"), -cents(r.get("total"))))
    .collect();
    for row in sqlx::query("SELECT id, amount, status FROM orders")
        .fetch_all(pool)
        .await
        .expect("orders")
    {
        let id: i64 = row.get("id");
        let amount = Decimal::from_str_exact(&row.get::<String, _>("amount")).expect("amount");
        let paid = payments.get(&id).copied().unwrap_or_default();
        ledger.orders.insert(id, (amount, row.get("status"), paid));
    }
    ledger
}

/// Every balance is its ledger's sum, no account below zero, and every order in `orders` was
/// paid exactly once (its payment entries come to its amount) or not at all.
fn reconciles(after: &Ledger, orders: &BTreeSet<i64>, paid: &BTreeSet<i64>) {
    for (account, balance) in &after.balances {
        let sum = after.sums.get(account).copied().unwrap_or_default();
        assert_eq!(
            *balance, sum,
            "account {account}: its balance is the sum of its ledger entries"
        );
        assert!(
            *balance >= after.floors[account],
            "account {account} below its floor: {balance}"
        );
    }
    for order in orders {
        let (amount, status, taken) = &after.orders[order];
        if paid.contains(order) {
            assert_eq!(taken, amount, "order {order} ({status}) paid exactly once");
            assert_eq!(status, "completed", "order {order}");
        } else {
            assert_eq!(*taken, Decimal::ZERO, "order {order} ({status}) not paid");
            assert_eq!(status, "pending-payment", "order {order}");
        }
    }
}

/// `count` orders of one unit of product 2001 for each of `customers`, created alternately
/// through A and B.
fn orders(a: &Server, b: &Server, count: usize, tag: &str, customers: &[i64]) -> Vec<(i64, i64)> {
    let mut created = Vec::new();
    for i in 0..count {
        for &customer in customers {
            let server = if i.is_multiple_of(2) { a } else { b };
            let (status, quoted) = quote(server, customer, 1);
            assert_eq!(status, 201, "{quoted}");
            let order = common::ok(
                201,
                call(
                    server,
                    "POST",
                    "/v1/orders",
                    &format!("pch_demo_customer_{customer}"),
                    json!({ "quote_id": quoted["quote_id"] }),
                    &format!("Idempotency-Key: {tag}-order-{customer}-{i}\r\n"),
                ),
            );
            created.push((customer, order["order"]["id"].as_i64().expect("order id")));
        }
    }
    created
}

/// Pays `order` as its customer through `address` under `key`: the status and answer, or the
/// connection's failure.
fn pay(address: &str, customer: i64, order: i64, key: &str) -> std::io::Result<(u16, Value)> {
    send(
        address,
        "POST",
        &format!("/v1/orders/{order}/payments"),
        Some(&format!("pch_demo_customer_{customer}")),
        "application/json",
        b"{}",
        &format!("Idempotency-Key: {key}\r\n"),
    )
    .and_then(receive)
}

/// 200 payments from 8 threads, alternately through A and B; 20 of the orders are also paid
/// a second time at once through the other replica, under another key. Customer 102's 5,000.00
/// cannot pay all of its 100 orders: the refusals must be exactly the ones its balance no
/// longer covered.
fn concurrent_payments_reconcile(a: &Server, b: &Server, rt: &tokio::runtime::Runtime, store: &Store, before: &Ledger) {
    let created = orders(a, b, 100, "load", &CUSTOMERS);
    assert_eq!(created.len(), 200);
    let next = AtomicUsize::new(0);
    let answers: Mutex<Vec<(i64, i64, u16, Value)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(customer, order)) = created.get(i) else {
                        break;
                    };
                    let (first, second) = if i.is_multiple_of(2) { (a, b) } else { (b, a) };
                    let mut paid = vec![(first, format!("load-pay-{order}"))];
                    if i % 10 == 3 {
                        paid.push((second, format!("load-pay-again-{order}")));
                    }
                    let results: Vec<(u16, Value)> = std::thread::scope(|inner| {
                        let running: Vec<_> = paid
                            .iter()
                            .map(|(server, key)| {
                                inner.spawn(move || pay(&server.address, customer, order, key).expect("an answer"))
                            })
                            .collect();
                        running.into_iter().map(|r| r.join().expect("payment")).collect()
                    });
                    let mut all = answers.lock().unwrap_or_else(|p| p.into_inner());
                    all.extend(
                        results
                            .into_iter()
                            .map(|(status, body)| (customer, order, status, body)),
                    );
                }
            });
        }
    });
    let answers = answers.into_inner().unwrap_or_else(|p| p.into_inner());
    let after = rt.block_on(ledger(store));
    let paid: BTreeSet<i64> = answers.iter().filter(|a| a.2 == 201).map(|a| a.1).collect();
    assert_eq!(
        paid.len(),
        answers.iter().filter(|a| a.2 == 201).count(),
        "no order was answered paid twice"
    );
    let orders: BTreeSet<i64> = created.iter().map(|c| c.1).collect();
    reconciles(&after, &orders, &paid);
    let mut refused = 0;
    for (customer, order, status, body) in &answers {
        match (status, body["code"].as_str()) {
            (201, _) => {}
            // The second payment of an order paid through the other replica.
            (409, Some("order-state")) => assert!(paid.contains(order), "order {order}: {body}"),
            // The second payment of an order the other one paid may meet the emptied balance
            // first: it paid nothing (the ledger says so above).
            (_, Some("insufficient-balance")) if paid.contains(order) => {}
            (_, Some("insufficient-balance")) => {
                refused += 1;
                // Cash plus unused credit (rule 6).
                let left: Decimal = before.accounts_of[customer]
                    .iter()
                    .map(|acc| after.balances[acc] - after.floors[acc])
                    .sum();
                assert!(
                    left < after.orders[order].0,
                    "order {order} refused while customer {customer} still had {left}: {body}"
                );
            }
            _ => panic!("order {order} of {customer}: unexpected answer {status} {body}"),
        }
    }
    // What each customer's accounts lost is what its paid orders cost.
    for customer in CUSTOMERS {
        let accounts = &before.accounts_of[&customer];
        let spent: Decimal = accounts
            .iter()
            .map(|acc| before.balances[acc] - after.balances[acc])
            .sum();
        let cost: Decimal = created
            .iter()
            .filter(|(c, o)| *c == customer && paid.contains(o))
            .map(|(_, o)| after.orders[o].0)
            .sum();
        assert_eq!(spent, cost, "customer {customer}: spent what its paid orders cost");
    }
    assert!(refused > 0, "customer 102 could not pay all its orders");
    report(&format!(
        "{} payment requests through A and B: {} orders paid once each, {} payments refused for want of balance, \
         {} second payments refused",
        answers.len(),
        paid.len(),
        refused,
        answers.iter().filter(|a| a.2 == 409).count()
    ));
}

/// The invocations of the volume discount `/metrics` counts on `server` (operator's key).
fn invocations_counted(server: &Server) -> u64 {
    let stream = send(
        &server.address,
        "GET",
        "/metrics",
        Some(OPERATOR),
        "text/plain",
        b"",
        "",
    )
    .expect("scrape");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { stream }, &mut text).expect("the exposition");
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        text.lines().next().unwrap_or("")
    );
    let counted: u64 = text
        .lines()
        .filter(|l| {
            l.starts_with("pchost_plugin_invocations_total{")
                && l.contains("plugin=\"volume-discount@0.2.0\"")
                && l.contains("owner=\"10\"")
                && l.contains("outcome=\"ok\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        counted > 0,
        "no invocation of the volume discount counted on {}:\n{text}",
        server.address
    );
    assert!(
        text.lines().any(|l| l == "pchost_bound_versions_not_loaded 0"),
        "every bound version loaded on {}",
        server.address
    );
    for family in [
        "pchost_http_requests_total{",
        "pchost_instance_slots{",
        "pchost_db_connections{",
        "pchost_plugin_invocation_duration_seconds_bucket{",
    ] {
        assert!(text.contains(family), "{family} missing on {}", server.address);
    }
    counted
}

/// 60 more orders of customer 101 paid by 6 threads through both replicas; A is SIGKILLed
/// once 15 payments are answered. A payment A did not answer is sent again to B under the
/// same key; every later one goes to B. Each order ends paid exactly once, and what A
/// committed before dying B answers from its idempotency record.
fn one_replica_killed_mid_load_the_other_serves(a: Server, b: &Server, rt: &tokio::runtime::Runtime, store: &Store) {
    let created = orders(&a, b, 60, "kill", &[101]);
    let a_address = a.address.clone();
    let a = Mutex::new(Some(a));
    let next = AtomicUsize::new(0);
    let answered = AtomicUsize::new(0);
    let retried = AtomicUsize::new(0);
    let after_kill = AtomicUsize::new(0);
    let payments: Mutex<Vec<(i64, Value)>> = Mutex::new(Vec::new());
    let killed_at: Mutex<Option<Instant>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(customer, order)) = created.get(i) else {
                        break;
                    };
                    let key = format!("kill-pay-{order}");
                    let to_a = i.is_multiple_of(2) && a.lock().unwrap_or_else(|p| p.into_inner()).is_some();
                    let first = if to_a { &a_address } else { &b.address };
                    let answer = match pay(first, customer, order, &key) {
                        Ok(answer) => answer,
                        Err(_) => {
                            retried.fetch_add(1, Ordering::SeqCst);
                            pay(&b.address, customer, order, &key).expect("B answers")
                        }
                    };
                    assert_eq!(answer.0, 201, "order {order}: {}", answer.1);
                    if killed_at.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        after_kill.fetch_add(1, Ordering::SeqCst);
                    }
                    payments
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((order, answer.1));
                    if answered.fetch_add(1, Ordering::SeqCst) + 1 == 15
                        && let Some(a) = a.lock().unwrap_or_else(|p| p.into_inner()).take()
                    {
                        let _ = std::fs::remove_dir_all(a.crash());
                        *killed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                    }
                }
            });
        }
    });
    assert!(a.lock().unwrap_or_else(|p| p.into_inner()).is_none(), "A was killed");
    let payments = payments.into_inner().unwrap_or_else(|p| p.into_inner());
    assert_eq!(payments.len(), created.len(), "every order answered paid");
    let after = rt.block_on(ledger(store));
    let orders: BTreeSet<i64> = created.iter().map(|c| c.1).collect();
    reconciles(&after, &orders, &orders);
    assert!(after_kill.load(Ordering::SeqCst) > 0, "B served after A died");
    let (status, ready) = common::request(b, "GET", "/readyz", None, "application/json", b"", "");
    assert_eq!(status, 200, "{ready}");
    report(&format!(
        "A SIGKILLed after 15 of {} payments: {} sent again to B under their keys, {} answered after the kill, \
         each order paid exactly once",
        created.len(),
        retried.load(Ordering::SeqCst),
        after_kill.load(Ordering::SeqCst)
    ));
}
