//! The pricing chain: every pricing rule bound to the quote's extension point runs in turn
//! (platform, then each seller over only its own lines, then the customer's partner), each
//! answer is checked against its scope's bounds ([`crate::chain`]) under the binding's failure
//! policy, and the priced lines come out with the steps that priced them.

use crate::PluginHost;
use crate::audit::AuditLog;
use crate::bound::{PolicyApplied, StepOutcome, run_bound, settings_for};
use crate::chain::{self, apply_answer, check_answer, priced_lines};
use crate::error::ExtensionError;
use chrono::{DateTime, Utc};
use pchost_domain::{Currency, Customer, DiscountKind, PartnerId, PeriodType, ProductId};
use pchost_runtime::model;
use pchost_runtime::{FailureKind, PluginFailure, World};
use pchost_store::bindings::{Binding, BindingScope};
use pchost_store::orders::NewOrderLine;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Instant;
use utoipa::ToSchema;

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
    /// The kind of price change the rule declared (`seller-discount`, `partner-granted`,
    /// `promotion`, `contract`, `markup`); absent for rules of extension@0.1.0 and 0.2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<DiscountKind>,
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
pub struct PricedQuote {
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

impl PricedQuote {
    /// The lines an order created from this quote gets: what the store keeps with it.
    pub fn order_lines(&self) -> Vec<NewOrderLine> {
        self.lines
            .iter()
            .map(|l| NewOrderLine {
                product: l.product_id,
                period: l.period,
                period_count: l.period_count,
                quantity: l.quantity,
                list_unit_price: l.list_unit_price,
                unit_price: l.unit_price,
            })
            .collect()
    }
}

/// Runs the whole chain over `quote`.
pub fn run_chain(
    host: &PluginHost,
    mut quote: model::Quote,
    customer: &Customer,
    audit: &mut AuditLog,
) -> Result<PricedQuote, ExtensionError> {
    let mut log = ChainLog {
        adjustments: quote.lines.iter().map(|_| Vec::new()).collect(),
        steps: Vec::new(),
        policies: Vec::new(),
        audit,
    };
    let all: Vec<usize> = (0..quote.lines.len()).collect();
    for binding in host
        .bindings
        .bound(World::PricingRule, BindingScope::Platform, None)
        .iter()
    {
        let mut view = quote.clone();
        view.settings = settings_for(&host.runtime, binding)?;
        apply(host, binding, &view, &all, &mut quote, &mut log)?;
    }
    let sellers: BTreeSet<PartnerId> = quote.products.iter().filter_map(|p| p.seller).collect();
    for seller in sellers {
        let bindings = host
            .bindings
            .bound(World::PricingRule, BindingScope::Seller, Some(seller));
        if bindings.is_empty() {
            continue;
        }
        // The seller's view: only the lines of its own products, with only those products,
        // and no identity of the customer or its partner.
        let own: Vec<usize> = (0..quote.lines.len())
            .filter(|&i| quote.products[quote.lines[i].product as usize].seller == Some(seller))
            .collect();
        for binding in bindings.iter() {
            let mut view = quote.clone();
            // Tenant data by need: a marketplace seller prices its products, and sees no
            // customer nor the partner selling to it (docs/api.md, "What a seller sees").
            view.customer = None;
            view.partner = None;
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
            // The resources its lines renew, indexed by the view's lines.
            view.resources = quote
                .resources
                .iter()
                .filter_map(|r| {
                    let line = own.iter().position(|&i| i == r.line as usize)?;
                    Some(model::LineResource {
                        line: line as u32,
                        ..r.clone()
                    })
                })
                .collect();
            view.settings = settings_for(&host.runtime, binding)?;
            apply(host, binding, &view, &own, &mut quote, &mut log)?;
        }
    }
    for binding in host
        .bindings
        .bound(World::PricingRule, BindingScope::Partner, Some(customer.partner))
        .iter()
    {
        let mut view = quote.clone();
        view.settings = settings_for(&host.runtime, binding)?;
        apply(host, binding, &view, &all, &mut quote, &mut log)?;
    }

    let (lines, total) = priced_lines(&quote, log.adjustments)?;
    Ok(PricedQuote {
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
    host: &PluginHost,
    binding: &Binding,
    view: &model::Quote,
    map: &[usize],
    quote: &mut model::Quote,
    log: &mut ChainLog<'_>,
) -> Result<(), ExtensionError> {
    let bounds = host.price_ceilings.bounds(binding.scope);
    if host.native_rules
        && let Some(rule) = crate::native_rules::rule(&binding.plugin_name)
    {
        let started = Instant::now();
        let label = format!("{}@{} (native)", binding.plugin_name, binding.version);
        let answer = check_answer(quote, map, bounds, rule(view)).map_err(|why| {
            ExtensionError::PluginFailed(PluginFailure {
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
        &host.runtime,
        binding,
        view,
        view.as_of,
        log.audit,
        |plugin| host.runtime.price(&plugin.id, view, host.data.clone()),
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
