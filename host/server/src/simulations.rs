//! The host's standard fixtures for `pchost plugin check`: inputs the host defines per world,
//! run on the component as it would run in production, each answer held to the invariants the
//! host applies to a bound rule. Like XTP's simulations, they catch a rule that traps, times
//! out or answers out of bounds on inputs its author did not think of: one line at list
//! price, a year of 60 units, 100,000 units, a quote of 200 lines, a renewal (contract
//! 0.3.0); for approval rules, each of the six actions every contract version knows, small
//! and large.

use chrono::{DateTime, Utc};
use pchost_domain::{ApprovalKind, Currency, FreezeState, PartnerId, PartnerKind, PeriodType, Role};
use pchost_extensions::chain::{PriceCeilings, check_answer};
use pchost_runtime::model::{
    ActionDetail, ApprovalRequest, CustomerContext, PartnerContext, Principal, Quote, QuoteLine, QuotePurpose,
    SubjectCustomer,
};
use pchost_runtime::{CapabilityData, LoadedPlugin, PluginRuntime, World};
use pchost_store::bindings::BindingScope;
use pchost_store::demo::DemoData;
use rust_decimal::Decimal;
use serde::Serialize;
use std::sync::Arc;

/// One standard fixture's result.
#[derive(Debug, Serialize)]
pub struct Simulation {
    /// What it ran.
    pub name: String,
    /// Whether the answer kept the invariants.
    pub passed: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Fuel burnt.
    pub fuel_used: u64,
    /// Wall time, in microseconds.
    pub wall_time_us: u64,
}

/// Runs the standard fixtures of `plugin`'s world on it, as the owner's scope would bind it
/// (a seller's rule over its own products, any other partner's over the whole quote).
pub fn run(runtime: &PluginRuntime, plugin: &LoadedPlugin, data: Arc<dyn CapabilityData>) -> Vec<Simulation> {
    let demo = DemoData::new(Utc::now());
    let owner = plugin.manifest.owner;
    // The fixtures are built from the demo data, where the owner's kind, customers and
    // orders are known; for another owner they would guess, so they are not run.
    let Some(kind) = demo.partners.iter().find(|p| p.id == owner).map(|p| p.kind) else {
        return vec![Simulation {
            name: "standard fixtures".into(),
            passed: true,
            problem: Some(format!(
                "not run: partner {owner} is not in the demo data they are built from; run plugin test with your own fixtures"
            )),
            fuel_used: 0,
            wall_time_us: 0,
        }];
    };
    match plugin.manifest.world {
        World::PricingRule => pricing(runtime, plugin, &demo, owner, kind, data),
        World::ApprovalRule => approvals(runtime, plugin, &demo, owner, data),
    }
}

/// The plugin's settings as a binding that sets none gives them: the manifest's defaults.
fn defaults(plugin: &LoadedPlugin) -> Result<Vec<pchost_runtime::model::Setting>, String> {
    pchost_runtime::settings::resolve(&plugin.manifest.settings, &serde_json::Map::new())
        .map_err(|e| format!("the manifest's setting {} has no default: {}", e.field, e.message))
}

fn outcome(name: String, result: Result<(u64, u64), String>) -> Simulation {
    match result {
        Ok((fuel_used, wall_time_us)) => Simulation {
            name,
            passed: true,
            problem: None,
            fuel_used,
            wall_time_us,
        },
        Err(problem) => Simulation {
            name,
            passed: false,
            problem: Some(problem),
            fuel_used: 0,
            wall_time_us: 0,
        },
    }
}

fn pricing(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    demo: &DemoData,
    owner: PartnerId,
    kind: PartnerKind,
    data: Arc<dyn CapabilityData>,
) -> Vec<Simulation> {
    let seller = kind == PartnerKind::Seller;
    // A seller's rule sees its own products and no customer nor partner; another partner's
    // sees the whole quote of one of its customers.
    let products: Vec<_> = demo
        .products
        .iter()
        .filter(|p| !seller || p.seller == Some(owner))
        .filter(|p| month_price(demo, p.id).is_some())
        .cloned()
        .collect();
    if products.is_empty() {
        return vec![outcome(
            "pricing".into(),
            Err(format!(
                "the demo catalog has no monthly product of seller {owner} to price: run plugin test with your own fixtures"
            )),
        )];
    }
    let line = |product: usize, period_count: u32, quantity: u32| {
        let list = month_price(demo, products[product].id).unwrap_or(Decimal::ONE);
        QuoteLine {
            product: product as u32,
            period: PeriodType::Month,
            period_count,
            quantity,
            list_unit_price: list,
            unit_price: list,
        }
    };
    let every = |period_count, quantity| (0..products.len()).map(|p| line(p, period_count, quantity)).collect();
    let mut cases: Vec<(&str, Vec<QuoteLine>, QuotePurpose)> = vec![
        ("one unit for a month at list", every(1, 1), QuotePurpose::NewPurchase),
        ("60 units for 11 months", every(11, 60), QuotePurpose::NewPurchase),
        ("100,000 units", every(1, 100_000), QuotePurpose::NewPurchase),
        (
            "200 lines",
            (0..200)
                .map(|i| line(i % products.len(), 1 + (i as u32 % 11), 1 + i as u32))
                .collect(),
            QuotePurpose::NewPurchase,
        ),
    ];
    if plugin.manifest.world_version >= pchost_runtime::WorldVersion::V0_3 {
        cases.push(("a renewal of 12 months", every(12, 5), QuotePurpose::Renewal));
    }
    let scope = if seller {
        BindingScope::Seller
    } else {
        BindingScope::Partner
    };
    let settings = match defaults(plugin) {
        Ok(settings) => settings,
        Err(problem) => return vec![outcome("pricing".into(), Err(problem))],
    };
    let customer = demo.customers.iter().find(|c| c.partner == owner);
    let bounds = PriceCeilings::default().bounds(scope);
    cases
        .into_iter()
        .map(|(name, lines, purpose)| {
            let quote = Quote {
                currency: Currency::CNY,
                as_of: Utc::now(),
                partner: (!seller).then_some(PartnerContext {
                    id: owner,
                    kind,
                    distributor: None,
                }),
                customer: customer.filter(|_| !seller).map(|c| CustomerContext {
                    id: c.id,
                    association: c.association,
                    freeze: c.freeze,
                    level: c.level,
                }),
                products: products.clone(),
                lines,
                purpose,
                resources: Vec::new(),
                settings: settings.clone(),
            };
            let result = runtime
                .price(&plugin.id, &quote, data.clone())
                .map_err(|e| e.to_string())
                .and_then(|run| {
                    let map: Vec<usize> = (0..quote.lines.len()).collect();
                    check_answer(&quote, &map, bounds, run.output)?;
                    Ok((run.usage.fuel_used, micros(run.wall_time)))
                });
            outcome(format!("pricing: {name}"), result)
        })
        .collect()
}

fn month_price(demo: &DemoData, product: i64) -> Option<Decimal> {
    demo.prices
        .iter()
        .find(|p| p.product == product && p.period == PeriodType::Month)
        .map(|p| p.amount)
}

fn micros(d: std::time::Duration) -> u64 {
    d.as_micros().try_into().unwrap_or(u64::MAX)
}

fn approvals(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    demo: &DemoData,
    owner: PartnerId,
    data: Arc<dyn CapabilityData>,
) -> Vec<Simulation> {
    let settings = match defaults(plugin) {
        Ok(settings) => settings,
        Err(problem) => return vec![outcome("approval".into(), Err(problem))],
    };
    // A customer of the owner's with an order, and a reseller under it, when it has them.
    let customer = demo.customers.iter().find(|c| c.partner == owner);
    let order = customer.and_then(|c| demo.orders.iter().find(|o| o.customer == c.id));
    let reseller = demo
        .partners
        .iter()
        .find(|p| p.distributor == Some(owner))
        .map(|p| p.id);
    let request = |kind, amount: Option<&str>, as_of: DateTime<Utc>| ApprovalRequest {
        kind,
        as_of,
        actor: Principal {
            partner: Some(owner),
            id: Some(1),
            role: Role::PartnerAdmin,
        },
        partner: owner,
        customer: customer.map(|c| SubjectCustomer {
            id: c.id,
            association: c.association,
            // Only a frozen customer is unfrozen.
            freeze: if kind == ApprovalKind::CustomerUnfreeze {
                FreezeState::AccountFrozen
            } else {
                c.freeze
            },
            manager: c.manager,
        }),
        reseller: reseller.filter(|_| matches!(kind, ApprovalKind::ResellerInvitation)),
        order: order.map(|o| o.id),
        amount: amount.map(|a| a.parse().unwrap_or(Decimal::ONE)),
        currency: Currency::CNY,
        detail: (kind == ApprovalKind::CouponIssue).then(|| ActionDetail::CouponIssue {
            quota: 1,
            face: amount.and_then(|a| a.parse().ok()).unwrap_or(Decimal::ONE),
        }),
        settings: settings.clone(),
    };
    let kinds = [
        ApprovalKind::Refund,
        ApprovalKind::PaymentOnBehalf,
        ApprovalKind::CouponIssue,
        ApprovalKind::BalanceAllocation,
        ApprovalKind::CustomerUnfreeze,
        ApprovalKind::ResellerInvitation,
    ];
    let mut results = Vec::new();
    for kind in kinds {
        for amount in ["1.00", "1000000000.00"] {
            let request = request(kind, Some(amount), Utc::now());
            // An action the owner has nothing to act on (no customer, no order, no reseller).
            if request.action().is_none() {
                continue;
            }
            let result = runtime
                .decide(&plugin.id, &request, data.clone())
                .map_err(|e| e.to_string())
                .and_then(|run| {
                    // As a partner's binding runs it: escalations stay inside the partner.
                    pchost_extensions::approvals::escalation_in_bounds(BindingScope::Partner, run.output)?;
                    Ok((run.usage.fuel_used, micros(run.wall_time)))
                });
            results.push(outcome(format!("approval: {kind} of {amount}"), result));
        }
    }
    results
}
