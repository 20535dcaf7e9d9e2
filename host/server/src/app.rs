//! The HTTP API: state, router and the limits every request is held to.

use crate::{approvals, quotes};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use pchost_domain::store::Store;
use pchost_runtime::{CapabilityData, PluginRuntime};
use std::sync::Arc;
use tower_http::trace::TraceLayer;

/// The largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 256 << 10;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The partner-center data.
    pub store: Store,
    /// The plugin runtime.
    pub runtime: Arc<PluginRuntime>,
    /// The capability view plugins read (tenant-scoped by the runtime).
    pub data: Arc<dyn CapabilityData>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/quotes", post(quotes::create))
        .route("/v1/approvals/check", post(approvals::check))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}
