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
