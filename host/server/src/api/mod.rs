//! The `/v1` API: one module per capability, each handler checking who may call it (see
//! docs/api.md for the role matrix) before it touches the domain.

pub mod accounts;
pub mod admin;
pub mod approvals;
pub mod audit;
pub mod authorizations;
pub mod coupons;
pub mod customers;
pub mod extract;
pub mod invoices;
pub mod keys;
pub mod opportunities;
pub mod orders;
pub mod partners;
pub mod plugins;
pub mod quotes;
pub mod scheduler;
pub mod tasks;

use crate::error::AppError;
use axum::http::HeaderMap;
use pchost_domain::errors::out_of_range;
use pchost_domain::money::{SETTLEMENT_PLACES, in_range};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use utoipa::IntoParams;

/// The largest page a listing returns.
pub const MAX_PAGE: u32 = 500;
/// The page a listing returns when none is asked for.
pub const DEFAULT_PAGE: u32 = 50;

/// Keyset paging: the items after an id, at most `limit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Items with an id above this one (default 0: from the start).
    #[serde(default)]
    pub after: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

impl Page {
    /// The checked limit.
    pub fn limit(&self) -> Result<u32, AppError> {
        match self.limit {
            None => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(_) => Err(AppError::field("limit", format!("must be 1 to {MAX_PAGE}"))),
        }
    }
}

/// A positive amount of money with at most 2 decimal places, at most
/// [`MAX_AMOUNT`](pchost_domain::money::MAX_AMOUNT) (`amount-out-of-range` beyond it).
pub fn money(field: &str, amount: Decimal) -> Result<Decimal, AppError> {
    if amount <= Decimal::ZERO {
        return Err(AppError::field(field, "must be a positive decimal string"));
    }
    money_or_zero(field, amount)
}

/// A non-negative amount of money (a minimum spend, an amount at stake, a forecast), held to
/// the same places and range as [`money`].
pub fn money_or_zero(field: &str, amount: Decimal) -> Result<Decimal, AppError> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(AppError::field(field, "must not be negative"));
    }
    if amount.normalize().scale() > SETTLEMENT_PLACES {
        return Err(AppError::field(field, "money has at most 2 decimal places"));
    }
    if !in_range(amount) {
        return Err(out_of_range(field, amount).into());
    }
    Ok(amount)
}

/// An amount in a request, read exactly from its decimal string: text with more digits than
/// a decimal holds is refused (`invalid-json`, naming the field), never rounded as
/// `rust_decimal`'s own reader rounds it, and only plain decimal notation is money.
pub fn exact_decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    parse_exact(&Cow::<str>::deserialize(deserializer)?)
}

/// [`exact_decimal`] for an optional amount; an empty string is none, as before.
pub fn exact_decimal_option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    match Option::<Cow<str>>::deserialize(deserializer)? {
        Some(text) if !text.is_empty() => parse_exact(&text).map(Some),
        _ => Ok(None),
    }
}

fn parse_exact<E: serde::de::Error>(text: &str) -> Result<Decimal, E> {
    Decimal::from_str_exact(text).map_err(|e| {
        let shown: String = text.chars().take(64).collect();
        E::custom(format!("{shown:?} is not an exact decimal string: {e}"))
    })
}

/// The `Idempotency-Key` header, required on writes that move money or create orders.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, AppError> {
    let value = headers
        .get("idempotency-key")
        .ok_or_else(|| AppError::field("Idempotency-Key", "this request needs an Idempotency-Key header"))?;
    value
        .to_str()
        .ok()
        .filter(|k| (1..=128).contains(&k.len()))
        .map(str::to_owned)
        .ok_or_else(|| AppError::field("Idempotency-Key", "1 to 128 visible ASCII characters"))
}

/// A text field's checked value.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(char::is_control) {
        return Err(AppError::field(
            field,
            format!("1 to {max} characters, no control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// A resource the caller may see, looked up and checked before anything about it is read or
/// answered: a caller learns nothing of another's resource (its state, its period) but that it
/// is out of its scope.
pub(crate) async fn resource_in_scope(
    state: &crate::state::AppState,
    caller: &crate::auth::Caller,
    id: i64,
) -> Result<pchost_store::resources::Resource, AppError> {
    let resource = state
        .store
        .resource(id)
        .await?
        .ok_or_else(|| AppError::not_found(pchost_domain::errors::Entity::Resource, id))?;
    caller.customer(state, resource.customer).await?;
    Ok(resource)
}

/// Records an administrative change by `caller` (docs/api.md, "The administrative audit").
/// It is written once the change is: a process stopped in between loses the event, not the
/// change (the tracing log has both).
pub(crate) async fn record_event(
    state: &crate::state::AppState,
    caller: &crate::auth::Caller,
    partner: Option<pchost_domain::PartnerId>,
    action: &str,
    target: String,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    state
        .store
        .record_admin_event(
            &pchost_store::admin_events::NewAdminEvent {
                actor: &caller.label(),
                partner,
                action,
                target,
                detail,
            },
            chrono::Utc::now(),
        )
        .await?;
    Ok(())
}
