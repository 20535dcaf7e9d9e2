//! The one JSON error shape of the API: a stable code, a human message and, where it applies,
//! the field at fault. Codes are part of the API (see docs/errors.md): never reuse one.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pchost_runtime::{InvokeError, PluginFailure};
use serde::Serialize;

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body is not the JSON this endpoint takes.
    #[error("{0}")]
    InvalidJson(String),
    /// A field has a bad value.
    #[error("{field}: {message}")]
    InvalidField {
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The body is larger than the endpoint accepts.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// Something named in the request does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// `customer-not-found`, `product-not-found`, ...
        code: &'static str,
        /// What was looked for.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The request is well-formed but breaks a business rule.
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Why.
        message: String,
        /// Field at fault.
        field: Option<String>,
    },
    /// A plugin failed; the action was refused (fail-closed).
    #[error(transparent)]
    PluginFailed(PluginFailure),
    /// Anything else: logged in full, shown to nobody.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin: Option<&'a PluginFailure>,
}

impl AppError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidJson(_) => "invalid-json",
            AppError::InvalidField { .. } => "invalid-field",
            AppError::PayloadTooLarge(_) => "payload-too-large",
            AppError::NotFound { code, .. } => code,
            AppError::Unprocessable { code, .. } => code,
            AppError::PluginFailed(_) => "plugin-failed",
            AppError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::InvalidJson(_) | AppError::InvalidField { .. } => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PluginFailed(_) => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A field with a bad value.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let field = match &self {
            AppError::InvalidField { field, .. } => Some(field.as_str()),
            AppError::Unprocessable { field, .. } => field.as_deref(),
            _ => None,
        };
        let plugin = match &self {
            AppError::PluginFailed(failure) => Some(failure),
            _ => None,
        };
        let body = ErrorBody {
            code: self.code(),
            message: self.to_string(),
            field,
            plugin,
        };
        (self.status(), Json(body)).into_response()
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                AppError::PayloadTooLarge(crate::app::MAX_BODY_BYTES)
            }
            other => AppError::InvalidJson(other.body_text()),
        }
    }
}

impl From<InvokeError> for AppError {
    fn from(error: InvokeError) -> Self {
        match error {
            InvokeError::Plugin(failure) => AppError::PluginFailed(failure),
            InvokeError::Input(pchost_runtime::model::InputError::Invalid { field, message }) => {
                AppError::InvalidField { field, message }
            }
            InvokeError::Input(e @ pchost_runtime::model::InputError::TooLarge { .. }) => AppError::Unprocessable {
                code: "input-too-large",
                message: e.to_string(),
                field: None,
            },
            other => AppError::Internal(anyhow::anyhow!(other)),
        }
    }
}

impl From<pchost_domain::store::StoreError> for AppError {
    fn from(error: pchost_domain::store::StoreError) -> Self {
        AppError::Internal(anyhow::anyhow!(error))
    }
}
