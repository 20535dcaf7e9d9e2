//! Why the plugin host refused or failed an operation, each with its stable code. No HTTP
//! here: the server turns these into responses, the CLI into messages.

use pchost_domain::errors::{DomainError, Entity, ErrorCode};
use pchost_runtime::manifest::ManifestError;
use pchost_runtime::model::InputError;
use pchost_runtime::{FailureKind, InstallError, InvokeError, PluginFailure};
use pchost_store::StoreError;

/// Why the plugin host refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum ExtensionError {
    /// A refusal of the plugin host itself (a quota, a replay it cannot make...).
    #[error("{message}")]
    Refused {
        /// Stable code.
        code: ErrorCode,
        /// Why, for people.
        message: String,
    },
    /// A domain rule refused (an amount out of range, say).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A bound plugin failed and its binding's policy refuses the action.
    #[error(transparent)]
    PluginFailed(PluginFailure),
    /// The input built for a plugin was refused before it ran.
    #[error(transparent)]
    Input(#[from] InputError),
    /// An upload was refused, or could not be compiled or stored.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of the host: logged in full, shown to nobody.
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

impl From<InvokeError> for ExtensionError {
    fn from(error: InvokeError) -> Self {
        match error {
            InvokeError::Plugin(failure) => ExtensionError::PluginFailed(failure),
            InvokeError::Input(input) => ExtensionError::Input(input),
            other => ExtensionError::Internal(anyhow::anyhow!(other)),
        }
    }
}

impl ExtensionError {
    /// A refusal with its code.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        ExtensionError::Refused {
            code,
            message: message.into(),
        }
    }

    /// A missing entity named by a text id (`owner/name@version`).
    pub fn not_found(what: Entity, id: impl std::fmt::Display) -> Self {
        Self::refused(what.not_found_code(), format!("{what} {id} not found"))
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ExtensionError::Refused { code, .. } => *code,
            ExtensionError::Domain(refusal) => refusal.code(),
            ExtensionError::PluginFailed(failure) => match failure.kind {
                FailureKind::ConcurrencyLimit { .. } => ErrorCode::PluginConcurrencyLimit,
                FailureKind::Capacity(_) => ErrorCode::PluginCapacity,
                _ => ErrorCode::PluginFailed,
            },
            ExtensionError::Input(InputError::Invalid { .. }) => ErrorCode::InvalidField,
            ExtensionError::Input(InputError::TooLarge { .. }) => ErrorCode::InputTooLarge,
            ExtensionError::Install(refusal) => install_code(refusal),
            ExtensionError::Store(error) => error.code(),
            ExtensionError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The field at fault, when one is.
    pub fn field_at_fault(&self) -> Option<&str> {
        match self {
            ExtensionError::Domain(DomainError::Invalid { field, .. }) => Some(field),
            ExtensionError::Domain(DomainError::AmountOutOfRange { field, .. }) => field.as_deref(),
            ExtensionError::Input(InputError::Invalid { field, .. }) => Some(field),
            ExtensionError::Install(InstallError::Manifest(ManifestError::LimitOutOfRange { .. })) => {
                Some("manifest.limits")
            }
            ExtensionError::Install(InstallError::Manifest(_)) => Some("manifest"),
            ExtensionError::Install(
                InstallError::TooLarge { .. }
                | InstallError::NotWasm
                | InstallError::CoreModule
                | InstallError::UnsupportedBinary(_)
                | InstallError::Invalid(_)
                | InstallError::TooComplex { .. }
                | InstallError::CompileTimeout { .. }
                | InstallError::CompileFailed(_),
            ) => Some("component"),
            _ => None,
        }
    }

    /// When to try again, for a refusal of a busy host.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ExtensionError::Install(InstallError::CompileBusy { waited_ms }) => Some(waited_ms.div_ceil(1000).max(1)),
            ExtensionError::PluginFailed(PluginFailure {
                kind: FailureKind::ConcurrencyLimit { .. } | FailureKind::Capacity(_),
                ..
            }) => Some(1),
            _ => None,
        }
    }
}

/// The code of an install refusal; storage and compiler faults are the host's.
fn install_code(refusal: &InstallError) -> ErrorCode {
    match refusal {
        InstallError::TooLarge { .. } => ErrorCode::ComponentTooLarge,
        InstallError::NotWasm
        | InstallError::CoreModule
        | InstallError::UnsupportedBinary(_)
        | InstallError::Invalid(_) => ErrorCode::InvalidComponent,
        InstallError::TooComplex { .. } => ErrorCode::ComponentTooComplex,
        InstallError::CompileTimeout { .. } => ErrorCode::CompileTimeout,
        InstallError::CompileFailed(_) => ErrorCode::CompileFailed,
        InstallError::CompileBusy { .. } => ErrorCode::CompileBusy,
        InstallError::MissingGrant { .. } => ErrorCode::MissingGrant,
        InstallError::UnknownImport(_) => ErrorCode::UnknownImport,
        InstallError::WrongWorld { .. } => ErrorCode::WrongWorld,
        InstallError::VersionExists { .. } => ErrorCode::VersionExists,
        InstallError::Manifest(ManifestError::LimitOutOfRange { .. }) => ErrorCode::LimitAboveCeiling,
        InstallError::Manifest(_) => ErrorCode::InvalidField,
        InstallError::Storage(_) | InstallError::OriginalMissing(_) | InstallError::Compiler(_) => ErrorCode::Internal,
    }
}
