//! The HTTP API: the router over the handlers of `api`, the OpenAPI document built from the
//! same handler list, and the request tracing. The shared state and the body limits are in
//! [`crate::state`], rate limits per principal in [`crate::ratelimit`].

use crate::api::{
    accounts, admin, approvals, audit, authorizations, coupons, customers, invoices, keys, opportunities, orders,
    partners, plugins, quotes, scheduler, tasks,
};
use crate::auth::Caller;
use crate::error::AppError;
use crate::state::{AppState, MAX_BODY_BYTES, MAX_UPLOAD_BYTES};
use crate::{lifecycle, metrics};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::LatencyUnit;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "pchost: the partner-center plugin host", description = "Partners, customers, orders, prices, invoices, coupons and money, customised by sandboxed WebAssembly plugins. Authenticate with `Authorization: Bearer pch_...`. Errors: docs/errors.md."),
    modifiers(&BearerKeys)
)]
struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("pch_...")
                    .build(),
            ),
        );
    }
}

/// The whole API and its OpenAPI document, built from the same handler list.
pub fn router_and_openapi(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let uploads = OpenApiRouter::new()
        .routes(routes!(plugins::upload, plugins::versions))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(keys::me))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(partners::create, partners::list))
        .routes(routes!(partners::get))
        .routes(routes!(partners::freeze))
        .routes(routes!(partners::unfreeze))
        .routes(routes!(partners::create_staff))
        .routes(routes!(partners::invite_reseller, partners::resellers))
        .routes(routes!(accounts::allocate_to_reseller))
        .routes(routes!(accounts::reclaim_from_reseller))
        .routes(routes!(coupons::split))
        .routes(routes!(coupons::reclaim_quota))
        .routes(routes!(customers::create, customers::list))
        .routes(routes!(customers::get))
        .routes(routes!(customers::verification_code))
        .routes(routes!(customers::invite))
        .routes(routes!(customers::accept))
        .routes(routes!(customers::freeze))
        .routes(routes!(customers::unfreeze))
        .routes(routes!(customers::change_association))
        .routes(routes!(customers::unbind))
        .routes(routes!(customers::real_name))
        .routes(routes!(customers::real_name_result))
        .routes(routes!(customers::assign_manager))
        .routes(routes!(customers::budget))
        .routes(routes!(authorizations::get, authorizations::request))
        .routes(routes!(authorizations::grant))
        .routes(routes!(authorizations::refuse))
        .routes(routes!(authorizations::revoke))
        .routes(routes!(accounts::list))
        .routes(routes!(accounts::ledger))
        .routes(routes!(accounts::allocate_to_customer))
        .routes(routes!(accounts::reclaim_from_customer))
        .routes(routes!(accounts::top_up))
        .routes(routes!(coupons::quotas))
        .routes(routes!(coupons::issue, coupons::list))
        .routes(routes!(coupons::reclaim))
        .routes(routes!(quotes::subscription))
        .routes(routes!(quotes::on_demand))
        .routes(routes!(quotes::renewal))
        .routes(routes!(quotes::spec_change))
        .routes(routes!(orders::create, orders::list))
        .routes(routes!(orders::get))
        .routes(routes!(orders::pay))
        .routes(routes!(orders::apply_coupons))
        .routes(routes!(orders::cancel))
        .routes(routes!(orders::request_partner_payment))
        .routes(routes!(orders::reject_partner_payment))
        .routes(routes!(orders::refund))
        .routes(routes!(orders::resources))
        .routes(routes!(orders::renew))
        .routes(routes!(orders::unsubscribe))
        .routes(routes!(orders::auto_renew))
        .routes(routes!(invoices::get_info, invoices::put_info))
        .routes(routes!(invoices::request, invoices::list))
        .routes(routes!(opportunities::submit, opportunities::list))
        .routes(routes!(approvals::check))
        .routes(routes!(tasks::list))
        .routes(routes!(tasks::get))
        .routes(routes!(tasks::approve))
        .routes(routes!(tasks::reject))
        .routes(routes!(plugins::bind, plugins::bindings))
        .routes(routes!(plugins::change, plugins::unbind))
        .routes(routes!(plugins::rollback))
        .routes(routes!(plugins::version, plugins::delete_version))
        .routes(routes!(audit::invocations))
        .routes(routes!(scheduler::runs))
        .routes(routes!(audit::replay))
        .routes(routes!(plugins::shadow_diffs))
        .routes(routes!(admin::add_publisher, admin::publishers))
        .routes(routes!(admin::revoke_publisher))
        .routes(routes!(admin::policies))
        .routes(routes!(admin::set_policy))
        .routes(routes!(admin::events))
        .merge(uploads)
        .split_for_parts();
    let document = api.clone();
    let router = router
        .route("/health", get(lifecycle::livez))
        .route("/livez", get(lifecycle::livez))
        .route("/readyz", get(lifecycle::readyz))
        .route("/metrics", get(operator_metrics))
        .route("/openapi.json", get(move || async move { Json(api) }))
        .merge(crate::console::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http().make_span_with(request_span).on_response(
                DefaultOnResponse::new()
                    .level(tracing::Level::INFO)
                    .latency_unit(LatencyUnit::Micros),
            ),
        )
        .with_state(state);
    (router, document)
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    router_and_openapi(state).0
}

/// One span per request, with an id and (once authenticated) the principal, so that every log
/// line of a request can be found together.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    tracing::info_span!(
        "request",
        id = NEXT.fetch_add(1, Ordering::Relaxed),
        method = %request.method(),
        path = %request.uri().path(),
        principal = tracing::field::Empty,
    )
}

/// `GET /metrics` on the API's address: the operator's key only (tenants' plugin names and
/// volumes are in it).
async fn operator_metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, AppError> {
    caller.operator()?;
    Ok(metrics::exposition(&state))
}

/// `/metrics` alone, for a separate address only the operator's network reaches
/// (`serve --metrics-listen`): no key asked.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { metrics::exposition(&state) }),
        )
        .with_state(state)
}
