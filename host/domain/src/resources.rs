//! Resources created by paid orders, their expiry and renewal (rule 11).

use crate::entities::*;
use crate::errors::DomainError;
use crate::store::Store;
use chrono::{DateTime, Duration, Months, Utc};
use sqlx::Row;

/// Auto-renewal charges from this many days before expiry (rule 11).
pub const AUTO_RENEW_DAYS_BEFORE: i64 = 7;

crate::entities::word_enum! {
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

fn refused(code: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Refused {
        code,
        message: message.into(),
    }
}

/// Whether an auto-renewing resource is due for its renewal charge at `now` (rule 11).
pub fn auto_renew_due(resource: &Resource, now: DateTime<Utc>) -> bool {
    resource.expiry_policy == ExpiryPolicy::AutoRenew
        && now >= resource.expires_at - Duration::days(AUTO_RENEW_DAYS_BEFORE)
}

fn resource_from_row(r: &sqlx::any::AnyRow) -> Result<Resource, DomainError> {
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
    ) -> Result<i64, DomainError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO resources (customer, product, period, status, expiry_policy, effective_at, expires_at, main_resource) \
             VALUES ($1, $2, $3, 'in-use', $4, $5, $6, $7) RETURNING id",
        )
        .bind(customer)
        .bind(product)
        .bind(period.as_str())
        .bind(policy.as_str())
        .bind(effective_at.timestamp_millis())
        .bind(expires_at.timestamp_millis())
        .bind(main_resource)
        .fetch_one(self.pool())
        .await?)
    }

    /// One resource.
    pub async fn resource(&self, id: i64) -> Result<Option<Resource>, DomainError> {
        let row = sqlx::query(&format!("{RESOURCE_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(resource_from_row).transpose()
    }

    /// Auto-renewing resources in use whose renewal charge is due at `now` (rule 11).
    pub async fn resources_due_for_renewal(&self, now: DateTime<Utc>) -> Result<Vec<Resource>, DomainError> {
        let horizon = now + Duration::days(AUTO_RENEW_DAYS_BEFORE);
        let rows = sqlx::query(&format!(
            "{RESOURCE_COLUMNS} WHERE expiry_policy = 'auto-renew' AND status = 'in-use' AND expires_at <= $1 ORDER BY expires_at, id"
        ))
        .bind(horizon.timestamp_millis())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(resource_from_row).collect()
    }

    /// Renews a main resource and its children together, in the period type it was bought
    /// in (rule 11): 1-11 months or 1-3 years. Returns the new expiry.
    pub async fn renew_resource(&self, id: i64, period: PeriodType, count: u32) -> Result<DateTime<Utc>, DomainError> {
        let resource = self
            .resource(id)
            .await?
            .ok_or(DomainError::NotFound { what: "resource", id })?;
        if resource.main_resource.is_some() {
            return Err(refused(
                "renew-the-main-resource",
                format!("resource {id} is a child: renew its main resource"),
            ));
        }
        if period != resource.period {
            return Err(refused(
                "renewal-period-mismatch",
                format!(
                    "resource {id} was bought per {}: a renewal uses the same period type (rule 11)",
                    resource.period
                ),
            ));
        }
        let months = match (period, count) {
            (PeriodType::Month, 1..=11) => count,
            (PeriodType::Year, 1..=3) => count * 12,
            _ => {
                return Err(DomainError::Invalid {
                    field: "count",
                    message: "renew 1-11 months or 1-3 years".into(),
                });
            }
        };
        let expires = resource
            .expires_at
            .checked_add_months(Months::new(months))
            .ok_or(DomainError::Invalid {
                field: "count",
                message: "expiry out of range".into(),
            })?;
        sqlx::query("UPDATE resources SET expires_at = $1 WHERE id = $2 OR main_resource = $2")
            .bind(expires.timestamp_millis())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(expires)
    }
}

impl Store {
    /// Turns auto-renewal on (or off, to a grace period) for a main resource and its children.
    pub async fn set_auto_renew(&self, id: i64, on: bool) -> Result<(), DomainError> {
        let resource = self
            .resource(id)
            .await?
            .ok_or(DomainError::NotFound { what: "resource", id })?;
        if resource.main_resource.is_some() {
            return Err(refused(
                "renew-the-main-resource",
                format!("resource {id} is a child: set its main resource"),
            ));
        }
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
    pub async fn on_demand_resources(&self, customer: CustomerId) -> Result<Vec<Resource>, DomainError> {
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
