//! Orders: creation from priced lines, payment from the payer's accounts, cancellation.
//!
//! Money moves in one transaction. Each debit is a conditional update that refuses to take an
//! account below zero (or a credit account below minus its limit), so concurrent payments
//! against one balance never overdraw it (rule 6). Create and pay take an idempotency key: a
//! repeat returns the first result and writes nothing.

use crate::accounts::{AccountKind, AccountOwner, Actor, account_from_row, insert_entry};
use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, out_of_range, refused};
use crate::money::{self, Currency, PRICE_PLACES, from_cents, in_range, to_cents};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

/// A pending-payment order expires after this long (rule 8).
pub const PAYMENT_WINDOW_DAYS: i64 = 7;
/// The most lines one order may have.
pub const MAX_ORDER_LINES: usize = 200;
/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

/// A priced line of a new order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrderLine {
    /// Product.
    pub product: ProductId,
    /// Period.
    pub period: PeriodType,
    /// Periods.
    pub period_count: u32,
    /// Units.
    pub quantity: u32,
    /// List price per unit per period.
    #[serde(with = "rust_decimal::serde::str")]
    pub list_unit_price: Decimal,
    /// Final price per unit per period (up to 6 places).
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
}

/// A new order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Customer.
    pub customer: CustomerId,
    /// Currency of every amount.
    pub currency: Currency,
    /// Lines.
    pub lines: Vec<NewOrderLine>,
    /// The saved quote the order is created from, which it claims (once) in the same
    /// transaction. Part of the idempotency fingerprint; left out of it when `None`, so that
    /// the fingerprints of orders without a quote are as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<i64>,
}

/// A created order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedOrder {
    /// Id.
    pub id: OrderId,
    /// Sum of list amounts.
    #[serde(with = "rust_decimal::serde::str")]
    pub list_amount: Decimal,
    /// Sum of line amounts: what is due.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// When payment must arrive by (rule 8); for an order in review, counted again from its
    /// release.
    pub payment_deadline: DateTime<Utc>,
    /// This is a retry's answer: the order was created by an earlier request with the same
    /// idempotency key.
    #[serde(skip)]
    pub replayed: bool,
}

/// A change of a resource to another spec, as its quote priced it: what an order of kind
/// `change` does when it is paid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpecChange {
    /// The resource.
    pub resource: i64,
    /// The spec it has.
    pub from_product: ProductId,
    /// The spec it changes to.
    pub to_product: ProductId,
    /// The expiry the change was priced up to: it applies only while the term ends there (a
    /// renewal paid since was priced for the old spec).
    pub term_ends_at: DateTime<Utc>,
    /// When it was priced.
    pub priced_at: DateTime<Utc>,
    /// For a cheaper spec, the price difference over the time left at `priced_at`: refunded
    /// when the change is paid, prorated to the time then left. Zero for a dearer spec, whose
    /// difference is the order's amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub credit: Decimal,
}

/// The spec change a row of `table` records in its `spec_change` column, if any.
pub(crate) fn spec_change_of(row: &sqlx::any::AnyRow, table: &'static str) -> Result<Option<SpecChange>, StoreError> {
    row.try_get::<Option<String>, _>("spec_change")?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            table,
            detail: format!("spec change: {e}"),
        })
}

/// A spec change as its `spec_change` column in `table` keeps it.
pub(crate) fn spec_change_text(change: Option<&SpecChange>, table: &'static str) -> Result<Option<String>, StoreError> {
    change
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            table,
            detail: format!("spec change does not serialise: {e}"),
        })
}

/// Who pays an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "payer", content = "id", rename_all = "kebab-case")]
pub enum Payer {
    /// The customer, from its own accounts.
    Customer,
    /// The customer's partner, on its behalf (rule 22).
    Partner(PartnerId),
}

/// One account debited by a payment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Debit {
    /// Account.
    pub account: i64,
    /// Its kind.
    pub kind: AccountKind,
    /// Amount taken.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// A paid order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    /// The order.
    pub order: OrderId,
    /// Amount paid.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Who paid.
    pub payer: Payer,
    /// Accounts debited, cash first (rule 6).
    pub debits: Vec<Debit>,
    /// When.
    pub paid_at: DateTime<Utc>,
    /// The refunds a change to a cheaper spec paid back, one per order that paid for the
    /// term, each to whoever paid it (rule 9).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<RefundDone>,
}

/// A partner pays only for its own resale customers (rules 12, 22); a customer pays itself
/// only when no request to its partner is pending (rule 22).
async fn check_payer(
    tx: &mut Transaction<'_, Any>,
    order: OrderId,
    customer: CustomerId,
    payer: Payer,
) -> Result<(), StoreError> {
    match payer {
        Payer::Partner(partner) => {
            let row = sqlx::query("SELECT partner, association FROM customers WHERE id = $1")
                .bind(customer)
                .fetch_one(&mut **tx)
                .await?;
            let owner: i64 = row.try_get("partner")?;
            let association: String = row.try_get("association")?;
            if owner != partner {
                return Err(DomainError::NotOfPartner {
                    what: "customer",
                    id: customer,
                    partner,
                }
                .into());
            }
            if association != Association::Resale.as_str() {
                return Err(DomainError::ReferralCustomer(customer).into());
            }
        }
        Payer::Customer => {
            let pending: Option<String> =
                sqlx::query_scalar("SELECT status FROM payment_requests WHERE order_id = $1 AND status = 'pending'")
                    .bind(order)
                    .fetch_optional(&mut **tx)
                    .await?;
            if pending.is_some() {
                return Err(refused(
                    ErrorCode::PaymentRequestedFromPartner,
                    format!(
                        "order {order} awaits its partner's payment: the customer pays it once the partner rejects the request (rule 22)"
                    ),
                ).into());
            }
        }
    }
    Ok(())
}

pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DomainError::Invalid {
            field: "idempotency_key",
            message: format!("1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"),
        }
        .into());
    }
    Ok(())
}

/// The fingerprint of a request under an idempotency key.
fn request_hash(request: &impl Serialize) -> Result<String, StoreError> {
    let body = serde_json::to_vec(request).map_err(|e| DomainError::Invalid {
        field: "request",
        message: e.to_string(),
    })?;
    Ok(hex::encode(Sha256::digest(&body)))
}

/// The answer remembered for `(scope, key)`, without claiming it: for a caller whose checks
/// would refuse a retry of a request that already succeeded (it closed what it checks).
/// `None` when the key is new or its request has not finished; a key used for another
/// request is refused.
pub(crate) async fn remembered<T: DeserializeOwned>(
    store: &Store,
    scope: &str,
    key: &str,
    request: &impl Serialize,
) -> Result<Option<T>, StoreError> {
    let row =
        sqlx::query("SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2")
            .bind(scope)
            .bind(key)
            .fetch_optional(store.pool())
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    if row.try_get::<String, _>("request_hash")? != request_hash(request)? {
        return Err(DomainError::IdempotencyKeyReused(key.to_owned()).into());
    }
    row.try_get::<Option<String>, _>("response")?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                table: "idempotency_keys",
                detail: e.to_string(),
            })
        })
        .transpose()
}

/// Claims `(scope, key)` for this request inside `tx`. Returns the first result when the key
/// was already used for the same request; refuses it for a different request.
pub(crate) async fn claim_key<T: DeserializeOwned>(
    tx: &mut Transaction<'_, Any>,
    scope: &str,
    key: &str,
    request: &impl Serialize,
    now: DateTime<Utc>,
) -> Result<Option<T>, StoreError> {
    let hash = request_hash(request)?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(&hash)
    .bind(now.timestamp_millis())
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    let row =
        sqlx::query("SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2")
            .bind(scope)
            .bind(key)
            .fetch_one(&mut **tx)
            .await?;
    let stored_hash: String = row.try_get("request_hash")?;
    let response: Option<String> = row.try_get("response")?;
    match response {
        Some(response) if stored_hash == hash => {
            serde_json::from_str(&response)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    table: "idempotency_keys",
                    detail: e.to_string(),
                })
        }
        _ => Err(DomainError::IdempotencyKeyReused(key.to_owned()).into()),
    }
}

fn quote_already_ordered(quote: i64) -> DomainError {
    refused(
        ErrorCode::QuoteAlreadyOrdered,
        format!("quote {quote} was already turned into an order"),
    )
}

/// An order may be created from a saved quote of the same customer and currency, before the
/// quote expires, and only once; checked inside the order's transaction (the claim itself
/// follows the order's insert). Returns the resource the quote renews, for a renewal quote, and
/// the change a spec change quote prices, which must still apply to its resource.
async fn check_quote(
    tx: &mut Transaction<'_, Any>,
    quote: i64,
    order: &NewOrder,
    now: DateTime<Utc>,
) -> Result<(Option<i64>, Option<SpecChange>), StoreError> {
    let row = sqlx::query(
        "SELECT customer, currency, expires_at, order_id, renews_resource, spec_change FROM quotes WHERE id = $1",
    )
    .bind(quote)
    .fetch_optional(&mut **tx)
    .await?;
    let mismatch = || {
        refused(
            ErrorCode::QuoteMismatch,
            format!("customer {} has no quote {quote} in {}", order.customer, order.currency),
        )
    };
    let Some(row) = row else {
        return Err(mismatch().into());
    };
    let customer: i64 = row.try_get("customer")?;
    let currency: String = row.try_get("currency")?;
    if customer != order.customer || currency != order.currency.as_str() {
        return Err(mismatch().into());
    }
    let ordered: Option<i64> = row.try_get("order_id")?;
    if ordered.is_some() {
        return Err(quote_already_ordered(quote).into());
    }
    let expires_at: i64 = row.try_get("expires_at")?;
    if now.timestamp_millis() >= expires_at {
        return Err(refused(
            ErrorCode::QuoteExpired,
            format!("quote {quote} expired: price the order again"),
        )
        .into());
    }
    let change = spec_change_of(&row, "quotes")?;
    if let Some(change) = &change {
        check_change_applies(tx, change).await?;
    }
    Ok((row.try_get("renews_resource")?, change))
}

/// A spec change applies to a resource still in use, with the spec it was priced from and the
/// expiry it was priced up to; else `resource-changed`.
async fn check_change_applies(tx: &mut Transaction<'_, Any>, change: &SpecChange) -> Result<(), StoreError> {
    let still: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM resources WHERE id = $1 AND status = 'in-use' AND product = $2 AND expires_at = $3",
    )
    .bind(change.resource)
    .bind(change.from_product)
    .bind(change.term_ends_at.timestamp_millis())
    .fetch_optional(&mut **tx)
    .await?;
    if still.is_none() {
        return Err(resource_changed(change.resource).into());
    }
    Ok(())
}

fn resource_changed(resource: i64) -> DomainError {
    refused(
        ErrorCode::ResourceChanged,
        format!("resource {resource} was renewed, changed or closed since the change was priced: price it again"),
    )
}

/// Stores the result of the request that claimed `(scope, key)`, in the same transaction.
pub(crate) async fn remember(
    tx: &mut Transaction<'_, Any>,
    scope: &str,
    key: &str,
    response: &impl Serialize,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(response).map_err(|e| DomainError::Invalid {
        field: "response",
        message: e.to_string(),
    })?;
    sqlx::query("UPDATE idempotency_keys SET response = $1 WHERE scope = $2 AND idempotency_key = $3")
        .bind(text)
        .bind(scope)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Creates a pending-payment order from priced lines (rule 8: payable for 7 days).
    pub async fn create_order(
        &self,
        order: &NewOrder,
        actor: &Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedOrder, StoreError> {
        self.insert_order(order, OrderStatus::PendingPayment, actor, idempotency_key, now)
            .await
    }

    /// The order a request of `actor` with `idempotency_key` already created, if any: for a
    /// caller that must not redo its work before creating the order again (a renewal would
    /// price a new quote, and a new quote is another request).
    pub async fn order_created_with_key(
        &self,
        actor: &Actor,
        idempotency_key: &str,
    ) -> Result<Option<CreatedOrder>, StoreError> {
        let response: Option<Option<String>> =
            sqlx::query_scalar("SELECT response FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2")
                .bind(format!("create-order:{}", actor.label()))
                .bind(idempotency_key)
                .fetch_optional(self.pool())
                .await?;
        response
            .flatten()
            .map(|text| {
                serde_json::from_str::<CreatedOrder>(&text)
                    .map(|first| CreatedOrder {
                        replayed: true,
                        ..first
                    })
                    .map_err(|e| StoreError::Corrupt {
                        table: "idempotency_keys",
                        detail: e.to_string(),
                    })
            })
            .transpose()
    }

    /// Creates an order held in `pending-review` until the approval rules let it through
    /// ([`Store::release_reviewed_order`]) or refuse it ([`Store::cancel_reviewed_order`]).
    /// `replayed` tells a retry (same key) from the request that created it.
    pub async fn create_order_for_review(
        &self,
        order: &NewOrder,
        actor: &Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedOrder, StoreError> {
        self.insert_order(order, OrderStatus::PendingReview, actor, idempotency_key, now)
            .await
    }

    async fn insert_order(
        &self,
        order: &NewOrder,
        status: OrderStatus,
        actor: &Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedOrder, StoreError> {
        check_key(idempotency_key)?;
        if order.lines.is_empty() || order.lines.len() > MAX_ORDER_LINES {
            return Err(DomainError::Invalid {
                field: "lines",
                message: format!("1 to {MAX_ORDER_LINES} lines"),
            }
            .into());
        }
        // The order's amounts are the sums of its lines' (unit price × quantity × periods,
        // settled), each within the platform's range.
        let mut list_amounts = Vec::with_capacity(order.lines.len());
        let mut amounts = Vec::with_capacity(order.lines.len());
        for (i, line) in order.lines.iter().enumerate() {
            if line.quantity == 0 || line.period_count == 0 {
                return Err(DomainError::Invalid {
                    field: "lines",
                    message: "quantity and period_count must be positive".into(),
                }
                .into());
            }
            for price in [line.unit_price, line.list_unit_price] {
                if price.is_sign_negative() || price.scale() > PRICE_PLACES {
                    return Err(DomainError::Invalid {
                        field: "lines",
                        message: format!("{price}: prices are non-negative with at most {PRICE_PLACES} places"),
                    }
                    .into());
                }
            }
            let amount_of = |unit_price| {
                money::line_amount(unit_price, line.quantity, line.period_count).ok_or_else(|| {
                    out_of_range(
                        format!("lines[{i}]"),
                        format!("{unit_price} × {} × {}", line.quantity, line.period_count),
                    )
                })
            };
            list_amounts.push(amount_of(line.list_unit_price)?);
            amounts.push(amount_of(line.unit_price)?);
        }
        let list_amount = money::total(list_amounts).ok_or_else(|| out_of_range("lines", "the list amount"))?;
        let amount = money::total(amounts.iter().copied()).ok_or_else(|| out_of_range("lines", "the amount"))?;
        let scope = format!("create-order:{}", actor.label());
        let mut tx = self.pool().begin().await?;
        if let Some(first) = claim_key::<CreatedOrder>(&mut tx, &scope, idempotency_key, order, now).await? {
            return Ok(CreatedOrder {
                replayed: true,
                ..first
            });
        }
        // Rule 23: partner staff buy or renew for a customer only with its authorization.
        crate::authorizations::hold_may_operate(&mut tx, actor, order.customer).await?;
        let freeze: Option<String> = sqlx::query_scalar("SELECT \"freeze\" FROM customers WHERE id = $1")
            .bind(order.customer)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(freeze) = freeze else {
            return Err(DomainError::NotFound {
                what: Entity::Customer,
                id: order.customer,
            }
            .into());
        };
        refuse_frozen(order.customer, &freeze, "buy or renew")?;
        let (renews, change) = match order.quote {
            Some(quote) => check_quote(&mut tx, quote, order, now).await?,
            None => (None, None),
        };
        let kind = match (renews, &change) {
            (Some(_), _) => OrderKind::Renew,
            (None, Some(_)) => OrderKind::Change,
            (None, None) => OrderKind::New,
        };
        let change_text = spec_change_text(change.as_ref(), "orders")?;
        let deadline = now + Duration::days(PAYMENT_WINDOW_DAYS);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO orders (customer, kind, status, currency, list_amount, amount, created_at, paid_by_partner, payment_deadline, created_by, quote_id, renews_resource, changes_resource, spec_change) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(order.customer)
        .bind(kind.as_str())
        .bind(status.as_str())
        .bind(order.currency.as_str())
        .bind(list_amount.to_string())
        .bind(amount.to_string())
        .bind(now.timestamp_millis())
        .bind(deadline.timestamp_millis())
        .bind(actor.label())
        .bind(order.quote)
        .bind(renews)
        .bind(change.as_ref().map(|c| c.resource))
        .bind(change_text)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(quote) = order.quote {
            // Conditional: of two orders racing for one quote, exactly one claims it.
            let claimed = sqlx::query("UPDATE quotes SET order_id = $1 WHERE id = $2 AND order_id IS NULL")
                .bind(id)
                .bind(quote)
                .execute(&mut *tx)
                .await?;
            if claimed.rows_affected() != 1 {
                return Err(quote_already_ordered(quote).into());
            }
        }
        for (i, (line, amount)) in order.lines.iter().zip(&amounts).enumerate() {
            sqlx::query(
                "INSERT INTO order_lines (order_id, line, product, period, period_count, quantity, list_unit_price, unit_price, amount) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(i as i64)
            .bind(line.product)
            .bind(line.period.as_str())
            .bind(i64::from(line.period_count))
            .bind(i64::from(line.quantity))
            .bind(line.list_unit_price.to_string())
            .bind(line.unit_price.to_string())
            .bind(amount.to_string())
            .execute(&mut *tx)
            .await?;
        }
        let created = CreatedOrder {
            id,
            list_amount,
            amount,
            payment_deadline: deadline,
            replayed: false,
        };
        remember(&mut tx, &scope, idempotency_key, &created).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Pays a pending-payment order from the payer's cash account, then its credit account
    /// (rule 6), in the order's currency.
    pub async fn pay_order(
        &self,
        order_id: OrderId,
        payer: Payer,
        actor: &Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Payment, StoreError> {
        check_key(idempotency_key)?;
        let scope = format!("pay-order:{}", actor.label());
        // A concurrent payment can change a balance between reading it and debiting it; the
        // conditional debit then refuses and the whole transaction is tried again.
        for _ in 0..16 {
            match self
                .try_pay(order_id, payer, actor, &scope, idempotency_key, now)
                .await?
            {
                Some(payment) => return Ok(payment),
                None => continue,
            }
        }
        Err(StoreError::Corrupt {
            table: "accounts",
            detail: format!("payment of order {order_id} kept conflicting with concurrent payments"),
        })
    }

    /// One attempt; `None` when a concurrent debit got there first.
    async fn try_pay(
        &self,
        order_id: OrderId,
        payer: Payer,
        actor: &Actor,
        scope: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Payment>, StoreError> {
        let mut tx = self.pool().begin().await?;
        if let Some(first) = claim_key(&mut tx, scope, key, &(order_id, payer), now).await? {
            return Ok(Some(first));
        }
        // A renewal's or a change's payment takes the resource it acts on first, as an
        // unsubscription does (resource, then accounts): in the opposite order, the two would
        // deadlock on PostgreSQL when they meet.
        sqlx::query(
            "UPDATE resources SET expires_at = expires_at WHERE id = (SELECT COALESCE(renews_resource, changes_resource) FROM orders WHERE id = $1)",
        )
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT customer, status, currency, amount, payment_deadline FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(DomainError::NotFound {
                what: Entity::Order,
                id: order_id,
            })?;
        let customer: i64 = row.try_get("customer")?;
        // Rule 23: a partner pays on a customer's behalf only with its authorization.
        crate::authorizations::hold_may_operate(&mut tx, actor, customer).await?;
        let status: OrderStatus =
            row.try_get::<String, _>("status")?
                .parse()
                .map_err(|e: UnknownWord| DomainError::Invalid {
                    field: "status",
                    message: e.to_string(),
                })?;
        if status != OrderStatus::PendingPayment {
            return Err(DomainError::OrderState {
                order: order_id,
                status,
                operation: "paid",
            }
            .into());
        }
        let deadline: Option<i64> = row.try_get("payment_deadline")?;
        if deadline.is_some_and(|d| now.timestamp_millis() > d) {
            return Err(DomainError::OrderExpired(order_id).into());
        }
        let freeze: String = sqlx::query_scalar("SELECT \"freeze\" FROM customers WHERE id = $1")
            .bind(customer)
            .fetch_one(&mut *tx)
            .await?;
        refuse_frozen(customer, &freeze, "pay")?;
        check_payer(&mut tx, order_id, customer, payer).await?;
        let currency: Currency = row
            .try_get::<String, _>("currency")?
            .parse()
            .map_err(|e: pchost_domain::CurrencyError| DomainError::CurrencyMismatch(e.to_string()))?;
        let amount_text: String = row.try_get("amount")?;
        let amount = Decimal::from_str_exact(&amount_text).map_err(|e| DomainError::Invalid {
            field: "amount",
            message: e.to_string(),
        })?;
        if !in_range(amount) {
            return Err(out_of_range("amount", amount).into());
        }
        let due = to_cents(amount).ok_or(DomainError::Invalid {
            field: "amount",
            message: format!("{amount} is not in cents"),
        })?;
        spend_within_budget(&mut tx, customer, due, now).await?;

        let owner = match payer {
            Payer::Customer => AccountOwner::Customer(customer),
            Payer::Partner(partner) => AccountOwner::Partner(partner),
        };
        let (owner_kind, owner_id) = match owner {
            AccountOwner::Customer(id) => ("customer", id),
            AccountOwner::Partner(id) => ("partner", id),
        };
        let rows = sqlx::query(
            "SELECT id, owner_kind, owner_id, kind, currency, balance_cents, credit_limit_cents, designated_cents FROM accounts \
             WHERE owner_kind = $1 AND owner_id = $2 AND currency = $3 AND kind IN ('cash', 'credit')",
        )
        .bind(owner_kind)
        .bind(owner_id)
        .bind(currency.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let accounts = rows.iter().map(account_from_row).collect::<Result<Vec<_>, _>>()?;
        let cash = accounts.iter().find(|a| a.kind == AccountKind::Cash);
        let credit = accounts.iter().find(|a| a.kind == AccountKind::Credit);
        let cash_available = cash.map(|a| to_cents(a.available()).unwrap_or(0)).unwrap_or(0);
        let credit_available = credit.map(|a| to_cents(a.available()).unwrap_or(0)).unwrap_or(0);
        // Saturating: a sum beyond i64 covers any amount due all the same.
        let available = cash_available.saturating_add(credit_available);
        if available < due {
            return Err(DomainError::InsufficientBalance {
                needed: amount,
                available: from_cents(available),
            }
            .into());
        }
        let from_cash = due.min(cash_available);
        // 0 <= from_cash <= due: no overflow.
        let from_credit = due - from_cash;

        let mut debits = Vec::new();
        for (account, take) in [(cash, from_cash), (credit, from_credit)] {
            let Some(account) = account else { continue };
            if take == 0 {
                continue;
            }
            // The floor is zero for cash and minus the limit for credit (rule 6).
            let debited = sqlx::query(
                "UPDATE accounts SET balance_cents = balance_cents - $1 WHERE id = $2 AND balance_cents - $1 >= -credit_limit_cents",
            )
            .bind(take)
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
            if debited.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            insert_entry(&mut tx, account.id, -take, "payment", Some(order_id), actor, now).await?;
            debits.push(Debit {
                account: account.id,
                kind: account.kind,
                amount: from_cents(take),
            });
        }
        let paid_by = match payer {
            Payer::Customer => format!("customer:{customer}"),
            Payer::Partner(p) => format!("partner:{p}"),
        };
        let marked = sqlx::query(
            "UPDATE orders SET status = $1, paid_at = $2, paid_by = $3, paid_by_partner = $4 WHERE id = $5 AND status = $6",
        )
        .bind(OrderStatus::Processing.as_str())
        .bind(now.timestamp_millis())
        .bind(paid_by)
        .bind(i64::from(matches!(payer, Payer::Partner(_))))
        .bind(order_id)
        .bind(OrderStatus::PendingPayment.as_str())
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            // Paid or cancelled concurrently: try again to report its status.
            tx.rollback().await?;
            return Ok(None);
        }
        let refunds = provision(&mut tx, order_id, customer, currency, actor, now).await?;
        if let Payer::Partner(_) = payer {
            sqlx::query("UPDATE payment_requests SET status = 'paid', decided_at = $1 WHERE order_id = $2 AND status = 'pending'")
                .bind(now.timestamp_millis())
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
        }
        let payment = Payment {
            order: order_id,
            amount,
            payer,
            debits,
            paid_at: now,
            refunds,
        };
        remember(&mut tx, scope, key, &payment).await?;
        tx.commit().await?;
        Ok(Some(payment))
    }

    /// Lets an order out of review: `pending-review` becomes `pending-payment`, payable for 7
    /// days from now (rule 8). Conditional, so of two deciders one releases it.
    pub async fn release_reviewed_order(
        &self,
        order_id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let deadline = now + Duration::days(PAYMENT_WINDOW_DAYS);
        let released =
            sqlx::query("UPDATE orders SET status = $1, payment_deadline = $2 WHERE id = $3 AND status = $4")
                .bind(OrderStatus::PendingPayment.as_str())
                .bind(deadline.timestamp_millis())
                .bind(order_id)
                .bind(OrderStatus::PendingReview.as_str())
                .execute(self.pool())
                .await?;
        if released.rows_affected() == 1 {
            return Ok(deadline);
        }
        let order = self.existing_order(order_id).await?;
        Err(DomainError::OrderState {
            order: order_id,
            status: order.status,
            operation: "released from review",
        }
        .into())
    }

    /// Cancels an order its review refused (`pending-review` only).
    pub async fn cancel_reviewed_order(&self, order_id: OrderId) -> Result<(), StoreError> {
        self.cancel_from(order_id, [OrderStatus::PendingReview; 2]).await
    }

    /// Cancels an unpaid order: pending payment, or still in review (a task that would have
    /// released it then fails with `order-state` when approved).
    pub async fn cancel_order(&self, order_id: OrderId) -> Result<(), StoreError> {
        self.cancel_from(order_id, [OrderStatus::PendingPayment, OrderStatus::PendingReview])
            .await
    }

    async fn cancel_from(&self, order_id: OrderId, from: [OrderStatus; 2]) -> Result<(), StoreError> {
        let cancelled = sqlx::query("UPDATE orders SET status = $1 WHERE id = $2 AND status IN ($3, $4)")
            .bind(OrderStatus::Cancelled.as_str())
            .bind(order_id)
            .bind(from[0].as_str())
            .bind(from[1].as_str())
            .execute(self.pool())
            .await?;
        if cancelled.rows_affected() == 1 {
            return Ok(());
        }
        let order = self.existing_order(order_id).await?;
        Err(DomainError::OrderState {
            order: order_id,
            status: order.status,
            operation: "cancelled",
        }
        .into())
    }
}

impl Store {
    /// A resale customer asks its partner to pay a pending-payment order for it (rule 22).
    pub async fn request_partner_payment(&self, order_id: OrderId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let order = self.existing_order(order_id).await?;
        if order.status != OrderStatus::PendingPayment {
            return Err(DomainError::OrderState {
                order: order_id,
                status: order.status,
                operation: "sent to the partner for payment",
            }
            .into());
        }
        let customer = self.existing_customer(order.customer).await?;
        if customer.association != Association::Resale {
            return Err(DomainError::ReferralCustomer(customer.id).into());
        }
        let inserted = sqlx::query(
            "INSERT INTO payment_requests (order_id, customer, partner, status, requested_at) VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
        )
        .bind(order_id)
        .bind(customer.id)
        .bind(customer.partner)
        .bind(now.timestamp_millis())
        .execute(self.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::PaymentAlreadyRequested,
                format!("order {order_id} was already sent to the partner"),
            )
            .into());
        }
        Ok(())
    }

    /// The partner rejects a customer's payment request; the customer may then pay (rule 22).
    pub async fn reject_partner_payment(
        &self,
        order_id: OrderId,
        partner: PartnerId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let rejected = sqlx::query(
            "UPDATE payment_requests SET status = 'rejected', decided_at = $1 WHERE order_id = $2 AND partner = $3 AND status = 'pending'",
        )
        .bind(now.timestamp_millis())
        .bind(order_id)
        .bind(partner)
        .execute(self.pool())
        .await?;
        if rejected.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::NoPendingPaymentRequest,
                format!("order {order_id} has no payment request pending with partner {partner}"),
            )
            .into());
        }
        Ok(())
    }

    /// Refunds `amount` of a paid order to whoever paid it (rules 9, 10), in one transaction:
    /// the refund is recorded, the order's refunded total grows by it only while it stays
    /// within what was paid (one conditional update, so refunds racing for the same order
    /// cannot together exceed it), and the payer's cash account is credited. A refusal writes
    /// nothing; a retry with the same idempotency key returns the first refund and writes
    /// nothing more.
    pub async fn refund_order(
        &self,
        order_id: OrderId,
        amount: Decimal,
        actor: &Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<RefundDone, StoreError> {
        check_key(idempotency_key)?;
        let amount_cents = crate::accounts::cents(amount, "amount")?;
        if amount_cents <= 0 {
            return Err(DomainError::Invalid {
                field: "amount",
                message: "a refund is a positive amount".into(),
            }
            .into());
        }
        let order = self.existing_order(order_id).await?;
        // Checked again by the conditional update below; here for the precise refusal.
        if !matches!(order.status, OrderStatus::Processing | OrderStatus::Completed) {
            return Err(DomainError::OrderState {
                order: order_id,
                status: order.status,
                operation: "refunded",
            }
            .into());
        }
        let paid_by: Option<String> = sqlx::query_scalar("SELECT paid_by FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_one(self.pool())
            .await?;
        let payer = payer_account(order_id, paid_by.as_deref())?;
        // Before the transaction: opening the payer's account (if it has none yet) writes
        // on a connection of its own.
        let account = self
            .open_account(payer, AccountKind::Cash, order.currency, Decimal::ZERO)
            .await?;
        let paid_cents = to_cents(order.amount).ok_or_else(|| out_of_range("amount", order.amount))?;

        let scope = format!("refund:{}", actor.label());
        let request = serde_json::json!({ "order": order_id, "amount": amount.normalize().to_string() });
        let mut tx = self.pool().begin().await?;
        if let Some(first) = claim_key::<RefundDone>(&mut tx, &scope, idempotency_key, &request, now).await? {
            return Ok(first);
        }
        let done = pay_refund(&mut tx, order_id, amount_cents, paid_cents, account.id, actor, now).await?;
        close_when_fully_refunded(&mut tx, order_id, paid_cents).await?;
        remember(&mut tx, &scope, idempotency_key, &done).await?;
        tx.commit().await?;
        Ok(done)
    }
}

/// Closes the resources an order bought (and their children) once all it was paid is refunded,
/// in the refund's transaction: a customer paid back in full does not keep the service.
/// A partial refund (a price adjustment) leaves them running.
async fn close_when_fully_refunded(
    tx: &mut Transaction<'_, Any>,
    order_id: OrderId,
    paid_cents: i64,
) -> Result<(), StoreError> {
    let refunded: i64 = sqlx::query_scalar("SELECT refunded_cents FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&mut **tx)
        .await?;
    if refunded < paid_cents {
        return Ok(());
    }
    sqlx::query(
        "UPDATE resources SET status = 'closed' WHERE status <> 'closed' \
         AND (order_id = $1 OR main_resource IN (SELECT id FROM resources WHERE order_id = $1))",
    )
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Provisions a paid order inside its payment's transaction, so that a paid order always has
/// its resources and an unpaid one never, then completes it:
/// - a renewal extends the term of the resource it renews (and its children) by its periods
///   (rule 11), and that stretch is the renewal's term;
/// - a spec change changes the resource's spec, if it still has the spec and expiry it was
///   priced for; a dearer spec's payment pays for the rest of the term, a cheaper spec's
///   credit is refunded from the terms already paid (see [`crate::terms::refund_credit`]);
/// - otherwise each subscription line (months or years) becomes a resource in use until the
///   end of its term, bought by this order (what unsubscribing it refunds); one-time and usage
///   lines need none.
///
/// Returns the refunds a change to a cheaper spec paid.
async fn provision(
    tx: &mut Transaction<'_, Any>,
    order_id: OrderId,
    customer: CustomerId,
    currency: Currency,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<RefundDone>, StoreError> {
    let lines = sqlx::query(
        "SELECT line, product, period, period_count, quantity FROM order_lines WHERE order_id = $1 ORDER BY line",
    )
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    let row = sqlx::query("SELECT renews_resource, amount, spec_change FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&mut **tx)
        .await?;
    let renews: Option<i64> = row.try_get("renews_resource")?;
    let change = spec_change_of(&row, "orders")?;
    let mut refunds = Vec::new();
    match (renews, change, lines.as_slice()) {
        (Some(resource), _, [line]) => renew(tx, order_id, resource, line).await?,
        (None, Some(change), [_]) => {
            let amount =
                Decimal::from_str_exact(&row.try_get::<String, _>("amount")?).map_err(|e| DomainError::Invalid {
                    field: "amount",
                    message: e.to_string(),
                })?;
            refunds = change_spec(tx, order_id, &change, amount, currency, actor, now).await?;
        }
        (None, None, _) => {
            for line in &lines {
                let period = line_period(line)?;
                let count: i64 = line.try_get("period_count")?;
                let months = match period {
                    PeriodType::Month => count,
                    PeriodType::Year => count.saturating_mul(12),
                    PeriodType::Hour | PeriodType::Day | PeriodType::OneTime => continue,
                };
                let expires_at = u32::try_from(months)
                    .ok()
                    .and_then(|m| now.checked_add_months(chrono::Months::new(m)))
                    .ok_or_else(|| out_of_range("period_count", format!("{count} {period}")))?;
                let resource: i64 = sqlx::query_scalar(
                    "INSERT INTO resources (customer, product, period, status, expiry_policy, effective_at, expires_at, main_resource, order_id, quantity) \
                     VALUES ($1, $2, $3, 'in-use', 'grace-period', $4, $5, NULL, $6, $7) RETURNING id",
                )
                .bind(customer)
                .bind(line.try_get::<i64, _>("product")?)
                .bind(period.as_str())
                .bind(now.timestamp_millis())
                .bind(expires_at.timestamp_millis())
                .bind(order_id)
                .bind(line.try_get::<i64, _>("quantity")?)
                .fetch_one(&mut **tx)
                .await?;
                let line: i64 = line.try_get("line")?;
                crate::terms::record(tx, resource, order_id, Some(line), now, expires_at).await?;
            }
        }
        _ => {
            return Err(StoreError::Corrupt {
                table: "orders",
                detail: format!("order {order_id} renews or changes a resource with other than one line"),
            });
        }
    }
    sqlx::query("UPDATE orders SET status = $1 WHERE id = $2 AND status = $3")
        .bind(OrderStatus::Completed.as_str())
        .bind(order_id)
        .bind(OrderStatus::Processing.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(refunds)
}

fn line_period(line: &sqlx::any::AnyRow) -> Result<PeriodType, StoreError> {
    Ok(line
        .try_get::<String, _>("period")?
        .parse()
        .map_err(|_| DomainError::Invalid {
            field: "period",
            message: "an order line's period the store does not know".into(),
        })?)
}

/// A renewal's payment: the term extends (rule 11) and the months added are its term. Refused
/// `resource-changed` when the resource changed spec since the renewal was priced for the old
/// one.
async fn renew(
    tx: &mut Transaction<'_, Any>,
    order_id: OrderId,
    resource: i64,
    line: &sqlx::any::AnyRow,
) -> Result<(), StoreError> {
    let product: Option<i64> = sqlx::query_scalar("SELECT product FROM resources WHERE id = $1")
        .bind(resource)
        .fetch_optional(&mut **tx)
        .await?;
    if product != Some(line.try_get::<i64, _>("product")?) {
        return Err(resource_changed(resource).into());
    }
    let count: i64 = line.try_get("period_count")?;
    let count = u32::try_from(count).map_err(|_| out_of_range("period_count", count))?;
    let (from, to) = crate::resources::extend_term(tx, resource, line_period(line)?, count).await?;
    crate::terms::record(tx, resource, order_id, Some(line.try_get("line")?), from, to).await
}

/// A spec change's payment: the resource takes the new spec, if it still has the spec and the
/// expiry the change was priced for (else `resource-changed`, and the payment rolls back). A
/// dearer spec's `amount` pays for the rest of the term, from now; a cheaper spec's credit,
/// prorated to the time left now, is refunded from the terms already paid.
async fn change_spec(
    tx: &mut Transaction<'_, Any>,
    order_id: OrderId,
    change: &SpecChange,
    amount: Decimal,
    currency: Currency,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<RefundDone>, StoreError> {
    let changed = sqlx::query(
        "UPDATE resources SET product = $1 WHERE id = $2 AND status = 'in-use' AND product = $3 AND expires_at = $4",
    )
    .bind(change.to_product)
    .bind(change.resource)
    .bind(change.from_product)
    .bind(change.term_ends_at.timestamp_millis())
    .execute(&mut **tx)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(resource_changed(change.resource).into());
    }
    if amount > Decimal::ZERO {
        crate::terms::record(tx, change.resource, order_id, Some(0), now, change.term_ends_at).await?;
    }
    let credit = to_cents(change.credit).ok_or_else(|| out_of_range("credit", change.credit))?;
    let priced_left = (change.term_ends_at - change.priced_at).num_milliseconds();
    let left = (change.term_ends_at - now)
        .num_milliseconds()
        .clamp(0, priced_left.max(0));
    if credit <= 0 || priced_left <= 0 || left == 0 {
        return Ok(Vec::new());
    }
    // i128: cents (< 10^17) × milliseconds (< 2^63) cannot overflow it. Rounded down.
    let credit = i64::try_from(i128::from(credit) * i128::from(left) / i128::from(priced_left)).unwrap_or(credit);
    let refunds = crate::terms::refund_credit(tx, change.resource, credit, currency, actor, now).await?;
    // As any refund: an order paid back in full no longer keeps what it bought.
    for refund in &refunds {
        let paid: String = sqlx::query_scalar("SELECT amount FROM orders WHERE id = $1")
            .bind(refund.order)
            .fetch_one(&mut **tx)
            .await?;
        let paid = Decimal::from_str_exact(&paid)
            .ok()
            .and_then(to_cents)
            .ok_or_else(|| out_of_range("amount", &paid))?;
        close_when_fully_refunded(tx, refund.order, paid).await?;
    }
    Ok(refunds)
}

/// Rule 18: a budget caps what a resale customer may spend. A payment of its order (whoever
/// pays it) counts against its budget for the calendar month (UTC); one that would pass it is
/// refused `over-budget`. One conditional update in the payment's transaction: of concurrent
/// payments, those that fit together pass and the rest are refused. A customer with no budget
/// has its spending counted all the same, so that a budget set mid-month applies to the month.
async fn spend_within_budget(
    tx: &mut Transaction<'_, Any>,
    customer: CustomerId,
    due: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let month = now.format("%Y-%m").to_string();
    let spent_this_month = "(CASE WHEN spent_month = $1 THEN spent_cents ELSE 0 END)";
    let counted = sqlx::query(&format!(
        "UPDATE customers SET spent_cents = {spent_this_month} + $2, spent_month = $1 \
         WHERE id = $3 AND (budget_cents IS NULL OR {spent_this_month} + $2 <= budget_cents)"
    ))
    .bind(&month)
    .bind(due)
    .bind(customer)
    .execute(&mut **tx)
    .await?;
    if counted.rows_affected() == 1 {
        return Ok(());
    }
    let row = sqlx::query(&format!(
        "SELECT budget_cents, {spent_this_month} AS spent FROM customers WHERE id = $2"
    ))
    .bind(&month)
    .bind(customer)
    .fetch_one(&mut **tx)
    .await?;
    let budget: Option<i64> = row.try_get("budget_cents")?;
    let spent: i64 = row.try_get("spent")?;
    Err(refused(
        ErrorCode::OverBudget,
        format!(
            "customer {customer} spent {} of its {} budget in {month}: paying {} would pass it (rule 18)",
            from_cents(spent),
            from_cents(budget.unwrap_or(0)),
            from_cents(due)
        ),
    )
    .into())
}

/// Rule 18: a frozen customer (account, or account and resources) cannot buy, renew or pay
/// until it is unfrozen. `freeze` is the customer's state as stored, read inside the caller's
/// transaction.
pub(crate) fn refuse_frozen(customer: CustomerId, freeze: &str, what: &str) -> Result<(), StoreError> {
    if freeze == FreezeState::NotFrozen.as_str() {
        return Ok(());
    }
    Err(refused(
        ErrorCode::CustomerFrozen,
        format!("customer {customer} is {freeze}: it cannot {what} until it is unfrozen (rule 18)"),
    )
    .into())
}

/// Whose cash account a refund of an order goes to (rule 9): who paid it, as the order
/// records it (`partner:<id>` or `customer:<id>`).
pub(crate) fn payer_account(order_id: OrderId, paid_by: Option<&str>) -> Result<AccountOwner, StoreError> {
    match paid_by.and_then(|p| p.split_once(':')) {
        Some(("partner", id)) => id.parse().ok().map(AccountOwner::Partner),
        Some(("customer", id)) => id.parse().ok().map(AccountOwner::Customer),
        _ => None,
    }
    .ok_or_else(|| {
        refused(
            ErrorCode::RefundPayerUnknown,
            format!("order {order_id} records no payer to refund"),
        )
        .into()
    })
}

/// A refund paid out to whoever paid its order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundDone {
    /// The refund's id.
    pub refund: i64,
    /// The order refunded.
    pub order: OrderId,
    /// How much.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// The cash account credited: the partner's when it paid on the customer's behalf, else
    /// the customer's (rule 9).
    pub account: i64,
    /// The credit note it issued, when the order was already invoiced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_note: Option<i64>,
}

/// Pays `amount_cents` of an order back to `account` (its payer's cash, rule 9) inside the
/// caller's transaction: the order's refunded total grows by it only while it stays within
/// `paid_cents` and the order is paid (one conditional update, so refunds racing for the same
/// order cannot together exceed it), the refund is recorded completed, the account credited
/// and the ledger written.
pub(crate) async fn pay_refund(
    tx: &mut Transaction<'_, Any>,
    order_id: OrderId,
    amount_cents: i64,
    paid_cents: i64,
    account: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<RefundDone, StoreError> {
    // The invoice the order is in, read from the row this update wrote: an invoice request
    // claiming the order either committed before (and the refund credits it) or finds the
    // refunded total moved and is refused (see `Store::request_invoice`).
    let capped = sqlx::query(
        "UPDATE orders SET refunded_cents = refunded_cents + $1 \
         WHERE id = $2 AND status IN ($3, $4) AND refunded_cents + $1 <= $5 RETURNING invoice_request, currency",
    )
    .bind(amount_cents)
    .bind(order_id)
    .bind(OrderStatus::Processing.as_str())
    .bind(OrderStatus::Completed.as_str())
    .bind(paid_cents)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(capped) = capped else {
        let row = sqlx::query("SELECT status, refunded_cents FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_one(&mut **tx)
            .await?;
        let status: OrderStatus = row
            .try_get::<String, _>("status")?
            .parse()
            .map_err(|_| DomainError::Invalid {
                field: "status",
                message: "an order status the store does not know".into(),
            })?;
        let refunded: i64 = row.try_get("refunded_cents")?;
        return Err(if matches!(status, OrderStatus::Processing | OrderStatus::Completed) {
            DomainError::Invalid {
                field: "amount",
                message: format!(
                    "{} is more than the {} left to refund on order {order_id}",
                    from_cents(amount_cents),
                    from_cents(paid_cents.saturating_sub(refunded))
                ),
            }
        } else {
            DomainError::OrderState {
                order: order_id,
                status,
                operation: "refunded",
            }
        }
        .into());
    };
    let refund: i64 = sqlx::query_scalar(
        "INSERT INTO refunds (order_id, amount_cents, status, requested_by, requested_at, account, completed_at) \
         VALUES ($1, $2, 'completed', $3, $4, $5, $4) RETURNING id",
    )
    .bind(order_id)
    .bind(amount_cents)
    .bind(actor.label())
    .bind(now.timestamp_millis())
    .bind(account)
    .fetch_one(&mut **tx)
    .await?;
    if !crate::accounts::credit(tx, account, amount_cents).await? {
        return Err(out_of_range("amount", format!("the balance of account {account} plus the refund")).into());
    }
    insert_entry(tx, account, amount_cents, "refund", Some(order_id), actor, now).await?;
    // Refunded after it was invoiced: a credit note against that invoice.
    let invoice: Option<i64> = capped.try_get("invoice_request")?;
    let credit_note = match invoice {
        Some(invoice) => Some(
            sqlx::query_scalar(
                "INSERT INTO credit_notes (invoice_request, order_id, refund_id, amount_cents, currency, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(invoice)
            .bind(order_id)
            .bind(refund)
            .bind(amount_cents)
            .bind(capped.try_get::<String, _>("currency")?)
            .bind(now.timestamp_millis())
            .fetch_one(&mut **tx)
            .await?,
        ),
        None => None,
    };
    Ok(RefundDone {
        refund,
        order: order_id,
        amount: from_cents(amount_cents),
        account,
        credit_note,
    })
}

/// Which orders [`Store::find_orders`] lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderFilter {
    /// Orders of these customers only (the caller's visible customers, rule 16).
    pub customers: Vec<CustomerId>,
    /// Orders in this status only.
    pub status: Option<OrderStatus>,
}

impl Store {
    /// A page of orders matching `filter`, by id after `after`, at most `limit` (capped at 100).
    pub async fn find_orders(
        &self,
        filter: &OrderFilter,
        after: OrderId,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        if filter.customers.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=filter.customers.len()).map(|i| format!("${i}")).collect();
        let n = filter.customers.len();
        let mut sql = format!(
            "SELECT id FROM orders WHERE customer IN ({}) AND id > ${}",
            placeholders.join(", "),
            n + 1
        );
        if filter.status.is_some() {
            sql.push_str(&format!(" AND status = ${}", n + 3));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", n + 2));
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for c in &filter.customers {
            query = query.bind(*c);
        }
        query = query.bind(after).bind(i64::from(limit.min(100)));
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        let ids = query.fetch_all(self.pool()).await?;
        let mut orders = Vec::with_capacity(ids.len());
        for id in ids {
            orders.push(self.order(id).await?.ok_or(DomainError::NotFound {
                what: Entity::Order,
                id,
            })?);
        }
        Ok(orders)
    }
}
