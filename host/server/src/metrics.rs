//! `/metrics` in the Prometheus text format: the plugin invocations of `pchost-extensions`
//! (per plugin and owner: outcomes, durations, fuel), containment (the instance pool and each
//! owner's share of it), HTTP requests by route and status, the database pool, the scheduler's
//! runs and how this replica follows the others' changes. Gauges are read when scraped.
//!
//! Served to the operator's API key on the API's address, or to anyone on a separate
//! `--metrics-listen` address (docs/deploy.md): an internal port, never the public one.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Instant;

/// An HTTP request's route (the router's template, never the raw path: bounded labels),
/// method and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OwnerLabels {
    owner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

/// The server's families and the registry they are encoded from.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    request_duration: Family<RouteLabels, Histogram>,
    slots: Family<StateLabels, Gauge>,
    owner_share: Gauge,
    owner_running: Family<OwnerLabels, Gauge>,
    db_connections: Family<StateLabels, Gauge>,
    db_max_connections: Gauge,
    plugins_loaded: Gauge,
    bound_not_loaded: Gauge,
    scheduler_runs: Family<JobLabels, Counter>,
    scheduler_items: Family<JobLabels, Counter>,
    syncs: Family<CauseLabels, Counter>,
}

fn request_histogram() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.000_1, 2.0, 17))
}

impl ServerMetrics {
    /// The families, with the plugin host's invocation families registered beside them.
    pub fn new(invocations: &pchost_extensions::metrics::InvocationMetrics) -> Self {
        let mut registry = Registry::default();
        invocations.register(&mut registry);
        let metrics = ServerMetrics {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(request_histogram),
            slots: Family::default(),
            owner_share: Gauge::default(),
            owner_running: Family::default(),
            db_connections: Family::default(),
            db_max_connections: Gauge::default(),
            plugins_loaded: Gauge::default(),
            bound_not_loaded: Gauge::default(),
            scheduler_runs: Family::default(),
            scheduler_items: Family::default(),
            syncs: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "pchost_http_requests",
            "HTTP requests answered, by route, method and status",
            metrics.requests.clone(),
        );
        registry.register(
            "pchost_http_request_duration_seconds",
            "Time to answer HTTP requests, by route, method and status",
            metrics.request_duration.clone(),
        );
        registry.register(
            "pchost_instance_slots",
            "Plugin instance slots, in use and in all (the pool of --plugin-instances)",
            metrics.slots.clone(),
        );
        registry.register(
            "pchost_owner_instance_share",
            "How many of one owner's plugin invocations may run at once (--owner-concurrency)",
            metrics.owner_share.clone(),
        );
        registry.register(
            "pchost_owner_invocations_running",
            "Plugin invocations running now, by owner",
            metrics.owner_running.clone(),
        );
        registry.register(
            "pchost_db_connections",
            "Database pool connections, idle and in use",
            metrics.db_connections.clone(),
        );
        registry.register(
            "pchost_db_max_connections",
            "The database pool's size",
            metrics.db_max_connections.clone(),
        );
        registry.register(
            "pchost_plugins_loaded",
            "Plugin versions loaded in this replica",
            metrics.plugins_loaded.clone(),
        );
        registry.register(
            "pchost_bound_versions_not_loaded",
            "Versions enabled bindings run that this replica has not loaded (compiling, or failed: see the log)",
            metrics.bound_not_loaded.clone(),
        );
        registry.register(
            "pchost_scheduler_runs",
            "Scheduler job runs, by job and outcome (worked, idle, failed)",
            metrics.scheduler_runs.clone(),
        );
        registry.register(
            "pchost_scheduler_items",
            "Items the scheduler's jobs did (orders expired, resources renewed...)",
            metrics.scheduler_items.clone(),
        );
        registry.register(
            "pchost_replica_syncs",
            "Reloads of installed plugins and bindings, by cause (notified, poll, missed, local)",
            metrics.syncs.clone(),
        );
        ServerMetrics { registry, ..metrics }
    }

    /// Counts a scheduler job's run.
    pub fn scheduler_run(&self, job: &str, result: &Result<usize, String>) {
        let (outcome, items) = match result {
            Ok(0) => ("idle", 0),
            Ok(items) => ("worked", *items),
            Err(_) => ("failed", 0),
        };
        let labels = JobLabels {
            job: job.to_owned(),
            outcome,
        };
        self.scheduler_runs.get_or_create(&labels).inc();
        if items > 0 {
            self.scheduler_items.get_or_create(&labels).inc_by(items as u64);
        }
    }

    /// Counts a reload of installed plugins and bindings, and why it happened.
    pub fn synced(&self, cause: &'static str) {
        self.syncs.get_or_create(&CauseLabels { cause }).inc();
    }

    /// The text exposition, with the gauges read now.
    pub fn render(&self, state: &AppState) -> String {
        let occupancy = state.host.runtime.occupancy();
        self.slots
            .get_or_create(&StateLabels { state: "in_use" })
            .set(i64::from(occupancy.slots_in_use));
        self.slots
            .get_or_create(&StateLabels { state: "total" })
            .set(i64::from(occupancy.slots));
        self.owner_share.set(i64::from(occupancy.owner_share));
        for (owner, running) in occupancy.running {
            self.owner_running
                .get_or_create(&OwnerLabels {
                    owner: owner.to_string(),
                })
                .set(i64::from(running));
        }
        let pool = state.store.pool();
        let (size, idle) = (i64::from(pool.size()), pool.num_idle() as i64);
        self.db_connections
            .get_or_create(&StateLabels { state: "idle" })
            .set(idle);
        self.db_connections
            .get_or_create(&StateLabels { state: "in_use" })
            .set((size - idle).max(0));
        self.db_max_connections
            .set(i64::from(pool.options().get_max_connections()));
        let runtime = &state.host.runtime;
        self.plugins_loaded.set(runtime.plugins().len() as i64);
        self.bound_not_loaded.set(not_loaded(state).len() as i64);
        // A deleted version's series go with it: tenants can install and delete versions
        // without end, and every series is kept until it is removed.
        state
            .host
            .metrics
            .retain(|plugin, owner| runtime.plugin(&format!("{owner}/{plugin}")).is_some());
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The versions enabled bindings run that this replica has not loaded.
pub fn not_loaded(state: &AppState) -> Vec<String> {
    state
        .host
        .bindings
        .active_versions()
        .into_iter()
        .filter(|id| state.host.runtime.plugin(id).is_none())
        .collect()
}

/// Counts and times every request that matched a route.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RouteLabels {
        route,
        method,
        status: response.status().as_u16(),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .request_duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: one of a fixed set, since a client may send any token as a method
/// and each label value is a series kept for the life of the process.
fn method_label(method: &axum::http::Method) -> String {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    if known.contains(method) {
        method.as_str().to_owned()
    } else {
        "other".to_owned()
    }
}

/// The exposition, as Prometheus reads it.
pub fn exposition(state: &AppState) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(state),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn a_method_outside_the_standard_ones_is_counted_as_other() {
        assert_eq!(method_label(&Method::POST), "POST");
        let invented = Method::from_bytes(&[b'A'; 4096]).expect("any token is a method");
        assert_eq!(method_label(&invented), "other");
    }
}
