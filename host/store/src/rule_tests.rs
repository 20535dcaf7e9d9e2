//! The money rules of DOMAIN.md, each test named after its rule, on SQLite and PostgreSQL.

use crate::accounts::{AccountKind, AccountOwner, Actor, AllocationTarget};
use crate::audit::AuditFilter;
use crate::authorizations::{Authorization, AuthorizationStatus};
use crate::coupons::{CouponLimits, CouponStatus, QuotaStatus};
use crate::demo::{self, DemoData};
use crate::entities::DiscountKind;
use crate::entities::*;
use crate::errors::DomainError;
use crate::invoicing::{InvoiceScope, Issuer, NewInvoiceRequest};
use crate::money::{Currency, MAX_AMOUNT};
use crate::opportunities::{NewOpportunity, OpportunityReview};
use crate::orders::{CreatedOrder, NewOrder, NewOrderLine, OrderFilter, Payer, SpecChange};
use crate::partners::{CustomerFilter, InvitationChannel, NewCustomer, check_partner_discount};
use crate::pricing::{Discount, offers};
use crate::quotes::NewQuote;
use crate::resources::{ExpiryPolicy, GRACE_PERIOD_DAYS, ResourceStatus, auto_renew_due};
use crate::scheduler::{ExpiryApplied, ExpiryOutcome};
use crate::store::{Store, StoreError};
use crate::tasks::{NewTask, TaskStatus};
use crate::testing::{customer_itself, on_both_backends, operator};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use sqlx::Row;

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).expect("decimal literal")
}

fn cny() -> Currency {
    "CNY".parse().expect("currency")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().expect("date")
}

fn reseller_admin() -> Actor {
    Actor {
        role: Role::PartnerAdmin,
        partner: Some(demo::RESELLER),
        id: Some(500),
        on_behalf_of: None,
    }
}

fn on_behalf_of(customer: CustomerId) -> Actor {
    Actor {
        on_behalf_of: Some(format!("customer:{customer}")),
        ..reseller_admin()
    }
}

fn line(unit_price: &str, quantity: u32, period_count: u32) -> NewOrderLine {
    NewOrderLine {
        product: 2001,
        period: PeriodType::Month,
        period_count,
        quantity,
        list_unit_price: dec(unit_price),
        unit_price: dec(unit_price),
    }
}

fn order_of(amount: &str) -> NewOrder {
    NewOrder {
        customer: demo::STANDARD_CUSTOMER,
        currency: cny(),
        lines: vec![line(amount, 1, 1)],
        quote: None,
    }
}

/// Orders the renewal of `resource` the way the API does (rule 11): a renewal quote naming it
/// (10.00, whatever the term), and an order made from that quote, unpaid.
async fn renewal_order(store: &Store, resource: i64, period: PeriodType, count: u32, key: &str) -> OrderId {
    let found = store.resource(resource).await.expect("read").expect("resource");
    let lines = [NewOrderLine {
        product: found.product,
        period,
        period_count: count,
        ..line("10.00", 1, 1)
    }];
    let quote = NewQuote {
        customer: found.customer,
        currency: cny(),
        total: dec("10.00"),
        lines: &lines,
        body: "{}",
        created_by: "test",
        now: t0(),
        expires_at: t0() + Duration::hours(1),
        renews: Some(resource),
        spec_change: None,
    };
    let (quote, _) = store
        .save_quote_with_invocations(&quote, &[])
        .await
        .expect("renewal quote");
    let order = NewOrder {
        customer: found.customer,
        currency: cny(),
        lines: lines.to_vec(),
        quote: Some(quote),
    };
    let created = store
        .create_order(&order, &reseller_admin(), &format!("renew-{key}"), t0())
        .await
        .expect("renewal order");
    assert_eq!(
        store.order(created.id).await.expect("read").expect("order").kind,
        OrderKind::Renew
    );
    created.id
}

/// Renews `resource` the way the API does (see [`renewal_order`]), the order paid by reseller
/// 2 on the customer's behalf (10.00, whatever the term). Returns the resource's new expiry,
/// or the payment's refusal.
async fn renew_by_order(
    store: &Store,
    resource: i64,
    period: PeriodType,
    count: u32,
    key: &str,
) -> Result<DateTime<Utc>, StoreError> {
    let order = renewal_order(store, resource, period, count, key).await;
    let found = store.resource(resource).await.expect("read").expect("resource");
    let on_behalf = Actor {
        on_behalf_of: Some(format!("customer:{}", found.customer)),
        ..reseller_admin()
    };
    store
        .pay_order(
            order,
            Payer::Partner(demo::RESELLER),
            &on_behalf,
            &format!("pay-{key}"),
            t0(),
        )
        .await?;
    Ok(store
        .resource(resource)
        .await
        .expect("read")
        .expect("resource")
        .expires_at)
}

/// Orders a change of `resource` to product `to` the way the API does: a spec change quote
/// priced at `priced_at` (the order's amount `amount`, for a dearer spec; `credit` back, for a
/// cheaper one), and an order made from it, unpaid.
async fn spec_change_order(
    store: &Store,
    resource: i64,
    to: ProductId,
    amount: &str,
    credit: &str,
    priced_at: DateTime<Utc>,
    key: &str,
) -> OrderId {
    let found = store.resource(resource).await.expect("read").expect("resource");
    let lines = [NewOrderLine {
        product: to,
        period: found.period,
        ..line(amount, 1, 1)
    }];
    let change = SpecChange {
        resource,
        from_product: found.product,
        to_product: to,
        term_ends_at: found.expires_at,
        priced_at,
        credit: dec(credit),
    };
    let quote = NewQuote {
        customer: found.customer,
        currency: cny(),
        total: dec(amount),
        lines: &lines,
        body: "{}",
        created_by: "test",
        now: priced_at,
        expires_at: priced_at + Duration::hours(24),
        renews: None,
        spec_change: Some(&change),
    };
    let (quote, _) = store
        .save_quote_with_invocations(&quote, &[])
        .await
        .expect("spec change quote");
    let order = NewOrder {
        customer: found.customer,
        currency: cny(),
        lines: lines.to_vec(),
        quote: Some(quote),
    };
    let created = store
        .create_order(&order, &reseller_admin(), &format!("change-{key}"), priced_at)
        .await
        .expect("change order");
    assert_eq!(
        store.order(created.id).await.expect("read").expect("order").kind,
        OrderKind::Change
    );
    created.id
}

/// Pays `order` (the partner, on the customer's behalf) and unsubscribes `resource` at once,
/// as of `now`: the payment's answer, and the unsubscription.
async fn pay_while_unsubscribing(
    store: &Store,
    order: OrderId,
    resource: i64,
    pay_key: &str,
    unsubscribe_key: &str,
    now: DateTime<Utc>,
) -> (
    Result<crate::orders::Payment, StoreError>,
    crate::resources::Unsubscription,
) {
    let on_behalf = on_behalf_of(demo::STANDARD_CUSTOMER);
    let admin = reseller_admin();
    let (paid, done) = tokio::join!(
        store.pay_order(order, Payer::Partner(demo::RESELLER), &on_behalf, pay_key, now),
        store.unsubscribe_resource(resource, &admin, unsubscribe_key, now)
    );
    (paid, done.expect("unsubscribed"))
}

/// The resource a paid order provisioned.
async fn provisioned(store: &Store, order: OrderId) -> i64 {
    sqlx::query_scalar("SELECT id FROM resources WHERE order_id = $1")
        .bind(order)
        .fetch_one(store.pool())
        .await
        .expect("provisioned")
}

async fn seeded(store: &Store) {
    store.seed_demo_if_empty(&DemoData::new(t0())).await.expect("seed");
}

/// The reseller's cash account holding `cash`, and a credit account with `credit_limit`.
async fn reseller_accounts(store: &Store, cash: &str, credit_limit: &str) -> (i64, i64) {
    let owner = AccountOwner::Partner(demo::RESELLER);
    let cash_account = store
        .open_account(owner, AccountKind::Cash, cny(), Decimal::ZERO)
        .await
        .expect("cash account");
    store
        .top_up(cash_account.id, dec(cash), &reseller_admin(), "reseller-funds", t0())
        .await
        .expect("top up");
    let credit = store
        .open_account(owner, AccountKind::Credit, cny(), dec(credit_limit))
        .await
        .expect("credit account");
    (cash_account.id, credit.id)
}

async fn ledger_sum(store: &Store, account: i64) -> Decimal {
    store
        .ledger(account)
        .await
        .expect("ledger")
        .iter()
        .map(|e| e.amount)
        .sum()
}

async fn balance(store: &Store, kind: AccountKind) -> Decimal {
    store
        .account(AccountOwner::Partner(demo::RESELLER), kind, cny())
        .await
        .expect("read")
        .expect("account")
        .balance
}

on_both_backends! {
    async fn rule_6_payment_takes_cash_first_then_credit_and_never_goes_below_zero(store: Store) {
        seeded(&store).await;
        let (cash, credit) = reseller_accounts(&store, "300.00", "500.00").await;
        let order = store.create_order(&order_of("700.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        let payment = store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        let debits: Vec<_> = payment.debits.iter().map(|d| (d.kind, d.amount.to_string())).collect();
        assert_eq!(debits, vec![(AccountKind::Cash, "300.00".to_string()), (AccountKind::Credit, "400.00".into())]);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("0.00"));
        assert_eq!(balance(&store, AccountKind::Credit).await, dec("-400.00"));

        // 100.00 of credit is left: a 200.00 order is refused and nothing is written.
        let second = store.create_order(&order_of("200.00"), &reseller_admin(), "o-2", t0()).await.expect("order");
        let refused = store
            .pay_order(second.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-2", t0())
            .await;
        assert!(
            matches!(&refused, Err(StoreError::Refused(DomainError::InsufficientBalance { needed, available })) if *needed == dec("200.00") && *available == dec("100.00")),
            "got {refused:?}"
        );
        assert_eq!(refused.map(|_| ()).map_err(|e| e.code().as_str()), Err("insufficient-balance"));
        assert_eq!(store.order(second.id).await.expect("read").expect("order").status, OrderStatus::PendingPayment);
        assert_eq!(ledger_sum(&store, cash).await, dec("0.00"), "cash balance = sum of its entries");
        assert_eq!(ledger_sum(&store, credit).await, dec("-400.00"), "credit balance = sum of its entries");
    }

    async fn rule_6_fifty_concurrent_payments_never_overdraw_the_balance(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1234.00", "0.00").await;
        let mut orders = Vec::new();
        for i in 0..50 {
            let created = store.create_order(&order_of("100.00"), &reseller_admin(), &format!("o-{i}"), t0()).await.expect("order");
            orders.push(created.id);
        }
        let payments = orders.iter().enumerate().map(|(i, &order)| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .pay_order(order, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), &format!("p-{i}"), t0())
                    .await
            })
        });
        let mut paid = 0;
        let mut refused = 0;
        for payment in payments.collect::<Vec<_>>() {
            match payment.await.expect("task") {
                Ok(_) => paid += 1,
                Err(StoreError::Refused(DomainError::InsufficientBalance { .. })) => refused += 1,
                Err(other) => panic!("unexpected refusal: {other:?}"),
            }
        }
        // Exactly the affordable ones: 12 × 100.00 of 1234.00.
        assert_eq!((paid, refused), (12, 38));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("34.00"));
        assert_eq!(ledger_sum(&store, cash).await, dec("34.00"), "the ledger sums to the balance");
        let entries = store.ledger(cash).await.expect("ledger");
        assert_eq!(entries.iter().filter(|e| e.reason == "payment").count(), 12);
    }

    async fn rule_8_an_order_in_review_is_not_payable_until_released_and_its_window_starts_then(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "1000.00", "0.00").await;
        let held = store.create_order_for_review(&order_of("250.00"), &reseller_admin(), "review-1", t0()).await.expect("order");
        assert!(!held.replayed);
        let status = |id| {
            let store = store.clone();
            async move { store.order(id).await.expect("read").expect("order").status }
        };
        assert_eq!(status(held.id).await, OrderStatus::PendingReview);
        let actor = on_behalf_of(demo::STANDARD_CUSTOMER);
        let payer = Payer::Partner(demo::RESELLER);
        let early = store.pay_order(held.id, payer, &actor, "pay-early", t0()).await;
        assert_eq!(early.map(|_| ()).map_err(|e| e.code().as_str()), Err("order-state"), "not payable in review");
        // A retry of the creation says it is one.
        let again = store.create_order_for_review(&order_of("250.00"), &reseller_admin(), "review-1", t0()).await.expect("retry");
        assert_eq!((again.id, again.replayed), (held.id, true));

        // Released two days later: payable for 7 days from then.
        let released_at = t0() + Duration::days(2);
        let deadline = store.release_reviewed_order(held.id, released_at).await.expect("released");
        assert_eq!(deadline, released_at + Duration::days(7));
        assert_eq!(status(held.id).await, OrderStatus::PendingPayment);
        let twice = store.release_reviewed_order(held.id, released_at).await;
        assert_eq!(twice.map_err(|e| e.code().as_str()), Err("order-state"), "released once");
        let refused = store.cancel_reviewed_order(held.id).await;
        assert_eq!(refused.map_err(|e| e.code().as_str()), Err("order-state"), "out of review");
        store.pay_order(held.id, payer, &actor, "pay-1", released_at).await.expect("paid");

        // Another, refused by its review: cancelled, never payable.
        let other = store.create_order_for_review(&order_of("100.00"), &reseller_admin(), "review-2", t0()).await.expect("order");
        store.cancel_reviewed_order(other.id).await.expect("cancelled");
        assert_eq!(status(other.id).await, OrderStatus::Cancelled);
        let late = store.release_reviewed_order(other.id, t0()).await;
        assert_eq!(late.map_err(|e| e.code().as_str()), Err("order-state"));

        // The customer may cancel an order still in review; its release then fails.
        let third = store.create_order_for_review(&order_of("50.00"), &reseller_admin(), "review-3", t0()).await.expect("order");
        store.cancel_order(third.id).await.expect("cancelled in review");
        assert_eq!(status(third.id).await, OrderStatus::Cancelled);
        let gone = store.release_reviewed_order(third.id, t0()).await;
        assert_eq!(gone.map_err(|e| e.code().as_str()), Err("order-state"));
    }

    async fn a_paid_order_is_provisioned_and_completed_in_its_payments_transaction(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "10000.00", "0.00").await;
        let order = NewOrder {
            lines: vec![
                line("88.50", 2, 3),
                NewOrderLine { period: PeriodType::Year, ..line("885.00", 1, 2) },
                NewOrderLine { period: PeriodType::OneTime, ..line("10.00", 1, 1) },
            ],
            ..order_of("0.00")
        };
        let created = store.create_order(&order, &reseller_admin(), "o-1", t0()).await.expect("order");
        let paid_at = t0() + Duration::days(1);
        let before = store.resources_of(demo::STANDARD_CUSTOMER).await.expect("resources").len();
        store
            .pay_order(created.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", paid_at)
            .await
            .expect("paid");
        assert_eq!(store.order(created.id).await.expect("read").expect("order").status, OrderStatus::Completed);
        // 3 months and 2 years became resources from the payment on; the one-time line none.
        let rows = sqlx::query("SELECT period, effective_at, expires_at FROM resources WHERE order_id = $1 ORDER BY expires_at")
            .bind(created.id)
            .fetch_all(store.pool())
            .await
            .expect("resources");
        let at = |millis: i64| Utc.timestamp_millis_opt(millis).single().expect("time");
        let new: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get::<String, _>("period").expect("period"),
                    at(r.try_get("effective_at").expect("effective")),
                    at(r.try_get("expires_at").expect("expires")),
                )
            })
            .collect();
        let date = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).single().expect("date");
        assert_eq!(
            new,
            [
                ("month".to_owned(), paid_at, date(2027, 2, 3)),
                ("year".to_owned(), paid_at, date(2028, 11, 3)),
            ]
        );
        assert_eq!(store.resources_of(demo::STANDARD_CUSTOMER).await.expect("resources").len(), before + 2);
    }

    async fn rule_18_a_frozen_customer_cannot_buy_pay_or_receive_allocations(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        let frozen = NewOrder { customer: demo::FROZEN_CUSTOMER, ..order_of("10.00") };
        let orders_before = store.recent_orders(demo::FROZEN_CUSTOMER, 100).await.expect("orders").len();
        let bought = store.create_order(&frozen, &reseller_admin(), "o-frozen", t0()).await;
        assert_eq!(bought.map(|_| ()).map_err(|e| e.code().as_str()), Err("customer-frozen"));
        assert_eq!(store.recent_orders(demo::FROZEN_CUSTOMER, 100).await.expect("orders").len(), orders_before, "nothing written");
        let allocated = store
            .allocate(demo::RESELLER, AllocationTarget::Customer(demo::FROZEN_CUSTOMER), cny(), dec("10.00"), &reseller_admin(), "to-frozen", t0())
            .await;
        assert_eq!(allocated.map_err(|e| e.code().as_str()), Err("customer-frozen"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("1000.00"));

        // Ordered before the freeze, paid after it: refused, nothing taken.
        let order = store.create_order(&order_of("10.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        store.freeze_customer(demo::STANDARD_CUSTOMER, FreezeState::AccountFrozen, t0()).await.expect("frozen");
        let paid = store.pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0()).await;
        assert_eq!(paid.map(|_| ()).map_err(|e| e.code().as_str()), Err("customer-frozen"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("1000.00"));
        assert_eq!(ledger_sum(&store, cash).await, dec("1000.00"));
        // Unfrozen, it pays.
        store.unfreeze_customer(demo::STANDARD_CUSTOMER, FreezeState::AccountFrozen, t0()).await.expect("unfrozen");
        store.pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-2", t0()).await.expect("paid");
    }

    async fn rule_8_the_scheduler_cancels_unpaid_orders_past_their_deadline_once(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "1000.00", "0.00").await;
        let unpaid = store.create_order(&order_of("10.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        let in_review = store.create_order_for_review(&order_of("30.00"), &reseller_admin(), "o-3", t0()).await.expect("order");
        let paid = store.create_order(&order_of("20.00"), &reseller_admin(), "o-2", t0()).await.expect("order");
        store
            .pay_order(paid.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-2", t0())
            .await
            .expect("paid");
        // An escalated review of the order in review, and a pending payment task about another.
        let task = |kind, order: OrderId| {
            let store = store.clone();
            async move {
                let action = serde_json::json!({ "action": "order-release", "order": order });
                let new = NewTask {
                    kind,
                    partner: demo::RESELLER,
                    customer: Some(demo::STANDARD_CUSTOMER),
                    role: Role::PartnerAdmin,
                    reason: "held".into(),
                    plugin: "rule@1.0.0".into(),
                    action,
                    requested_by: "test".into(),
                    requested_key: None,
                };
                store.create_task(&new, t0()).await.expect("task").id
            }
        };
        let review_task = task(ApprovalKind::OrderReview, in_review.id).await;
        let other_task = task(ApprovalKind::PaymentOnBehalf, paid.id).await;
        // Within its 7 days nothing expires.
        assert!(store.expire_unpaid_orders(t0() + Duration::days(7)).await.expect("job").is_empty());
        let later = t0() + Duration::days(7) + Duration::seconds(1);
        let mut expired = store.expire_unpaid_orders(later).await.expect("job");
        expired.sort_unstable();
        assert_eq!(expired, vec![unpaid.id, in_review.id], "unpaid, and still in review after 7 days");
        // The review's task expired with its order; the other task still waits.
        let expired_task = store.task(review_task).await.expect("read").expect("task");
        assert_eq!(
            (expired_task.status, expired_task.decided_by.as_deref()),
            (TaskStatus::Rejected, Some(crate::scheduler::TASK_EXPIRY))
        );
        let why = expired_task.outcome.expect("outcome")["rejected"].as_str().map(str::to_owned);
        assert_eq!(why, Some(format!("order {} passed its 7 days unpaid and was cancelled (rule 8)", in_review.id)));
        assert_eq!(store.task(other_task).await.expect("read").expect("task").status, TaskStatus::Pending);
        assert_eq!(store.order(unpaid.id).await.expect("read").expect("order").status, OrderStatus::Cancelled);
        assert_eq!(store.release_reviewed_order(in_review.id, later).await.map_err(|e| e.code().as_str()), Err("order-state"));
        assert_eq!(store.order(paid.id).await.expect("read").expect("order").status, OrderStatus::Completed);
        // A second run (or a second instance) finds nothing left to do.
        assert!(store.expire_unpaid_orders(later).await.expect("job").is_empty());
        let run = store.record_scheduler_run("expire-unpaid-orders", later, later, 1, None).await.expect("recorded");
        let runs = store.scheduler_runs(10).await.expect("runs");
        assert_eq!((runs[0].id, runs[0].job.as_str(), runs[0].items), (run, "expire-unpaid-orders", 1));
    }

    async fn create_and_pay_are_idempotent(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        let first = store.create_order(&order_of("250.00"), &reseller_admin(), "same-order", t0()).await.expect("order");
        let again = store.create_order(&order_of("250.00"), &reseller_admin(), "same-order", t0()).await.expect("repeat");
        assert_eq!(again, CreatedOrder { replayed: true, ..first.clone() }, "a repeat returns the first result");
        assert!(!first.replayed);
        let reused = store.create_order(&order_of("999.00"), &reseller_admin(), "same-order", t0()).await;
        assert_eq!(reused.map(|_| ()).map_err(|e| e.code().as_str()), Err("idempotency-key-reused"));

        let payer = Payer::Partner(demo::RESELLER);
        let actor = on_behalf_of(demo::STANDARD_CUSTOMER);
        let paid = store.pay_order(first.id, payer, &actor, "same-payment", t0()).await.expect("paid");
        let repeat = store.pay_order(first.id, payer, &actor, "same-payment", t0() + Duration::minutes(1)).await.expect("repeat");
        assert_eq!(repeat, paid, "a repeat returns the first payment");
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("750.00"), "and debits nothing more");
        assert_eq!(store.ledger(cash).await.expect("ledger").len(), 2, "top-up and one payment");
        let bad_key = store.pay_order(first.id, payer, &actor, "", t0()).await;
        assert_eq!(bad_key.map(|_| ()).map_err(|e| e.code().as_str()), Err("invalid-field"));
    }

    async fn rule_8_only_an_unpaid_order_can_be_cancelled(store: Store) {
        seeded(&store).await;
        let order = store.create_order(&order_of("10.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        store.cancel_order(order.id).await.expect("a pending-payment order cancels");
        let again = store.cancel_order(order.id).await;
        assert!(
            matches!(again, Err(StoreError::Refused(DomainError::OrderState { status: OrderStatus::Cancelled, operation: "cancelled", .. }))),
            "got {again:?}"
        );
        let completed = store.cancel_order(9001).await;
        assert_eq!(completed.map_err(|e| e.code().as_str()), Err("order-state"));
        let missing = store.cancel_order(424242).await;
        assert_eq!(missing.map_err(|e| e.code().as_str()), Err("order-not-found"));
        let pay_cancelled = store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &reseller_admin(), "p-1", t0())
            .await;
        assert_eq!(pay_cancelled.map(|_| ()).map_err(|e| e.code().as_str()), Err("order-state"));
    }

    async fn rule_8_a_pending_payment_order_expires_after_7_days(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "100.00", "0.00").await;
        let order = store.create_order(&order_of("10.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        assert_eq!(order.payment_deadline, t0() + Duration::days(7));
        let late = store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &reseller_admin(), "p-late", t0() + Duration::days(7) + Duration::seconds(1))
            .await;
        assert_eq!(late.map(|_| ()).map_err(|e| e.code().as_str()), Err("order-expired"));
        store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &reseller_admin(), "p-in-time", t0() + Duration::days(6))
            .await
            .expect("within 7 days it pays");
    }

    async fn many_six_decimal_lines_settle_to_the_cent_half_up(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "10000.00", "0.00").await;
        // Each line: unit × quantity × periods, rounded half-up to the cent, written out:
        let lines = vec![
            line("0.000139", 720, 1),    //    0.100080    ->    0.10
            line("88.123456", 3, 12),    // 3172.444416    -> 3172.44
            line("12.345675", 1, 1),     //   12.345675    ->   12.35
            line("0.125000", 1, 1),      //    0.125 (tie) ->    0.13 (half-even would give 0.12)
            line("1.005000", 1, 1),      //    1.005 (tie) ->    1.01 (half-even would give 1.00)
            line("199.999999", 7, 3),    // 4199.999979    -> 4200.00
        ];
        let order = NewOrder { customer: demo::STANDARD_CUSTOMER, currency: cny(), lines, quote: None };
        let created = store.create_order(&order, &reseller_admin(), "exact", t0()).await.expect("order");
        // 0.10 + 3172.44 + 12.35 + 0.13 + 1.01 + 4200.00
        assert_eq!(created.amount.to_string(), "7386.03");
        let stored = store.order(created.id).await.expect("read").expect("order");
        assert_eq!(stored.amount.to_string(), "7386.03");
        let payment = store
            .pay_order(created.id, Payer::Partner(demo::RESELLER), &reseller_admin(), "pay-exact", t0())
            .await
            .expect("paid");
        assert_eq!(payment.debits[0].amount.to_string(), "7386.03");
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("2613.97"));
    }

    async fn rule_21_a_payment_on_behalf_records_both_principals(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "100.00", "0.00").await;
        let order = store.create_order(&order_of("40.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        let entries = store.ledger(cash).await.expect("ledger");
        let payment = entries.iter().find(|e| e.reason == "payment").expect("payment entry");
        assert_eq!(payment.actor, "partner-admin:2/500");
        assert_eq!(payment.on_behalf_of.as_deref(), Some("customer:102"));
        assert_eq!(payment.order, Some(order.id));
        assert_eq!(payment.created_at, t0());
        let stored = store.order(order.id).await.expect("read").expect("order");
        assert!(stored.paid_by_partner, "rule 22: the partner paid for its customer");
    }

    async fn rule_14_allocation_keeps_the_ring_fenced_amount_and_reclaim_the_resellers_balance(store: Store) {
        seeded(&store).await;
        let distributor = AccountOwner::Partner(demo::DISTRIBUTOR);
        let admin = Actor { role: Role::PartnerAdmin, partner: Some(demo::DISTRIBUTOR), id: Some(1), on_behalf_of: None };
        let cash = store.open_account(distributor, AccountKind::Cash, cny(), Decimal::ZERO).await.expect("account");
        store.top_up(cash.id, dec("1000.00"), &admin, "distributor-funds", t0()).await.expect("top up");
        store.designate(cash.id, dec("300.00")).await.expect("ring-fence");

        let to_reseller = AllocationTarget::Reseller(demo::RESELLER);
        let too_much = store.allocate(demo::DISTRIBUTOR, to_reseller, cny(), dec("700.01"), &admin, "beyond-ring-fence", t0()).await;
        assert!(
            matches!(&too_much, Err(StoreError::Refused(DomainError::InsufficientBalance { available, .. })) if *available == dec("700.00")),
            "got {too_much:?}"
        );
        store.allocate(demo::DISTRIBUTOR, to_reseller, cny(), dec("700.00"), &admin, "up-to-ring-fence", t0()).await.expect("up to balance minus ring-fenced");
        let reseller_cash = store.account(AccountOwner::Partner(demo::RESELLER), AccountKind::Cash, cny()).await.expect("read").expect("opened");
        assert_eq!(reseller_cash.balance, dec("700.00"));

        let over = store.reclaim(demo::DISTRIBUTOR, to_reseller, cny(), dec("700.01"), &admin, "beyond-balance", t0()).await;
        assert_eq!(over.map_err(|e| e.code().as_str()), Err("insufficient-balance"));
        store.reclaim(demo::DISTRIBUTOR, to_reseller, cny(), dec("200.00"), &admin, "within-balance", t0()).await.expect("within the reseller's balance");
        let distributor_cash = store.account(distributor, AccountKind::Cash, cny()).await.expect("read").expect("account");
        assert_eq!(distributor_cash.balance, dec("500.00"));
        assert_eq!(ledger_sum(&store, distributor_cash.id).await, dec("500.00"));
        assert_eq!(ledger_sum(&store, reseller_cash.id).await, dec("500.00"));

        // Another distributor's reseller is not ours to fund.
        let other = store.allocate(demo::SOLUTION_PROVIDER, to_reseller, cny(), dec("1.00"), &admin, "not-ours", t0()).await;
        assert_eq!(other.map_err(|e| e.code().as_str()), Err("not-of-partner"));
    }

    async fn rule_14_an_allocation_reclaim_or_top_up_retried_with_its_key_moves_money_once(store: Store) {
        // Issue #14's crash test: an allocation whose answer was lost (the server killed after
        // its commit) was retried and allocated twice. Now the key is claimed in the
        // transfer's own transaction.
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        let customer = AllocationTarget::Customer(demo::STANDARD_CUSTOMER);
        let on_behalf = on_behalf_of(demo::STANDARD_CUSTOMER);
        let allocate = |amount: &'static str| store.allocate(demo::RESELLER, customer, cny(), dec(amount), &on_behalf, "alloc-1", t0());
        let first = allocate("100.00").await.expect("allocated");
        assert_eq!(allocate("100.00").await.expect("the retry"), first, "a retry answers the first allocation");
        // A retry answers what was done even once the customer is frozen (rule 18 refuses new
        // allocations, not the answer to one made).
        store.freeze_customer(demo::STANDARD_CUSTOMER, FreezeState::AccountFrozen, t0()).await.expect("frozen");
        assert_eq!(allocate("100.00").await.expect("the retry"), first);
        store.unfreeze_customer(demo::STANDARD_CUSTOMER, FreezeState::AccountFrozen, t0()).await.expect("unfrozen");
        // The same key for another amount is another request: refused, nothing moved.
        assert_eq!(allocate("50.00").await.map_err(|e| e.code().as_str()), Err("idempotency-key-reused"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("900.00"), "allocated once");
        assert_eq!(store.customer_balance(demo::STANDARD_CUSTOMER, cny()).await.expect("balance"), dec("100.00"));

        let reclaim = || store.reclaim(demo::RESELLER, customer, cny(), dec("30.00"), &on_behalf, "reclaim-1", t0());
        let first = reclaim().await.expect("reclaimed");
        assert_eq!(reclaim().await.expect("the retry"), first);
        assert_eq!(store.customer_balance(demo::STANDARD_CUSTOMER, cny()).await.expect("balance"), dec("70.00"), "reclaimed once");

        // A top-up retried answers the account as the first one left it.
        let operator = Actor { role: Role::PlatformOperator, partner: None, id: None, on_behalf_of: None };
        let top_up = || store.top_up(cash, dec("10.00"), &operator, "wire-1", t0());
        let first = top_up().await.expect("topped up");
        assert_eq!(first.balance, dec("940.00"));
        assert_eq!(top_up().await.expect("the retry"), first);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("940.00"), "topped up once");
        assert_eq!(ledger_sum(&store, cash).await, dec("940.00"));
    }

    async fn rule_12_allocation_and_balance_queries_apply_to_resale_customers_only(store: Store) {
        seeded(&store).await;
        let provider = AccountOwner::Partner(demo::SOLUTION_PROVIDER);
        let admin = Actor { role: Role::PartnerAdmin, partner: Some(demo::SOLUTION_PROVIDER), id: Some(4), on_behalf_of: None };
        let cash = store.open_account(provider, AccountKind::Cash, cny(), Decimal::ZERO).await.expect("account");
        store.top_up(cash.id, dec("100.00"), &admin, "provider-funds", t0()).await.expect("top up");
        let referral = AllocationTarget::Customer(demo::REFERRAL_CUSTOMER);
        let refused = store.allocate(demo::SOLUTION_PROVIDER, referral, cny(), dec("10.00"), &admin, "to-referral", t0()).await;
        assert_eq!(refused.map_err(|e| e.code().as_str()), Err("referral-customer"));
        let query = store.customer_balance(demo::REFERRAL_CUSTOMER, cny()).await;
        assert_eq!(query.map_err(|e| e.code().as_str()), Err("referral-customer"));
        assert_eq!(store.ledger(cash.id).await.expect("ledger").len(), 1, "nothing moved");

        // A resale customer of reseller 2 can be funded and queried.
        let reseller_admin = reseller_admin();
        let reseller_cash = store.open_account(AccountOwner::Partner(demo::RESELLER), AccountKind::Cash, cny(), Decimal::ZERO).await.expect("account");
        store.top_up(reseller_cash.id, dec("50.00"), &reseller_admin, "reseller-funds", t0()).await.expect("top up");
        let resale = AllocationTarget::Customer(demo::STANDARD_CUSTOMER);
        store.allocate(demo::RESELLER, resale, cny(), dec("20.00"), &reseller_admin, "to-resale", t0()).await.expect("allocated");
        assert_eq!(store.customer_balance(demo::STANDARD_CUSTOMER, cny()).await.expect("balance"), dec("20.00"));
    }

    async fn rule_2_a_billing_cycle_is_invoiced_only_when_closed_settled_and_after_the_3rd(store: Store) {
        seeded(&store).await;
        let at = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).single().expect("date");
        let october = |customer| invoice(customer, Issuer::Partner(demo::RESELLER), InvoiceScope::BillingCycle { year: 2026, month: 10 });
        let early = store.request_invoice(&october(demo::KEY_ACCOUNT_CUSTOMER), at(3, 23, 59)).await;
        assert_eq!(early.map_err(|e| e.code().as_str()), Err("billing-cycle-not-invoiceable"));
        // Order 9002 (8000.00) was paid on 2026-10-03.
        let (_, amount) = store.request_invoice(&october(demo::KEY_ACCOUNT_CUSTOMER), at(4, 0, 0)).await.expect("from the 4th");
        assert_eq!(amount, dec("8000.00"));
        let open = invoice(demo::KEY_ACCOUNT_CUSTOMER, Issuer::Partner(demo::RESELLER), InvoiceScope::BillingCycle { year: 2026, month: 11 });
        assert_eq!(store.request_invoice(&open, at(20, 0, 0)).await.map_err(|e| e.code().as_str()), Err("billing-cycle-not-invoiceable"));
        // Customer 102 still owes order 9004 of 2026-10-31.
        store.set_invoice_info(&title(demo::STANDARD_CUSTOMER, TitleType::Enterprise)).await.expect("title");
        let arrears = store.request_invoice(&october(demo::STANDARD_CUSTOMER), at(5, 0, 0)).await;
        assert_eq!(arrears.map_err(|e| e.code().as_str()), Err("billing-cycle-in-arrears"));
    }

    async fn rule_3_vat_special_needs_an_enterprise_title_and_paper_or_digital(store: Store) {
        seeded(&store).await;
        let now = t0();
        let by_order = |customer, order, kind, medium| NewInvoiceRequest {
            kind,
            medium,
            ..invoice(customer, Issuer::Partner(demo::RESELLER), InvoiceScope::Order { order })
        };
        let electronic = by_order(demo::KEY_ACCOUNT_CUSTOMER, 9001, InvoiceKind::VatSpecial, InvoiceMedium::Electronic);
        assert_eq!(store.request_invoice(&electronic, now).await.map_err(|e| e.code().as_str()), Err("invoice-medium-not-allowed"));
        let digital = by_order(demo::KEY_ACCOUNT_CUSTOMER, 9001, InvoiceKind::VatSpecial, InvoiceMedium::Digital);
        assert_eq!(store.request_invoice(&digital, now).await.expect("special, digital").1, dec("12000.00"));
        let general_digital = by_order(demo::KEY_ACCOUNT_CUSTOMER, 9001, InvoiceKind::VatGeneral, InvoiceMedium::Digital);
        assert_eq!(store.request_invoice(&general_digital, now).await.map_err(|e| e.code().as_str()), Err("invoice-medium-not-allowed"));

        store.set_invoice_info(&title(demo::STANDARD_CUSTOMER, TitleType::Individual)).await.expect("title");
        let special = by_order(demo::STANDARD_CUSTOMER, 9003, InvoiceKind::VatSpecial, InvoiceMedium::Paper);
        assert_eq!(store.request_invoice(&special, now).await.map_err(|e| e.code().as_str()), Err("vat-special-needs-enterprise-title"));
        let general = by_order(demo::STANDARD_CUSTOMER, 9003, InvoiceKind::VatGeneral, InvoiceMedium::Electronic);
        assert_eq!(store.request_invoice(&general, now).await.expect("general, electronic").1, dec("1500.00"));
    }

    async fn an_order_is_invoiced_at_most_once_alone_or_in_its_cycle_net_of_refunds(store: Store) {
        seeded(&store).await;
        let by_reseller = |customer, scope| invoice(customer, Issuer::Partner(demo::RESELLER), scope);
        // Order 9001 (12,000.00) alone, once.
        let alone = by_reseller(demo::KEY_ACCOUNT_CUSTOMER, InvoiceScope::Order { order: 9001 });
        assert_eq!(store.request_invoice(&alone, t0()).await.expect("invoiced").1, dec("12000.00"));
        let again = store.request_invoice(&alone, t0()).await;
        assert_eq!(again.map_err(|e| e.code().as_str()), Err("already-invoiced"));
        // October's cycle (order 9002, 8,000.00), once; then 9002 alone is refused.
        let october = by_reseller(demo::KEY_ACCOUNT_CUSTOMER, InvoiceScope::BillingCycle { year: 2026, month: 10 });
        let at = Utc.with_ymd_and_hms(2026, 11, 4, 0, 0, 0).single().expect("date");
        assert_eq!(store.request_invoice(&october, at).await.expect("cycle").1, dec("8000.00"));
        let twice = store.request_invoice(&october, at).await;
        assert_eq!(twice.map_err(|e| e.code().as_str()), Err("nothing-to-invoice"));
        let in_cycle = by_reseller(demo::KEY_ACCOUNT_CUSTOMER, InvoiceScope::Order { order: 9002 });
        assert_eq!(store.request_invoice(&in_cycle, at).await.map_err(|e| e.code().as_str()), Err("already-invoiced"));

        // Net of refunds: 300.00 paid, 100.00 refunded, 200.00 invoiced.
        reseller_accounts(&store, "1000.00", "0.00").await;
        let order = store.create_order(&order_of("300.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        store.refund_order(order.id, dec("100.00"), &reseller_admin(), "r-1", t0()).await.expect("refunded");
        store.set_invoice_info(&title(demo::STANDARD_CUSTOMER, TitleType::Enterprise)).await.expect("title");
        let net = by_reseller(demo::STANDARD_CUSTOMER, InvoiceScope::Order { order: order.id });
        let (invoiced, amount) = store.request_invoice(&net, t0()).await.expect("invoiced");
        assert_eq!(amount, dec("200.00"));

        // Refunded after it was invoiced: each refund issues a credit note against the invoice,
        // in its own transaction, so that the invoice and its notes state the net paid.
        let refund = store.refund_order(order.id, dec("50.00"), &reseller_admin(), "r-2", t0()).await.expect("refunded");
        let note = refund.credit_note.expect("a credit note");
        let listed = store.invoice_requests(demo::STANDARD_CUSTOMER, 10).await.expect("list");
        let notes: Vec<_> = listed.iter().find(|r| r.id == invoiced).expect("the invoice").credit_notes.iter().map(|n| (n.id, n.order, n.refund, n.amount)).collect();
        assert_eq!(notes, [(note, order.id, refund.refund, dec("50.00"))]);
        // A retry of the refund answers the same note and issues none more.
        let retry = store.refund_order(order.id, dec("50.00"), &reseller_admin(), "r-2", t0()).await.expect("retry");
        assert_eq!(retry.credit_note, Some(note));
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credit_notes").fetch_one(store.pool()).await.expect("count");
        assert_eq!(count, 1);
        // A refund before any invoice issues none.
        let other = store.create_order(&order_of("80.00"), &reseller_admin(), "o-2", t0()).await.expect("order");
        store
            .pay_order(other.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-2", t0())
            .await
            .expect("paid");
        let before = store.refund_order(other.id, dec("10.00"), &reseller_admin(), "r-3", t0()).await.expect("refunded");
        assert_eq!(before.credit_note, None);
    }

    async fn rule_2_a_refund_racing_an_invoice_is_credited_against_it_or_refuses_it(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "100000.00", "0.00").await;
        store.set_invoice_info(&title(demo::STANDARD_CUSTOMER, TitleType::Enterprise)).await.expect("title");
        for round in 0..8 {
            let order = store.create_order(&order_of("100.00"), &reseller_admin(), &format!("o-{round}"), t0()).await.expect("order");
            store
                .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), &format!("p-{round}"), t0())
                .await
                .expect("paid");
            let invoicing = {
                let store = store.clone();
                let request = invoice(demo::STANDARD_CUSTOMER, Issuer::Partner(demo::RESELLER), InvoiceScope::Order { order: order.id });
                tokio::spawn(async move { store.request_invoice(&request, t0()).await })
            };
            let refunding = {
                let store = store.clone();
                tokio::spawn(async move { store.refund_order(order.id, dec("30.00"), &reseller_admin(), &format!("r-{round}"), t0()).await })
            };
            let invoiced = invoicing.await.expect("joined");
            let refund = refunding.await.expect("joined").expect("refunded");
            match invoiced {
                // Invoiced first, at 100.00: the refund credits 30.00 against it.
                Ok((invoice, amount)) if amount == dec("100.00") => {
                    assert!(refund.credit_note.is_some(), "round {round}: invoice {invoice} at 100.00, refund uncredited");
                }
                // Refunded first: invoiced net, 70.00, with no note.
                Ok((_, amount)) => {
                    assert_eq!((amount, refund.credit_note), (dec("70.00"), None), "round {round}");
                }
                // Refunded while the invoice was computed: refused, nothing invoiced; asked
                // again, it invoices the net.
                Err(e) => {
                    assert_eq!(e.code().as_str(), "invoice-conflict", "round {round}");
                    let request = invoice(demo::STANDARD_CUSTOMER, Issuer::Partner(demo::RESELLER), InvoiceScope::Order { order: order.id });
                    assert_eq!(store.request_invoice(&request, t0()).await.expect("again").1, dec("70.00"));
                }
            }
        }
    }

    async fn rule_4_one_valid_invoice_title_per_account(store: Store) {
        seeded(&store).await;
        let request = invoice(demo::STANDARD_CUSTOMER, Issuer::Partner(demo::RESELLER), InvoiceScope::Order { order: 9003 });
        assert_eq!(store.request_invoice(&request, t0()).await.map_err(|e| e.code().as_str()), Err("invoice-info-missing"));
        store.set_invoice_info(&title(demo::STANDARD_CUSTOMER, TitleType::Individual)).await.expect("first title");
        store.set_invoice_info(&title(demo::STANDARD_CUSTOMER, TitleType::Enterprise)).await.expect("replaces it");
        let info = store.invoice_info(demo::STANDARD_CUSTOMER).await.expect("read").expect("one record");
        assert_eq!(info.title_type, TitleType::Enterprise);
        let no_tax_id = InvoiceInfo { tax_id: None, ..title(demo::STANDARD_CUSTOMER, TitleType::Enterprise) };
        assert_eq!(store.set_invoice_info(&no_tax_id).await.map_err(|e| e.code().as_str()), Err("invalid-field"));
    }

    async fn rule_5_resale_customers_are_invoiced_by_their_partner_referral_ones_by_the_platform(store: Store) {
        seeded(&store).await;
        let order = InvoiceScope::Order { order: 9001 };
        let by_platform = invoice(demo::KEY_ACCOUNT_CUSTOMER, Issuer::Platform, order);
        assert_eq!(store.request_invoice(&by_platform, t0()).await.map_err(|e| e.code().as_str()), Err("invoice-issuer-mismatch"));
        let by_other_partner = invoice(demo::KEY_ACCOUNT_CUSTOMER, Issuer::Partner(demo::OTHER_RESELLER), order);
        assert_eq!(store.request_invoice(&by_other_partner, t0()).await.map_err(|e| e.code().as_str()), Err("invoice-issuer-mismatch"));

        // Referral customer 105 pays an order itself; only the platform invoices it.
        let customer = AccountOwner::Customer(demo::REFERRAL_CUSTOMER);
        let cash = store.open_account(customer, AccountKind::Cash, cny(), Decimal::ZERO).await.expect("account");
        let itself = Actor { role: Role::Customer, partner: None, id: Some(demo::REFERRAL_CUSTOMER), on_behalf_of: None };
        store.top_up(cash.id, dec("500.00"), &itself, "own-funds", t0()).await.expect("top up");
        let new = NewOrder { customer: demo::REFERRAL_CUSTOMER, currency: cny(), lines: vec![line("120.50", 2, 1)], quote: None };
        let created = store.create_order(&new, &itself, "o-105", t0()).await.expect("order");
        store.pay_order(created.id, Payer::Customer, &itself, "p-105", t0()).await.expect("paid by the customer");
        store.set_invoice_info(&title(demo::REFERRAL_CUSTOMER, TitleType::Enterprise)).await.expect("title");
        let scope = InvoiceScope::Order { order: created.id };
        let by_partner = invoice(demo::REFERRAL_CUSTOMER, Issuer::Partner(demo::SOLUTION_PROVIDER), scope);
        assert_eq!(store.request_invoice(&by_partner, t0()).await.map_err(|e| e.code().as_str()), Err("invoice-issuer-mismatch"));
        let (_, amount) = store.request_invoice(&invoice(demo::REFERRAL_CUSTOMER, Issuer::Platform, scope), t0()).await.expect("platform");
        assert_eq!(amount, dec("241.00"));
    }

    async fn rule_15_a_distributor_invites_only_unbound_resellers_of_its_country(store: Store) {
        seeded(&store).await;
        let fresh = store.create_partner(PartnerKind::Reseller, "Hangzhou Reseller", "CN").await.expect("partner");
        let abroad = store.create_partner(PartnerKind::Reseller, "Singapore Reseller", "SG").await.expect("partner");
        let rival = store.create_partner(PartnerKind::Distributor, "Rival Distribution", "CN").await.expect("partner");
        assert_eq!(store.invite_reseller(demo::DISTRIBUTOR, abroad.id).await.map_err(|e| e.code().as_str()), Err("reseller-country-mismatch"));
        store.invite_reseller(demo::DISTRIBUTOR, fresh.id).await.expect("same country, unbound");
        store.invite_reseller(demo::DISTRIBUTOR, fresh.id).await.expect("inviting it again is a no-op");
        assert_eq!(store.partner(fresh.id).await.expect("read").expect("partner").distributor, Some(demo::DISTRIBUTOR));
        assert_eq!(store.invite_reseller(rival.id, fresh.id).await.map_err(|e| e.code().as_str()), Err("reseller-already-bound"));
        assert_eq!(store.invite_reseller(rival.id, demo::RESELLER).await.map_err(|e| e.code().as_str()), Err("reseller-already-bound"));
    }

    async fn rule_16_a_customer_registered_by_its_salesperson_is_managed_by_it(store: Store) {
        seeded(&store).await;
        let new = |manager| NewCustomer {
            partner: demo::RESELLER,
            account_name: "aspen-tea".into(),
            association: Association::Referral,
            customer_type: CustomerType::Individual,
            country: "CN".into(),
            manager: Some(manager),
        };
        let registered = store.create_customer(&new(demo::STAFF_SALESPERSON), t0()).await.expect("registered");
        assert_eq!(registered.manager, Some(demo::STAFF_SALESPERSON));
        let salesperson = store.staff(demo::STAFF_SALESPERSON).await.expect("read").expect("staff");
        let visible = store.customers_visible_to(&salesperson).await.expect("visible");
        assert!(visible.iter().any(|c| c.id == registered.id), "its registrant sees it (rule 16)");
        for not_a_manager in [demo::STAFF_SUPERVISOR, demo::OTHER_RESELLER_ADMIN] {
            let refused = store.create_customer(&new(not_a_manager), t0()).await;
            assert_eq!(refused.map(|_| ()).map_err(|e| e.code().as_str()), Err("invalid-manager"));
        }
    }

    async fn rule_18_resale_customers_wait_for_a_budget_unfreeze_matches_and_partner_freezes_cascade(store: Store) {
        seeded(&store).await;
        let new = |name: &str, association| NewCustomer {
            partner: demo::RESELLER,
            account_name: name.into(),
            association,
            customer_type: CustomerType::Enterprise,
            country: "CN".into(),
            manager: None,
        };
        let resale = store.create_customer(&new("orchid-media", Association::Resale), t0()).await.expect("customer");
        assert_eq!(resale.freeze, FreezeState::AccountFrozen, "frozen until the partner sets its budget");
        let referral = store.create_customer(&new("cedar-labs", Association::Referral), t0()).await.expect("customer");
        assert_eq!(referral.freeze, FreezeState::NotFrozen);
        store.set_budget(resale.id, dec("5000.00")).await.expect("budget");
        assert_eq!(store.customer(resale.id).await.expect("read").expect("customer").freeze, FreezeState::NotFrozen);

        store.freeze_customer(resale.id, FreezeState::AccountAndResourcesFrozen, t0()).await.expect("freeze");
        let wrong = store.unfreeze_customer(resale.id, FreezeState::AccountFrozen, t0()).await;
        assert_eq!(wrong.map_err(|e| e.code().as_str()), Err("freeze-type-mismatch"));
        store.unfreeze_customer(resale.id, FreezeState::AccountAndResourcesFrozen, t0()).await.expect("matching unfreeze");

        // Freezing the distributor freezes its resellers and their resale customers.
        store.freeze_partner(demo::DISTRIBUTOR).await.expect("freeze partner");
        for reseller in [demo::RESELLER, demo::OTHER_RESELLER] {
            assert!(store.partner(reseller).await.expect("read").expect("partner").frozen);
        }
        for customer in [resale.id, demo::STANDARD_CUSTOMER, demo::OTHER_RESELLERS_CUSTOMER] {
            assert_eq!(store.customer(customer).await.expect("read").expect("customer").freeze, FreezeState::AccountFrozen);
        }
        assert_eq!(store.customer(referral.id).await.expect("read").expect("customer").freeze, FreezeState::NotFrozen, "referral customers are the platform's");
        assert!(!store.partner(demo::SOLUTION_PROVIDER).await.expect("read").expect("partner").frozen);
    }

    async fn rule_16_staff_see_only_the_customers_assigned_to_them_or_their_team(store: Store) {
        seeded(&store).await;
        let sees = |id| {
            let store = store.clone();
            async move {
                let staff = store.staff(id).await.expect("read").expect("staff");
                let mut ids: Vec<i64> = store.customers_visible_to(&staff).await.expect("visible").iter().map(|c| c.id).collect();
                ids.sort_unstable();
                ids
            }
        };
        assert_eq!(sees(demo::STAFF_ADMIN).await, vec![101, 102, 103, 106], "the admin sees all of the partner's");
        assert_eq!(sees(demo::STAFF_MANAGER).await, vec![101, 103, 106], "a manager sees those assigned to them");
        assert_eq!(sees(demo::STAFF_SALESPERSON).await, vec![102], "a salesperson sees those assigned to them");
        assert_eq!(sees(demo::STAFF_SUPERVISOR).await, vec![101, 103, 106], "a supervisor sees its managers' customers");
    }

    async fn rule_17_only_the_admin_unbinds_once_per_3_months_with_nothing_awaiting_payment(store: Store) {
        seeded(&store).await;
        let admin = store.staff(demo::STAFF_ADMIN).await.expect("read").expect("admin");
        let manager = store.staff(demo::STAFF_MANAGER).await.expect("read").expect("manager");
        let by_manager = store.unbind_customer(demo::KEY_ACCOUNT_CUSTOMER, &manager, t0()).await;
        assert_eq!(by_manager.map_err(|e| e.code().as_str()), Err("partner-admin-only"));
        let change = store.change_association(demo::KEY_ACCOUNT_CUSTOMER, Association::Referral, &manager).await;
        assert_eq!(change.map_err(|e| e.code().as_str()), Err("partner-admin-only"));
        // Customer 102 owes order 9004.
        let awaiting = store.unbind_customer(demo::STANDARD_CUSTOMER, &admin, t0()).await;
        assert_eq!(awaiting.map_err(|e| e.code().as_str()), Err("orders-awaiting-payment"));

        store.unbind_customer(demo::KEY_ACCOUNT_CUSTOMER, &admin, t0()).await.expect("the admin unbinds");
        let visible = store.customers_visible_to(&admin).await.expect("visible");
        assert!(visible.iter().all(|c| c.id != demo::KEY_ACCOUNT_CUSTOMER), "an unbound customer is no longer the partner's");
        store.rebind_customer(demo::KEY_ACCOUNT_CUSTOMER, demo::RESELLER, t0() + Duration::days(1)).await.expect("rebound");
        let too_soon = store.unbind_customer(demo::KEY_ACCOUNT_CUSTOMER, &admin, t0() + Duration::days(80)).await;
        assert_eq!(too_soon.map_err(|e| e.code().as_str()), Err("unbind-too-soon"));
        store.unbind_customer(demo::KEY_ACCOUNT_CUSTOMER, &admin, t0() + Duration::days(93)).await.expect("after 3 months");
        store.change_association(demo::NEW_CUSTOMER, Association::Referral, &admin).await.expect("the admin changes it");
        assert_eq!(store.customer(demo::NEW_CUSTOMER).await.expect("read").expect("customer").association, Association::Referral);
    }
    async fn rule_22_the_customer_pays_itself_only_after_its_partner_rejects_the_request(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "500.00", "0.00").await;
        let customer = AccountOwner::Customer(demo::STANDARD_CUSTOMER);
        let itself = Actor { role: Role::Customer, partner: None, id: Some(demo::STANDARD_CUSTOMER), on_behalf_of: None };
        let own = store.open_account(customer, AccountKind::Cash, cny(), Decimal::ZERO).await.expect("account");
        store.top_up(own.id, dec("500.00"), &itself, "own-funds", t0()).await.expect("top up");

        let order = store.create_order(&order_of("80.00"), &itself, "o-1", t0()).await.expect("order");
        store.request_partner_payment(order.id, t0()).await.expect("asks the partner");
        let again = store.request_partner_payment(order.id, t0()).await;
        assert_eq!(again.map_err(|e| e.code().as_str()), Err("payment-already-requested"));
        let meanwhile = store.pay_order(order.id, Payer::Customer, &itself, "p-self", t0()).await;
        assert_eq!(meanwhile.map(|_| ()).map_err(|e| e.code().as_str()), Err("payment-requested-from-partner"));
        let stranger = store.reject_partner_payment(order.id, demo::OTHER_RESELLER, t0()).await;
        assert_eq!(stranger.map_err(|e| e.code().as_str()), Err("no-pending-payment-request"));
        store.reject_partner_payment(order.id, demo::RESELLER, t0()).await.expect("the partner rejects");
        let paid = store.pay_order(order.id, Payer::Customer, &itself, "p-self-2", t0()).await.expect("then the customer pays");
        assert_eq!(paid.debits[0].account, own.id);

        // Another order: the partner pays it; another partner may not.
        let second = store.create_order(&order_of("30.00"), &itself, "o-2", t0()).await.expect("order");
        store.request_partner_payment(second.id, t0()).await.expect("asks the partner");
        let other = store.pay_order(second.id, Payer::Partner(demo::OTHER_RESELLER), &reseller_admin(), "p-other", t0()).await;
        assert_eq!(other.map(|_| ()).map_err(|e| e.code().as_str()), Err("not-of-partner"));
        store
            .pay_order(second.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-partner", t0())
            .await
            .expect("the partner pays");
    }

    async fn rules_9_and_10_a_refund_is_paid_back_to_whoever_paid_in_one_transaction(store: Store) {
        seeded(&store).await;
        let (reseller_cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        let by_partner = store.create_order(&order_of("600.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        store
            .pay_order(by_partner.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid by the partner");
        let refunds = |store: Store| async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM refunds").fetch_one(store.pool()).await.expect("count")
        };
        let refunds_before = refunds(store.clone()).await;
        // More than was paid: refused, nothing written.
        let too_much = store.refund_order(by_partner.id, dec("600.01"), &reseller_admin(), "r-0", t0()).await;
        assert_eq!(too_much.map_err(|e| e.code().as_str()), Err("invalid-field"));
        assert_eq!(refunds(store.clone()).await, refunds_before);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("400.00"));
        // Rule 9: the partner paid, so the partner gets it back, at once.
        let done = store.refund_order(by_partner.id, dec("600.00"), &reseller_admin(), "r-1", t0()).await.expect("refunded");
        assert_eq!((done.account, done.amount), (reseller_cash, dec("600.00")));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("1000.00"));
        assert_eq!(ledger_sum(&store, reseller_cash).await, dec("1000.00"));
        // A retry returns the first refund and pays nothing more; the key is for that request only.
        let again = store.refund_order(by_partner.id, dec("600.00"), &reseller_admin(), "r-1", t0()).await.expect("retry");
        assert_eq!(again, done);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("1000.00"));
        let reused = store.refund_order(by_partner.id, dec("1.00"), &reseller_admin(), "r-1", t0()).await;
        assert_eq!(reused.map_err(|e| e.code().as_str()), Err("idempotency-key-reused"));
        // Nothing is left to refund.
        let more = store.refund_order(by_partner.id, dec("0.01"), &reseller_admin(), "r-2", t0()).await;
        assert_eq!(more.map_err(|e| e.code().as_str()), Err("invalid-field"));
        assert_eq!(store.order(by_partner.id).await.expect("read").expect("order").status, OrderStatus::Completed, "paid, provisioned, refunded: still complete");

        // The customer's own payment goes back to the customer.
        let itself = Actor { role: Role::Customer, partner: None, id: Some(demo::STANDARD_CUSTOMER), on_behalf_of: None };
        let own = store.open_account(AccountOwner::Customer(demo::STANDARD_CUSTOMER), AccountKind::Cash, cny(), Decimal::ZERO).await.expect("account");
        store.top_up(own.id, dec("100.00"), &itself, "own-funds", t0()).await.expect("top up");
        let by_customer = store.create_order(&order_of("70.00"), &itself, "o-2", t0()).await.expect("order");
        store.pay_order(by_customer.id, Payer::Customer, &itself, "p-2", t0()).await.expect("paid by the customer");
        let done = store.refund_order(by_customer.id, dec("25.50"), &reseller_admin(), "r-3", t0()).await.expect("partial refund");
        assert_eq!(done.account, own.id);
        assert_eq!(store.customer_balance(demo::STANDARD_CUSTOMER, cny()).await.expect("balance"), dec("55.50"));
        let unpaid = store.create_order(&order_of("5.00"), &itself, "o-3", t0()).await.expect("order");
        let refused = store.refund_order(unpaid.id, dec("5.00"), &reseller_admin(), "r-4", t0()).await;
        assert_eq!(refused.map_err(|e| e.code().as_str()), Err("order-state"));

        // An order that records no payer (as orders paid before payers were recorded): refused,
        // and the order is left as it was.
        sqlx::query("UPDATE orders SET paid_by = NULL WHERE id = 9001").execute(store.pool()).await.expect("no payer");
        let before = store.order(9001).await.expect("read").expect("order").status;
        let unknown = store.refund_order(9001, dec("10.00"), &reseller_admin(), "r-5", t0()).await;
        assert_eq!(unknown.map_err(|e| e.code().as_str()), Err("refund-payer-unknown"));
        assert_eq!(store.order(9001).await.expect("read").expect("order").status, before);
    }
    async fn rule_10_a_full_refund_closes_what_the_order_bought_and_a_partial_one_does_not(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "1000.00", "0.00").await;
        let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
        let order = store.create_order(&order, &reseller_admin(), "o-1", t0()).await.expect("order");
        store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid 300.00");
        let resource = provisioned(&store, order.id).await;
        let status = || {
            let store = store.clone();
            async move { store.resource(resource).await.expect("read").expect("resource").status }
        };
        store.refund_order(order.id, dec("100.00"), &reseller_admin(), "r-1", t0()).await.expect("partial refund");
        assert_eq!(status().await, ResourceStatus::InUse, "a partial refund adjusts the price");
        store.refund_order(order.id, dec("200.00"), &reseller_admin(), "r-2", t0()).await.expect("the rest");
        assert_eq!(status().await, ResourceStatus::Closed, "paid back in full: the service ends");
        let unsubscribe = store.unsubscribe_resource(resource, &reseller_admin(), "u-1", t0()).await;
        assert_eq!(unsubscribe.map(|_| ()).map_err(|e| e.code().as_str()), Err("resource-not-in-use"));
    }

    async fn rule_10_twenty_concurrent_refunds_never_exceed_what_was_paid(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        let order = store.create_order(&order_of("1000.00"), &reseller_admin(), "o-1", t0()).await.expect("order");
        store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        let attempts = (0..20).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.refund_order(order.id, dec("100.00"), &reseller_admin(), &format!("r-{i}"), t0()).await
            })
        });
        let (mut refunded, mut refused) = (0, 0);
        for attempt in attempts.collect::<Vec<_>>() {
            match attempt.await.expect("task") {
                Ok(_) => refunded += 1,
                Err(StoreError::Refused(DomainError::Invalid { field: "amount", .. })) => refused += 1,
                Err(other) => panic!("unexpected refusal: {other:?}"),
            }
        }
        // Exactly what was paid: 10 × 100.00 of 1000.00.
        assert_eq!((refunded, refused), (10, 10));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("1000.00"));
        assert_eq!(ledger_sum(&store, cash).await, dec("1000.00"), "the ledger sums to the balance");
        let total: i64 = sqlx::query_scalar("SELECT CAST(SUM(amount_cents) AS BIGINT) FROM refunds WHERE order_id = $1")
            .bind(order.id)
            .fetch_one(store.pool())
            .await
            .expect("sum");
        assert_eq!(total, 100_000);
    }
    async fn rule_13_coupons_stay_within_their_quota_which_issuing_draws_down_and_reclaiming_returns(store: Store) {
        seeded(&store).await;
        let quota = store.create_quota(demo::RESELLER, cny(), dec("100.00"), dec("40.00")).await.expect("quota");
        let limits = coupon_limits();
        let over_limit = store.issue_coupon(quota, demo::STANDARD_CUSTOMER, dec("40.01"), &limits).await;
        assert_eq!(over_limit.map(|_| ()).map_err(|e| e.code().as_str()), Err("coupon-exceeds-quota-limit"));
        let first = store.issue_coupon(quota, demo::STANDARD_CUSTOMER, dec("40.00"), &limits).await.expect("issued");
        store.issue_coupon(quota, demo::KEY_ACCOUNT_CUSTOMER, dec("40.00"), &limits).await.expect("issued");
        assert_eq!(store.quota_balance(quota).await.expect("balance"), dec("20.00"));
        let exhausted = store.issue_coupon(quota, demo::STANDARD_CUSTOMER, dec("30.00"), &limits).await;
        assert_eq!(exhausted.map(|_| ()).map_err(|e| e.code().as_str()), Err("quota-exhausted"));
        store.reclaim_coupon(first.id).await.expect("reclaimed");
        assert_eq!(store.quota_balance(quota).await.expect("balance"), dec("60.00"));
        assert_eq!(store.reclaim_coupon(first.id).await.map_err(|e| e.code().as_str()), Err("coupon-not-reclaimable"));
        for status in [QuotaStatus::Adjusting, QuotaStatus::Frozen, QuotaStatus::Reclaimed] {
            store.set_quota_status(quota, status).await.expect("status");
            let refused = store.issue_coupon(quota, demo::STANDARD_CUSTOMER, dec("1.00"), &limits).await;
            assert_eq!(refused.map(|_| ()).map_err(|e| e.code().as_str()), Err("quota-unavailable"), "{status}");
        }
        store.set_quota_status(quota, QuotaStatus::Normal).await.expect("status");
        // Rule 12: coupons go to the partner's resale customers only.
        let other = store.issue_coupon(quota, demo::OTHER_RESELLERS_CUSTOMER, dec("1.00"), &limits).await;
        assert_eq!(other.map(|_| ()).map_err(|e| e.code().as_str()), Err("not-of-partner"));
    }

    async fn rule_7_coupons_on_an_order_respect_count_combination_discount_and_product_limits(store: Store) {
        seeded(&store).await;
        let quota = store.create_quota(demo::RESELLER, cny(), dec("1000.00"), dec("100.00")).await.expect("quota");
        let issue = |limits: CouponLimits| {
            let store = store.clone();
            async move { store.issue_coupon(quota, demo::STANDARD_CUSTOMER, dec("10.00"), &limits).await.expect("issued").id }
        };
        // A 300.00 order of one MARKETPLACE line sold at 0.75 of list.
        let discounted = NewOrderLine { list_unit_price: dec("400.00"), ..line("300.00", 1, 1) };
        let new = NewOrder { customer: demo::STANDARD_CUSTOMER, currency: cny(), lines: vec![discounted], quote: None };
        let order = store.create_order(&new, &reseller_admin(), "o-1", t0()).await.expect("order").id;

        let four = vec![issue(coupon_limits()).await, issue(coupon_limits()).await, issue(coupon_limits()).await, issue(coupon_limits()).await];
        assert_eq!(store.apply_coupons(order, &four, None, t0()).await.map_err(|e| e.code().as_str()), Err("too-many-coupons"));
        let ecs_only = issue(CouponLimits { service_type: Some("ECS".into()), ..coupon_limits() }).await;
        assert_eq!(store.apply_coupons(order, &[ecs_only], None, t0()).await.map_err(|e| e.code().as_str()), Err("coupon-not-applicable"));
        let no_combining = issue(CouponLimits { combines_with: vec![], ..coupon_limits() }).await;
        let combined = store.apply_coupons(order, &[no_combining], Some(DiscountKind::PartnerGranted), t0()).await;
        assert_eq!(combined.map_err(|e| e.code().as_str()), Err("coupon-not-combinable"));
        let shallow_only = issue(CouponLimits { min_discount_ratio: Some(dec("0.80")), ..coupon_limits() }).await;
        let deep = store.apply_coupons(order, &[shallow_only], None, t0()).await;
        assert_eq!(deep.map_err(|e| e.code().as_str()), Err("coupon-discount-too-deep"), "0.75 of list is below the 0.80 limit");
        let big_spender = issue(CouponLimits { min_spend: dec("300.01"), ..coupon_limits() }).await;
        assert_eq!(store.apply_coupons(order, &[big_spender], None, t0()).await.map_err(|e| e.code().as_str()), Err("coupon-min-spend"));
        let expired = store.apply_coupons(order, &[four[0]], None, t0() + Duration::days(40)).await;
        assert_eq!(expired.map_err(|e| e.code().as_str()), Err("coupon-not-usable"));

        // Three coupons and one partner-granted discount: 300.00 - 30.00 due.
        let due = store.apply_coupons(order, &four[..3], Some(DiscountKind::PartnerGranted), t0()).await.expect("applied");
        assert_eq!(due, dec("270.00"));
        assert_eq!(store.coupon(four[0]).await.expect("read").expect("coupon").status, CouponStatus::Used);
        assert_eq!(store.apply_coupons(order, &[four[3]], None, t0()).await.map_err(|e| e.code().as_str()), Err("coupons-already-applied"));
        reseller_accounts(&store, "300.00", "0.00").await;
        let paid = store
            .pay_order(order, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        assert_eq!(paid.amount, dec("270.00"));
    }
    async fn rule_11_auto_renew_is_due_7_days_before_expiry_and_keeps_the_period_type(store: Store) {
        seeded(&store).await;
        let expires = t0() + Duration::days(10);
        let main = store
            .create_resource(demo::KEY_ACCOUNT_CUSTOMER, 1001, PeriodType::Month, ExpiryPolicy::AutoRenew, t0() - Duration::days(20), expires, None, None)
            .await
            .expect("resource");
        let child = store
            .create_resource(demo::KEY_ACCOUNT_CUSTOMER, 1002, PeriodType::Month, ExpiryPolicy::AutoRenew, t0() - Duration::days(20), expires, Some(main), None)
            .await
            .expect("child resource");
        let resource = store.resource(main).await.expect("read").expect("resource");
        assert!(!auto_renew_due(&resource, t0() + Duration::days(2)), "8 days before expiry: not yet");
        assert!(auto_renew_due(&resource, t0() + Duration::days(3)), "7 days before expiry: due");
        assert!(store.resources_due_for_renewal(t0() + Duration::days(2)).await.expect("due").is_empty());
        let due = store.resources_due_for_renewal(t0() + Duration::days(3)).await.expect("due");
        assert_eq!(due.iter().map(|r| r.id).collect::<Vec<_>>(), vec![main], "the main resource renews; its child with it");

        // Renewals are orders: paying one extends the term, or is refused and takes nothing.
        reseller_accounts(&store, "1000.00", "0.00").await;
        let yearly = renew_by_order(&store, main, PeriodType::Year, 1, "y").await;
        assert_eq!(yearly.map_err(|e| e.code().as_str()), Err("renewal-period-mismatch"));
        assert_eq!(renew_by_order(&store, main, PeriodType::Month, 12, "m12").await.map_err(|e| e.code().as_str()), Err("invalid-field"));
        assert_eq!(renew_by_order(&store, child, PeriodType::Month, 1, "c").await.map_err(|e| e.code().as_str()), Err("not-a-main-resource"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("1000.00"), "refused payments take nothing");
        let renewed = renew_by_order(&store, main, PeriodType::Month, 3, "m3").await.expect("renewed");
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("970.00"), "the renewal was paid: 10.00 × 3 months");
        assert_eq!(renewed, Utc.with_ymd_and_hms(2027, 2, 12, 9, 0, 0).single().expect("date"));
        assert_eq!(store.resource(child).await.expect("read").expect("child").expires_at, renewed, "children renew with their main resource");
    }

    async fn rule_11_expiry_policies_apply_once_at_expiry_and_a_grace_period_ends_in_release(store: Store) {
        seeded(&store).await;
        let expires = t0() + Duration::days(10);
        let resource = |policy, main| {
            let store = store.clone();
            async move {
                store
                    .create_resource(demo::KEY_ACCOUNT_CUSTOMER, 1001, PeriodType::Month, policy, t0() - Duration::days(20), expires, main, None)
                    .await
                    .expect("resource")
            }
        };
        let grace = resource(ExpiryPolicy::GracePeriod, None).await;
        let grace_child = resource(ExpiryPolicy::GracePeriod, Some(grace)).await;
        let delete = resource(ExpiryPolicy::Delete, None).await;
        let freeze = resource(ExpiryPolicy::Freeze, None).await;
        // No hourly price for product 1001: switching to on-demand falls back to a grace period.
        let on_demand = resource(ExpiryPolicy::ToOnDemand, None).await;
        // An auto-renewal that was never paid.
        let unpaid = resource(ExpiryPolicy::AutoRenew, None).await;
        let status = |id| {
            let store = store.clone();
            async move { store.resource(id).await.expect("read").expect("resource").status }
        };

        assert_eq!(store.apply_expiry_policies(expires - Duration::minutes(1)).await.expect("run"), vec![], "not yet expired");
        let at_expiry = expires + Duration::hours(1);
        let mut applied = store.apply_expiry_policies(at_expiry).await.expect("run");
        applied.sort_by_key(|a| a.resource);
        let expected = |pairs: &[(i64, ExpiryOutcome)]| pairs.iter().map(|&(resource, outcome)| ExpiryApplied { resource, outcome }).collect::<Vec<_>>();
        assert_eq!(
            applied,
            expected(&[
                (grace, ExpiryOutcome::GracePeriod),
                (delete, ExpiryOutcome::Deleted),
                (freeze, ExpiryOutcome::Frozen),
                (on_demand, ExpiryOutcome::GracePeriod),
                (unpaid, ExpiryOutcome::GracePeriod),
            ])
        );
        assert_eq!(
            (status(grace).await, status(grace_child).await, status(delete).await, status(freeze).await, status(unpaid).await),
            (ResourceStatus::Expired, ResourceStatus::Expired, ResourceStatus::Closed, ResourceStatus::Frozen, ResourceStatus::Expired)
        );
        assert_eq!(store.apply_expiry_policies(at_expiry).await.expect("run"), vec![], "a second run (or instance) changes nothing");

        // Renewed in its grace period, or when frozen at expiry: back in use, from the old expiry.
        reseller_accounts(&store, "1000.00", "0.00").await;
        let renewed = renew_by_order(&store, grace, PeriodType::Month, 1, "grace").await.expect("renewed in grace");
        assert_eq!(renewed, expires + Duration::days(30), "one month from the old expiry (12 November to 12 December)");
        assert_eq!((status(grace).await, status(grace_child).await), (ResourceStatus::InUse, ResourceStatus::InUse));
        renew_by_order(&store, freeze, PeriodType::Month, 1, "frozen").await.expect("renewed when frozen at expiry");
        assert_eq!(status(freeze).await, ResourceStatus::InUse);
        let closed = renew_by_order(&store, delete, PeriodType::Month, 1, "deleted").await;
        assert_eq!(closed.map_err(|e| e.code().as_str()), Err("not-renewable"));

        // 15 days of grace, then release: the two left in their grace period are closed.
        let mut released = store.apply_expiry_policies(expires + Duration::days(GRACE_PERIOD_DAYS) + Duration::hours(1)).await.expect("run");
        released.sort_by_key(|a| a.resource);
        assert_eq!(released, expected(&[(on_demand, ExpiryOutcome::Released), (unpaid, ExpiryOutcome::Released)]));
        assert_eq!((status(on_demand).await, status(unpaid).await, status(grace).await), (ResourceStatus::Closed, ResourceStatus::Closed, ResourceStatus::InUse));

        // With an hourly price, `to-on-demand` switches it to hourly charging and it runs on.
        sqlx::query("INSERT INTO list_prices (product, period, amount, currency) VALUES (1001, 'hour', '0.300000', 'CNY')")
            .execute(store.pool())
            .await
            .expect("hourly price");
        let switched = resource(ExpiryPolicy::ToOnDemand, None).await;
        let applied = store.apply_expiry_policies(at_expiry).await.expect("run");
        assert_eq!(applied, expected(&[(switched, ExpiryOutcome::OnDemand)]));
        let found = store.resource(switched).await.expect("read").expect("resource");
        assert_eq!((found.status, found.period), (ResourceStatus::InUse, PeriodType::Hour));
        let on_demand_ids: Vec<i64> = store.on_demand_resources(demo::KEY_ACCOUNT_CUSTOMER).await.expect("listed").iter().map(|r| r.id).collect();
        assert!(on_demand_ids.contains(&switched), "{on_demand_ids:?}");
        assert_eq!(store.apply_expiry_policies(at_expiry).await.expect("run"), vec![]);
    }

    async fn rule_18_freezing_a_customers_resources_stops_them_and_lifting_it_lets_them_run(store: Store) {
        seeded(&store).await;
        let expires = t0() + Duration::days(10);
        let create = |policy| {
            let store = store.clone();
            async move {
                store
                    .create_resource(demo::KEY_ACCOUNT_CUSTOMER, 1001, PeriodType::Month, policy, t0() - Duration::days(20), expires, None, None)
                    .await
                    .expect("resource")
            }
        };
        let running = create(ExpiryPolicy::GracePeriod).await;
        let frozen_at_expiry = create(ExpiryPolicy::Freeze).await;
        store.apply_expiry_policies(expires + Duration::hours(1)).await.expect("run");
        let later = create(ExpiryPolicy::GracePeriod).await;
        let status = |id| {
            let store = store.clone();
            async move { store.resource(id).await.expect("read").expect("resource").status }
        };
        let now = expires + Duration::hours(2);
        store.freeze_customer(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::AccountAndResourcesFrozen, now).await.expect("frozen");
        assert_eq!(status(later).await, ResourceStatus::Frozen, "resources in use stop with their customer");
        assert_eq!(status(running).await, ResourceStatus::Expired, "one in its grace period stays there");
        // Freezing the account only lets the resources run again.
        store.freeze_customer(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::AccountFrozen, now).await.expect("account only");
        assert_eq!(status(later).await, ResourceStatus::InUse);
        store.freeze_customer(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::AccountAndResourcesFrozen, now).await.expect("frozen");
        store.unfreeze_customer(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::AccountAndResourcesFrozen, now).await.expect("lifted");
        assert_eq!(status(later).await, ResourceStatus::InUse, "lifting the freeze lets them run");
        assert_eq!(status(frozen_at_expiry).await, ResourceStatus::Frozen, "its own expiry policy froze it: it stays frozen");
    }

    async fn rule_18_a_budget_caps_what_a_resale_customer_spends_in_a_month_even_under_concurrent_payments(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "2000.00", "0.00").await;
        store.set_budget(demo::STANDARD_CUSTOMER, dec("250.00")).await.expect("budget");
        let nov_28 = t0() + Duration::days(26);
        let dec_1 = t0() + Duration::days(29);
        let order = |key: String, amount: &'static str, at| {
            let store = store.clone();
            async move { store.create_order(&order_of(amount), &reseller_admin(), &key, at).await.expect("order").id }
        };
        let pay = |id, key: String, at| {
            let store = store.clone();
            async move { store.pay_order(id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), &key, at).await }
        };
        let first = order("o-1".into(), "100.00", nov_28).await;
        let second = order("o-2".into(), "100.00", nov_28).await;
        let third = order("o-3".into(), "100.00", nov_28).await;
        pay(first, "p-1".into(), nov_28).await.expect("100.00 of 250.00");
        pay(second, "p-2".into(), nov_28).await.expect("200.00 of 250.00");
        let over = pay(third, "p-3".into(), nov_28).await;
        assert_eq!(over.map(|_| ()).map_err(|e| e.code().as_str()), Err("over-budget"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("1800.00"), "a refused payment takes nothing");
        assert_eq!(store.order(third).await.expect("read").expect("order").status, OrderStatus::PendingPayment);
        // A new month, a new budget month: the same order is paid.
        pay(third, "p-3b".into(), dec_1).await.expect("100.00 of December's 250.00");

        // 150.00 left in December; eight payments of 50.00 at once: exactly three pass.
        let mut orders = Vec::new();
        for i in 0..8 {
            orders.push(order(format!("c-{i}"), "50.00", dec_1).await);
        }
        let payments = orders.iter().enumerate().map(|(i, &id)| {
            let pay = pay(id, format!("pc-{i}"), dec_1);
            tokio::spawn(pay)
        });
        let mut passed = 0;
        for payment in payments.collect::<Vec<_>>() {
            match payment.await.expect("joined") {
                Ok(_) => passed += 1,
                Err(e) => assert_eq!(e.code().as_str(), "over-budget"),
            }
        }
        assert_eq!(passed, 3);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("1550.00"));
        assert_eq!(ledger_sum(&store, cash).await, dec("1550.00"), "cash balance = sum of its entries");
    }

    async fn rule_23_a_partner_operates_in_a_customers_account_only_with_its_authorization(store: Store) {
        seeded(&store).await;
        // The demo's new customer has not been asked yet (the others authorized reseller 2).
        let customer = demo::NEW_CUSTOMER;
        let itself = customer_itself(customer);
        let code = |r: Result<Authorization, StoreError>| r.map(|a| a.status).map_err(|e| e.code().as_str());
        assert_eq!(store.ensure_may_operate(&reseller_admin(), customer).await.map_err(|e| e.code().as_str()), Err("not-authorized"));
        assert_eq!(store.authorization(demo::RESELLER, customer).await.expect("read"), None);
        let no_terms = store.request_authorization(demo::RESELLER, customer, false, &reseller_admin(), t0()).await;
        assert_eq!(code(no_terms), Err("operate-terms-not-agreed"));
        let foreign = store.request_authorization(demo::OTHER_RESELLER, customer, true, &reseller_admin(), t0()).await;
        assert_eq!(code(foreign), Err("not-of-partner"));
        assert_eq!(code(store.grant_authorization(demo::RESELLER, customer, &itself, t0()).await), Err("authorization-state"), "nothing to grant yet");
        assert_eq!(code(store.request_authorization(demo::RESELLER, customer, true, &reseller_admin(), t0()).await), Ok(AuthorizationStatus::Requested));
        assert_eq!(code(store.request_authorization(demo::RESELLER, customer, true, &reseller_admin(), t0()).await), Err("authorization-state"), "already asked");
        assert_eq!(store.ensure_may_operate(&reseller_admin(), customer).await.map_err(|e| e.code().as_str()), Err("not-authorized"), "requested is not granted");
        assert_eq!(code(store.revoke_authorization(demo::RESELLER, customer, &itself, t0()).await), Err("authorization-state"), "only a grant is revoked");
        assert_eq!(code(store.refuse_authorization(demo::RESELLER, customer, &itself, t0()).await), Ok(AuthorizationStatus::Refused));
        assert_eq!(code(store.grant_authorization(demo::RESELLER, customer, &itself, t0()).await), Err("authorization-state"), "a refused request is not granted later");
        let again = store.request_authorization(demo::RESELLER, customer, false, &reseller_admin(), t0() + Duration::hours(1)).await;
        assert_eq!(code(again), Ok(AuthorizationStatus::Requested), "asking again needs no new agreement");
        assert_eq!(code(store.grant_authorization(demo::RESELLER, customer, &itself, t0()).await), Ok(AuthorizationStatus::Granted));
        store.ensure_may_operate(&reseller_admin(), customer).await.expect("authorized");
        assert_eq!(code(store.request_authorization(demo::RESELLER, customer, false, &reseller_admin(), t0()).await), Ok(AuthorizationStatus::Granted), "asking while granted changes nothing");
        assert_eq!(code(store.refuse_authorization(demo::RESELLER, customer, &itself, t0()).await), Err("authorization-state"), "a grant is revoked, not refused");
        assert_eq!(code(store.revoke_authorization(demo::RESELLER, customer, &itself, t0()).await), Ok(AuthorizationStatus::Revoked));
        assert_eq!(store.ensure_may_operate(&reseller_admin(), customer).await.map_err(|e| e.code().as_str()), Err("not-authorized"));
        assert_eq!(code(store.revoke_authorization(demo::RESELLER, customer, &itself, t0()).await), Err("authorization-state"));
        // Rule 21: every move, with who made it; the terms were agreed with the first request.
        let found = store.authorization(demo::RESELLER, customer).await.expect("read").expect("requested");
        assert_eq!(found.terms_agreed_at, t0());
        let history: Vec<_> = found.history.iter().map(|e| (e.status.as_str(), e.actor.as_str())).collect();
        assert_eq!(
            history,
            [
                ("requested", "partner-admin:2/500"),
                ("refused", "customer:2/106"),
                ("requested", "partner-admin:2/500"),
                ("granted", "customer:2/106"),
                ("revoked", "customer:2/106"),
            ]
        );
        // Neither the customer itself nor the operator needs one.
        store.ensure_may_operate(&itself, customer).await.expect("the customer acts in its own account");
        store.ensure_may_operate(&operator(), customer).await.expect("the operator needs no authorization");
    }
    async fn rule_23_buying_paying_unsubscribing_and_auto_renew_by_the_partner_need_a_granted_authorization(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        let customer = demo::STANDARD_CUSTOMER;
        let itself = customer_itself(customer);
        // While granted (the demo): reseller 2's admin buys three months and pays them.
        let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
        let bought = store.create_order(&order, &on_behalf_of(customer), "o-1", t0()).await.expect("bought while granted");
        store.pay_order(bought.id, Payer::Partner(demo::RESELLER), &on_behalf_of(customer), "p-1", t0()).await.expect("paid while granted");
        let resource = provisioned(&store, bought.id).await;
        let unpaid = store.create_order(&order_of("10.00"), &on_behalf_of(customer), "o-2", t0()).await.expect("bought");

        store.revoke_authorization(demo::RESELLER, customer, &itself, t0()).await.expect("revoked");
        let refused = |r: Result<(), StoreError>| r.map_err(|e| e.code().as_str());
        let orders_before = store.recent_orders(customer, 100).await.expect("orders").len();
        let buy = store.create_order(&order_of("10.00"), &on_behalf_of(customer), "o-3", t0()).await.map(|_| ());
        assert_eq!(refused(buy), Err("not-authorized"));
        let by_manager = Actor { role: Role::Salesperson, id: Some(demo::STAFF_SALESPERSON), ..on_behalf_of(customer) };
        let buy = store.create_order(&order_of("10.00"), &by_manager, "o-3", t0()).await.map(|_| ());
        assert_eq!(refused(buy), Err("not-authorized"), "any of the partner's staff");
        // A distributor acts on its reseller's customer under the reseller's authorization.
        let distributor = Actor { role: Role::PartnerAdmin, partner: Some(demo::DISTRIBUTOR), id: Some(demo::DISTRIBUTOR_ADMIN), on_behalf_of: Some(format!("customer:{customer}")) };
        let buy = store.create_order(&order_of("10.00"), &distributor, "o-3", t0()).await.map(|_| ());
        assert_eq!(refused(buy), Err("not-authorized"), "the distributor acts under the reseller's authorization");
        assert_eq!(store.recent_orders(customer, 100).await.expect("orders").len(), orders_before, "nothing written");
        let pay = store.pay_order(unpaid.id, Payer::Partner(demo::RESELLER), &on_behalf_of(customer), "p-2", t0()).await.map(|_| ());
        assert_eq!(refused(pay), Err("not-authorized"));
        assert_eq!(store.order(unpaid.id).await.expect("read").expect("order").status, OrderStatus::PendingPayment);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("700.00"), "nothing paid");
        let unsubscribe = store.unsubscribe_resource(resource, &on_behalf_of(customer), "u-1", t0() + Duration::days(10)).await.map(|_| ());
        assert_eq!(refused(unsubscribe), Err("not-authorized"));
        assert_eq!(refused(store.set_auto_renew(resource, true, &on_behalf_of(customer)).await), Err("not-authorized"));
        let status: String = sqlx::query_scalar("SELECT status FROM resources WHERE id = $1").bind(resource).fetch_one(store.pool()).await.expect("status");
        let policy = store.resource(resource).await.expect("read").expect("resource").expiry_policy;
        assert_eq!((status.as_str(), policy), ("in-use", ExpiryPolicy::GracePeriod), "nothing changed");
        // The customer itself needs no authorization, nor does the operator.
        store.set_auto_renew(resource, true, &itself).await.expect("the customer's own setting");
        store.set_auto_renew(resource, false, &operator()).await.expect("the operator");
        let own = store.create_order(&order_of("10.00"), &itself, "o-4", t0()).await.expect("the customer buys itself");

        // Asked again and granted: everything is allowed again.
        store.request_authorization(demo::RESELLER, customer, false, &reseller_admin(), t0()).await.expect("requested");
        store.grant_authorization(demo::RESELLER, customer, &itself, t0()).await.expect("granted");
        let again = store.create_order(&order_of("10.00"), &distributor, "o-5", t0()).await.expect("bought again");
        store.pay_order(unpaid.id, Payer::Partner(demo::RESELLER), &on_behalf_of(customer), "p-2", t0()).await.expect("paid again");
        store.set_auto_renew(resource, true, &on_behalf_of(customer)).await.expect("auto-renew again");
        let done = store.unsubscribe_resource(resource, &on_behalf_of(customer), "u-1", t0() + Duration::days(46)).await.expect("unsubscribed");

        // Rule 21: both principals on record, the staff member and the customer acted for.
        let created_by = |id| {
            let store = store.clone();
            async move { store.order(id).await.expect("read").expect("order").created_by }
        };
        assert_eq!(created_by(bought.id).await.as_deref(), Some("partner-admin:2/500"));
        assert_eq!(created_by(again.id).await.as_deref(), Some("partner-admin:1/504"));
        assert_eq!(created_by(own.id).await.as_deref(), Some("customer:2/102"));
        assert_eq!(store.order(again.id).await.expect("read").expect("order").customer, customer);
        let entries: Vec<_> = store
            .ledger(cash)
            .await
            .expect("ledger")
            .into_iter()
            .filter(|e| e.reason != "top-up")
            .map(|e| (e.reason, e.amount, e.actor, e.on_behalf_of))
            .collect();
        let by = |reason: &str, amount: &str| (reason.to_owned(), dec(amount), "partner-admin:2/500".to_owned(), Some("customer:102".to_owned()));
        assert_eq!(entries, [by("payment", "-300.00"), by("payment", "-10.00"), by("refund", &done.amount.to_string())]);
    }
    async fn rule_23_unbinding_ends_the_authorization_and_binding_again_does_not_bring_it_back(store: Store) {
        seeded(&store).await;
        let admin = store.staff(demo::STAFF_ADMIN).await.expect("read").expect("admin");
        let customer = demo::KEY_ACCOUNT_CUSTOMER;
        store.unbind_customer(customer, &admin, t0()).await.expect("unbound");
        store.rebind_customer(customer, demo::RESELLER, t0() + Duration::days(1)).await.expect("rebound");
        let found = store.authorization(demo::RESELLER, customer).await.expect("read").expect("authorization");
        assert_eq!(found.status, AuthorizationStatus::Revoked);
        let last = found.history.last().expect("recorded");
        assert_eq!((last.status, last.actor.as_str(), last.at), (AuthorizationStatus::Revoked, "partner-admin:2/500", t0()));
        let order = NewOrder { customer, ..order_of("10.00") };
        let buy = store.create_order(&order, &reseller_admin(), "o-1", t0()).await.map(|_| ());
        assert_eq!(buy.map_err(|e| e.code().as_str()), Err("not-authorized"));
    }
    async fn rule_24_a_subsidy_goes_only_to_labelled_partners_above_the_threshold(store: Store) {
        seeded(&store).await;
        let usd: Currency = "USD".parse().expect("currency");
        let small = store.claim_subsidy(demo::RESELLER, dec("999999.99"), cny(), t0()).await;
        assert_eq!(small.map_err(|e| e.code().as_str()), Err("below-subsidy-threshold"));
        let unlabelled = store.claim_subsidy(demo::RESELLER, dec("1000000"), cny(), t0()).await;
        assert_eq!(unlabelled.map_err(|e| e.code().as_str()), Err("capability-label-required"));
        store.grant_label(demo::RESELLER, "cloud-migration", t0()).await.expect("label");
        store.claim_subsidy(demo::RESELLER, dec("1000000"), cny(), t0() + Duration::days(1)).await.expect("labelled at the claim");
        store.revoke_label(demo::RESELLER, "cloud-migration", t0() + Duration::days(2)).await.expect("revoked");
        let after = store.claim_subsidy(demo::RESELLER, dec("2000000"), cny(), t0() + Duration::days(3)).await;
        assert_eq!(after.map_err(|e| e.code().as_str()), Err("capability-label-required"));
        // Outside the home region the threshold is 125,000 USD.
        let abroad = store.create_partner(PartnerKind::SolutionProvider, "Lion City Cloud", "SG").await.expect("partner");
        store.grant_label(abroad.id, "data-analytics", t0()).await.expect("label");
        let below = store.claim_subsidy(abroad.id, dec("124999.99"), usd, t0()).await;
        assert_eq!(below.map_err(|e| e.code().as_str()), Err("below-subsidy-threshold"));
        store.claim_subsidy(abroad.id, dec("125000"), usd, t0()).await.expect("at the threshold");
    }

    async fn rule_25_a_customer_with_a_phone_needs_the_code_sent_to_it_first(store: Store) {
        seeded(&store).await;
        let new = NewCustomer {
            partner: demo::RESELLER,
            account_name: "maple-foods".into(),
            association: Association::Resale,
            customer_type: CustomerType::Enterprise,
            country: "CN".into(),
            manager: None,
        };
        let phone = "+8613800000000";
        let code_of = |r: Result<Customer, StoreError>| r.map(|_| ()).map_err(|e| e.code().as_str());
        let unsent = store.create_customer_with_phone(&new, phone, "123456", t0()).await;
        assert_eq!(code_of(unsent), Err("verification-code-invalid"));
        let sent = store.send_verification_code(demo::RESELLER, phone, t0()).await.expect("sent");
        assert_eq!((sent.code.len(), sent.expires_at), (6, t0() + Duration::minutes(10)));
        let late = store.create_customer_with_phone(&new, phone, &sent.code, t0() + Duration::minutes(11)).await;
        assert_eq!(code_of(late), Err("verification-code-invalid"));
        // Asking again within the minute sends nothing; after it, a new code.
        let soon = store.send_verification_code(demo::RESELLER, phone, t0() + Duration::seconds(59)).await;
        assert_eq!(soon.map(|_| ()).map_err(|e| e.code().as_str()), Err("rate-limited"));
        let t1 = t0() + Duration::minutes(12);
        let sent = store.send_verification_code(demo::RESELLER, phone, t1).await.expect("sent again");
        // Another partner's code for the same phone neither replaces nor spends it.
        let other = store.send_verification_code(demo::OTHER_RESELLER, phone, t1).await.expect("its own code");
        if other.code != sent.code {
            let crossed = store.create_customer_with_phone(&new, phone, &other.code, t1).await;
            assert_eq!(code_of(crossed), Err("verification-code-invalid"), "another partner's code");
        }
        let created = store.create_customer_with_phone(&new, phone, &sent.code, t1 + Duration::minutes(5)).await.expect("created");
        assert_eq!(store.customer_phone(created.id).await.expect("read").as_deref(), Some(phone));
        let reuse = store.create_customer_with_phone(&NewCustomer { account_name: "maple-2".into(), ..new.clone() }, phone, &sent.code, t1).await;
        assert_eq!(code_of(reuse), Err("verification-code-invalid"), "a code is spent once");
        // Wrong guesses: five at most, then even the right code is dead.
        let t2 = t1 + Duration::minutes(2);
        let sent = store.send_verification_code(demo::RESELLER, phone, t2).await.expect("sent");
        let wrong = if sent.code == "000000" { "000001" } else { "000000" };
        let third = NewCustomer { account_name: "maple-3".into(), ..new.clone() };
        for left in (0..crate::verification::MAX_CODE_ATTEMPTS).rev() {
            match store.create_customer_with_phone(&third, phone, wrong, t2).await {
                Err(e) => {
                    assert_eq!(e.code().as_str(), "verification-code-invalid");
                    assert!(e.to_string().contains(&format!("{left} attempts left")), "{e}");
                }
                Ok(c) => panic!("a wrong code created {c:?}"),
            }
        }
        assert_eq!(code_of(store.create_customer_with_phone(&third, phone, &sent.code, t2).await), Err("verification-code-invalid"));
        // A new code gives five more tries, and then the day is spent: a sixth and later code
        // within it is dead on arrival, however it is guessed.
        let t3 = t2 + Duration::minutes(2);
        let sent = store.send_verification_code(demo::RESELLER, phone, t3).await.expect("sent");
        let wrong = if sent.code == "000000" { "000001" } else { "000000" };
        for _ in 0..5 {
            assert_eq!(code_of(store.create_customer_with_phone(&third, phone, wrong, t3).await), Err("verification-code-invalid"));
        }
        let t4 = t3 + Duration::minutes(2);
        let sent = store.send_verification_code(demo::RESELLER, phone, t4).await.expect("sent");
        assert_eq!(code_of(store.create_customer_with_phone(&third, phone, &sent.code, t4).await), Err("verification-code-invalid"));
        // The next day, a new code works.
        let t5 = t2 + Duration::days(1) + Duration::minutes(1);
        let sent = store.send_verification_code(demo::RESELLER, phone, t5).await.expect("sent");
        store.create_customer_with_phone(&third, phone, &sent.code, t5).await.expect("a new day");
        // Without a phone: created, and no number to send SMS to.
        let quiet = store.create_customer(&NewCustomer { account_name: "no-phone".into(), ..new }, t0()).await.expect("created");
        assert_eq!(store.customer_phone(quiet.id).await.expect("read"), None);
        assert_eq!(store.send_verification_code(demo::RESELLER, "12ab", t0()).await.map(|_| ()).map_err(|e| e.code().as_str()), Err("invalid-field"));
    }

    async fn rule_20_a_po_is_reviewed_for_bant_and_plausibility_and_the_earlier_duplicate_wins(store: Store) {
        seeded(&store).await;
        let po = NewOpportunity {
            customer_name: "Jade Logistics".into(),
            budget: Some("800k CNY".into()),
            decision_maker: Some("CTO".into()),
            need: Some("migrate ERP to cloud servers".into()),
            timeline: Some("Q1 2027".into()),
            monthly_revenue: dec("20000"),
        };
        let missing = NewOpportunity { decision_maker: None, ..po.clone() };
        assert_eq!(store.submit_po(demo::RESELLER, &missing, t0()).await.expect("reviewed").1, OpportunityReview::Incomplete);
        let unrelated = NewOpportunity { need: Some("office furniture".into()), ..po.clone() };
        assert_eq!(store.submit_po(demo::RESELLER, &unrelated, t0()).await.expect("reviewed").1, OpportunityReview::Implausible);
        let trivial = NewOpportunity { monthly_revenue: dec("99"), ..po.clone() };
        assert_eq!(store.submit_po(demo::RESELLER, &trivial, t0()).await.expect("reviewed").1, OpportunityReview::Implausible);
        assert_eq!(store.submit_po(demo::RESELLER, &po, t0()).await.expect("reviewed").1, OpportunityReview::Approved);
        let later = NewOpportunity { customer_name: "jade logistics".into(), ..po };
        assert_eq!(store.submit_po(demo::OTHER_RESELLER, &later, t0()).await.expect("reviewed").1, OpportunityReview::Duplicate);
    }
    async fn rule_1_an_invitation_accepted_twice_at_once_is_accepted_once(store: Store) {
        seeded(&store).await;
        let new_customer = |round: i32| NewCustomer {
            partner: demo::RESELLER,
            account_name: format!("race-{round}"),
            association: Association::Resale,
            customer_type: CustomerType::Enterprise,
            country: "CN".into(),
            manager: None,
        };
        for round in 0..20 {
            let customer = store.create_customer(&new_customer(round), t0()).await.expect("registered").id;
            let token = store.invite_customer(demo::RESELLER, customer, InvitationChannel::Offline, t0()).await.expect("invited");
            let (one, other) = tokio::join!(store.accept_invitation(&token, t0()), store.accept_invitation(&token, t0()));
            let mut codes: Vec<&str> = [&one, &other].iter().map(|r| r.as_ref().map_or_else(|e| e.code().as_str(), |_| "accepted")).collect();
            codes.sort_unstable();
            assert_eq!(codes, ["accepted", "invitation-used"], "round {round}");
        }
        // Once a customer accepted, it is not invited again (whoever invites sees the token and
        // would hold a customer key); a second invitation made before is dead too.
        let customer = store.create_customer(&new_customer(99), t0()).await.expect("registered").id;
        let first = store.invite_customer(demo::RESELLER, customer, InvitationChannel::Offline, t0()).await.expect("invited");
        let second = store.invite_customer(demo::RESELLER, customer, InvitationChannel::Offline, t0()).await.expect("invited");
        store.accept_invitation(&first, t0()).await.expect("accepted");
        let code = |r: Result<_, StoreError>| r.map(|_| ()).map_err(|e| e.code().as_str());
        assert_eq!(code(store.accept_invitation(&second, t0()).await), Err("invitation-used"));
        let again = store.invite_customer(demo::RESELLER, customer, InvitationChannel::Online, t0()).await;
        assert_eq!(again.map(|_| ()).map_err(|e| e.code().as_str()), Err("invitation-used"));
    }
    async fn rule_1_invitations_and_customer_operations_assign_real_name_split_quota_auto_renew(store: Store) {
        seeded(&store).await;
        // Rule 1: only a registered customer is invited; online links expire after 7 days.
        let online = store.invite_customer(demo::RESELLER, demo::NEW_CUSTOMER, InvitationChannel::Online, t0()).await.expect("invited");
        let late = store.accept_invitation(&online, t0() + Duration::days(8)).await;
        assert_eq!(late.map_err(|e| e.code().as_str()), Err("invitation-expired"));
        let offline = store.invite_customer(demo::RESELLER, demo::NEW_CUSTOMER, InvitationChannel::Offline, t0()).await.expect("invited");
        assert_eq!(store.accept_invitation(&offline, t0() + Duration::days(400)).await.expect("never expires"), demo::NEW_CUSTOMER);
        assert_eq!(store.accept_invitation(&offline, t0()).await.map_err(|e| e.code().as_str()), Err("invitation-used"));
        let unregistered = store.invite_customer(demo::RESELLER, demo::OTHER_RESELLERS_CUSTOMER, InvitationChannel::Online, t0()).await;
        assert_eq!(unregistered.map_err(|e| e.code().as_str()), Err("customer-not-registered"));

        // Managers are assigned by the admin or a supervisor.
        let admin = store.staff(demo::STAFF_ADMIN).await.expect("read").expect("admin");
        let salesperson = store.staff(demo::STAFF_SALESPERSON).await.expect("read").expect("salesperson");
        let by_sales = store.assign_manager(demo::NEW_CUSTOMER, demo::STAFF_SALESPERSON, &salesperson).await;
        assert_eq!(by_sales.map_err(|e| e.code().as_str()), Err("assignment-not-permitted"));
        store.assign_manager(demo::NEW_CUSTOMER, demo::STAFF_SALESPERSON, &admin).await.expect("assigned");
        let visible: Vec<i64> = store.customers_visible_to(&salesperson).await.expect("visible").iter().map(|c| c.id).collect();
        assert_eq!(visible, vec![102, 106]);

        // Real-name verification: submitted, reviewed, resubmitted after a rejection.
        let fresh = store
            .create_customer(&NewCustomer { partner: demo::RESELLER, account_name: "birch".into(), association: Association::Resale, customer_type: CustomerType::Individual, country: "CN".into(), manager: None }, t0())
            .await
            .expect("customer");
        store.submit_real_name(fresh.id, CustomerType::Enterprise).await.expect("submitted");
        assert_eq!(store.submit_real_name(fresh.id, CustomerType::Enterprise).await.map_err(|e| e.code().as_str()), Err("real-name-state"));
        store.record_real_name_result(fresh.id, false).await.expect("rejected");
        store.submit_real_name(fresh.id, CustomerType::Enterprise).await.expect("resubmitted");
        store.record_real_name_result(fresh.id, true).await.expect("verified");
        assert_eq!(store.customer(fresh.id).await.expect("read").expect("customer").real_name, RealNameStatus::Verified);

        // A distributor splits quota to its reseller and reclaims what is left (rule 13).
        let parent = store.create_quota(demo::DISTRIBUTOR, cny(), dec("500.00"), dec("50.00")).await.expect("quota");
        let child = store.split_quota(parent, demo::RESELLER, dec("200.00"), dec("50.00")).await.expect("split");
        assert_eq!(store.quota_balance(parent).await.expect("balance"), dec("300.00"));
        let foreign = store.split_quota(parent, demo::SOLUTION_PROVIDER, dec("1.00"), dec("1.00")).await;
        assert_eq!(foreign.map_err(|e| e.code().as_str()), Err("not-of-partner"));
        store.issue_coupon(child, demo::STANDARD_CUSTOMER, dec("50.00"), &coupon_limits()).await.expect("issued by the reseller");
        assert_eq!(store.reclaim_quota(child).await.expect("reclaimed"), dec("150.00"));
        assert_eq!(store.quota_balance(parent).await.expect("balance"), dec("450.00"));
        let closed = store.issue_coupon(child, demo::STANDARD_CUSTOMER, dec("1.00"), &coupon_limits()).await;
        assert_eq!(closed.map(|_| ()).map_err(|e| e.code().as_str()), Err("quota-unavailable"));

        // Auto-renew toggles for a main resource and its children; on-demand resources list.
        let until = t0() + Duration::days(30);
        let main = store.create_resource(demo::KEY_ACCOUNT_CUSTOMER, 1001, PeriodType::Month, ExpiryPolicy::GracePeriod, t0(), until, None, None).await.expect("resource");
        let child_resource = store.create_resource(demo::KEY_ACCOUNT_CUSTOMER, 1002, PeriodType::Hour, ExpiryPolicy::GracePeriod, t0(), until, Some(main), None).await.expect("resource");
        store.set_auto_renew(main, true, &reseller_admin()).await.expect("auto-renew on");
        assert_eq!(store.resource(child_resource).await.expect("read").expect("child").expiry_policy, ExpiryPolicy::AutoRenew);
        let on_demand: Vec<i64> = store.on_demand_resources(demo::KEY_ACCOUNT_CUSTOMER).await.expect("list").iter().map(|r| r.id).collect();
        assert_eq!(on_demand, vec![child_resource]);
    }
    async fn quotes_price_subscriptions_usage_renewals_and_spec_changes_exactly(store: Store) {
        seeded(&store).await;
        let q = store.quote_subscription(1001, PeriodType::Month, 3, 2).await.expect("quote");
        assert_eq!(q.amount, dec("1200.00")); // 200.000000 × 3 × 2
        assert_eq!(store.quote_subscription(1001, PeriodType::Year, 2, 1).await.expect("quote").amount, dec("4080.00"));
        let twelve = store.quote_subscription(1001, PeriodType::Month, 12, 1).await;
        assert_eq!(twelve.map_err(|e| e.code().as_str()), Err("invalid-field"), "12 months is a year");
        // 0.000139 × 720 h × 5 = 0.5004 -> 0.50
        assert_eq!(store.quote_on_demand(1002, dec("720"), 5).await.expect("quote").amount, dec("0.50"));
        assert_eq!(store.quote_on_demand(1001, dec("1"), 1).await.map_err(|e| e.code().as_str()), Err("charging-mode-mismatch"));

        let expires = t0() + Duration::days(45);
        let id = store
            .create_resource(demo::KEY_ACCOUNT_CUSTOMER, 1001, PeriodType::Month, ExpiryPolicy::GracePeriod, t0() - Duration::days(15), expires, None, None)
            .await
            .expect("resource");
        let resource = store.resource(id).await.expect("read").expect("resource");
        assert_eq!(store.quote_renewal(&resource, 2).await.expect("quote").amount, dec("400.00"));
        // Nothing was paid for this one: the new spec at 88.50 a month for the 45 days (1.5
        // months) left, 132.75, with nothing to set against it.
        let change = store.quote_spec_change(&resource, 2001, dec("88.50"), t0()).await.expect("quote");
        assert_eq!((change.unit_price, change.amount), (dec("88.50"), dec("132.75")));

        // Three months at 100.00 paid from t0 (92 days, 300.00); 46 days in, 150.00 of it is
        // unused. The new spec for the rest, half of the term's three months on the same
        // footing: 60.00 × 1.5 = 90.00, a credit of 60.00; at 120.00 (180.00), 30.00 to pay.
        reseller_accounts(&store, "1000.00", "0.00").await;
        let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
        let order = store.create_order(&order, &reseller_admin(), "o-1", t0()).await.expect("order");
        store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        let paid = store.resource(provisioned(&store, order.id).await).await.expect("read").expect("resource");
        let half = t0() + Duration::days(46);
        let cheaper = store.quote_spec_change(&paid, 2002, dec("60.00"), half).await.expect("quote");
        assert_eq!((cheaper.periods, cheaper.amount), (dec("1.5"), dec("-60.00")));
        let dearer = store.quote_spec_change(&paid, 2002, dec("120.00"), half).await.expect("quote");
        assert_eq!(dearer.amount, dec("30.00"));
        // A minute before expiry, a minute's worth: no free day.
        let last_minute = store.quote_spec_change(&paid, 2002, dec("120.00"), paid.expires_at - Duration::minutes(1)).await.expect("quote");
        assert_eq!(last_minute.amount, dec("0.00"));
        assert!(last_minute.periods > dec("0"), "{last_minute:?}");
    }
    async fn rule_10_a_renewal_paid_while_unsubscribing_is_refunded_too_or_refused(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "100000.00", "0.00").await;
        // Within the renewal order's 7 days to pay.
        let now = t0() + Duration::days(5);
        for round in 0..6 {
            let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
            let order = store.create_order(&order, &reseller_admin(), &format!("o-{round}"), t0()).await.expect("order");
            store
                .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), &format!("p-{round}"), t0())
                .await
                .expect("paid");
            let resource = provisioned(&store, order.id).await;
            let renewal = renewal_order(&store, resource, PeriodType::Month, 2, &format!("r-{round}")).await;
            // The renewal's payment and the unsubscription race.
            let (paid, done) = pay_while_unsubscribing(&store, renewal, resource, &format!("pr-{round}"), &format!("u-{round}"), now).await;
            let refunded: Vec<OrderId> = done.refunds.iter().map(|r| r.order).collect();
            match paid {
                // Paid first: the unsubscription refunded its unused part too.
                Ok(_) => assert!(refunded.contains(&renewal), "round {round}: {done:?}"),
                // Closed first: the renewal could not extend a closed resource and took nothing.
                Err(e) => {
                    assert_eq!(e.code().as_str(), "not-renewable", "round {round}");
                    assert!(!refunded.contains(&renewal));
                    assert_eq!(store.order(renewal).await.expect("read").expect("order").status, OrderStatus::PendingPayment);
                }
            }
        }
    }

    async fn rule_10_unsubscribing_closes_the_resource_and_refunds_the_unused_part_of_what_was_paid(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        // Three months of product 2001 at 100.00, paid by the partner on 2026-11-02: the
        // payment provisions the resource until 2027-02-02.
        let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
        let order = store.create_order(&order, &reseller_admin(), "o-1", t0()).await.expect("order");
        store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        let resource = provisioned(&store, order.id).await;
        // Renewed for 2 months at 10.00 (a renewal order, 20.00): until 2027-04-02.
        renew_by_order(&store, resource, PeriodType::Month, 2, "m2").await.expect("renewed");
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("680.00"));

        // On 2026-12-03, 61 of the first term's 92 days are left, and none of the renewal's
        // 59 has begun: each payment is refunded for the unused part of the stretch it paid
        // for, to whoever paid it: 300.00 × 61/92 = 198.91, and all of the renewal's 20.00.
        let now = t0() + Duration::days(31);
        let preview = store.unsubscription_refund(resource, now).await.expect("preview");
        assert_eq!((preview.order, preview.amount), (order.id, dec("218.91")));
        let done = store.unsubscribe_resource(resource, &reseller_admin(), "u-1", now).await.expect("unsubscribed");
        assert_eq!(done.closed, vec![resource]);
        assert_eq!(done.amount, dec("218.91"));
        let amounts: Vec<_> = done.refunds.iter().map(|r| (r.amount, r.account)).collect();
        assert_eq!(amounts, [(dec("198.91"), cash), (dec("20.00"), cash)]);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("898.91"));
        assert_eq!(ledger_sum(&store, cash).await, dec("898.91"), "the ledger sums to the balance");
        // A retry answers the same and pays nothing more; another request finds it closed.
        let retry = store.unsubscribe_resource(resource, &reseller_admin(), "u-1", now).await.expect("retry");
        assert_eq!(retry, done);
        let again = store.unsubscribe_resource(resource, &reseller_admin(), "u-2", now).await;
        assert_eq!(again.map(|_| ()).map_err(|e| e.code().as_str()), Err("resource-not-in-use"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("898.91"));
    }
    async fn rule_10_an_unsubscription_sent_twice_at_once_under_one_key_answers_both_alike(store: Store) {
        // Found by the ledger's property tests: a client retrying before its first attempt
        // was answered got `resource-not-in-use` (or `nothing-to-refund`) when the first
        // closed the resource between the retry's look-up of its key and its own look at the
        // resource.
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "100000.00", "0.00").await;
        let now = t0() + Duration::days(10);
        // The twin starts 0 to 9 ms after the first: some land in that window.
        for i in 0..60 {
            let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
            let order = store.create_order(&order, &reseller_admin(), &format!("o-{i}"), t0()).await.expect("order");
            store
                .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), &format!("p-{i}"), t0())
                .await
                .expect("paid");
            let resource = provisioned(&store, order.id).await;
            let key = format!("u-{i}");
            let admin = reseller_admin();
            let unsubscribe = || store.unsubscribe_resource(resource, &admin, &key, now);
            let later = async {
                tokio::time::sleep(std::time::Duration::from_micros(150 * i)).await;
                unsubscribe().await
            };
            let (one, other) = tokio::join!(unsubscribe(), later);
            let one = one.expect("unsubscribed");
            assert_eq!(other.expect("the twin answers it too"), one, "resource {resource}");
        }
        // Each refunded once: 300.00 × 82/92 days left = 267.39, sixty times.
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("100000.00") - dec("32.61") * Decimal::from(60));
        assert_eq!(ledger_sum(&store, cash).await, balance(&store, AccountKind::Cash).await);
    }
    async fn rule_10_an_unsubscription_refunds_what_was_paid_after_coupons_not_the_lines_price(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        // Three months at 100.00 (300.00), less a 100.00 coupon: 200.00 paid.
        let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
        let order = store.create_order(&order, &reseller_admin(), "o-1", t0()).await.expect("order");
        let quota = store.create_quota(demo::RESELLER, cny(), dec("1000.00"), dec("100.00")).await.expect("quota");
        let coupon = store.issue_coupon(quota, demo::STANDARD_CUSTOMER, dec("100.00"), &coupon_limits()).await.expect("coupon").id;
        assert_eq!(store.apply_coupons(order.id, &[coupon], None, t0()).await.expect("applied"), dec("200.00"));
        store
            .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        let resource = provisioned(&store, order.id).await;
        // Half the 92-day term left: half of the 200.00 paid, not half of the lines' 300.00.
        let done = store.unsubscribe_resource(resource, &reseller_admin(), "u-1", t0() + Duration::days(46)).await.expect("unsubscribed");
        assert_eq!(done.amount, dec("100.00"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("900.00"));
        assert_eq!(ledger_sum(&store, cash).await, dec("900.00"));
    }
    async fn spec_change_a_dearer_spec_is_charged_for_the_rest_of_the_term_and_refunded_for_its_unused_part(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        let pay = |order, key: &'static str, at| {
            let store = store.clone();
            async move { store.pay_order(order, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), key, at).await }
        };
        // Three months of product 2001 at 100.00 from 2026-09-23: a 91-day term, 300.00.
        let start = t0() - Duration::days(40);
        let bought = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
        let bought = store.create_order(&bought, &reseller_admin(), "o-1", start).await.expect("order");
        pay(bought.id, "p-1", start).await.expect("paid");
        let resource = provisioned(&store, bought.id).await;
        // A renewal ordered before the change, at the old spec's price.
        let renewal = renewal_order(&store, resource, PeriodType::Month, 2, "r-1").await;

        // Half-way, the change to product 2002 is priced at 60.00 for the 46 days left, ordered
        // and paid: the spec changes in the payment's transaction, and the order completes.
        let half = start + Duration::days(45);
        let change = spec_change_order(&store, resource, 2002, "60.00", "0.00", half, "c-1").await;
        let paid = pay(change, "p-2", half).await.expect("change paid");
        assert_eq!((paid.amount, paid.refunds.len()), (dec("60.00"), 0));
        assert_eq!(store.resource(resource).await.expect("read").expect("resource").product, 2002);
        assert_eq!(store.order(change).await.expect("read").expect("order").status, OrderStatus::Completed);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("640.00"));

        // The renewal priced for the old spec can no longer be paid, and takes nothing.
        let stale = pay(renewal, "p-3", half).await;
        assert_eq!(stale.map(|_| ()).map_err(|e| e.code().as_str()), Err("resource-changed"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("640.00"));

        // Three quarters in, 23 days are left of each: 300.00 × 23/91 = 75.82 of the purchase
        // and 60.00 × 23/46 = 30.00 of the change come back to the partner that paid both.
        let done = store.unsubscribe_resource(resource, &reseller_admin(), "u-1", start + Duration::days(68)).await.expect("unsubscribed");
        let amounts: Vec<_> = done.refunds.iter().map(|r| (r.order, r.amount)).collect();
        assert_eq!(amounts, [(bought.id, dec("75.82")), (change, dec("30.00"))]);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("745.82"));
        assert_eq!(ledger_sum(&store, cash).await, dec("745.82"), "the ledger sums to the balance");
    }
    async fn spec_change_a_cheaper_spec_refunds_its_credit_to_the_payer_and_later_refunds_count_it(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        let pay = |order, key: &'static str, at| {
            let store = store.clone();
            async move { store.pay_order(order, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), key, at).await }
        };
        let buy = |key: &'static str| {
            let store = store.clone();
            async move {
                let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
                let order = store.create_order(&order, &reseller_admin(), key, t0()).await.expect("order");
                store
                    .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), &format!("pay-{key}"), t0())
                    .await
                    .expect("paid");
                (order.id, provisioned(&store, order.id).await)
            }
        };
        // 300.00 for 92 days; half-way, a cheaper spec credits 90.00 for the 46 days left. The
        // change order is free; paying it (confirming it) refunds the credit from the 150.00
        // still unused, to the partner that paid the term (rule 9).
        let (bought, resource) = buy("o-1").await;
        let half = t0() + Duration::days(46);
        let change = spec_change_order(&store, resource, 2002, "0.00", "90.00", half, "c-1").await;
        let paid = pay(change, "p-1", half).await.expect("confirmed");
        let refunds: Vec<_> = paid.refunds.iter().map(|r| (r.order, r.amount, r.account)).collect();
        assert_eq!((paid.amount, refunds), (dec("0.00"), vec![(bought, dec("90.00"), cash)]));
        assert_eq!(store.resource(resource).await.expect("read").expect("resource").product, 2002);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("790.00"));
        // The rest of the term is now worth 60.00: three quarters in, half of that comes back.
        let done = store.unsubscribe_resource(resource, &reseller_admin(), "u-1", t0() + Duration::days(69)).await.expect("unsubscribed");
        assert_eq!(done.amount, dec("30.00"));
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("820.00"));

        // Priced half-way but confirmed 6 days later: the credit shrinks with the time left,
        // 90.00 × 40/46 = 78.26 (rounded down), not what was quoted.
        let (_, second) = buy("o-2").await;
        let change = spec_change_order(&store, second, 2002, "0.00", "90.00", half, "c-2").await;
        let later = half + Duration::days(6);
        let paid = pay(change, "p-2", later).await.expect("confirmed");
        assert_eq!(paid.refunds.iter().map(|r| r.amount).collect::<Vec<_>>(), [dec("78.26")]);
        // A retry under the payment's key answers the same and refunds nothing more.
        let retry = pay(change, "p-2", later).await.expect("retry");
        assert_eq!(retry, paid);
        assert_eq!(balance(&store, AccountKind::Cash).await, dec("598.26"));
        assert_eq!(ledger_sum(&store, cash).await, dec("598.26"), "the ledger sums to the balance");

        // A change priced before a renewal was paid no longer applies: the term it was priced
        // for moved. Its payment is refused and changes nothing.
        let (_, third) = buy("o-3").await;
        let change = spec_change_order(&store, third, 2002, "0.00", "90.00", half, "c-3").await;
        renew_by_order(&store, third, PeriodType::Month, 1, "r-3").await.expect("renewed");
        let stale = pay(change, "p-3", half).await;
        assert_eq!(stale.map(|_| ()).map_err(|e| e.code().as_str()), Err("resource-changed"));
        assert_eq!(store.resource(third).await.expect("read").expect("resource").product, 2001);
        assert_eq!(store.order(change).await.expect("read").expect("order").status, OrderStatus::PendingPayment);
    }
    async fn spec_change_there_and_back_leaves_the_customer_paying_for_what_it_used(store: Store) {
        seeded(&store).await;
        let (cash, _) = reseller_accounts(&store, "1000.00", "0.00").await;
        // Three months of product 2002 at 240.00 (the partner's price, below list) from t0:
        // 720.00 for 92 days.
        let bought = NewOrder { lines: vec![NewOrderLine { product: 2002, ..line("240.00", 1, 3) }], ..order_of("0.00") };
        let bought = store.create_order(&bought, &reseller_admin(), "o-1", t0()).await.expect("order");
        store
            .pay_order(bought.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), "p-1", t0())
            .await
            .expect("paid");
        let resource = provisioned(&store, bought.id).await;
        let half = t0() + Duration::days(46);
        // Half-way, down to product 2001 at 80.00 and back to 2002 at 240.00, five times. Each
        // change is priced against what the rest of the term is worth, not the list price the
        // customer never paid: going there and back costs it the rounding, never earns it.
        for round in 0..5 {
            for (to, price) in [(2001, "80.00"), (2002, "240.00")] {
                let found = store.resource(resource).await.expect("read").expect("resource");
                let quoted = store.quote_spec_change(&found, to, dec(price), half).await.expect("quote");
                let (amount, credit) = (quoted.amount.max(Decimal::ZERO), (-quoted.amount).max(Decimal::ZERO));
                let key = format!("{round}-{to}");
                let order = spec_change_order(&store, resource, to, &amount.to_string(), &credit.to_string(), half, &key).await;
                store
                    .pay_order(order, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), &format!("pay-{key}"), half)
                    .await
                    .expect("paid");
            }
        }
        // The rest of the term, on 2002 again, is worth 240.00 × 46/30 = 368.00: unsubscribed
        // now, the customer has spent the used half, 360.00, and the rounding of the changes.
        let done = store.unsubscribe_resource(resource, &reseller_admin(), "u-1", half).await.expect("unsubscribed");
        let spent = dec("1000.00") - balance(&store, AccountKind::Cash).await;
        assert!(spent >= dec("360.00") && spent <= dec("360.10"), "spent {spent}: {done:?}");
        assert_eq!(ledger_sum(&store, cash).await, balance(&store, AccountKind::Cash).await);
    }
    async fn spec_change_paid_while_unsubscribing_is_refunded_too_or_refused(store: Store) {
        seeded(&store).await;
        reseller_accounts(&store, "100000.00", "0.00").await;
        let now = t0() + Duration::days(5);
        for round in 0..6 {
            let order = NewOrder { lines: vec![line("100.00", 1, 3)], ..order_of("0.00") };
            let order = store.create_order(&order, &reseller_admin(), &format!("o-{round}"), t0()).await.expect("order");
            store
                .pay_order(order.id, Payer::Partner(demo::RESELLER), &on_behalf_of(demo::STANDARD_CUSTOMER), &format!("p-{round}"), t0())
                .await
                .expect("paid");
            let resource = provisioned(&store, order.id).await;
            let change = spec_change_order(&store, resource, 2002, "50.00", "0.00", now, &format!("c-{round}")).await;
            // The change's payment and the unsubscription race.
            let (paid, done) = pay_while_unsubscribing(&store, change, resource, &format!("pc-{round}"), &format!("u-{round}"), now).await;
            let refunded: Vec<OrderId> = done.refunds.iter().map(|r| r.order).collect();
            match paid {
                // Paid first: the unsubscription refunded all of it too (none of it was used).
                Ok(_) => assert!(
                    done.refunds.iter().any(|r| r.order == change && r.amount == dec("50.00")),
                    "round {round}: {done:?}"
                ),
                // Closed first: the change no longer applies and took nothing.
                Err(e) => {
                    assert_eq!(e.code().as_str(), "resource-changed", "round {round}");
                    assert!(!refunded.contains(&change));
                    assert_eq!(store.order(change).await.expect("read").expect("order").status, OrderStatus::PendingPayment);
                }
            }
        }
    }
    async fn orders_are_listed_by_visible_customer_and_status_with_paging(store: Store) {
        seeded(&store).await;
        let both = OrderFilter { customers: vec![demo::KEY_ACCOUNT_CUSTOMER, demo::STANDARD_CUSTOMER], status: None };
        let ids = |orders: Vec<Order>| orders.iter().map(|o| o.id).collect::<Vec<_>>();
        assert_eq!(ids(store.find_orders(&both, 0, 10).await.expect("list")), vec![9001, 9002, 9003, 9004]);
        assert_eq!(ids(store.find_orders(&both, 9002, 1).await.expect("page")), vec![9003]);
        let pending = OrderFilter { status: Some(OrderStatus::PendingPayment), ..both };
        assert_eq!(ids(store.find_orders(&pending, 0, 10).await.expect("list")), vec![9004]);
        assert!(store.find_orders(&OrderFilter::default(), 0, 10).await.expect("list").is_empty());
    }
    async fn invocations_are_recorded_and_listed_newest_first_by_owner_and_digest(store: Store) {
        seeded(&store).await;
        let record = |owner: i64, digest: &str, failure: Option<&str>| crate::audit::InvocationRecord {
            id: 0,
            plugin: "rule@0.1.0".into(),
            digest: digest.into(),
            world: "pricing-rule".into(),
            owner,
            input_hash: crate::audit::InvocationRecord::hash_input("{}"),
            input: "{}".into(),
            as_of: t0(),
            output: failure.is_none().then(|| "{}".to_string()),
            failure: failure.map(str::to_owned),
            duration_us: 120,
            fuel_used: Some(4000),
            capability_calls: 0,
            denied_calls: 0,
            logs: "[]".into(),
            purpose: "live".into(),
        };
        let first = store.record_invocation(&record(demo::RESELLER, "aa", None), t0()).await.expect("recorded");
        let second = store.record_invocation(&record(demo::RESELLER, "bb", Some("{\"kind\":\"timeout\"}")), t0()).await.expect("recorded");
        store.record_invocation(&record(demo::SELLER, "aa", None), t0()).await.expect("recorded");
        let by_owner = store.invocations(&AuditFilter { owner: Some(demo::RESELLER), ..AuditFilter::default() }, 10).await.expect("list");
        assert_eq!(by_owner.iter().map(|r| r.id).collect::<Vec<_>>(), vec![second, first], "newest first");
        assert_eq!(by_owner[0].failure.as_deref(), Some("{\"kind\":\"timeout\"}"));
        let by_digest = store.invocations(&AuditFilter { digest: Some("aa".into()), ..AuditFilter::default() }, 10).await.expect("list");
        assert_eq!(by_digest.len(), 2);
        assert_eq!(store.invocations(&AuditFilter::default(), 1).await.expect("list").len(), 1);
    }

    async fn invocations_filter_by_plugin_name_or_label_world_outcome_and_page_before_an_id(store: Store) {
        seeded(&store).await;
        let record = |plugin: &str, world: &str, failed: bool| crate::audit::InvocationRecord {
            id: 0,
            plugin: plugin.into(),
            digest: "dd".into(),
            world: world.into(),
            owner: demo::RESELLER,
            input_hash: crate::audit::InvocationRecord::hash_input("{}"),
            input: "{}".into(),
            as_of: t0(),
            output: (!failed).then(|| "{}".to_string()),
            failure: failed.then(|| "{\"kind\":\"trap\"}".to_string()),
            duration_us: 1,
            fuel_used: None,
            capability_calls: 0,
            denied_calls: 0,
            logs: "[]".into(),
            purpose: "live".into(),
        };
        let mut ids = Vec::new();
        for (plugin, world, failed) in [
            ("rule@0.1.0", "pricing-rule", false),
            ("rule@0.2.0", "pricing-rule", true),
            ("rules@0.1.0", "pricing-rule", false),
            ("ru_e@0.1.0", "approval-rule", true),
            ("rule@0.2.0", "approval-rule", false),
        ] {
            ids.push(store.record_invocation(&record(plugin, world, failed), t0()).await.expect("recorded"));
        }
        let found = |filter: AuditFilter| {
            let store = store.clone();
            async move {
                store.invocations(&filter, 10).await.expect("list").iter().map(|r| r.id).collect::<Vec<_>>()
            }
        };
        // A name matches every version of it, and only it: not "rules", not "ru_e" (no wildcards).
        assert_eq!(found(AuditFilter { plugin: Some("rule".into()), ..AuditFilter::default() }).await, vec![ids[4], ids[1], ids[0]]);
        assert_eq!(found(AuditFilter { plugin: Some("rule@0.2.0".into()), ..AuditFilter::default() }).await, vec![ids[4], ids[1]]);
        assert_eq!(found(AuditFilter { plugin: Some("ru_e".into()), ..AuditFilter::default() }).await, vec![ids[3]]);
        assert_eq!(found(AuditFilter { plugin: Some("ru%".into()), ..AuditFilter::default() }).await, Vec::<i64>::new());
        assert_eq!(found(AuditFilter { world: Some("approval-rule".into()), ..AuditFilter::default() }).await, vec![ids[4], ids[3]]);
        assert_eq!(found(AuditFilter { failed: Some(true), ..AuditFilter::default() }).await, vec![ids[3], ids[1]]);
        assert_eq!(found(AuditFilter { failed: Some(false), ..AuditFilter::default() }).await, vec![ids[4], ids[2], ids[0]]);
        assert_eq!(found(AuditFilter { before: Some(ids[3]), ..AuditFilter::default() }).await, vec![ids[2], ids[1], ids[0]]);
        let combined = AuditFilter {
            plugin: Some("rule".into()),
            world: Some("pricing-rule".into()),
            failed: Some(false),
            before: Some(ids[4]),
            owner: Some(demo::RESELLER),
            digest: Some("dd".into()),
            purpose: Some("live".into()),
            since: Some(t0()),
            until: Some(t0() + Duration::minutes(1)),
        };
        assert_eq!(found(combined).await, vec![ids[0]]);
        let page = store.invocations(&AuditFilter { before: Some(ids[4]), ..AuditFilter::default() }, 2).await.expect("page");
        assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![ids[3], ids[2]]);
        // The time filters, on the as-of time: from a time on (inclusive), before a time (exclusive).
        let later = crate::audit::InvocationRecord { as_of: t0() + Duration::hours(1), ..record("rule@0.1.0", "pricing-rule", false) };
        let later = store.record_invocation(&later, t0()).await.expect("recorded");
        assert_eq!(found(AuditFilter { since: Some(t0() + Duration::minutes(30)), ..AuditFilter::default() }).await, vec![later]);
        assert_eq!(found(AuditFilter { since: Some(t0() + Duration::hours(1)), ..AuditFilter::default() }).await, vec![later]);
        assert_eq!(found(AuditFilter { until: Some(t0() + Duration::hours(1)), ..AuditFilter::default() }).await, vec![ids[4], ids[3], ids[2], ids[1], ids[0]]);
        assert_eq!(found(AuditFilter { since: Some(t0()), until: Some(t0() + Duration::minutes(1)), plugin: Some("rule".into()), ..AuditFilter::default() }).await, vec![ids[4], ids[1], ids[0]]);
    }

    async fn an_order_from_a_saved_quote_claims_it_once_and_a_repeat_writes_nothing(store: Store) {
        seeded(&store).await;
        let expires = t0() + Duration::hours(1);
        let body = r#"{"lines":[{"product":2001,"amount":"250.00"}]}"#;
        let quote = store
            .save_quote(demo::STANDARD_CUSTOMER, cny(), dec("250.00"), &order_of("250.00").lines, body, "partner-admin:2/500", t0(), expires)
            .await
            .expect("saved");
        let saved = store.saved_quote(quote).await.expect("read").expect("quote");
        assert_eq!((saved.id, saved.customer, saved.currency, saved.total), (quote, 102, cny(), dec("250.00")));
        assert_eq!((saved.body.as_str(), saved.created_at, saved.expires_at), (body, t0(), expires));
        assert_eq!(saved.lines, Some(order_of("250.00").lines), "the lines an order from it gets, typed");
        assert_eq!((saved.created_by.as_str(), saved.order), ("partner-admin:2/500", None));
        assert_eq!(store.saved_quote(4242).await.expect("read"), None);

        let from_quote = NewOrder { quote: Some(quote), ..order_of("250.00") };
        let first = store.create_order(&from_quote, &reseller_admin(), "q-1", t0()).await.expect("ordered");
        assert_eq!(first.amount, dec("250.00"));
        assert_eq!(store.saved_quote(quote).await.expect("read").expect("quote").order, Some(first.id));
        assert_eq!(store.order(first.id).await.expect("read").expect("order").quote, Some(quote));
        let orders_now = store.recent_orders(demo::STANDARD_CUSTOMER, 100).await.expect("orders");
        assert_eq!(orders_now.len(), 3, "9003, 9004 and the new one");

        // Another order from the same quote is refused and writes nothing.
        let second = store.create_order(&from_quote, &reseller_admin(), "q-2", t0()).await;
        assert_eq!(second.map(|_| ()).map_err(|e| e.code().as_str()), Err("quote-already-ordered"));
        // The same request again returns the first order, writing nothing.
        let repeat = store.create_order(&from_quote, &reseller_admin(), "q-1", t0() + Duration::minutes(5)).await.expect("repeat");
        assert_eq!(repeat, CreatedOrder { replayed: true, ..first });
        // The quote is part of the request: the same key without it is another request.
        let without = store.create_order(&order_of("250.00"), &reseller_admin(), "q-1", t0()).await;
        assert_eq!(without.map(|_| ()).map_err(|e| e.code().as_str()), Err("idempotency-key-reused"));
        assert_eq!(store.recent_orders(demo::STANDARD_CUSTOMER, 100).await.expect("orders"), orders_now);
        assert_eq!(store.saved_quote(quote).await.expect("read").expect("quote").order, Some(first.id));

        // A quote of another customer, another currency, or none at all does not fit.
        let other = NewOrder { customer: demo::KEY_ACCOUNT_CUSTOMER, ..from_quote.clone() };
        assert_eq!(store.create_order(&other, &reseller_admin(), "q-3", t0()).await.map(|_| ()).map_err(|e| e.code().as_str()), Err("quote-mismatch"));
        let usd = NewOrder { currency: "USD".parse().expect("currency"), ..from_quote.clone() };
        assert_eq!(store.create_order(&usd, &reseller_admin(), "q-4", t0()).await.map(|_| ()).map_err(|e| e.code().as_str()), Err("quote-mismatch"));
        let missing = NewOrder { quote: Some(4242), ..from_quote.clone() };
        assert_eq!(store.create_order(&missing, &reseller_admin(), "q-5", t0()).await.map(|_| ()).map_err(|e| e.code().as_str()), Err("quote-mismatch"));
        assert_eq!(store.recent_orders(demo::STANDARD_CUSTOMER, 100).await.expect("orders").len(), 3);
    }

    async fn an_expired_quote_cannot_be_ordered(store: Store) {
        seeded(&store).await;
        let expires = t0() + Duration::hours(1);
        let lines = order_of("10.00").lines;
        let save = |now, expires_at| store.save_quote(demo::STANDARD_CUSTOMER, cny(), dec("10.00"), &lines, "{}", "customer:102", now, expires_at);
        let quote = save(t0(), expires).await.expect("saved");
        let order = NewOrder { quote: Some(quote), ..order_of("10.00") };
        let late = store.create_order(&order, &reseller_admin(), "late", expires).await;
        assert_eq!(late.map(|_| ()).map_err(|e| e.code().as_str()), Err("quote-expired"));
        assert_eq!(store.saved_quote(quote).await.expect("read").expect("quote").order, None);
        assert_eq!(store.recent_orders(demo::STANDARD_CUSTOMER, 100).await.expect("orders").len(), 2, "nothing written");
        // The key was not used up by the refusal: within the window it orders.
        let in_time = store.create_order(&order, &reseller_admin(), "late", expires - Duration::milliseconds(1)).await.expect("in time");
        assert_eq!(store.order(in_time.id).await.expect("read").expect("order").quote, Some(quote));
        // A quote is saved only with an expiry after its pricing, for an existing customer.
        assert_eq!(save(t0(), t0()).await.map_err(|e| e.code().as_str()), Err("invalid-field"));
        let unknown = store.save_quote(4242, cny(), dec("1.00"), &lines, "{}", "operator", t0(), expires).await;
        assert_eq!(unknown.map_err(|e| e.code().as_str()), Err("customer-not-found"));
        // A quote without lines orders nothing.
        let empty = store.save_quote(demo::STANDARD_CUSTOMER, cny(), dec("1.00"), &[], "{}", "operator", t0(), expires).await;
        assert_eq!(empty.map_err(|e| e.code().as_str()), Err("invalid-field"));
    }

    async fn rule_16_find_customers_filters_by_manager_partner_and_state_with_paging(store: Store) {
        seeded(&store).await;
        let ids = |customers: Vec<Customer>| customers.iter().map(|c| c.id).collect::<Vec<_>>();
        let reseller = CustomerFilter { partners: vec![demo::RESELLER], ..CustomerFilter::default() };
        assert_eq!(ids(store.find_customers(&reseller, 0, 100).await.expect("list")), vec![101, 102, 103, 106]);
        // Manager 501 sees only the customers assigned to it (rule 16), page by page.
        let manager = CustomerFilter { managers: Some(vec![demo::STAFF_MANAGER]), ..reseller.clone() };
        assert_eq!(ids(store.find_customers(&manager, 0, 100).await.expect("list")), vec![101, 103, 106]);
        assert_eq!(ids(store.find_customers(&manager, 0, 2).await.expect("page 1")), vec![101, 103]);
        assert_eq!(ids(store.find_customers(&manager, 103, 2).await.expect("page 2")), vec![106]);
        assert_eq!(ids(store.find_customers(&manager, 106, 2).await.expect("page 3")), Vec::<i64>::new());
        let salesperson = CustomerFilter { managers: Some(vec![demo::STAFF_SALESPERSON]), ..reseller.clone() };
        assert_eq!(ids(store.find_customers(&salesperson, 0, 100).await.expect("list")), vec![102]);
        let nobody = CustomerFilter { managers: Some(Vec::new()), ..reseller.clone() };
        assert_eq!(ids(store.find_customers(&nobody, 0, 100).await.expect("list")), Vec::<i64>::new());
        // No partner restriction: every customer (the operator), with the equality filters.
        assert_eq!(ids(store.find_customers(&CustomerFilter::default(), 0, 100).await.expect("all")), vec![101, 102, 103, 104, 105, 106]);
        let both = CustomerFilter { partners: vec![demo::RESELLER, demo::SOLUTION_PROVIDER], ..CustomerFilter::default() };
        assert_eq!(ids(store.find_customers(&both, 102, 100).await.expect("list")), vec![103, 105, 106]);
        let referral = CustomerFilter { association: Some(Association::Referral), ..CustomerFilter::default() };
        assert_eq!(ids(store.find_customers(&referral, 0, 100).await.expect("list")), vec![105]);
        let frozen = CustomerFilter { freeze: Some(FreezeState::AccountFrozen), ..reseller.clone() };
        assert_eq!(ids(store.find_customers(&frozen, 0, 100).await.expect("list")), vec![103]);
        let unverified = CustomerFilter { real_name: Some(RealNameStatus::None), ..CustomerFilter::default() };
        assert_eq!(ids(store.find_customers(&unverified, 0, 100).await.expect("list")), Vec::<i64>::new());
        let managed = CustomerFilter {
            managers: Some(vec![demo::STAFF_MANAGER, demo::STAFF_SALESPERSON]),
            real_name: Some(RealNameStatus::Verified),
            association: Some(Association::Resale),
            freeze: Some(FreezeState::NotFrozen),
            ..reseller.clone()
        };
        assert_eq!(ids(store.find_customers(&managed, 0, 100).await.expect("list")), vec![101, 102, 106]);
        // An unbound customer is no longer the partner's (rule 17).
        let admin = store.staff(demo::STAFF_ADMIN).await.expect("read").expect("admin");
        store.unbind_customer(demo::NEW_CUSTOMER, &admin, t0()).await.expect("unbound");
        assert_eq!(ids(store.find_customers(&manager, 0, 100).await.expect("list")), vec![101, 103]);
        assert_eq!(ids(store.find_customers(&CustomerFilter::default(), 105, 100).await.expect("all")), vec![106]);
    }

    async fn staff_are_created_for_a_partner_under_a_supervisor_of_the_same_partner(store: Store) {
        seeded(&store).await;
        let code = |r: Result<Staff, StoreError>| r.map(|_| ()).map_err(|e| e.code().as_str());
        assert_eq!(code(store.create_staff(demo::RESELLER, Role::PlatformOperator, None).await), Err("invalid-staff-role"));
        assert_eq!(code(store.create_staff(demo::RESELLER, Role::Customer, None).await), Err("invalid-staff-role"));
        assert_eq!(code(store.create_staff(4242, Role::Salesperson, None).await), Err("partner-not-found"));
        let not_a_supervisor = store.create_staff(demo::RESELLER, Role::Salesperson, Some(demo::STAFF_ADMIN)).await;
        assert_eq!(code(not_a_supervisor), Err("invalid-supervisor"));
        assert_eq!(code(store.create_staff(demo::RESELLER, Role::Salesperson, Some(4242)).await), Err("invalid-supervisor"));
        let elsewhere = store.create_staff(demo::OTHER_RESELLER, Role::Supervisor, None).await.expect("created");
        assert_eq!((elsewhere.partner, elsewhere.role, elsewhere.supervisor), (3, Role::Supervisor, None));
        assert_eq!(code(store.create_staff(demo::RESELLER, Role::CustomerManager, Some(elsewhere.id)).await), Err("invalid-supervisor"));
        let admin_with_supervisor = store.create_staff(demo::RESELLER, Role::PartnerAdmin, Some(demo::STAFF_SUPERVISOR)).await;
        assert_eq!(code(admin_with_supervisor), Err("invalid-supervisor"));

        let manager = store.create_staff(demo::RESELLER, Role::CustomerManager, Some(demo::STAFF_SUPERVISOR)).await.expect("created");
        assert_eq!((manager.partner, manager.role, manager.supervisor), (2, Role::CustomerManager, Some(502)));
        assert!(manager.id > demo::STAFF_SECOND_ADMIN, "new ids follow the demo's: {}", manager.id);
        assert_eq!(store.staff(manager.id).await.expect("read"), Some(manager.clone()));
        let reseller_staff: Vec<i64> = store.staff_of(demo::RESELLER).await.expect("staff").iter().map(|s| s.id).collect();
        assert_eq!(reseller_staff, vec![500, 501, 502, 503, 509, manager.id]);
        assert_eq!(store.staff_of(demo::OTHER_RESELLER).await.expect("staff").iter().map(|s| s.id).collect::<Vec<_>>(), vec![506, elsewhere.id]);
        // Each demo partner has an admin.
        for (id, partner) in [
            (demo::DISTRIBUTOR_ADMIN, demo::DISTRIBUTOR),
            (demo::SELLER_ADMIN, demo::SELLER),
            (demo::OTHER_RESELLER_ADMIN, demo::OTHER_RESELLER),
            (demo::OTHER_SELLER_ADMIN, demo::OTHER_SELLER),
            (demo::SOLUTION_PROVIDER_ADMIN, demo::SOLUTION_PROVIDER),
        ] {
            let admin = store.staff(id).await.expect("read").expect("admin");
            assert_eq!((admin.partner, admin.role, admin.supervisor), (partner, Role::PartnerAdmin, None));
        }
        assert_eq!(store.staff_of(demo::DISTRIBUTOR).await.expect("staff").iter().map(|s| s.id).collect::<Vec<_>>(), vec![504]);
        // The supervisor now also sees the new manager's customers (none yet) and 501's.
        let supervisor = store.staff(demo::STAFF_SUPERVISOR).await.expect("read").expect("supervisor");
        let visible: Vec<i64> = store.customers_visible_to(&supervisor).await.expect("visible").iter().map(|c| c.id).collect();
        assert_eq!(visible, vec![101, 103, 106]);
    }

    async fn amounts_beyond_the_platforms_range_are_refused_with_a_code_and_write_nothing(store: Store) {
        seeded(&store).await;
        let huge = dec("7922816251426433759354395033");
        let code = |r: Result<(), StoreError>| r.map_err(|e| e.code().as_str());
        let admin = reseller_admin();
        let cash = store
            .open_account(AccountOwner::Partner(demo::RESELLER), AccountKind::Cash, cny(), Decimal::ZERO)
            .await
            .expect("account");
        // Once an overflow in the cents conversion: a refusal now.
        let top_up = store.top_up(cash.id, huge, &admin, "huge", t0()).await.map(|_| ());
        assert_eq!(code(top_up), Err("amount-out-of-range"));
        let to_customer = AllocationTarget::Customer(demo::STANDARD_CUSTOMER);
        for result in [
            store.allocate(demo::RESELLER, to_customer, cny(), huge, &admin, "huge", t0()).await.map(|_| ()),
            store.reclaim(demo::RESELLER, to_customer, cny(), huge, &admin, "huge", t0()).await.map(|_| ()),
            store.set_budget(demo::STANDARD_CUSTOMER, huge).await,
            store.create_quota(demo::RESELLER, cny(), huge, dec("1.00")).await.map(|_| ()),
        ] {
            assert_eq!(code(result), Err("amount-out-of-range"));
        }

        // A balance fills up to the range and no further, however many credits arrive.
        store.top_up(cash.id, MAX_AMOUNT, &admin, "up-to-range", t0()).await.expect("up to the range");
        let over = store.top_up(cash.id, dec("0.01"), &admin, "beyond-range", t0()).await.map(|_| ());
        assert!(
            matches!(&over, Err(StoreError::Refused(DomainError::AmountOutOfRange { field: Some(f), .. })) if f == "amount"),
            "got {over:?}"
        );
        assert_eq!(balance(&store, AccountKind::Cash).await, MAX_AMOUNT);
        assert_eq!(ledger_sum(&store, cash.id).await, MAX_AMOUNT, "the refused credit wrote no entry");

        // An order's lines and totals stay within the range, whatever their prices.
        let line_beyond = NewOrder { lines: vec![line("1000000.00", 100_000, 100_000)], ..order_of("1.00") };
        let refused = store.create_order(&line_beyond, &admin, "beyond", t0()).await;
        assert!(
            matches!(&refused, Err(StoreError::Refused(DomainError::AmountOutOfRange { field: Some(f), .. })) if f == "lines[0]"),
            "got {refused:?}"
        );
        let max_price = NewOrder { lines: vec![line("79228162514264337593543950335", 2, 1)], ..order_of("1.00") };
        let refused = store.create_order(&max_price, &admin, "max", t0()).await.map(|_| ());
        assert_eq!(code(refused), Err("amount-out-of-range"), "an overflowing product is a refusal, not a panic");
        let many = NewOrder { lines: vec![line("500000000000000.00", 1, 1); 3], ..order_of("1.00") };
        let refused = store.create_order(&many, &admin, "many", t0()).await.map(|_| ());
        assert_eq!(code(refused), Err("amount-out-of-range"), "each line is within range, their sum is not");
    }

    async fn partners_quotas_coupons_accounts_opportunities_and_resources_are_listed_by_id(store: Store) {
        seeded(&store).await;
        let partner_ids = |partners: Vec<Partner>| partners.iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(partner_ids(store.partners_list(0, 3).await.expect("page 1")), vec![1, 2, 3]);
        assert_eq!(partner_ids(store.partners_list(3, 1000).await.expect("page 2")), vec![4, 10, 11]);
        assert_eq!(store.partners_list(0, 1).await.expect("one")[0].name, "Huaxia Cloud Distribution");

        let q1 = store.create_quota(demo::RESELLER, cny(), dec("500.00"), dec("100.00")).await.expect("quota");
        let q2 = store.create_quota(demo::OTHER_RESELLER, cny(), dec("500.00"), dec("100.00")).await.expect("quota");
        let q3 = store.create_quota(demo::RESELLER, cny(), dec("50.00"), dec("10.00")).await.expect("quota");
        let quotas = store.quotas_of(demo::RESELLER).await.expect("quotas");
        assert_eq!(quotas.iter().map(|q| (q.id, q.balance)).collect::<Vec<_>>(), vec![(q1, dec("500.00")), (q3, dec("50.00"))]);
        assert_eq!(store.quotas_of(demo::SELLER).await.expect("none").len(), 0);

        let issue = |quota, customer, face: &str| {
            let store = store.clone();
            let face = dec(face);
            async move { store.issue_coupon(quota, customer, face, &coupon_limits()).await.expect("issued").id }
        };
        let c1 = issue(q1, demo::KEY_ACCOUNT_CUSTOMER, "10.00").await;
        let c2 = issue(q1, demo::STANDARD_CUSTOMER, "20.00").await;
        let c3 = issue(q2, demo::OTHER_RESELLERS_CUSTOMER, "30.00").await;
        let c4 = issue(q3, demo::STANDARD_CUSTOMER, "5.00").await;
        let coupons = |partner, customer, after, limit| {
            let store = store.clone();
            async move {
                store.coupons_of(partner, customer, after, limit).await.expect("coupons").iter().map(|c| c.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(coupons(Some(demo::RESELLER), None, 0, 10).await, vec![c1, c2, c4]);
        assert_eq!(coupons(None, Some(demo::STANDARD_CUSTOMER), 0, 10).await, vec![c2, c4]);
        assert_eq!(coupons(Some(demo::RESELLER), Some(demo::STANDARD_CUSTOMER), c2, 10).await, vec![c4]);
        assert_eq!(coupons(Some(demo::OTHER_RESELLER), Some(demo::STANDARD_CUSTOMER), 0, 10).await, Vec::<i64>::new());
        assert_eq!(coupons(None, None, c1, 2).await, vec![c2, c3]);
        let listed = store.coupons_of(None, Some(demo::OTHER_RESELLERS_CUSTOMER), 0, 10).await.expect("coupons");
        assert_eq!((listed[0].quota, listed[0].face, listed[0].status), (q2, dec("30.00"), CouponStatus::Usable));

        let (cash, credit) = reseller_accounts(&store, "300.00", "500.00").await;
        let accounts = store.accounts_of(AccountOwner::Partner(demo::RESELLER)).await.expect("accounts");
        assert_eq!(accounts.iter().map(|a| (a.id, a.kind)).collect::<Vec<_>>(), vec![(cash, AccountKind::Cash), (credit, AccountKind::Credit)]);
        assert_eq!(store.accounts_of(AccountOwner::Customer(demo::STANDARD_CUSTOMER)).await.expect("none").len(), 0);
        let found = store.account_by_id(cash).await.expect("read").expect("account");
        assert_eq!((found.owner, found.balance), (AccountOwner::Partner(demo::RESELLER), dec("300.00")));
        assert_eq!(store.account_by_id(4242).await.expect("read"), None);

        let po = |name: &str| NewOpportunity {
            customer_name: name.into(),
            budget: Some("1M CNY".into()),
            decision_maker: Some("CIO".into()),
            need: Some("cloud storage".into()),
            timeline: None,
            monthly_revenue: dec("12000.50"),
        };
        let (o1, _) = store.submit_po(demo::RESELLER, &po("Jade"), t0()).await.expect("submitted");
        store.submit_po(demo::OTHER_RESELLER, &po("Opal"), t0()).await.expect("submitted");
        let (o3, _) = store.submit_po(demo::RESELLER, &po("Ruby"), t0()).await.expect("submitted");
        let listed = store.opportunities_of(demo::RESELLER, 0, 10).await.expect("opportunities");
        assert_eq!(listed.iter().map(|o| o.id).collect::<Vec<_>>(), vec![o1, o3]);
        let first = &listed[0];
        assert_eq!((first.origin.as_str(), first.partner, first.customer_name.as_str()), ("po", 2, "Jade"));
        assert_eq!((first.budget.as_deref(), first.timeline.as_deref()), (Some("1M CNY"), None));
        assert_eq!((first.monthly_revenue, first.review, first.created_at), (dec("12000.50"), OpportunityReview::Incomplete, t0()));
        assert_eq!(store.opportunities_of(demo::RESELLER, o1, 1).await.expect("page").iter().map(|o| o.id).collect::<Vec<_>>(), vec![o3]);

        let until = t0() + Duration::days(30);
        let resource = |customer, product, period| {
            let store = store.clone();
            async move {
                store.create_resource(customer, product, period, ExpiryPolicy::GracePeriod, t0(), until, None, None).await.expect("resource")
            }
        };
        let r1 = resource(demo::KEY_ACCOUNT_CUSTOMER, 1001, PeriodType::Month).await;
        resource(demo::STANDARD_CUSTOMER, 1001, PeriodType::Month).await;
        let r3 = resource(demo::KEY_ACCOUNT_CUSTOMER, 1002, PeriodType::Hour).await;
        let resources = store.resources_of(demo::KEY_ACCOUNT_CUSTOMER).await.expect("resources");
        assert_eq!(resources.iter().map(|r| (r.id, r.product)).collect::<Vec<_>>(), vec![(r1, 1001), (r3, 1002)]);
        assert_eq!(store.resources_of(demo::NEW_CUSTOMER).await.expect("none").len(), 0);
    }
}

#[test]
fn the_best_offer_is_the_cheapest_discount_and_partner_discounts_keep_rule_19() {
    let offer = |kind, ratio: &str| Discount {
        kind,
        ratio: dec(ratio),
    };
    let priced = offers(
        dec("1000.00"),
        &[
            offer(DiscountKind::PartnerGranted, "0.90"),
            offer(DiscountKind::Promotion, "0.85"),
            offer(DiscountKind::Contract, "0.95"),
        ],
    )
    .expect("offers");
    let summary: Vec<(String, bool)> = priced.iter().map(|o| (o.amount.to_string(), o.best)).collect();
    assert_eq!(
        summary,
        vec![
            ("900.00".into(), false),
            ("850.00".into(), true),
            ("950.00".into(), false)
        ]
    );
    let too_deep = offers(dec("1000.00"), &[offer(DiscountKind::PartnerGranted, "0.75")]);
    assert_eq!(too_deep.map_err(|e| e.code().as_str()), Err("discount-out-of-range"));
}

fn coupon_limits() -> CouponLimits {
    CouponLimits {
        valid_from: t0() - Duration::days(1),
        valid_to: t0() + Duration::days(30),
        min_spend: Decimal::ZERO,
        service_type: None,
        min_discount_ratio: None,
        combines_with: vec![
            DiscountKind::PartnerGranted,
            DiscountKind::Contract,
            DiscountKind::Promotion,
        ],
    }
}

#[test]
fn rule_19_a_partner_granted_discount_lies_between_080_and_100_of_list() {
    for ok in ["0.80", "0.85", "1.00", "1", "0.9"] {
        assert_eq!(
            check_partner_discount(dec(ok)).map_err(|e| e.code().as_str()),
            Ok(dec(ok))
        );
    }
    for bad in ["0.79", "1.01", "0.855", "0", "-0.9"] {
        assert_eq!(
            check_partner_discount(dec(bad)).map_err(|e| e.code().as_str()),
            Err("discount-out-of-range"),
            "{bad}"
        );
    }
}

fn invoice(customer: CustomerId, issuer: Issuer, scope: InvoiceScope) -> NewInvoiceRequest {
    NewInvoiceRequest {
        customer,
        issuer,
        scope,
        kind: InvoiceKind::VatGeneral,
        medium: InvoiceMedium::Electronic,
        currency: cny(),
    }
}

fn title(customer: CustomerId, title_type: TitleType) -> InvoiceInfo {
    InvoiceInfo {
        customer,
        title_type,
        title: format!("Customer {customer}"),
        tax_id: Some("91110000TEST00001".into()),
    }
}
