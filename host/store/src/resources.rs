//! Resources created by paid orders, their expiry and renewal (rule 11).

use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Months, Utc};
use sqlx::{Any, Row, Transaction};

/// Auto-renewal charges from this many days before expiry (rule 11).
pub const AUTO_RENEW_DAYS_BEFORE: i64 = 7;

pchost_domain::word_enum! {
    /// What happens to a resource when it expires.
    pub enum ExpiryPolicy {
        /// A grace period, then release.
        GracePeriod => "grace-period",
        /// Switch to on-demand charging.
        ToOnDemand => "to-on-demand",
        /// Delete it.
        Delete => "delete",
        /// Renew it automatically, charging from 7 days before expiry.
        AutoRenew => "auto-renew",
        /// Freeze it.
        Freeze => "freeze",
    }
}

/// A resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Id.
    pub id: i64,
    /// Owner.
    pub customer: CustomerId,
    /// Product.
    pub product: ProductId,
    /// The period type it was bought per; renewals keep it (rule 11).
    pub period: PeriodType,
    /// Expiry policy.
    pub expiry_policy: ExpiryPolicy,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// The main resource of a child resource.
    pub main_resource: Option<i64>,
}

/// Whether an auto-renewing resource is due for its renewal charge at `now` (rule 11).
pub fn auto_renew_due(resource: &Resource, now: DateTime<Utc>) -> bool {
    resource.expiry_policy == ExpiryPolicy::AutoRenew
        && now >= resource.expires_at - Duration::days(AUTO_RENEW_DAYS_BEFORE)
}

fn resource_from_row(r: &sqlx::any::AnyRow) -> Result<Resource, StoreError> {
    let bad = |e: String| DomainError::Invalid {
        field: "resource",
        message: e,
    };
    let expires: i64 = r.try_get("expires_at")?;
    Ok(Resource {
        id: r.try_get("id")?,
        customer: r.try_get("customer")?,
        product: r.try_get("product")?,
        period: r
            .try_get::<String, _>("period")?
            .parse()
            .map_err(|e: UnknownWord| bad(e.to_string()))?,
        expiry_policy: r
            .try_get::<String, _>("expiry_policy")?
            .parse()
            .map_err(|e: UnknownWord| bad(e.to_string()))?,
        expires_at: DateTime::from_timestamp_millis(expires).ok_or_else(|| bad(format!("expires_at {expires}")))?,
        main_resource: r.try_get("main_resource")?,
    })
}

const RESOURCE_COLUMNS: &str =
    "SELECT id, customer, product, period, expiry_policy, expires_at, main_resource FROM resources";

impl Store {
    /// The resources of a customer, by id.
    pub async fn resources_of(&self, customer: CustomerId) -> Result<Vec<Resource>, StoreError> {
        let rows = sqlx::query(&format!("{RESOURCE_COLUMNS} WHERE customer = $1 ORDER BY id"))
            .bind(customer)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(resource_from_row).collect()
    }

    /// A resource that must exist and be a main resource: children follow their main one.
    async fn main_resource(&self, id: i64) -> Result<Resource, StoreError> {
        let resource = self.resource(id).await?.ok_or(DomainError::NotFound {
            what: Entity::Resource,
            id,
        })?;
        if let Some(main) = resource.main_resource {
            return Err(refused(
                ErrorCode::NotAMainResource,
                format!("resource {id} is a child of {main}: act on its main resource"),
            )
            .into());
        }
        Ok(resource)
    }

    /// Records a resource a paid order created.
    #[expect(clippy::too_many_arguments, reason = "a resource's fields, named at the call site")]
    pub async fn create_resource(
        &self,
        customer: CustomerId,
        product: ProductId,
        period: PeriodType,
        policy: ExpiryPolicy,
        effective_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        main_resource: Option<i64>,
        order: Option<OrderId>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO resources (customer, product, period, status, expiry_policy, effective_at, expires_at, main_resource, order_id) \
             VALUES ($1, $2, $3, 'in-use', $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(customer)
        .bind(product)
        .bind(period.as_str())
        .bind(policy.as_str())
        .bind(effective_at.timestamp_millis())
        .bind(expires_at.timestamp_millis())
        .bind(main_resource)
        .bind(order)
        .fetch_one(self.pool())
        .await?)
    }

    /// One resource.
    pub async fn resource(&self, id: i64) -> Result<Option<Resource>, StoreError> {
        let row = sqlx::query(&format!("{RESOURCE_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(resource_from_row).transpose()
    }

    /// Auto-renewing resources in use whose renewal charge is due at `now` (rule 11).
    pub async fn resources_due_for_renewal(&self, now: DateTime<Utc>) -> Result<Vec<Resource>, StoreError> {
        let horizon = now + Duration::days(AUTO_RENEW_DAYS_BEFORE);
        let rows = sqlx::query(&format!(
            "{RESOURCE_COLUMNS} WHERE expiry_policy = 'auto-renew' AND status = 'in-use' AND expires_at <= $1 ORDER BY expires_at, id"
        ))
        .bind(horizon.timestamp_millis())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(resource_from_row).collect()
    }
}

/// Extends a main resource in use and its children together by `count` periods of the type
/// it was bought in (rule 11: 1-11 months or 1-3 years), inside the transaction of the
/// renewal order's payment. Returns the new expiry.
pub(crate) async fn extend_term(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    period: PeriodType,
    count: u32,
) -> Result<DateTime<Utc>, StoreError> {
    let row = sqlx::query(&format!("{RESOURCE_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::NotFound {
            what: Entity::Resource,
            id,
        })?;
    let resource = resource_from_row(&row)?;
    if let Some(main) = resource.main_resource {
        return Err(refused(
            ErrorCode::NotAMainResource,
            format!("resource {id} is a child of {main}: act on its main resource"),
        )
        .into());
    }
    if period != resource.period {
        return Err(refused(
            ErrorCode::RenewalPeriodMismatch,
            format!(
                "resource {id} was bought per {}: a renewal uses the same period type (rule 11)",
                resource.period
            ),
        )
        .into());
    }
    let months = match (period, count) {
        (PeriodType::Month, 1..=11) => count,
        (PeriodType::Year, 1..=3) => count * 12,
        _ => {
            return Err(DomainError::Invalid {
                field: "count",
                message: "renew 1-11 months or 1-3 years".into(),
            }
            .into());
        }
    };
    let expires = resource
        .expires_at
        .checked_add_months(Months::new(months))
        .ok_or(DomainError::Invalid {
            field: "count",
            message: "expiry out of range".into(),
        })?;
    let extended =
        sqlx::query("UPDATE resources SET expires_at = $1 WHERE (id = $2 OR main_resource = $2) AND status = 'in-use'")
            .bind(expires.timestamp_millis())
            .bind(id)
            .execute(&mut **tx)
            .await?;
    if extended.rows_affected() == 0 {
        return Err(refused(ErrorCode::NotRenewable, format!("resource {id} is no longer in use")).into());
    }
    Ok(expires)
}

impl Store {
    /// Turns auto-renewal on (or off, to a grace period) for a main resource and its children.
    pub async fn set_auto_renew(&self, id: i64, on: bool) -> Result<(), StoreError> {
        self.main_resource(id).await?;
        let policy = if on {
            ExpiryPolicy::AutoRenew
        } else {
            ExpiryPolicy::GracePeriod
        };
        sqlx::query("UPDATE resources SET expiry_policy = $1 WHERE id = $2 OR main_resource = $2")
            .bind(policy.as_str())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A customer's on-demand resources in use.
    pub async fn on_demand_resources(&self, customer: CustomerId) -> Result<Vec<Resource>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.customer, r.product, r.period, r.expiry_policy, r.expires_at, r.main_resource FROM resources r \
             JOIN products p ON p.id = r.product WHERE r.customer = $1 AND p.charging_mode = 'on-demand' AND r.status = 'in-use' ORDER BY r.id",
        )
        .bind(customer)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(resource_from_row).collect()
    }
}

/// A refund above this needs a customer manager's approval (rule 10; 50,000 on the seed
/// platform).
pub const REFUND_APPROVAL_THRESHOLD: rust_decimal::Decimal = rust_decimal::Decimal::from_parts(50_000, 0, 0, false, 0);

/// What unsubscribing a resource did.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsubscription {
    /// Resources closed: the main one and its children.
    pub closed: Vec<i64>,
    /// The refund recorded against the resource's order.
    pub refund: i64,
    /// Its amount: the unused term at list price, renewed periods included, capped at what
    /// is left to refund on the order.
    pub amount: rust_decimal::Decimal,
    /// Whether the approval flow must approve it before it is paid (rule 10).
    pub needs_approval: bool,
}

/// What unsubscribing a resource would refund.
#[derive(Clone, Debug, PartialEq)]
pub struct UnsubscriptionRefund {
    /// The order that bought the resource.
    pub order: OrderId,
    /// Its status now.
    order_status: OrderStatus,
    /// The refund.
    pub amount: rust_decimal::Decimal,
    amount_cents: i64,
    /// What was paid for the order: the cap on its refunds.
    paid_cents: i64,
    /// The children closed with it.
    children: Vec<i64>,
}

impl Store {
    /// What unsubscribing a main resource at `now` would refund, without doing it: the order
    /// that bought it and the unused term (renewed periods included, as the expiry already
    /// counts them), capped at what is left to refund on the order. What approval rules are
    /// shown before [`Store::unsubscribe_resource`] runs.
    pub async fn unsubscription_refund(&self, id: i64, now: DateTime<Utc>) -> Result<UnsubscriptionRefund, StoreError> {
        use rust_decimal::Decimal;
        self.main_resource(id).await?;
        let status: String = sqlx::query_scalar("SELECT status FROM resources WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        if status != "in-use" {
            return Err(refused(ErrorCode::ResourceNotInUse, format!("resource {id} is {status}")).into());
        }
        let order: Option<i64> = sqlx::query_scalar("SELECT order_id FROM resources WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        let order = order.ok_or_else(|| {
            refused(
                ErrorCode::ResourceWithoutOrder,
                format!("resource {id} records no order to refund"),
            )
        })?;
        let children: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM resources WHERE main_resource = $1 AND status = 'in-use'")
                .bind(id)
                .fetch_all(self.pool())
                .await?;
        let mut unused = Decimal::ZERO;
        for rid in std::iter::once(id).chain(children.iter().copied()) {
            let r = self.resource(rid).await?.ok_or(DomainError::NotFound {
                what: Entity::Resource,
                id: rid,
            })?;
            let days_per_period = match r.period {
                PeriodType::Month => Decimal::from(30),
                PeriodType::Year => Decimal::from(365),
                // Usage is billed afterwards: nothing paid ahead to refund.
                _ => continue,
            };
            let price = self
                .list_price(r.product, r.period)
                .await?
                .map(|p| p.amount)
                .unwrap_or_default();
            let remaining = Decimal::from((r.expires_at - now).num_days().max(0));
            unused = price
                .checked_mul(remaining)
                .and_then(|value| unused.checked_add(value / days_per_period))
                .ok_or_else(|| crate::errors::out_of_range("resource", "the unused term's value"))?;
        }
        let found = self.existing_order(order).await?;
        if !matches!(found.status, OrderStatus::Processing | OrderStatus::Completed) {
            return Err(DomainError::OrderState {
                order,
                status: found.status,
                operation: "refunded",
            }
            .into());
        }
        let refunded: Option<i64> =
            sqlx::query_scalar("SELECT CAST(SUM(amount_cents) AS BIGINT) FROM refunds WHERE order_id = $1")
                .bind(order)
                .fetch_one(self.pool())
                .await?;
        let left = found
            .amount
            .checked_sub(crate::money::from_cents(refunded.unwrap_or(0)))
            .ok_or_else(|| crate::errors::out_of_range("order", "the order's amount left to refund"))?;
        let amount = crate::money::settle(unused).min(left);
        if !crate::money::in_range(amount) {
            return Err(crate::errors::out_of_range("amount", amount).into());
        }
        let amount_cents = crate::money::to_cents(amount).unwrap_or(0);
        if amount_cents <= 0 {
            return Err(refused(
                ErrorCode::NothingToRefund,
                format!("resource {id} has no unused paid term"),
            )
            .into());
        }
        Ok(UnsubscriptionRefund {
            order,
            order_status: found.status,
            amount,
            amount_cents,
            paid_cents: crate::money::to_cents(found.amount).unwrap_or(0),
            children,
        })
    }

    /// Unsubscribes a main resource with its children (rule 10): closes them, and records a
    /// refund of the unused term ([`Store::unsubscription_refund`]) for the approval flow to
    /// act on.
    pub async fn unsubscribe_resource(
        &self,
        id: i64,
        actor: &crate::accounts::Actor,
        now: DateTime<Utc>,
    ) -> Result<Unsubscription, StoreError> {
        let UnsubscriptionRefund {
            order,
            order_status,
            amount,
            amount_cents,
            paid_cents,
            children,
        } = self.unsubscription_refund(id, now).await?;
        // Closing and recording the refund together: both or neither.
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE resources SET status = 'closed' WHERE (id = $1 OR main_resource = $1) AND status = 'in-use'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let refund =
            crate::orders::record_refund(&mut tx, order, order_status, amount_cents, paid_cents, actor, now).await?;
        tx.commit().await?;
        let mut all = vec![id];
        all.extend(children);
        Ok(Unsubscription {
            closed: all,
            refund,
            amount,
            needs_approval: amount > REFUND_APPROVAL_THRESHOLD,
        })
    }
}
