//! Hostile: reads the quote's customer through the `customer` capability and passes any
//! capability error back, so a test can see what the host answered for a customer outside
//! the plugin owner's scope.
use pchost_plugin_sdk::pricing_rule::{Guest, PriceAdjustments, Quote, RuleError, customers};

struct CrossTenantReader;

impl Guest for CrossTenantReader {
    fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let customer = quote
            .customer
            .ok_or_else(|| RuleError::InvalidInput("the quote names no customer".into()))?;
        let found = customers::get(customer.id).map_err(RuleError::Capability)?;
        Ok(PriceAdjustments {
            lines: Vec::new(),
            reasons: vec![format!("read customer {}", found.account_name)],
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(CrossTenantReader);
