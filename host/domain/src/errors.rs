//! Refusals of domain operations, and the stable codes every refusal of the host carries.
//! A code is part of the API (never reused for another meaning); docs/errors.md lists each
//! one with its HTTP status, and a test keeps the two in step.

use crate::entities::OrderStatus;

/// Declares [`ErrorCode`] from `Variant = ("code", http status)` pairs.
macro_rules! error_codes {
    ($($variant:ident = ($code:literal, $status:literal),)+) => {
        /// A stable error code of the API, with the HTTP status it is answered with.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in the order of docs/errors.md.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as the API writes it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The HTTP status a refusal with this code is answered with.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                }
            }
        }
    };
}

error_codes! {
    InvalidJson = ("invalid-json", 400),
    InvalidField = ("invalid-field", 400),
    AmountOutOfRange = ("amount-out-of-range", 422),
    PayloadTooLarge = ("payload-too-large", 413),
    MissingApiKey = ("missing-api-key", 401),
    InvalidApiKey = ("invalid-api-key", 401),
    RoleNotPermitted = ("role-not-permitted", 403),
    OutOfScope = ("out-of-scope", 403),
    ScopeMissing = ("scope-missing", 403),
    CsrfRejected = ("csrf-rejected", 403),
    NotOwner = ("not-owner", 403),
    RateLimited = ("rate-limited", 429),
    UploadRateLimited = ("upload-rate-limited", 429),
    ApiKeyRevoked = ("api-key-revoked", 409),
    ApiKeyExists = ("api-key-exists", 409),
    CustomerNotFound = ("customer-not-found", 404),
    PartnerNotFound = ("partner-not-found", 404),
    OrderNotFound = ("order-not-found", 404),
    ProductNotFound = ("product-not-found", 404),
    QuoteNotFound = ("quote-not-found", 404),
    ResourceNotFound = ("resource-not-found", 404),
    CouponNotFound = ("coupon-not-found", 404),
    AccountNotFound = ("account-not-found", 404),
    BindingNotFound = ("binding-not-found", 404),
    ApiKeyNotFound = ("api-key-not-found", 404),
    StaffNotFound = ("staff-not-found", 404),
    InvoiceInfoNotFound = ("invoice-info-not-found", 404),
    NotFound = ("not-found", 404),
    PriceNotFound = ("price-not-found", 422),
    CurrencyMismatch = ("currency-mismatch", 422),
    InputTooLarge = ("input-too-large", 422),
    NotRenewable = ("not-renewable", 422),
    QuoteMismatch = ("quote-mismatch", 422),
    QuoteExpired = ("quote-expired", 422),
    QuoteAlreadyOrdered = ("quote-already-ordered", 409),
    ApprovalRejected = ("approval-rejected", 422),
    TaskNotPending = ("task-not-pending", 409),
    ApprovalTaskNotFound = ("approval-task-not-found", 404),
    InvocationNotFound = ("invocation-not-found", 404),
    PluginNotLoaded = ("plugin-not-loaded", 409),
    DigestMismatch = ("digest-mismatch", 409),
    PluginFailed = ("plugin-failed", 502),
    PluginConcurrencyLimit = ("plugin-concurrency-limit", 429),
    PluginCapacity = ("plugin-capacity", 503),
    Internal = ("internal", 500),
    InvalidComponent = ("invalid-component", 422),
    ComponentTooLarge = ("component-too-large", 422),
    ComponentTooComplex = ("component-too-complex", 422),
    CompileTimeout = ("compile-timeout", 422),
    CompileFailed = ("compile-failed", 422),
    CompileBusy = ("compile-busy", 503),
    UploadsBusy = ("uploads-busy", 503),
    MissingGrant = ("missing-grant", 422),
    UnknownImport = ("unknown-import", 422),
    WrongWorld = ("wrong-world", 422),
    LimitAboveCeiling = ("limit-above-ceiling", 422),
    VersionExists = ("version-exists", 409),
    VersionQuotaExceeded = ("version-quota-exceeded", 409),
    StorageQuotaExceeded = ("storage-quota-exceeded", 409),
    VersionInUse = ("version-in-use", 409),
    PluginVersionNotFound = ("plugin-version-not-found", 422),
    WorldMismatch = ("world-mismatch", 422),
    ScopeNotSeller = ("scope-not-seller", 422),
    ScopeNotApplicable = ("scope-not-applicable", 422),
    BindingExists = ("binding-exists", 409),
    NoPreviousVersion = ("no-previous-version", 409),
    ShadowIsActive = ("shadow-is-active", 422),
    OrderState = ("order-state", 409),
    OrderExpired = ("order-expired", 409),
    InsufficientBalance = ("insufficient-balance", 422),
    CustomerFrozen = ("customer-frozen", 422),
    PartnerFrozen = ("partner-frozen", 403),
    IdempotencyKeyReused = ("idempotency-key-reused", 409),
    NotOfPartner = ("not-of-partner", 422),
    ReferralCustomer = ("referral-customer", 422),
    BillingCycleNotInvoiceable = ("billing-cycle-not-invoiceable", 422),
    AlreadyInvoiced = ("already-invoiced", 409),
    BillingCycleInArrears = ("billing-cycle-in-arrears", 422),
    VatSpecialNeedsEnterpriseTitle = ("vat-special-needs-enterprise-title", 422),
    InvoiceMediumNotAllowed = ("invoice-medium-not-allowed", 422),
    InvoiceInfoMissing = ("invoice-info-missing", 422),
    InvoiceIssuerMismatch = ("invoice-issuer-mismatch", 422),
    NothingToInvoice = ("nothing-to-invoice", 422),
    ResellerCountryMismatch = ("reseller-country-mismatch", 422),
    ResellerAlreadyBound = ("reseller-already-bound", 422),
    NotADistributorAndReseller = ("not-a-distributor-and-reseller", 422),
    FreezeTypeMismatch = ("freeze-type-mismatch", 422),
    DiscountOutOfRange = ("discount-out-of-range", 422),
    PartnerAdminOnly = ("partner-admin-only", 422),
    UnbindTooSoon = ("unbind-too-soon", 422),
    OrdersAwaitingPayment = ("orders-awaiting-payment", 422),
    CustomerNotBound = ("customer-not-bound", 422),
    CustomerStillBound = ("customer-still-bound", 422),
    PaymentRequestedFromPartner = ("payment-requested-from-partner", 422),
    PaymentAlreadyRequested = ("payment-already-requested", 422),
    NoPendingPaymentRequest = ("no-pending-payment-request", 422),
    RefundPayerUnknown = ("refund-payer-unknown", 422),
    TooManyCoupons = ("too-many-coupons", 422),
    CouponNotUsable = ("coupon-not-usable", 422),
    CouponMinSpend = ("coupon-min-spend", 422),
    CouponNotApplicable = ("coupon-not-applicable", 422),
    CouponNotCombinable = ("coupon-not-combinable", 422),
    CouponDiscountTooDeep = ("coupon-discount-too-deep", 422),
    CouponsAlreadyApplied = ("coupons-already-applied", 422),
    QuotaUnavailable = ("quota-unavailable", 422),
    CouponExceedsQuotaLimit = ("coupon-exceeds-quota-limit", 422),
    QuotaExhausted = ("quota-exhausted", 422),
    CouponNotReclaimable = ("coupon-not-reclaimable", 422),
    RenewalPeriodMismatch = ("renewal-period-mismatch", 422),
    NotAMainResource = ("not-a-main-resource", 422),
    NotAuthorized = ("not-authorized", 403),
    OperateTermsNotAgreed = ("operate-terms-not-agreed", 422),
    AuthorizationState = ("authorization-state", 422),
    BelowSubsidyThreshold = ("below-subsidy-threshold", 422),
    CapabilityLabelRequired = ("capability-label-required", 422),
    VerificationCodeInvalid = ("verification-code-invalid", 422),
    CustomerNotRegistered = ("customer-not-registered", 422),
    InvitationExpired = ("invitation-expired", 422),
    InvitationUnknown = ("invitation-unknown", 422),
    InvitationUsed = ("invitation-used", 409),
    AssignmentNotPermitted = ("assignment-not-permitted", 422),
    NotAManagerOfPartner = ("not-a-manager-of-partner", 422),
    RealNameState = ("real-name-state", 422),
    QuotaNotSplit = ("quota-not-split", 422),
    ChargingModeMismatch = ("charging-mode-mismatch", 422),
    ResourceNotInUse = ("resource-not-in-use", 422),
    ResourceWithoutOrder = ("resource-without-order", 422),
    NothingToRefund = ("nothing-to-refund", 422),
    InvalidStaffRole = ("invalid-staff-role", 422),
    InvalidSupervisor = ("invalid-supervisor", 422),
    InvalidManager = ("invalid-manager", 422),
    TaskNotApproved = ("task-not-approved", 409),
    TaskOutcomeRecorded = ("task-outcome-recorded", 409),
    ActionInterrupted = ("action-interrupted", 409),
    OverBudget = ("over-budget", 422),
    ResourceChanged = ("resource-changed", 409),
    SpecNotCompatible = ("spec-not-compatible", 422),
    InvoiceConflict = ("invoice-conflict", 409),
    SelfApproval = ("self-approval", 403),
    ScopeEscalation = ("scope-escalation", 403),
    KeyLimitReached = ("key-limit-reached", 409),
    SignatureRequired = ("signature-required", 422),
    SignatureInvalid = ("signature-invalid", 422),
    SignerUntrusted = ("signer-untrusted", 422),
    PublisherKeyExists = ("publisher-key-exists", 409),
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a not-found refusal names; each kind has its own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    /// An account.
    Account,
    /// An API key.
    ApiKey,
    /// An approval task.
    ApprovalTask,
    /// A plugin binding.
    Binding,
    /// A coupon.
    Coupon,
    /// A customer.
    Customer,
    /// A customer's invoice information.
    InvoiceInfo,
    /// A recorded plugin invocation.
    Invocation,
    /// An order.
    Order,
    /// A partner.
    Partner,
    /// An installed plugin version.
    PluginVersion,
    /// A product.
    Product,
    /// A coupon quota.
    Quota,
    /// A saved quote.
    Quote,
    /// A refund.
    Refund,
    /// A resource.
    Resource,
    /// A staff member.
    Staff,
}

impl Entity {
    /// How messages name it.
    pub const fn name(self) -> &'static str {
        match self {
            Entity::Account => "account",
            Entity::ApiKey => "api key",
            Entity::ApprovalTask => "approval task",
            Entity::Binding => "binding",
            Entity::Coupon => "coupon",
            Entity::Customer => "customer",
            Entity::InvoiceInfo => "invoice info of customer",
            Entity::Invocation => "invocation",
            Entity::Order => "order",
            Entity::Partner => "partner",
            Entity::PluginVersion => "plugin version",
            Entity::Product => "product",
            Entity::Quota => "quota",
            Entity::Quote => "quote",
            Entity::Refund => "refund",
            Entity::Resource => "resource",
            Entity::Staff => "staff",
        }
    }

    /// The code of a refusal because it does not exist.
    pub const fn not_found_code(self) -> ErrorCode {
        match self {
            Entity::Account => ErrorCode::AccountNotFound,
            Entity::ApiKey => ErrorCode::ApiKeyNotFound,
            Entity::ApprovalTask => ErrorCode::ApprovalTaskNotFound,
            Entity::Binding => ErrorCode::BindingNotFound,
            Entity::Coupon => ErrorCode::CouponNotFound,
            Entity::Customer => ErrorCode::CustomerNotFound,
            Entity::InvoiceInfo => ErrorCode::InvoiceInfoNotFound,
            Entity::Invocation => ErrorCode::InvocationNotFound,
            Entity::Order => ErrorCode::OrderNotFound,
            Entity::Partner => ErrorCode::PartnerNotFound,
            Entity::Product => ErrorCode::ProductNotFound,
            Entity::Quote => ErrorCode::QuoteNotFound,
            Entity::Resource => ErrorCode::ResourceNotFound,
            Entity::Staff => ErrorCode::StaffNotFound,
            Entity::PluginVersion | Entity::Quota | Entity::Refund => ErrorCode::NotFound,
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
        /// What was looked for.
        what: Entity,
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
        code: ErrorCode,
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
}

impl DomainError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            DomainError::Invalid { .. } => ErrorCode::InvalidField,
            DomainError::NotFound { what, .. } => what.not_found_code(),
            DomainError::OrderState { .. } => ErrorCode::OrderState,
            DomainError::OrderExpired(_) => ErrorCode::OrderExpired,
            DomainError::InsufficientBalance { .. } => ErrorCode::InsufficientBalance,
            DomainError::CurrencyMismatch(_) => ErrorCode::CurrencyMismatch,
            DomainError::NotOfPartner { .. } => ErrorCode::NotOfPartner,
            DomainError::ReferralCustomer(_) => ErrorCode::ReferralCustomer,
            DomainError::Refused { code, .. } => *code,
            DomainError::AmountOutOfRange { .. } => ErrorCode::AmountOutOfRange,
            DomainError::IdempotencyKeyReused(_) => ErrorCode::IdempotencyKeyReused,
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
pub fn refused(code: ErrorCode, message: impl Into<String>) -> DomainError {
    DomainError::Refused {
        code,
        message: message.into(),
    }
}
