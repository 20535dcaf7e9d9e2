//! Approval rules: `POST /v1/approvals/check` asks them about an action without doing it,
//! and [`act`] asks them before a gated action is carried out: the six 0.1.0 rules know
//! (refund, payment on behalf, coupon issue, allocation, unfreeze, reseller invitation) and,
//! for extension@0.3.0 rules only, freeze, budget, association change, unbind, cancel,
//! renewal, unsubscribe, reclaims (balance, coupon, quota) and quota splits.
//!
//! The enabled bindings of the approval-rule extension point run, platform-wide ones first,
//! then those bound to the partner whose rules govern the action. They combine as: any reject
//! rejects, else any escalate escalates (to the first escalating rule's role), else approve.
//! With no rule bound the action is approved.

use crate::api::extract::Body;
use crate::auth::{Access, Caller};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use pchost_domain::errors::ErrorCode;
use pchost_domain::{ApprovalKind, Currency, Customer, CustomerId, OrderId, PartnerId};
use pchost_extensions::actions::Action;
use pchost_extensions::approvals::{ApprovalOutcome, decide};
use pchost_runtime::model::{self, ActionDetail, Decision, Principal, SubjectCustomer};
use pchost_store::tasks::{ApprovalTask, NewTask};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;

/// An approval check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalCheck {
    /// What is asked: `refund`, `payment-on-behalf`, `coupon-issue`, `balance-allocation`,
    /// `customer-unfreeze`, `reseller-invitation`. The kinds only extension@0.3.0 rules decide
    /// (`freeze`, `budget`, `unbind`...) are asked about when the action is requested, not
    /// here (`invalid-field`).
    #[schema(value_type = String)]
    pub kind: ApprovalKind,
    /// The customer concerned.
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    /// The reseller concerned.
    #[serde(default)]
    pub reseller_id: Option<PartnerId>,
    /// The order concerned.
    #[serde(default)]
    pub order_id: Option<OrderId>,
    /// The quota a coupon would be issued from.
    #[serde(default)]
    pub quota_id: Option<i64>,
    /// The amount at stake, as a decimal string.
    #[serde(default, deserialize_with = "super::exact_decimal_option")]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Decimal>,
    /// Its currency.
    #[schema(value_type = String)]
    pub currency: Currency,
}

/// Asks the approval rules of the caller's partner (or, for the operator, the customer's
/// partner) about an action, without doing it.
#[utoipa::path(post, path = "/v1/approvals/check", tag = "approvals", request_body = ApprovalCheck,
    responses((status = 200, body = ApprovalOutcome), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<ApprovalCheck>,
) -> Result<Json<ApprovalOutcome>, AppError> {
    caller.need("approvals", Access::Read)?;
    caller.not_customer()?;
    let Body(check) = payload;
    if !check.kind.known_to_v0_1() {
        return Err(AppError::field(
            "kind",
            format!(
                "a {} is checked by the approval rules when it is requested; this check takes the six kinds every rule knows",
                check.kind
            ),
        ));
    }
    if let Some(amount) = check.amount {
        super::money_or_zero("amount", amount)?;
    }
    let customer = match check.customer_id {
        Some(id) => Some(caller.customer(&state, id).await?),
        None => None,
    };
    let partner = match (&customer, caller.partner()) {
        (_, Some(partner)) => partner.id,
        (Some(customer), None) => customer.partner,
        (None, None) => {
            return Err(AppError::field(
                "customer_id",
                "the operator names the customer concerned",
            ));
        }
    };
    let mut request = approval_request(&caller, check.kind, partner, customer.as_ref(), check.currency)
        .with_reseller(check.reseller_id)
        .with_order(check.order_id)
        .with_amount(check.amount);
    if let (ApprovalKind::CouponIssue, Some(quota), Some(face)) = (check.kind, check.quota_id, check.amount) {
        request = request.with_detail(ActionDetail::CouponIssue { quota, face });
    }
    // Rules of extension@0.3.0 decide on the action in full: a check names all of it.
    if request.action().is_none() {
        let (field, what) = match check.kind {
            ApprovalKind::Refund | ApprovalKind::PaymentOnBehalf => (
                if check.order_id.is_none() { "order_id" } else { "amount" },
                "the order and the amount",
            ),
            ApprovalKind::CouponIssue => (
                if check.quota_id.is_none() { "quota_id" } else { "amount" },
                "the quota and the face value (`amount`)",
            ),
            ApprovalKind::BalanceAllocation => (
                if check.amount.is_none() {
                    "amount"
                } else {
                    "customer_id"
                },
                "the customer or reseller and the amount",
            ),
            ApprovalKind::CustomerUnfreeze => ("customer_id", "the customer"),
            _ => ("reseller_id", "the reseller"),
        };
        return Err(AppError::field(field, format!("a {} check names {what}", check.kind)));
    }
    let response =
        pchost_extensions::audit::run_audited(state.host, move |host, audit| decide(host, &request, audit)).await?;
    Ok(Json(response))
}

/// The input of the approval rules for an action of `caller`'s.
pub fn approval_request(
    caller: &Caller,
    kind: ApprovalKind,
    partner: PartnerId,
    customer: Option<&Customer>,
    currency: Currency,
) -> model::ApprovalRequest {
    let actor = caller.actor(None);
    model::ApprovalRequest {
        kind,
        as_of: Utc::now(),
        actor: Principal {
            partner: actor.partner,
            id: actor.id,
            role: actor.role,
        },
        partner,
        customer: customer.map(|c| SubjectCustomer {
            id: c.id,
            association: c.association,
            freeze: c.freeze,
            manager: c.manager,
        }),
        reseller: None,
        order: None,
        amount: None,
        currency,
        detail: None,
        settings: Vec::new(),
    }
}

/// The platform's home currency: the currency of an approval request that concerns no
/// amount (an unfreeze, a reseller invitation), so that rules always see one.
pub fn home_currency() -> Currency {
    Currency::CNY
}

/// Builder-style setters for the optional parts of an approval request.
pub trait ApprovalRequestExt {
    /// The reseller concerned.
    fn with_reseller(self, reseller: Option<PartnerId>) -> Self;
    /// The order concerned.
    fn with_order(self, order: Option<OrderId>) -> Self;
    /// The amount at stake.
    fn with_amount(self, amount: Option<Decimal>) -> Self;
    /// The action in full, where the fields above do not say it all.
    fn with_detail(self, detail: ActionDetail) -> Self;
}

impl ApprovalRequestExt for model::ApprovalRequest {
    fn with_reseller(mut self, reseller: Option<PartnerId>) -> Self {
        self.reseller = reseller;
        self
    }
    fn with_order(mut self, order: Option<OrderId>) -> Self {
        self.order = order;
        self
    }
    fn with_amount(mut self, amount: Option<Decimal>) -> Self {
        self.amount = amount;
        self
    }
    fn with_detail(mut self, detail: ActionDetail) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// Asks the bound approval rules about `request`, recording their invocations, and does
/// nothing else: what [`act`] and the scheduler's auto-renewal decide on.
pub async fn decide_only(state: &AppState, request: model::ApprovalRequest) -> Result<ApprovalOutcome, AppError> {
    Ok(
        pchost_extensions::audit::run_audited(state.host.clone(), move |host, audit| decide(host, &request, audit))
            .await?,
    )
}

/// Stores `action`, which the rules escalated in `response`, as an approval task for the role
/// they named, about `subject` (the kind, partner and customer of the request they were
/// asked): carried out when a principal with that role approves it.
pub(crate) async fn escalate(
    state: &AppState,
    caller: &Caller,
    subject: (ApprovalKind, PartnerId, Option<CustomerId>),
    response: &ApprovalOutcome,
    action: &Action,
) -> Result<ApprovalTask, AppError> {
    let (kind, partner, customer) = subject;
    let Decision::Escalate { role, reason } = &response.decision else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "escalating a decision that is not an escalation"
        )));
    };
    let plugin = response
        .rules
        .iter()
        .find(|r| matches!(r.decision, Decision::Escalate { .. }))
        .map(|r| r.plugin.clone())
        .unwrap_or_default();
    let task = state
        .store
        .create_task(
            &NewTask {
                kind,
                partner,
                customer,
                role: *role,
                reason: reason.clone(),
                plugin,
                action: serde_json::to_value(action).map_err(|e| AppError::Internal(e.into()))?,
                requested_by: caller.label(),
                requested_key: Some(caller.key_id).filter(|id| *id != 0),
            },
            Utc::now(),
        )
        .await?;
    tracing::info!(task = task.id, %kind, %role, by = %caller.label(), "action escalated for approval");
    Ok(task)
}

/// Asks the bound approval rules about `action`, then: approve carries it out and answers
/// `done` with its result; reject refuses it with the rule's reason (`approval-rejected`);
/// escalate stores it as an approval task for the role and answers 202 with the task, to be
/// carried out when a principal with that role approves it (`/v1/approval-tasks`).
pub async fn act(
    state: &AppState,
    caller: &Caller,
    request: model::ApprovalRequest,
    action: Action,
    done: StatusCode,
) -> Result<Response, AppError> {
    let (kind, partner, customer) = (request.kind, request.partner, request.customer.as_ref().map(|c| c.id));
    let response = decide_only(state, request).await?;
    match &response.decision {
        Decision::Approve => {
            let result = action.execute(&state.store, Utc::now()).await?;
            Ok(if done == StatusCode::NO_CONTENT {
                done.into_response()
            } else {
                (done, Json(result)).into_response()
            })
        }
        Decision::Reject { reason } => Err(AppError::refused(
            ErrorCode::ApprovalRejected,
            format!("an approval rule rejected the action: {reason}"),
        )),
        Decision::Escalate { .. } => {
            let task = escalate(state, caller, (kind, partner, customer), &response, &action).await?;
            Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "status": "pending-approval", "task": task })),
            )
                .into_response())
        }
    }
}
