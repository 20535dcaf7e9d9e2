//! How the host shows partner-center records to API clients, and in the outcomes of approved
//! actions it records: words for enums, ids for references.

use chrono::DateTime;
use chrono::Utc;
use pchost_domain::{Customer, CustomerId, Order, OrderId};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

/// A customer as the host shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    /// Id.
    pub id: CustomerId,
    /// Its partner.
    pub partner_id: i64,
    /// Account name.
    pub account_name: String,
    /// `resale` or `referral`.
    pub association: String,
    /// When it was associated.
    pub associated_at: chrono::DateTime<Utc>,
    /// `none`, `under-review`, `rejected`, `verified`.
    pub real_name: String,
    /// `individual` or `enterprise`.
    pub customer_type: String,
    /// `not-frozen`, `account-frozen`, `account-and-resources-frozen`.
    pub freeze: String,
    /// Assigned manager (staff id).
    pub manager: Option<i64>,
    /// Country.
    pub country: String,
    /// Level.
    pub level: u8,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        CustomerView {
            id: c.id,
            partner_id: c.partner,
            account_name: c.account_name,
            association: c.association.to_string(),
            associated_at: c.associated_at,
            real_name: c.real_name.to_string(),
            customer_type: c.customer_type.to_string(),
            freeze: c.freeze.to_string(),
            manager: c.manager,
            country: c.country,
            level: c.level,
        }
    }
}

/// An order as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    /// Id.
    pub id: OrderId,
    /// The customer.
    pub customer_id: i64,
    /// `new`, `renew`, ...
    pub kind: String,
    /// `pending-payment`, `completed`, `cancelled`, ...
    pub status: String,
    /// Currency.
    pub currency: String,
    /// List amount.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub list_amount: Decimal,
    /// Amount after the pricing chain.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// Whether the partner paid it on the customer's behalf.
    pub paid_by_partner: bool,
    /// The quote it was created from, whose breakdown lists every plugin adjustment.
    pub quote_id: Option<i64>,
    /// Who created it (`partner-admin:2/500` for reseller 2's admin 500, `customer:2/102` for
    /// the customer itself): with `customer_id`, both principals of an order made on the
    /// customer's behalf (rule 21). Null for orders from before it was recorded.
    pub created_by: Option<String>,
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        OrderView {
            id: o.id,
            customer_id: o.customer,
            kind: o.kind.to_string(),
            status: o.status.to_string(),
            currency: o.currency.to_string(),
            list_amount: o.list_amount,
            amount: o.amount,
            created_at: o.created_at,
            paid_at: o.paid_at,
            paid_by_partner: o.paid_by_partner,
            quote_id: o.quote,
            created_by: o.created_by,
        }
    }
}
