//! The per-invocation store data: a fresh one for every call, so no state leaks between
//! invocations or tenants.

use crate::capabilities::CapabilityData;
use crate::limits::{InvocationLimits, RuntimeLimits};
use crate::sandbox::{VirtualClock, WaitsView};
use pchost_domain::{Partner, PartnerId};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::ClosedInputStream;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// One line a plugin logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// trace, debug, info, warn or error.
    pub level: &'static str,
    /// The message, truncated to the operator's per-line cap.
    pub message: String,
}

/// Caps the linear memory of one invocation, all its memories together (a component may
/// define several), and its tables; remembers whether the cap was hit, so that the trap that
/// follows (a Rust guest aborts when allocation fails) is reported as out-of-memory.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    pub(crate) max_bytes: usize,
    /// Bytes of every memory of the invocation together.
    pub(crate) total_bytes: usize,
    pub(crate) hit: bool,
}

/// Table elements a plugin may have: far above what real components use.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Host resources (streams, pollables) one invocation may hold at once. A std guest holds a
/// handful; the bound keeps a guest that subscribes in a loop from making the host hold
/// memory outside its memory cap (wasmtime's default is a million).
const MAX_HOST_RESOURCES: usize = 1024;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.total_bytes.saturating_sub(current).saturating_add(desired);
        if total > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        self.total_bytes = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Store data of one invocation.
pub struct InvocationState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryCap,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) data: Arc<dyn CapabilityData>,
    pub(crate) owner_id: PartnerId,
    pub(crate) owner: Option<Partner>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) dropped_logs: usize,
    max_log_lines: usize,
    max_log_line_bytes: usize,
    /// The invocation's monotonic clock (see [`crate::sandbox`]).
    clock: Arc<VirtualClock>,
    /// Capability calls made, refused ones included.
    pub(crate) capability_calls: u32,
    /// Capability calls refused: outside the owner's scope, or past the budget.
    pub(crate) denied_calls: u32,
    pub(crate) max_capability_calls: u32,
}

impl std::fmt::Debug for InvocationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationState")
            .field("owner", &self.owner_id)
            .finish_non_exhaustive()
    }
}

/// A clock that always reads the invocation's as-of time, so a replay sees the same time.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

impl InvocationState {
    /// State for one call: WASI with no ambient authority (no dirs, env, args, network),
    /// the wall clock fixed at `as_of_millis`, a virtual monotonic clock that may advance up
    /// to `deadline`, randomness from `seed`, stdin closed, stderr captured (bounded).
    pub(crate) fn new(
        data: Arc<dyn CapabilityData>,
        owner_id: PartnerId,
        as_of_millis: i64,
        seed: [u8; 32],
        invocation: &InvocationLimits,
        limits: &RuntimeLimits,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(limits.max_stderr_bytes);
        let since_epoch = Duration::from_millis(u64::try_from(as_of_millis).unwrap_or(0));
        let wasi = WasiCtx::builder()
            .stdin(ClosedInputStream)
            .stderr(stderr.clone())
            .wall_clock(FixedWallClock(since_epoch))
            .secure_random(wasmtime_wasi::random::Deterministic::new(seed.to_vec()))
            .insecure_random(wasmtime_wasi::random::Deterministic::new(
                seed.iter().rev().copied().collect(),
            ))
            .insecure_random_seed(u128::from_le_bytes(seed[..16].try_into().unwrap_or_default()))
            .max_random_size(64 << 10)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        InvocationState {
            wasi,
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_HOST_RESOURCES);
                table
            },
            limiter: MemoryCap {
                max_bytes: invocation.memory_bytes,
                total_bytes: 0,
                hit: false,
            },
            stderr,
            data,
            owner_id,
            owner: None,
            logs: Vec::new(),
            dropped_logs: 0,
            max_log_lines: limits.max_log_lines,
            max_log_line_bytes: limits.max_log_line_bytes,
            clock: VirtualClock::new(u64::try_from(invocation.deadline.as_nanos()).unwrap_or(u64::MAX)),
            capability_calls: 0,
            denied_calls: 0,
            max_capability_calls: limits.max_capability_calls,
        }
    }

    /// What the virtual monotonic clock and `wasi:io/poll` work on.
    pub(crate) fn waits(&mut self) -> WaitsView<'_> {
        WaitsView {
            table: &mut self.table,
            clock: &self.clock,
        }
    }

    pub(crate) fn push_log(&mut self, mut line: LogLine) {
        if self.logs.len() >= self.max_log_lines {
            self.dropped_logs += 1;
            return;
        }
        if line.message.len() > self.max_log_line_bytes {
            let mut cut = self.max_log_line_bytes;
            while !line.message.is_char_boundary(cut) {
                cut -= 1;
            }
            line.message.truncate(cut);
        }
        self.logs.push(line);
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
