//! The request extractors of the API. They answer a body or a query string that does not
//! parse with the API's error shape (`invalid-json`, `invalid-field`, `payload-too-large`)
//! instead of axum's plain-text rejection, so handlers take the value and nothing else.

use crate::error::AppError;
use crate::state::MAX_BODY_BYTES;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON request body.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let axum::Json(value) =
            axum::Json::<T>::from_request(request, state)
                .await
                .map_err(|rejection| match rejection {
                    JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        AppError::payload_too_large(MAX_BODY_BYTES)
                    }
                    other => AppError::invalid_json(other.body_text()),
                })?;
        Ok(Body(value))
    }
}

/// The query string's parameters.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| AppError::field("query", rejection.body_text()))?;
        Ok(Params(value))
    }
}

/// The path's parameters (`/v1/orders/{id}`): axum's `Path`, refusing an id that does not
/// parse with `invalid-field` naming `path`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| AppError::field("path", rejection.body_text()))?;
        Ok(Path(value))
    }
}
