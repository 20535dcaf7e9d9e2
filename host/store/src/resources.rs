//! Resources created by paid orders, their expiry and renewal (rule 11).

use crate::accounts::AccountKind;
use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::orders::RefundDone;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration, Months, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

/// Auto-renewal charges from this many days before expiry (rule 11).
pub const AUTO_RENEW_DAYS_BEFORE: i64 = 7;
/// The most auto-renewals one scheduler run tries; the rest wait for the next run.
pub const AUTO_RENEWALS_PER_RUN: i64 = 200;
/// How long after one try the scheduler tries an auto-renewal again (one the rules refused, or
/// the customer could not pay).
pub const AUTO_RENEW_RETRY_HOURS: i64 = 24;

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

pchost_domain::word_enum! {
    /// Where a resource is in its life.
    pub enum ResourceStatus {
        /// Running, within its term.
        InUse => "in-use",
        /// Past its term, in its grace period ([`GRACE_PERIOD_DAYS`]): renewing it puts it
        /// back in use; at the end of the grace period it is released (closed).
        Expired => "expired",
        /// Stopped: by its `freeze` expiry policy, or with its customer's resources (rule 18).
        Frozen => "frozen",
        /// Released: unsubscribed, deleted at expiry, or past its grace period.
        Closed => "closed",
    }
}

/// How long an expired resource whose policy is a grace period (or whose auto-renewal could
/// not be paid) waits, renewable, before it is released.
pub const GRACE_PERIOD_DAYS: i64 = 15;

/// A resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Id.
    pub id: i64,
    /// Owner.
    pub customer: CustomerId,
    /// Where it is in its life.
    pub status: ResourceStatus,
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
    /// How many units: what its order line bought, and what a renewal charges for.
    pub quantity: u32,
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
        status: r
            .try_get::<String, _>("status")?
            .parse()
            .map_err(|e: UnknownWord| bad(e.to_string()))?,
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
        quantity: u32::try_from(r.try_get::<i64, _>("quantity")?).map_err(|e| bad(e.to_string()))?,
    })
}

const RESOURCE_COLUMNS: &str =
    "SELECT id, customer, status, product, period, expiry_policy, expires_at, main_resource, quantity FROM resources";

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

    /// Records a resource a paid order created, with its term paid by that order's line of its
    /// product and period, one of one unit first (all of the order when it has none).
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
        let mut tx = self.pool().begin().await?;
        let id = sqlx::query_scalar(
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
        .fetch_one(&mut *tx)
        .await?;
        if let (Some(order), PeriodType::Month | PeriodType::Year) = (order, period) {
            // A resource recorded here has one unit: a line of one unit first.
            let line: Option<i64> = sqlx::query_scalar(
                "SELECT line FROM order_lines WHERE order_id = $1 AND product = $2 AND period = $3 \
                 ORDER BY CASE WHEN quantity = 1 THEN 0 ELSE 1 END, line LIMIT 1",
            )
            .bind(order)
            .bind(product)
            .bind(period.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            crate::terms::record(&mut tx, id, order, line, effective_at, expires_at).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// One resource.
    pub async fn resource(&self, id: i64) -> Result<Option<Resource>, StoreError> {
        let row = sqlx::query(&format!("{RESOURCE_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(resource_from_row).transpose()
    }

    /// Auto-renewing main resources in use whose renewal charge is due at `now` and not tried
    /// in the last [`AUTO_RENEW_RETRY_HOURS`] (rule 11), at most [`AUTO_RENEWALS_PER_RUN`].
    pub async fn resources_due_for_renewal(&self, now: DateTime<Utc>) -> Result<Vec<Resource>, StoreError> {
        let horizon = now + Duration::days(AUTO_RENEW_DAYS_BEFORE);
        // Those tried less than a day ago are left out here, not only at their claim: a run
        // reads only what it may try, and at most a batch of them (the rest at the next run).
        let rows = sqlx::query(&format!(
            "{RESOURCE_COLUMNS} WHERE expiry_policy = 'auto-renew' AND status = 'in-use' AND main_resource IS NULL \
             AND expires_at <= $1 AND (auto_renew_tried_at IS NULL OR auto_renew_tried_at <= $2) \
             ORDER BY expires_at, id LIMIT $3"
        ))
        .bind(horizon.timestamp_millis())
        .bind((now - Duration::hours(AUTO_RENEW_RETRY_HOURS)).timestamp_millis())
        .bind(AUTO_RENEWALS_PER_RUN)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(resource_from_row).collect()
    }
}

/// Extends a main resource in use (or in its grace period, or frozen at expiry) and its
/// children together by `count` periods of the type
/// it was bought in (rule 11: 1-11 months or 1-3 years), inside the transaction of the
/// renewal order's payment. Returns the old expiry and the new one.
pub(crate) async fn extend_term(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    period: PeriodType,
    count: u32,
) -> Result<(DateTime<Utc>, DateTime<Utc>), StoreError> {
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
    // Conditional on the expiry just read: of two renewals paid at once, the second finds it
    // moved and is refused (its payment rolls back; paying again extends from the new
    // expiry), rather than both extending from the same date.
    // A resource in its grace period, or frozen by its expiry policy, is back in use once
    // renewed, from its old expiry: the grace period was lent, not given. (One frozen with its
    // customer is not renewed: a frozen customer's payments are refused before this.)
    let extended = sqlx::query(
        "UPDATE resources SET expires_at = $1, status = 'in-use' WHERE id = $2 AND status IN ('in-use', 'expired', 'frozen') AND expires_at = $3",
    )
    .bind(expires.timestamp_millis())
    .bind(id)
    .bind(resource.expires_at.timestamp_millis())
    .execute(&mut **tx)
    .await?;
    if extended.rows_affected() == 0 {
        return Err(refused(
            ErrorCode::NotRenewable,
            format!("resource {id} is no longer in use, or was renewed meanwhile: pay again"),
        )
        .into());
    }
    sqlx::query(
        "UPDATE resources SET expires_at = $1, status = 'in-use' WHERE main_resource = $2 AND status IN ('in-use', 'expired', 'frozen')",
    )
        .bind(expires.timestamp_millis())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok((resource.expires_at, expires))
}

impl Store {
    /// Claims the auto-renewal of `id` for one try at `now` (rule 11): false when another
    /// instance holds it, or it was tried less than [`AUTO_RENEW_RETRY_HOURS`] ago.
    pub async fn claim_auto_renewal(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE resources SET auto_renew_tried_at = $1 WHERE id = $2 AND expiry_policy = 'auto-renew' \
             AND (auto_renew_tried_at IS NULL OR auto_renew_tried_at <= $3)",
        )
        .bind(now.timestamp_millis())
        .bind(id)
        .bind((now - Duration::hours(AUTO_RENEW_RETRY_HOURS)).timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Turns auto-renewal on (or off, to a grace period) for a main resource and its children.
    /// Partner staff need the customer's authorization (rule 23: a renewal decision).
    pub async fn set_auto_renew(&self, id: i64, on: bool, actor: &crate::accounts::Actor) -> Result<(), StoreError> {
        let resource = self.main_resource(id).await?;
        let policy = if on {
            ExpiryPolicy::AutoRenew
        } else {
            ExpiryPolicy::GracePeriod
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE resources SET expiry_policy = $1 WHERE id = $2 OR main_resource = $2")
            .bind(policy.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Rule 23, held until the commit: a revocation meanwhile comes after the change or
        // refuses it. Taken after the resource, as payments and unsubscriptions take them.
        crate::authorizations::hold_may_operate(&mut tx, actor, resource.customer).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A customer's on-demand resources in use: those of on-demand products, and those a
    /// `to-on-demand` policy switched to hourly charging at expiry.
    pub async fn on_demand_resources(&self, customer: CustomerId) -> Result<Vec<Resource>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.customer, r.status, r.product, r.period, r.expiry_policy, r.expires_at, r.main_resource, r.quantity FROM resources r \
             JOIN products p ON p.id = r.product WHERE r.customer = $1 AND r.status = 'in-use' \
             AND (p.charging_mode = 'on-demand' OR r.period IN ('hour', 'day')) ORDER BY r.id",
        )
        .bind(customer)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(resource_from_row).collect()
    }
}

/// How often an unsubscription computes its refund again when renewals keep moving the term.
const MAX_UNSUBSCRIBE_TRIES: usize = 8;

/// What unsubscribing a resource did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unsubscription {
    /// Resources closed: the main one and its children.
    pub closed: Vec<i64>,
    /// The refunds paid, one per order that paid for the term (the one that bought it, and
    /// each renewal), each to whoever paid that order (rule 9).
    pub refunds: Vec<RefundDone>,
    /// What they come to.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// What unsubscribing a resource would refund.
#[derive(Clone, Debug, PartialEq)]
pub struct UnsubscriptionRefund {
    /// The order that bought the resource.
    pub order: OrderId,
    /// The refund in all.
    pub amount: Decimal,
    /// Its shares, in cents, by the order that paid for them.
    shares: Vec<(OrderId, i64)>,
    /// The expiry of the term they were computed for: a renewal paid since moved it.
    expires_at: i64,
    /// The spec, and the latest of the resource's terms, they were computed with: a spec
    /// change paid since changed them.
    product: i64,
    latest_term: i64,
}

impl Store {
    /// What unsubscribing a main resource at `now` would refund, without doing it (rule 10):
    /// the unused part of what was actually paid for its term, main and child resources in
    /// use: of each of their terms (the order that bought them, each renewal, each change to a
    /// dearer spec), its value times the share of its span still ahead, capped at what is left
    /// to refund on its order. What approval rules are shown before
    /// [`Store::unsubscribe_resource`] runs.
    pub async fn unsubscription_refund(&self, id: i64, now: DateTime<Utc>) -> Result<UnsubscriptionRefund, StoreError> {
        self.main_resource(id).await?;
        let row = sqlx::query(
            "SELECT status, order_id, expires_at, product, (SELECT COALESCE(MAX(t.id), 0) FROM resource_terms t WHERE t.resource_id = resources.id) AS latest_term \
             FROM resources WHERE id = $1",
        )
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        let status: String = row.try_get("status")?;
        if status != "in-use" {
            return Err(refused(ErrorCode::ResourceNotInUse, format!("resource {id} is {status}")).into());
        }
        let order: OrderId = row.try_get::<Option<i64>, _>("order_id")?.ok_or_else(|| {
            refused(
                ErrorCode::ResourceWithoutOrder,
                format!("resource {id} records no order to refund"),
            )
        })?;
        let expires: i64 = row.try_get("expires_at")?;
        let mut conn = self.pool().acquire().await?;
        let mut resources: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM resources WHERE main_resource = $1 AND status = 'in-use' ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        resources.insert(0, id);
        let shares = crate::terms::unused_by_order(&mut conn, &resources, now).await?;
        drop(conn);
        let total = shares.iter().try_fold(0i64, |sum, (_, c)| sum.checked_add(*c));
        let total = total.ok_or_else(|| crate::errors::out_of_range("amount", "the refund"))?;
        if total == 0 {
            return Err(refused(
                ErrorCode::NothingToRefund,
                format!("resource {id} has no unused paid term"),
            )
            .into());
        }
        Ok(UnsubscriptionRefund {
            order,
            amount: crate::money::from_cents(total),
            shares,
            expires_at: expires,
            product: row.try_get("product")?,
            latest_term: row.try_get("latest_term")?,
        })
    }

    /// What a request of `actor` with `idempotency_key` already did unsubscribing resource
    /// `id`, if it succeeded: a retry's answer, before anything checks the resource it closed.
    pub async fn unsubscribed_with_key(
        &self,
        id: i64,
        actor: &crate::accounts::Actor,
        idempotency_key: &str,
    ) -> Result<Option<Unsubscription>, StoreError> {
        let scope = format!("unsubscribe:{}", actor.label());
        crate::orders::remembered(self, &scope, idempotency_key, &serde_json::json!({ "resource": id })).await
    }

    /// The answer to a twin of this request (same key, sent before this one was answered)
    /// that closed the resource between this one's look-up of its key and its look at the
    /// resource: the first answer, rather than `refusal`. Refuses when there is none.
    pub async fn unsubscribed_meanwhile(
        &self,
        id: i64,
        actor: &crate::accounts::Actor,
        idempotency_key: &str,
        refusal: StoreError,
    ) -> Result<Unsubscription, StoreError> {
        match self.unsubscribed_with_key(id, actor, idempotency_key).await? {
            Some(first) => Ok(first),
            None => Err(refusal),
        }
    }

    /// Unsubscribes a main resource with its children (rule 10) in one transaction: closes
    /// them and pays each share of [`Store::unsubscription_refund`] back to whoever paid its
    /// order (rule 9), each within what is left to refund on that order. A refusal writes
    /// nothing; a retry with the same idempotency key returns the first result.
    pub async fn unsubscribe_resource(
        &self,
        id: i64,
        actor: &crate::accounts::Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Unsubscription, StoreError> {
        crate::orders::check_key(idempotency_key)?;
        if let Some(first) = self.unsubscribed_with_key(id, actor, idempotency_key).await? {
            return Ok(first);
        }
        // Rule 23: partner staff unsubscribe for a customer only with its authorization.
        let resource = self.main_resource(id).await?;
        crate::authorizations::check_may_operate(self.pool(), actor, resource.customer).await?;
        // The refund is computed before the transaction; closing is conditional on the term it
        // was computed for, so a renewal or a spec change paid meanwhile is not left out of it:
        // the refund is computed again.
        for _ in 0..MAX_UNSUBSCRIBE_TRIES {
            if let Some(done) = self
                .try_unsubscribe(id, actor, resource.customer, idempotency_key, now)
                .await?
            {
                return Ok(done);
            }
        }
        Err(StoreError::Corrupt {
            table: "resources",
            detail: format!("resource {id} kept being renewed while it was unsubscribed"),
        })
    }

    /// One try of [`Store::unsubscribe_resource`]; `None` when the term moved since the refund
    /// was computed.
    async fn try_unsubscribe(
        &self,
        id: i64,
        actor: &crate::accounts::Actor,
        customer: CustomerId,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Unsubscription>, StoreError> {
        let scope = &format!("unsubscribe:{}", actor.label());
        let request = &serde_json::json!({ "resource": id });
        // Refused because a twin of this request (same key) closed the resource meanwhile: the
        // twin's answer.
        let refund = match self.unsubscription_refund(id, now).await {
            Ok(refund) => refund,
            Err(refusal) => {
                return self
                    .unsubscribed_meanwhile(id, actor, idempotency_key, refusal)
                    .await
                    .map(Some);
            }
        };
        // Each payer's cash account, opened if need be before the transaction.
        let mut payers = Vec::with_capacity(refund.shares.len());
        for (order, cents) in &refund.shares {
            let found = self.existing_order(*order).await?;
            let paid_by: Option<String> = sqlx::query_scalar("SELECT paid_by FROM orders WHERE id = $1")
                .bind(*order)
                .fetch_one(self.pool())
                .await?;
            let owner = crate::orders::payer_account(*order, paid_by.as_deref())?;
            let account = self
                .open_account(owner, AccountKind::Cash, found.currency, Decimal::ZERO)
                .await?;
            let paid = crate::money::to_cents(found.amount).unwrap_or(0);
            payers.push((*order, *cents, paid, account.id));
        }

        let mut tx = self.pool().begin().await?;
        if let Some(first) =
            crate::orders::claim_key::<Unsubscription>(&mut tx, scope, idempotency_key, request, now).await?
        {
            return Ok(Some(first));
        }
        // Closed only as the refund saw it: same expiry, spec and terms (the spec is on the row
        // itself, so PostgreSQL checks it again on the row a concurrent change committed).
        let main = sqlx::query(
            "UPDATE resources SET status = 'closed' WHERE id = $1 AND status = 'in-use' AND expires_at = $2 AND product = $3 \
             AND (SELECT COALESCE(MAX(t.id), 0) FROM resource_terms t WHERE t.resource_id = $1) = $4",
        )
        .bind(id)
        .bind(refund.expires_at)
        .bind(refund.product)
        .bind(refund.latest_term)
        .execute(&mut *tx)
        .await?;
        if main.rows_affected() == 0 {
            let status: String = sqlx::query_scalar("SELECT status FROM resources WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            if status == "in-use" {
                // Renewed or changed since the refund was computed.
                tx.rollback().await?;
                return Ok(None);
            }
            return Err(refused(
                ErrorCode::ResourceNotInUse,
                format!("resource {id} is no longer in use"),
            )
            .into());
        }
        // Rule 23 again, held until the commit: a revocation since the first check refuses it.
        // Taken after the resource, as a renewal's payment takes them: the same order of locks.
        crate::authorizations::hold_may_operate(&mut tx, actor, customer).await?;
        let mut closed: Vec<i64> = sqlx::query_scalar(
            "UPDATE resources SET status = 'closed' WHERE main_resource = $1 AND status = 'in-use' RETURNING id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        closed.push(id);
        closed.sort_unstable();
        let mut refunds = Vec::with_capacity(payers.len());
        for (order, cents, paid, account) in payers {
            let done = crate::orders::pay_refund(&mut tx, order, cents, paid, account, actor, now).await?;
            refunds.push(done);
        }
        let result = Unsubscription {
            closed,
            refunds,
            amount: refund.amount,
        };
        crate::orders::remember(&mut tx, scope, idempotency_key, &result).await?;
        tx.commit().await?;
        Ok(Some(result))
    }
}
