//! Builds the audit record of each plugin invocation the API makes, and writes them (with the
//! shadow versions' differences) to the store once the plugins have run, success or failure
//! alike.

use crate::PluginHost;
use crate::error::ExtensionError;
use chrono::{DateTime, Utc};
use pchost_runtime::{Invocation, InvokeError, LoadedPlugin};
use pchost_store::audit::InvocationRecord;
use pchost_store::bindings::NewShadowDiff;
use pchost_store::store::Store;
use serde::Serialize;
use std::time::Instant;

/// Why a plugin ran: for the request (`live`), beside the active version (`shadow`), or to
/// check a recorded invocation (`replay`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A live request.
    Live,
    /// A shadow version beside the active one.
    Shadow,
    /// A replay of a recorded invocation.
    Replay,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Live => "live",
            Purpose::Shadow => "shadow",
            Purpose::Replay => "replay",
        }
    }
}

/// A shadow version's answer that differed from the active version's, pointing at the two
/// invocations in [`AuditLog::records`] by index until they are written.
#[derive(Debug)]
pub struct PendingDiff {
    /// The record of the active version's invocation.
    pub active: usize,
    /// The record of the shadow version's invocation.
    pub shadow: usize,
    /// The diff, without the invocation ids.
    pub diff: NewShadowDiff,
}

/// What a request's plugin work leaves to write.
#[derive(Debug, Default)]
pub struct AuditLog {
    /// Every invocation, in order.
    pub records: Vec<InvocationRecord>,
    /// The shadow versions' differences.
    pub diffs: Vec<PendingDiff>,
}

/// The record of one invocation, or `None` when the plugin never ran (its input was refused
/// before the call).
pub fn record<I: Serialize, T: Serialize>(
    plugin: &LoadedPlugin,
    input: &I,
    as_of: DateTime<Utc>,
    started: Instant,
    purpose: Purpose,
    result: &Result<Invocation<T>, InvokeError>,
) -> Option<InvocationRecord> {
    let input = serde_json::to_string(input).ok()?;
    let (output, failure, usage, logs) = match result {
        Ok(invocation) => (
            serde_json::to_string(&invocation.output).ok(),
            None,
            invocation.usage,
            serde_json::to_string(&invocation.logs).unwrap_or_else(|_| "[]".into()),
        ),
        Err(InvokeError::Plugin(failure)) => (None, serde_json::to_string(failure).ok(), failure.usage, "[]".into()),
        Err(_) => return None,
    };
    Some(InvocationRecord {
        id: 0,
        plugin: plugin.manifest.label(),
        digest: plugin.digest.clone(),
        world: plugin.manifest.wit_world().to_owned(),
        owner: plugin.manifest.owner,
        input_hash: InvocationRecord::hash_input(&input),
        input,
        as_of,
        output,
        failure,
        duration_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        fuel_used: i64::try_from(usage.fuel_used).ok(),
        capability_calls: i64::from(usage.capability_calls),
        denied_calls: i64::from(usage.denied_calls),
        logs,
        purpose: purpose.as_str().to_owned(),
    })
}

/// Runs plugin work off the async executor (plugins block: deadlines, capability reads),
/// then records every invocation it made, the failing one included, and the shadow
/// differences, before answering.
pub async fn run_audited<T: Send + 'static>(
    host: PluginHost,
    work: impl FnOnce(&PluginHost, &mut AuditLog) -> Result<T, ExtensionError> + Send + 'static,
) -> Result<T, ExtensionError> {
    let (result, _) = run_audited_with_ids(host, work).await?;
    result
}

/// [`run_audited`], also returning the ids the invocations were recorded under, in order.
pub async fn run_audited_with_ids<T: Send + 'static>(
    host: PluginHost,
    work: impl FnOnce(&PluginHost, &mut AuditLog) -> Result<T, ExtensionError> + Send + 'static,
) -> Result<(Result<T, ExtensionError>, Vec<i64>), ExtensionError> {
    let store = host.store.clone();
    let (log, result) = run_unrecorded(host, work).await?;
    let ids = write(&store, log).await?;
    Ok((result, ids))
}

/// Writes a log: its records in one transaction, then their diffs. Returns the records' ids.
pub async fn write(store: &Store, log: AuditLog) -> Result<Vec<i64>, ExtensionError> {
    let now = Utc::now();
    let ids = if log.records.is_empty() {
        Vec::new()
    } else {
        store.record_invocations(&log.records, now).await?
    };
    record_diffs(store, log.diffs, &ids, now).await?;
    Ok(ids)
}

/// Runs plugin work on the blocking pool and hands back its log unwritten: for a caller that
/// writes the records in a transaction of its own, then their diffs with [`record_diffs`].
pub async fn run_unrecorded<T: Send + 'static>(
    host: PluginHost,
    work: impl FnOnce(&PluginHost, &mut AuditLog) -> Result<T, ExtensionError> + Send + 'static,
) -> Result<(AuditLog, Result<T, ExtensionError>), ExtensionError> {
    tokio::task::spawn_blocking(move || {
        let mut log = AuditLog::default();
        let result = work(&host, &mut log);
        for record in &log.records {
            host.metrics.observe(record);
        }
        (log, result)
    })
    .await
    .map_err(|e| ExtensionError::Internal(anyhow::anyhow!("plugin task failed: {e}")))
}

/// Writes the shadow diffs of a log whose records were written under `ids`.
pub async fn record_diffs(
    store: &Store,
    diffs: Vec<PendingDiff>,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), ExtensionError> {
    for pending in diffs {
        let diff = NewShadowDiff {
            active_invocation: ids.get(pending.active).copied(),
            shadow_invocation: ids.get(pending.shadow).copied(),
            ..pending.diff
        };
        // A binding deleted meanwhile takes its diffs with it; the request is not at fault.
        match store.record_shadow_diff(&diff, now).await {
            Ok(_) | Err(pchost_store::StoreError::Refused(pchost_domain::errors::DomainError::NotFound { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
