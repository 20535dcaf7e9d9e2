//! The contract with plugins, one module per released version of
//! `partner-center:extension` (its bindgen output, the conversions of the host's model into
//! its records and back, the checks of its answers), behind one dispatch: [`Entry`].
//!
//! The capability interfaces (`types`, `log`, `customers`, `orders`, `catalog`, `invoices`)
//! are generated once, by [`since_v0_1`]; every later version's bindgen reuses them (`with:`),
//! so every world links against one set of host implementations. Imports and exports are
//! async: a plugin runs on a fiber, so that a capability read it waits on can be abandoned
//! with the whole invocation at its deadline (see `runtime`).
//!
//! Adding a version: docs/contract-versions.md.

/// The bindgen of a world after 0.1.0: its capability interfaces are 0.1.0's generated ones
/// (`with:`), so every world links against one set of host implementations; `$extra` maps
/// more, e.g. an interface a version's other world generated.
macro_rules! bindgen_sharing_capabilities {
    ($world:literal $(, $extra:literal: $path:path)*) => {
        wasmtime::component::bindgen!({
            path: "../../wit",
            world: $world,
            imports: { default: async },
            exports: { default: async },
            with: {
                "partner-center:types/types": crate::wit::since_v0_1::pricing::partner_center::types::types,
                "partner-center:log/log": crate::wit::since_v0_1::pricing::partner_center::log::log,
                "partner-center:customer/customers": crate::wit::since_v0_1::pricing::partner_center::customer::customers,
                "partner-center:order/orders": crate::wit::since_v0_1::pricing::partner_center::order::orders,
                "partner-center:pricing/catalog": crate::wit::since_v0_1::pricing::partner_center::pricing::catalog,
                "partner-center:invoicing/invoices": crate::wit::since_v0_1::pricing::partner_center::invoicing::invoices,
                $($extra: $path,)*
            },
        });
    };
}
pub(crate) use bindgen_sharing_capabilities;

pub mod since_v0_1;
pub mod since_v0_2;
pub mod since_v0_3;

pub use since_v0_1::RuleError;
pub use since_v0_1::pricing::partner_center::customer::customers;
pub use since_v0_1::pricing::partner_center::invoicing::invoices;
pub use since_v0_1::pricing::partner_center::log::log;
pub use since_v0_1::pricing::partner_center::order::orders;
pub use since_v0_1::pricing::partner_center::pricing::catalog;
pub use since_v0_1::pricing::partner_center::types::types;

use crate::manifest::{World, WorldVersion};
use crate::state::InvocationState;
use wasmtime::component::{HasSelf, InstancePre, Linker};

/// Links the host's implementation of every capability interface. The 0.1.0 pricing world
/// imports them all; later versions' type-only interfaces need nothing linked.
pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    since_v0_1::pricing::PricingRule::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

/// A loaded plugin, pre-linked for its world at its contract version: the one dispatch every
/// invocation goes through.
pub(crate) enum Entry {
    /// `pricing-rule@0.1.0`.
    PricingV0_1(since_v0_1::pricing::PricingRulePre<InvocationState>),
    /// `pricing-rule@0.2.0`.
    PricingV0_2(since_v0_2::pricing::PricingRulePre<InvocationState>),
    /// `pricing-rule@0.3.0`.
    PricingV0_3(since_v0_3::pricing::PricingRulePre<InvocationState>),
    /// `approval-rule@0.1.0`.
    ApprovalV0_1(since_v0_1::approval::ApprovalRulePre<InvocationState>),
    /// `approval-rule@0.3.0`.
    ApprovalV0_3(since_v0_3::approval::ApprovalRulePre<InvocationState>),
}

impl Entry {
    /// Checks that `pre` exports what the world at `version` requires. The manifest has
    /// already refused a world at a version that does not exist (`World::wit_name`).
    pub(crate) fn new(
        world: World,
        version: WorldVersion,
        pre: InstancePre<InvocationState>,
    ) -> wasmtime::Result<Self> {
        Ok(match (world, version) {
            (World::PricingRule, WorldVersion::V0_1) => {
                Entry::PricingV0_1(since_v0_1::pricing::PricingRulePre::new(pre)?)
            }
            (World::PricingRule, WorldVersion::V0_2) => {
                Entry::PricingV0_2(since_v0_2::pricing::PricingRulePre::new(pre)?)
            }
            (World::PricingRule, WorldVersion::V0_3) => {
                Entry::PricingV0_3(since_v0_3::pricing::PricingRulePre::new(pre)?)
            }
            (World::ApprovalRule, WorldVersion::V0_3) => {
                Entry::ApprovalV0_3(since_v0_3::approval::ApprovalRulePre::new(pre)?)
            }
            (World::ApprovalRule, _) => Entry::ApprovalV0_1(since_v0_1::approval::ApprovalRulePre::new(pre)?),
        })
    }
}

/// The parts every columnar quote record (extension@0.2.0 on) has, built into the generated
/// types of the version module `$v` (its `pricing_types`): the partner, the customer and the
/// lines as columns. One body for every version; `?` returns its `InputError`.
macro_rules! columnar_quote_parts {
    ($quote:expr, $v:ident) => {{
        let quote: &crate::model::Quote = $quote;
        let c = quote.line_columns()?;
        let lines = $v::QuoteLines {
            product: c.product,
            period: c.period,
            period_count: c.period_count,
            quantity: c.quantity,
            list_unit_price: c.list_unit_price,
            list_unit_price_scale: c.list_unit_price_scale,
            unit_price: c.unit_price,
            unit_price_scale: c.unit_price_scale,
        };
        let partner = quote
            .partner_parts()?
            .map(|(id, kind, distributor)| $v::PartnerContext { id, kind, distributor });
        let customer = quote
            .customer_parts()?
            .map(|(id, association, freeze, level)| $v::CustomerContext {
                id,
                association,
                freeze,
                level,
            });
        (partner, customer, lines)
    }};
}
pub(crate) use columnar_quote_parts;

/// The parts every approval request record has (actor and customer), built into the
/// generated types of the version module `$v` (its `approval_types`).
macro_rules! approval_request_parts {
    ($request:expr, $v:ident) => {{
        let request: &crate::model::ApprovalRequest = $request;
        let (partner, id, role) = request.actor_parts()?;
        let actor = $v::Principal { partner, id, role };
        let customer = request
            .customer_parts()?
            .map(|(id, association, freeze, manager)| $v::SubjectCustomer {
                id,
                association,
                freeze,
                manager,
            });
        (actor, customer)
    }};
}
pub(crate) use approval_request_parts;

/// A pricing rule's raw answer at any contract version, checked against the output limits
/// (`size` estimates it before anything is validated) and then converted and validated
/// against the quote it was given (`convert`).
pub(crate) fn check_price_answer<R>(
    answer: Result<R, RuleError>,
    size: fn(&R) -> usize,
    convert: impl FnOnce(R) -> Result<crate::model::PriceAdjustments, String>,
    limits: &crate::limits::RuntimeLimits,
) -> Result<crate::model::PriceAdjustments, crate::failure::FailureKind> {
    use crate::failure::FailureKind;
    let raw = answer.map_err(crate::runtime::rule_failure)?;
    let size = size(&raw);
    if size > limits.max_output_bytes {
        return Err(FailureKind::InvalidOutput(format!(
            "output is about {size} bytes; the limit is {}",
            limits.max_output_bytes
        )));
    }
    convert(raw).map_err(FailureKind::InvalidOutput)
}

/// The instance of a warm pricing rule, by contract version.
pub(crate) enum WarmRule {
    /// `pricing-rule@0.1.0`.
    PricingV0_1(since_v0_1::pricing::PricingRule),
    /// `pricing-rule@0.2.0`.
    PricingV0_2(since_v0_2::pricing::PricingRule),
    /// `pricing-rule@0.3.0`.
    PricingV0_3(since_v0_3::pricing::PricingRule),
}
