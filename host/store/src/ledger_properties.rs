//! Property tests of the ledger (issue #14): random sequences of money operations on a fresh
//! SQLite store (top-ups, allocations and reclaims, orders, payments by the customer or by
//! its partner on its behalf (rule 22), partial, full and excessive refunds, renewals,
//! unsubscriptions, time passing),
//! some of them run two at once, some sent twice at once under one idempotency key, and
//! earlier ones retried with their key. After each sequence:
//!
//! - every balance is the sum of its ledger entries (DOMAIN "Entities") and equals what the
//!   answers add up to: nothing applied twice, nothing applied that was refused;
//! - no cash account below zero, no credit account below its limit; a payment takes credit
//!   only once cash is used up (rule 6);
//! - an allocation never leaves the partner below its ring-fenced amount (rule 14), and none
//!   reaches a frozen customer (rule 18), a referral customer (rule 12) or another partner's;
//! - every order is paid once or not at all; its refunds stay within what was paid and go
//!   back to whoever paid it (rules 9, 10); a refund beyond what is left is refused;
//! - a paid order has its resources, each paid renewal extends its resource once (rule 11),
//!   a resource is closed exactly when its unsubscription, or the refund of the rest of its
//!   order, was answered (rule 10);
//! - a repeated key never applies twice: a retry, or a twin sent at the same time, answers
//!   the first answer; every claimed key holds its answer.
//!
//! On SQLite, and on PostgreSQL when `PCHOST_TEST_POSTGRES_URL` is set. 64 cases by default on
//! SQLite (a few seconds), 16 on PostgreSQL (a database each); `PROPTEST_CASES=2000 cargo test
//! -p pchost-store --lib ledger_properties` searches longer.

use crate::accounts::{Account, AccountKind, AccountOwner, Actor, AllocationTarget, Transferred};
use crate::demo::{self, DemoData};
use crate::entities::*;
use crate::money::Currency;
use crate::orders::{CreatedOrder, NewOrder, NewOrderLine, Payer, Payment, RefundDone};
use crate::quotes::NewQuote;
use crate::resources::Unsubscription;
use crate::store::{Store, StoreError};
use crate::testing::{PostgresDatabase, SqliteFile, customer_itself, operator};
use chrono::{DateTime, Duration, Months, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// One operation, its targets drawn by index among what exists when it runs.
#[derive(Clone, Debug)]
enum Op {
    /// The operator tops the reseller up (cents).
    TopUp(i64),
    /// An allocation (cents) to one of [`TARGETS`].
    Allocate { to: usize, cents: i64 },
    /// A reclaim (cents) from one of [`TARGETS`].
    Reclaim { from: usize, cents: i64 },
    /// Customer 101 or 102 orders `quantity` units of one of [`PRODUCTS`] for `periods`.
    Order {
        customer: usize,
        product: usize,
        periods: u32,
        quantity: u32,
    },
    /// Pays an order (an unpaid one, unless `paid_too`): the customer, or its partner (rule 22).
    Pay {
        order: usize,
        by_partner: bool,
        paid_too: bool,
    },
    /// Refunds `percent` of what is left to refund on an order: above 100, more than is left.
    Refund { order: usize, percent: u32 },
    /// Orders the renewal of a resource for `periods` more (paid by a later `Pay`).
    Renew { resource: usize, periods: u32 },
    /// Unsubscribes a resource.
    Unsubscribe { resource: usize },
    /// An earlier request again, under its key.
    Retry(usize),
    /// Time passes (hours): terms run down, payment windows close.
    Wait(i64),
}

/// A step of a sequence.
#[derive(Clone, Debug)]
enum Step {
    One(Op),
    /// Two requests at once, on two connections.
    Together(Op, Op),
    /// One request sent twice at once under the same key: a client retrying before its first
    /// attempt was answered.
    Twice(Op),
}

/// Who gives and who receives an allocation: reseller 2 to its resale customers 101 and 102,
/// to its frozen customer 103 (rule 18), to another reseller's customer 104; the solution
/// provider to its referral customer 105 (rule 12).
const TARGETS: [(PartnerId, CustomerId); 5] = [
    (demo::RESELLER, demo::KEY_ACCOUNT_CUSTOMER),
    (demo::RESELLER, demo::STANDARD_CUSTOMER),
    (demo::RESELLER, demo::FROZEN_CUSTOMER),
    (demo::RESELLER, demo::OTHER_RESELLERS_CUSTOMER),
    (demo::SOLUTION_PROVIDER, demo::REFERRAL_CUSTOMER),
];

/// What the customers buy: product, period, list price.
const PRODUCTS: [(ProductId, PeriodType, &str); 3] = [
    (2001, PeriodType::Month, "88.50"),
    (1001, PeriodType::Month, "200.00"),
    (1001, PeriodType::Year, "2040.00"),
];

const CUSTOMERS: [CustomerId; 2] = [demo::KEY_ACCOUNT_CUSTOMER, demo::STANDARD_CUSTOMER];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (1i64..=2_000_000).prop_map(Op::TopUp),
        3 => (0..TARGETS.len(), 1i64..=300_000).prop_map(|(to, cents)| Op::Allocate { to, cents }),
        1 => (0..TARGETS.len(), 1i64..=100_000).prop_map(|(from, cents)| Op::Reclaim { from, cents }),
        4 => (0..CUSTOMERS.len(), 0..PRODUCTS.len(), 1u32..=3, 1u32..=3).prop_map(|(customer, product, periods, quantity)| {
            Op::Order { customer, product, periods, quantity }
        }),
        6 => (any::<usize>(), any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(order, by_partner, paid_too)| Op::Pay { order, by_partner, paid_too }),
        3 => (any::<usize>(), 1u32..=130).prop_map(|(order, percent)| Op::Refund { order, percent }),
        3 => (any::<usize>(), 1u32..=2).prop_map(|(resource, periods)| Op::Renew { resource, periods }),
        2 => any::<usize>().prop_map(|resource| Op::Unsubscribe { resource }),
        2 => any::<usize>().prop_map(Op::Retry),
        1 => (1i64..=240).prop_map(Op::Wait),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => op().prop_map(Step::One),
        1 => (op(), op()).prop_map(|(a, b)| Step::Together(a, b)),
        1 => op().prop_map(Step::Twice),
    ]
}

fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        64
    };
    ProptestConfig { cases, ..default }
}

/// Fewer on PostgreSQL by default: each case creates and migrates a database of its own.
fn config_postgres() -> ProptestConfig {
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            ProptestConfig::default().cases
        } else {
            16
        },
        ..config()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_ledger_holds_over_any_sequence_of_money_operations(steps in prop::collection::vec(step(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(run(steps)).map_err(TestCaseError::fail)?;
    }
}

proptest! {
    #![proptest_config(config_postgres())]

    /// The same on PostgreSQL, whose transactions really run side by side (READ COMMITTED,
    /// row locks), where SQLite takes one writer at a time.
    #[test]
    #[cfg_attr(not(postgres_tests), ignore = "PostgreSQL: set PCHOST_TEST_POSTGRES_URL to run")]
    fn the_ledger_holds_on_postgresql_too(steps in prop::collection::vec(step(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(run_postgres(steps)).map_err(TestCaseError::fail)?;
    }
}

fn cny() -> Currency {
    "CNY".parse().expect("currency")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().expect("date")
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

fn admin_of(partner: PartnerId, on_behalf_of: Option<CustomerId>) -> Actor {
    let id = if partner == demo::RESELLER {
        demo::STAFF_ADMIN
    } else {
        demo::SOLUTION_PROVIDER_ADMIN
    };
    Actor {
        role: Role::PartnerAdmin,
        partner: Some(partner),
        id: Some(id),
        on_behalf_of: on_behalf_of.map(|c| format!("customer:{c}")),
    }
}

/// A request to the store that moves money or creates an order.
#[derive(Clone, Debug)]
enum Call {
    TopUp {
        account: i64,
        amount: Decimal,
    },
    Allocate {
        target: usize,
        amount: Decimal,
    },
    Reclaim {
        target: usize,
        amount: Decimal,
    },
    Order(NewOrder),
    Pay {
        order: OrderId,
        payer: Payer,
    },
    /// `over`: more than is left to refund, when it was resolved.
    Refund {
        order: OrderId,
        amount: Decimal,
        over: bool,
    },
    Unsubscribe {
        resource: i64,
    },
}

/// A call under its idempotency key, as its actor sends it.
#[derive(Clone, Debug)]
struct Keyed {
    call: Call,
    actor: Actor,
    key: String,
}

/// What the store answered.
#[derive(Clone, Debug, PartialEq)]
enum Done {
    ToppedUp(Account),
    Transferred(Transferred),
    Ordered(CreatedOrder),
    Paid(Payment),
    Refunded(RefundDone),
    Unsubscribed(Unsubscription),
}

async fn execute(store: &Store, keyed: &Keyed, now: DateTime<Utc>) -> Result<Done, StoreError> {
    let Keyed { call, actor, key } = keyed;
    Ok(match call {
        Call::TopUp { account, amount } => Done::ToppedUp(store.top_up(*account, *amount, actor, key, now).await?),
        Call::Allocate { target, amount } => {
            let (partner, customer) = TARGETS[*target];
            let to = AllocationTarget::Customer(customer);
            Done::Transferred(store.allocate(partner, to, cny(), *amount, actor, key, now).await?)
        }
        Call::Reclaim { target, amount } => {
            let (partner, customer) = TARGETS[*target];
            let from = AllocationTarget::Customer(customer);
            Done::Transferred(store.reclaim(partner, from, cny(), *amount, actor, key, now).await?)
        }
        // A retry's answer is marked replayed; the answer itself is the first one.
        Call::Order(order) => Done::Ordered(CreatedOrder {
            replayed: false,
            ..store.create_order(order, actor, key, now).await?
        }),
        Call::Pay { order, payer } => Done::Paid(store.pay_order(*order, *payer, actor, key, now).await?),
        Call::Refund { order, amount, .. } => {
            Done::Refunded(store.refund_order(*order, *amount, actor, key, now).await?)
        }
        Call::Unsubscribe { resource } => {
            Done::Unsubscribed(store.unsubscribe_resource(*resource, actor, key, now).await?)
        }
    })
}

/// An order as its answers describe it.
#[derive(Clone, Debug)]
struct ModelOrder {
    id: OrderId,
    customer: CustomerId,
    amount: Decimal,
    /// The period and periods of its one line.
    term: (PeriodType, u32),
    /// The resource it renews.
    renews: Option<i64>,
    /// Whose cash its refunds go back to, once paid (rule 9).
    payer: Option<AccountOwner>,
    refunded: Decimal,
}

/// A resource as its answers describe it.
#[derive(Clone, Debug)]
struct ModelResource {
    id: i64,
    /// The order that bought it: refunded in full, it closes the resource.
    order: OrderId,
    customer: CustomerId,
    product: ProductId,
    period: PeriodType,
    quantity: u32,
    expires_at: DateTime<Utc>,
    closed: bool,
}

/// What the answers add up to.
struct Model {
    now: DateTime<Utc>,
    keys: u32,
    /// Balances after the setup.
    initial: BTreeMap<i64, Decimal>,
    /// What the answers say moved, per account.
    moved: BTreeMap<i64, Decimal>,
    orders: Vec<ModelOrder>,
    resources: Vec<ModelResource>,
    /// Every request sent, with its first successful answer.
    sent: Vec<(Keyed, Option<Done>)>,
}

impl Model {
    fn key(&mut self) -> String {
        self.keys += 1;
        format!("k{}", self.keys)
    }

    /// The request an operation sends now, if it sends one.
    async fn resolve(&mut self, store: &Store, op: &Op) -> Result<Option<Keyed>, String> {
        let keyed = |call, actor, key| Some(Keyed { call, actor, key });
        Ok(match op {
            Op::TopUp(c) => {
                let account = cash(store, AccountOwner::Partner(demo::RESELLER)).await?;
                let call = Call::TopUp {
                    account: account.id,
                    amount: cents(*c),
                };
                keyed(call, operator(), self.key())
            }
            Op::Allocate { to, cents: c } => {
                let actor = admin_of(TARGETS[*to].0, Some(TARGETS[*to].1));
                let call = Call::Allocate {
                    target: *to,
                    amount: cents(*c),
                };
                keyed(call, actor, self.key())
            }
            Op::Reclaim { from, cents: c } => {
                let actor = admin_of(TARGETS[*from].0, Some(TARGETS[*from].1));
                let call = Call::Reclaim {
                    target: *from,
                    amount: cents(*c),
                };
                keyed(call, actor, self.key())
            }
            Op::Order {
                customer,
                product,
                periods,
                quantity,
            } => {
                let (product, period, price) = PRODUCTS[*product];
                let price = Decimal::from_str_exact(price).map_err(|e| e.to_string())?;
                let periods = if period == PeriodType::Year { 1 } else { *periods };
                let line = NewOrderLine {
                    product,
                    period,
                    period_count: periods,
                    quantity: *quantity,
                    list_unit_price: price,
                    unit_price: price,
                };
                let order = NewOrder {
                    customer: CUSTOMERS[*customer],
                    currency: cny(),
                    lines: vec![line],
                    quote: None,
                };
                keyed(Call::Order(order), customer_itself(CUSTOMERS[*customer]), self.key())
            }
            Op::Pay {
                order,
                by_partner,
                paid_too,
            } => {
                let unpaid: Vec<&ModelOrder> = self.orders.iter().filter(|o| o.payer.is_none()).collect();
                let pool: Vec<&ModelOrder> = if *paid_too || unpaid.is_empty() {
                    self.orders.iter().collect()
                } else {
                    unpaid
                };
                let Some(found) = pool.get(order % pool.len().max(1)) else {
                    return Ok(None);
                };
                let (id, customer) = (found.id, found.customer);
                let (payer, actor) = if *by_partner {
                    (Payer::Partner(demo::RESELLER), admin_of(demo::RESELLER, Some(customer)))
                } else {
                    (Payer::Customer, customer_itself(customer))
                };
                keyed(Call::Pay { order: id, payer }, actor, self.key())
            }
            Op::Refund { order, percent } => {
                let Some(found) = self.orders.get(order % self.orders.len().max(1)) else {
                    return Ok(None);
                };
                let left = found.amount - found.refunded;
                let share = (left * Decimal::from(*percent) / Decimal::ONE_HUNDRED).round_dp(2);
                let amount = share.max(cents(1));
                let call = Call::Refund {
                    order: found.id,
                    amount,
                    over: found.payer.is_some() && amount > left,
                };
                keyed(call, admin_of(demo::RESELLER, Some(found.customer)), self.key())
            }
            Op::Renew { resource, periods } => {
                let Some(found) = self.resources.get(resource % self.resources.len().max(1)).cloned() else {
                    return Ok(None);
                };
                let periods = if found.period == PeriodType::Year { 1 } else { *periods };
                let price = PRODUCTS
                    .iter()
                    .find(|p| p.0 == found.product && p.1 == found.period)
                    .map(|p| Decimal::from_str_exact(p.2).map_err(|e| e.to_string()))
                    .ok_or("a product of the catalog")??;
                let lines = [NewOrderLine {
                    product: found.product,
                    period: found.period,
                    period_count: periods,
                    quantity: found.quantity,
                    list_unit_price: price,
                    unit_price: price,
                }];
                // A renewal is an order from a quote naming the resource (rule 11).
                let quote = NewQuote {
                    customer: found.customer,
                    currency: cny(),
                    total: price * Decimal::from(periods) * Decimal::from(found.quantity),
                    lines: &lines,
                    body: "{}",
                    created_by: "property test",
                    now: self.now,
                    expires_at: self.now + Duration::hours(1),
                    renews: Some(found.id),
                    spec_change: None,
                };
                let (quote, _) = store
                    .save_quote_with_invocations(&quote, &[])
                    .await
                    .map_err(|e| e.to_string())?;
                let order = NewOrder {
                    customer: found.customer,
                    currency: cny(),
                    lines: lines.to_vec(),
                    quote: Some(quote),
                };
                keyed(Call::Order(order), customer_itself(found.customer), self.key())
            }
            Op::Unsubscribe { resource } => {
                let Some(found) = self.resources.get(resource % self.resources.len().max(1)) else {
                    return Ok(None);
                };
                let call = Call::Unsubscribe { resource: found.id };
                keyed(call, customer_itself(found.customer), self.key())
            }
            Op::Retry(i) => self.sent.get(i % self.sent.len().max(1)).map(|(k, _)| k.clone()),
            Op::Wait(hours) => {
                // Within November: a term that ends on a 29th, 30th or 31st would make the
                // order in which two renewals paid at once extend it matter.
                self.now = (self.now + Duration::hours(*hours)).min(t0() + Duration::days(26));
                None
            }
        })
    }

    /// The first answer to `keyed`'s key, if it was answered.
    fn first(&self, keyed: &Keyed) -> Option<&Done> {
        self.sent
            .iter()
            .find(|(k, _)| k.key == keyed.key)
            .and_then(|(_, first)| first.as_ref())
    }

    /// Takes in the answer to `keyed`. `alone`: nothing else ran meanwhile, so the state it
    /// left can be checked.
    async fn answered(
        &mut self,
        store: &Store,
        keyed: &Keyed,
        answer: Result<Done, StoreError>,
        alone: bool,
    ) -> Result<(), String> {
        if !self.sent.iter().any(|(k, _)| k.key == keyed.key) {
            self.sent.push((keyed.clone(), None));
        }
        let done = match (self.first(keyed).cloned(), answer) {
            (Some(first), Ok(again)) if again == first => return Ok(()),
            (Some(first), again) => {
                return Err(format!(
                    "a retry of {keyed:?} answered {again:?}, not its first answer {first:?}"
                ));
            }
            (None, Ok(done)) => done,
            (None, Err(StoreError::Refused(refusal))) => return self.refused(keyed, refusal.code().as_str(), alone),
            (None, Err(storage)) => return Err(format!("{keyed:?} failed in storage: {storage}")),
        };
        self.apply(store, keyed, &done, alone).await?;
        if let Some(entry) = self.sent.iter_mut().find(|(k, _)| k.key == keyed.key) {
            entry.1 = Some(done);
        }
        Ok(())
    }

    /// A refusal wrote nothing (the balances at the end say so); these are refused whatever
    /// else happened.
    fn refused(&self, keyed: &Keyed, code: &str, alone: bool) -> Result<(), String> {
        let expected = match &keyed.call {
            Call::Allocate { target, .. } => match TARGETS[*target].1 {
                demo::FROZEN_CUSTOMER => Some("customer-frozen"),
                demo::OTHER_RESELLERS_CUSTOMER => Some("not-of-partner"),
                demo::REFERRAL_CUSTOMER => Some("referral-customer"),
                _ => None,
            },
            Call::Refund { over: true, .. } if alone => Some("invalid-field"),
            _ => None,
        };
        match expected {
            Some(expected) if expected != code => Err(format!("{keyed:?} was refused with {code}, not {expected}")),
            _ => Ok(()),
        }
    }

    /// The effects of a first answer.
    async fn apply(&mut self, store: &Store, keyed: &Keyed, done: &Done, alone: bool) -> Result<(), String> {
        match (done, &keyed.call) {
            (Done::ToppedUp(account), Call::TopUp { amount, .. }) => self.moves(account.id, *amount),
            (Done::Transferred(t), Call::Allocate { target, .. } | Call::Reclaim { target, .. }) => {
                let (partner, customer) = TARGETS[*target];
                if matches!(keyed.call, Call::Allocate { .. }) {
                    if [
                        demo::FROZEN_CUSTOMER,
                        demo::OTHER_RESELLERS_CUSTOMER,
                        demo::REFERRAL_CUSTOMER,
                    ]
                    .contains(&customer)
                    {
                        return Err(format!("rules 12, 18: {keyed:?} allocated {t:?}"));
                    }
                    // Rule 14: never below the ring-fenced amount.
                    let source = cash(store, AccountOwner::Partner(partner)).await?;
                    if alone && source.balance < source.designated {
                        return Err(format!("rule 14: {keyed:?} left the partner at {source:?}"));
                    }
                }
                self.moves(t.from, -t.amount);
                self.moves(t.to, t.amount);
            }
            (Done::Ordered(created), Call::Order(order)) => {
                let line = &order.lines[0];
                let renews = match order.quote {
                    Some(_) => self.orders_renewing(store, created.id).await?,
                    None => None,
                };
                self.orders.push(ModelOrder {
                    id: created.id,
                    customer: order.customer,
                    amount: created.amount,
                    term: (line.period, line.period_count),
                    renews,
                    payer: None,
                    refunded: Decimal::ZERO,
                });
            }
            (Done::Paid(payment), Call::Pay { order, payer }) => {
                let now = self.now;
                let found = self
                    .orders
                    .iter_mut()
                    .find(|o| o.id == *order)
                    .ok_or("a payment of an order the model knows")?;
                if found.payer.is_some() {
                    return Err(format!("order {order} paid twice: {payment:?}"));
                }
                found.payer = Some(match payer {
                    Payer::Customer => AccountOwner::Customer(found.customer),
                    Payer::Partner(p) => AccountOwner::Partner(*p),
                });
                let debited: Decimal = payment.debits.iter().map(|d| d.amount).sum();
                if debited != found.amount || payment.amount != found.amount {
                    return Err(format!("order {order} of {} paid {payment:?}", found.amount));
                }
                let (customer, term, renews, owner) =
                    (found.customer, found.term, found.renews, found.payer.ok_or("payer")?);
                for debit in &payment.debits {
                    self.moves(debit.account, -debit.amount);
                }
                // Rule 6: credit only once cash is used up.
                if alone && payment.debits.iter().any(|d| d.kind == AccountKind::Credit) {
                    let left = cash(store, owner).await?.balance;
                    if left != Decimal::ZERO {
                        return Err(format!("rule 6: {payment:?} used credit with {left} cash left"));
                    }
                }
                self.provisioned(store, *order, customer, term, renews, now).await?;
            }
            (Done::Refunded(refund), Call::Refund { .. }) => self.refunded(store, refund).await?,
            (Done::Unsubscribed(done), Call::Unsubscribe { resource }) => {
                for refund in &done.refunds {
                    self.refunded(store, refund).await?;
                }
                let found = self
                    .resources
                    .iter_mut()
                    .find(|r| r.id == *resource)
                    .ok_or("a resource the model knows")?;
                if found.closed || done.closed != vec![*resource] {
                    return Err(format!("unsubscribing {resource}: {done:?}"));
                }
                found.closed = true;
            }
            (done, call) => return Err(format!("{call:?} answered {done:?}")),
        }
        Ok(())
    }

    fn moves(&mut self, account: i64, amount: Decimal) {
        *self.moved.entry(account).or_default() += amount;
    }

    async fn orders_renewing(&self, store: &Store, order: OrderId) -> Result<Option<i64>, String> {
        sqlx::query_scalar::<_, Option<i64>>("SELECT renews_resource FROM orders WHERE id = $1")
            .bind(order)
            .fetch_one(store.pool())
            .await
            .map_err(|e| e.to_string())
    }

    /// What paying `order` provisioned: a resource per subscription line, or a renewal's
    /// longer term (rule 11).
    async fn provisioned(
        &mut self,
        store: &Store,
        order: OrderId,
        customer: CustomerId,
        (period, count): (PeriodType, u32),
        renews: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let months = match period {
            PeriodType::Year => count * 12,
            _ => count,
        };
        if let Some(renewed) = renews {
            let found = self
                .resources
                .iter_mut()
                .find(|r| r.id == renewed)
                .ok_or("a renewed resource the model knows")?;
            found.expires_at = found
                .expires_at
                .checked_add_months(Months::new(months))
                .ok_or("expiry")?;
            return Ok(());
        }
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM resources WHERE order_id = $1")
            .bind(order)
            .fetch_all(store.pool())
            .await
            .map_err(|e| e.to_string())?;
        let [id] = ids[..] else {
            return Err(format!("order {order} provisioned {ids:?}, not one resource"));
        };
        let line = sqlx::query("SELECT product, quantity FROM order_lines WHERE order_id = $1")
            .bind(order)
            .fetch_one(store.pool())
            .await
            .map_err(|e| e.to_string())?;
        self.resources.push(ModelResource {
            id,
            order,
            customer,
            product: line.try_get("product").map_err(|e| e.to_string())?,
            period,
            quantity: line
                .try_get::<i64, _>("quantity")
                .map_err(|e| e.to_string())?
                .try_into()
                .map_err(|_| "quantity")?,
            expires_at: now.checked_add_months(Months::new(months)).ok_or("expiry")?,
            closed: false,
        });
        Ok(())
    }

    /// A refund paid: within what was paid, back to whoever paid (rule 9).
    async fn refunded(&mut self, store: &Store, refund: &RefundDone) -> Result<(), String> {
        let found = self
            .orders
            .iter_mut()
            .find(|o| o.id == refund.order)
            .ok_or("a refund of an order the model knows")?;
        let payer = found
            .payer
            .ok_or_else(|| format!("a refund of unpaid order {}", refund.order))?;
        found.refunded += refund.amount;
        if found.refunded > found.amount {
            return Err(format!(
                "order {} refunded {} of {}",
                found.id, found.refunded, found.amount
            ));
        }
        let to = store
            .account_by_id(refund.account)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the refunded account")?;
        if (to.owner, to.kind) != (payer, AccountKind::Cash) {
            return Err(format!("rule 9: {refund:?} went to {to:?}, not to {payer:?}'s cash"));
        }
        self.moves(refund.account, refund.amount);
        Ok(())
    }
}

async fn cash(store: &Store, owner: AccountOwner) -> Result<Account, String> {
    store
        .open_account(owner, AccountKind::Cash, cny(), Decimal::ZERO)
        .await
        .map_err(|e| e.to_string())
}

async fn run(steps: Vec<Step>) -> Result<(), String> {
    let database = SqliteFile::create().await;
    let result = run_on(&database.store, steps).await;
    database.remove().await;
    result
}

async fn run_postgres(steps: Vec<Step>) -> Result<(), String> {
    let database = PostgresDatabase::create().await;
    let result = run_on(&database.store, steps).await;
    database.drop().await;
    result
}

async fn run_on(store: &Store, steps: Vec<Step>) -> Result<(), String> {
    let storage = |e: StoreError| e.to_string();
    store.seed_demo_if_empty(&DemoData::new(t0())).await.map_err(storage)?;
    // The reseller has cash with 500.00 ring-fenced (rule 14), the solution provider some,
    // customers 101 and 102 some, 101 a credit line too (rule 6).
    for (partner, amount) in [(demo::RESELLER, "20000.00"), (demo::SOLUTION_PROVIDER, "1000.00")] {
        let account = cash(store, AccountOwner::Partner(partner)).await?;
        let amount = Decimal::from_str_exact(amount).map_err(|e| e.to_string())?;
        store
            .top_up(account.id, amount, &operator(), &format!("setup-{partner}"), t0())
            .await
            .map_err(storage)?;
        if partner == demo::RESELLER {
            store.designate(account.id, cents(50_000)).await.map_err(storage)?;
        }
    }
    for customer in CUSTOMERS {
        let to = AllocationTarget::Customer(customer);
        let actor = admin_of(demo::RESELLER, Some(customer));
        let key = format!("setup-{customer}");
        store
            .allocate(demo::RESELLER, to, cny(), cents(150_000), &actor, &key, t0())
            .await
            .map_err(storage)?;
    }
    let owner = AccountOwner::Customer(demo::KEY_ACCOUNT_CUSTOMER);
    store
        .open_account(owner, AccountKind::Credit, cny(), cents(30_000))
        .await
        .map_err(storage)?;
    let initial = balances(store).await?;
    let mut model = Model {
        now: t0(),
        keys: 0,
        initial,
        moved: BTreeMap::new(),
        orders: Vec::new(),
        resources: Vec::new(),
        sent: Vec::new(),
    };
    for step in &steps {
        match step {
            Step::One(op) => {
                if let Some(keyed) = model.resolve(store, op).await? {
                    let answer = execute(store, &keyed, model.now).await;
                    model.answered(store, &keyed, answer, true).await?;
                }
            }
            Step::Together(a, b) => {
                let a = model.resolve(store, a).await?;
                let b = model.resolve(store, b).await?;
                // After the resolution: a `Wait` among them moved the clock.
                let now = model.now;
                let run = |k: &Option<Keyed>| {
                    let k = k.clone();
                    async move {
                        match k {
                            Some(k) => Some(execute(store, &k, now).await),
                            None => None,
                        }
                    }
                };
                let (answer_a, answer_b) = tokio::join!(run(&a), run(&b));
                let mut answers = [(a, answer_a), (b, answer_b)];
                // A payment's answer first: an unsubscription that ran beside a renewal's
                // payment may have seen it (and refunded its share), never the other way.
                answers.sort_by_key(|(keyed, _)| {
                    !matches!(
                        keyed,
                        Some(Keyed {
                            call: Call::Pay { .. },
                            ..
                        })
                    )
                });
                for (keyed, answer) in answers {
                    if let (Some(keyed), Some(answer)) = (keyed, answer) {
                        model.answered(store, &keyed, answer, false).await?;
                    }
                }
            }
            Step::Twice(op) => {
                let Some(keyed) = model.resolve(store, op).await? else {
                    continue;
                };
                let now = model.now;
                let (one, other) = tokio::join!(execute(store, &keyed, now), execute(store, &keyed, now));
                // Twins under one key: both answer the one effect, or both are refused.
                if one.is_ok() != other.is_ok() {
                    return Err(format!("{keyed:?} sent twice at once answered {one:?} and {other:?}"));
                }
                model.answered(store, &keyed, one, false).await?;
                model.answered(store, &keyed, other, false).await?;
            }
        }
    }
    check(store, &model).await
}

async fn balances(store: &Store) -> Result<BTreeMap<i64, Decimal>, String> {
    let rows = sqlx::query("SELECT id, balance_cents FROM accounts")
        .fetch_all(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, cents(r.try_get("balance_cents")?))))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| e.to_string())
}

/// The invariants of the module's documentation, over the store after a sequence.
async fn check(store: &Store, model: &Model) -> Result<(), String> {
    let pool = store.pool();
    let sql = |e: sqlx::Error| e.to_string();
    let accounts =
        sqlx::query("SELECT id, owner_kind, owner_id, kind, balance_cents, credit_limit_cents FROM accounts")
            .fetch_all(pool)
            .await
            .map_err(sql)?;
    let entries = sqlx::query("SELECT account, amount_cents, reason, order_id FROM ledger_entries")
        .fetch_all(pool)
        .await
        .map_err(sql)?;
    let entry = |r: &sqlx::any::AnyRow| -> Result<(i64, Decimal, String, Option<i64>), sqlx::Error> {
        Ok((
            r.try_get("account")?,
            cents(r.try_get("amount_cents")?),
            r.try_get("reason")?,
            r.try_get("order_id")?,
        ))
    };
    let entries = entries.iter().map(entry).collect::<Result<Vec<_>, _>>().map_err(sql)?;
    for a in &accounts {
        let id: i64 = a.try_get("id").map_err(sql)?;
        let kind: String = a.try_get("kind").map_err(sql)?;
        let owner = format!(
            "{}:{}",
            a.try_get::<String, _>("owner_kind").map_err(sql)?,
            a.try_get::<i64, _>("owner_id").map_err(sql)?
        );
        let balance = cents(a.try_get("balance_cents").map_err(sql)?);
        let sum: Decimal = entries.iter().filter(|e| e.0 == id).map(|e| e.1).sum();
        if balance != sum {
            return Err(format!(
                "account {id} ({owner} {kind}): balance {balance}, ledger {sum}"
            ));
        }
        let expected =
            model.initial.get(&id).copied().unwrap_or_default() + model.moved.get(&id).copied().unwrap_or_default();
        if balance != expected {
            return Err(format!(
                "account {id} ({owner} {kind}): balance {balance}, the answers add up to {expected}"
            ));
        }
        // Rule 6: cash never below zero, credit never below its limit.
        let floor = if kind == "credit" {
            -cents(a.try_get("credit_limit_cents").map_err(sql)?)
        } else {
            Decimal::ZERO
        };
        if balance < floor {
            return Err(format!("rule 6: account {id} ({owner} {kind}) at {balance}"));
        }
        // Rules 12, 18: nothing was allocated to whom it may not be.
        let forbidden = [
            demo::FROZEN_CUSTOMER,
            demo::OTHER_RESELLERS_CUSTOMER,
            demo::REFERRAL_CUSTOMER,
        ]
        .map(|c| format!("customer:{c}"));
        if forbidden.contains(&owner) && entries.iter().any(|e| e.0 == id && e.2 == "allocation") {
            return Err(format!("rules 12, 18: an allocation reached {owner}"));
        }
    }

    let orders = sqlx::query("SELECT id, status, amount, refunded_cents FROM orders")
        .fetch_all(pool)
        .await
        .map_err(sql)?;
    let refunds = sqlx::query("SELECT order_id, amount_cents FROM refunds")
        .fetch_all(pool)
        .await
        .map_err(sql)?;
    for o in &orders {
        let id: i64 = o.try_get("id").map_err(sql)?;
        let status: String = o.try_get("status").map_err(sql)?;
        let amount =
            Decimal::from_str_exact(&o.try_get::<String, _>("amount").map_err(sql)?).map_err(|e| e.to_string())?;
        let refunded = cents(o.try_get("refunded_cents").map_err(sql)?);
        let Some(known) = model.orders.iter().find(|m| m.id == id) else {
            // The demo's history; no other order was created unanswered.
            if !(9001..=9006).contains(&id) {
                return Err(format!("order {id} was created, yet never answered"));
            }
            continue;
        };
        let paid = known.payer.is_some();
        if paid != (status == "completed") {
            return Err(format!("order {id} is {status}; the answers say paid: {paid}"));
        }
        let by = |reason: &str| -> Decimal {
            entries
                .iter()
                .filter(|e| e.3 == Some(id) && e.2 == reason)
                .map(|e| e.1)
                .sum()
        };
        // Paid once, or not at all.
        let charged = if paid { amount } else { Decimal::ZERO };
        if -by("payment") != charged {
            return Err(format!(
                "order {id} ({status}) of {amount}: payments {}",
                -by("payment")
            ));
        }
        // Rules 9, 10: refunded within what was paid, as recorded and as answered.
        let recorded: i64 = refunds
            .iter()
            .filter(|r| r.try_get::<i64, _>("order_id").ok() == Some(id))
            .map(|r| r.try_get::<i64, _>("amount_cents"))
            .sum::<Result<i64, _>>()
            .map_err(sql)?;
        if refunded != cents(recorded) || refunded != by("refund") || refunded != known.refunded || refunded > charged {
            return Err(format!(
                "order {id} of {amount} ({status}): refunded {refunded}, refunds {}, ledger {}, answered {}",
                cents(recorded),
                by("refund"),
                known.refunded
            ));
        }
    }

    // Resources: the term each first answer implies (rule 11), closed when unsubscribed or
    // refunded in full (rule 10), none provisioned unanswered.
    let resources = sqlx::query("SELECT id, status, expires_at FROM resources")
        .fetch_all(pool)
        .await
        .map_err(sql)?;
    let mut seen = BTreeSet::new();
    for r in &resources {
        let id: i64 = r.try_get("id").map_err(sql)?;
        let status: String = r.try_get("status").map_err(sql)?;
        let expires: i64 = r.try_get("expires_at").map_err(sql)?;
        let known = model
            .resources
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| format!("resource {id} was provisioned, yet no payment answered it"))?;
        // Closed when unsubscribed, or once its order is refunded in full (whatever the order in
        // which concurrent answers were applied to the model).
        let refunded_in_full = model
            .orders
            .iter()
            .any(|o| o.id == known.order && o.payer.is_some() && o.refunded == o.amount);
        if (status == "closed") != (known.closed || refunded_in_full) || expires != known.expires_at.timestamp_millis()
        {
            return Err(format!(
                "resource {id} is {status} until {expires}; the answers say {known:?}"
            ));
        }
        seen.insert(id);
    }
    if seen.len() != model.resources.len() {
        return Err("a resource answered is missing".into());
    }

    // Every key claimed holds its answer: claimed and answered in one transaction.
    let unanswered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys WHERE response IS NULL")
        .fetch_one(pool)
        .await
        .map_err(sql)?;
    if unanswered != 0 {
        return Err(format!("{unanswered} idempotency keys hold no answer"));
    }
    Ok(())
}
