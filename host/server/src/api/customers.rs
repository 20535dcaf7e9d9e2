//! Customers: register, list, get, invite, freeze and unfreeze, change association, unbind,
//! real-name verification, manager assignment and budget (DOMAIN.md "Customer").

use super::{Page, text};
use crate::api::approvals::{ApprovalRequestExt, act, approval_request, home_currency};
use crate::api::extract::{Body, Params, Path};
use crate::auth::{Access, Caller, Principal};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{
    ApprovalKind, Association, Customer, CustomerId, CustomerType, FreezeState, PartnerKind, RealNameStatus, Role,
};
use pchost_extensions::actions::Action;
use pchost_extensions::views::CustomerView;
use pchost_runtime::model::{self, ActionDetail};
use pchost_store::keys::KeyPrincipal;
use pchost_store::partners::{CustomerFilter, InvitationChannel, NewCustomer};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Registering (reporting) a customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerRequest {
    /// Account name (1 to 64 characters).
    pub account_name: String,
    /// `resale` or `referral`.
    #[schema(value_type = String)]
    pub association: Association,
    /// `individual` or `enterprise`.
    #[schema(value_type = String)]
    pub customer_type: CustomerType,
    /// ISO country code.
    pub country: String,
    /// A phone number to verify (rule 25): send `verification_code` got from
    /// `POST /v1/verification-codes` for it.
    #[serde(default)]
    pub phone: Option<String>,
    /// The code sent to `phone`.
    #[serde(default)]
    pub verification_code: Option<String>,
    /// For the operator: the partner the customer belongs to.
    #[serde(default)]
    pub partner_id: Option<i64>,
}

/// Registers a customer of the caller's partner (rule 1: before it is invited). A customer
/// manager or salesperson who registers one is assigned to it.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = NewCustomerRequest,
    responses((status = 201, body = CustomerView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<NewCustomerRequest>,
) -> Result<(StatusCode, Json<CustomerView>), AppError> {
    caller.need("customers", Access::Write)?;
    caller.not_customer()?;
    let Body(request) = payload;
    let partner_id = match caller.partner() {
        Some(own) if request.partner_id.is_some_and(|p| p != own.id) => {
            return Err(AppError::refused(
                ErrorCode::OutOfScope,
                "staff register customers of their own partner only",
            ));
        }
        Some(own) => own.id,
        None => request
            .partner_id
            .ok_or_else(|| AppError::field("partner_id", "the operator names the partner"))?,
    };
    let partner = state
        .store
        .partner(partner_id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Partner, partner_id))?;
    if partner.kind == PartnerKind::Seller {
        return Err(AppError::refused(
            ErrorCode::RoleNotPermitted,
            "a marketplace seller has no customers",
        ));
    }
    // A customer manager or salesperson who registers a customer manages it (rule 16).
    let manager = match &caller.principal {
        Principal::Staff { staff, .. } if matches!(staff.role, Role::CustomerManager | Role::Salesperson) => {
            Some(staff.id)
        }
        _ => None,
    };
    let new = NewCustomer {
        partner: partner.id,
        account_name: text("account_name", &request.account_name, 64)?,
        association: request.association,
        customer_type: request.customer_type,
        country: text("country", &request.country, 8)?,
        manager,
    };
    let now = Utc::now();
    let customer = match (&request.phone, &request.verification_code) {
        (Some(phone), Some(code)) => state.store.create_customer_with_phone(&new, phone, code, now).await?,
        (Some(_), None) => {
            return Err(AppError::field(
                "verification_code",
                "a phone number needs its verification code (rule 25)",
            ));
        }
        (None, Some(_)) => return Err(AppError::field("phone", "a verification code needs its phone number")),
        (None, None) => state.store.create_customer(&new, now).await?,
    };
    tracing::info!(customer = customer.id, partner = partner.id, by = %caller.label(), "customer registered");
    Ok((StatusCode::CREATED, Json(customer.into())))
}

/// A phone to send a verification code to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    /// The phone number.
    pub phone: String,
}

/// A code on its way to a phone.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationCode {
    /// The phone.
    pub phone: String,
    /// When the code stops being accepted (10 minutes).
    #[schema(value_type = String)]
    pub expires_at: chrono::DateTime<Utc>,
    /// The code itself, on a `--demo` server only: elsewhere it goes to the phone alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Sends a verification code to a phone number for the caller's partner (rule 25): valid 10
/// minutes, five wrong tries, once a minute per phone. The code goes to the phone through
/// the host's sender, not into the answer (but on a `--demo` server).
#[utoipa::path(post, path = "/v1/verification-codes", tag = "customers", request_body = VerificationRequest,
    responses((status = 201, body = VerificationCode), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn verification_code(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<VerificationRequest>,
) -> Result<(StatusCode, Json<VerificationCode>), AppError> {
    caller.need("customers", Access::Write)?;
    let (_, partner) = caller.staff()?;
    let Body(request) = payload;
    let sent = state
        .store
        .send_verification_code(partner.id, &request.phone, Utc::now())
        .await?;
    if let Err(e) = state.codes.send(&request.phone, &sent.code) {
        tracing::warn!(error = %format!("{e:#}"), phone = %crate::sms::masked(&request.phone), "sending a verification code failed");
    }
    Ok((
        StatusCode::CREATED,
        Json(VerificationCode {
            phone: request.phone,
            expires_at: sent.expires_at,
            code: state.reveal_codes.then_some(sent.code),
        }),
    ))
}

/// Customer list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// `resale` or `referral`.
    #[param(value_type = Option<String>)]
    pub association: Option<Association>,
    /// Freeze state.
    #[param(value_type = Option<String>)]
    pub freeze: Option<FreezeState>,
    /// Real-name status.
    #[param(value_type = Option<String>)]
    pub real_name: Option<RealNameStatus>,
    /// For the operator: one partner's customers.
    pub partner_id: Option<i64>,
    /// Ids above this one.
    #[serde(default)]
    pub after: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Lists the customers the caller sees (rule 16), by id.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = Vec<CustomerView>), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<CustomerQuery>,
) -> Result<Json<Vec<CustomerView>>, AppError> {
    caller.need("customers", Access::Read)?;
    let Params(query) = query;
    let limit = Page {
        after: query.after,
        limit: query.limit,
    }
    .limit()?;
    let mut filter = CustomerFilter {
        association: query.association,
        freeze: query.freeze,
        real_name: query.real_name,
        ..CustomerFilter::default()
    };
    match &caller.principal {
        Principal::Operator => filter.partners = query.partner_id.into_iter().collect(),
        Principal::Customer(_) => {
            return Err(AppError::refused(
                ErrorCode::RoleNotPermitted,
                "a customer does not list customers",
            ));
        }
        Principal::Staff { staff, partner, .. } => {
            if query.partner_id.is_some() {
                return Err(AppError::field("partner_id", "only the operator filters by partner"));
            }
            filter.partners = vec![partner.id];
            match staff.role {
                Role::PartnerAdmin if partner.kind == PartnerKind::Distributor => {
                    filter.partners.extend(state.store.resellers_of(partner.id).await?);
                }
                _ => filter.managers = caller.managers_seen(),
            }
            if partner.kind == PartnerKind::Seller {
                return Ok(Json(Vec::new()));
            }
        }
    }
    let customers = state.store.find_customers(&filter, query.after, limit).await?;
    Ok(Json(customers.into_iter().map(Into::into).collect()))
}

/// Gets a customer the caller sees.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
) -> Result<Json<CustomerView>, AppError> {
    caller.need("customers", Access::Read)?;
    Ok(Json(caller.customer(&state, id).await?.into()))
}

/// How to invite.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// `online` (a link valid 7 days) or `offline` (a link or QR code that never expires).
    pub channel: String,
}

/// An invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    /// The token the customer accepts with `POST /v1/invitations/accept`.
    pub token: String,
    /// The customer.
    pub customer_id: CustomerId,
}

/// Invites a registered customer (rule 1).
#[utoipa::path(post, path = "/v1/customers/{id}/invitations", tag = "customers", params(("id" = i64, Path)), request_body = InviteRequest,
    responses((status = 201, body = Invitation), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<InviteRequest>,
) -> Result<(StatusCode, Json<Invitation>), AppError> {
    caller.need("customers", Access::Write)?;
    let (_, partner) = caller.staff()?;
    let partner = partner.id;
    let Body(request) = payload;
    let channel = match request.channel.as_str() {
        "online" => InvitationChannel::Online,
        "offline" => InvitationChannel::Offline,
        _ => return Err(AppError::field("channel", "`online` or `offline`")),
    };
    let customer = caller.customer(&state, id).await?;
    let token = state
        .store
        .invite_customer(partner, customer.id, channel, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(Invitation { token, customer_id: id })))
}

/// Accepting an invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The invitation token.
    pub token: String,
}

/// The accepted association and the customer's first API key (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its API key: keep it, it is not shown again.
    pub api_key: String,
}

/// Accepts an invitation: the token is the credential, so no API key is needed; rate-limited
/// per client address.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "customers", request_body = AcceptRequest,
    responses((status = 201, body = Accepted), (status = "4XX", body = crate::error::ErrorBody)))]
pub async fn accept(
    State(state): State<AppState>,
    client: crate::state::ClientAddr,
    payload: Body<AcceptRequest>,
) -> Result<(StatusCode, Json<Accepted>), AppError> {
    state.limiter.check(&format!("addr:{}", client.0))?;
    let Body(request) = payload;
    if request.token.is_empty() || request.token.len() > 128 {
        return Err(AppError::field("token", "1 to 128 characters"));
    }
    let customer_id = state.store.accept_invitation(&request.token, Utc::now()).await?;
    let (_, api_key) = crate::auth::issue_key(
        &state,
        "invitation",
        KeyPrincipal::Customer(customer_id),
        Vec::new(),
        None,
        crate::auth::Issuer::First(&format!("customer:{customer_id}")),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Accepted { customer_id, api_key })))
}

/// A freeze state to set or lift.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// `account-frozen` or `account-and-resources-frozen`.
    #[schema(value_type = String)]
    pub state: FreezeState,
}

/// Freezes a customer (partner admin).
#[utoipa::path(post, path = "/v1/customers/{id}/freeze", tag = "customers", params(("id" = i64, Path)), request_body = FreezeRequest,
    responses((status = 200, body = CustomerView), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn freeze(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<FreezeRequest>,
) -> Result<Response, AppError> {
    caller.need("customers", Access::Write)?;
    admin_or_operator(&caller)?;
    let Body(request) = payload;
    let customer = caller.customer(&state, id).await?;
    let approval = gated(
        &caller,
        ApprovalKind::Freeze,
        &customer,
        ActionDetail::Freeze { freeze: request.state },
    );
    let action = Action::Freeze {
        customer: id,
        state: request.state,
    };
    act(&state, &caller, approval, action, StatusCode::OK).await
}

/// Unfreezes a customer; the request names the freeze it lifts (rule 18). Asks the approval
/// rules (`customer-unfreeze`) first.
#[utoipa::path(post, path = "/v1/customers/{id}/unfreeze", tag = "customers", params(("id" = i64, Path)), request_body = FreezeRequest,
    responses((status = 200, body = CustomerView), (status = 202, description = "escalated: an approval task holds it"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn unfreeze(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<FreezeRequest>,
) -> Result<Response, AppError> {
    caller.need("customers", Access::Write)?;
    admin_or_operator(&caller)?;
    let Body(request) = payload;
    let customer = caller.customer(&state, id).await?;
    if customer.freeze != request.state {
        return Err(AppError::refused(
            ErrorCode::FreezeTypeMismatch,
            format!("customer {id} is {}, not {} (rule 18)", customer.freeze, request.state),
        ));
    }
    let approval = approval_request(
        &caller,
        ApprovalKind::CustomerUnfreeze,
        customer.partner,
        Some(&customer),
        crate::api::approvals::home_currency(),
    );
    let action = Action::CustomerUnfreeze {
        customer: id,
        state: request.state,
    };
    act(&state, &caller, approval, action, StatusCode::OK).await
}

/// A new association type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssociationRequest {
    /// `resale` or `referral`.
    #[schema(value_type = String)]
    pub association: Association,
}

/// Changes a customer's association type (rule 17: partner admin only).
#[utoipa::path(post, path = "/v1/customers/{id}/association", tag = "customers", params(("id" = i64, Path)), request_body = AssociationRequest,
    responses((status = 200, body = CustomerView), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn change_association(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<AssociationRequest>,
) -> Result<Response, AppError> {
    caller.need("customers", Access::Write)?;
    caller.partner_admin()?;
    let Body(request) = payload;
    let customer = caller.customer(&state, id).await?;
    let (staff, _) = caller.staff()?;
    let detail = ActionDetail::AssociationChange {
        association: request.association,
    };
    let approval = gated(&caller, ApprovalKind::AssociationChange, &customer, detail);
    let action = Action::AssociationChange {
        customer: id,
        association: request.association,
        staff: staff.clone(),
    };
    act(&state, &caller, approval, action, StatusCode::OK).await
}

/// Unbinds a customer from its partner (rule 17: partner admin only, once per 3 months, no
/// order awaiting partner payment).
#[utoipa::path(post, path = "/v1/customers/{id}/unbind", tag = "customers", params(("id" = i64, Path)),
    responses((status = 204), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn unbind(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
) -> Result<Response, AppError> {
    caller.need("customers", Access::Write)?;
    caller.partner_admin()?;
    let customer = caller.customer(&state, id).await?;
    let (staff, _) = caller.staff()?;
    let approval = gated(&caller, ApprovalKind::Unbind, &customer, ActionDetail::Unbind);
    let action = Action::Unbind {
        customer: id,
        staff: staff.clone(),
    };
    act(&state, &caller, approval, action, StatusCode::NO_CONTENT).await
}

/// A real-name submission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RealNameRequest {
    /// `individual` or `enterprise`.
    #[schema(value_type = String)]
    pub customer_type: CustomerType,
}

/// Submits real-name verification (the customer itself or staff who see it).
#[utoipa::path(post, path = "/v1/customers/{id}/real-name", tag = "customers", params(("id" = i64, Path)), request_body = RealNameRequest,
    responses((status = 200, body = CustomerView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn real_name(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<RealNameRequest>,
) -> Result<Json<CustomerView>, AppError> {
    caller.need("customers", Access::Write)?;
    let Body(request) = payload;
    caller.customer(&state, id).await?;
    state.store.submit_real_name(id, request.customer_type).await?;
    reread(&state, id).await
}

/// A review result.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RealNameResult {
    /// Whether the verification passed.
    pub verified: bool,
}

/// Records the result of a real-name review (the operator reviews).
#[utoipa::path(post, path = "/v1/customers/{id}/real-name/result", tag = "customers", params(("id" = i64, Path)), request_body = RealNameResult,
    responses((status = 200, body = CustomerView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn real_name_result(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<RealNameResult>,
) -> Result<Json<CustomerView>, AppError> {
    caller.need("customers", Access::Write)?;
    caller.operator()?;
    let Body(request) = payload;
    caller.customer(&state, id).await?;
    state.store.record_real_name_result(id, request.verified).await?;
    reread(&state, id).await
}

/// A manager to assign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagerRequest {
    /// Staff id of the partner.
    pub manager_id: i64,
}

/// Assigns a customer's manager (partner admin, or a supervisor within its team).
#[utoipa::path(post, path = "/v1/customers/{id}/manager", tag = "customers", params(("id" = i64, Path)), request_body = ManagerRequest,
    responses((status = 200, body = CustomerView), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn assign_manager(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<ManagerRequest>,
) -> Result<Json<CustomerView>, AppError> {
    caller.need("customers", Access::Write)?;
    let (staff, _) = caller.staff()?;
    if !matches!(staff.role, Role::PartnerAdmin | Role::Supervisor) {
        return Err(AppError::refused(
            ErrorCode::RoleNotPermitted,
            "only a partner admin or a supervisor assigns managers",
        ));
    }
    let Body(request) = payload;
    caller.customer(&state, id).await?;
    state.store.assign_manager(id, request.manager_id, staff).await?;
    reread(&state, id).await
}

/// A budget.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    /// The budget, a decimal string.
    #[serde(deserialize_with = "super::exact_decimal")]
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// Sets a resale customer's budget, which lifts the freeze of its association (rule 18).
#[utoipa::path(post, path = "/v1/customers/{id}/budget", tag = "customers", params(("id" = i64, Path)), request_body = BudgetRequest,
    responses((status = 200, body = CustomerView), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CustomerId>,
    payload: Body<BudgetRequest>,
) -> Result<Response, AppError> {
    caller.need("customers", Access::Write)?;
    caller.partner_admin()?;
    let Body(request) = payload;
    let amount = super::money("amount", request.amount)?;
    let customer = caller.customer(&state, id).await?;
    let approval = gated(
        &caller,
        ApprovalKind::Budget,
        &customer,
        ActionDetail::Budget { amount },
    );
    act(
        &state,
        &caller,
        approval,
        Action::Budget { customer: id, amount },
        StatusCode::OK,
    )
    .await
}

/// The approval request of a gated action on `customer`, described in full for the rules.
fn gated(caller: &Caller, kind: ApprovalKind, customer: &Customer, detail: ActionDetail) -> model::ApprovalRequest {
    approval_request(caller, kind, customer.partner, Some(customer), home_currency()).with_detail(detail)
}

fn admin_or_operator(caller: &Caller) -> Result<(), AppError> {
    if caller.is_operator() {
        Ok(())
    } else {
        caller.partner_admin().map(|_| ())
    }
}

async fn reread(state: &AppState, id: CustomerId) -> Result<Json<CustomerView>, AppError> {
    let customer = state
        .store
        .customer(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Customer, id))?;
    Ok(Json(customer.into()))
}
