//! Builds the audit record of each plugin invocation the API makes; the handlers write them
//! to the store once the plugins have run (success or failure alike).

use crate::app::AppState;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use pchost_domain::audit::InvocationRecord;
use pchost_runtime::{Invocation, InvokeError, LoadedPlugin};
use serde::Serialize;
use std::time::Instant;

/// The record of one invocation, or `None` when the plugin never ran (its input was refused
/// before the call).
pub fn record<I: Serialize, T: Serialize>(
    plugin: &LoadedPlugin,
    input: &I,
    as_of: DateTime<Utc>,
    started: Instant,
    result: &Result<Invocation<T>, InvokeError>,
) -> Option<InvocationRecord> {
    let input = serde_json::to_string(input).ok()?;
    let (output, failure, fuel_used, logs) = match result {
        Ok(invocation) => (
            serde_json::to_string(&invocation.output).ok(),
            None,
            i64::try_from(invocation.fuel_used).ok(),
            serde_json::to_string(&invocation.logs).unwrap_or_else(|_| "[]".into()),
        ),
        Err(InvokeError::Plugin(failure)) => (None, serde_json::to_string(failure).ok(), None, "[]".into()),
        Err(_) => return None,
    };
    Some(InvocationRecord {
        id: 0,
        plugin: plugin.manifest.label(),
        digest: plugin.digest.clone(),
        world: plugin.manifest.world.wit_name().to_owned(),
        owner: plugin.manifest.owner,
        input_hash: InvocationRecord::hash_input(&input),
        input,
        as_of,
        output,
        failure,
        duration_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        fuel_used,
        logs,
    })
}

/// Runs plugin work off the async executor (plugins block: deadlines, capability reads),
/// then records every invocation it made, the failing one included, before answering.
pub async fn run_audited<T: Send + 'static>(
    state: AppState,
    work: impl FnOnce(&AppState, &mut Vec<InvocationRecord>) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let store = state.store.clone();
    let (records, result) = tokio::task::spawn_blocking(move || {
        let mut audit = Vec::new();
        let result = work(&state, &mut audit);
        (audit, result)
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("plugin task failed: {e}")))?;
    for record in &records {
        store
            .record_invocation(record, Utc::now())
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    result
}
