//! What each payment bought of a resource's time (rule 10): a resource's terms, one per order
//! that paid for a stretch of it. The order that bought a resource pays its first term, a
//! renewal the months it added after the old expiry, a change to a dearer spec the difference
//! from its payment to the expiry. Refunds are computed from them: the unused part of a term
//! is its value times the share of its span still ahead, and goes back to whoever paid its
//! order (rule 9).

use crate::accounts::{AccountKind, AccountOwner, Actor};
use crate::entities::OrderId;
use crate::errors::{DomainError, out_of_range};
use crate::money::{Currency, to_cents};
use crate::orders::RefundDone;
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{Any, AnyConnection, Row, Transaction};

/// One stretch of a resource's term and what was paid for it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Term {
    id: i64,
    /// The order that paid it.
    pub(crate) order: OrderId,
    starts_at: i64,
    ends_at: i64,
    /// What it is worth, in cents: what its order line was paid (its share of the order's
    /// amount after coupons), or what a spec change left of it.
    value_cents: i64,
}

impl Term {
    /// The part of its value not used by `now`: value × time left of its span / its span,
    /// rounded half-up to the cent. A term still ahead is unused in full; one past, not at all.
    pub(crate) fn unused_cents(&self, now: i64) -> i64 {
        let span = self.ends_at.saturating_sub(self.starts_at);
        if span <= 0 || now >= self.ends_at {
            return 0;
        }
        let left = self.ends_at - now.max(self.starts_at);
        // i128: value (< 10^17 cents) × span (< 2^63) cannot overflow it.
        let scaled = i128::from(self.value_cents) * i128::from(left) * 2 + i128::from(span);
        i64::try_from(scaled / (2 * i128::from(span))).unwrap_or(self.value_cents)
    }
}

/// Records that `order` (its line `line`; `None`: all of it) paid for resource `resource` from
/// `starts_at` to `ends_at`, in the caller's transaction.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    resource: i64,
    order: OrderId,
    line: Option<i64>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO resource_terms (resource_id, order_id, line, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(resource)
    .bind(order)
    .bind(line)
    .bind(starts_at.timestamp_millis())
    .bind(ends_at.timestamp_millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The terms of a resource, oldest first, each valued.
pub(crate) async fn of_resource(conn: &mut AnyConnection, resource: i64) -> Result<Vec<Term>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.id, t.order_id, t.line, t.starts_at, t.ends_at, t.value_cents, o.amount AS order_amount, l.amount AS line_amount \
         FROM resource_terms t JOIN orders o ON o.id = t.order_id \
         LEFT JOIN order_lines l ON l.order_id = t.order_id AND l.line = t.line \
         WHERE t.resource_id = $1 ORDER BY t.starts_at, t.id",
    )
    .bind(resource)
    .fetch_all(&mut *conn)
    .await?;
    let mut terms = Vec::with_capacity(rows.len());
    for row in rows {
        let order: OrderId = row.try_get("order_id")?;
        let value_cents = match row.try_get::<Option<i64>, _>("value_cents")? {
            Some(cents) => cents,
            None => {
                let order_amount = decimal(&row.try_get::<String, _>("order_amount")?)?;
                let paid = match row.try_get::<Option<String>, _>("line_amount")? {
                    // What was paid, not the line's price: coupons lower the order's amount,
                    // not its lines.
                    Some(line) => decimal(&line)? * paid_share(conn, order, order_amount).await?,
                    None => order_amount,
                };
                to_cents(crate::money::settle(paid)).ok_or_else(|| out_of_range("amount", paid))?
            }
        };
        terms.push(Term {
            id: row.try_get("id")?,
            order,
            starts_at: row.try_get("starts_at")?,
            ends_at: row.try_get("ends_at")?,
            value_cents,
        });
    }
    Ok(terms)
}

/// The unused part at `now` of the terms of `resources`, by the order that paid each, oldest
/// term first, each capped at what is left to refund on its order (a refund made by hand
/// already gave some of it back): what unsubscribing them would refund, and what a spec
/// change sets against the new spec's price.
pub(crate) async fn unused_by_order(
    conn: &mut AnyConnection,
    resources: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<(OrderId, i64)>, StoreError> {
    let mut shares: Vec<(OrderId, i64)> = Vec::new();
    for resource in resources {
        for term in of_resource(conn, *resource).await? {
            let cents = term.unused_cents(now.timestamp_millis());
            match shares.iter_mut().find(|(o, _)| *o == term.order) {
                Some((_, sum)) => *sum = sum.saturating_add(cents),
                None => shares.push((term.order, cents)),
            }
        }
    }
    for (order, cents) in &mut shares {
        let row = sqlx::query("SELECT amount, refunded_cents FROM orders WHERE id = $1")
            .bind(*order)
            .fetch_one(&mut *conn)
            .await?;
        let paid = to_cents(decimal(&row.try_get::<String, _>("amount")?)?).unwrap_or(0);
        let refunded: i64 = row.try_get("refunded_cents")?;
        *cents = (*cents).min(paid.saturating_sub(refunded)).max(0);
    }
    shares.retain(|(_, cents)| *cents > 0);
    Ok(shares)
}

/// What share of its lines' price an order was paid: its amount (after coupons) over the sum of
/// its lines' amounts, at most 1.
async fn paid_share(conn: &mut AnyConnection, order: OrderId, amount: Decimal) -> Result<Decimal, StoreError> {
    let lines: Vec<String> = sqlx::query_scalar("SELECT amount FROM order_lines WHERE order_id = $1")
        .bind(order)
        .fetch_all(&mut *conn)
        .await?;
    let mut gross = Decimal::ZERO;
    for line in &lines {
        gross = gross
            .checked_add(decimal(line)?)
            .ok_or_else(|| out_of_range("amount", "the order's lines"))?;
    }
    if gross <= Decimal::ZERO {
        return Ok(Decimal::ONE);
    }
    Ok((amount / gross).min(Decimal::ONE))
}

/// Refunds `credit_cents` of a resource's unused terms at `now` (a change to a cheaper spec),
/// in the caller's transaction: shared among the terms in proportion to their unused parts,
/// each share within what is left to refund on its order, paid to whoever paid that order
/// (rule 9). Each term is split at `now`, its part ahead worth that much less, so that a later
/// unsubscription refunds only what the cheaper spec's time is still worth. Returns the
/// refunds, one per order.
pub(crate) async fn refund_credit(
    tx: &mut Transaction<'_, Any>,
    resource: i64,
    credit_cents: i64,
    currency: Currency,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<RefundDone>, StoreError> {
    let at = now.timestamp_millis();
    let terms = of_resource(tx, resource).await?;
    let unused: Vec<i64> = terms.iter().map(|t| t.unused_cents(at)).collect();
    let total_unused: i64 = unused.iter().sum();
    let credit = credit_cents.min(total_unused);
    if credit <= 0 {
        return Ok(Vec::new());
    }
    // Each term's share, rounded down; the cents left over go to the terms in order.
    let mut shares: Vec<i64> = unused
        .iter()
        .map(|u| i64::try_from(i128::from(credit) * i128::from(*u) / i128::from(total_unused)).unwrap_or(0))
        .collect();
    let mut left = credit - shares.iter().sum::<i64>();
    for (share, u) in shares.iter_mut().zip(&unused) {
        let room = (u - *share).min(left);
        *share += room;
        left -= room;
    }
    // Within what is left to refund on each order.
    let mut by_order: Vec<(OrderId, i64)> = Vec::new();
    for (term, share) in terms.iter().zip(shares.iter_mut()) {
        let row = sqlx::query("SELECT amount, refunded_cents FROM orders WHERE id = $1")
            .bind(term.order)
            .fetch_one(&mut **tx)
            .await?;
        let paid = to_cents(decimal(&row.try_get::<String, _>("amount")?)?).unwrap_or(0);
        let refunded: i64 = row.try_get("refunded_cents")?;
        let taken: i64 = by_order.iter().filter(|(o, _)| *o == term.order).map(|(_, c)| c).sum();
        *share = (*share).min(paid - refunded - taken).max(0);
        match by_order.iter_mut().find(|(o, _)| *o == term.order) {
            Some((_, sum)) => *sum += *share,
            None => by_order.push((term.order, *share)),
        }
    }
    for ((term, share), unused) in terms.iter().zip(&shares).zip(&unused) {
        if *share == 0 && *unused == 0 {
            continue;
        }
        if term.starts_at < at {
            // The part used stays at what it was worth; the part ahead loses the share.
            sqlx::query("UPDATE resource_terms SET ends_at = $1, value_cents = $2 WHERE id = $3")
                .bind(at)
                .bind(term.value_cents - unused)
                .bind(term.id)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO resource_terms (resource_id, order_id, line, starts_at, ends_at, value_cents) \
                 SELECT resource_id, order_id, line, $1, $2, $3 FROM resource_terms WHERE id = $4",
            )
            .bind(at)
            .bind(term.ends_at)
            .bind(unused - share)
            .bind(term.id)
            .execute(&mut **tx)
            .await?;
        } else {
            sqlx::query("UPDATE resource_terms SET value_cents = $1 WHERE id = $2")
                .bind(term.value_cents - share)
                .bind(term.id)
                .execute(&mut **tx)
                .await?;
        }
    }
    let mut refunds = Vec::with_capacity(by_order.len());
    for (order, cents) in by_order.into_iter().filter(|(_, c)| *c > 0) {
        let row = sqlx::query("SELECT amount, paid_by FROM orders WHERE id = $1")
            .bind(order)
            .fetch_one(&mut **tx)
            .await?;
        let paid = to_cents(decimal(&row.try_get::<String, _>("amount")?)?).unwrap_or(0);
        let payer = crate::orders::payer_account(order, row.try_get::<Option<String>, _>("paid_by")?.as_deref())?;
        let account = cash_account(tx, payer, currency).await?;
        refunds.push(crate::orders::pay_refund(tx, order, cents, paid, account, actor, now).await?);
    }
    Ok(refunds)
}

/// The cash account of `owner` in `currency`, opened in the caller's transaction if it has
/// none: where a refund is paid (rule 9).
async fn cash_account(
    tx: &mut Transaction<'_, Any>,
    owner: AccountOwner,
    currency: Currency,
) -> Result<i64, StoreError> {
    let (owner_kind, owner_id) = owner.parts();
    sqlx::query(
        "INSERT INTO accounts (owner_kind, owner_id, kind, currency, credit_limit_cents) VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING",
    )
    .bind(owner_kind)
    .bind(owner_id)
    .bind(AccountKind::Cash.as_str())
    .bind(currency.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query_scalar(
        "SELECT id FROM accounts WHERE owner_kind = $1 AND owner_id = $2 AND kind = $3 AND currency = $4",
    )
    .bind(owner_kind)
    .bind(owner_id)
    .bind(AccountKind::Cash.as_str())
    .bind(currency.as_str())
    .fetch_one(&mut **tx)
    .await?)
}

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str_exact(text).map_err(|e| {
        DomainError::Invalid {
            field: "amount",
            message: e.to_string(),
        }
        .into()
    })
}
