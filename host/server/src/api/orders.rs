//! Orders and the resources they create: create from a stored quote, list, get, pay (the
//! customer, or its partner on its behalf), cancel, payment requests (rule 22), refunds,
//! renewal, unsubscription and auto-renew (DOMAIN.md "Order").

use super::{Page, idempotency_key, money, resource_in_scope};
use crate::api::approvals::{ApprovalRequestExt, act, approval_request};
use crate::api::extract::{Body, Params, Path};
use crate::auth::{Access, Caller, Principal};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{ApprovalKind, Customer, DiscountKind, Order, OrderId, OrderStatus, Role};
use pchost_extensions::actions::Action;
use pchost_extensions::pricing::PricedLine;
use pchost_extensions::views::OrderView;
use pchost_runtime::model::{ActionDetail, ApprovalRequest};
use pchost_store::orders::{CreatedOrder, NewOrder, OrderFilter, Payer};
use pchost_store::resources::Resource;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Creating an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderRequest {
    /// The stored quote to order (`POST /v1/quotes`), at its prices.
    pub quote_id: i64,
}

/// A created order.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrderView {
    /// The order.
    pub order: OrderView,
    /// When it expires unpaid (rule 8: 7 days).
    pub payment_deadline: DateTime<Utc>,
}

/// Creates an order from a stored quote, at the quote's prices, and asks the approval rules
/// to review it (`order-review`, extension@0.3.0 rules; a change to a cheaper spec as the
/// refund of its credit, `refund`): approved, it is payable at once
/// (201); rejected, it is cancelled and the answer is `approval-rejected`; escalated, it waits
/// in `pending-review` for a person to decide its task (202). Needs an `Idempotency-Key`: a
/// retry with the same key returns the same order as it is now, without asking again, unless
/// the first request stopped before the rules answered (in review with no task): then they are
/// asked. Partner staff order for a customer only with its authorization (rule 23,
/// `not-authorized`).
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = NewOrderRequest,
    params(("Idempotency-Key" = String, Header)),
    responses((status = 201, body = CreatedOrderView), (status = 202, description = "escalated: the order waits in review for its approval task"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    payload: Body<NewOrderRequest>,
) -> Result<Response, AppError> {
    caller.need("orders", Access::Write)?;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let saved = state
        .store
        .saved_quote(request.quote_id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Quote, request.quote_id))?;
    let customer = caller.customer(&state, saved.customer).await?;
    // A renewal is ordered where its own approval rules are asked.
    if let Some(resource) = saved.renews {
        return Err(AppError::refused_at(
            ErrorCode::QuoteMismatch,
            "quote_id",
            format!(
                "quote {} renews resource {resource}: order it with POST /v1/resources/{resource}/renewals",
                saved.id
            ),
        ));
    }
    // A quote saved before the store kept its lines cannot be ordered; it is past its
    // 24 hours anyway.
    let lines = saved.lines.ok_or_else(|| {
        AppError::refused(
            ErrorCode::QuoteExpired,
            format!("quote {} was saved without its order lines: price again", saved.id),
        )
    })?;
    let order = NewOrder {
        customer: customer.id,
        currency: saved.currency,
        lines,
        quote: Some(saved.id),
    };
    // A change to a cheaper spec pays its credit back when confirmed: the rules are asked
    // about it as the refund it is (`refund`, the credit as its amount), not as an order of
    // nothing to pay.
    let credit = saved
        .spec_change
        .as_ref()
        .map(|c| c.credit)
        .filter(|c| *c > Decimal::ZERO);
    let review_kind = if credit.is_some() {
        ApprovalKind::Refund
    } else {
        ApprovalKind::OrderReview
    };
    let created = state
        .store
        .create_order_for_review(&order, &caller.actor(Some(customer.id)), &key, Utc::now())
        .await?;
    let release = Action::OrderRelease { order: created.id };
    if created.replayed {
        let stored = state
            .store
            .order(created.id)
            .await?
            .ok_or_else(|| AppError::not_found(Entity::Order, created.id))?;
        let in_review = stored.status == OrderStatus::PendingReview;
        let held = serde_json::to_value(&release).map_err(|e| AppError::Internal(e.into()))?;
        let unanswered = in_review
            && state
                .store
                .pending_task_holding(customer.partner, review_kind, &held)
                .await?
                .is_none();
        if !unanswered {
            return Ok(replayed_order(stored, &created));
        }
        // In review with no task: the request that created it stopped before the rules
        // answered (a crash, a timeout). Ask them now.
        tracing::warn!(
            order = created.id,
            "order found in review with no answer: asking the rules again"
        );
    } else {
        tracing::info!(order = created.id, quote = saved.id, by = %caller.label(), "order created for review");
    }

    let review = approval_request(&caller, review_kind, customer.partner, Some(&customer), saved.currency)
        .with_order(Some(created.id));
    let review = match credit {
        Some(credit) => review.with_amount(Some(credit)),
        None => review
            .with_amount(Some(created.amount))
            .with_detail(ActionDetail::OrderReview {
                order: created.id,
                amount: created.amount,
            }),
    };
    match act(&state, &caller, review, release.clone(), StatusCode::CREATED).await {
        Err(refused) if refused.code() == ErrorCode::ApprovalRejected => {
            release.on_rejection(&state.store).await?;
            Err(refused)
        }
        answer => answer,
    }
}

/// A retry's answer: the order as it is now (`202` while it waits in review).
fn replayed_order(order: Order, created: &CreatedOrder) -> Response {
    let status = if order.status == OrderStatus::PendingReview {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    // The deadline as first answered: a release from review restarts it (see the order).
    let view = CreatedOrderView {
        order: order.into(),
        payment_deadline: created.payment_deadline,
    };
    (status, Json(view)).into_response()
}

/// Order list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    /// One customer's orders (required for staff and the operator).
    pub customer_id: Option<i64>,
    /// Only this status.
    #[param(value_type = Option<String>)]
    pub status: Option<OrderStatus>,
    /// Ids above this one.
    #[serde(default)]
    pub after: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Lists a customer's orders: a customer its own, staff those of customers they see.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(OrderQuery),
    responses((status = 200, body = Vec<OrderView>), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<OrderQuery>,
) -> Result<Json<Vec<OrderView>>, AppError> {
    caller.need("orders", Access::Read)?;
    let Params(query) = query;
    let limit = Page {
        after: query.after,
        limit: query.limit,
    }
    .limit()?;
    let customer = match (&caller.principal, query.customer_id) {
        (Principal::Customer(c), None) => c.id,
        (_, Some(id)) => caller.customer(&state, id).await?.id,
        (_, None) => return Err(AppError::field("customer_id", "name the customer whose orders to list")),
    };
    let filter = OrderFilter {
        customers: vec![customer],
        status: query.status,
    };
    let orders = state.store.find_orders(&filter, query.after, limit).await?;
    Ok(Json(orders.into_iter().map(Into::into).collect()))
}

/// Gets an order with the breakdown of its quote.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDetail {
    /// The order.
    pub order: OrderView,
    /// The quote it was created from, as it was priced: every line's adjustments, plugin by
    /// plugin (for an order of kind `change`, its spec change quote: the change, the new
    /// spec's priced line and the chain).
    #[schema(value_type = Option<Object>)]
    pub quote: Option<serde_json::Value>,
}

/// Gets an order the caller sees, with its price breakdown.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderDetail), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderDetail>, AppError> {
    caller.need("orders", Access::Read)?;
    let (order, _) = order_in_scope(&state, &caller, id).await?;
    let quote = match order.quote {
        Some(quote) => match state.store.saved_quote(quote).await? {
            Some(saved) => serde_json::from_str::<serde_json::Value>(&saved.body)
                .ok()
                .map(|mut body| {
                    // The body was written before the quote had its id.
                    if let Some(id) = body.get_mut("quote_id") {
                        *id = quote.into();
                    }
                    body
                }),
            None => None,
        },
        None => None,
    };
    Ok(Json(OrderDetail {
        order: order.into(),
        quote,
    }))
}

/// Who pays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    /// `customer` (its own balance; a customer's key) or `partner` (the partner's balance,
    /// on the customer's behalf; a partner admin's key). Default: by who calls.
    #[serde(default)]
    pub payer: Option<String>,
}

/// A payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// The order.
    pub order_id: OrderId,
    /// Amount debited.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// `customer` or `partner`.
    pub payer: String,
    /// Debits per account (cash first, then credit: rule 6).
    #[schema(value_type = Vec<Object>)]
    pub debits: Vec<pchost_store::orders::Debit>,
    /// When.
    pub paid_at: DateTime<Utc>,
    /// Only for a change to a cheaper spec: the refunds of its credit, one per order that paid
    /// for the term, each to whoever paid it (rule 9): `refund_id`, `order_id`, `amount`,
    /// `account`, and `credit_note_id` when that order was already invoiced.
    #[schema(value_type = Option<Vec<Object>>)]
    pub refunds: Option<Vec<serde_json::Value>>,
}

/// Pays an order from balance (rule 6). A customer pays its own; a partner admin pays on the
/// customer's behalf (rule 22), with its authorization (rule 23, `not-authorized`), after the
/// approval rules (`payment-on-behalf`) approve; both principals are recorded (rule 21). Needs
/// an `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/orders/{id}/payments", tag = "orders", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)),
    request_body = PayRequest,
    responses((status = 201, body = PaymentView), (status = 202, description = "escalated: an approval task holds it"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn pay(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<OrderId>,
    payload: Body<PayRequest>,
) -> Result<Response, AppError> {
    caller.need("orders", Access::Write)?;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let (order, customer) = order_in_scope(&state, &caller, id).await?;
    match (&caller.principal, request.payer.as_deref()) {
        (Principal::Customer(_), None | Some("customer")) => {}
        (Principal::Staff { staff, partner, .. }, None | Some("partner")) if staff.role == Role::PartnerAdmin => {
            caller.may_operate(&state, customer.id).await?;
            let approval = approval_request(
                &caller,
                ApprovalKind::PaymentOnBehalf,
                customer.partner,
                Some(&customer),
                order.currency,
            )
            .with_order(Some(order.id))
            .with_amount(Some(order.amount));
            let action = Action::PaymentOnBehalf {
                order: order.id,
                partner: partner.id,
                actor: caller.actor(Some(customer.id)),
                idempotency_key: key,
            };
            return act(&state, &caller, approval, action, StatusCode::CREATED).await;
        }
        (_, Some(other)) if !matches!(other, "customer" | "partner") => {
            return Err(AppError::field("payer", "`customer` or `partner`"));
        }
        _ => {
            return Err(AppError::refused(
                ErrorCode::RoleNotPermitted,
                "a customer pays its own orders; a partner admin pays on a customer's behalf",
            ));
        }
    }
    let payment = state
        .store
        .pay_order(
            order.id,
            Payer::Customer,
            &caller.actor(Some(customer.id)),
            &key,
            Utc::now(),
        )
        .await?;
    tracing::info!(order = order.id, amount = %payment.amount, by = %caller.label(), "order paid");
    let answer = pchost_extensions::actions::payment_json(&payment, "customer");
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Coupons for an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponsRequest {
    /// Up to 3 of the customer's usable coupons (rule 7).
    pub coupon_ids: Vec<i64>,
    /// The one discount the order carries beside them, if any: `partner-granted`,
    /// `contract` or `promotion` (a coupon may refuse to combine with it). When the pricing
    /// rules declared one on the order's prices, that one applies and naming another is
    /// refused.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub discount: Option<pchost_domain::DiscountKind>,
}

/// The amount due after the coupons.
#[derive(Debug, Serialize, ToSchema)]
pub struct CouponsApplied {
    /// The order.
    pub order_id: OrderId,
    /// What is left to pay.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub amount_due: Decimal,
}

/// Applies coupons to a pending-payment order before it is paid (rule 7): at most 3 coupons
/// and 1 discount; each coupon's limits must match. The coupons are used up at once; pay the
/// amount due next.
#[utoipa::path(post, path = "/v1/orders/{id}/coupons", tag = "orders", params(("id" = i64, Path)), request_body = CouponsRequest,
    responses((status = 200, body = CouponsApplied), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn apply_coupons(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OrderId>,
    payload: Body<CouponsRequest>,
) -> Result<Json<CouponsApplied>, AppError> {
    caller.need("orders", Access::Write)?;
    let Body(request) = payload;
    if request.coupon_ids.is_empty() || request.coupon_ids.len() > 3 {
        return Err(AppError::field("coupon_ids", "1 to 3 coupons per order (rule 7)"));
    }
    let (order, _) = order_in_scope(&state, &caller, id).await?;
    let discount = order_discount(&state, &order, request.discount).await?;
    let amount_due = state
        .store
        .apply_coupons(id, &request.coupon_ids, discount, Utc::now())
        .await?;
    Ok(Json(CouponsApplied {
        order_id: id,
        amount_due,
    }))
}

/// Cancels an unpaid order, pending payment or still in review (rule 8).
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OrderId>,
) -> Result<Response, AppError> {
    caller.need("orders", Access::Write)?;
    let (order, customer) = order_in_scope(&state, &caller, id).await?;
    let approval = approval_request(
        &caller,
        ApprovalKind::Cancel,
        customer.partner,
        Some(&customer),
        order.currency,
    )
    .with_detail(ActionDetail::Cancel { order: id });
    act(&state, &caller, approval, Action::Cancel { order: id }, StatusCode::OK).await
}

/// A customer asks its partner to pay an order for it (rule 22).
#[utoipa::path(post, path = "/v1/orders/{id}/payment-requests", tag = "orders", params(("id" = i64, Path)),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn request_partner_payment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OrderId>,
) -> Result<StatusCode, AppError> {
    caller.need("orders", Access::Write)?;
    if !matches!(caller.principal, Principal::Customer(_)) {
        return Err(AppError::refused(
            ErrorCode::RoleNotPermitted,
            "only the customer asks its partner to pay",
        ));
    }
    order_in_scope(&state, &caller, id).await?;
    state.store.request_partner_payment(id, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The partner rejects a customer's payment request; the customer may then pay (rule 22).
#[utoipa::path(post, path = "/v1/orders/{id}/payment-requests/reject", tag = "orders", params(("id" = i64, Path)),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn reject_partner_payment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<OrderId>,
) -> Result<StatusCode, AppError> {
    caller.need("orders", Access::Write)?;
    let partner = caller.partner_admin()?.id;
    order_in_scope(&state, &caller, id).await?;
    state.store.reject_partner_payment(id, partner, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A refund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Amount, a decimal string with at most 2 places.
    #[serde(deserialize_with = "super::exact_decimal")]
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// A completed refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundView {
    /// The refund.
    pub refund_id: i64,
    /// The order.
    pub order_id: OrderId,
    /// Amount.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// The cash account credited: the payer's (rule 9).
    pub account: i64,
    /// Only when the order was already invoiced (absent otherwise): the credit note issued
    /// against its invoice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_note_id: Option<i64>,
}

/// Refunds part or all of a paid order, to whoever paid it (rule 9), after the approval rules
/// (`refund`) approve (rule 10: a large refund is escalated to a customer manager). The
/// refund, its cap (what was refunded plus this within what was paid) and the credit commit
/// together or not at all. Needs an `Idempotency-Key`: a retry refunds once.
#[utoipa::path(post, path = "/v1/orders/{id}/refunds", tag = "orders", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)), request_body = RefundRequest,
    responses((status = 201, body = RefundView), (status = 202, description = "escalated: an approval task holds it"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<OrderId>,
    payload: Body<RefundRequest>,
) -> Result<Response, AppError> {
    caller.need("orders", Access::Write)?;
    caller.not_customer()?;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let amount = money("amount", request.amount)?;
    let (order, customer) = order_in_scope(&state, &caller, id).await?;
    let approval = approval_request(
        &caller,
        ApprovalKind::Refund,
        customer.partner,
        Some(&customer),
        order.currency,
    )
    .with_order(Some(order.id))
    .with_amount(Some(amount));
    let action = Action::Refund {
        order: order.id,
        amount,
        actor: caller.actor(Some(customer.id)),
        idempotency_key: key,
    };
    act(&state, &caller, approval, action, StatusCode::CREATED).await
}

/// A resource as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceView {
    /// Id.
    pub id: i64,
    /// The customer.
    pub customer_id: i64,
    /// `in-use`, `expired` (in its grace period, renewable), `frozen` or `closed`.
    pub status: String,
    /// Product.
    pub product_id: i64,
    /// Period type (`hour` once a `to-on-demand` policy switched it at expiry).
    pub period: String,
    /// Expiry policy.
    pub expiry_policy: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Its main resource, for a child.
    pub main_resource: Option<i64>,
    /// How many units (what a renewal charges for).
    pub quantity: u32,
}

impl From<Resource> for ResourceView {
    fn from(r: Resource) -> Self {
        ResourceView {
            id: r.id,
            customer_id: r.customer,
            status: r.status.to_string(),
            product_id: r.product,
            period: r.period.to_string(),
            expiry_policy: r.expiry_policy.to_string(),
            expires_at: r.expires_at,
            main_resource: r.main_resource,
            quantity: r.quantity,
        }
    }
}

/// Resource list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResourceQuery {
    /// Only on-demand resources.
    #[serde(default)]
    pub on_demand: bool,
}

/// Lists a customer's resources (or only its on-demand ones).
#[utoipa::path(get, path = "/v1/customers/{id}/resources", tag = "orders", params(("id" = i64, Path), ResourceQuery),
    responses((status = 200, body = Vec<ResourceView>), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn resources(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    query: Params<ResourceQuery>,
) -> Result<Json<Vec<ResourceView>>, AppError> {
    caller.need("orders", Access::Read)?;
    let Params(query) = query;
    caller.customer(&state, id).await?;
    let resources = if query.on_demand {
        state.store.on_demand_resources(id).await?
    } else {
        state.store.resources_of(id).await?
    };
    Ok(Json(resources.into_iter().map(Into::into).collect()))
}

/// A renewal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// Periods of the resource's own type (rule 11): 1-11 months or 1-3 years.
    pub period_count: u32,
}

/// Orders the renewal of a resource for more periods of its original type (rule 11): the
/// chain prices it (a renewal quote, purpose `renewal`, the seller's renewal discounts apply),
/// the approval rules are asked (`renewal`), and the renewal order is created, payable at once
/// (`201` with the order and its deadline); paying it extends the term, in the payment's
/// transaction. Partner staff renew only with the customer's authorization (rule 23,
/// `not-authorized`). Needs an `Idempotency-Key`: a retry orders once.
#[utoipa::path(post, path = "/v1/resources/{id}/renewals", tag = "orders", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)), request_body = RenewRequest,
    responses((status = 201, body = CreatedOrderView), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<i64>,
    payload: Body<RenewRequest>,
) -> Result<Response, AppError> {
    caller.need("orders", Access::Write)?;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let resource = resource_in_scope(&state, &caller, id).await?;
    let customer = resource_customer(&state, &resource).await?;
    let actor = caller.actor(Some(customer.id));
    // The order's own key, bound to what is renewed: the same client key for another
    // resource or term (or for another kind of order) is another request.
    let key = renewal_order_key(id, request.period_count, &key);
    // A retry answers the order the first request created, without pricing again.
    if let Some(created) = state.store.order_created_with_key(&actor, &key).await? {
        let order = state
            .store
            .order(created.id)
            .await?
            .ok_or_else(|| AppError::not_found(Entity::Order, created.id))?;
        return Ok(replayed_order(order, &created));
    }
    caller.may_operate(&state, customer.id).await?;
    let (approval, action) = renewal(
        &state,
        &caller,
        &resource,
        &customer,
        request.period_count,
        key,
        Utc::now(),
    )
    .await?;
    act(&state, &caller, approval, action, StatusCode::CREATED).await
}

/// Prices the renewal of `resource` for `period_count` periods through the chain (a saved
/// renewal quote, as of `now`), and describes it to the approval rules: what they are asked, and the
/// action that orders it under `key` once approved. Shared by the endpoint and auto-renewal.
pub(crate) async fn renewal(
    state: &AppState,
    caller: &Caller,
    resource: &Resource,
    customer: &Customer,
    period_count: u32,
    key: String,
    now: DateTime<Utc>,
) -> Result<(ApprovalRequest, Action), AppError> {
    let (_, Json(priced)) =
        crate::api::quotes::renewal_quote(state.clone(), caller.clone(), resource.id, period_count, now).await?;
    let detail = ActionDetail::Renewal {
        resource: resource.id,
        period: resource.period,
        period_count,
        expires_at: resource.expires_at,
    };
    let approval = approval_request(
        caller,
        ApprovalKind::Renewal,
        customer.partner,
        Some(customer),
        priced.currency,
    )
    .with_amount(Some(priced.total))
    .with_detail(detail);
    let action = Action::Renewal {
        quote: priced.quote_id,
        actor: caller.actor(Some(customer.id)),
        idempotency_key: key,
    };
    Ok((approval, action))
}

/// The idempotency key of the order a renewal request creates: the client's key, bound to
/// the resource and the term, so that it names one renewal only.
fn renewal_order_key(resource: i64, period_count: u32, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{resource}:{period_count}:{key}"));
    format!("renewal:{}", hex::encode(&digest[..16]))
}

/// An unsubscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnsubscribedView {
    /// Resources closed (the main one and its children: rule 10).
    pub closed: Vec<i64>,
    /// The refunds paid: one per order that paid for the term (the one that bought it, each
    /// renewal), each to whoever paid that order (rule 9).
    pub refunds: Vec<RefundView>,
    /// What they come to: the unused part of what was paid.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// Unsubscribes a resource with its children and refunds the unused part of what was paid
/// for it (rule 10), after the approval rules (`unsubscribe`) approve: closing and refunding
/// commit together or not at all. Partner staff unsubscribe only with the customer's
/// authorization (rule 23, `not-authorized`). Needs an `Idempotency-Key`: a retry does it once.
#[utoipa::path(post, path = "/v1/resources/{id}/unsubscribe", tag = "orders", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, body = UnsubscribedView), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn unsubscribe(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    caller.need("orders", Access::Write)?;
    let key = idempotency_key(&headers)?;
    let resource = resource_in_scope(&state, &caller, id).await?;
    let customer = resource_customer(&state, &resource).await?;
    let actor = caller.actor(Some(resource.customer));
    let replay = |done| {
        let answer = pchost_extensions::actions::unsubscription_json(&done);
        Ok((StatusCode::CREATED, Json(answer)).into_response())
    };
    // A retry after the first succeeded: its answer, without asking about a closed resource.
    if let Some(done) = state.store.unsubscribed_with_key(id, &actor, &key).await? {
        return replay(done);
    }
    caller.may_operate(&state, customer.id).await?;
    // What the rules are shown: the refund it comes to now. Refused because a twin of this
    // request closed the resource meanwhile: the twin's answer.
    let refund = match state.store.unsubscription_refund(id, Utc::now()).await {
        Ok(refund) => refund,
        Err(refusal) => return replay(state.store.unsubscribed_meanwhile(id, &actor, &key, refusal).await?),
    };
    let order = state
        .store
        .order(refund.order)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Order, refund.order))?;
    let detail = ActionDetail::Unsubscribe {
        resource: id,
        order: refund.order,
        refund: refund.amount,
    };
    let approval = approval_request(
        &caller,
        ApprovalKind::Unsubscribe,
        customer.partner,
        Some(&customer),
        order.currency,
    )
    .with_order(Some(refund.order))
    .with_amount(Some(refund.amount))
    .with_detail(detail);
    let action = Action::Unsubscribe {
        resource: id,
        actor,
        idempotency_key: key,
    };
    act(&state, &caller, approval, action, StatusCode::CREATED).await
}

async fn resource_customer(state: &AppState, resource: &Resource) -> Result<Customer, AppError> {
    state
        .store
        .customer(resource.customer)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Customer, resource.customer))
}

/// Auto-renew on or off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRenewRequest {
    /// Whether the resource renews itself from 7 days before expiry (rule 11).
    pub enabled: bool,
}

/// Turns auto-renew on or off: partner staff only with the customer's authorization (rule 23,
/// `not-authorized`).
#[utoipa::path(put, path = "/v1/resources/{id}/auto-renew", tag = "orders", params(("id" = i64, Path)), request_body = AutoRenewRequest,
    responses((status = 200, body = ResourceView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn auto_renew(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    payload: Body<AutoRenewRequest>,
) -> Result<Json<ResourceView>, AppError> {
    caller.need("orders", Access::Write)?;
    let Body(request) = payload;
    let resource = resource_in_scope(&state, &caller, id).await?;
    state
        .store
        .set_auto_renew(id, request.enabled, &caller.actor(Some(resource.customer)))
        .await?;
    let resource = state
        .store
        .resource(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Resource, id))?;
    Ok(Json(resource.into()))
}

/// The priced lines a saved quote's body holds: a quote's `lines`, or a spec change quote's
/// one `priced` line.
#[derive(Deserialize)]
struct QuoteBody {
    #[serde(default)]
    lines: Vec<PricedLine>,
    #[serde(default)]
    priced: Option<PricedLine>,
}

/// The one discount an order carries beside its coupons (rule 7): the kind the pricing rules
/// declared on the prices of its quote (a `partner-granted`, `contract` or `promotion`
/// adjustment of an extension@0.3.0 rule; seller discounts and markups are not such a
/// discount), else the one the client names. Naming another kind than the rules declared, or
/// prices carrying two such kinds, is refused.
async fn order_discount(
    state: &AppState,
    order: &Order,
    named: Option<DiscountKind>,
) -> Result<Option<DiscountKind>, AppError> {
    let mut declared: Vec<DiscountKind> = Vec::new();
    if let Some(quote) = order.quote
        && let Some(saved) = state.store.saved_quote(quote).await?
    {
        let priced: QuoteBody = serde_json::from_str(&saved.body)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("quote {quote} holds an unreadable body: {e}")))?;
        let lines = priced.lines.iter().chain(&priced.priced);
        for kind in lines.flat_map(|l| &l.adjustments).filter_map(|a| a.kind) {
            if matches!(
                kind,
                DiscountKind::PartnerGranted | DiscountKind::Contract | DiscountKind::Promotion
            ) && !declared.contains(&kind)
            {
                declared.push(kind);
            }
        }
    }
    match (declared.as_slice(), named) {
        ([], named) => Ok(named),
        ([kind], None) => Ok(Some(*kind)),
        ([kind], Some(named)) if *kind == named => Ok(Some(named)),
        ([kind], Some(named)) => Err(AppError::refused_at(
            ErrorCode::CouponNotCombinable,
            "discount",
            format!("the order's prices carry a {kind} discount from its pricing rules, not {named} (rule 7)"),
        )),
        (kinds, _) => Err(AppError::refused(
            ErrorCode::CouponNotCombinable,
            format!(
                "the order's prices carry {} discounts from its pricing rules; coupons go with one (rule 7)",
                kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" and ")
            ),
        )),
    }
}

async fn order_in_scope(state: &AppState, caller: &Caller, id: OrderId) -> Result<(Order, Customer), AppError> {
    let order = state
        .store
        .order(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Order, id))?;
    let customer = caller.customer(state, order.customer).await?;
    Ok((order, customer))
}
