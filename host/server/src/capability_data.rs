//! The capability reads plugins make, answered from the partner-center store: the
//! embedder's side of the runtime's [`CapabilityData`].

use pchost_domain::entities as d;
use pchost_runtime::CapabilityData;
use pchost_store::{Store, StoreError};

/// [`CapabilityData`] over the partner-center [`Store`].
#[derive(Debug, Clone)]
pub struct StoreData {
    store: Store,
}

impl StoreData {
    /// Reads `store`.
    pub fn new(store: Store) -> Self {
        StoreData { store }
    }
}

/// A store error, as a plugin sees it (the details stay in the host's log).
fn storage<T>(result: Result<T, StoreError>) -> Result<T, String> {
    result.map_err(|e| {
        tracing::warn!(error = %e, "capability read failed");
        "storage unavailable".to_owned()
    })
}

#[async_trait::async_trait]
impl CapabilityData for StoreData {
    async fn partner(&self, id: d::PartnerId) -> Result<Option<d::Partner>, String> {
        storage(self.store.partner(id).await)
    }
    async fn customer(&self, id: d::CustomerId) -> Result<Option<d::Customer>, String> {
        storage(self.store.customer(id).await)
    }
    async fn customers_of(
        &self,
        partners: &[d::PartnerId],
        after: d::CustomerId,
        limit: u32,
    ) -> Result<Vec<d::Customer>, String> {
        storage(self.store.customers_of(partners, after, limit).await)
    }
    async fn resellers_of(&self, distributor: d::PartnerId) -> Result<Vec<d::PartnerId>, String> {
        storage(self.store.resellers_of(distributor).await)
    }
    async fn order(&self, id: d::OrderId) -> Result<Option<d::Order>, String> {
        storage(self.store.order(id).await)
    }
    async fn recent_orders(&self, customer: d::CustomerId, limit: u32) -> Result<Vec<d::Order>, String> {
        storage(self.store.recent_orders(customer, limit).await)
    }
    async fn product(&self, id: d::ProductId) -> Result<Option<d::Product>, String> {
        storage(self.store.product(id).await)
    }
    async fn list_price(&self, product: d::ProductId, period: d::PeriodType) -> Result<Option<d::ListPrice>, String> {
        storage(self.store.list_price(product, period).await)
    }
    async fn invoice_info(&self, customer: d::CustomerId) -> Result<Option<d::InvoiceInfo>, String> {
        storage(self.store.invoice_info(customer).await)
    }
    async fn invoice_requests(&self, customer: d::CustomerId, limit: u32) -> Result<Vec<d::InvoiceRequest>, String> {
        storage(self.store.invoice_requests(customer, limit).await)
    }
}
