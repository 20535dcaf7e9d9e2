//! What every handler shares: the state (the store, the plugin host, the rate limiters), the
//! request body limits, and the client's address. The router (`app`) and the handlers (`api`)
//! both depend on this module, never on each other's internals.

use crate::ratelimit::{RateLimiter, UploadLimit};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use pchost_extensions::PluginHost;
use pchost_runtime::PluginRuntime;
use pchost_store::store::Store;
use std::net::SocketAddr;
use std::sync::Arc;

/// The largest request body a JSON endpoint accepts.
pub const MAX_BODY_BYTES: usize = 256 << 10;
/// The largest plugin upload: the component limit (32 MiB) plus the manifest and multipart
/// framing.
pub const MAX_UPLOAD_BYTES: usize = pchost_runtime::DEFAULT_MAX_COMPONENT_BYTES + (64 << 10);

/// Plugin uploads whose bodies a server reads at once: each holds up to
/// [`MAX_UPLOAD_BYTES`] in memory until it is installed or refused, so their number, not only
/// each one's size, bounds what uploads can take of the host's memory (128 MiB).
pub const MAX_UPLOADS_IN_FLIGHT: usize = 4;

/// How many principals' worth of requests a partner's staff send together.
pub const PARTNER_BUDGET_FACTOR: u32 = 10;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The partner-center data.
    pub store: Store,
    /// The plugin host: bindings, the pricing chain, the approval gate, installs, audit.
    pub host: PluginHost,
    /// Per-principal request budgets.
    pub limiter: Arc<RateLimiter>,
    /// Per-partner request budgets: all of a partner's staff together get
    /// [`PARTNER_BUDGET_FACTOR`] times a principal's, so that adding staff does not multiply
    /// what a partner may send.
    pub partners: Arc<RateLimiter>,
    /// Per-owner upload budgets: each upload may cost a compilation.
    pub uploads: Arc<RateLimiter>,
    /// Uploads being read or installed now, at most [`MAX_UPLOADS_IN_FLIGHT`].
    pub uploads_in_flight: Arc<tokio::sync::Semaphore>,
    /// Where verification codes go (rule 25): the log, unless a gateway replaces it.
    pub codes: Arc<dyn crate::sms::CodeSender>,
    /// Whether the API answers verification codes to the caller too: on a `--demo` server
    /// only, whose walkthrough has no phone to read them from.
    pub reveal_codes: bool,
    /// Readiness and the graceful shutdown.
    pub lifecycle: Arc<crate::lifecycle::Lifecycle>,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::metrics::ServerMetrics>,
}

impl AppState {
    /// The state of a server over `store` and `runtime`, with no binding loaded yet (call
    /// `host.bindings.reload`), every principal held to `limit`, and the default upload limit,
    /// price ceilings and plugin quota. Plugins read the store.
    pub fn new(store: Store, runtime: Arc<PluginRuntime>, limit: crate::ratelimit::RateLimit) -> Self {
        let data = Arc::new(crate::capability_data::StoreData::new(store.clone()));
        let host = PluginHost::new(store.clone(), runtime, data);
        AppState {
            metrics: Arc::new(crate::metrics::ServerMetrics::new(&host.metrics)),
            lifecycle: Arc::default(),
            host,
            store,
            limiter: Arc::new(RateLimiter::new(limit)),
            partners: Arc::new(RateLimiter::new(crate::ratelimit::RateLimit {
                per_second: limit.per_second.saturating_mul(PARTNER_BUDGET_FACTOR),
                burst: limit.burst.saturating_mul(PARTNER_BUDGET_FACTOR),
            })),
            uploads: Arc::new(RateLimiter::for_uploads(UploadLimit::default())),
            uploads_in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_UPLOADS_IN_FLIGHT)),
            codes: Arc::new(crate::sms::LogSender),
            reveal_codes: false,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// The client's address, for rate-limiting unauthenticated endpoints (`local` when the
/// router runs without a socket, as in tests).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts)))
    }
}

/// The client's IP address, or `local` without a socket.
pub fn client_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into())
}
