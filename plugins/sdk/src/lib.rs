//! Everything a Rust plugin for the partner-center host needs.
//!
//! Enable the feature of the world you build (`pricing-rule` or `approval-rule`), implement its
//! `Guest` trait and export it:
//!
//! ```ignore
//! use pchost_plugin_sdk::pricing_rule::{Guest, Quote, PriceAdjustments, RuleError};
//! struct MyRule;
//! impl Guest for MyRule {
//!     fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> { /* ... */ }
//! }
//! pchost_plugin_sdk::pricing_rule::export_pricing_rule!(MyRule);
//! ```
//!
//! Money crosses the boundary as an exact `decimal { mantissa, scale }`; convert it to a
//! [`rust_decimal::Decimal`] with `to_decimal()` and back with `Decimal::into()`.

// The generated bindings name this crate by its path, as plugins see it.
extern crate self as pchost_plugin_sdk;

pub use rust_decimal;
#[doc(hidden)]
pub use wit_bindgen;

/// Bindings of the `pricing-rule` world.
#[cfg(feature = "pricing-rule")]
pub mod pricing_rule {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "partner-center:extension/pricing-rule",
        pub_export_macro: true,
        export_macro_name: "export_pricing_rule",
        default_bindings_module: "pchost_plugin_sdk::pricing_rule",
        runtime_path: "pchost_plugin_sdk::wit_bindgen::rt",
        generate_all,
    });

    pub use partner_center::customer::customers;
    pub use partner_center::extension::pricing_types::*;
    pub use partner_center::invoicing::invoices;
    pub use partner_center::log::log;
    pub use partner_center::order::orders;
    pub use partner_center::pricing::catalog;
    pub use partner_center::types::types::{CapabilityError, OrderId, ProductId, RealNameStatus, Role};

    crate::decimal_conversions!(partner_center::types::types::Decimal);
}

/// Bindings of the `approval-rule` world.
#[cfg(feature = "approval-rule")]
pub mod approval_rule {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "partner-center:extension/approval-rule",
        pub_export_macro: true,
        export_macro_name: "export_approval_rule",
        default_bindings_module: "pchost_plugin_sdk::approval_rule",
        runtime_path: "pchost_plugin_sdk::wit_bindgen::rt",
        generate_all,
    });

    pub use partner_center::customer::customers;
    pub use partner_center::extension::approval_types::*;
    pub use partner_center::invoicing::invoices;
    pub use partner_center::log::log;
    pub use partner_center::order::orders;
    pub use partner_center::pricing::catalog;
    pub use partner_center::types::types::{CapabilityError, PartnerKind, ProductId, RealNameStatus};

    crate::decimal_conversions!(partner_center::types::types::Decimal);
}

/// Conversions between the WIT `decimal` record of a world and [`rust_decimal::Decimal`].
#[doc(hidden)]
#[macro_export]
macro_rules! decimal_conversions {
    ($wit:ty) => {
        impl $wit {
            /// The exact value as a [`rust_decimal::Decimal`].
            pub fn to_decimal(&self) -> $crate::rust_decimal::Decimal {
                $crate::rust_decimal::Decimal::new(self.mantissa, u32::from(self.scale))
            }
        }

        impl From<$crate::rust_decimal::Decimal> for $wit {
            /// Rounds half-up to at most 10 places (the contract's limit), dropping further
            /// places while the mantissa does not fit 64 bits. A value beyond ±9.2e18, which
            /// no price reaches, saturates; the host then refuses it as out of range.
            fn from(value: $crate::rust_decimal::Decimal) -> Self {
                let mut places = 10;
                loop {
                    let rounded = value.round_dp_with_strategy(
                        places,
                        $crate::rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    );
                    let mantissa = rounded.mantissa();
                    match i64::try_from(mantissa) {
                        // The scale is at most 10 here, so it fits a u8.
                        Ok(m) => {
                            return Self {
                                mantissa: m,
                                scale: rounded.scale() as u8,
                            };
                        }
                        Err(_) if places > 0 => places -= 1,
                        Err(_) => {
                            let m = if mantissa < 0 { i64::MIN } else { i64::MAX };
                            return Self {
                                mantissa: m,
                                scale: 0,
                            };
                        }
                    }
                }
            }
        }
    };
}
