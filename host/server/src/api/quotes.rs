//! Quotes: prices over the catalog through the pricing chain, stored so that an order is
//! created from exactly what the customer was shown.
//!
//! The chain runs the enabled bindings of the pricing-rule extension point, in order: the
//! platform-wide ones over the whole quote; then, for each marketplace seller, the ones bound
//! to that seller over the lines of its own products only (a seller never sees another's
//! lines); then the ones bound to the customer's partner over the whole quote. Each step
//! sees the previous step's prices. After each step the host checks the invariants (see
//! [`chain`]): no negative price, no partner price below 0.80 of list (rule 19), and no price
//! raised above its scope's ceiling, a multiple of list. The currency cannot change: a rule
//! answers prices only.

pub mod chain;

use crate::api::extract::Body;
use crate::app::AppState;
use crate::audit::AuditLog;
use crate::auth::{Access, Caller};
use crate::error::AppError;
use crate::extensions::{PolicyApplied, StepOutcome, run_bound};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chain::{apply_answer, check_answer, priced_lines};
use chrono::{DateTime, Duration, Utc};
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{Currency, Customer, PartnerId, PeriodType, ProductId};
use pchost_runtime::model::{self, CustomerContext, PartnerContext};
use pchost_runtime::{FailureKind, PluginFailure, World};
use pchost_store::bindings::{Binding, BindingScope};
use pchost_store::quotes::NewQuote;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Instant;
use utoipa::ToSchema;

/// The most lines one quote request may have.
pub const MAX_LINES: usize = 200;
/// The most periods or units one line may have.
pub const MAX_COUNT: u32 = 100_000;
/// How long a quote can be ordered.
pub const QUOTE_VALIDITY: Duration = Duration::hours(24);

/// A subscription quote request: periods of products.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// The customer.
    pub customer_id: i64,
    /// Currency of the quote; every list price must be in it.
    #[schema(value_type = String, example = "CNY")]
    pub currency: Currency,
    /// Lines (1 to 200).
    pub lines: Vec<QuoteRequestLine>,
}

/// One requested line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequestLine {
    /// Product.
    pub product_id: ProductId,
    /// Period the product is bought per: `hour`, `day`, `month`, `year`, `one-time`.
    #[schema(value_type = String, example = "month")]
    pub period: PeriodType,
    /// How many periods (1 to 100,000).
    pub period_count: u32,
    /// How many units (1 to 100,000).
    pub quantity: u32,
}

/// An on-demand quote request: hours of usage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnDemandRequest {
    /// The customer.
    pub customer_id: i64,
    /// Currency.
    #[schema(value_type = String, example = "CNY")]
    pub currency: Currency,
    /// Lines.
    pub lines: Vec<OnDemandLine>,
}

/// Hours of one product.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnDemandLine {
    /// Product (with an hourly price).
    pub product_id: ProductId,
    /// Whole hours (1 to 100,000).
    pub hours: u32,
    /// Units.
    pub quantity: u32,
}

/// A renewal quote request (rule 11: the original period type).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewalRequest {
    /// The resource to renew.
    pub resource_id: i64,
    /// Periods: 1-11 months or 1-3 years.
    pub period_count: u32,
}

/// One adjustment a plugin made to a line.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Adjustment {
    /// `name@version`.
    pub plugin: String,
    /// The binding it ran under.
    pub binding: i64,
    /// Its reason.
    pub reason: String,
    /// Unit price before.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub from: Decimal,
    /// Unit price after.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub to: Decimal,
}

/// A priced line.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PricedLine {
    /// Product.
    pub product_id: ProductId,
    /// Period.
    #[schema(value_type = String)]
    pub period: PeriodType,
    /// Periods.
    pub period_count: u32,
    /// Units.
    pub quantity: u32,
    /// List price per unit per period.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub list_unit_price: Decimal,
    /// Final price per unit per period.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub unit_price: Decimal,
    /// unit price × quantity × periods, settled to the cent (half-up).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    /// What each plugin did, in chain order.
    pub adjustments: Vec<Adjustment>,
}

/// One plugin run of the chain.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChainStep {
    /// The binding.
    pub binding: i64,
    /// `platform`, `seller` or `partner`.
    #[schema(value_type = String)]
    pub scope: BindingScope,
    /// `name@version` that answered.
    pub plugin: String,
    /// sha256 of the component.
    pub digest: String,
    /// Owner whose rule it is.
    pub owner: PartnerId,
    /// Lines it saw.
    pub lines: usize,
    /// Fuel burnt.
    pub fuel_used: u64,
    /// Wall time.
    pub wall_time_us: u64,
}

/// A priced quote.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuoteResponse {
    /// The stored quote: create an order from it before `expires_at`.
    pub quote_id: i64,
    /// Until when it can be ordered.
    pub expires_at: DateTime<Utc>,
    /// Currency.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// The customer.
    pub customer_id: i64,
    /// Lines.
    pub lines: Vec<PricedLine>,
    /// Sum of the line amounts.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub total: Decimal,
    /// The chain as it ran.
    pub chain: Vec<ChainStep>,
    /// Steps whose plugin failed and whose binding's policy skipped it or fell back (kept in
    /// the stored quote's record, not read back from it).
    #[serde(default, skip_deserializing)]
    pub policies: Vec<PolicyApplied>,
}

/// Prices a subscription quote through the pricing chain and stores it.
#[utoipa::path(post, path = "/v1/quotes", tag = "quotes", request_body = QuoteRequest,
    responses((status = 201, body = QuoteResponse), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn subscription(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<QuoteRequest>,
) -> Result<(StatusCode, Json<QuoteResponse>), AppError> {
    caller.need("quotes", Access::Write)?;
    let Body(request) = payload;
    let lines: Vec<_> = request
        .lines
        .iter()
        .map(|l| (l.product_id, l.period, l.period_count, l.quantity))
        .collect();
    quote(state, caller, request.customer_id, request.currency, &lines).await
}

/// Prices hours of on-demand usage (whole hours at the hourly list price) through the chain.
#[utoipa::path(post, path = "/v1/quotes/on-demand", tag = "quotes", request_body = OnDemandRequest,
    responses((status = 201, body = QuoteResponse), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn on_demand(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<OnDemandRequest>,
) -> Result<(StatusCode, Json<QuoteResponse>), AppError> {
    caller.need("quotes", Access::Write)?;
    let Body(request) = payload;
    let lines: Vec<_> = request
        .lines
        .iter()
        .map(|l| (l.product_id, PeriodType::Hour, l.hours, l.quantity))
        .collect();
    quote(state, caller, request.customer_id, request.currency, &lines).await
}

/// Prices the renewal of a resource for more periods of its original type (rule 11).
#[utoipa::path(post, path = "/v1/quotes/renewal", tag = "quotes", request_body = RenewalRequest,
    responses((status = 201, body = QuoteResponse), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn renewal(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<RenewalRequest>,
) -> Result<(StatusCode, Json<QuoteResponse>), AppError> {
    caller.need("quotes", Access::Write)?;
    let Body(request) = payload;
    let resource = state
        .store
        .resource(request.resource_id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Resource, request.resource_id))?;
    let max = match resource.period {
        PeriodType::Month => 11,
        PeriodType::Year => 3,
        other => {
            return Err(AppError::refused(
                ErrorCode::NotRenewable,
                format!("a {other} resource is not renewed by periods"),
            ));
        }
    };
    if request.period_count == 0 || request.period_count > max {
        return Err(AppError::field(
            "period_count",
            format!("a {} renewal is 1 to {max} periods", resource.period),
        ));
    }
    let price = state
        .store
        .list_price(resource.product, resource.period)
        .await?
        .ok_or_else(|| AppError::refused(ErrorCode::PriceNotFound, "the resource's product has no list price"))?;
    let lines = [(resource.product, resource.period, request.period_count, 1)];
    quote(state, caller, resource.customer, price.currency, &lines).await
}

/// A spec change quote request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecChangeRequest {
    /// The resource to change.
    pub resource_id: i64,
    /// The product (spec) to change it to.
    pub product_id: ProductId,
}

/// Prices changing a resource to another spec for the rest of its term: the difference of the
/// two list prices over the remaining time (30-day months, 365-day years), negative for a
/// cheaper spec. At list price: the pricing chain prices purchases, not the difference.
#[utoipa::path(post, path = "/v1/quotes/spec-change", tag = "quotes", request_body = SpecChangeRequest,
    responses((status = 200, description = "the prorated line: product, period, periods, unit price, amount, currency"),
        (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn spec_change(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<SpecChangeRequest>,
) -> Result<Json<pchost_store::pricing::QuotedLine>, AppError> {
    caller.need("quotes", Access::Read)?;
    let Body(request) = payload;
    let resource = state
        .store
        .resource(request.resource_id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Resource, request.resource_id))?;
    caller.customer(&state, resource.customer).await?;
    Ok(Json(
        state
            .store
            .quote_spec_change(&resource, request.product_id, Utc::now())
            .await?,
    ))
}

/// Checks the request, builds the plugins' quote from the catalog, runs the chain and stores
/// the result.
async fn quote(
    state: AppState,
    caller: Caller,
    customer_id: i64,
    currency: Currency,
    request: &[(ProductId, PeriodType, u32, u32)],
) -> Result<(StatusCode, Json<QuoteResponse>), AppError> {
    if request.is_empty() || request.len() > MAX_LINES {
        return Err(AppError::field("lines", format!("a quote has 1 to {MAX_LINES} lines")));
    }
    for (i, (_, _, count, quantity)) in request.iter().enumerate() {
        for (name, value) in [("period_count", *count), ("quantity", *quantity)] {
            if value == 0 || value > MAX_COUNT {
                return Err(AppError::field(
                    format!("lines[{i}].{name}"),
                    format!("must be 1 to {MAX_COUNT}"),
                ));
            }
        }
    }
    let customer = caller.customer(&state, customer_id).await?;
    let store = &state.store;
    let partner = store
        .partner(customer.partner)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("customer {} has no partner", customer.id)))?;

    let mut products = Vec::new();
    let mut lines = Vec::new();
    for (i, &(product_id, period, period_count, quantity)) in request.iter().enumerate() {
        let product = store
            .product(product_id)
            .await?
            .ok_or_else(|| AppError::not_found(Entity::Product, product_id))?;
        let price = store.list_price(product_id, period).await?.ok_or_else(|| {
            AppError::refused_at(
                ErrorCode::PriceNotFound,
                format!("lines[{i}].period"),
                format!("product {product_id} has no {period} price"),
            )
        })?;
        if price.currency != currency {
            return Err(AppError::refused_at(
                ErrorCode::CurrencyMismatch,
                "currency",
                format!(
                    "product {} is priced in {}, the quote is in {currency}",
                    product.id, price.currency
                ),
            ));
        }
        let index = match products
            .iter()
            .position(|p: &pchost_domain::Product| p.id == product.id)
        {
            Some(index) => index,
            None => {
                products.push(product);
                products.len() - 1
            }
        };
        lines.push(model::QuoteLine {
            product: index as u32,
            period,
            period_count,
            quantity,
            list_unit_price: price.amount,
            unit_price: price.amount,
        });
    }
    let now = Utc::now();
    let quote = model::Quote {
        currency,
        as_of: now,
        partner: Some(PartnerContext {
            id: partner.id,
            kind: partner.kind,
            distributor: partner.distributor,
        }),
        customer: Some(CustomerContext {
            id: customer.id,
            association: customer.association,
            freeze: customer.freeze,
            level: customer.level,
        }),
        products,
        lines,
    };
    let (log, priced) = crate::audit::run_unrecorded(state.clone(), move |state, audit| {
        run_chain(state, quote, &customer, audit)
    })
    .await?;
    let mut response = match priced {
        Ok(response) => response,
        Err(refused) => {
            // The invocations that led to a refusal are on record too.
            crate::audit::write(&state.store, log).await?;
            return Err(refused);
        }
    };
    response.expires_at = now + QUOTE_VALIDITY;
    let body = serde_json::to_string(&response).map_err(|e| AppError::Internal(e.into()))?;
    let created_by = caller.label();
    let quote = NewQuote {
        customer: customer_id,
        currency,
        total: response.total,
        body: &body,
        created_by: &created_by,
        now,
        expires_at: response.expires_at,
    };
    // The quote and the records of the invocations that priced it: one commit.
    let (quote_id, ids) = state.store.save_quote_with_invocations(&quote, &log.records).await?;
    crate::audit::record_diffs(&state.store, log.diffs, &ids, Utc::now()).await?;
    response.quote_id = quote_id;
    Ok((StatusCode::CREATED, Json(response)))
}

/// Runs the whole chain over `quote`.
pub fn run_chain(
    state: &AppState,
    mut quote: model::Quote,
    customer: &Customer,
    audit: &mut AuditLog,
) -> Result<QuoteResponse, AppError> {
    let mut log = ChainLog {
        adjustments: quote.lines.iter().map(|_| Vec::new()).collect(),
        steps: Vec::new(),
        policies: Vec::new(),
        audit,
    };
    let all: Vec<usize> = (0..quote.lines.len()).collect();
    for binding in state
        .bindings
        .bound(World::PricingRule, BindingScope::Platform, None)
        .iter()
    {
        let view = quote.clone();
        apply(state, binding, &view, &all, &mut quote, &mut log)?;
    }
    let sellers: BTreeSet<PartnerId> = quote.products.iter().filter_map(|p| p.seller).collect();
    for seller in sellers {
        let bindings = state
            .bindings
            .bound(World::PricingRule, BindingScope::Seller, Some(seller));
        if bindings.is_empty() {
            continue;
        }
        // The seller's view: only the lines of its own products, with only those products.
        let own: Vec<usize> = (0..quote.lines.len())
            .filter(|&i| quote.products[quote.lines[i].product as usize].seller == Some(seller))
            .collect();
        for binding in bindings.iter() {
            let mut view = quote.clone();
            view.products.retain(|p| p.seller == Some(seller));
            view.lines = own
                .iter()
                .map(|&i| {
                    let mut line = quote.lines[i].clone();
                    let id = quote.products[line.product as usize].id;
                    line.product = view.products.iter().position(|p| p.id == id).unwrap_or_default() as u32;
                    line
                })
                .collect();
            apply(state, binding, &view, &own, &mut quote, &mut log)?;
        }
    }
    for binding in state
        .bindings
        .bound(World::PricingRule, BindingScope::Partner, Some(customer.partner))
        .iter()
    {
        let view = quote.clone();
        apply(state, binding, &view, &all, &mut quote, &mut log)?;
    }

    let (lines, total) = priced_lines(&quote, log.adjustments)?;
    Ok(QuoteResponse {
        quote_id: 0,
        expires_at: quote.as_of,
        currency: quote.currency,
        customer_id: customer.id,
        lines,
        total,
        chain: log.steps,
        policies: log.policies,
    })
}

/// What the chain records as it runs: each line's adjustments, each step, each invocation.
struct ChainLog<'a> {
    adjustments: Vec<Vec<Adjustment>>,
    steps: Vec<ChainStep>,
    policies: Vec<PolicyApplied>,
    audit: &'a mut AuditLog,
}

/// Runs one binding over `view` (whose line `k` is line `map[k]` of `quote`) and applies its
/// answer. An answer breaking the invariants of the binding's scope (a negative price, a
/// partner's price below the rule-19 floor, a price raised above the scope's ceiling) is a
/// failure of the plugin, handled by the binding's failure policy like a trap or a timeout.
fn apply(
    state: &AppState,
    binding: &Binding,
    view: &model::Quote,
    map: &[usize],
    quote: &mut model::Quote,
    log: &mut ChainLog<'_>,
) -> Result<(), AppError> {
    let bounds = state.price_ceilings.bounds(binding.scope);
    if state.native_rules
        && let Some(rule) = crate::native_rules::rule(&binding.plugin_name)
    {
        let started = Instant::now();
        let label = format!("{}@{} (native)", binding.plugin_name, binding.version);
        let answer = check_answer(quote, map, bounds, rule(view)).map_err(|why| {
            AppError::PluginFailed(PluginFailure {
                plugin: label.clone(),
                digest: "native".into(),
                kind: FailureKind::InvalidOutput(why),
                usage: Default::default(),
            })
        })?;
        let step = ChainStep {
            binding: binding.id,
            scope: binding.scope,
            plugin: label,
            digest: "native".into(),
            owner: binding.plugin_owner,
            lines: view.lines.len(),
            fuel_used: 0,
            wall_time_us: started.elapsed().as_micros().try_into().unwrap_or(u64::MAX),
        };
        record(quote, answer, step, log);
        return Ok(());
    }
    let outcome = run_bound(
        &state.runtime,
        binding,
        view,
        view.as_of,
        log.audit,
        |plugin| state.runtime.price(&plugin.id, view, state.data.clone()),
        |plugin, output: model::PriceAdjustments| {
            check_answer(quote, map, bounds, output).map_err(|why| PluginFailure {
                plugin: plugin.manifest.label(),
                digest: plugin.digest.clone(),
                kind: FailureKind::InvalidOutput(why),
                // The invocation's own usage is on its audit record already.
                usage: Default::default(),
            })
        },
    )?;
    match outcome {
        StepOutcome::Skipped(policy) => log.policies.push(policy),
        StepOutcome::Answered {
            plugin,
            value,
            fuel_used,
            wall_time_us,
            policy,
        } => {
            log.policies.extend(policy);
            let step = ChainStep {
                binding: binding.id,
                scope: binding.scope,
                plugin: plugin.manifest.label(),
                digest: plugin.digest.clone(),
                owner: plugin.manifest.owner,
                lines: view.lines.len(),
                fuel_used,
                wall_time_us,
            };
            record(quote, value, step, log);
        }
    }
    Ok(())
}

/// Applies a step's checked answer to the quote and logs its adjustments and the step.
fn record(quote: &mut model::Quote, answer: chain::CheckedAnswer, step: ChainStep, log: &mut ChainLog<'_>) {
    apply_answer(quote, answer, &step.plugin, step.binding, &mut log.adjustments);
    log.steps.push(step);
}
