//! `POST /v1/approvals/check`: asks the approval rules of a partner about an action.
//!
//! Several rules combine as: any reject rejects, else any escalate escalates (to the first
//! escalating rule's role), else approve. With no rule bound the action is approved.

use crate::app::AppState;
use crate::error::AppError;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use chrono::Utc;
use pchost_domain::audit::InvocationRecord;
use pchost_domain::{ApprovalKind, Currency, CustomerId, OrderId, PartnerId, access};
use pchost_runtime::World;
use pchost_runtime::model::{self, Decision, Principal, SubjectCustomer};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// An approval check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalCheck {
    /// What is asked.
    pub kind: ApprovalKind,
    /// The partner whose rules apply.
    pub partner_id: PartnerId,
    /// Who asks.
    pub actor: Principal,
    /// The customer concerned.
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    /// The reseller concerned.
    #[serde(default)]
    pub reseller_id: Option<PartnerId>,
    /// The order concerned.
    #[serde(default)]
    pub order_id: Option<OrderId>,
    /// The amount at stake.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub amount: Option<Decimal>,
    /// Its currency.
    pub currency: Currency,
}

/// One rule's answer.
#[derive(Debug, Serialize)]
pub struct RuleDecision {
    /// `name@version`.
    pub plugin: String,
    /// sha256 of the component.
    pub digest: String,
    /// Its decision.
    pub decision: Decision,
    /// Fuel burnt.
    pub fuel_used: u64,
    /// Wall time.
    pub wall_time_us: u64,
}

/// The combined answer.
#[derive(Debug, Serialize)]
pub struct ApprovalResponse {
    /// The combined decision.
    pub decision: Decision,
    /// Each rule's answer, in the order they ran.
    pub rules: Vec<RuleDecision>,
}

/// Checks an action against the partner's approval rules.
pub async fn check(
    State(state): State<AppState>,
    payload: Result<Json<ApprovalCheck>, JsonRejection>,
) -> Result<Json<ApprovalResponse>, AppError> {
    let Json(check) = payload?;
    if let Some(amount) = check.amount
        && amount.is_sign_negative()
        && !amount.is_zero()
    {
        return Err(AppError::field("amount", "must not be negative"));
    }
    let partner = state
        .store
        .partner(check.partner_id)
        .await?
        .ok_or_else(|| AppError::NotFound {
            code: "partner-not-found",
            what: "partner",
            id: check.partner_id.to_string(),
        })?;
    let customer = match check.customer_id {
        Some(id) => {
            let customer = state.store.customer(id).await?.ok_or_else(|| AppError::NotFound {
                code: "customer-not-found",
                what: "customer",
                id: id.to_string(),
            })?;
            let owner = state.store.partner(customer.partner).await?;
            if !owner.is_some_and(|o| access::owner_sees_customers_of(&partner, &o)) {
                return Err(AppError::Unprocessable {
                    code: "customer-not-of-partner",
                    message: format!("customer {id} is not a customer of partner {}", partner.id),
                    field: Some("customer_id".into()),
                });
            }
            Some(SubjectCustomer {
                id: customer.id,
                association: customer.association,
                freeze: customer.freeze,
                manager: customer.manager,
            })
        }
        None => None,
    };
    let request = model::ApprovalRequest {
        kind: check.kind,
        as_of: Utc::now(),
        actor: check.actor,
        partner: partner.id,
        customer,
        reseller: check.reseller_id,
        order: check.order_id,
        amount: check.amount,
        currency: check.currency,
    };
    let response = crate::audit::run_audited(state, move |state, audit| decide(state, &request, audit)).await?;
    Ok(Json(response))
}

fn decide(
    state: &AppState,
    request: &model::ApprovalRequest,
    audit: &mut Vec<InvocationRecord>,
) -> Result<ApprovalResponse, AppError> {
    let mut rules = Vec::new();
    for plugin in state.runtime.rules_of(request.partner, World::ApprovalRule) {
        let started = Instant::now();
        let result = state.runtime.decide(&plugin.id, request, state.data.clone());
        audit.extend(crate::audit::record(&plugin, request, request.as_of, started, &result));
        let invocation = result?;
        rules.push(RuleDecision {
            plugin: plugin.manifest.label(),
            digest: plugin.digest.clone(),
            decision: invocation.output,
            fuel_used: invocation.fuel_used,
            wall_time_us: invocation.wall_time.as_micros().try_into().unwrap_or(u64::MAX),
        });
    }
    Ok(ApprovalResponse {
        decision: combine(rules.iter().map(|r| &r.decision)),
        rules,
    })
}

/// Any reject rejects, else any escalate escalates, else approve.
pub fn combine<'a>(decisions: impl Iterator<Item = &'a Decision> + Clone) -> Decision {
    if let Some(reject) = decisions.clone().find(|d| matches!(d, Decision::Reject { .. })) {
        return reject.clone();
    }
    if let Some(escalate) = decisions.clone().find(|d| matches!(d, Decision::Escalate { .. })) {
        return escalate.clone();
    }
    Decision::Approve
}

#[cfg(test)]
mod tests {
    use super::*;
    use pchost_domain::Role;

    #[test]
    fn any_reject_rejects_else_any_escalate_escalates() {
        let reject = Decision::Reject { reason: "no".into() };
        let escalate = Decision::Escalate {
            role: Role::CustomerManager,
            reason: "big".into(),
        };
        assert_eq!(
            combine([Decision::Approve, escalate.clone(), reject.clone()].iter()),
            reject
        );
        assert_eq!(combine([Decision::Approve, escalate.clone()].iter()), escalate);
        assert_eq!(combine([Decision::Approve].iter()), Decision::Approve);
        assert_eq!(combine([].iter()), Decision::Approve);
    }
}
