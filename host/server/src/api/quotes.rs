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

use crate::api::extract::Body;
use crate::auth::{Access, Caller};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use pchost_domain::Customer;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{Currency, PeriodType, ProductId};
use pchost_extensions::ExtensionError;
use pchost_extensions::audit::AuditLog;
use pchost_extensions::pricing::{ChainStep, PricedLine, PricedQuote, run_chain};
use pchost_runtime::model::{self, CustomerContext, LineResource, PartnerContext, QuotePurpose};
use pchost_store::orders::{NewOrderLine, SpecChange};
use pchost_store::pricing::QuotedLine;
use pchost_store::quotes::NewQuote;
use pchost_store::resources::ResourceStatus;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
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
    /// Period the product is bought per: `month`, `year` or `one-time` (hours and days are
    /// on-demand: `/v1/quotes/on-demand`).
    #[schema(value_type = String, example = "month")]
    pub period: PeriodType,
    /// How many periods: 1-11 months, 1-3 years, or 1 for a one-time product.
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

/// Prices a subscription quote through the pricing chain and stores it.
#[utoipa::path(post, path = "/v1/quotes", tag = "quotes", request_body = QuoteRequest,
    responses((status = 201, body = PricedQuote), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn subscription(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<QuoteRequest>,
) -> Result<(StatusCode, Json<PricedQuote>), AppError> {
    caller.need("quotes", Access::Write)?;
    let Body(request) = payload;
    for (i, line) in request.lines.iter().enumerate() {
        subscription_term(line.period, line.period_count)
            .map_err(|(field, message)| AppError::field(format!("lines[{i}].{field}"), message))?;
    }
    let lines: Vec<_> = request
        .lines
        .iter()
        .map(|l| (l.product_id, l.period, l.period_count, l.quantity))
        .collect();
    quote(
        state,
        caller,
        request.customer_id,
        request.currency,
        &lines,
        Purpose::New,
        Utc::now(),
    )
    .await
}

/// A subscription's term: 1-11 months or 1-3 years (12 months are a year), or one purchase of
/// a one-time product. Hours and days are on-demand use, priced by `/v1/quotes/on-demand`.
fn subscription_term(period: PeriodType, count: u32) -> Result<(), (&'static str, String)> {
    match (period, count) {
        (PeriodType::Month, 1..=11) | (PeriodType::Year, 1..=3) | (PeriodType::OneTime, 1) => Ok(()),
        (PeriodType::Month | PeriodType::Year | PeriodType::OneTime, _) => Err((
            "period_count",
            format!(
                "a subscription runs 1-11 months or 1-3 years (12 months are a year), a one-time purchase 1; not {count} {period}"
            ),
        )),
        _ => Err((
            "period",
            format!("{period} use is on-demand: price it with POST /v1/quotes/on-demand"),
        )),
    }
}

/// Prices hours of on-demand usage (whole hours at the hourly list price) through the chain.
#[utoipa::path(post, path = "/v1/quotes/on-demand", tag = "quotes", request_body = OnDemandRequest,
    responses((status = 201, body = PricedQuote), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn on_demand(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<OnDemandRequest>,
) -> Result<(StatusCode, Json<PricedQuote>), AppError> {
    caller.need("quotes", Access::Write)?;
    let Body(request) = payload;
    let lines: Vec<_> = request
        .lines
        .iter()
        .map(|l| (l.product_id, PeriodType::Hour, l.hours, l.quantity))
        .collect();
    quote(
        state,
        caller,
        request.customer_id,
        request.currency,
        &lines,
        Purpose::OnDemand,
        Utc::now(),
    )
    .await
}

/// Prices the renewal of a resource for more periods of its original type (rule 11).
#[utoipa::path(post, path = "/v1/quotes/renewal", tag = "quotes", request_body = RenewalRequest,
    responses((status = 201, body = PricedQuote), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn renewal(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<RenewalRequest>,
) -> Result<(StatusCode, Json<PricedQuote>), AppError> {
    caller.need("quotes", Access::Write)?;
    let Body(request) = payload;
    renewal_quote(state, caller, request.resource_id, request.period_count, Utc::now()).await
}

/// Prices renewing `resource_id` for `period_count` periods of its own type through the chain
/// (purpose `renewal`) and stores the quote, naming the resource: an order made from it is a
/// renewal, whose payment extends the term (rule 11).
pub(crate) async fn renewal_quote(
    state: AppState,
    caller: Caller,
    resource_id: i64,
    period_count: u32,
    now: DateTime<Utc>,
) -> Result<(StatusCode, Json<PricedQuote>), AppError> {
    // In scope first: the resource's state is the caller's to learn only then.
    let resource = super::resource_in_scope(&state, &caller, resource_id).await?;
    if resource.status == ResourceStatus::Closed {
        return Err(AppError::refused(
            ErrorCode::NotRenewable,
            format!("resource {resource_id} is closed: it can no longer be renewed"),
        ));
    }
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
    if period_count == 0 || period_count > max {
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
    // As many units as the resource is: a renewal charges for all it renews.
    let lines = [(resource.product, resource.period, period_count, resource.quantity)];
    let product = state
        .store
        .product(resource.product)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Product, resource.product))?;
    let renewed = LineResource {
        line: 0,
        id: resource.id,
        spec_code: product.spec_code,
        period: resource.period,
        expires_at: resource.expires_at,
    };
    let purpose = Purpose::Renewal(renewed);
    quote(state, caller, resource.customer, price.currency, &lines, purpose, now).await
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

/// A priced spec change, saved: the new spec's price per period as the pricing chain set it,
/// and what changing to it costs (or credits) for the rest of the resource's term. Order it
/// with `POST /v1/orders` (`quote_id`) within 24 hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecChangeQuote {
    /// The saved quote to order.
    pub quote_id: i64,
    /// From this instant on it can no longer be ordered.
    pub expires_at: DateTime<Utc>,
    /// The resource changed.
    pub resource_id: i64,
    /// The change: `change.unit_price` is the chain's price of the new spec per unit per
    /// period; `change.amount` that price over the periods left for the resource's units, less
    /// what the unused part of its paid term is worth now; negative for a cheaper spec (a
    /// credit, refunded when the change is paid).
    #[schema(value_type = Object)]
    pub change: QuotedLine,
    /// What the change order comes to: `change.amount` for a dearer spec, zero for a cheaper.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// The credit a cheaper spec gets back, prorated again to the time left when it is paid.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub credit: Decimal,
    /// The new spec's price per period through the chain, with each rule's adjustment.
    pub priced: PricedLine,
    /// The chain as it ran.
    pub chain: Vec<ChainStep>,
}

/// Prices changing a main resource in use to another spec (another product of the same service,
/// resource type, region and seller) for the rest of its term, and saves the quote. The
/// pricing chain prices one period of the new spec (purpose `spec-change`, the resource and
/// its current spec on the line); the change is that price over the time left (30-day months,
/// 365-day years), less what the unused part of the paid term is worth. Ordered (`POST /v1/orders`) and
/// paid, it changes the spec in the payment's transaction: a dearer spec is charged the
/// difference, a cheaper spec's difference is refunded to whoever paid the term (rules 9, 10).
#[utoipa::path(post, path = "/v1/quotes/spec-change", tag = "quotes", request_body = SpecChangeRequest,
    responses((status = 201, body = SpecChangeQuote), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn spec_change(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<SpecChangeRequest>,
) -> Result<(StatusCode, Json<SpecChangeQuote>), AppError> {
    // It runs the tenants' pricing rules and records their invocations: a write, as pricing
    // any other quote is.
    caller.need("quotes", Access::Write)?;
    let Body(request) = payload;
    let resource = super::resource_in_scope(&state, &caller, request.resource_id).await?;
    let customer = caller.customer(&state, resource.customer).await?;
    // A child changes with its main resource's unsubscription and renewal, not on its own.
    if let Some(main) = resource.main_resource {
        return Err(AppError::refused(
            ErrorCode::NotAMainResource,
            format!(
                "resource {} is a child of {main}: only a main resource changes spec",
                resource.id
            ),
        ));
    }
    if resource.status != ResourceStatus::InUse {
        return Err(AppError::refused(
            ErrorCode::ResourceNotInUse,
            format!(
                "resource {} is {}: only a resource in use changes spec",
                resource.id, resource.status
            ),
        ));
    }
    let current = state
        .store
        .product(resource.product)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Product, resource.product))?;
    let target = state
        .store
        .product(request.product_id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Product, request.product_id))?;
    let same_kind = (
        &current.service_type,
        &current.resource_type,
        &current.region,
        current.seller,
    ) == (
        &target.service_type,
        &target.resource_type,
        &target.region,
        target.seller,
    );
    if target.id == current.id || !same_kind {
        return Err(AppError::refused_at(
            ErrorCode::SpecNotCompatible,
            "product_id",
            format!(
                "resource {} is a {} {} in {}: it changes to another spec of the same, from the same seller",
                resource.id, current.service_type, current.resource_type, current.region
            ),
        ));
    }
    let list = state
        .store
        .list_price(request.product_id, resource.period)
        .await?
        .ok_or_else(|| {
            AppError::refused_at(
                ErrorCode::PriceNotFound,
                "product_id",
                format!("product {} has no {} price", request.product_id, resource.period),
            )
        })?;
    let changed = LineResource {
        line: 0,
        id: resource.id,
        spec_code: current.spec_code,
        period: resource.period,
        expires_at: resource.expires_at,
    };
    let now = Utc::now();
    // One period of the new spec, for as many units as the resource has: volume tiers apply.
    let one_period = [(request.product_id, resource.period, 1, resource.quantity)];
    let (log, priced) = price(
        &state,
        customer,
        list.currency,
        &one_period,
        Purpose::SpecChange(changed),
        now,
    )
    .await?;
    let mut priced = match priced {
        Ok(priced) => priced,
        Err(refused) => {
            pchost_extensions::audit::write(&state.store, log).await?;
            return Err(refused.into());
        }
    };
    let line = priced.lines.remove(0);
    let change = state
        .store
        .quote_spec_change(&resource, request.product_id, line.unit_price, now)
        .await?;
    let at_list = state
        .store
        .quote_spec_change(&resource, request.product_id, list.amount, now)
        .await?;
    let total = change.amount.max(Decimal::ZERO);
    let credit = (-change.amount).max(Decimal::ZERO);
    // The change order's one line: the difference for the rest of the term, as one period.
    let lines = [NewOrderLine {
        product: request.product_id,
        period: resource.period,
        period_count: 1,
        quantity: 1,
        list_unit_price: at_list.amount.max(Decimal::ZERO),
        unit_price: total,
    }];
    let spec_change = SpecChange {
        resource: resource.id,
        from_product: resource.product,
        to_product: request.product_id,
        term_ends_at: resource.expires_at,
        priced_at: now,
        credit,
    };
    let mut answer = SpecChangeQuote {
        quote_id: 0,
        expires_at: now + QUOTE_VALIDITY,
        resource_id: resource.id,
        change,
        total,
        credit,
        priced: line,
        chain: priced.chain,
    };
    let body = serde_json::to_string(&answer).map_err(|e| AppError::Internal(e.into()))?;
    let created_by = caller.label();
    let quote = NewQuote {
        customer: resource.customer,
        currency: list.currency,
        total,
        lines: &lines,
        body: &body,
        created_by: &created_by,
        now,
        expires_at: answer.expires_at,
        renews: None,
        spec_change: Some(&spec_change),
    };
    let (quote_id, ids) = state.store.save_quote_with_invocations(&quote, &log.records).await?;
    pchost_extensions::audit::record_diffs(&state.store, log.diffs, &ids, Utc::now()).await?;
    answer.quote_id = quote_id;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// What a quote is for, as the pricing chain is told.
enum Purpose {
    /// A new subscription.
    New,
    /// Pay-per-use.
    OnDemand,
    /// Renewing a resource (the quote's one line).
    Renewal(LineResource),
    /// Changing a resource's spec (the quote's one line, priced for one period).
    SpecChange(LineResource),
}

impl Purpose {
    fn model(&self) -> QuotePurpose {
        match self {
            Purpose::New => QuotePurpose::NewPurchase,
            Purpose::OnDemand => QuotePurpose::OnDemand,
            Purpose::Renewal(_) => QuotePurpose::Renewal,
            Purpose::SpecChange(_) => QuotePurpose::SpecChange,
        }
    }
}

/// Checks the request, prices it through the chain and stores the result.
async fn quote(
    state: AppState,
    caller: Caller,
    customer_id: i64,
    currency: Currency,
    request: &[(ProductId, PeriodType, u32, u32)],
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(StatusCode, Json<PricedQuote>), AppError> {
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
    let renews = match &purpose {
        Purpose::Renewal(resource) => Some(resource.id),
        Purpose::New | Purpose::OnDemand | Purpose::SpecChange(_) => None,
    };
    let (log, priced) = price(&state, customer, currency, request, purpose, now).await?;
    let mut response = match priced {
        Ok(response) => response,
        Err(refused) => {
            // The invocations that led to a refusal are on record too.
            pchost_extensions::audit::write(&state.store, log).await?;
            return Err(refused.into());
        }
    };
    response.expires_at = now + QUOTE_VALIDITY;
    let body = serde_json::to_string(&response).map_err(|e| AppError::Internal(e.into()))?;
    let created_by = caller.label();
    let lines = response.order_lines();
    let quote = NewQuote {
        customer: customer_id,
        currency,
        total: response.total,
        lines: &lines,
        body: &body,
        created_by: &created_by,
        now,
        expires_at: response.expires_at,
        renews,
        spec_change: None,
    };
    // The quote and the records of the invocations that priced it: one commit.
    let (quote_id, ids) = state.store.save_quote_with_invocations(&quote, &log.records).await?;
    pchost_extensions::audit::record_diffs(&state.store, log.diffs, &ids, Utc::now()).await?;
    response.quote_id = quote_id;
    Ok((StatusCode::CREATED, Json(response)))
}

/// Builds the plugins' quote of `request` from the catalog and runs the pricing chain over it
/// as of `now`, handing back the chain's answer and the log of its invocations, unwritten.
async fn price(
    state: &AppState,
    customer: Customer,
    currency: Currency,
    request: &[(ProductId, PeriodType, u32, u32)],
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(AuditLog, Result<PricedQuote, ExtensionError>), AppError> {
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
        purpose: purpose.model(),
        resources: match purpose {
            Purpose::Renewal(resource) | Purpose::SpecChange(resource) => vec![resource],
            Purpose::New | Purpose::OnDemand => Vec::new(),
        },
        settings: Vec::new(),
    };
    Ok(
        pchost_extensions::audit::run_unrecorded(state.host.clone(), move |host, audit| {
            run_chain(host, quote, &customer, audit)
        })
        .await?,
    )
}
