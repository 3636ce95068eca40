//! The error every tracelake library returns: a small closed [`ErrorKind`], a message that
//! says what went wrong and where (a file and line, a table, a request), and the source.
//!
//! The kind is what callers branch on (retry on `Conflict`/`Unavailable`, show the message on
//! `InvalidInput`); it maps to an exit code, an HTTP status or a gRPC code in one place each.

use std::fmt;

/// What kind of failure this is; callers decide retries and statuses from it alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input (a file, a query, a flag, a request) is wrong; the message says how.
    InvalidInput,
    /// Something named does not exist (a table, a session, a file).
    NotFound,
    /// Somebody else changed the same thing first (a concurrent commit); retrying may work.
    Conflict,
    /// A dependency is unreachable or full (object store, disk, catalog); retrying may work.
    Unavailable,
    /// A bug or a broken invariant inside tracelake.
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal error",
        })
    }
}

/// A tracelake error: kind, message with context, and the underlying cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Result with a tracelake [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message saying what went wrong.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Shorthand for [`ErrorKind::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Shorthand for [`ErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// Shorthand for [`ErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// Shorthand for [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Prefixes the message with where it happened ("reading /x/y.jsonl: ...").
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the chain of causes.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message followed by every cause, `: `-separated, for a one-line report.
    pub fn report(&self) -> String {
        let mut out = self.message.clone();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            let text = cause.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = cause.source();
        }
        out
    }
}

/// Adds context to any fallible result, turning its error into a tracelake [`Error`].
pub trait ResultExt<T> {
    /// On error, wraps it as `kind` with `context` as the message.
    fn or_kind(self, kind: ErrorKind, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> ResultExt<T> for std::result::Result<T, E> {
    fn or_kind(self, kind: ErrorKind, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::new(kind, context()).with_source(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_chains_causes_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Error::not_found("opening /x/a.jsonl")
            .with_source(io)
            .context("importing claude-code");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.report(),
            "importing claude-code: opening /x/a.jsonl: no such file"
        );
    }
}
