//! The attack that used to take every tenant's plugins down, replayed against the real
//! `pchost` binary: marketplace seller 10 binds a pricing rule that sleeps an hour to its
//! products, and 1,000 quotes naming its product arrive at full speed. Every one of those
//! invocations fails as a timeout within its deadline plus 50 ms, and meanwhile reseller 2's
//! quotes for customer 101 (no product of seller 10) all succeed at the expected price.

mod common;

use common::*;
use pchost_test_plugins as built;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Quotes the hostile customer sends, naming seller 10's product.
const ATTACK_QUOTES: usize = 1_000;
/// Connections they arrive on, each sending its next quote as soon as the last is answered.
const ATTACK_CONNECTIONS: usize = 16;
/// The rule's deadline (the default) and the bound of the acceptance: deadline plus 50 ms.
const DEADLINE_US: i64 = 100_000;
const BOUND_US: i64 = DEADLINE_US + 50_000;

fn quote_of(customer: i64, product: i64, quantity: u32) -> Value {
    json!({ "customer_id": customer, "currency": "CNY",
            "lines": [{ "product_id": product, "period": "month", "period_count": 1, "quantity": quantity }] })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn a_sellers_sleeping_rule_under_1000_quotes_times_out_each_time_and_other_tenants_are_served() {
    let dir = std::env::temp_dir().join(format!("pchost-containment-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let plugins = built::repo_root().join("plugins");
    // The per-key rate limit would refuse most of the attack before any plugin ran; lifted
    // here, so that what is tested is the runtime's own containment.
    let server = serve(
        dir,
        &[
            "--bundled-plugins",
            plugins.to_str().expect("UTF-8 path"),
            "--wasm-dir",
            built::WASM_DIR,
            "--rate-limit-per-second",
            "1000000",
            "--rate-limit-burst",
            "1000000",
        ],
    );
    let seller = "pch_demo_seller_admin";

    // Seller 10 uploads a rule that sleeps an hour (the noisy neighbour, quantity 1) and binds
    // it to its products, after its volume discount.
    let manifest = "name = \"sleepy-pricing\"\nversion = \"1.0.0\"\nworld = \"pricing-rule\"\nworld-version = \"0.2.0\"\nowner = 10\ngrants = [\"customer\"]\n";
    ok(
        201,
        upload(&server, seller, manifest, &built::read(built::HOSTILE_NOISY_NEIGHBOUR)),
    );
    ok(
        201,
        json_call(
            &server,
            "POST",
            "/v1/bindings",
            seller,
            json!({ "world": "pricing-rule", "plugin": "sleepy-pricing", "version": "1.0.0", "position": 10 }),
        ),
    );

    // Reseller 2's quote for customer 101, before the attack: the price to expect during it
    // (its key-account discount, floored at 0.80 of the 200.00 list price by rule 19).
    let good_quote = || {
        json_call(
            &server,
            "POST",
            "/v1/quotes",
            "pch_demo_customer_101",
            quote_of(101, 1001, 2),
        )
    };
    let before = ok(201, good_quote());
    let expected = (before["lines"][0]["unit_price"].clone(), before["total"].clone());
    assert_eq!(expected, (json!("160.000000"), json!("320.00")), "{before}");

    let attacking = AtomicBool::new(true);
    let per_connection = ATTACK_QUOTES / ATTACK_CONNECTIONS;
    let (mut attack, good) = std::thread::scope(|scope| {
        let good = scope.spawn(|| {
            let mut answers = Vec::new();
            while attacking.load(Ordering::Relaxed) {
                answers.push(good_quote());
            }
            answers
        });
        let attackers: Vec<_> = (0..ATTACK_CONNECTIONS)
            .map(|i| {
                let count = per_connection + usize::from(i < ATTACK_QUOTES % ATTACK_CONNECTIONS);
                let server = &server;
                scope.spawn(move || {
                    (0..count)
                        .map(|_| {
                            let started = Instant::now();
                            let answer = json_call(
                                server,
                                "POST",
                                "/v1/quotes",
                                "pch_demo_customer_102",
                                quote_of(102, 2001, 1),
                            );
                            (answer, started.elapsed())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let attack: Vec<((u16, Value), Duration)> = attackers
            .into_iter()
            .flat_map(|a| a.join().expect("attacker thread"))
            .collect();
        attacking.store(false, Ordering::Relaxed);
        (attack, good.join().expect("good tenant thread"))
    });

    assert_eq!(attack.len(), ATTACK_QUOTES);
    for ((status, body), _) in &attack {
        assert_eq!(*status, 502, "{body}");
        assert_eq!(body["plugin"]["plugin"], "sleepy-pricing@1.0.0", "{body}");
        assert_eq!(
            body["plugin"]["kind"],
            json!({ "kind": "timeout", "detail": 100 }),
            "{body}"
        );
    }
    assert!(!good.is_empty());
    for (status, body) in &good {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(
            (&body["lines"][0]["unit_price"], &body["total"]),
            (&expected.0, &expected.1)
        );
    }

    // Every one of the 1,000 invocations is on the seller's audit trail as a timeout that
    // took at most its deadline plus 50 ms.
    let mut durations = Vec::new();
    let mut before_id: Option<i64> = None;
    loop {
        let cursor = before_id.map(|id| format!("&before={id}")).unwrap_or_default();
        let page = ok(
            200,
            json_call(
                &server,
                "GET",
                &format!("/v1/invocations?plugin=sleepy-pricing&limit=500{cursor}"),
                seller,
                Value::Null,
            ),
        );
        let records = page.as_array().expect("a list");
        let Some(last) = records.last() else { break };
        before_id = last["id"].as_i64();
        for record in records {
            let failure: Value = serde_json::from_str(record["failure"].as_str().expect("failed")).expect("JSON");
            assert_eq!(failure["kind"]["kind"], "timeout", "{record}");
            durations.push(record["duration_us"].as_i64().expect("duration"));
        }
    }
    assert_eq!(durations.len(), ATTACK_QUOTES);
    let slowest = durations.iter().copied().max().unwrap_or_default();
    attack.sort_by_key(|(_, took)| *took);
    let latencies: Vec<Duration> = attack.iter().map(|(_, took)| *took).collect();
    eprintln!(
        "{ATTACK_QUOTES} hostile quotes: slowest invocation {slowest} us (bound {BOUND_US}); HTTP p50 {:?}, p99 {:?}; {} good quotes served meanwhile",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        good.len()
    );
    assert!(slowest <= BOUND_US, "an invocation took {slowest} us");
}
