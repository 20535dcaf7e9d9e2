//! Quotes at list price: subscriptions, on-demand usage, renewals and spec changes, and the
//! discounts that may apply with the best offer marked. Plugins adjust these prices later
//! (the pricing chain); this is the catalog's own arithmetic.

use crate::entities::DiscountKind;
use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, out_of_range, refused};
use crate::money::{self, Currency, in_range, settle};
use crate::partners::check_partner_discount;
use crate::resources::Resource;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A priced line at list price.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuotedLine {
    /// Product.
    pub product: ProductId,
    /// Period the price is per.
    pub period: PeriodType,
    /// Periods (or hours of usage for on-demand).
    #[serde(with = "rust_decimal::serde::str")]
    pub periods: Decimal,
    /// Units.
    pub quantity: u32,
    /// List price per unit per period.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// unit price × quantity × periods, settled half-up to the cent; for a spec change, less
    /// the unused part of the paid term (negative for a credit).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Currency.
    pub currency: Currency,
}

/// A discount that may apply to a quote.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    /// Its kind.
    pub kind: DiscountKind,
    /// The share of list price paid (0.85 = 15% off).
    #[serde(with = "rust_decimal::serde::str")]
    pub ratio: Decimal,
}

/// One discount's outcome on a quote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// The discount.
    pub discount: Discount,
    /// The amount with it.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Whether it is the best offer (the lowest amount; the first of equals).
    pub best: bool,
}

/// The discounts that may apply to `list_amount`, each priced, the best one marked. A
/// partner-granted discount must lie within rule 19's range; an order carries one discount.
pub fn offers(list_amount: Decimal, discounts: &[Discount]) -> Result<Vec<Offer>, StoreError> {
    let mut offers = Vec::with_capacity(discounts.len());
    for d in discounts {
        if d.kind == DiscountKind::PartnerGranted {
            check_partner_discount(d.ratio)?;
        } else if d.ratio <= Decimal::ZERO || d.ratio > Decimal::ONE {
            return Err(DomainError::Invalid {
                field: "ratio",
                message: format!("{} is not in (0, 1]", d.ratio),
            }
            .into());
        }
        let amount = list_amount
            .checked_mul(d.ratio)
            .filter(|a| in_range(*a))
            .ok_or_else(|| out_of_range("list_amount", list_amount))?;
        offers.push(Offer {
            discount: *d,
            amount: settle(amount),
            best: false,
        });
    }
    if let Some(best) = offers
        .iter()
        .enumerate()
        .min_by_key(|(i, o)| (o.amount, *i))
        .map(|(i, _)| i)
    {
        offers[best].best = true;
    }
    Ok(offers)
}

impl Store {
    /// A product and its list price for `period`, checking first that it is charged `mode`.
    async fn priced(
        &self,
        product: ProductId,
        period: PeriodType,
        mode: Option<ChargingMode>,
    ) -> Result<(Product, ListPrice), StoreError> {
        let p = self.product(product).await?.ok_or(DomainError::NotFound {
            what: Entity::Product,
            id: product,
        })?;
        if let Some(mode) = mode
            && p.charging_mode != mode
        {
            return Err(refused(
                ErrorCode::ChargingModeMismatch,
                format!("product {product} is charged {}, not {mode}", p.charging_mode),
            )
            .into());
        }
        let price = self.list_price(product, period).await?.ok_or_else(|| {
            refused(
                ErrorCode::PriceNotFound,
                format!("product {product} has no {period} price"),
            )
        })?;
        Ok((p, price))
    }

    /// A yearly/monthly subscription for `count` months (1-11) or years (1-3).
    pub async fn quote_subscription(
        &self,
        product: ProductId,
        period: PeriodType,
        count: u32,
        quantity: u32,
    ) -> Result<QuotedLine, StoreError> {
        if !matches!((period, count), (PeriodType::Month, 1..=11) | (PeriodType::Year, 1..=3)) || quantity == 0 {
            return Err(DomainError::Invalid {
                field: "count",
                message: "1-11 months or 1-3 years, at least one unit".into(),
            }
            .into());
        }
        let (_, price) = self.priced(product, period, Some(ChargingMode::YearlyMonthly)).await?;
        let amount = money::line_amount(price.amount, quantity, count)
            .ok_or_else(|| out_of_range("quantity", format!("{} × {quantity} × {count}", price.amount)))?;
        Ok(QuotedLine {
            product,
            period,
            periods: Decimal::from(count),
            quantity,
            unit_price: price.amount,
            amount,
            currency: price.currency,
        })
    }

    /// On-demand usage of `hours` (fractions allowed) for `quantity` units.
    pub async fn quote_on_demand(
        &self,
        product: ProductId,
        hours: Decimal,
        quantity: u32,
    ) -> Result<QuotedLine, StoreError> {
        if hours <= Decimal::ZERO || quantity == 0 {
            return Err(DomainError::Invalid {
                field: "hours",
                message: "positive usage and at least one unit".into(),
            }
            .into());
        }
        let (_, price) = self
            .priced(product, PeriodType::Hour, Some(ChargingMode::OnDemand))
            .await?;
        let amount = price
            .amount
            .checked_mul(hours)
            .and_then(|a| a.checked_mul(Decimal::from(quantity)))
            .filter(|a| in_range(*a))
            .ok_or_else(|| out_of_range("hours", format!("{} × {hours} × {quantity}", price.amount)))?;
        Ok(QuotedLine {
            product,
            period: PeriodType::Hour,
            periods: hours,
            quantity,
            unit_price: price.amount,
            amount: settle(amount),
            currency: price.currency,
        })
    }

    /// Renewing a resource for `count` periods of the type it was bought in (rule 11).
    pub async fn quote_renewal(&self, resource: &Resource, count: u32) -> Result<QuotedLine, StoreError> {
        self.quote_subscription(resource.product, resource.period, count, 1)
            .await
    }

    /// Changing a resource to another spec for the rest of its term: `new_unit_price` (the new
    /// spec's price per unit per period, as the pricing chain set it) for the time left, in
    /// 30-day months or 365-day years, for each of the resource's units, less what the unused
    /// part of its paid term is worth at `now` (see [`crate::terms`]). Negative for a cheaper
    /// spec (a credit, never more than the unused part). Pricing against what was paid, not
    /// against the current spec's list price, is what keeps a change there and back from
    /// paying the customer: each change leaves the rest of the term worth the new spec's price.
    pub async fn quote_spec_change(
        &self,
        resource: &Resource,
        new_product: ProductId,
        new_unit_price: Decimal,
        now: DateTime<Utc>,
    ) -> Result<QuotedLine, StoreError> {
        let (_, old) = self.priced(resource.product, resource.period, None).await?;
        let (_, new) = self.priced(new_product, resource.period, None).await?;
        if old.currency != new.currency {
            return Err(DomainError::CurrencyMismatch(format!("{} and {}", old.currency, new.currency)).into());
        }
        if !matches!(resource.period, PeriodType::Month | PeriodType::Year) {
            return Err(refused(
                ErrorCode::ChargingModeMismatch,
                format!("a {} resource has no term to change", resource.period),
            )
            .into());
        }
        let effective_at: i64 = sqlx::query_scalar("SELECT effective_at FROM resources WHERE id = $1")
            .bind(resource.id)
            .fetch_one(self.pool())
            .await?;
        let periods = periods_left(resource, effective_at, now);
        let mut conn = self.pool().acquire().await?;
        let unused_cents = crate::terms::unused_by_order(&mut conn, &[resource.id], now)
            .await?
            .iter()
            .try_fold(0i64, |sum, (_, cents)| sum.checked_add(*cents))
            .ok_or_else(|| out_of_range("resource_id", "the unused term's value"))?;
        let amount = new_unit_price
            .checked_mul(periods)
            .and_then(|a| a.checked_mul(Decimal::from(resource.quantity)))
            .map(settle)
            .and_then(|a| a.checked_sub(money::from_cents(unused_cents)))
            .filter(|a| in_range(*a))
            .ok_or_else(|| {
                out_of_range(
                    "product_id",
                    format!("{new_unit_price} × {periods} periods × {} units", resource.quantity),
                )
            })?;
        Ok(QuotedLine {
            product: new_product,
            period: resource.period,
            periods,
            quantity: resource.quantity,
            unit_price: new_unit_price,
            amount,
            currency: new.currency,
        })
    }
}

/// The periods of its type left of a resource's term at `now`, prorated to the millisecond on
/// the same basis as its paid terms (see [`crate::terms`]): a term of whole months (the
/// purchase and its renewals add whole months) counts its months over its actual span, so that
/// a spec change sets the new spec's price against the unused term on equal footing; a term
/// that is not whole months, over 30-day months or 365-day years.
fn periods_left(resource: &Resource, effective_at: i64, now: DateTime<Utc>) -> Decimal {
    let expires = resource.expires_at.timestamp_millis();
    let span = expires.saturating_sub(effective_at);
    let left = Decimal::from(expires.saturating_sub(now.timestamp_millis()).clamp(0, span.max(0)));
    let per_period = match resource.period {
        PeriodType::Year => 12,
        _ => 1,
    };
    // The whole months from the start of the term to its expiry, if it is whole months.
    let whole = DateTime::<Utc>::from_timestamp_millis(effective_at).and_then(|start| {
        (1..=1200u32).find_map(|m| {
            let end = start.checked_add_months(chrono::Months::new(m))?;
            (end >= resource.expires_at).then_some((m, end == resource.expires_at))
        })
    });
    let whole = whole.and_then(|(months, exact)| exact.then_some(months));
    match whole {
        Some(months) if span > 0 => Decimal::from(months) / Decimal::from(per_period) * left / Decimal::from(span),
        _ => {
            let days = match resource.period {
                PeriodType::Year => 365,
                _ => 30,
            };
            left / Decimal::from(days * 86_400_000i64)
        }
    }
}
