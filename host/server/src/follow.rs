//! How a replica follows what the others change: installed versions and bindings (versions,
//! settings, enablement, shadows, limits) live in the database, and each replica keeps them in
//! memory. On PostgreSQL it LISTENs to the changes the triggers announce at every commit
//! (`pchost_store::changes`) and reloads at once, within milliseconds; a lost connection is
//! reopened and followed by a full reload, and a poll every [`FALLBACK_POLL`] catches anything
//! else. On SQLite (one node) it polls every [`SQLITE_POLL`] for the CLI's changes.

use crate::state::AppState;
use pchost_store::changes::{Change, Changes};
use std::time::{Duration, Instant};

/// How often a replica reloads anyway on PostgreSQL: the bound on a missed notification.
pub const FALLBACK_POLL: Duration = Duration::from_secs(10);
/// How often a SQLite server picks up what the CLI changed.
pub const SQLITE_POLL: Duration = Duration::from_secs(2);
/// How long notifications arriving together are gathered into one reload.
const COALESCE_FOR: Duration = Duration::from_millis(5);
/// The wait before listening again after the listening connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// Loads what the start-up left, then follows changes for as long as the process runs.
pub async fn follow_changes(state: AppState) {
    let postgres = state.store.backend() == pchost_store::store::Backend::Postgres;
    let mut changes = listen(&state).await;
    // The versions no binding names (the start-up loaded the bound ones only), and what
    // changed between the start-up's load and the listening.
    sync(&state, "start").await;
    let period = if postgres { FALLBACK_POLL } else { SQLITE_POLL };
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // It follows until the process exits: a replica draining its requests serves them
        // with the bindings as they are.
        let change = tokio::select! {
            _ = poll.tick() => None,
            change = next(&mut changes) => Some(change),
        };
        let cause = match change {
            None if postgres && changes.is_none() => {
                // Listening failed before: try again, and reload whatever was missed.
                changes = listen(&state).await;
                "missed"
            }
            None => "poll",
            Some(Some(Change::Table(table))) => {
                tracing::debug!(%table, "change notified");
                "notified"
            }
            Some(Some(Change::Missed)) => {
                tracing::warn!("the change notifications' connection was lost; reloading everything");
                "missed"
            }
            Some(None) => {
                tokio::time::sleep(RELISTEN_AFTER).await;
                changes = listen(&state).await;
                "missed"
            }
        };
        // Notifications that came together are one reload; a steady stream of them delays it
        // by at most COALESCE_FOR.
        if let Some(listening) = changes.as_mut() {
            let until = tokio::time::Instant::now() + COALESCE_FOR;
            while let Ok(Ok(Change::Table(_))) = tokio::time::timeout_at(until, listening.next()).await {}
        }
        sync(&state, cause).await;
    }
}

/// The next change, or `None` when listening failed (then the caller listens again). Never
/// resolves without a subscription (SQLite, or PostgreSQL between attempts).
async fn next(changes: &mut Option<Changes>) -> Option<Change> {
    match changes {
        Some(listening) => match listening.next().await {
            Ok(change) => Some(change),
            Err(e) => {
                tracing::warn!(error = %e, "listening for changes failed");
                None
            }
        },
        None => std::future::pending().await,
    }
}

async fn listen(state: &AppState) -> Option<Changes> {
    match state.store.listen_changes().await {
        Ok(changes) => changes,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for changes; polling until it can");
            None
        }
    }
}

/// Loads what was installed elsewhere, unloads what was deleted, and rebuilds the binding
/// index, in that order, so that a new binding is indexed once its version is loaded (unless
/// loading it failed: its requests then fail closed on this replica, and the log says so).
pub async fn sync(state: &AppState, cause: &'static str) {
    let started = Instant::now();
    state.metrics.synced(cause);
    match pchost_extensions::install::sync_installed(&state.store, &state.host.runtime, &state.host.load_failures).await
    {
        Ok(synced) => {
            if synced.loaded > 0 || synced.unloaded > 0 {
                tracing::info!(
                    cause,
                    loaded = synced.loaded,
                    unloaded = synced.unloaded,
                    "plugin versions installed or deleted elsewhere followed"
                );
            }
            for (plugin, error) in synced.failed {
                tracing::warn!(%plugin, %error, "an installed plugin version could not be loaded");
            }
        }
        Err(e) => tracing::warn!(error = %e, "loading installed plugins failed"),
    }
    match state.host.bindings.reload(&state.store).await {
        Ok(bound) => tracing::debug!(
            cause,
            bound,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "bindings reloaded"
        ),
        Err(e) => tracing::warn!(error = %e, "reloading bindings failed"),
    }
    let missing = crate::metrics::not_loaded(state);
    if !missing.is_empty() {
        tracing::warn!(
            ?missing,
            "enabled bindings run versions this replica has not loaded: their requests fail closed here"
        );
    }
    // Deleted versions' series leave the metrics.
    let runtime = &state.host.runtime;
    state
        .host
        .metrics
        .retain(|plugin, owner| runtime.plugin(&format!("{owner}/{plugin}")).is_some());
}
