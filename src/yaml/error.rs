//! [`LoadError`]: the error type of the loading layers (yaml, project, loader, kinds).
//!
//! Messages carry their provenance in the text (`file [line L column C]: message`), exactly as
//! BuildStream formats them, so the CLI prints them unchanged.

use std::fmt;

/// Why loading failed; mirrors BuildStream's `LoadErrorReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum LoadErrorReason {
    MissingFile,
    InvalidYaml,
    InvalidData,
    IllegalComposite,
    CircularDependency,
    UnresolvedVariable,
    UnsupportedProject,
    UnsupportedPlugin,
    ExpressionFailed,
    UserAssertion,
    TrailingListDirective,
    ConflictingJunction,
    InvalidJunction,
    SubprojectInconsistent,
    InvalidSymbolName,
    MissingProjectConf,
    LoadingDirectory,
    ProjPathInvalid,
    ProjPathInvalidKind,
    RecursiveInclude,
    CircularReferenceVariable,
    ProtectedVariableRedefined,
    InvalidDependencyConfig,
    LinkForbiddenDependencies,
    CircularReference,
    BadElementSuffix,
    BadCharactersInName,
    UndefinedSourceProvenanceAttribute,
    /// An element or source configuration error raised by a kind.
    PluginConfig,
    /// Input on which BuildStream itself crashes (an unhandled Python exception).
    PluginBug,
}

/// A user-facing loading error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The machine-readable reason.
    pub reason: LoadErrorReason,
    /// The message, including provenance where BuildStream includes it.
    pub message: String,
    /// Optional extra detail, printed after the message.
    pub detail: Option<String>,
}

impl LoadError {
    /// A new error with `reason` and `message`.
    pub fn new(reason: LoadErrorReason, message: impl Into<String>) -> Self {
        LoadError {
            reason,
            message: message.into(),
            detail: None,
        }
    }

    /// Adds a detail text.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Prefixes the message (e.g. with a file's display name).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}
