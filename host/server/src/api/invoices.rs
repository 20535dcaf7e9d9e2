//! Invoicing: the invoice title of an account (rule 4), invoice requests (rules 2, 3, 5) and
//! their list.

use crate::api::extract::{Body, Params, Path};
use crate::auth::{Access, Caller};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use pchost_domain::errors::Entity;
use pchost_domain::{Association, Currency, InvoiceInfo, InvoiceKind, InvoiceMedium, InvoiceRequest, TitleType};
use pchost_store::invoicing::{InvoiceScope, Issuer, NewInvoiceRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An invoice title.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceInfoBody {
    /// `enterprise` or `individual`.
    #[schema(value_type = String)]
    pub title_type: TitleType,
    /// The title (1 to 128 characters).
    pub title: String,
    /// Tax id (enterprise titles).
    #[serde(default)]
    pub tax_id: Option<String>,
}

/// Gets a customer's invoice title.
#[utoipa::path(get, path = "/v1/customers/{id}/invoice-info", tag = "invoices", params(("id" = i64, Path)),
    responses((status = 200, body = InvoiceInfoBody), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn get_info(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<InvoiceInfoBody>, AppError> {
    caller.need("invoices", Access::Read)?;
    caller.customer(&state, id).await?;
    let info = state
        .store
        .invoice_info(id)
        .await?
        .ok_or_else(|| AppError::not_found(Entity::InvoiceInfo, id))?;
    Ok(Json(InvoiceInfoBody {
        title_type: info.title_type,
        title: info.title,
        tax_id: info.tax_id,
    }))
}

/// Sets a customer's one invoice title (rule 4), replacing the previous one.
#[utoipa::path(put, path = "/v1/customers/{id}/invoice-info", tag = "invoices", params(("id" = i64, Path)), request_body = InvoiceInfoBody,
    responses((status = 200, body = InvoiceInfoBody), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn put_info(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    payload: Body<InvoiceInfoBody>,
) -> Result<Json<InvoiceInfoBody>, AppError> {
    caller.need("invoices", Access::Write)?;
    let Body(body) = payload;
    caller.customer(&state, id).await?;
    let title = super::text("title", &body.title, 128)?;
    let tax_id = body
        .tax_id
        .as_deref()
        .map(|t| super::text("tax_id", t, 32))
        .transpose()?;
    state
        .store
        .set_invoice_info(&InvoiceInfo {
            customer: id,
            title_type: body.title_type,
            title: title.clone(),
            tax_id: tax_id.clone(),
        })
        .await?;
    Ok(Json(InvoiceInfoBody {
        title_type: body.title_type,
        title,
        tax_id,
    }))
}

/// An invoice request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRequestBody {
    /// The customer invoiced.
    pub customer_id: i64,
    /// `{"basis":"order","order":9001}` or `{"basis":"billing-cycle","year":2026,"month":10}`.
    #[schema(value_type = Object)]
    pub scope: InvoiceScope,
    /// `vat-general` or `vat-special`.
    #[schema(value_type = String)]
    pub kind: InvoiceKind,
    /// `paper`, `electronic` or `digital`.
    #[schema(value_type = String)]
    pub medium: InvoiceMedium,
    /// Currency.
    #[schema(value_type = String)]
    pub currency: Currency,
}

/// The request made.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceRequested {
    /// Its id.
    pub id: i64,
    /// The amount invoiced.
    #[schema(value_type = String)]
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: rust_decimal::Decimal,
    /// `partner` (resale customers) or `platform` (referral customers): rule 5.
    pub issuer: String,
}

/// Requests an invoice. The issuer follows from the association (rule 5): the partner for a
/// resale customer, the platform for a referral one.
#[utoipa::path(post, path = "/v1/invoices", tag = "invoices", request_body = InvoiceRequestBody,
    responses((status = 201, body = InvoiceRequested), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    payload: Body<InvoiceRequestBody>,
) -> Result<(StatusCode, Json<InvoiceRequested>), AppError> {
    caller.need("invoices", Access::Write)?;
    let Body(body) = payload;
    let customer = caller.customer(&state, body.customer_id).await?;
    let issuer = match customer.association {
        Association::Resale => Issuer::Partner(customer.partner),
        Association::Referral => Issuer::Platform,
    };
    let (id, amount) = state
        .store
        .request_invoice(
            &NewInvoiceRequest {
                customer: customer.id,
                issuer,
                scope: body.scope,
                kind: body.kind,
                medium: body.medium,
                currency: body.currency,
            },
            Utc::now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvoiceRequested {
            id,
            amount,
            issuer: match issuer {
                Issuer::Partner(_) => "partner".into(),
                Issuer::Platform => "platform".into(),
            },
        }),
    ))
}

/// Whose invoice requests.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InvoiceQuery {
    /// The customer.
    pub customer_id: i64,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Lists a customer's invoice requests, newest first.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", params(InvoiceQuery),
    responses((status = 200, description = "invoice requests"), (status = "4XX", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Params<InvoiceQuery>,
) -> Result<Json<Vec<InvoiceRequest>>, AppError> {
    caller.need("invoices", Access::Read)?;
    let Params(query) = query;
    let limit = super::Page {
        after: 0,
        limit: query.limit,
    }
    .limit()?;
    caller.customer(&state, query.customer_id).await?;
    Ok(Json(state.store.invoice_requests(query.customer_id, limit).await?))
}
