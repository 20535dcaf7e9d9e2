//! Partners, their staff and resellers: the operator registers partners (each with a first
//! admin and its API key); a distributor invites resellers of its country (rule 15) and lists
//! them; a partner admin adds staff.

use super::{Page, text};
use crate::api::approvals::{ApprovalRequestExt, act, approval_request, home_currency};
use crate::api::extract::{Body, Params, Path};
use crate::auth::{Access, Caller, Issuer, Principal, issue_key};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{ApprovalKind, Partner, PartnerKind, Role, Staff};
use pchost_extensions::actions::Action;
use pchost_store::keys::KeyPrincipal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new partner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartnerRequest {
    /// `solution-provider`, `distributor`, `reseller` or `seller`.
    #[schema(value_type = String)]
    pub kind: PartnerKind,
    /// Name (1 to 128 characters).
    pub name: String,
    /// ISO country code.
    pub country: String,
}

/// A registered partner with its first admin and that admin's API key (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerCreated {
    /// The partner.
    #[schema(value_type = Object)]
    pub partner: Partner,
    /// Its first admin.
    #[schema(value_type = Object)]
    pub admin: Staff,
    /// The admin's API key: keep it, it is not shown again.
    pub api_key: String,
}

/// Registers a partner with a first admin. Operator only.
#[utoipa::path(post, path = "/v1/partners", tag = "partners", request_body = NewPartnerRequest,
    responses((status = 201, body = PartnerCreated), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<NewPartnerRequest>,
) -> Result<(StatusCode, Json<PartnerCreated>), AppError> {
    caller.need("partners", Access::Write)?;
    caller.operator()?;
    let Body(request) = payload;
    let name = text("name", &request.name, 128)?;
    let country = text("country", &request.country, 8)?;
    let partner = state.store.create_partner(request.kind, &name, &country).await?;
    let admin = state.store.create_staff(partner.id, Role::PartnerAdmin, None).await?;
    // Within the operator key's own scopes: `partners:write` alone mints no `*` key.
    let (_, api_key) = issue_key(
        &state,
        "first admin",
        KeyPrincipal::Staff(admin.id),
        Vec::new(),
        None,
        Issuer::Caller(&caller),
    )
    .await?;
    tracing::info!(partner = partner.id, kind = %partner.kind, by = %caller.label(), "partner registered");
    Ok((
        StatusCode::CREATED,
        Json(PartnerCreated {
            partner,
            admin,
            api_key,
        }),
    ))
}

/// Lists partners. Operator only.
#[utoipa::path(get, path = "/v1/partners", tag = "partners", params(Page),
    responses((status = 200, description = "partners by id"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Params<Page>,
) -> Result<Json<Vec<Partner>>, AppError> {
    caller.need("partners", Access::Read)?;
    caller.operator()?;
    let Params(page) = page;
    Ok(Json(state.store.partners_list(page.after, page.limit()?).await?))
}

/// Gets a partner: the operator any, staff their own, a distributor's staff its resellers.
#[utoipa::path(get, path = "/v1/partners/{id}", tag = "partners", params(("id" = i64, Path)),
    responses((status = 200, description = "the partner"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Partner>, AppError> {
    caller.need("partners", Access::Read)?;
    let partner = state
        .store
        .partner(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Partner, id))?;
    let visible = match &caller.principal {
        Principal::Operator => true,
        Principal::Staff { partner: own, .. } => own.id == id || partner.distributor == Some(own.id),
        Principal::Customer(c) => c.partner == id,
    };
    if !visible {
        return Err(AppError::refused(
            ErrorCode::OutOfScope,
            format!("partner {id} is outside what {} may see", caller.label()),
        ));
    }
    Ok(Json(partner))
}

/// Freezes a partner (rule 18): its staff can then read but not act, and its resale customers
/// are frozen with it; a distributor's resellers too. The operator, or a distributor's admin
/// over one of its resellers.
#[utoipa::path(post, path = "/v1/partners/{id}/freeze", tag = "partners", params(("id" = i64, Path)),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn freeze(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    set_frozen(&state, &caller, id, true).await
}

/// Lifts a partner's freeze (and a distributor's resellers'); its customers are unfrozen one
/// by one (`POST /v1/customers/{id}/unfreeze`). The operator, or a distributor's admin over one
/// of its resellers.
#[utoipa::path(post, path = "/v1/partners/{id}/unfreeze", tag = "partners", params(("id" = i64, Path)),
    responses((status = 204), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn unfreeze(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    set_frozen(&state, &caller, id, false).await
}

/// Freezes or lifts partner `id` for a caller that governs it. A frozen distributor's admin
/// cannot lift a freeze: it is a write, refused while frozen.
async fn set_frozen(state: &AppState, caller: &Caller, id: i64, frozen: bool) -> Result<StatusCode, AppError> {
    caller.need("partners", Access::Write)?;
    governing(state, caller, id).await?;
    if frozen {
        state.store.freeze_partner(id).await?;
    } else {
        state.store.unfreeze_partner(id).await?;
    }
    tracing::info!(partner = id, frozen, by = %caller.label(), "partner freeze set");
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses unless the caller governs partner `id`: the operator, or the admin of its
/// distributor.
async fn governing(state: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    if caller.is_operator() {
        state
            .store
            .partner(id)
            .await?
            .ok_or_else(|| AppError::not_found(Entity::Partner, id))?;
        return Ok(());
    }
    let own = caller.partner_admin()?;
    let partner = state.store.partner(id).await?;
    match partner {
        Some(p) if p.distributor == Some(own.id) => Ok(()),
        _ => Err(AppError::refused(
            ErrorCode::OutOfScope,
            format!("partner {id} is not a reseller of {}", own.id),
        )),
    }
}

/// A reseller to bind.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteResellerRequest {
    /// The reseller (registered by the operator).
    pub reseller_id: i64,
}

/// Binds a reseller of the distributor's country that has no distributor yet (rule 15),
/// after the approval rules (`reseller-invitation`) approve. Distributor admin.
#[utoipa::path(post, path = "/v1/resellers", tag = "resellers", request_body = InviteResellerRequest,
    responses((status = 201, description = "the bound reseller"), (status = 202, description = "escalated: an approval task holds it"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn invite_reseller(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<InviteResellerRequest>,
) -> Result<Response, AppError> {
    caller.need("resellers", Access::Write)?;
    let distributor = caller.admin_of_kind(&[PartnerKind::Distributor])?.id;
    let Body(request) = payload;
    let approval = approval_request(
        &caller,
        ApprovalKind::ResellerInvitation,
        distributor,
        None,
        home_currency(),
    )
    .with_reseller(Some(request.reseller_id));
    let action = Action::ResellerInvitation {
        distributor,
        reseller: request.reseller_id,
    };
    act(&state, &caller, approval, action, StatusCode::CREATED).await
}

/// Lists the distributor's resellers. Distributor staff.
#[utoipa::path(get, path = "/v1/resellers", tag = "resellers",
    responses((status = 200, description = "the resellers"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn resellers(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Partner>>, AppError> {
    caller.need("resellers", Access::Read)?;
    let (_, partner) = caller.staff()?;
    if partner.kind != PartnerKind::Distributor {
        return Err(AppError::refused(
            ErrorCode::RoleNotPermitted,
            format!("a {} has no resellers", partner.kind),
        ));
    }
    let mut resellers = Vec::new();
    for id in state.store.resellers_of(partner.id).await? {
        resellers.extend(state.store.partner(id).await?);
    }
    Ok(Json(resellers))
}

/// A new staff member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    /// `partner-admin`, `customer-manager`, `supervisor` or `salesperson`.
    #[schema(value_type = String)]
    pub role: Role,
    /// Its supervisor (a supervisor of the same partner).
    #[serde(default)]
    pub supervisor_id: Option<i64>,
}

/// The member and its API key (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffCreated {
    /// The member.
    #[schema(value_type = Object)]
    pub staff: Staff,
    /// Its API key: keep it, it is not shown again.
    pub api_key: String,
}

/// Adds a staff member to the caller's partner. Partner admin.
#[utoipa::path(post, path = "/v1/staff", tag = "partners", request_body = NewStaffRequest,
    responses((status = 201, body = StaffCreated), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn create_staff(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<NewStaffRequest>,
) -> Result<(StatusCode, Json<StaffCreated>), AppError> {
    caller.need("partners", Access::Write)?;
    let partner = caller.partner_admin()?.id;
    let Body(request) = payload;
    let staff = state
        .store
        .create_staff(partner, request.role, request.supervisor_id)
        .await?;
    // Within the admin key's own scopes: `partners:write` alone mints no `*` key.
    let (_, api_key) = issue_key(
        &state,
        "staff",
        KeyPrincipal::Staff(staff.id),
        Vec::new(),
        None,
        Issuer::Caller(&caller),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(StaffCreated { staff, api_key })))
}
