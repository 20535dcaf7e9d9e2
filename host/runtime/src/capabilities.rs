//! The capability interfaces a plugin imports, implemented over the host's data and scoped to
//! the plugin's owner. Reads outside the owner's scope answer `access-denied`; the host data
//! is never written through here.

use crate::model;
use crate::state::{InvocationState, LogLine};
use crate::wit::{catalog, customers, invoices, log, orders, types as wt};
use pchost_domain::{access, entities as d};

/// The largest page a capability returns, whatever the plugin asks for.
pub const MAX_PAGE: u32 = 100;

/// Read access to the host's data, as the capabilities need it. Reads are async: a plugin
/// waits on them inside its invocation, whose deadline bounds them (see
/// [`crate::PluginRuntime`]).
#[async_trait::async_trait]
pub trait CapabilityData: Send + Sync {
    /// One partner.
    async fn partner(&self, id: d::PartnerId) -> Result<Option<d::Partner>, String>;
    /// One customer.
    async fn customer(&self, id: d::CustomerId) -> Result<Option<d::Customer>, String>;
    /// A page of the customers of some partners, by id after `after`.
    async fn customers_of(
        &self,
        partners: &[d::PartnerId],
        after: d::CustomerId,
        limit: u32,
    ) -> Result<Vec<d::Customer>, String>;
    /// The resellers of a distributor.
    async fn resellers_of(&self, distributor: d::PartnerId) -> Result<Vec<d::PartnerId>, String>;
    /// One order.
    async fn order(&self, id: d::OrderId) -> Result<Option<d::Order>, String>;
    /// The newest orders of a customer.
    async fn recent_orders(&self, customer: d::CustomerId, limit: u32) -> Result<Vec<d::Order>, String>;
    /// One product.
    async fn product(&self, id: d::ProductId) -> Result<Option<d::Product>, String>;
    /// A list price.
    async fn list_price(&self, product: d::ProductId, period: d::PeriodType) -> Result<Option<d::ListPrice>, String>;
    /// The invoice-info record of a customer.
    async fn invoice_info(&self, customer: d::CustomerId) -> Result<Option<d::InvoiceInfo>, String>;
    /// The newest invoice requests of a customer.
    async fn invoice_requests(&self, customer: d::CustomerId, limit: u32) -> Result<Vec<d::InvoiceRequest>, String>;
}

type CapResult<T> = Result<T, wt::CapabilityError>;

fn unavailable(message: String) -> wt::CapabilityError {
    wt::CapabilityError::Unavailable(message)
}

/// An id from a plugin: ids above `i64::MAX` name nothing.
fn domain_id(id: u64) -> CapResult<i64> {
    i64::try_from(id).map_err(|_| wt::CapabilityError::NotFound)
}

fn wit_id(id: i64) -> u64 {
    // Stored ids are positive row ids.
    u64::try_from(id).unwrap_or_default()
}

fn to_wit_decimal(value: rust_decimal::Decimal) -> CapResult<wt::Decimal> {
    model::decimal_to_wit(value, "amount").map_err(|e| unavailable(format!("stored amount does not fit: {e}")))
}

impl InvocationState {
    /// Counts a capability call, and refuses it past the operator's budget per invocation: a
    /// plugin cannot turn one invocation into an unbounded stream of reads.
    fn charge(&mut self) -> CapResult<()> {
        self.capability_calls = self.capability_calls.saturating_add(1);
        if self.capability_calls > self.max_capability_calls {
            return Err(unavailable(format!(
                "capability call limit reached: {} per invocation",
                self.max_capability_calls
            )));
        }
        Ok(())
    }

    /// The plugin's owner, looked up once per invocation.
    async fn owner(&mut self) -> CapResult<d::Partner> {
        if let Some(owner) = &self.owner {
            return Ok(owner.clone());
        }
        let owner = self
            .data
            .partner(self.owner_id)
            .await
            .map_err(unavailable)?
            // An owner that no longer exists sees nothing.
            .ok_or(wt::CapabilityError::AccessDenied)?;
        self.owner = Some(owner.clone());
        Ok(owner)
    }

    /// Refuses a customer outside the owner's scope. Refusals are counted for the audit
    /// record (and logged at debug only: a plugin probing ids must not flood the host's log).
    async fn visible_customer(&mut self, id: d::CustomerId) -> CapResult<d::Customer> {
        let customer = self
            .data
            .customer(id)
            .await
            .map_err(unavailable)?
            .ok_or(wt::CapabilityError::NotFound)?;
        let owner = self.owner().await?;
        let partner = self
            .data
            .partner(customer.partner)
            .await
            .map_err(unavailable)?
            .ok_or(wt::CapabilityError::AccessDenied)?;
        if access::owner_sees_customers_of(&owner, &partner) {
            Ok(customer)
        } else {
            self.denied_calls = self.denied_calls.saturating_add(1);
            tracing::debug!(
                plugin_owner = owner.id,
                customer = id,
                "capability read outside scope denied"
            );
            Err(wt::CapabilityError::AccessDenied)
        }
    }
}

impl wt::Host for InvocationState {}

impl log::Host for InvocationState {
    async fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.push_log(LogLine { level, message });
    }
}

fn customer_to_wit(c: d::Customer) -> customers::Customer {
    customers::Customer {
        id: wit_id(c.id),
        partner: wit_id(c.partner),
        account_name: c.account_name,
        association: model::association(c.association),
        associated_at: c.associated_at.timestamp_millis(),
        real_name: match c.real_name {
            d::RealNameStatus::None => wt::RealNameStatus::None,
            d::RealNameStatus::UnderReview => wt::RealNameStatus::UnderReview,
            d::RealNameStatus::Rejected => wt::RealNameStatus::Rejected,
            d::RealNameStatus::Verified => wt::RealNameStatus::Verified,
        },
        customer_type: match c.customer_type {
            d::CustomerType::Individual => customers::CustomerType::Individual,
            d::CustomerType::Enterprise => customers::CustomerType::Enterprise,
        },
        freeze: model::freeze(c.freeze),
        manager: c.manager.map(wit_id),
        country: c.country,
        level: c.level,
    }
}

impl customers::Host for InvocationState {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&mut self, id: u64) -> CapResult<customers::Customer> {
        self.charge()?;
        let customer = self.visible_customer(domain_id(id)?).await?;
        Ok(customer_to_wit(customer))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn page(&mut self, after: u64, limit: u32) -> CapResult<Vec<customers::Customer>> {
        self.charge()?;
        let owner = self.owner().await?;
        let mut scope = match owner.kind {
            d::PartnerKind::Seller => return Ok(Vec::new()),
            _ => vec![owner.id],
        };
        if owner.kind == d::PartnerKind::Distributor {
            scope.extend(self.data.resellers_of(owner.id).await.map_err(unavailable)?);
        }
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let page = self
            .data
            .customers_of(&scope, after, limit.min(MAX_PAGE))
            .await
            .map_err(unavailable)?;
        Ok(page.into_iter().map(customer_to_wit).collect())
    }
}

fn order_to_wit(o: d::Order) -> CapResult<orders::Order> {
    Ok(orders::Order {
        id: wit_id(o.id),
        customer: wit_id(o.customer),
        kind: match o.kind {
            d::OrderKind::New => orders::OrderKind::New,
            d::OrderKind::Renew => orders::OrderKind::Renew,
            d::OrderKind::Change => orders::OrderKind::Change,
            d::OrderKind::Unsubscribe => orders::OrderKind::Unsubscribe,
            d::OrderKind::ToOnDemand => orders::OrderKind::ToOnDemand,
            d::OrderKind::Trial => orders::OrderKind::Trial,
            d::OrderKind::Adjust => orders::OrderKind::Adjust,
        },
        status: match o.status {
            d::OrderStatus::PendingReview => orders::OrderStatus::PendingReview,
            d::OrderStatus::PendingPayment => orders::OrderStatus::PendingPayment,
            d::OrderStatus::Processing => orders::OrderStatus::Processing,
            d::OrderStatus::Completed => orders::OrderStatus::Completed,
            d::OrderStatus::Cancelled => orders::OrderStatus::Cancelled,
            d::OrderStatus::PendingRefund => orders::OrderStatus::PendingRefund,
        },
        currency: o.currency.to_string(),
        list_amount: to_wit_decimal(o.list_amount)?,
        amount: to_wit_decimal(o.amount)?,
        created_at: o.created_at.timestamp_millis(),
        paid_at: o.paid_at.map(|t| t.timestamp_millis()),
        paid_by_partner: o.paid_by_partner,
    })
}

impl orders::Host for InvocationState {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&mut self, id: u64) -> CapResult<orders::Order> {
        self.charge()?;
        let order = self
            .data
            .order(domain_id(id)?)
            .await
            .map_err(unavailable)?
            .ok_or(wt::CapabilityError::NotFound)?;
        self.visible_customer(order.customer).await?;
        order_to_wit(order)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn recent(&mut self, customer: u64, limit: u32) -> CapResult<Vec<orders::Order>> {
        self.charge()?;
        let customer = self.visible_customer(domain_id(customer)?).await?;
        let orders = self
            .data
            .recent_orders(customer.id, limit.min(MAX_PAGE))
            .await
            .map_err(unavailable)?;
        orders.into_iter().map(order_to_wit).collect()
    }
}

impl catalog::Host for InvocationState {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&mut self, id: u64) -> CapResult<catalog::Product> {
        self.charge()?;
        let p = self
            .data
            .product(domain_id(id)?)
            .await
            .map_err(unavailable)?
            .ok_or(wt::CapabilityError::NotFound)?;
        Ok(catalog::Product {
            id: wit_id(p.id),
            seller: p.seller.map(wit_id),
            service_type: p.service_type,
            resource_type: p.resource_type,
            spec_code: p.spec_code,
            region: p.region,
            charging_mode: model::charging_mode(p.charging_mode),
        })
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn price(&mut self, id: u64, period: catalog::PeriodType) -> CapResult<catalog::ListPrice> {
        self.charge()?;
        let price = self
            .data
            .list_price(domain_id(id)?, model::period_from_wit(period))
            .await
            .map_err(unavailable)?
            .ok_or(wt::CapabilityError::NotFound)?;
        Ok(catalog::ListPrice {
            amount: to_wit_decimal(price.amount)?,
            currency: price.currency.to_string(),
        })
    }
}

impl invoices::Host for InvocationState {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn info(&mut self, customer: u64) -> CapResult<Option<invoices::InvoiceInfo>> {
        self.charge()?;
        let customer = self.visible_customer(domain_id(customer)?).await?;
        let info = self.data.invoice_info(customer.id).await.map_err(unavailable)?;
        Ok(info.map(|i| invoices::InvoiceInfo {
            title_type: match i.title_type {
                d::TitleType::Enterprise => invoices::TitleType::Enterprise,
                d::TitleType::Individual => invoices::TitleType::Individual,
            },
            title: i.title,
            tax_id: i.tax_id,
        }))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn requests(&mut self, customer: u64, limit: u32) -> CapResult<Vec<invoices::InvoiceRequest>> {
        self.charge()?;
        let customer = self.visible_customer(domain_id(customer)?).await?;
        let requests = self
            .data
            .invoice_requests(customer.id, limit.min(MAX_PAGE))
            .await
            .map_err(unavailable)?;
        requests
            .into_iter()
            .map(|r| {
                Ok(invoices::InvoiceRequest {
                    id: wit_id(r.id),
                    basis: match r.basis {
                        d::InvoiceBasis::BillingCycle => invoices::InvoiceBasis::BillingCycle,
                        d::InvoiceBasis::Order => invoices::InvoiceBasis::Order,
                        d::InvoiceBasis::Amount => invoices::InvoiceBasis::Amount,
                    },
                    kind: match r.kind {
                        d::InvoiceKind::VatGeneral => invoices::InvoiceKind::VatGeneral,
                        d::InvoiceKind::VatSpecial => invoices::InvoiceKind::VatSpecial,
                    },
                    medium: match r.medium {
                        d::InvoiceMedium::Paper => invoices::Medium::Paper,
                        d::InvoiceMedium::Electronic => invoices::Medium::Electronic,
                        d::InvoiceMedium::Digital => invoices::Medium::Digital,
                    },
                    amount: to_wit_decimal(r.amount)?,
                    currency: r.currency.to_string(),
                    status: match r.status {
                        d::InvoiceStatus::Submitted => invoices::InvoiceStatus::Submitted,
                        d::InvoiceStatus::Issued => invoices::InvoiceStatus::Issued,
                        d::InvoiceStatus::Rejected => invoices::InvoiceStatus::Rejected,
                    },
                    requested_at: r.requested_at.timestamp_millis(),
                })
            })
            .collect()
    }
}
