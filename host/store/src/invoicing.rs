//! Invoice titles and invoice requests (DOMAIN rules 2-5).

use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, out_of_range, refused};
use crate::money::Currency;
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// Who issues an invoice (rule 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "issuer", content = "id", rename_all = "kebab-case")]
pub enum Issuer {
    /// A partner, under its own title: for its resale customers.
    Partner(PartnerId),
    /// The platform: for referral customers.
    Platform,
}

/// What an invoice request covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "kebab-case")]
pub enum InvoiceScope {
    /// The paid consumption of one calendar month (UTC).
    BillingCycle {
        /// Year.
        year: i32,
        /// Month, 1-12.
        month: u32,
    },
    /// One paid order.
    Order {
        /// The order.
        order: OrderId,
    },
}

/// An invoice request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewInvoiceRequest {
    /// The customer invoiced.
    pub customer: CustomerId,
    /// Who issues it.
    pub issuer: Issuer,
    /// What it covers.
    pub scope: InvoiceScope,
    /// VAT general or special.
    pub kind: InvoiceKind,
    /// Paper, electronic or digital.
    pub medium: InvoiceMedium,
    /// Currency of the amounts invoiced.
    pub currency: Currency,
}

/// Rule 3: a VAT special invoice needs an enterprise title and comes on paper or digital; a
/// general one on paper or electronic.
pub fn check_kind_and_medium(kind: InvoiceKind, medium: InvoiceMedium, title: TitleType) -> Result<(), StoreError> {
    match (kind, medium) {
        (InvoiceKind::VatSpecial, _) if title != TitleType::Enterprise => Err(refused(
            ErrorCode::VatSpecialNeedsEnterpriseTitle,
            "a VAT special invoice requires an enterprise title (rule 3)",
        )
        .into()),
        (InvoiceKind::VatSpecial, InvoiceMedium::Electronic) => Err(refused(
            ErrorCode::InvoiceMediumNotAllowed,
            "a VAT special invoice is issued on paper or digitally, not electronically (rule 3)",
        )
        .into()),
        (InvoiceKind::VatGeneral, InvoiceMedium::Digital) => Err(refused(
            ErrorCode::InvoiceMediumNotAllowed,
            "a VAT general invoice is issued on paper or electronically, not digitally (rule 3)",
        )
        .into()),
        _ => Ok(()),
    }
}

/// The first and the day after the last instant of a calendar month, UTC.
fn month_bounds(year: i32, month: u32) -> Result<(DateTime<Utc>, DateTime<Utc>), StoreError> {
    let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or(DomainError::Invalid {
        field: "scope",
        message: format!("{year}-{month:02} is not a month"),
    })?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .ok_or(DomainError::Invalid {
        field: "scope",
        message: "month out of range".into(),
    })?;
    let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default());
    Ok((at(first), at(next)))
}

/// Rule 2: a billing cycle can be invoiced only once it is closed and the 3rd day of the
/// next month has passed (from the 4th, 00:00 UTC).
pub fn check_cycle_closed(year: i32, month: u32, now: DateTime<Utc>) -> Result<(), StoreError> {
    let (_, next_month) = month_bounds(year, month)?;
    let opens = next_month + chrono::Duration::days(3);
    if now < opens {
        return Err(refused(
            ErrorCode::BillingCycleNotInvoiceable,
            format!(
                "billing cycle {year}-{month:02} can be invoiced from {} (rule 2: after the 3rd day of the next month)",
                opens.date_naive()
            ),
        )
        .into());
    }
    Ok(())
}

impl Store {
    /// Sets the invoice-info (title) record of a customer's account, replacing the previous
    /// one: one valid record per account (rule 4).
    pub async fn set_invoice_info(&self, info: &InvoiceInfo) -> Result<(), StoreError> {
        if info.title.trim().is_empty() || info.title.len() > 200 {
            return Err(DomainError::Invalid {
                field: "title",
                message: "1 to 200 characters".into(),
            }
            .into());
        }
        if info.title_type == TitleType::Enterprise && info.tax_id.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(DomainError::Invalid {
                field: "tax_id",
                message: "an enterprise title needs its taxpayer id".into(),
            }
            .into());
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM invoice_infos WHERE customer = $1")
            .bind(info.customer)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO invoice_infos (customer, title_type, title, tax_id) VALUES ($1, $2, $3, $4)")
            .bind(info.customer)
            .bind(info.title_type.as_str())
            .bind(&info.title)
            .bind(info.tax_id.clone())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Requests an invoice, enforcing rules 2-5; an order is invoiced at most once (alone or in
    /// its billing cycle), at what was paid net of refunds. Returns the request's id and amount.
    pub async fn request_invoice(
        &self,
        request: &NewInvoiceRequest,
        now: DateTime<Utc>,
    ) -> Result<(i64, Decimal), StoreError> {
        let customer = self.existing_customer(request.customer).await?;
        // Rule 5: the partner invoices its resale customers; the platform its referral ones.
        match (customer.association, request.issuer) {
            (Association::Resale, Issuer::Partner(p)) if p == customer.partner => {}
            (Association::Resale, _) => {
                return Err(refused(
                    ErrorCode::InvoiceIssuerMismatch,
                    format!(
                        "customer {} is a resale customer: its partner {} invoices it (rule 5)",
                        customer.id, customer.partner
                    ),
                )
                .into());
            }
            (Association::Referral, Issuer::Platform) => {}
            (Association::Referral, Issuer::Partner(_)) => {
                return Err(refused(
                    ErrorCode::InvoiceIssuerMismatch,
                    format!(
                        "customer {} is a referral customer: the platform invoices it, never under a partner's title (rule 5)",
                        customer.id
                    ),
                ).into());
            }
        }
        // Rule 4: the account's one valid title; rule 3: kind and medium it allows.
        let info = self.invoice_info(customer.id).await?.ok_or_else(|| {
            refused(
                ErrorCode::InvoiceInfoMissing,
                format!("customer {} has no invoice title yet (rule 4)", customer.id),
            )
        })?;
        check_kind_and_medium(request.kind, request.medium, info.title_type)?;

        // The orders invoiced are claimed in the request's transaction: each at most once,
        // alone or in its billing cycle, at what was paid net of refunds.
        let mut tx = self.pool().begin().await?;
        // A write first, so that the transaction holds SQLite's write lock before it reads:
        // one that read first and then wrote after another writer committed would fail with
        // a stale snapshot. (On PostgreSQL it holds the customer's row, which is harmless.)
        sqlx::query("UPDATE customers SET id = id WHERE id = $1")
            .bind(customer.id)
            .execute(&mut *tx)
            .await?;
        let net = |row: &sqlx::any::AnyRow| -> Result<Decimal, StoreError> {
            let text: String = row.try_get("amount")?;
            let paid = Decimal::from_str_exact(&text).map_err(|e| DomainError::Invalid {
                field: "amount",
                message: e.to_string(),
            })?;
            let refunded = crate::money::from_cents(row.try_get("refunded_cents")?);
            Ok(paid.checked_sub(refunded).unwrap_or(Decimal::ZERO).max(Decimal::ZERO))
        };
        let (amount, cycle, order, claimed) = match request.scope {
            InvoiceScope::BillingCycle { year, month } => {
                check_cycle_closed(year, month, now)?;
                let (from, to) = month_bounds(year, month)?;
                let rows = sqlx::query(
                    "SELECT id, status, amount, refunded_cents, currency, paid_at, created_at, invoice_request FROM orders WHERE customer = $1 AND created_at < $2",
                )
                .bind(customer.id)
                .bind(to.timestamp_millis())
                .fetch_all(&mut *tx)
                .await?;
                let mut amount = Decimal::ZERO;
                let mut claimed = Vec::new();
                for row in &rows {
                    let status: String = row.try_get("status")?;
                    let created: i64 = row.try_get("created_at")?;
                    // Rule 2: a cycle in arrears must be settled first.
                    if status == OrderStatus::PendingPayment.as_str() && created >= from.timestamp_millis() {
                        return Err(refused(
                            ErrorCode::BillingCycleInArrears,
                            format!("billing cycle {year}-{month:02} has unpaid orders: settle them first (rule 2)"),
                        )
                        .into());
                    }
                    let paid_at: Option<i64> = row.try_get("paid_at")?;
                    let currency: String = row.try_get("currency")?;
                    let invoiced: Option<i64> = row.try_get("invoice_request")?;
                    let in_cycle = paid_at.is_some_and(|t| t >= from.timestamp_millis() && t < to.timestamp_millis());
                    if in_cycle && currency == request.currency.as_str() && invoiced.is_none() {
                        amount = crate::money::total([amount, net(row)?])
                            .ok_or_else(|| out_of_range("amount", format!("the paid amount of {year}-{month:02}")))?;
                        claimed.push((row.try_get::<i64, _>("id")?, row.try_get::<i64, _>("refunded_cents")?));
                    }
                }
                (amount, Some(format!("{year}-{month:02}")), None, claimed)
            }
            InvoiceScope::Order { order } => {
                let row = sqlx::query(
                    "SELECT customer, status, amount, refunded_cents, currency, paid_at, invoice_request FROM orders WHERE id = $1",
                )
                .bind(order)
                .fetch_optional(&mut *tx)
                .await?
                .filter(|r| r.try_get::<i64, _>("customer").is_ok_and(|c| c == customer.id))
                .ok_or(DomainError::NotFound {
                    what: Entity::Order,
                    id: order,
                })?;
                if row.try_get::<Option<i64>, _>("paid_at")?.is_none() {
                    let status: OrderStatus =
                        row.try_get::<String, _>("status")?
                            .parse()
                            .map_err(|_| DomainError::Invalid {
                                field: "status",
                                message: "an order status the store does not know".into(),
                            })?;
                    return Err(DomainError::OrderState {
                        order,
                        status,
                        operation: "invoiced",
                    }
                    .into());
                }
                let currency: String = row.try_get("currency")?;
                if currency != request.currency.as_str() {
                    return Err(DomainError::CurrencyMismatch(format!("order {order} is in {currency}")).into());
                }
                if let Some(invoice) = row.try_get::<Option<i64>, _>("invoice_request")? {
                    return Err(already_invoiced(order, invoice).into());
                }
                (
                    net(&row)?,
                    None,
                    Some(order),
                    vec![(order, row.try_get::<i64, _>("refunded_cents")?)],
                )
            }
        };
        if amount <= Decimal::ZERO {
            return Err(refused(ErrorCode::NothingToInvoice, "there is no paid amount to invoice").into());
        }
        let basis = match request.scope {
            InvoiceScope::BillingCycle { .. } => InvoiceBasis::BillingCycle,
            InvoiceScope::Order { .. } => InvoiceBasis::Order,
        };
        let issuer = match request.issuer {
            Issuer::Partner(p) => format!("partner:{p}"),
            Issuer::Platform => "platform".to_owned(),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO invoice_requests (customer, basis, kind, medium, amount, currency, status, requested_at, cycle, order_id, issuer) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(customer.id)
        .bind(basis.as_str())
        .bind(request.kind.as_str())
        .bind(request.medium.as_str())
        .bind(amount.to_string())
        .bind(request.currency.as_str())
        .bind(InvoiceStatus::Submitted.as_str())
        .bind(now.timestamp_millis())
        .bind(cycle)
        .bind(order)
        .bind(issuer)
        .fetch_one(&mut *tx)
        .await?;
        for (claim, refunded) in claimed {
            // Conditional: of two requests racing for an order, one invoices it; and only at
            // the net amount read, so a refund made meanwhile (which found no invoice to
            // credit) refuses the request rather than being left out of it.
            let done = sqlx::query(
                "UPDATE orders SET invoice_request = $1 WHERE id = $2 AND invoice_request IS NULL AND refunded_cents = $3",
            )
            .bind(id)
            .bind(claim)
            .bind(refunded)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(refused(
                    ErrorCode::InvoiceConflict,
                    format!("order {claim} was invoiced or refunded while this invoice was computed: ask again"),
                )
                .into());
            }
        }
        tx.commit().await?;
        Ok((id, amount))
    }
}

fn already_invoiced(order: i64, invoice: i64) -> crate::errors::DomainError {
    refused(
        ErrorCode::AlreadyInvoiced,
        format!("order {order} is already invoiced by invoice request {invoice}"),
    )
}
