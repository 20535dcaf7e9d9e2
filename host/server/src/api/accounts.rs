//! Accounts and money between parties: balances, ledgers, allocations to resale customers and
//! resellers and their reclaims (rules 12, 14), and operator top-ups.

use super::{idempotency_key, money};
use crate::api::approvals::{ApprovalRequestExt, act, approval_request};
use crate::api::extract::{Body, Params, Path};
use crate::auth::{Access, Caller, Principal};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{ApprovalKind, Association, Currency, PartnerKind, Role};
use pchost_extensions::actions::Action;
use pchost_runtime::model::{ActionDetail, Counterpart, Reclaimed};
use pchost_store::accounts::{Account, AccountOwner, LedgerEntry};
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Whose balances.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    /// A customer's accounts (resale customers only: rule 12).
    pub customer_id: Option<i64>,
    /// For the operator or a distributor's admin: a partner's accounts.
    pub partner_id: Option<i64>,
}

/// Lists balances: a partner admin its partner's (or, for a distributor, a reseller's), a
/// customer its own, staff a resale customer's they see; the operator anyone's.
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", params(AccountQuery),
    responses((status = 200, description = "the accounts, with balance, credit limit and ring-fenced amount as decimal strings"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<AccountQuery>,
) -> Result<Json<Vec<Account>>, AppError> {
    caller.need("accounts", Access::Read)?;
    let Params(query) = query;
    let owner = match (query.customer_id, query.partner_id) {
        (Some(_), Some(_)) => return Err(AppError::field("customer_id", "name a customer or a partner, not both")),
        (Some(id), None) => {
            let customer = caller.customer(&state, id).await?;
            if customer.association != Association::Resale {
                return Err(AppError::refused(
                    ErrorCode::ReferralCustomer,
                    format!("customer {id} is a referral customer: it has no balance with its partner (rule 12)"),
                ));
            }
            AccountOwner::Customer(id)
        }
        (None, partner) => match &caller.principal {
            Principal::Customer(c) => {
                if partner.is_some() {
                    return Err(AppError::refused(
                        ErrorCode::RoleNotPermitted,
                        "a customer sees its own accounts only",
                    ));
                }
                if c.association != Association::Resale {
                    return Err(AppError::refused(
                        ErrorCode::ReferralCustomer,
                        format!(
                            "customer {} is a referral customer: it has no balance with its partner (rule 12)",
                            c.id
                        ),
                    ));
                }
                AccountOwner::Customer(c.id)
            }
            _ => AccountOwner::Partner(partner_in_scope(&state, &caller, partner).await?),
        },
    };
    Ok(Json(state.store.accounts_of(owner).await?))
}

/// An account's ledger, oldest first.
#[utoipa::path(get, path = "/v1/accounts/{id}/ledger", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, description = "ledger entries: amount, reason, order, actor and on-behalf-of (rule 21)"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn ledger(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<LedgerEntry>>, AppError> {
    caller.need("accounts", Access::Read)?;
    let account = state
        .store
        .account_by_id(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Account, id))?;
    match account.owner {
        AccountOwner::Customer(customer) => {
            caller.customer(&state, customer).await?;
        }
        AccountOwner::Partner(partner) => {
            if matches!(caller.principal, Principal::Customer(_)) {
                return Err(AppError::refused(
                    ErrorCode::OutOfScope,
                    format!("account {id} is not the customer's"),
                ));
            }
            partner_in_scope(&state, &caller, Some(partner)).await?;
        }
    }
    Ok(Json(state.store.ledger(id).await?))
}

/// An amount to move.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// Currency.
    #[schema(value_type = String, example = "CNY")]
    pub currency: Currency,
    /// Amount, a decimal string with at most 2 places.
    #[serde(deserialize_with = "super::exact_decimal")]
    #[schema(value_type = String, example = "1000.00")]
    pub amount: Decimal,
}

/// Allocates balance from the partner to a resale customer (rules 12, 14), after the
/// approval rules (`balance-allocation`) approve. Partner admin only. Needs an
/// `Idempotency-Key`: a retry allocates once.
#[utoipa::path(post, path = "/v1/customers/{id}/allocations", tag = "accounts", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)), request_body = Transfer,
    responses((status = 204), (status = 202, description = "escalated: an approval task holds it"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn allocate_to_customer(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<i64>,
    payload: Body<Transfer>,
) -> Result<Response, AppError> {
    caller.need("accounts", Access::Write)?;
    let partner = caller.partner_admin()?.id;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let amount = money("amount", request.amount)?;
    let customer = caller.customer(&state, id).await?;
    let approval = approval_request(
        &caller,
        ApprovalKind::BalanceAllocation,
        partner,
        Some(&customer),
        request.currency,
    )
    .with_amount(Some(amount));
    let action = Action::Allocation {
        partner,
        customer: Some(id),
        reseller: None,
        currency: request.currency,
        amount,
        actor: caller.actor(Some(id)),
        idempotency_key: key,
    };
    act(&state, &caller, approval, action, StatusCode::NO_CONTENT).await
}

/// Reclaims balance from a resale customer back to the partner. Partner admin only. Needs an
/// `Idempotency-Key`: a retry reclaims once.
#[utoipa::path(post, path = "/v1/customers/{id}/reclaims", tag = "accounts", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)), request_body = Transfer,
    responses((status = 204), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn reclaim_from_customer(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<i64>,
    payload: Body<Transfer>,
) -> Result<Response, AppError> {
    caller.need("accounts", Access::Write)?;
    let partner = caller.partner_admin()?.id;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let amount = money("amount", request.amount)?;
    let customer = caller.customer(&state, id).await?;
    let detail = ActionDetail::Reclaim(Reclaimed::Balance {
        counterpart: Counterpart::Customer(id),
        amount,
    });
    let approval = approval_request(
        &caller,
        ApprovalKind::Reclaim,
        partner,
        Some(&customer),
        request.currency,
    )
    .with_amount(Some(amount))
    .with_detail(detail);
    let action = Action::BalanceReclaim {
        partner,
        customer: Some(id),
        reseller: None,
        currency: request.currency,
        amount,
        actor: caller.actor(Some(id)),
        idempotency_key: key,
    };
    act(&state, &caller, approval, action, StatusCode::NO_CONTENT).await
}

/// Allocates funds from a distributor to one of its resellers (rule 14). Distributor admin.
/// Needs an `Idempotency-Key`: a retry allocates once.
#[utoipa::path(post, path = "/v1/resellers/{id}/allocations", tag = "resellers", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)), request_body = Transfer,
    responses((status = 204), (status = 202, description = "escalated: an approval task holds it"),
        (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn allocate_to_reseller(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<i64>,
    payload: Body<Transfer>,
) -> Result<Response, AppError> {
    caller.need("resellers", Access::Write)?;
    let distributor = caller.admin_of_kind(&[PartnerKind::Distributor])?.id;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let amount = money("amount", request.amount)?;
    let approval = approval_request(
        &caller,
        ApprovalKind::BalanceAllocation,
        distributor,
        None,
        request.currency,
    )
    .with_reseller(Some(id))
    .with_amount(Some(amount));
    let action = Action::Allocation {
        partner: distributor,
        customer: None,
        reseller: Some(id),
        currency: request.currency,
        amount,
        actor: caller.actor(None),
        idempotency_key: key,
    };
    act(&state, &caller, approval, action, StatusCode::NO_CONTENT).await
}

/// Reclaims funds from a reseller, up to its balance (rule 14). Distributor admin. Needs an
/// `Idempotency-Key`: a retry reclaims once.
#[utoipa::path(post, path = "/v1/resellers/{id}/reclaims", tag = "resellers", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)), request_body = Transfer,
    responses((status = 204), (status = 202, description = "escalated: an approval task holds it"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn reclaim_from_reseller(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<i64>,
    payload: Body<Transfer>,
) -> Result<Response, AppError> {
    caller.need("resellers", Access::Write)?;
    let distributor = caller.admin_of_kind(&[PartnerKind::Distributor])?.id;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let amount = money("amount", request.amount)?;
    let detail = ActionDetail::Reclaim(Reclaimed::Balance {
        counterpart: Counterpart::Reseller(id),
        amount,
    });
    let approval = approval_request(&caller, ApprovalKind::Reclaim, distributor, None, request.currency)
        .with_reseller(Some(id))
        .with_amount(Some(amount))
        .with_detail(detail);
    let action = Action::BalanceReclaim {
        partner: distributor,
        customer: None,
        reseller: Some(id),
        currency: request.currency,
        amount,
        actor: caller.actor(None),
        idempotency_key: key,
    };
    act(&state, &caller, approval, action, StatusCode::NO_CONTENT).await
}

/// Money entering a partner's cash account from outside (a bank transfer the platform
/// received). Operator only. Needs an `Idempotency-Key`: a retry answers the account as the
/// first top-up left it and credits nothing more.
#[utoipa::path(post, path = "/v1/partners/{id}/top-ups", tag = "accounts", params(("id" = i64, Path), ("Idempotency-Key" = String, Header)), request_body = Transfer,
    responses((status = 200, description = "the cash account after the top-up"), (status = "4XX", body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn top_up(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<i64>,
    payload: Body<Transfer>,
) -> Result<Json<Account>, AppError> {
    caller.need("accounts", Access::Write)?;
    caller.operator()?;
    let key = idempotency_key(&headers)?;
    let Body(request) = payload;
    let amount = money("amount", request.amount)?;
    state
        .store
        .partner(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::Partner, id))?;
    let owner = AccountOwner::Partner(id);
    let kind = pchost_store::accounts::AccountKind::Cash;
    let account = match state.store.account(owner, kind, request.currency).await? {
        Some(account) => account,
        None => {
            state
                .store
                .open_account(owner, kind, request.currency, Decimal::ZERO)
                .await?
        }
    };
    let account = state
        .store
        .top_up(account.id, amount, &caller.actor(None), &key, Utc::now())
        .await?;
    Ok(Json(account))
}

/// The partner whose accounts the caller may see: its own; for a distributor's admin also a
/// reseller's; for the operator any.
async fn partner_in_scope(state: &AppState, caller: &Caller, named: Option<i64>) -> Result<i64, AppError> {
    if let (Principal::Staff { staff, partner, .. }, Some(id)) = (&caller.principal, named)
        && staff.role == Role::PartnerAdmin
        && partner.kind == PartnerKind::Distributor
        && id != partner.id
    {
        let reseller = state
            .store
            .partner(id)
            .await?
            .ok_or_else(|| AppError::not_found(Entity::Partner, id))?;
        if reseller.distributor == Some(partner.id) {
            return Ok(id);
        }
    }
    let id = caller.partner_or(named)?;
    if let Principal::Staff { staff, .. } = &caller.principal
        && staff.role != Role::PartnerAdmin
    {
        return Err(AppError::refused(
            ErrorCode::RoleNotPermitted,
            "only a partner admin sees the partner's accounts",
        ));
    }
    Ok(id)
}
