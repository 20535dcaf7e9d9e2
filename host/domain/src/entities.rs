//! The partner-center entities (DOMAIN.md "Entities"), as the host stores them.

use crate::money::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Ids are database row ids: positive 64-bit integers.
pub type PartnerId = i64;
/// See [`PartnerId`].
pub type CustomerId = i64;
/// See [`PartnerId`].
pub type OrderId = i64;
/// See [`PartnerId`].
pub type ProductId = i64;

/// Declares an enum stored and serialised as a fixed kebab-case word (the store declares
/// its own record kinds with it too).
#[macro_export]
macro_rules! word_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word,)+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::entities::UnknownWord;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err($crate::entities::UnknownWord { kind: stringify!($name), word: s.chars().take(32).collect() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A word that names no value of an enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {word:?}")]
pub struct UnknownWord {
    /// The enum's name.
    pub kind: &'static str,
    /// The word (truncated).
    pub word: String,
}

crate::word_enum! {
    /// What kind of partner an account is.
    pub enum PartnerKind {
        /// A direct partner.
        SolutionProvider => "solution-provider",
        /// A tier-1 partner with resellers.
        Distributor => "distributor",
        /// A tier-2 partner under one distributor.
        Reseller => "reseller",
        /// A marketplace seller.
        Seller => "seller",
    }
}

crate::word_enum! {
    /// How a customer is associated with its partner.
    pub enum Association {
        /// The partner bills and invoices the customer.
        Resale => "resale",
        /// The platform bills and invoices the customer.
        Referral => "referral",
    }
}

crate::word_enum! {
    /// Real-name verification status.
    pub enum RealNameStatus {
        /// Never submitted.
        None => "none",
        /// Awaiting review.
        UnderReview => "under-review",
        /// Refused.
        Rejected => "rejected",
        /// Verified.
        Verified => "verified",
    }
}

crate::word_enum! {
    /// A person or a company.
    pub enum CustomerType {
        /// A person.
        Individual => "individual",
        /// A company.
        Enterprise => "enterprise",
    }
}

crate::word_enum! {
    /// A customer's freeze state.
    pub enum FreezeState {
        /// Not frozen.
        NotFrozen => "not-frozen",
        /// Account frozen.
        AccountFrozen => "account-frozen",
        /// Account and resources frozen.
        AccountAndResourcesFrozen => "account-and-resources-frozen",
    }
}

crate::word_enum! {
    /// The role of a principal (DOMAIN.md "Roles").
    pub enum Role {
        /// Runs the host.
        PlatformOperator => "platform-operator",
        /// All of a partner.
        PartnerAdmin => "partner-admin",
        /// Customers assigned to them.
        CustomerManager => "customer-manager",
        /// Customers of the managers under them.
        Supervisor => "supervisor",
        /// Customers assigned to them.
        Salesperson => "salesperson",
        /// An end customer.
        Customer => "customer",
    }
}

crate::word_enum! {
    /// How a product is charged.
    pub enum ChargingMode {
        /// Subscription, paid in advance.
        YearlyMonthly => "yearly-monthly",
        /// Usage, billed afterwards.
        OnDemand => "on-demand",
    }
}

crate::word_enum! {
    /// The period a price is quoted per.
    pub enum PeriodType {
        /// Per hour.
        Hour => "hour",
        /// Per day.
        Day => "day",
        /// Per month.
        Month => "month",
        /// Per year.
        Year => "year",
        /// Once.
        OneTime => "one-time",
    }
}

crate::word_enum! {
    /// What an order does.
    pub enum OrderKind {
        /// A new purchase.
        New => "new",
        /// A renewal.
        Renew => "renew",
        /// A spec change.
        Change => "change",
        /// An unsubscription.
        Unsubscribe => "unsubscribe",
        /// A switch to on-demand.
        ToOnDemand => "to-on-demand",
        /// A trial.
        Trial => "trial",
        /// A price adjustment.
        Adjust => "adjust",
    }
}

crate::word_enum! {
    /// Where an order is in its life.
    pub enum OrderStatus {
        /// Awaiting review.
        PendingReview => "pending-review",
        /// Awaiting payment.
        PendingPayment => "pending-payment",
        /// Paid, being provisioned.
        Processing => "processing",
        /// Done.
        Completed => "completed",
        /// Cancelled.
        Cancelled => "cancelled",
        /// Awaiting a refund.
        PendingRefund => "pending-refund",
    }
}

crate::word_enum! {
    /// Who an invoice is made out to.
    pub enum TitleType {
        /// A company.
        Enterprise => "enterprise",
        /// A person.
        Individual => "individual",
    }
}

crate::word_enum! {
    /// The tax kind of an invoice.
    pub enum InvoiceKind {
        /// VAT general invoice.
        VatGeneral => "vat-general",
        /// VAT special invoice.
        VatSpecial => "vat-special",
    }
}

crate::word_enum! {
    /// How an invoice is delivered.
    pub enum InvoiceMedium {
        /// Paper.
        Paper => "paper",
        /// Electronic.
        Electronic => "electronic",
        /// Digital.
        Digital => "digital",
    }
}

crate::word_enum! {
    /// What an invoice request covers.
    pub enum InvoiceBasis {
        /// A closed billing cycle.
        BillingCycle => "billing-cycle",
        /// One order.
        Order => "order",
        /// A free amount.
        Amount => "amount",
    }
}

crate::word_enum! {
    /// Where an invoice request is.
    pub enum InvoiceStatus {
        /// Submitted.
        Submitted => "submitted",
        /// Issued.
        Issued => "issued",
        /// Refused.
        Rejected => "rejected",
    }
}

/// A partner of the platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    /// Id.
    pub id: PartnerId,
    /// Kind.
    pub kind: PartnerKind,
    /// Display name.
    pub name: String,
    /// The distributor a reseller belongs to.
    pub distributor: Option<PartnerId>,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// Whether the partner is frozen.
    pub frozen: bool,
}

/// An end customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// The associated partner.
    pub partner: PartnerId,
    /// Account name.
    pub account_name: String,
    /// Resale or referral.
    pub association: Association,
    /// When the association started.
    pub associated_at: DateTime<Utc>,
    /// Real-name status.
    pub real_name: RealNameStatus,
    /// Individual or enterprise.
    pub customer_type: CustomerType,
    /// Freeze state.
    pub freeze: FreezeState,
    /// Assigned staff member.
    pub manager: Option<i64>,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// Level set by the partner (0 = unset).
    pub level: u8,
}

/// A sellable catalog item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Id.
    pub id: ProductId,
    /// The marketplace seller publishing it.
    pub seller: Option<PartnerId>,
    /// Service type, e.g. `ECS`.
    pub service_type: String,
    /// Resource type.
    pub resource_type: String,
    /// Spec code.
    pub spec_code: String,
    /// Region.
    pub region: String,
    /// Charging mode.
    pub charging_mode: ChargingMode,
}

/// A list price of a product for one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListPrice {
    /// Product.
    pub product: ProductId,
    /// Period.
    pub period: PeriodType,
    /// Price per unit per period.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Currency.
    pub currency: Currency,
}

/// An order (without its lines).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Id.
    pub id: OrderId,
    /// Customer.
    pub customer: CustomerId,
    /// Kind.
    pub kind: OrderKind,
    /// Status.
    pub status: OrderStatus,
    /// Currency.
    pub currency: Currency,
    /// List (official) amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub list_amount: Decimal,
    /// Amount after discounts.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// Paid by the partner on the customer's behalf.
    pub paid_by_partner: bool,
    /// The saved quote it was created from, if any.
    #[serde(default)]
    pub quote: Option<i64>,
    /// Who created it (`partner-admin:2/500`, `customer:2/102`): with the customer, both
    /// principals of an order made on the customer's behalf (rule 21). None for orders from
    /// before the host recorded it.
    #[serde(default)]
    pub created_by: Option<String>,
}

/// The invoice-info (title) record of an account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceInfo {
    /// The customer.
    pub customer: CustomerId,
    /// Enterprise or individual.
    pub title_type: TitleType,
    /// Name on the invoice.
    pub title: String,
    /// Taxpayer id.
    pub tax_id: Option<String>,
}

/// An invoice request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    /// Id.
    pub id: i64,
    /// The customer.
    pub customer: CustomerId,
    /// Basis.
    pub basis: InvoiceBasis,
    /// Tax kind.
    pub kind: InvoiceKind,
    /// Medium.
    pub medium: InvoiceMedium,
    /// Amount.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Currency.
    pub currency: Currency,
    /// Status.
    pub status: InvoiceStatus,
    /// Requested at.
    pub requested_at: DateTime<Utc>,
    /// The credit notes against it: refunds of its orders made after it was requested.
    #[serde(default)]
    pub credit_notes: Vec<CreditNote>,
}

/// A credit note: a refund of an order already invoiced, against that invoice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditNote {
    /// Id.
    pub id: i64,
    /// The order refunded.
    pub order: OrderId,
    /// The refund.
    pub refund: i64,
    /// Amount credited.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// When.
    pub created_at: DateTime<Utc>,
}

crate::word_enum! {
    /// The kind of a price change: what a pricing rule of extension@0.3.0 declares for each
    /// adjustment, and the discount an order may carry beside its coupons (rule 7: a coupon
    /// may forbid combination with a partner-granted, contract or promotion discount).
    pub enum DiscountKind {
        /// A discount the partner grants (rule 19).
        PartnerGranted => "partner-granted",
        /// A contract discount.
        Contract => "contract",
        /// A promotion.
        Promotion => "promotion",
        /// A marketplace seller's discount on its own products.
        SellerDiscount => "seller-discount",
        /// A price raised above the price so far (a reseller's margin, a surcharge).
        Markup => "markup",
    }
}

crate::word_enum! {
    /// An action that the approval rules decide on (DOMAIN rules 10, 12-14, 17, 18, 22).
    pub enum ApprovalKind {
        /// Refund of an unsubscribed order.
        Refund => "refund",
        /// A partner paying an order on its customer's behalf.
        PaymentOnBehalf => "payment-on-behalf",
        /// Issuing a coupon from a quota.
        CouponIssue => "coupon-issue",
        /// Allocating balance to a resale customer or reseller.
        BalanceAllocation => "balance-allocation",
        /// Unfreezing a customer.
        CustomerUnfreeze => "customer-unfreeze",
        /// A distributor inviting a reseller.
        ResellerInvitation => "reseller-invitation",
        /// Unsubscribing a resource with its children (rule 10); from extension@0.3.0 on.
        Unsubscribe => "unsubscribe",
        /// Renewing a resource; from extension@0.3.0 on.
        Renewal => "renewal",
        /// Taking back balance, a coupon or a quota; from extension@0.3.0 on.
        Reclaim => "reclaim",
        /// Splitting a coupon quota to a reseller (rule 13); from extension@0.3.0 on.
        QuotaSplit => "quota-split",
        /// Freezing a customer; from extension@0.3.0 on.
        Freeze => "freeze",
        /// Setting a customer's budget (rule 18); from extension@0.3.0 on.
        Budget => "budget",
        /// Changing a customer's association (rule 17); from extension@0.3.0 on.
        AssociationChange => "association-change",
        /// Unbinding a customer from its partner (rule 17); from extension@0.3.0 on.
        Unbind => "unbind",
        /// A new order, before it may be paid; from extension@0.3.0 on.
        OrderReview => "order-review",
        /// Cancelling an unpaid order; from extension@0.3.0 on.
        Cancel => "cancel",
    }
}

impl ApprovalKind {
    /// Whether approval rules of extension@0.1.0 know this kind: they are asked about these
    /// six only.
    pub fn known_to_v0_1(self) -> bool {
        matches!(
            self,
            ApprovalKind::Refund
                | ApprovalKind::PaymentOnBehalf
                | ApprovalKind::CouponIssue
                | ApprovalKind::BalanceAllocation
                | ApprovalKind::CustomerUnfreeze
                | ApprovalKind::ResellerInvitation
        )
    }
}

/// A member of a partner's staff (DOMAIN "Roles": partner staff).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Staff {
    /// Id.
    pub id: i64,
    /// The partner employing them.
    pub partner: PartnerId,
    /// partner-admin, customer-manager, supervisor or salesperson.
    pub role: Role,
    /// The supervisor of a customer manager or salesperson.
    pub supervisor: Option<i64>,
}
