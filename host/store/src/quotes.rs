//! Saved quotes: a priced quote kept so that an order can be created from it later, at the
//! quoted price, once and before the quote expires (see [`crate::orders::NewOrder::quote`]).
//! A saved quote holds the lines an order created from it gets, typed; its body (the priced
//! quote with the adjustments and the chain that led to it) is a record the store keeps
//! without reading.

use crate::audit::{self, InvocationRecord};
use crate::entities::{CustomerId, OrderId};
use crate::errors::DomainError;
use crate::money::Currency;
use crate::orders::{NewOrderLine, SpecChange};
use crate::store::StoreError;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The longest quote body stored, in bytes.
pub const MAX_QUOTE_BODY: usize = 1 << 20;

/// A quote to save.
#[derive(Clone, Copy, Debug)]
pub struct NewQuote<'a> {
    /// The customer it was priced for.
    pub customer: CustomerId,
    /// Currency of every amount.
    pub currency: Currency,
    /// What the quote totals.
    pub total: Decimal,
    /// The lines an order created from it gets.
    pub lines: &'a [NewOrderLine],
    /// The priced quote as JSON, opaque to the store: the record of how it was priced.
    pub body: &'a str,
    /// Who priced it.
    pub created_by: &'a str,
    /// When it was priced.
    pub now: DateTime<Utc>,
    /// From this instant on it can no longer be ordered.
    pub expires_at: DateTime<Utc>,
    /// The resource a renewal quote renews: an order made from it is a renewal, whose payment
    /// extends that resource's term (rule 11).
    pub renews: Option<i64>,
    /// What a spec change quote changes: an order made from it is a change (kind `change`),
    /// whose payment changes the resource's spec.
    pub spec_change: Option<&'a SpecChange>,
}

/// A saved quote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedQuote {
    /// Id.
    pub id: i64,
    /// The customer it was priced for.
    pub customer: CustomerId,
    /// Currency of every amount.
    pub currency: Currency,
    /// What the quote totals.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// The lines an order created from it gets; none for a quote saved before the store kept
    /// them (it can no longer be ordered).
    pub lines: Option<Vec<NewOrderLine>>,
    /// The priced quote as JSON, opaque to the store: the record of how it was priced.
    pub body: String,
    /// When it was priced.
    pub created_at: DateTime<Utc>,
    /// From this instant on it can no longer be ordered.
    pub expires_at: DateTime<Utc>,
    /// Who priced it.
    pub created_by: String,
    /// The order created from it, once there is one.
    pub order: Option<OrderId>,
    /// The resource a renewal quote renews.
    pub renews: Option<i64>,
    /// What a spec change quote changes.
    pub spec_change: Option<SpecChange>,
}

impl Store {
    /// Saves a priced quote of a customer, orderable until `expires_at` (exclusive). Returns
    /// its id.
    #[expect(clippy::too_many_arguments, reason = "a quote's fields, named at the call site")]
    pub async fn save_quote(
        &self,
        customer: CustomerId,
        currency: Currency,
        total: Decimal,
        lines: &[NewOrderLine],
        body: &str,
        created_by: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let quote = NewQuote {
            customer,
            currency,
            total,
            lines,
            body,
            created_by,
            now,
            expires_at,
            renews: None,
            spec_change: None,
        };
        Ok(self.save_quote_with_invocations(&quote, &[]).await?.0)
    }

    /// Saves a quote and the records of the plugin invocations that priced it in one
    /// transaction: one commit per priced quote, where two would halve what a SQLite file
    /// (one writer, an fsync per commit) can price per second. Returns the quote's id and the
    /// records' ids, in order; all or nothing is written.
    pub async fn save_quote_with_invocations(
        &self,
        quote: &NewQuote<'_>,
        invocations: &[InvocationRecord],
    ) -> Result<(i64, Vec<i64>), StoreError> {
        let NewQuote {
            customer,
            currency,
            total,
            lines,
            body,
            created_by,
            now,
            expires_at,
            renews,
            spec_change,
        } = *quote;
        if body.is_empty() || body.len() > MAX_QUOTE_BODY {
            return Err(DomainError::Invalid {
                field: "body",
                message: format!("1 to {MAX_QUOTE_BODY} bytes"),
            }
            .into());
        }
        if expires_at <= now {
            return Err(DomainError::Invalid {
                field: "expires_at",
                message: format!("{expires_at} is not after {now}"),
            }
            .into());
        }
        if lines.is_empty() {
            return Err(DomainError::Invalid {
                field: "lines",
                message: "a quote has at least one line".into(),
            }
            .into());
        }
        let lines = serde_json::to_string(lines).map_err(|e| StoreError::Corrupt {
            table: "quotes",
            detail: format!("lines do not serialise: {e}"),
        })?;
        let spec_change = crate::orders::spec_change_text(spec_change, "quotes")?;
        self.existing_customer(customer).await?;
        audit::check_purposes(invocations)?;
        let _turn = self.sqlite_writer().await;
        let mut tx = self.pool().begin().await?;
        let invocation_ids = audit::insert_invocations(&mut tx, invocations, now).await?;
        let id = sqlx::query_scalar(
            "INSERT INTO quotes (customer, currency, total, lines, body, created_at, expires_at, created_by, renews_resource, spec_change) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(customer)
        .bind(currency.as_str())
        .bind(total.to_string())
        .bind(&lines)
        .bind(body)
        .bind(now.timestamp_millis())
        .bind(expires_at.timestamp_millis())
        .bind(created_by)
        .bind(renews)
        .bind(spec_change)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((id, invocation_ids))
    }

    /// One saved quote.
    pub async fn saved_quote(&self, id: i64) -> Result<Option<SavedQuote>, StoreError> {
        let row = sqlx::query(
            "SELECT id, customer, currency, total, lines, body, created_at, expires_at, created_by, order_id, renews_resource, spec_change FROM quotes WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let lines: Option<String> = r.try_get("lines")?;
        let lines = lines
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                table: "quotes",
                detail: format!("lines of quote {id}: {e}"),
            })?;
        let spec_change = crate::orders::spec_change_of(&r, "quotes")?;
        Ok(Some(SavedQuote {
            id: r.try_get("id")?,
            customer: r.try_get("customer")?,
            currency: store::currency(&r, "quotes")?,
            total: store::decimal(&r, "quotes", "total")?,
            lines,
            body: r.try_get("body")?,
            created_at: store::millis(&r, "quotes", "created_at")?,
            expires_at: store::millis(&r, "quotes", "expires_at")?,
            created_by: r.try_get("created_by")?,
            order: r.try_get("order_id")?,
            renews: r.try_get("renews_resource")?,
            spec_change,
        }))
    }
}
