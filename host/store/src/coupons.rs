//! Coupon quotas and coupons (rules 7, 12, 13): a partner issues coupons to its resale
//! customers from a quota, and a customer applies up to 3 of them to a pending order.

use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, out_of_range, refused};
use crate::money::{self, Currency, from_cents, to_cents};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The most coupons one order may use (rule 7); it may also carry one discount.
pub const MAX_COUPONS_PER_ORDER: usize = 3;

pchost_domain::word_enum! {
    /// Where a coupon quota is.
    pub enum QuotaStatus {
        /// Issuing.
        Normal => "normal",
        /// Being adjusted: cannot issue.
        Adjusting => "adjusting",
        /// Frozen: cannot issue.
        Frozen => "frozen",
        /// Reclaimed: cannot issue.
        Reclaimed => "reclaimed",
        /// No longer valid: cannot issue.
        Invalid => "invalid",
    }
}

pchost_domain::word_enum! {
    /// Where a coupon is.
    pub enum CouponStatus {
        /// Not yet active.
        Inactive => "inactive",
        /// Can be used.
        Usable => "usable",
        /// Used on an order.
        Used => "used",
        /// Past its validity.
        Expired => "expired",
        /// Taken back into its quota.
        Reclaimed => "reclaimed",
    }
}

/// What a coupon may be used for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CouponLimits {
    /// First instant it can be used.
    pub valid_from: DateTime<Utc>,
    /// Last instant it can be used.
    pub valid_to: DateTime<Utc>,
    /// The order must amount to at least this.
    #[serde(with = "rust_decimal::serde::str")]
    pub min_spend: Decimal,
    /// Only for orders with a line of this service type (e.g. `ECS`).
    pub service_type: Option<String>,
    /// Refused when every line is discounted below this ratio of list price.
    pub min_discount_ratio: Option<Decimal>,
    /// The discounts it may be combined with.
    pub combines_with: Vec<DiscountKind>,
}

/// A coupon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coupon {
    /// Id.
    pub id: i64,
    /// The quota it was drawn from.
    pub quota: i64,
    /// Its owner.
    pub customer: CustomerId,
    /// Currency.
    pub currency: Currency,
    /// Face value.
    #[serde(with = "rust_decimal::serde::str")]
    pub face: Decimal,
    /// Status.
    pub status: CouponStatus,
    /// Limits.
    pub limits: CouponLimits,
}

/// One line of an order as the coupon rules see it.
#[derive(Clone, Debug, PartialEq)]
pub struct CouponLine {
    /// The product's service type.
    pub service_type: String,
    /// List price per unit.
    pub list_unit_price: Decimal,
    /// Final price per unit.
    pub unit_price: Decimal,
}

/// Rule 7: at most 3 coupons, each usable by this customer now, its minimum spend reached,
/// its service type on the order, combinable with the order's discount, and not refused by
/// its minimum-discount limit (every line discounted below it).
pub fn check_coupons(
    customer: CustomerId,
    currency: Currency,
    amount: Decimal,
    lines: &[CouponLine],
    discount: Option<DiscountKind>,
    coupons: &[Coupon],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if coupons.len() > MAX_COUPONS_PER_ORDER {
        return Err(refused(
            ErrorCode::TooManyCoupons,
            format!("an order uses at most {MAX_COUPONS_PER_ORDER} coupons (rule 7)"),
        )
        .into());
    }
    for (i, c) in coupons.iter().enumerate() {
        if coupons[..i].iter().any(|other| other.id == c.id) {
            return Err(DomainError::Invalid {
                field: "coupons",
                message: format!("coupon {} is named twice", c.id),
            }
            .into());
        }
        let limits = &c.limits;
        if c.status != CouponStatus::Usable
            || c.customer != customer
            || c.currency != currency
            || now < limits.valid_from
            || now > limits.valid_to
        {
            return Err(refused(
                ErrorCode::CouponNotUsable,
                format!("coupon {} is not usable by customer {customer} on this order now", c.id),
            )
            .into());
        }
        if amount < limits.min_spend {
            return Err(refused(
                ErrorCode::CouponMinSpend,
                format!(
                    "coupon {} needs an order of at least {} (rule 7)",
                    c.id, limits.min_spend
                ),
            )
            .into());
        }
        if let Some(service) = &limits.service_type
            && !lines.iter().any(|l| &l.service_type == service)
        {
            return Err(refused(
                ErrorCode::CouponNotApplicable,
                format!("coupon {} is for {service} and the order has none (rule 7)", c.id),
            )
            .into());
        }
        if let Some(kind) = discount
            && !limits.combines_with.contains(&kind)
        {
            return Err(refused(
                ErrorCode::CouponNotCombinable,
                format!("coupon {} cannot be combined with a {kind} discount (rule 7)", c.id),
            )
            .into());
        }
        // A ratio too large for a decimal is far above any limit: not discounted below it.
        if let Some(min) = limits.min_discount_ratio
            && lines.iter().all(|l| {
                l.list_unit_price > Decimal::ZERO
                    && l.unit_price
                        .checked_div(l.list_unit_price)
                        .is_some_and(|ratio| ratio < min)
            })
        {
            return Err(refused(
                ErrorCode::CouponDiscountTooDeep,
                format!(
                    "coupon {} needs a line priced at {min} of list or more; every line is discounted deeper (rule 7)",
                    c.id
                ),
            )
            .into());
        }
    }
    Ok(())
}

const COUPON_COLUMNS: &str = "SELECT id, quota, customer, currency, face_cents, status, valid_from, valid_to, min_spend_cents, service_type, min_discount_ratio, combines_with FROM coupons";

fn coupon_from_row(r: &sqlx::any::AnyRow) -> Result<Coupon, StoreError> {
    let bad = |field: &'static str, e: String| DomainError::Invalid { field, message: e };
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).ok_or_else(|| bad("valid", format!("{ms}")));
    let ratio: Option<String> = r.try_get("min_discount_ratio")?;
    let combines: String = r.try_get("combines_with")?;
    Ok(Coupon {
        id: r.try_get("id")?,
        quota: r.try_get("quota")?,
        customer: r.try_get("customer")?,
        currency: r
            .try_get::<String, _>("currency")?
            .parse()
            .map_err(|e: pchost_domain::CurrencyError| bad("currency", e.to_string()))?,
        face: from_cents(r.try_get("face_cents")?),
        status: r
            .try_get::<String, _>("status")?
            .parse()
            .map_err(|e: UnknownWord| bad("status", e.to_string()))?,
        limits: CouponLimits {
            valid_from: at(r.try_get("valid_from")?)?,
            valid_to: at(r.try_get("valid_to")?)?,
            min_spend: from_cents(r.try_get("min_spend_cents")?),
            service_type: r.try_get("service_type")?,
            min_discount_ratio: ratio
                .map(|t| Decimal::from_str_exact(&t).map_err(|e| bad("min_discount_ratio", e.to_string())))
                .transpose()?,
            combines_with: combines
                .split(',')
                .filter(|w| !w.is_empty())
                .map(|w| w.parse().map_err(|e: UnknownWord| bad("combines_with", e.to_string())))
                .collect::<Result<_, _>>()?,
        },
    })
}

/// A coupon quota: what a partner may issue as coupons (DOMAIN "Entities").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CouponQuota {
    /// Id.
    pub id: i64,
    /// The partner issuing from it.
    pub partner: PartnerId,
    /// Currency.
    pub currency: Currency,
    /// What is left to issue.
    #[serde(with = "rust_decimal::serde::str")]
    pub balance: Decimal,
    /// The largest coupon it may issue.
    #[serde(with = "rust_decimal::serde::str")]
    pub max_face: Decimal,
    /// Status.
    pub status: QuotaStatus,
    /// The distributor's quota it was split from, if any.
    pub parent: Option<i64>,
}

/// Cents of a quota's total and per-coupon limit, both positive.
fn quota_limits(amount: Decimal, max_face: Decimal) -> Result<(i64, i64), StoreError> {
    let amount = crate::accounts::cents(amount, "amount")?;
    let max_face = crate::accounts::cents(max_face, "max_face")?;
    if amount == 0 || max_face == 0 {
        return Err(DomainError::Invalid {
            field: "amount",
            message: "a quota and its per-coupon limit are positive".into(),
        }
        .into());
    }
    Ok((amount, max_face))
}

const QUOTA_COLUMNS: &str =
    "SELECT id, partner, currency, balance_cents, max_face_cents, status, parent FROM coupon_quotas";

fn quota_from_row(row: &sqlx::any::AnyRow) -> Result<CouponQuota, StoreError> {
    let bad = |field: &'static str, message: String| DomainError::Invalid { field, message };
    Ok(CouponQuota {
        id: row.try_get("id")?,
        partner: row.try_get("partner")?,
        currency: row
            .try_get::<String, _>("currency")?
            .parse()
            .map_err(|e: pchost_domain::CurrencyError| bad("currency", e.to_string()))?,
        balance: from_cents(row.try_get("balance_cents")?),
        max_face: from_cents(row.try_get("max_face_cents")?),
        status: row
            .try_get::<String, _>("status")?
            .parse()
            .map_err(|e: UnknownWord| bad("status", e.to_string()))?,
        parent: row.try_get("parent")?,
    })
}

impl Store {
    /// A coupon quota that must exist.
    pub async fn quota(&self, id: i64) -> Result<CouponQuota, StoreError> {
        let row = sqlx::query(&format!("{QUOTA_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(DomainError::NotFound {
                what: Entity::Quota,
                id,
            })?;
        quota_from_row(&row)
    }

    /// The coupon quotas of a partner (its own and those split to it), by id.
    pub async fn quotas_of(&self, partner: PartnerId) -> Result<Vec<CouponQuota>, StoreError> {
        let rows = sqlx::query(&format!("{QUOTA_COLUMNS} WHERE partner = $1 ORDER BY id"))
            .bind(partner)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(quota_from_row).collect()
    }

    /// A page of coupons, by id after `after`, at most `limit` (capped at
    /// [`crate::partners::MAX_PAGE`]): those drawn from a quota of `partner` and/or owned by
    /// `customer`, when given.
    pub async fn coupons_of(
        &self,
        partner: Option<PartnerId>,
        customer: Option<CustomerId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Coupon>, StoreError> {
        let rows = sqlx::query(&format!(
            "{COUPON_COLUMNS} WHERE ($1 = 0 OR quota IN (SELECT id FROM coupon_quotas WHERE partner = $2)) \
             AND ($3 = 0 OR customer = $4) AND id > $5 ORDER BY id LIMIT $6"
        ))
        .bind(i64::from(partner.is_some()))
        .bind(partner.unwrap_or(0))
        .bind(i64::from(customer.is_some()))
        .bind(customer.unwrap_or(0))
        .bind(after)
        .bind(i64::from(limit.min(crate::partners::MAX_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(coupon_from_row).collect()
    }

    /// Creates a coupon quota of a partner: `amount` in all, at most `max_face` per coupon.
    pub async fn create_quota(
        &self,
        partner: PartnerId,
        currency: Currency,
        amount: Decimal,
        max_face: Decimal,
    ) -> Result<i64, StoreError> {
        let (amount, max_face) = quota_limits(amount, max_face)?;
        Ok(sqlx::query_scalar(
            "INSERT INTO coupon_quotas (partner, currency, amount_cents, balance_cents, max_face_cents, status) VALUES ($1, $2, $3, $3, $4, 'normal') RETURNING id",
        )
        .bind(partner)
        .bind(currency.as_str())
        .bind(amount)
        .bind(max_face)
        .fetch_one(self.pool())
        .await?)
    }

    /// Sets a quota's status.
    pub async fn set_quota_status(&self, quota: i64, status: QuotaStatus) -> Result<(), StoreError> {
        let updated = sqlx::query("UPDATE coupon_quotas SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(quota)
            .execute(self.pool())
            .await?;
        if updated.rows_affected() == 0 {
            return Err(DomainError::NotFound {
                what: Entity::Quota,
                id: quota,
            }
            .into());
        }
        Ok(())
    }

    /// A quota's remaining balance.
    pub async fn quota_balance(&self, quota: i64) -> Result<Decimal, StoreError> {
        Ok(self.quota(quota).await?.balance)
    }

    /// One coupon.
    pub async fn coupon(&self, id: i64) -> Result<Option<Coupon>, StoreError> {
        let row = sqlx::query(&format!("{COUPON_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(coupon_from_row).transpose()
    }

    /// Issues a coupon to one of the partner's resale customers (rule 12) from a normal
    /// quota, within the quota's per-coupon limit and balance, which it draws down (rule 13).
    pub async fn issue_coupon(
        &self,
        quota: i64,
        customer: CustomerId,
        face: Decimal,
        limits: &CouponLimits,
    ) -> Result<Coupon, StoreError> {
        let face_cents = crate::accounts::cents(face, "face")?;
        if face_cents == 0 || limits.valid_to <= limits.valid_from {
            return Err(DomainError::Invalid {
                field: "coupon",
                message: "a positive face value and a non-empty validity window".into(),
            }
            .into());
        }
        let CouponQuota {
            partner,
            currency,
            max_face,
            status,
            ..
        } = self.quota(quota).await?;
        if status != QuotaStatus::Normal {
            return Err(refused(
                ErrorCode::QuotaUnavailable,
                format!("quota {quota} is {status}: it cannot issue coupons (rule 13)"),
            )
            .into());
        }
        if face > max_face {
            return Err(refused(
                ErrorCode::CouponExceedsQuotaLimit,
                format!("a coupon from quota {quota} is at most {} (rule 13)", max_face),
            )
            .into());
        }
        let found = self.existing_customer(customer).await?;
        if found.partner != partner {
            return Err(DomainError::NotOfPartner {
                what: "customer",
                id: customer,
                partner,
            }
            .into());
        }
        if found.association != Association::Resale {
            return Err(DomainError::ReferralCustomer(customer).into());
        }
        let mut tx = self.pool().begin().await?;
        let drawn = sqlx::query("UPDATE coupon_quotas SET balance_cents = balance_cents - $1 WHERE id = $2 AND status = 'normal' AND balance_cents >= $1")
            .bind(face_cents)
            .bind(quota)
            .execute(&mut *tx)
            .await?;
        if drawn.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::QuotaExhausted,
                format!("quota {quota} has less than {face} left (rule 13)"),
            )
            .into());
        }
        let combines: Vec<&str> = limits.combines_with.iter().map(|k| k.as_str()).collect();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO coupons (quota, customer, currency, face_cents, status, valid_from, valid_to, min_spend_cents, service_type, min_discount_ratio, combines_with) \
             VALUES ($1, $2, $3, $4, 'usable', $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(quota)
        .bind(customer)
        .bind(currency.as_str())
        .bind(face_cents)
        .bind(limits.valid_from.timestamp_millis())
        .bind(limits.valid_to.timestamp_millis())
        .bind(crate::accounts::cents(limits.min_spend, "min_spend")?)
        .bind(limits.service_type.clone())
        .bind(limits.min_discount_ratio.map(|r| r.to_string()))
        .bind(combines.join(","))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        self.coupon(id).await?.ok_or(
            DomainError::NotFound {
                what: Entity::Coupon,
                id,
            }
            .into(),
        )
    }

    /// Takes an unused coupon back; its value returns to its quota (rule 13).
    pub async fn reclaim_coupon(&self, coupon: i64) -> Result<(), StoreError> {
        let found = self.coupon(coupon).await?.ok_or(DomainError::NotFound {
            what: Entity::Coupon,
            id: coupon,
        })?;
        let cents = to_cents(found.face).unwrap_or(0);
        let mut tx = self.pool().begin().await?;
        let taken =
            sqlx::query("UPDATE coupons SET status = 'reclaimed' WHERE id = $1 AND status IN ('usable', 'inactive')")
                .bind(coupon)
                .execute(&mut *tx)
                .await?;
        if taken.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::CouponNotReclaimable,
                format!("coupon {coupon} is {}", found.status),
            )
            .into());
        }
        // Unchecked, and safe: a quota's balance only gets back what was drawn from it, so it
        // stays within the amount it was created with (at most MAX_AMOUNT).
        sqlx::query("UPDATE coupon_quotas SET balance_cents = balance_cents + $1 WHERE id = $2")
            .bind(cents)
            .bind(found.quota)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies coupons (and at most one discount kind) to a pending-payment order (rule 7):
    /// the coupons are used up and the amount due drops by their face values, never below
    /// zero. Returns the new amount due.
    pub async fn apply_coupons(
        &self,
        order_id: OrderId,
        coupon_ids: &[i64],
        discount: Option<DiscountKind>,
        now: DateTime<Utc>,
    ) -> Result<Decimal, StoreError> {
        let order = self.existing_order(order_id).await?;
        if order.status != OrderStatus::PendingPayment {
            return Err(DomainError::OrderState {
                order: order_id,
                status: order.status,
                operation: "given coupons",
            }
            .into());
        }
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM coupons WHERE used_on_order = $1")
            .bind(order_id)
            .fetch_one(self.pool())
            .await?;
        if applied > 0 {
            return Err(refused(
                ErrorCode::CouponsAlreadyApplied,
                format!("order {order_id} already has its coupons"),
            )
            .into());
        }
        let rows = sqlx::query(
            "SELECT p.service_type, l.list_unit_price, l.unit_price FROM order_lines l JOIN products p ON p.id = l.product WHERE l.order_id = $1 ORDER BY l.line",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await?;
        let decimal = |t: String| {
            Decimal::from_str_exact(&t).map_err(|e| DomainError::Invalid {
                field: "price",
                message: e.to_string(),
            })
        };
        let lines = rows
            .iter()
            .map(|r| {
                Ok(CouponLine {
                    service_type: r.try_get("service_type")?,
                    list_unit_price: decimal(r.try_get("list_unit_price")?)?,
                    unit_price: decimal(r.try_get("unit_price")?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut coupons = Vec::new();
        for &id in coupon_ids.iter().take(MAX_COUPONS_PER_ORDER + 1) {
            coupons.push(self.coupon(id).await?.ok_or(DomainError::NotFound {
                what: Entity::Coupon,
                id,
            })?);
        }
        check_coupons(
            order.customer,
            order.currency,
            order.amount,
            &lines,
            discount,
            &coupons,
            now,
        )?;

        let off =
            money::total(coupons.iter().map(|c| c.face)).ok_or_else(|| out_of_range("coupons", "their face values"))?;
        let due = order
            .amount
            .checked_sub(off)
            .ok_or_else(|| out_of_range("coupons", "the amount less their face values"))?
            .max(Decimal::ZERO);
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE orders SET amount = $1, discount_kind = $2 WHERE id = $3 AND status = $4 AND amount = $5",
        )
        .bind(due.to_string())
        .bind(discount.map(|d| d.as_str()))
        .bind(order_id)
        .bind(OrderStatus::PendingPayment.as_str())
        .bind(order.amount.to_string())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(DomainError::OrderState {
                order: order_id,
                status: order.status,
                operation: "given coupons concurrently",
            }
            .into());
        }
        for c in &coupons {
            let used = sqlx::query(
                "UPDATE coupons SET status = 'used', used_on_order = $1 WHERE id = $2 AND status = 'usable'",
            )
            .bind(order_id)
            .bind(c.id)
            .execute(&mut *tx)
            .await?;
            if used.rows_affected() == 0 {
                return Err(refused(
                    ErrorCode::CouponNotUsable,
                    format!("coupon {} was used concurrently", c.id),
                )
                .into());
            }
        }
        tx.commit().await?;
        Ok(due)
    }
}

impl Store {
    /// A distributor splits part of its quota to one of its resellers: the amount leaves the
    /// parent's balance and forms the reseller's quota. Returns the new quota.
    pub async fn split_quota(
        &self,
        parent: i64,
        reseller: PartnerId,
        amount: Decimal,
        max_face: Decimal,
    ) -> Result<i64, StoreError> {
        let (amount_cents, max_face_cents) = quota_limits(amount, max_face)?;
        let CouponQuota {
            partner: owner,
            currency,
            ..
        } = self.quota(parent).await?;
        let found = self.partner(reseller).await?.ok_or(DomainError::NotFound {
            what: Entity::Partner,
            id: reseller,
        })?;
        if found.distributor != Some(owner) {
            return Err(DomainError::NotOfPartner {
                what: "reseller",
                id: reseller,
                partner: owner,
            }
            .into());
        }
        let mut tx = self.pool().begin().await?;
        let drawn = sqlx::query("UPDATE coupon_quotas SET balance_cents = balance_cents - $1 WHERE id = $2 AND status = 'normal' AND balance_cents >= $1")
            .bind(amount_cents)
            .bind(parent)
            .execute(&mut *tx)
            .await?;
        if drawn.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::QuotaExhausted,
                format!("quota {parent} cannot give {amount} (rule 13)"),
            )
            .into());
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO coupon_quotas (partner, currency, amount_cents, balance_cents, max_face_cents, status, parent) VALUES ($1, $2, $3, $3, $4, 'normal', $5) RETURNING id",
        )
        .bind(reseller)
        .bind(currency.as_str())
        .bind(amount_cents)
        .bind(max_face_cents)
        .bind(parent)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Reclaims a split quota: its unissued balance returns to the parent and it can issue no
    /// more.
    pub async fn reclaim_quota(&self, quota: i64) -> Result<Decimal, StoreError> {
        let parent = self.quota(quota).await?.parent.ok_or_else(|| {
            refused(
                ErrorCode::QuotaNotSplit,
                format!("quota {quota} was not split from another"),
            )
        })?;
        let mut tx = self.pool().begin().await?;
        // Reclaimed first: an issue racing with this one then finds the quota closed.
        let closed =
            sqlx::query("UPDATE coupon_quotas SET status = 'reclaimed' WHERE id = $1 AND status <> 'reclaimed'")
                .bind(quota)
                .execute(&mut *tx)
                .await?;
        if closed.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::QuotaUnavailable,
                format!("quota {quota} is already reclaimed"),
            )
            .into());
        }
        let balance: i64 = sqlx::query_scalar("SELECT balance_cents FROM coupon_quotas WHERE id = $1")
            .bind(quota)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("UPDATE coupon_quotas SET balance_cents = 0 WHERE id = $1")
            .bind(quota)
            .execute(&mut *tx)
            .await?;
        // The parent gets back at most what it gave: within its own amount, as above.
        sqlx::query("UPDATE coupon_quotas SET balance_cents = balance_cents + $1 WHERE id = $2")
            .bind(balance)
            .bind(parent)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(from_cents(balance))
    }
}
