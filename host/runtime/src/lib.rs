//! The sandboxed plugin runtime of the partner-center host.
//!
//! Plugins are WebAssembly components implementing a world of `wit/` (`pricing-rule`,
//! `approval-rule`). The runtime installs them (a pre-check, grants, a bounded compile once,
//! content-addressed artefacts), runs each invocation isolated under a deadline, a memory cap
//! and optional fuel, and returns either a validated output or a typed [`PluginFailure`].
//! It knows nothing of HTTP or SQL: host data arrives through [`CapabilityData`].

mod admission;

pub mod capabilities;
pub mod compile;
mod cpu;
pub mod failure;
pub mod limits;
pub mod manifest;
pub mod model;
mod precheck;
mod runtime;
mod sandbox;
pub mod settings;
mod state;
pub mod wit;

pub use capabilities::CapabilityData;
pub use failure::{CapabilityFailure, FailureKind, InstallError, InvokeError, PluginFailure, RuleFailure, Usage};
pub use limits::{ComponentLimits, DEFAULT_MAX_COMPONENT_BYTES, InvocationLimits, RuntimeLimits};
pub use manifest::{Capability, PluginManifest, World, WorldVersion};
pub use precheck::ShapeLimits;
pub use runtime::{Invocation, LoadedPlugin, Occupancy, PluginRuntime, RuntimeConfig, WarmPricing, remove_artefacts};
pub use state::LogLine;
