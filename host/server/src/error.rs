//! The one JSON error shape of the API: a stable code, a human message and, where it applies,
//! the field at fault. Codes are part of the API (see docs/errors.md): never reuse one.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pchost_domain::errors::DomainError;
use pchost_runtime::manifest::ManifestError;
use pchost_runtime::{FailureKind, InstallError, InvokeError, PluginFailure};
use serde::Serialize;
use utoipa::ToSchema;

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
    /// No valid API key: 401.
    #[error("{message}")]
    Unauthenticated {
        /// `missing-api-key` or `invalid-api-key`.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// The caller may not do this: 403.
    #[error("{message}")]
    Forbidden {
        /// `role-not-permitted`, `out-of-scope`, `scope-missing`, `not-owner`.
        code: &'static str,
        /// Why.
        message: String,
    },
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
    /// The request conflicts with the current state: 409.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Why.
        message: String,
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
    /// The caller sent too many requests: 429.
    #[error("rate limit exceeded: retry in {retry_after_secs} s")]
    RateLimited {
        /// `rate-limited` (requests) or `upload-rate-limited` (an owner's uploads).
        code: &'static str,
        /// When a request will be accepted again.
        retry_after_secs: u64,
    },
    /// The service cannot take this now, through no fault of the request: 503.
    #[error("{message}")]
    Unavailable {
        /// Stable code.
        code: &'static str,
        /// Why.
        message: String,
        /// When to try again.
        retry_after_secs: u64,
    },
    /// A plugin failed; the action was refused (fail-closed).
    #[error(transparent)]
    PluginFailed(PluginFailure),
    /// Anything else: logged in full, shown to nobody.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The error body every refusal carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    /// Stable code (docs/errors.md).
    code: &'a str,
    /// Human message.
    message: String,
    /// JSON path of the field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// The failing plugin, for `plugin-failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    plugin: Option<&'a PluginFailure>,
}

impl AppError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidJson(_) => "invalid-json",
            AppError::InvalidField { .. } => "invalid-field",
            AppError::PayloadTooLarge(_) => "payload-too-large",
            AppError::Unauthenticated { code, .. }
            | AppError::Forbidden { code, .. }
            | AppError::NotFound { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Unprocessable { code, .. }
            | AppError::RateLimited { code, .. }
            | AppError::Unavailable { code, .. } => code,
            AppError::PluginFailed(failure) => match failure.kind {
                FailureKind::ConcurrencyLimit { .. } => "plugin-concurrency-limit",
                FailureKind::Capacity(_) => "plugin-capacity",
                _ => "plugin-failed",
            },
            AppError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::InvalidJson(_) | AppError::InvalidField { .. } => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            // Busy, not broken: the owner's share of the pool (only its requests) or the pool.
            AppError::PluginFailed(failure) => match failure.kind {
                FailureKind::ConcurrencyLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
                FailureKind::Capacity(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            },
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

    /// A refusal for who the caller is.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Forbidden {
            code,
            message: message.into(),
        }
    }

    /// A business-rule refusal.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Unprocessable {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A missing entity.
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        let code = match what {
            "customer" => "customer-not-found",
            "partner" => "partner-not-found",
            "order" => "order-not-found",
            "product" => "product-not-found",
            "quote" => "quote-not-found",
            "binding" => "binding-not-found",
            "account" => "account-not-found",
            "api key" => "api-key-not-found",
            "resource" => "resource-not-found",
            "coupon" => "coupon-not-found",
            "staff" => "staff-not-found",
            _ => "not-found",
        };
        AppError::NotFound {
            code,
            what,
            id: id.to_string(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            AppError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            other => tracing::info!(code = other.code(), message = %other, "request refused"),
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
        let mut response = (self.status(), Json(body)).into_response();
        let retry_after_secs = match &self {
            AppError::RateLimited { retry_after_secs, .. } | AppError::Unavailable { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            AppError::PluginFailed(PluginFailure {
                kind: FailureKind::ConcurrencyLimit { .. } | FailureKind::Capacity(_),
                ..
            }) => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
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

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::InvalidField {
            field: "query".into(),
            message: rejection.body_text(),
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
            InvokeError::Input(e @ pchost_runtime::model::InputError::TooLarge { .. }) => {
                AppError::unprocessable("input-too-large", e.to_string())
            }
            other => AppError::Internal(anyhow::anyhow!(other)),
        }
    }
}

impl From<InstallError> for AppError {
    fn from(error: InstallError) -> Self {
        let message = error.to_string();
        match error {
            InstallError::TooLarge { .. } => AppError::Unprocessable {
                code: "component-too-large",
                message,
                field: Some("component".into()),
            },
            InstallError::NotWasm
            | InstallError::CoreModule
            | InstallError::UnsupportedBinary(_)
            | InstallError::Invalid(_) => AppError::Unprocessable {
                code: "invalid-component",
                message,
                field: Some("component".into()),
            },
            InstallError::TooComplex { .. } => AppError::Unprocessable {
                code: "component-too-complex",
                message,
                field: Some("component".into()),
            },
            InstallError::CompileTimeout { .. } => AppError::Unprocessable {
                code: "compile-timeout",
                message,
                field: Some("component".into()),
            },
            InstallError::CompileFailed(_) => AppError::Unprocessable {
                code: "compile-failed",
                message,
                field: Some("component".into()),
            },
            InstallError::CompileBusy { waited_ms } => AppError::Unavailable {
                code: "compile-busy",
                message,
                retry_after_secs: waited_ms.div_ceil(1000).max(1),
            },
            InstallError::MissingGrant { .. } => AppError::unprocessable("missing-grant", message),
            InstallError::UnknownImport(_) => AppError::unprocessable("unknown-import", message),
            InstallError::WrongWorld { .. } => AppError::unprocessable("wrong-world", message),
            InstallError::VersionExists { .. } => AppError::Conflict {
                code: "version-exists",
                message,
            },
            InstallError::Manifest(ManifestError::LimitOutOfRange { .. }) => AppError::Unprocessable {
                code: "limit-above-ceiling",
                message,
                field: Some("manifest.limits".into()),
            },
            InstallError::Manifest(_) => AppError::InvalidField {
                field: "manifest".into(),
                message,
            },
            InstallError::Storage(_) | InstallError::Compiler(_) => AppError::Internal(anyhow::anyhow!(message)),
        }
    }
}

/// Domain refusals that are about the state of things rather than the request: 409.
const CONFLICT_CODES: &[&str] = &[
    "api-key-exists",
    "binding-exists",
    "task-not-pending",
    "quote-already-ordered",
    "no-previous-version",
    "invitation-used",
    "version-in-use",
];

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        let code = error.code();
        let message = error.to_string();
        match error {
            DomainError::Invalid { field, message } => AppError::InvalidField {
                field: field.into(),
                message,
            },
            DomainError::NotFound { what, id } => AppError::NotFound {
                code,
                what,
                id: id.to_string(),
            },
            DomainError::OrderState { .. } | DomainError::OrderExpired(_) | DomainError::IdempotencyKeyReused(_) => {
                AppError::Conflict { code, message }
            }
            DomainError::AmountOutOfRange { field, .. } => AppError::Unprocessable { code, message, field },
            DomainError::Store(e) => AppError::Internal(anyhow::anyhow!(e)),
            DomainError::Refused { code, .. } if CONFLICT_CODES.contains(&code) => AppError::Conflict { code, message },
            _ => AppError::unprocessable(code, message),
        }
    }
}

impl From<pchost_domain::store::StoreError> for AppError {
    fn from(error: pchost_domain::store::StoreError) -> Self {
        AppError::Internal(anyhow::anyhow!(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(error: InstallError) -> (StatusCode, &'static str, Option<String>) {
        let error = AppError::from(error);
        let code = error.code();
        let response = error.into_response();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.status(), code, retry_after)
    }

    #[test]
    fn install_refusals_of_the_precheck_and_the_compiler_have_stable_codes() {
        let unprocessable = |code| (StatusCode::UNPROCESSABLE_ENTITY, code, None);
        assert_eq!(
            answer(InstallError::TooComplex {
                what: "core modules",
                count: 33,
                limit: 32
            }),
            unprocessable("component-too-complex")
        );
        assert_eq!(
            answer(InstallError::CompileTimeout { ceiling_ms: 30_000 }),
            unprocessable("compile-timeout")
        );
        assert_eq!(
            answer(InstallError::CompileFailed("signal 6".into())),
            unprocessable("compile-failed")
        );
        assert_eq!(
            answer(InstallError::CompileBusy { waited_ms: 30_000 }),
            (StatusCode::SERVICE_UNAVAILABLE, "compile-busy", Some("30".into()))
        );
        assert_eq!(
            answer(InstallError::Compiler("no such file".into())),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal", None)
        );
    }
}
