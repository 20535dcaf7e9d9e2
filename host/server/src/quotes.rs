//! `POST /v1/quotes`: prices a quote over the catalog through the pricing chain.
//!
//! The chain runs, in order: each marketplace seller's pricing rules over the lines of that
//! seller's products only (a seller never sees another's lines), then the selling partner's
//! pricing rules over the whole quote. Each step sees the previous step's prices.

use crate::app::AppState;
use crate::error::AppError;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use chrono::Utc;
use pchost_domain::audit::InvocationRecord;
use pchost_domain::money::settle;
use pchost_domain::{Currency, PartnerId, PeriodType, ProductId};
use pchost_runtime::model::{self, CustomerContext, PartnerContext};
use pchost_runtime::{LoadedPlugin, World};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Instant;

/// A partner's rules never price a line below this share of list (rule 19).
pub const PARTNER_DISCOUNT_FLOOR: Decimal = Decimal::from_parts(80, 0, 0, false, 2);

/// The most lines one quote request may have.
pub const MAX_LINES: usize = 200;
/// The most periods or units one line may have.
pub const MAX_COUNT: u32 = 100_000;

/// A quote request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// The customer.
    pub customer_id: i64,
    /// Currency of the quote; every list price must be in it.
    pub currency: Currency,
    /// Lines.
    pub lines: Vec<QuoteRequestLine>,
}

/// One requested line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequestLine {
    /// Product.
    pub product_id: ProductId,
    /// Period the product is bought per.
    pub period: PeriodType,
    /// How many periods.
    pub period_count: u32,
    /// How many units.
    pub quantity: u32,
}

/// One adjustment a plugin made to a line.
#[derive(Debug, Serialize)]
pub struct Adjustment {
    /// `name@version`.
    pub plugin: String,
    /// Its reason.
    pub reason: String,
    /// Unit price before.
    #[serde(with = "rust_decimal::serde::str")]
    pub from: Decimal,
    /// Unit price after.
    #[serde(with = "rust_decimal::serde::str")]
    pub to: Decimal,
}

/// A priced line.
#[derive(Debug, Serialize)]
pub struct PricedLine {
    /// Product.
    pub product_id: ProductId,
    /// Period.
    pub period: PeriodType,
    /// Periods.
    pub period_count: u32,
    /// Units.
    pub quantity: u32,
    /// List price per unit per period.
    #[serde(with = "rust_decimal::serde::str")]
    pub list_unit_price: Decimal,
    /// Final price per unit per period.
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    /// unit price × quantity × periods, settled to the cent (half-up).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// What each plugin did, in chain order.
    pub adjustments: Vec<Adjustment>,
}

/// One plugin run of the chain.
#[derive(Debug, Serialize)]
pub struct ChainStep {
    /// `name@version`.
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
#[derive(Debug, Serialize)]
pub struct QuoteResponse {
    /// Currency.
    pub currency: Currency,
    /// The customer.
    pub customer_id: i64,
    /// Lines.
    pub lines: Vec<PricedLine>,
    /// Sum of the line amounts.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// The chain as it ran.
    pub chain: Vec<ChainStep>,
}

/// Prices a quote.
pub async fn create(
    State(state): State<AppState>,
    payload: Result<Json<QuoteRequest>, JsonRejection>,
) -> Result<Json<QuoteResponse>, AppError> {
    let Json(request) = payload?;
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        return Err(AppError::field("lines", format!("a quote has 1 to {MAX_LINES} lines")));
    }
    for (i, line) in request.lines.iter().enumerate() {
        for (name, value) in [("period_count", line.period_count), ("quantity", line.quantity)] {
            if value == 0 || value > MAX_COUNT {
                return Err(AppError::field(
                    format!("lines[{i}].{name}"),
                    format!("must be 1 to {MAX_COUNT}"),
                ));
            }
        }
    }
    let store = &state.store;
    let customer = store
        .customer(request.customer_id)
        .await?
        .ok_or_else(|| AppError::NotFound {
            code: "customer-not-found",
            what: "customer",
            id: request.customer_id.to_string(),
        })?;
    let partner = store
        .partner(customer.partner)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("customer {} has no partner", customer.id)))?;

    let mut products = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in request.lines.iter().enumerate() {
        let product = store
            .product(line.product_id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                code: "product-not-found",
                what: "product",
                id: line.product_id.to_string(),
            })?;
        let price = store
            .list_price(line.product_id, line.period)
            .await?
            .ok_or_else(|| AppError::Unprocessable {
                code: "price-not-found",
                message: format!("product {} has no {} price", line.product_id, line.period),
                field: Some(format!("lines[{i}].period")),
            })?;
        if price.currency != request.currency {
            return Err(AppError::Unprocessable {
                code: "currency-mismatch",
                message: format!(
                    "product {} is priced in {}, the quote is in {}",
                    product.id, price.currency, request.currency
                ),
                field: Some("currency".into()),
            });
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
            period: line.period,
            period_count: line.period_count,
            quantity: line.quantity,
            list_unit_price: price.amount,
            unit_price: price.amount,
        });
    }
    let quote = model::Quote {
        currency: request.currency,
        as_of: Utc::now(),
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
    let customer_id = customer.id;
    let partner_id = partner.id;
    let response = crate::audit::run_audited(state, move |state, audit| {
        run_chain(state, quote, partner_id, customer_id, audit)
    })
    .await?;
    Ok(Json(response))
}

fn run_chain(
    state: &AppState,
    mut quote: model::Quote,
    partner: PartnerId,
    customer_id: i64,
    audit: &mut Vec<InvocationRecord>,
) -> Result<QuoteResponse, AppError> {
    let mut log = ChainLog {
        adjustments: quote.lines.iter().map(|_| Vec::new()).collect(),
        steps: Vec::new(),
        audit,
    };

    let sellers: BTreeSet<PartnerId> = quote.products.iter().filter_map(|p| p.seller).collect();
    for seller in sellers {
        let rules = state.runtime.rules_of(seller, World::PricingRule);
        if rules.is_empty() {
            continue;
        }
        // The seller's view: only the lines of its own products, with only those products.
        let own: Vec<usize> = (0..quote.lines.len())
            .filter(|&i| quote.products[quote.lines[i].product as usize].seller == Some(seller))
            .collect();
        for rule in rules {
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
            // A seller prices its own products: rule 19 bounds partners' discounts, not sellers'.
            apply(state, &rule, &view, &own, &mut quote, &mut log, None)?;
        }
    }
    let all: Vec<usize> = (0..quote.lines.len()).collect();
    for rule in state.runtime.rules_of(partner, World::PricingRule) {
        let view = quote.clone();
        apply(
            state,
            &rule,
            &view,
            &all,
            &mut quote,
            &mut log,
            Some(PARTNER_DISCOUNT_FLOOR),
        )?;
    }

    let lines: Vec<PricedLine> = quote
        .lines
        .iter()
        .zip(log.adjustments)
        .map(|(line, adjustments)| PricedLine {
            product_id: quote.products[line.product as usize].id,
            period: line.period,
            period_count: line.period_count,
            quantity: line.quantity,
            list_unit_price: line.list_unit_price,
            unit_price: line.unit_price,
            amount: settle(line.unit_price * Decimal::from(line.quantity) * Decimal::from(line.period_count)),
            adjustments,
        })
        .collect();
    let total = lines.iter().map(|l| l.amount).sum();
    Ok(QuoteResponse {
        currency: quote.currency,
        customer_id,
        lines,
        total,
        chain: log.steps,
    })
}

/// What the chain records as it runs: each line's adjustments, each step, each invocation.
struct ChainLog<'a> {
    adjustments: Vec<Vec<Adjustment>>,
    steps: Vec<ChainStep>,
    audit: &'a mut Vec<InvocationRecord>,
}

/// Runs one rule over `view` (whose line `k` is line `map[k]` of `quote`) and applies its
/// answer, refusing a negative price and, with a `floor`, a price below that share of list.
/// A failing rule refuses the whole quote (fail-closed).
fn apply(
    state: &AppState,
    rule: &LoadedPlugin,
    view: &model::Quote,
    map: &[usize],
    quote: &mut model::Quote,
    log: &mut ChainLog<'_>,
    floor: Option<Decimal>,
) -> Result<(), AppError> {
    let started = Instant::now();
    let result = state.runtime.price(&rule.id, view, state.data.clone());
    log.audit
        .extend(crate::audit::record(rule, view, view.as_of, started, &result));
    let invocation = result?;
    for adjusted in invocation.output.lines {
        let index = map[adjusted.line as usize];
        let line = &mut quote.lines[index];
        let refuse = |why: String| {
            AppError::PluginFailed(pchost_runtime::PluginFailure {
                plugin: rule.manifest.label(),
                digest: rule.digest.clone(),
                kind: pchost_runtime::FailureKind::InvalidOutput(why),
            })
        };
        if adjusted.unit_price.is_sign_negative() && !adjusted.unit_price.is_zero() {
            return Err(refuse(format!(
                "line {index}: negative unit price {}",
                adjusted.unit_price
            )));
        }
        if let Some(ratio) = floor
            && adjusted.unit_price < line.list_unit_price * ratio
        {
            return Err(refuse(format!(
                "line {index}: {} is below {ratio} of list price {} (rule 19)",
                adjusted.unit_price, line.list_unit_price
            )));
        }
        log.adjustments[index].push(Adjustment {
            plugin: rule.manifest.label(),
            reason: adjusted.reason,
            from: line.unit_price,
            to: adjusted.unit_price,
        });
        line.unit_price = adjusted.unit_price;
    }
    log.steps.push(ChainStep {
        plugin: rule.manifest.label(),
        digest: rule.digest.clone(),
        owner: rule.manifest.owner,
        lines: view.lines.len(),
        fuel_used: invocation.fuel_used,
        wall_time_us: invocation.wall_time.as_micros().try_into().unwrap_or(u64::MAX),
    });
    Ok(())
}
