//! The one JSON error shape of the API: a stable code, a human message and, where it applies,
//! the field at fault. Codes are part of the API (see docs/errors.md): never reuse one.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pchost_domain::errors::{DomainError, Entity, ErrorCode};
use pchost_extensions::ExtensionError;
use pchost_runtime::model::InputError;
use pchost_runtime::{FailureKind, InstallError, InvokeError, PluginFailure};
use pchost_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A refusal with a stable code; the code says the HTTP status.
    #[error("{message}")]
    Refused {
        /// Stable code (docs/errors.md).
        code: ErrorCode,
        /// Why, for people.
        message: String,
        /// JSON path of the field at fault.
        field: Option<String>,
        /// When to try again (`Retry-After`), for refusals of a busy host or a spent budget.
        retry_after_secs: Option<u64>,
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
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Refused { code, .. } => *code,
            AppError::PluginFailed(failure) => match failure.kind {
                FailureKind::ConcurrencyLimit { .. } => ErrorCode::PluginConcurrencyLimit,
                FailureKind::Capacity(_) => ErrorCode::PluginCapacity,
                _ => ErrorCode::PluginFailed,
            },
            AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The field at fault, when one is.
    pub fn field_at_fault(&self) -> Option<&str> {
        match self {
            AppError::Refused { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// A refusal with its code.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError::Refused {
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    /// A refusal with its code, naming the field at fault.
    pub fn refused_at(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Refused {
            code,
            message: message.into(),
            field: Some(field.into()),
            retry_after_secs: None,
        }
    }

    /// A field with a bad value.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", message.into());
        Self::refused_at(ErrorCode::InvalidField, field, message)
    }

    /// A body that is not the JSON (or multipart form) the endpoint takes.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::InvalidJson, message)
    }

    /// A body over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::refused(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        )
    }

    /// A missing entity.
    pub fn not_found(what: Entity, id: impl std::fmt::Display) -> Self {
        Self::refused(what.not_found_code(), format!("{what} {id} not found"))
    }

    /// A refusal that holds for `retry_after_secs` only: a spent budget, a busy host.
    pub fn retry_later(code: ErrorCode, message: impl Into<String>, retry_after_secs: u64) -> Self {
        AppError::Refused {
            code,
            message: message.into(),
            field: None,
            retry_after_secs: Some(retry_after_secs),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let code = self.code();
        match &self {
            AppError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            other => tracing::info!(code = %code, message = %other, "request refused"),
        }
        let (plugin, retry_after_secs) = match &self {
            AppError::PluginFailed(failure) => {
                // Busy, not broken: the owner's share of the pool (only its requests) or the pool.
                let busy = matches!(
                    failure.kind,
                    FailureKind::ConcurrencyLimit { .. } | FailureKind::Capacity(_)
                );
                (Some(failure), busy.then_some(1))
            }
            AppError::Refused { retry_after_secs, .. } => (None, *retry_after_secs),
            AppError::Internal(_) => (None, None),
        };
        let body = ErrorBody {
            code: code.as_str(),
            message: self.to_string(),
            field: self.field_at_fault(),
            plugin,
        };
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<InvokeError> for AppError {
    fn from(error: InvokeError) -> Self {
        AppError::from(ExtensionError::from(error))
    }
}

impl From<InstallError> for AppError {
    fn from(error: InstallError) -> Self {
        AppError::from(ExtensionError::Install(error))
    }
}

impl From<ExtensionError> for AppError {
    fn from(error: ExtensionError) -> Self {
        let (code, field, retry_after_secs) = (error.code(), error.field_at_fault(), error.retry_after_secs());
        match error {
            ExtensionError::PluginFailed(failure) => AppError::PluginFailed(failure),
            ExtensionError::Domain(refusal) => AppError::from(refusal),
            ExtensionError::Store(error) => AppError::from(error),
            ExtensionError::Input(InputError::Invalid { field, message }) => AppError::field(field, message),
            ExtensionError::Internal(fault) => AppError::Internal(fault),
            _ if code == ErrorCode::Internal => AppError::Internal(anyhow::anyhow!(error)),
            // A broken manifest: the field names it, as for any other field.
            _ if code == ErrorCode::InvalidField => {
                AppError::field(field.unwrap_or_default().to_owned(), error.to_string())
            }
            _ => AppError::Refused {
                code,
                field: field.map(str::to_owned),
                message: error.to_string(),
                retry_after_secs,
            },
        }
    }
}

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        let code = error.code();
        match error {
            DomainError::Invalid { field, message } => AppError::field(field, message),
            DomainError::AmountOutOfRange { ref field, .. } => AppError::Refused {
                code,
                field: field.clone(),
                message: error.to_string(),
                retry_after_secs: None,
            },
            other => AppError::refused(code, other.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Refused(refusal) => AppError::from(refusal),
            storage => AppError::Internal(anyhow::anyhow!(storage)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(error: InstallError) -> (StatusCode, ErrorCode, Option<String>) {
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
            unprocessable(ErrorCode::ComponentTooComplex)
        );
        assert_eq!(
            answer(InstallError::CompileTimeout { ceiling_ms: 30_000 }),
            unprocessable(ErrorCode::CompileTimeout)
        );
        assert_eq!(
            answer(InstallError::CompileFailed("signal 6".into())),
            unprocessable(ErrorCode::CompileFailed)
        );
        assert_eq!(
            answer(InstallError::CompileBusy { waited_ms: 30_000 }),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::CompileBusy,
                Some("30".into())
            )
        );
        assert_eq!(
            answer(InstallError::Compiler("no such file".into())),
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, None)
        );
    }

    /// The codes docs/errors.md lists in its `| code | HTTP | meaning |` tables, with their
    /// statuses (a row may list several codes of one status).
    fn documented_codes() -> Vec<(String, u16)> {
        let doc = include_str!("../../../docs/errors.md");
        let mut codes = Vec::new();
        let mut in_code_table = false;
        for line in doc.lines() {
            if !line.starts_with('|') {
                in_code_table = false;
                continue;
            }
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.get(1..4) == Some(&["code", "HTTP", "meaning"][..]) {
                in_code_table = true;
                continue;
            }
            let Some(status) = cells.get(2).and_then(|s| s.parse::<u16>().ok()) else {
                continue;
            };
            if in_code_table {
                for code in cells[1].split(',') {
                    codes.push((code.trim().trim_matches('`').to_owned(), status));
                }
            }
        }
        codes
    }

    #[test]
    fn docs_errors_md_lists_every_code_with_its_status_and_no_other() {
        let documented = documented_codes();
        let mut wrong = Vec::new();
        for code in ErrorCode::ALL {
            let rows: Vec<u16> = documented
                .iter()
                .filter(|(c, _)| c == code.as_str())
                .map(|(_, s)| *s)
                .collect();
            if rows.is_empty() {
                wrong.push(format!("`{code}` is answered but not documented"));
            }
            if rows.iter().any(|s| *s != code.http_status()) {
                wrong.push(format!(
                    "`{code}` is answered with {} but documented with {rows:?}",
                    code.http_status()
                ));
            }
        }
        for (code, _) in &documented {
            if !ErrorCode::ALL.iter().any(|c| c.as_str() == code) {
                wrong.push(format!("`{code}` is documented but no such code exists"));
            }
        }
        assert!(
            wrong.is_empty(),
            "docs/errors.md and ErrorCode disagree:\n{}",
            wrong.join("\n")
        );
    }

    /// The host's non-test sources: each file up to its `#[cfg(test)]` module, test-only files
    /// left out.
    fn host_sources() -> String {
        fn walk(dir: &std::path::Path, out: &mut String) {
            let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read host sources").flatten().collect();
            entries.sort_by_key(|e| e.path());
            for entry in entries {
                let path = entry.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if path.is_dir() {
                    if name != "tests" {
                        walk(&path, out);
                    }
                } else if name.ends_with(".rs")
                    && !["rule_tests.rs", "testing.rs", "money_properties.rs"].contains(&name)
                {
                    let text = std::fs::read_to_string(&path).expect("read a host source");
                    out.push_str(text.split("#[cfg(test)]").next().unwrap_or_default());
                }
            }
        }
        let host = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut sources = String::new();
        walk(&host, &mut sources);
        sources
    }

    #[test]
    fn every_code_is_answered_by_some_code_path() {
        let sources = host_sources();
        let never: Vec<String> = ErrorCode::ALL
            .iter()
            .filter(|code| !sources.contains(&format!("ErrorCode::{code:?}")))
            .map(|code| code.as_str().to_owned())
            .collect();
        assert!(
            never.is_empty(),
            "codes no code path answers (remove them from ErrorCode and docs/errors.md): {never:?}"
        );
    }
}
