//! Host-side bindings generated from `wit/`. The 0.1.0 pricing world generates every shared
//! interface; the other worlds reuse them, so every world links against one set of host
//! implementations.
//!
//! Imports and exports are async: a plugin runs on a fiber, so that a capability read it waits
//! on can be abandoned with the whole invocation at its deadline (see `runtime`).

/// The `pricing-rule` world and every shared interface.
pub mod pricing {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "partner-center:extension/pricing-rule@0.1.0",
        imports: { default: async },
        exports: { default: async },
    });
}

/// The `approval-rule` world.
pub mod approval {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "partner-center:extension/approval-rule@0.1.0",
        imports: { default: async },
        exports: { default: async },
        with: {
            "partner-center:types/types": super::pricing::partner_center::types::types,
            "partner-center:log/log": super::pricing::partner_center::log::log,
            "partner-center:customer/customers": super::pricing::partner_center::customer::customers,
            "partner-center:order/orders": super::pricing::partner_center::order::orders,
            "partner-center:pricing/catalog": super::pricing::partner_center::pricing::catalog,
            "partner-center:invoicing/invoices": super::pricing::partner_center::invoicing::invoices,
            "partner-center:extension/errors@0.1.0": super::pricing::partner_center::extension0_1_0::errors,
        },
    });
}

/// The `pricing-rule` world of extension@0.2.0 (columnar quote lines).
pub mod pricing_v2 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "partner-center:extension/pricing-rule@0.2.0",
        imports: { default: async },
        exports: { default: async },
        with: {
            "partner-center:types/types": super::pricing::partner_center::types::types,
            "partner-center:log/log": super::pricing::partner_center::log::log,
            "partner-center:customer/customers": super::pricing::partner_center::customer::customers,
            "partner-center:order/orders": super::pricing::partner_center::order::orders,
            "partner-center:pricing/catalog": super::pricing::partner_center::pricing::catalog,
            "partner-center:invoicing/invoices": super::pricing::partner_center::invoicing::invoices,
        },
    });
}

pub use pricing::partner_center::customer::customers;
pub use pricing::partner_center::extension0_1_0::errors::RuleError;
pub use pricing_v2::partner_center::extension0_2_0::errors::RuleError as RuleErrorV2;

/// The two versions of `rule-error` mean the same: the host handles one.
impl From<RuleErrorV2> for RuleError {
    fn from(error: RuleErrorV2) -> Self {
        match error {
            RuleErrorV2::InvalidInput(message) => RuleError::InvalidInput(message),
            RuleErrorV2::Capability(error) => RuleError::Capability(error),
        }
    }
}
pub use pricing::partner_center::invoicing::invoices;
pub use pricing::partner_center::log::log;
pub use pricing::partner_center::order::orders;
pub use pricing::partner_center::pricing::catalog;
pub use pricing::partner_center::types::types;
