//! Host-side bindings generated from `wit/`. The pricing world generates every shared
//! interface; the approval world reuses them, so both worlds link against one set of host
//! implementations.

/// The `pricing-rule` world and every shared interface.
pub mod pricing {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "partner-center:extension/pricing-rule",
    });
}

/// The `approval-rule` world.
pub mod approval {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "partner-center:extension/approval-rule",
        with: {
            "partner-center:types/types": super::pricing::partner_center::types::types,
            "partner-center:log/log": super::pricing::partner_center::log::log,
            "partner-center:customer/customers": super::pricing::partner_center::customer::customers,
            "partner-center:order/orders": super::pricing::partner_center::order::orders,
            "partner-center:pricing/catalog": super::pricing::partner_center::pricing::catalog,
            "partner-center:invoicing/invoices": super::pricing::partner_center::invoicing::invoices,
            "partner-center:extension/errors": super::pricing::partner_center::extension::errors,
        },
    });
}

pub use pricing::partner_center::customer::customers;
pub use pricing::partner_center::extension::errors::RuleError;
pub use pricing::partner_center::invoicing::invoices;
pub use pricing::partner_center::log::log;
pub use pricing::partner_center::order::orders;
pub use pricing::partner_center::pricing::catalog;
pub use pricing::partner_center::types::types;
