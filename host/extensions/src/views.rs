//! How the host shows partner-center records to API clients, and in the outcomes of approved
//! actions it records: words for enums, ids for references.

use chrono::Utc;
use pchost_domain::{Customer, CustomerId};
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
