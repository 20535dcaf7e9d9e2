//! Limits on everything a plugin may consume or send, with the defaults an operator gets.

use crate::precheck::ShapeLimits;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The limits one invocation of a plugin runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationLimits {
    /// Wall-clock deadline, enforced by epoch interruption.
    pub deadline: Duration,
    /// Fuel (roughly, Wasm instructions) the call may burn; `None` = unmetered (fuel used is
    /// still reported).
    pub fuel: Option<u64>,
    /// Linear memory cap, enforced by a resource limiter.
    pub memory_bytes: usize,
}

impl Default for InvocationLimits {
    fn default() -> Self {
        InvocationLimits {
            deadline: Duration::from_millis(100),
            fuel: None,
            memory_bytes: 64 << 20,
        }
    }
}

/// The largest component accepted at install by default. A Python component (componentize-py)
/// is about 18 MiB, most of it the interpreter's initialised heap and standard library as data;
/// a JavaScript one (componentize-js) about 12 MiB. Size bounds what an upload stores and
/// sends; what compile time grows with (code) is bounded apart, by [`ShapeLimits`].
pub const DEFAULT_MAX_COMPONENT_BYTES: usize = 32 << 20;

/// Operator-wide limits: ceilings for per-plugin limits and sizes of what crosses the boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeLimits {
    /// The largest component accepted at install.
    pub max_component_bytes: usize,
    /// Limits a plugin gets when its manifest sets none.
    pub default_invocation: InvocationLimits,
    /// The highest deadline a manifest may ask for.
    pub max_deadline: Duration,
    /// The highest fuel a manifest may ask for.
    pub max_fuel: u64,
    /// The highest memory cap a manifest may ask for.
    pub max_memory_bytes: usize,
    /// The largest input (estimated encoded size) sent to a plugin.
    pub max_input_bytes: usize,
    /// The most lines one quote may have.
    pub max_quote_lines: usize,
    /// The largest output (estimated encoded size) accepted from a plugin.
    pub max_output_bytes: usize,
    /// The longest single reason text accepted from a plugin.
    pub max_reason_bytes: usize,
    /// Log lines kept per invocation; the rest are counted and dropped.
    pub max_log_lines: usize,
    /// Bytes kept per log line.
    pub max_log_line_bytes: usize,
    /// Bytes of guest stderr kept (a panic message lands there).
    pub max_stderr_bytes: usize,
    /// How many plugin instances may be alive at once (the pooling allocator's size).
    pub max_concurrent_instances: u32,
    /// How many of those one owner's plugins may hold at once: past it, only that owner's
    /// invocations wait (at most `admission_wait`), then are refused as `concurrency-limit`.
    pub owner_concurrency: u32,
    /// How long an invocation waits for a permit of its owner's share, then for an instance
    /// slot, before it is refused.
    pub admission_wait: Duration,
    /// How far past its deadline an invocation waiting on the host runs before the watchdog
    /// drops it (guest code stops at the deadline itself).
    pub watchdog_margin: Duration,
    /// Capability calls one invocation may make; the next ones answer `unavailable`.
    pub max_capability_calls: u32,
    /// How many invocations run guest code at once (one per core by default); the others
    /// wait for a turn, given to the waiting owners in turn (see `cpu`).
    pub guest_turns: u32,
    /// What one component may hold of the pool, checked at install.
    pub per_component: ComponentLimits,
    /// Memory (and table) bytes of a pool slot kept resident between instances, zeroed
    /// rather than handed back to the kernel: a fresh instance finds them without page faults.
    /// A plugin built with the SDK's 64 KiB stack (`plugins/.cargo/config.toml`) keeps its
    /// stack, data and early heap in the default 256 KiB (7-9 µs per isolated invocation
    /// instead of 19-22 µs; see BENCHMARKS.md), at most 64 MiB for the default 256 slots. An
    /// interpreter touches megabytes per call: 8 MiB takes about a fifth off a JavaScript rule's
    /// isolated invocation (BENCHMARKS.md, section 8), and holds up to 8 MiB per slot that
    /// ever ran one.
    pub slot_resident_bytes: usize,
    /// What one component may contain of what compile time grows with, checked before it is
    /// compiled.
    pub shape: ShapeLimits,
}

/// What one component may hold of the instance pool: a component past these is refused at
/// install, so that no invocation can take more than its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComponentLimits {
    /// Core module instances (a Rust component has its module and a few shims; a JavaScript
    /// or Python one, a few dozen at most).
    pub core_instances: u32,
    /// Linear memories.
    pub memories: u32,
    /// Tables.
    pub tables: u32,
}

impl Default for ComponentLimits {
    fn default() -> Self {
        ComponentLimits {
            core_instances: 32,
            memories: 2,
            tables: 16,
        }
    }
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        RuntimeLimits {
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
            default_invocation: InvocationLimits::default(),
            max_deadline: Duration::from_secs(2),
            max_fuel: 1_000_000_000,
            max_memory_bytes: 256 << 20,
            max_input_bytes: 4 << 20,
            max_quote_lines: 10_000,
            max_output_bytes: 1 << 20,
            max_reason_bytes: 1024,
            max_log_lines: 64,
            max_log_line_bytes: 1024,
            max_stderr_bytes: 8 << 10,
            max_concurrent_instances: 256,
            owner_concurrency: 64,
            admission_wait: Duration::from_millis(25),
            watchdog_margin: Duration::from_millis(20),
            max_capability_calls: 100,
            guest_turns: std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
            per_component: ComponentLimits::default(),
            slot_resident_bytes: 256 << 10,
            shape: ShapeLimits::default(),
        }
    }
}
