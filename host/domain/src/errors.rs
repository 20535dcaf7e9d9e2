//! Refusals of domain operations. Each has a stable code (part of the API: never reused for
//! another meaning) and a message for people; docs/errors.md lists them.

use crate::entities::OrderStatus;
use crate::store::StoreError;

/// Why a domain operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A field has a bad value.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Something named does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// `order`, `customer`, `account`...
        what: &'static str,
        /// Its id.
        id: i64,
    },
    /// The order's status does not allow the operation (rule 8).
    #[error("order {order} is {status}: it cannot be {operation}")]
    OrderState {
        /// The order.
        order: i64,
        /// Its status.
        status: OrderStatus,
        /// What was attempted.
        operation: &'static str,
    },
    /// The order's 7-day payment window has passed (rule 8).
    #[error("order {0} passed its payment deadline")]
    OrderExpired(i64),
    /// The payer's accounts cannot cover the amount (rule 6).
    #[error("insufficient balance: {needed} needed, {available} available")]
    InsufficientBalance {
        /// The amount to pay.
        needed: rust_decimal::Decimal,
        /// Cash plus unused credit.
        available: rust_decimal::Decimal,
    },
    /// Amounts in different currencies were mixed.
    #[error("currency mismatch: {0}")]
    CurrencyMismatch(String),
    /// The customer or reseller does not belong to the acting partner.
    #[error("{what} {id} does not belong to partner {partner}")]
    NotOfPartner {
        /// `customer` or `reseller`.
        what: &'static str,
        /// Its id.
        id: i64,
        /// The acting partner.
        partner: i64,
    },
    /// Coupons, balance allocation and balance queries apply to resale customers only
    /// (rule 12).
    #[error("customer {0} is a referral customer: the platform bills it, so it has no balance with its partner")]
    ReferralCustomer(i64),
    /// An operation refused by a business rule, named in the message.
    #[error("{message}")]
    Refused {
        /// Stable code.
        code: &'static str,
        /// Why, naming the rule.
        message: String,
    },
    /// An amount, or what the host computes from amounts, lies beyond the platform's range
    /// ([`crate::money::MAX_AMOUNT`]) or beyond what the arithmetic can hold exactly.
    #[error("{}: {message}", field.as_deref().unwrap_or("amount"))]
    AmountOutOfRange {
        /// The field at fault, when one is.
        field: Option<String>,
        /// What is out of range.
        message: String,
    },
    /// An idempotency key was reused for a different request.
    #[error("idempotency key {0:?} was already used for a different request")]
    IdempotencyKeyReused(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        DomainError::Store(StoreError::Database(e))
    }
}

impl DomainError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Invalid { .. } => "invalid-field",
            DomainError::NotFound { what: "order", .. } => "order-not-found",
            DomainError::NotFound { what: "customer", .. } => "customer-not-found",
            DomainError::NotFound { what: "partner", .. } => "partner-not-found",
            DomainError::NotFound { what: "product", .. } => "product-not-found",
            DomainError::NotFound { .. } => "not-found",
            DomainError::OrderState { .. } => "order-state",
            DomainError::OrderExpired(_) => "order-expired",
            DomainError::InsufficientBalance { .. } => "insufficient-balance",
            DomainError::CurrencyMismatch(_) => "currency-mismatch",
            DomainError::NotOfPartner { .. } => "not-of-partner",
            DomainError::ReferralCustomer(_) => "referral-customer",
            DomainError::Refused { code, .. } => code,
            DomainError::AmountOutOfRange { .. } => "amount-out-of-range",
            DomainError::IdempotencyKeyReused(_) => "idempotency-key-reused",
            DomainError::Store(_) => "internal",
        }
    }
}

/// `what` (an amount, or a figure computed from amounts) lies beyond the platform's range;
/// `field` is the field at fault.
pub fn out_of_range(field: impl Into<String>, what: impl std::fmt::Display) -> DomainError {
    DomainError::AmountOutOfRange {
        field: Some(field.into()),
        message: format!(
            "{what} is beyond the largest amount the platform handles, {}",
            crate::money::MAX_AMOUNT
        ),
    }
}

/// A refusal by a named rule, with its stable code.
pub(crate) fn refused(code: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::Refused {
        code,
        message: message.into(),
    }
}
