//! A server's life as a load balancer and an orchestrator see it: liveness (`/livez`: the
//! process answers), readiness (`/readyz`: the database answers and the server is not
//! shutting down; it listens only once its bound plugins are loaded), and the graceful
//! shutdown on SIGTERM or
//! Ctrl-C: readiness turns 503 at once, no new connection is accepted, requests in flight
//! (and the plugin calls they wait on) and the scheduler's run in progress finish, then the
//! process exits; whatever has not finished after the grace period is cut (docs/deploy.md).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a readiness check's answer is reused: probes are unauthenticated, so a flood of
/// them costs at most one database read per this period.
const READINESS_REUSED_FOR: Duration = Duration::from_secs(1);

/// Whether the server is shutting down, told to whoever waits on it.
#[derive(Debug)]
pub struct Lifecycle {
    draining: AtomicBool,
    shutdown: watch::Sender<bool>,
    /// The last readiness check of the database, and when it ran.
    checked: tokio::sync::Mutex<Option<(Instant, Vec<String>)>>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            draining: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            checked: tokio::sync::Mutex::new(None),
        }
    }
}

impl Lifecycle {
    /// From now on: not ready, and every background task told to stop.
    pub fn begin_shutdown(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.shutdown.send_replace(true);
    }

    /// Whether the shutdown has begun.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Resolves once the shutdown has begun.
    pub async fn stopping(&self) {
        let mut receiver = self.shutdown.subscribe();
        // An error means the sender is gone: nothing will ever begin it, so wait forever.
        if receiver.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// SIGTERM (what orchestrators send) or Ctrl-C.
pub async fn terminate_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIGTERM cannot be caught; only Ctrl-C shuts down gracefully");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `GET /livez` (and its old name `/health`): the process answers. Restart it when this fails.
pub async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when this replica should get traffic, else 503 with why: it is shutting
/// down, or the database does not answer within [`DATABASE_CHECK`]. The versions bound when it
/// started were loaded before it listened; one that another replica installs later, or that
/// fails to load here, is not a readiness matter: a tenant's upload would otherwise take
/// replicas out of the load balancer. Those are counted in `pchost_bound_versions_not_loaded`
/// and named in the log.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut problems = Vec::new();
    if state.lifecycle.draining() {
        problems.push("shutting down".to_owned());
    }
    problems.extend(checked(&state).await);
    if problems.is_empty() {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not-ready", "problems": problems })),
        )
    }
}

/// How long readiness waits for the database.
pub const DATABASE_CHECK: Duration = Duration::from_secs(2);

/// The database's problem, if any, checked at most once a [`READINESS_REUSED_FOR`].
async fn checked(state: &AppState) -> Vec<String> {
    let mut last = state.lifecycle.checked.lock().await;
    if let Some((at, problems)) = last.as_ref()
        && at.elapsed() < READINESS_REUSED_FOR
    {
        return problems.clone();
    }
    let mut problems = Vec::new();
    match tokio::time::timeout(DATABASE_CHECK, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            problems.push("the database does not answer".to_owned());
        }
        Err(_) => {
            tracing::warn!(
                wait_ms = DATABASE_CHECK.as_millis() as u64,
                "readiness: the database did not answer in time"
            );
            problems.push("the database does not answer".to_owned());
        }
    }
    *last = Some((Instant::now(), problems.clone()));
    problems
}
