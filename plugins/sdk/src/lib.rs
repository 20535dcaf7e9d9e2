//! Everything a Rust plugin for the partner-center host needs.
//!
//! Enable the feature of the world you build, implement its `Guest` trait and export it:
//!
//! - `pricing-rule-v2`: the pricing rule of extension@0.2.0, lines read as rows from columns
//!   (see [`pricing_rule_v2`] for an example); what new pricing rules should use;
//! - `pricing-rule`: the pricing rule of extension@0.1.0, lines as a list of records;
//! - `pricing-rule-v3`, `approval-rule-v3`: extension@0.3.0, with the quote's purpose, every
//!   gated action as a typed case, and the binding's settings (see [`pricing_rule_v3`]);
//! - `approval-rule`: the approval rule (extension@0.1.0):
//!
//! ```ignore
//! use pchost_plugin_sdk::approval_rule::{ApprovalRequest, Decision, Guest, RuleError};
//! struct MyRule;
//! impl Guest for MyRule {
//!     fn decide(request: ApprovalRequest) -> Result<Decision, RuleError> { /* ... */ }
//! }
//! pchost_plugin_sdk::approval_rule::export_approval_rule!(MyRule);
//! ```
//!
//! Money crosses the boundary exactly, as a 64-bit mantissa and a scale: convert a 0.1.0
//! `decimal` to a [`rust_decimal::Decimal`] with `to_decimal()` and back with `Decimal::into()`;
//! the 0.2.0 rows and builder take and give `Decimal`s directly. The manifest's
//! `world-version` must name the version the plugin is built against.
//!
//! The contract ships in this crate (`wit/`, a copy of the host's `wit/` that a test keeps
//! identical), so a plugin project outside the host's repository depends on this crate alone.

// The generated bindings name this crate by its path, as plugins see it.
extern crate self as pchost_plugin_sdk;

pub use rust_decimal;
#[doc(hidden)]
pub use wit_bindgen;

/// Bindings of the `pricing-rule` world.
#[cfg(feature = "pricing-rule")]
pub mod pricing_rule {
    wit_bindgen::generate!({
        path: "wit",
        world: "partner-center:extension/pricing-rule@0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_pricing_rule",
        default_bindings_module: "pchost_plugin_sdk::pricing_rule",
        runtime_path: "pchost_plugin_sdk::wit_bindgen::rt",
        generate_all,
    });

    pub use partner_center::customer::customers;
    pub use partner_center::extension0_1_0::pricing_types::*;
    pub use partner_center::invoicing::invoices;
    pub use partner_center::log::log;
    pub use partner_center::order::orders;
    pub use partner_center::pricing::catalog;
    pub use partner_center::types::types::{CapabilityError, OrderId, ProductId, RealNameStatus, Role};

    crate::decimal_conversions!(partner_center::types::types::Decimal);
}

/// Bindings of the `pricing-rule` world of extension@0.2.0: the quote's lines and the
/// answer's adjustments travel as columns (see `wit/deps/extension-0.2.0`). Rules read lines
/// as rows with [`Quote::lines`](pricing_rule_v2::Quote::lines) and answer with
/// [`PriceAdjustments::reprice`](pricing_rule_v2::PriceAdjustments::reprice), so they never
/// touch the columns themselves:
///
/// ```ignore
/// use pchost_plugin_sdk::pricing_rule_v2::{Guest, PriceAdjustments, Quote, RuleError};
/// struct MyRule;
/// impl Guest for MyRule {
///     fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
///         let mut answer = PriceAdjustments::default();
///         let reason = answer.reason("5% off");
///         for line in quote.lines() {
///             answer.reprice(line.index, line.unit_price * Decimal::new(95, 2), reason);
///         }
///         Ok(answer)
///     }
/// }
/// pchost_plugin_sdk::pricing_rule_v2::export_pricing_rule!(MyRule);
/// ```
#[cfg(feature = "pricing-rule-v2")]
pub mod pricing_rule_v2 {
    wit_bindgen::generate!({
        path: "wit",
        // A world of its own name: the export macros wit-bindgen generates are named after
        // the world, and 0.1.0's `pricing-rule` already takes those names in this crate.
        inline: "package pchost:sdk; world pricing-rule-v2 { include partner-center:extension/pricing-rule@0.2.0; }",
        world: "pchost:sdk/pricing-rule-v2",
        pub_export_macro: true,
        export_macro_name: "export_pricing_rule",
        default_bindings_module: "pchost_plugin_sdk::pricing_rule_v2",
        runtime_path: "pchost_plugin_sdk::wit_bindgen::rt",
        generate_all,
    });

    pub use partner_center::customer::customers;
    pub use partner_center::extension0_2_0::pricing_types::*;
    pub use partner_center::invoicing::invoices;
    pub use partner_center::log::log;
    pub use partner_center::order::orders;
    pub use partner_center::pricing::catalog;
    pub use partner_center::types::types::{CapabilityError, OrderId, PeriodType, ProductId, RealNameStatus, Role};

    use crate::rust_decimal::Decimal;

    crate::columnar_lines!();

    impl Default for PriceAdjustments {
        fn default() -> Self {
            Self::with_capacity(0)
        }
    }

    impl PriceAdjustments {
        /// An answer with room for `lines` repriced lines.
        pub fn with_capacity(lines: usize) -> Self {
            PriceAdjustments {
                line: Vec::with_capacity(lines),
                unit_price: Vec::with_capacity(lines),
                unit_price_scale: Vec::with_capacity(lines),
                reason: Vec::with_capacity(lines),
                reasons: Vec::new(),
            }
        }

        /// Adds a reason and returns the index [`reprice`](Self::reprice) takes.
        pub fn reason(&mut self, text: impl Into<String>) -> u32 {
            self.reasons.push(text.into());
            (self.reasons.len() - 1) as u32
        }

        /// Sets line `line`'s new unit price (rounded half away from zero to at most 10
        /// places, the contract's limit) with the reason at index `reason`.
        pub fn reprice(&mut self, line: u32, unit_price: Decimal, reason: u32) {
            let (mantissa, scale) = crate::to_mantissa_and_scale(unit_price);
            self.line.push(line);
            self.unit_price.push(mantissa);
            self.unit_price_scale.push(scale);
            self.reason.push(reason);
        }
    }
}

/// Bindings of the `pricing-rule` world of extension@0.3.0: 0.2.0's columnar lines read as rows
/// ([`Quote::lines`](pricing_rule_v3::Quote::lines)), plus the quote's `purpose`, the
/// resource each renewal or spec-change line concerns
/// ([`Quote::resource_of`](pricing_rule_v3::Quote::resource_of)), the binding's settings
/// ([`Quote::decimal_setting`](pricing_rule_v3::Quote::decimal_setting) and friends), and an
/// answer whose every reason declares its [`DiscountKind`](pricing_rule_v3::DiscountKind):
///
/// ```ignore
/// use pchost_plugin_sdk::pricing_rule_v3::{DiscountKind, Guest, PriceAdjustments, Purpose, Quote, RuleError};
/// struct MyRule;
/// impl Guest for MyRule {
///     fn price(quote: Quote) -> Result<PriceAdjustments, RuleError> {
///         let mut answer = PriceAdjustments::default();
///         if quote.purpose != Purpose::Renewal {
///             return Ok(answer);
///         }
///         let rate = quote.decimal_setting("rate").unwrap_or(Decimal::new(5, 2));
///         let reason = answer.reason("renewal discount", DiscountKind::SellerDiscount);
///         for line in quote.lines() {
///             answer.reprice(line.index, line.unit_price * (Decimal::ONE - rate), reason);
///         }
///         Ok(answer)
///     }
/// }
/// pchost_plugin_sdk::pricing_rule_v3::export_pricing_rule!(MyRule);
/// ```
#[cfg(feature = "pricing-rule-v3")]
pub mod pricing_rule_v3 {
    wit_bindgen::generate!({
        path: "wit",
        // A world of its own name, as for 0.2.0.
        inline: "package pchost:sdk; world pricing-rule-v3 { include partner-center:extension/pricing-rule@0.3.0; }",
        world: "pchost:sdk/pricing-rule-v3",
        pub_export_macro: true,
        export_macro_name: "export_pricing_rule",
        default_bindings_module: "pchost_plugin_sdk::pricing_rule_v3",
        runtime_path: "pchost_plugin_sdk::wit_bindgen::rt",
        generate_all,
    });

    pub use partner_center::customer::customers;
    pub use partner_center::extension0_3_0::common::{Setting, SettingValue};
    pub use partner_center::extension0_3_0::pricing_types::*;
    pub use partner_center::invoicing::invoices;
    pub use partner_center::log::log;
    pub use partner_center::order::orders;
    pub use partner_center::pricing::catalog;
    pub use partner_center::types::types::{CapabilityError, OrderId, PeriodType, ProductId, RealNameStatus, Role};

    use crate::rust_decimal::Decimal;

    crate::decimal_conversions!(partner_center::types::types::Decimal);
    crate::settings_accessors!(Quote);

    crate::columnar_lines!();

    impl Quote {
        /// The resource line `line` renews or changes, if any.
        pub fn resource_of(&self, line: u32) -> Option<&LineResource> {
            self.resources.iter().find(|r| r.line == line)
        }
    }

    impl Default for PriceAdjustments {
        fn default() -> Self {
            Self::with_capacity(0)
        }
    }

    impl PriceAdjustments {
        /// An answer with room for `lines` repriced lines.
        pub fn with_capacity(lines: usize) -> Self {
            PriceAdjustments {
                line: Vec::with_capacity(lines),
                unit_price: Vec::with_capacity(lines),
                unit_price_scale: Vec::with_capacity(lines),
                reason: Vec::with_capacity(lines),
                reasons: Vec::new(),
                reason_kind: Vec::new(),
            }
        }

        /// Adds a reason of the given kind and returns the index [`reprice`](Self::reprice)
        /// takes.
        pub fn reason(&mut self, text: impl Into<String>, kind: DiscountKind) -> u32 {
            self.reasons.push(text.into());
            self.reason_kind.push(kind);
            (self.reasons.len() - 1) as u32
        }

        /// Sets line `line`'s new unit price (rounded half away from zero to at most 10
        /// places, the contract's limit) with the reason at index `reason`.
        pub fn reprice(&mut self, line: u32, unit_price: Decimal, reason: u32) {
            let (mantissa, scale) = crate::to_mantissa_and_scale(unit_price);
            self.line.push(line);
            self.unit_price.push(mantissa);
            self.unit_price_scale.push(scale);
            self.reason.push(reason);
        }
    }
}

/// Bindings of the `approval-rule` world of extension@0.3.0: the request's `action` is a
/// variant with a typed case per gated action, and the binding's settings are read with
/// [`ApprovalRequest::decimal_setting`](approval_rule_v3::ApprovalRequest::decimal_setting)
/// and friends.
#[cfg(feature = "approval-rule-v3")]
pub mod approval_rule_v3 {
    wit_bindgen::generate!({
        path: "wit",
        inline: "package pchost:sdk; world approval-rule-v3 { include partner-center:extension/approval-rule@0.3.0; }",
        world: "pchost:sdk/approval-rule-v3",
        pub_export_macro: true,
        export_macro_name: "export_approval_rule",
        default_bindings_module: "pchost_plugin_sdk::approval_rule_v3",
        runtime_path: "pchost_plugin_sdk::wit_bindgen::rt",
        generate_all,
    });

    pub use partner_center::customer::customers;
    pub use partner_center::extension0_3_0::approval_types::*;
    pub use partner_center::extension0_3_0::common::{Setting, SettingValue};
    pub use partner_center::invoicing::invoices;
    pub use partner_center::log::log;
    pub use partner_center::order::orders;
    pub use partner_center::pricing::catalog;
    pub use partner_center::types::types::{CapabilityError, PartnerKind, ProductId, RealNameStatus};

    crate::decimal_conversions!(partner_center::types::types::Decimal);
    crate::settings_accessors!(ApprovalRequest);
}

/// The lines of a columnar quote (extension@0.2.0 on) read as rows: a `Line` type and
/// `Quote::line_count` and `Quote::lines`, for the version module it is invoked in.
#[doc(hidden)]
#[macro_export]
macro_rules! columnar_lines {
    () => {
        /// One line of a quote, read from its columns.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct Line {
            /// Its index in the quote: what [`PriceAdjustments::reprice`] takes.
            pub index: u32,
            /// Index into `quote.products`.
            pub product: u32,
            /// The period the unit price is quoted per.
            pub period: PeriodType,
            /// How many periods.
            pub period_count: u32,
            /// How many units.
            pub quantity: u32,
            /// The catalog list price per unit per period.
            pub list_unit_price: $crate::rust_decimal::Decimal,
            /// The unit price so far.
            pub unit_price: $crate::rust_decimal::Decimal,
        }

        impl Quote {
            /// How many lines the quote has.
            pub fn line_count(&self) -> usize {
                self.lines.product.len()
            }

            /// The lines, in order.
            pub fn lines(&self) -> impl ExactSizeIterator<Item = Line> + '_ {
                use $crate::rust_decimal::Decimal;
                let columns = &self.lines;
                (0..self.line_count()).map(move |i| Line {
                    index: i as u32,
                    product: columns.product[i],
                    period: columns.period[i],
                    period_count: columns.period_count[i],
                    quantity: columns.quantity[i],
                    list_unit_price: Decimal::new(
                        columns.list_unit_price[i],
                        u32::from(columns.list_unit_price_scale[i]),
                    ),
                    unit_price: Decimal::new(columns.unit_price[i], u32::from(columns.unit_price_scale[i])),
                })
            }
        }
    };
}

/// Typed reads of the `settings` of an extension@0.3.0 input.
#[doc(hidden)]
#[macro_export]
macro_rules! settings_accessors {
    ($input:ty) => {
        impl $input {
            /// The value of setting `name`, if the binding's manifest declares it.
            pub fn setting(&self, name: &str) -> Option<&SettingValue> {
                self.settings.iter().find(|s| s.name == name).map(|s| &s.value)
            }

            /// A `decimal` setting.
            pub fn decimal_setting(&self, name: &str) -> Option<$crate::rust_decimal::Decimal> {
                match self.setting(name)? {
                    SettingValue::Decimal(d) => Some(d.to_decimal()),
                    _ => None,
                }
            }

            /// An `integer` setting.
            pub fn integer_setting(&self, name: &str) -> Option<i64> {
                match self.setting(name)? {
                    SettingValue::Integer(n) => Some(*n),
                    _ => None,
                }
            }

            /// A `string` or `one-of` setting.
            pub fn text_setting(&self, name: &str) -> Option<&str> {
                match self.setting(name)? {
                    SettingValue::Text(t) => Some(t),
                    _ => None,
                }
            }

            /// A `bool` setting.
            pub fn flag_setting(&self, name: &str) -> Option<bool> {
                match self.setting(name)? {
                    SettingValue::Flag(b) => Some(*b),
                    _ => None,
                }
            }
        }
    };
}

/// Bindings of the `approval-rule` world.
#[cfg(feature = "approval-rule")]
pub mod approval_rule {
    wit_bindgen::generate!({
        path: "wit",
        world: "partner-center:extension/approval-rule@0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_approval_rule",
        default_bindings_module: "pchost_plugin_sdk::approval_rule",
        runtime_path: "pchost_plugin_sdk::wit_bindgen::rt",
        generate_all,
    });

    pub use partner_center::customer::customers;
    pub use partner_center::extension0_1_0::approval_types::*;
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
            /// Rounds half away from zero to at most 10 places (the contract's limit), dropping
            /// further places while the mantissa does not fit 64 bits. A value beyond ±9.2e18,
            /// which no price reaches, saturates; the host then refuses it as out of range.
            fn from(value: $crate::rust_decimal::Decimal) -> Self {
                let (mantissa, scale) = $crate::to_mantissa_and_scale(value);
                Self { mantissa, scale }
            }
        }
    };
}

/// A decimal as the contract's 64-bit mantissa and scale: rounded half away from zero to at
/// most 10 places (the contract's limit), dropping further places while the mantissa does not
/// fit 64 bits. A value beyond ±9.2e18, which no price reaches, saturates; the host then
/// refuses it as out of range.
#[doc(hidden)]
pub fn to_mantissa_and_scale(value: rust_decimal::Decimal) -> (i64, u8) {
    let mut places = 10;
    loop {
        let rounded = value.round_dp_with_strategy(places, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let mantissa = rounded.mantissa();
        match i64::try_from(mantissa) {
            // The scale is at most 10 here, so it fits a u8.
            Ok(m) => return (m, rounded.scale() as u8),
            Err(_) if places > 0 => places -= 1,
            Err(_) => return (if mantissa < 0 { i64::MIN } else { i64::MAX }, 0),
        }
    }
}
