//! Crash safety (issue #14): two clients drive a mixed money load against a real `pchost
//! serve --demo` (orders and payments by the customer or by its partner on its behalf,
//! refunds, renewals and their payments, spec changes and their payments (a cheaper spec's
//! credit refunded), unsubscriptions, allocations and reclaims, operator top-ups), each money
//! request under an `Idempotency-Key` and retried with the same key
//! until it gets a definite answer (2xx or 4xx; a lost connection or a 5xx is retried). The
//! server is SIGKILLed five times during the load and restarted on the same database each
//! time (`--demo` seeds an empty database only). Then the database is checked against itself
//! and against what the clients were answered:
//!
//! - every balance is the sum of its ledger entries (DOMAIN "Entities"), and each equals the
//!   balance the answers add up to: no payment, refund, allocation or top-up applied twice;
//! - no cash account below zero nor credit below its limit (rules 6, 14);
//! - every order paid at most once (its payment entries come to its amount exactly, or to
//!   nothing), refunded within what was paid, to whoever paid it (rules 9, 10); the refunds
//!   on record are exactly those answered;
//! - every paid order has its resources, each renewal paid extended its resource once
//!   (rule 11), and a resource is closed exactly when its unsubscription, or the refund of
//!   the last of its order's payment, was answered (rule 10);
//! - every claimed idempotency key holds its answer (claimed and answered in one transaction).
//!
//! SQLite always; PostgreSQL in a database of its own when `PCHOST_TEST_POSTGRES_URL` names a
//! server (skipped, saying so, otherwise). `PCHOST_CRASH_SEED` picks another load.

mod common;

use chrono::{DateTime, Months, Utc};
use common::{PostgresDatabase, Server, receive, runtime, send, serve};
use pchost_store::store::Store;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const RESELLER_ADMIN: &str = "pch_demo_reseller_admin";
const OPERATOR: &str = "pch_demo_operator";
/// The demo's reseller, whose customers 101 and 102 are.
const RESELLER: i64 = 2;
/// Operations per client; each is one to four requests.
const OPS_PER_CLIENT: usize = 150;
/// Orders the demo seeds as already paid, with no payment in the ledger (history).
const DEMO_ORDERS: [i64; 6] = [9001, 9002, 9003, 9004, 9005, 9006];
/// The demo's resource of customer 102, bought by demo order 9003.
const DEMO_RESOURCE: i64 = 1;

/// The two engines' runs take turns, so that each one's time is its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn crash_safety_on_sqlite() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = data_dir("sqlite");
    let url = format!("sqlite://{}", dir.join("pchost.db").display());
    run("SQLite", dir, Vec::new(), &url);
}

#[test]
fn crash_safety_on_postgres() {
    let Ok(admin_url) = std::env::var("PCHOST_TEST_POSTGRES_URL") else {
        eprintln!("crash test on PostgreSQL SKIPPED: set PCHOST_TEST_POSTGRES_URL to run it");
        return;
    };
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let database = PostgresDatabase::create(&admin_url, "crash");
    let extra = vec!["--database-url".to_owned(), database.url.clone()];
    run("PostgreSQL", data_dir("postgres"), extra, &database.url);
}

fn data_dir(engine: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pchost-crash-{}-{engine}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The server under test: killed and restarted on the same database by whoever holds it.
struct Cluster {
    running: Mutex<Option<Server>>,
    extra: Vec<String>,
}

impl Cluster {
    fn start(dir: PathBuf, extra: Vec<String>) -> Self {
        let cluster = Cluster {
            running: Mutex::new(None),
            extra,
        };
        *cluster.lock() = Some(cluster.serve(dir));
        cluster
    }

    fn serve(&self, dir: PathBuf) -> Server {
        // The load is not about rate limits: let every request through.
        let mut args = vec!["--rate-limit-per-second", "100000", "--rate-limit-burst", "100000"];
        args.extend(self.extra.iter().map(String::as_str));
        serve(dir, &args)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Server>> {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where the server listens now; waits while it restarts.
    fn address(&self) -> String {
        self.lock().as_ref().expect("the server runs").address.clone()
    }

    /// SIGKILL, then `serve --demo` again on the same database.
    fn crash_and_restart(&self, running: &mut Option<Server>) {
        let dir = running.take().expect("the server runs").crash();
        *running = Some(self.serve(dir));
    }
}

/// One request: what it is, and its key when it moves money or creates an order.
#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    api_key: String,
    body: Option<Value>,
    idempotency_key: Option<String>,
}

impl Req {
    fn get(path: String, api_key: &str) -> Self {
        Req {
            method: "GET",
            path,
            api_key: api_key.to_owned(),
            body: None,
            idempotency_key: None,
        }
    }

    fn post(path: String, api_key: &str, body: Value) -> Self {
        Req {
            method: "POST",
            body: Some(body),
            ..Req::get(path, api_key)
        }
    }

    fn keyed(self, key: String) -> Self {
        Req {
            idempotency_key: Some(key),
            ..self
        }
    }

    fn send(&self, address: &str) -> std::io::Result<std::net::TcpStream> {
        let body = self.body.as_ref().map(Value::to_string).unwrap_or_default();
        let extra = self
            .idempotency_key
            .as_ref()
            .map(|k| format!("Idempotency-Key: {k}\r\n"))
            .unwrap_or_default();
        send(
            address,
            self.method,
            &self.path,
            Some(&self.api_key),
            "application/json",
            body.as_bytes(),
            &extra,
        )
    }
}

type Answer = (u16, Value);

/// The request kinds the five kills land on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An allocation (or a reclaim, or a top-up: balance moved by a partner or the operator).
    Allocation,
    Payment,
    Refund,
    Unsubscription,
    Renewal,
}

/// How a kill lands on its request.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// This many milliseconds after the request was sent, whatever the server is doing.
    InFlight(u64),
    /// Once the server has answered, before the client reads the answer: the effect is
    /// committed and the client does not know it.
    AnswerLost,
}

#[derive(Clone, Copy, Debug)]
struct Kill {
    /// From this operation of the client on.
    after: usize,
    kind: Kind,
    mode: Mode,
}

/// splitmix64: a deterministic load for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 0 to n - 1.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len() as u64) as usize])
    }
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str_exact(value.as_str().unwrap_or_else(|| panic!("a decimal string: {value}")))
        .unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn id(value: &Value, pointer: &str) -> i64 {
    value
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{pointer} in {value}"))
}

fn cents(amount: i64) -> Decimal {
    Decimal::new(amount, 2)
}

fn code(answer: &Answer) -> &str {
    answer.1["code"].as_str().unwrap_or("")
}

/// A paid order as the client knows it.
#[derive(Clone, Debug)]
struct Paid {
    order: i64,
    amount: Decimal,
    /// The cash account its refunds go to: its payer's (rule 9).
    refunds_to: i64,
    refunded: Decimal,
    /// The resources it bought (a new order's): closed once it is refunded in full.
    bought: Vec<i64>,
}

/// What one client was answered: the effects the database must hold, no more, no fewer.
#[derive(Debug, Default)]
struct Answered {
    /// Per account, what the answers say moved.
    deltas: BTreeMap<i64, Decimal>,
    /// Orders created; of them, those paid.
    orders: BTreeSet<i64>,
    paid: BTreeSet<i64>,
    /// Refund ids answered (refunds and unsubscriptions).
    refunds: BTreeSet<i64>,
    /// Allocations to and reclaims from the client's customer.
    allocations: Vec<Decimal>,
    reclaims: Vec<Decimal>,
    /// Resources unsubscribed, or whose order was refunded in full.
    closed: BTreeSet<i64>,
    /// Requests sent (attempts included), lost connections, 5xx answers.
    attempts: u32,
    lost: u32,
    server_errors: u32,
    /// What each kill hit: what it says, the request's key, and when (Unix milliseconds).
    kills: Vec<(String, String, i64)>,
    /// Operations and their outcomes, by name.
    outcomes: BTreeMap<String, u32>,
}

impl Answered {
    fn moved(&mut self, account: i64, amount: Decimal) {
        *self.deltas.entry(account).or_default() += amount;
    }
}

/// One client: a customer's own requests, and its partner's on its behalf.
struct Client<'a> {
    cluster: &'a Cluster,
    customer: i64,
    customer_key: String,
    customer_cash: i64,
    partner_cash: i64,
    rng: Rng,
    keys: u32,
    op: usize,
    kills: Vec<Kill>,
    paid: Vec<Paid>,
    /// Resources in use, as the answers left them.
    open: Vec<i64>,
    known_resources: BTreeSet<i64>,
    /// Keyed requests answered 2xx, with their answers: retried on purpose later.
    history: Vec<(Req, Answer)>,
    answered: Answered,
}

impl Client<'_> {
    fn key(&mut self, what: &str) -> String {
        self.keys += 1;
        format!("crash-{}-{what}-{}", self.customer, self.keys)
    }

    /// Sends `req` until it gets a definite answer: a lost connection (the server died) or a
    /// 5xx is retried with the same idempotency key.
    fn call(&mut self, req: &Req) -> Answer {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.answered.attempts += 1;
            let address = self.cluster.address();
            match req.send(&address).and_then(receive) {
                Ok((status, body)) if status < 500 && status != 429 => return (status, body),
                Ok((status, body)) => {
                    self.answered.server_errors += 1;
                    eprintln!("{} {} answered {status}, retried: {body}", req.method, req.path);
                }
                Err(_) => self.answered.lost += 1,
            }
            assert!(
                Instant::now() < deadline,
                "{} {} got no definite answer in 120 s",
                req.method,
                req.path
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A money request of `kind`: it takes the next kill when that kill is due.
    fn money(&mut self, kind: Kind, req: Req) -> Answer {
        let due = self.kills.first().is_some_and(|k| k.kind == kind && self.op >= k.after);
        let answer = if due {
            let kill = self.kills.remove(0);
            self.call_killing(kill, &req)
        } else {
            self.call(&req)
        };
        if (200..300).contains(&answer.0) {
            self.history.push((req, answer.clone()));
        }
        answer
    }

    /// Sends `req`, SIGKILLs the server as `kill` says, restarts it, and retries. The other
    /// client goes on meanwhile: whatever it has in flight dies too.
    fn call_killing(&mut self, kill: Kill, req: &Req) -> Answer {
        let stream = req
            .send(&self.cluster.address())
            .expect("send the request the kill lands on");
        let lost = match kill.mode {
            Mode::InFlight(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                None
            }
            Mode::AnswerLost => Some(receive(stream.try_clone().expect("stream")).expect("the answer")),
        };
        let killed_at = Utc::now().timestamp_millis();
        self.cluster.crash_and_restart(&mut self.cluster.lock());
        drop(stream);
        let answer = self.call(req);
        if let Some(first) = &lost {
            assert_eq!(
                (first.0, &first.1),
                (answer.0, &answer.1),
                "a retry after a crash answers what the lost answer said: {} {}",
                req.method,
                req.path
            );
        }
        let what = format!(
            "{:?} {:?} at op {}: {} {} -> answer before the kill {:?}, to the retry {}",
            kill.kind,
            kill.mode,
            self.op,
            req.method,
            req.path,
            lost.map(|a| a.0),
            answer.0
        );
        let key = req.idempotency_key.clone().unwrap_or_default();
        self.answered.kills.push((what, key, killed_at));
        answer
    }

    fn outcome(&mut self, name: &str, answer: &Answer) {
        let label = if (200..300).contains(&answer.0) {
            format!("{name} ok")
        } else {
            format!("{name} {}", code(answer))
        };
        *self.answered.outcomes.entry(label).or_default() += 1;
    }

    fn run(&mut self) {
        for op in 0..OPS_PER_CLIENT {
            self.op = op;
            let forced = self.kills.first().filter(|k| op >= k.after).map(|k| k.kind);
            match forced {
                Some(Kind::Allocation) => self.allocate(),
                Some(Kind::Payment) => self.buy(true),
                Some(Kind::Refund) if self.refundable().is_some() => self.refund(true),
                Some(Kind::Unsubscription) if !self.open.is_empty() => self.unsubscribe(),
                Some(Kind::Renewal) if !self.open.is_empty() => self.renew(),
                Some(_) => self.buy(true),
                None => match self.rng.below(100) {
                    0..30 => {
                        let pay = self.rng.below(10) != 0;
                        self.buy(pay)
                    }
                    30..44 => self.refund(false),
                    44..52 => self.renew(),
                    52..58 => self.change_spec(),
                    58..66 => self.unsubscribe(),
                    66..80 => self.allocate(),
                    80..85 => self.reclaim(),
                    85..88 => self.top_up(),
                    88..96 => self.retry_answered(),
                    _ => self.pay_again(),
                },
            }
        }
        assert!(self.kills.is_empty(), "kills not carried out: {:?}", self.kills);
    }

    /// Quote, order, and (usually) pay: by the customer, or by its partner (rule 22).
    fn buy(&mut self, pay: bool) {
        let (product, period, count, quantity) = match self.rng.below(10) {
            0..4 => (1001, "month", 1 + self.rng.below(3), 1),
            4..8 => (2001, "month", 1 + self.rng.below(6), 1 + self.rng.below(4)),
            8 => (2002, "month", 1, 1),
            _ => (1001, "year", 1, 1),
        };
        let quote = self.call(&Req::post(
            "/v1/quotes".into(),
            &self.customer_key,
            json!({ "customer_id": self.customer, "currency": "CNY",
                "lines": [{ "product_id": product, "period": period, "period_count": count, "quantity": quantity }] }),
        ));
        assert_eq!(quote.0, 201, "{}", quote.1);
        let key = self.key("order");
        let order = self.call(
            &Req::post(
                "/v1/orders".into(),
                &self.customer_key,
                json!({ "quote_id": quote.1["quote_id"] }),
            )
            .keyed(key),
        );
        assert_eq!(
            order.0, 201,
            "no approval rule is bound: the order is payable at once: {}",
            order.1
        );
        let order_id = id(&order.1, "/order/id");
        self.answered.orders.insert(order_id);
        self.outcome("order", &order);
        if pay {
            self.pay(order_id, decimal(&order.1["order"]["amount"]), "buy");
        }
    }

    /// Pays an order: the customer itself, or one time in four its partner on its behalf.
    fn pay(&mut self, order: i64, amount: Decimal, what: &str) {
        let by_partner = self.rng.below(4) == 0;
        let key = self.key("pay");
        let (api_key, body, refunds_to) = if by_partner {
            (
                RESELLER_ADMIN.to_owned(),
                json!({ "payer": "partner" }),
                self.partner_cash,
            )
        } else {
            (self.customer_key.clone(), json!({}), self.customer_cash)
        };
        let req = Req::post(format!("/v1/orders/{order}/payments"), &api_key, body).keyed(key);
        let paid = self.money(Kind::Payment, req);
        self.outcome(&format!("pay {what}"), &paid);
        match paid.0 {
            201 => {
                assert_eq!(decimal(&paid.1["amount"]), amount, "{}", paid.1);
                let debits = paid.1["debits"].as_array().expect("debits").clone();
                for debit in debits {
                    self.answered.moved(id(&debit, "/account"), -decimal(&debit["amount"]));
                }
                self.answered.paid.insert(order);
                let bought = if what == "buy" {
                    self.new_resources(1)
                } else {
                    Vec::new()
                };
                self.paid.push(Paid {
                    order,
                    amount,
                    refunds_to,
                    refunded: Decimal::ZERO,
                    bought,
                });
                // A change to a cheaper spec refunds its credit to whoever paid the term.
                let refunds = paid.1["refunds"].as_array().cloned().unwrap_or_default();
                for refund in &refunds {
                    self.record_refund(refund);
                }
            }
            // Nothing was written: not enough balance (rule 6), or a renewal of a resource
            // closed meanwhile.
            422 => assert!(
                matches!(code(&paid), "insufficient-balance" | "not-renewable"),
                "{}",
                paid.1
            ),
            // Nothing was written: a spec change of a resource renewed, changed or closed
            // since it was priced.
            409 if what == "change" => assert_eq!(code(&paid), "resource-changed", "{}", paid.1),
            _ => panic!("paying order {order}: {paid:?}"),
        }
    }

    /// The resources a paid order provisioned: exactly `expected` new ones, in use.
    fn new_resources(&mut self, expected: usize) -> Vec<i64> {
        let listed = self.call(&Req::get(
            format!("/v1/customers/{}/resources", self.customer),
            &self.customer_key,
        ));
        assert_eq!(listed.0, 200, "{}", listed.1);
        let fresh: Vec<i64> = listed
            .1
            .as_array()
            .expect("resources")
            .iter()
            .map(|r| id(r, "/id"))
            .filter(|r| !self.known_resources.contains(r))
            .collect();
        assert_eq!(fresh.len(), expected, "a paid order has its resources: {}", listed.1);
        self.known_resources.extend(&fresh);
        self.open.extend(&fresh);
        fresh
    }

    fn refundable(&self) -> Option<usize> {
        self.paid.iter().position(|p| p.refunded < p.amount)
    }

    /// A refund by the partner: part of what is left, all of it, or (refused) more.
    fn refund(&mut self, partial: bool) {
        let choices: Vec<usize> = (0..self.paid.len())
            .filter(|&i| self.paid[i].refunded < self.paid[i].amount)
            .collect();
        let Some(&at) = self.rng.pick(&choices) else {
            return self.buy(true);
        };
        let left = self.paid[at].amount - self.paid[at].refunded;
        let left_cents = (left * Decimal::ONE_HUNDRED).to_u64().expect("cents");
        let choice = if partial { 0 } else { self.rng.below(4) };
        let (amount, over) = match choice {
            0 | 1 => (cents(1 + self.rng.below(left_cents) as i64), false),
            2 => (left, false),
            _ => (left + Decimal::ONE, true),
        };
        let order = self.paid[at].order;
        let key = self.key("refund");
        let req = Req::post(
            format!("/v1/orders/{order}/refunds"),
            RESELLER_ADMIN,
            json!({ "amount": amount.to_string() }),
        )
        .keyed(key);
        let refunded = self.money(Kind::Refund, req);
        self.outcome(if over { "refund over" } else { "refund" }, &refunded);
        if over {
            // Never more than was paid (DOMAIN "Order": refunds return what was paid).
            assert_eq!((refunded.0, code(&refunded)), (400, "invalid-field"), "{}", refunded.1);
            return;
        }
        assert_eq!(refunded.0, 201, "{}", refunded.1);
        self.record_refund(&refunded.1);
    }

    /// A refund answered (of a refund or an unsubscription): to the payer's cash (rule 9).
    fn record_refund(&mut self, refund: &Value) {
        let order = id(refund, "/order_id");
        let amount = decimal(&refund["amount"]);
        let account = id(refund, "/account");
        let paid = self
            .paid
            .iter_mut()
            .find(|p| p.order == order)
            .unwrap_or_else(|| panic!("a refund of an order this client paid: {refund}"));
        assert_eq!(
            account, paid.refunds_to,
            "rule 9: a refund goes back to whoever paid: {refund}"
        );
        paid.refunded += amount;
        assert!(paid.refunded <= paid.amount, "refunded beyond what was paid: {refund}");
        // Paid back in full: what it bought is closed with the last refund.
        if paid.refunded == paid.amount {
            let bought = paid.bought.clone();
            self.open.retain(|r| !bought.contains(r));
            self.answered.closed.extend(bought);
        }
        assert!(
            self.answered.refunds.insert(id(refund, "/refund_id")),
            "a refund answered twice: {refund}"
        );
        self.answered.moved(account, amount);
    }

    /// Changes a resource in use between the seller's two specs (products 2001 and 2002), then
    /// pays the change: a dearer spec is charged for the rest of the term, a cheaper one's
    /// credit is refunded to whoever paid the term (rules 9, 10).
    fn change_spec(&mut self) {
        let listed = self.call(&Req::get(
            format!("/v1/customers/{}/resources", self.customer),
            &self.customer_key,
        ));
        assert_eq!(listed.0, 200, "{}", listed.1);
        let changeable: Vec<(i64, i64)> = listed
            .1
            .as_array()
            .expect("resources")
            .iter()
            .map(|r| (id(r, "/id"), r["product_id"].as_i64().expect("product")))
            .filter(|(r, product)| self.open.contains(r) && matches!(product, 2001 | 2002))
            .collect();
        let Some(&(resource, product)) = self.rng.pick(&changeable) else {
            return self.buy(true);
        };
        let to = if product == 2001 { 2002 } else { 2001 };
        let quote = self.call(&Req::post(
            "/v1/quotes/spec-change".into(),
            &self.customer_key,
            json!({ "resource_id": resource, "product_id": to }),
        ));
        assert_eq!(quote.0, 201, "{}", quote.1);
        let key = self.key("change");
        let order = self.call(
            &Req::post(
                "/v1/orders".into(),
                &self.customer_key,
                json!({ "quote_id": quote.1["quote_id"] }),
            )
            .keyed(key),
        );
        assert_eq!(order.0, 201, "{}", order.1);
        assert_eq!(order.1["order"]["kind"], "change");
        let order_id = id(&order.1, "/order/id");
        self.answered.orders.insert(order_id);
        self.outcome("spec change", &order);
        self.pay(order_id, decimal(&order.1["order"]["amount"]), "change");
    }

    /// Renews a resource in use for 1 or 2 months, then pays the renewal (rule 11).
    fn renew(&mut self) {
        let Some(&resource) = self.rng.pick(&self.open) else {
            return self.buy(true);
        };
        let key = self.key("renew");
        let req = Req::post(
            format!("/v1/resources/{resource}/renewals"),
            &self.customer_key,
            json!({ "period_count": 1 + self.rng.below(2) }),
        )
        .keyed(key);
        let renewal = self.money(Kind::Renewal, req);
        self.outcome("renewal", &renewal);
        assert_eq!(renewal.0, 201, "{}", renewal.1);
        assert_eq!(renewal.1["order"]["kind"], "renew");
        let order = id(&renewal.1, "/order/id");
        self.answered.orders.insert(order);
        self.pay(order, decimal(&renewal.1["order"]["amount"]), "renewal");
    }

    /// Unsubscribes a resource in use: closed with the unused part of each payment refunded
    /// to its payer (rules 9, 10).
    fn unsubscribe(&mut self) {
        let Some(&resource) = self.rng.pick(&self.open) else {
            return self.buy(true);
        };
        let key = self.key("unsubscribe");
        let req = Req::post(
            format!("/v1/resources/{resource}/unsubscribe"),
            &self.customer_key,
            json!({}),
        )
        .keyed(key);
        let done = self.money(Kind::Unsubscription, req);
        self.outcome("unsubscribe", &done);
        match done.0 {
            201 => {
                assert_eq!(done.1["closed"], json!([resource]), "{}", done.1);
                let refunds = done.1["refunds"].as_array().expect("refunds").clone();
                for refund in &refunds {
                    self.record_refund(refund);
                }
                self.open.retain(|&r| r != resource);
                self.answered.closed.insert(resource);
            }
            // Everything paid for it was refunded already: it stays in use.
            422 => assert_eq!(code(&done), "nothing-to-refund", "{}", done.1),
            _ => panic!("unsubscribing {resource}: {done:?}"),
        }
    }

    /// The partner allocates balance to the customer (rules 12, 14).
    fn allocate(&mut self) {
        let amount = cents(1_000 + self.rng.below(80_000) as i64);
        let key = self.key("allocate");
        let req = Req::post(
            format!("/v1/customers/{}/allocations", self.customer),
            RESELLER_ADMIN,
            json!({ "currency": "CNY", "amount": amount.to_string() }),
        )
        .keyed(key);
        let done = self.money(Kind::Allocation, req);
        self.outcome("allocate", &done);
        match done.0 {
            204 => {
                self.answered.moved(self.partner_cash, -amount);
                self.answered.moved(self.customer_cash, amount);
                self.answered.allocations.push(amount);
            }
            422 => assert_eq!(code(&done), "insufficient-balance", "{}", done.1),
            _ => panic!("allocating: {done:?}"),
        }
    }

    /// The partner takes some balance back (rule 14: never more than the customer has).
    fn reclaim(&mut self) {
        let amount = cents(1_000 + self.rng.below(40_000) as i64);
        let key = self.key("reclaim");
        let req = Req::post(
            format!("/v1/customers/{}/reclaims", self.customer),
            RESELLER_ADMIN,
            json!({ "currency": "CNY", "amount": amount.to_string() }),
        )
        .keyed(key);
        let done = self.money(Kind::Allocation, req);
        self.outcome("reclaim", &done);
        match done.0 {
            204 => {
                self.answered.moved(self.customer_cash, -amount);
                self.answered.moved(self.partner_cash, amount);
                self.answered.reclaims.push(amount);
            }
            422 => assert_eq!(code(&done), "insufficient-balance", "{}", done.1),
            _ => panic!("reclaiming: {done:?}"),
        }
    }

    /// The operator tops the partner up (money from outside).
    fn top_up(&mut self) {
        let amount = cents(10_000 + self.rng.below(200_000) as i64);
        let key = self.key("top-up");
        let req = Req::post(
            format!("/v1/partners/{RESELLER}/top-ups"),
            OPERATOR,
            json!({ "currency": "CNY", "amount": amount.to_string() }),
        )
        .keyed(key);
        let done = self.money(Kind::Allocation, req);
        self.outcome("top-up", &done);
        assert_eq!(done.0, 200, "{}", done.1);
        assert_eq!(id(&done.1, "/id"), self.partner_cash);
        self.answered.moved(self.partner_cash, amount);
    }

    /// A request answered before, sent again with its key: the first answer again, nothing
    /// written. An order's answer is the order as it is now: the same order.
    fn retry_answered(&mut self) {
        let Some((req, first)) = self.rng.pick(&self.history).cloned() else {
            return self.allocate();
        };
        let again = self.call(&req);
        let is_order = req.path == "/v1/orders" || req.path.ends_with("/renewals");
        if is_order {
            assert_eq!(
                (again.0, again.1["order"]["id"].as_i64()),
                (first.0, first.1["order"]["id"].as_i64()),
                "{} {}",
                req.method,
                req.path
            );
        } else {
            assert_eq!(
                (again.0, &again.1),
                (first.0, &first.1),
                "a retry answers the first answer: {} {}",
                req.method,
                req.path
            );
        }
        *self.answered.outcomes.entry("retry answered".into()).or_default() += 1;
    }

    /// Paying a paid order again under a new key is refused: an order is paid once.
    fn pay_again(&mut self) {
        let Some(order) = self.rng.pick(&self.paid).map(|p| p.order) else {
            return self.buy(true);
        };
        let key = self.key("pay-again");
        let again =
            self.call(&Req::post(format!("/v1/orders/{order}/payments"), &self.customer_key, json!({})).keyed(key));
        assert_eq!((again.0, code(&again)), (409, "order-state"), "{}", again.1);
        *self.answered.outcomes.entry("pay again refused".into()).or_default() += 1;
    }
}

/// The cash account of an owner, by the API.
fn cash_account(cluster: &Cluster, query: &str) -> i64 {
    let address = cluster.address();
    let req = Req::get(format!("/v1/accounts{query}"), RESELLER_ADMIN);
    let (status, accounts) = req.send(&address).and_then(receive).expect("accounts");
    assert_eq!(status, 200, "{accounts}");
    accounts
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["kind"] == "cash" && a["currency"] == "CNY")
        .map(|a| id(a, "/id"))
        .unwrap_or_else(|| panic!("a CNY cash account in {accounts}"))
}

fn run(engine: &str, dir: PathBuf, extra: Vec<String>, url: &str) {
    let started = Instant::now();
    let seed: u64 = std::env::var("PCHOST_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(14);
    let cluster = Cluster::start(dir, extra);
    let rt = runtime();
    let store = rt.block_on(Store::connect(url)).expect("open the server's database");
    let before = rt.block_on(snapshot(&store));
    let partner_cash = cash_account(&cluster, "");
    let mut rng = Rng(seed);
    // Five kills spread over the first client's load, each on another kind of money request:
    // an answer lost after the commit where a double effect would hurt most, in flight (wherever
    // the server was) for the others.
    let mut kills = Vec::new();
    for (i, (kind, lost)) in [
        (Kind::Allocation, true),
        (Kind::Payment, false),
        (Kind::Refund, true),
        (Kind::Unsubscription, false),
        (Kind::Renewal, true),
    ]
    .into_iter()
    .enumerate()
    {
        let mode = if lost {
            Mode::AnswerLost
        } else {
            Mode::InFlight(rng.below(8))
        };
        let after = (i + 1) * OPS_PER_CLIENT / 6 + rng.below(5) as usize;
        kills.push(Kill { after, kind, mode });
    }
    let clients: Vec<Client> = [(101, kills), (102, Vec::new())]
        .into_iter()
        .map(|(customer, kills)| {
            let customer_cash = cash_account(&cluster, &format!("?customer_id={customer}"));
            let mut client = Client {
                cluster: &cluster,
                customer,
                customer_key: format!("pch_demo_customer_{customer}"),
                customer_cash,
                partner_cash,
                rng: Rng(seed ^ ((customer as u64) << 32)),
                keys: 0,
                op: 0,
                kills,
                paid: Vec::new(),
                open: Vec::new(),
                known_resources: BTreeSet::new(),
                history: Vec::new(),
                answered: Answered::default(),
            };
            // The demo's paid orders of the customer (its own payments: rule 9) and the
            // demo's resource of 102 are refunded and unsubscribed too.
            for (order, owner, amount) in [(9001, 101, "12000.00"), (9002, 101, "8000.00"), (9003, 102, "1500.00")] {
                if owner == customer {
                    client.paid.push(Paid {
                        order,
                        amount: Decimal::from_str_exact(amount).expect("amount"),
                        refunds_to: customer_cash,
                        refunded: Decimal::ZERO,
                        // Demo order 9003 bought the demo's resource of 102.
                        bought: if order == 9003 { vec![DEMO_RESOURCE] } else { Vec::new() },
                    });
                }
            }
            let resources = before.resources.iter().filter(|r| r.customer == customer).map(|r| r.id);
            client.known_resources.extend(resources);
            if customer == 102 {
                client.open.push(DEMO_RESOURCE);
            }
            client
        })
        .collect();
    let answered: Vec<Answered> = std::thread::scope(|scope| {
        let running: Vec<_> = clients
            .into_iter()
            .map(|mut client| {
                scope.spawn(move || {
                    client.run();
                    client.answered
                })
            })
            .collect();
        running.into_iter().map(|c| c.join().expect("a client")).collect()
    });
    let loaded = started.elapsed();

    let total = |f: fn(&Answered) -> u32| answered.iter().map(f).sum::<u32>();
    eprintln!(
        "crash test on {engine} (seed {seed}): {} requests sent ({} lost to a crash, {} answered 5xx and retried), \
         load with its 5 kills and restarts {:.1} s",
        total(|a| a.attempts),
        total(|a| a.lost),
        total(|a| a.server_errors),
        loaded.as_secs_f64()
    );
    for (customer, a) in [101, 102].iter().zip(&answered) {
        eprintln!("  client of {customer}: {:?}", a.outcomes);
        for (what, key, at) in &a.kills {
            // Whether the request the kill landed on had committed: when its key was claimed.
            let claimed: Option<i64> = rt
                .block_on(
                    sqlx::query_scalar("SELECT created_at FROM idempotency_keys WHERE idempotency_key = $1")
                        .bind(key)
                        .fetch_optional(store.pool()),
                )
                .expect("the key's claim");
            let when = match claimed {
                Some(claimed) if claimed <= *at => "committed before the kill",
                Some(_) => "done by the retry after the restart",
                // A renewal's order is keyed by a key derived from the client's.
                None => "its key is stored derived",
            };
            eprintln!("  kill: {what}; {when}");
        }
    }

    // One more restart first: nothing may depend on the server's memory.
    cluster.crash_and_restart(&mut cluster.lock());
    let after = rt.block_on(snapshot(&store));
    let mut expected: BTreeMap<i64, Decimal> = before.accounts.iter().map(|a| (a.id, a.balance)).collect();
    for a in &answered {
        for (account, delta) in &a.deltas {
            *expected.entry(*account).or_default() += *delta;
        }
    }
    check(&before, &after, &expected, &answered);
    // The API shows the balances the answers add up to.
    for customer in [101, 102] {
        let address = cluster.address();
        let req = Req::get(format!("/v1/accounts?customer_id={customer}"), RESELLER_ADMIN);
        let (status, accounts) = req.send(&address).and_then(receive).expect("accounts");
        assert_eq!(status, 200);
        for account in accounts.as_array().expect("accounts") {
            assert_eq!(
                Some(&decimal(&account["balance"])),
                expected.get(&id(account, "/id")),
                "customer {customer}'s balance is what the answers add up to: {account}"
            );
        }
    }
    rt.block_on(store.close());
    drop(cluster);
    eprintln!(
        "crash test on {engine}: checked, {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// The database's money rows.
struct Snapshot {
    accounts: Vec<AccountRow>,
    ledger: Vec<EntryRow>,
    orders: Vec<OrderRow>,
    lines: Vec<(i64, String, i64)>,
    refunds: Vec<RefundRow>,
    resources: Vec<ResourceRow>,
    unanswered_keys: Vec<String>,
}

struct AccountRow {
    id: i64,
    owner: String,
    kind: String,
    balance: Decimal,
    credit_limit: Decimal,
}

struct EntryRow {
    id: i64,
    account: i64,
    amount: Decimal,
    reason: String,
    order: Option<i64>,
}

struct OrderRow {
    id: i64,
    kind: String,
    status: String,
    amount: Decimal,
    refunded: Decimal,
    paid_by: Option<String>,
    renews: Option<i64>,
}

struct RefundRow {
    id: i64,
    order: i64,
    amount: Decimal,
    account: i64,
}

struct ResourceRow {
    id: i64,
    customer: i64,
    order: Option<i64>,
    status: String,
    effective_at: i64,
    expires_at: i64,
}

async fn snapshot(store: &Store) -> Snapshot {
    let pool = store.pool();
    let all = |sql: &'static str| async move { sqlx::query(sql).fetch_all(pool).await.expect(sql) };
    let get = |row: &sqlx::any::AnyRow, column: &str| -> i64 { row.try_get(column).expect(column) };
    let text = |row: &sqlx::any::AnyRow, column: &str| -> String { row.try_get(column).expect(column) };
    let accounts =
        all("SELECT id, owner_kind, owner_id, kind, balance_cents, credit_limit_cents FROM accounts ORDER BY id")
            .await
            .iter()
            .map(|r| AccountRow {
                id: get(r, "id"),
                owner: format!("{}:{}", text(r, "owner_kind"), get(r, "owner_id")),
                kind: text(r, "kind"),
                balance: cents(get(r, "balance_cents")),
                credit_limit: cents(get(r, "credit_limit_cents")),
            })
            .collect();
    let ledger = all("SELECT id, account, amount_cents, reason, order_id FROM ledger_entries ORDER BY id")
        .await
        .iter()
        .map(|r| EntryRow {
            id: get(r, "id"),
            account: get(r, "account"),
            amount: cents(get(r, "amount_cents")),
            reason: text(r, "reason"),
            order: r.try_get("order_id").expect("order_id"),
        })
        .collect();
    let orders =
        all("SELECT id, kind, status, amount, refunded_cents, paid_by, renews_resource FROM orders ORDER BY id")
            .await
            .iter()
            .map(|r| OrderRow {
                id: get(r, "id"),
                kind: text(r, "kind"),
                status: text(r, "status"),
                amount: Decimal::from_str_exact(&text(r, "amount")).expect("amount"),
                refunded: cents(get(r, "refunded_cents")),
                paid_by: r.try_get("paid_by").expect("paid_by"),
                renews: r.try_get("renews_resource").expect("renews_resource"),
            })
            .collect();
    let lines = all("SELECT order_id, period, period_count FROM order_lines ORDER BY order_id, line")
        .await
        .iter()
        .map(|r| (get(r, "order_id"), text(r, "period"), get(r, "period_count")))
        .collect();
    let refunds = all("SELECT id, order_id, amount_cents, account FROM refunds ORDER BY id")
        .await
        .iter()
        .map(|r| RefundRow {
            id: get(r, "id"),
            order: get(r, "order_id"),
            amount: cents(get(r, "amount_cents")),
            account: get(r, "account"),
        })
        .collect();
    let resources = all("SELECT id, customer, order_id, status, effective_at, expires_at FROM resources ORDER BY id")
        .await
        .iter()
        .map(|r| ResourceRow {
            id: get(r, "id"),
            customer: get(r, "customer"),
            order: r.try_get("order_id").expect("order_id"),
            status: text(r, "status"),
            effective_at: get(r, "effective_at"),
            expires_at: get(r, "expires_at"),
        })
        .collect();
    let unanswered_keys = all("SELECT scope, idempotency_key FROM idempotency_keys WHERE response IS NULL")
        .await
        .iter()
        .map(|r| format!("{}/{}", text(r, "scope"), text(r, "idempotency_key")))
        .collect();
    Snapshot {
        accounts,
        ledger,
        orders,
        lines,
        refunds,
        resources,
        unanswered_keys,
    }
}

/// The invariants of the module's documentation, over the database after the load.
fn check(before: &Snapshot, after: &Snapshot, expected: &BTreeMap<i64, Decimal>, answered: &[Answered]) {
    // Every balance is the sum of its ledger entries (DOMAIN "Entities"), and what the
    // answers add up to: nothing applied twice, nothing applied unanswered.
    for account in &after.accounts {
        let entries: Decimal = after
            .ledger
            .iter()
            .filter(|e| e.account == account.id)
            .map(|e| e.amount)
            .sum();
        assert_eq!(
            account.balance, entries,
            "account {} ({} {}): balance against its ledger",
            account.id, account.owner, account.kind
        );
        assert_eq!(
            Some(&account.balance),
            expected.get(&account.id).or(Some(&Decimal::ZERO)),
            "account {} ({} {}): balance against the answers",
            account.id,
            account.owner,
            account.kind
        );
        // Rules 6 and 14: cash never below zero, credit never below its limit.
        let floor = if account.kind == "credit" {
            -account.credit_limit
        } else {
            Decimal::ZERO
        };
        assert!(account.balance >= floor, "account {} below its floor", account.id);
    }

    // Orders: exactly those answered were created (a retried creation made none more); each
    // paid exactly once or not at all; refunded within what was paid, to its payer (rule 9).
    let created: BTreeSet<i64> = answered.iter().flat_map(|a| a.orders.iter().copied()).collect();
    let paid: BTreeSet<i64> = answered.iter().flat_map(|a| a.paid.iter().copied()).collect();
    let new_orders: BTreeSet<i64> = after
        .orders
        .iter()
        .map(|o| o.id)
        .filter(|o| !before.orders.iter().any(|b| b.id == *o))
        .collect();
    assert_eq!(new_orders, created, "the orders created are those answered");
    for order in &after.orders {
        let sum = |reason: &str| -> Decimal {
            after
                .ledger
                .iter()
                .filter(|e| e.order == Some(order.id) && e.reason == reason)
                .map(|e| e.amount)
                .sum()
        };
        let is_paid = matches!(order.status.as_str(), "processing" | "completed");
        assert_ne!(
            order.status, "processing",
            "order {}: paid orders are provisioned at once",
            order.id
        );
        if !DEMO_ORDERS.contains(&order.id) {
            assert_eq!(
                is_paid,
                paid.contains(&order.id),
                "order {}: paid as answered",
                order.id
            );
            let charged = if is_paid { order.amount } else { Decimal::ZERO };
            assert_eq!(
                -sum("payment"),
                charged,
                "order {} ({}): paid once",
                order.id,
                order.status
            );
        }
        let refunds: Vec<&RefundRow> = after.refunds.iter().filter(|r| r.order == order.id).collect();
        let refunded: Decimal = refunds.iter().map(|r| r.amount).sum();
        assert_eq!(
            order.refunded, refunded,
            "order {}: refunded total against its refunds",
            order.id
        );
        assert_eq!(
            sum("refund"),
            refunded,
            "order {}: refunds against the ledger",
            order.id
        );
        assert!(
            order.refunded >= Decimal::ZERO && order.refunded <= if is_paid { order.amount } else { Decimal::ZERO },
            "order {}: refunded {} of {} paid",
            order.id,
            order.refunded,
            order.amount
        );
        if let Some(payer) = &order.paid_by {
            for refund in &refunds {
                let to = after.accounts.iter().find(|a| a.id == refund.account).expect("account");
                assert_eq!(
                    (to.owner.as_str(), to.kind.as_str()),
                    (payer.as_str(), "cash"),
                    "rule 9: refund {} goes to whoever paid order {}",
                    refund.id,
                    order.id
                );
            }
        }
    }
    let refunds: BTreeSet<i64> = after
        .refunds
        .iter()
        .map(|r| r.id)
        .filter(|r| !before.refunds.iter().any(|b| b.id == *r))
        .collect();
    let answered_refunds: BTreeSet<i64> = answered.iter().flat_map(|a| a.refunds.iter().copied()).collect();
    assert_eq!(
        refunds, answered_refunds,
        "the refunds on record are those answered, once each"
    );

    // Allocations and reclaims: one ledger entry each way per answered request.
    let seeded = before.ledger.iter().map(|e| e.id).max().unwrap_or(0);
    for (customer, a) in [101, 102].iter().zip(answered) {
        let owner = format!("customer:{customer}");
        let cash = after
            .accounts
            .iter()
            .find(|x| x.owner == owner && x.kind == "cash")
            .expect("cash");
        let mut moved: Vec<(String, Decimal)> = after
            .ledger
            .iter()
            .filter(|e| e.id > seeded && e.account == cash.id && matches!(e.reason.as_str(), "allocation" | "reclaim"))
            .map(|e| (e.reason.clone(), e.amount))
            .collect();
        let mut expected: Vec<(String, Decimal)> = a
            .allocations
            .iter()
            .map(|x| ("allocation".to_owned(), *x))
            .chain(a.reclaims.iter().map(|x| ("reclaim".to_owned(), -*x)))
            .collect();
        moved.sort();
        expected.sort();
        assert_eq!(
            moved, expected,
            "customer {customer}: each allocation and reclaim applied once"
        );
    }

    // Resources: every paid new order has one per month or year line; a resource's term is
    // what its order bought plus each renewal paid, once each (rule 11); it is closed exactly
    // when its unsubscription, or the refund of the rest of its order, was answered (rule 10).
    let closed: BTreeSet<i64> = answered.iter().flat_map(|a| a.closed.iter().copied()).collect();
    for order in after
        .orders
        .iter()
        .filter(|o| !DEMO_ORDERS.contains(&o.id) && o.kind == "new")
    {
        let subscribed = after
            .lines
            .iter()
            .filter(|l| l.0 == order.id && matches!(l.1.as_str(), "month" | "year"))
            .count();
        let provisioned = after.resources.iter().filter(|r| r.order == Some(order.id)).count();
        let is_paid = order.status == "completed";
        assert_eq!(
            provisioned,
            if is_paid { subscribed } else { 0 },
            "order {} ({}): its resources",
            order.id,
            order.status
        );
    }
    for resource in &after.resources {
        let months = |order: i64| -> u32 {
            after
                .lines
                .iter()
                .filter(|l| l.0 == order)
                .map(|l| match l.1.as_str() {
                    "year" => 12 * l.2 as u32,
                    _ => l.2 as u32,
                })
                .sum()
        };
        let start = |millis: i64| DateTime::<Utc>::from_timestamp_millis(millis).expect("time");
        let mut expires = match before.resources.iter().find(|r| r.id == resource.id) {
            Some(was) => start(was.expires_at),
            None => {
                let order = resource.order.expect("a resource the load bought has its order");
                start(resource.effective_at)
                    .checked_add_months(Months::new(months(order)))
                    .expect("expiry")
            }
        };
        for renewal in after
            .orders
            .iter()
            .filter(|o| o.renews == Some(resource.id) && o.status == "completed")
        {
            expires = expires
                .checked_add_months(Months::new(months(renewal.id)))
                .expect("expiry");
        }
        assert_eq!(
            resource.expires_at,
            expires.timestamp_millis(),
            "resource {}: its term, extended once per renewal paid",
            resource.id
        );
        assert_eq!(
            resource.status == "closed",
            closed.contains(&resource.id),
            "resource {} is {}: closed exactly when unsubscribed or refunded in full",
            resource.id,
            resource.status
        );
    }

    // A key is claimed and answered in one transaction: none is left claimed unanswered.
    assert_eq!(
        after.unanswered_keys,
        Vec::<String>::new(),
        "idempotency keys without their answer"
    );
}
