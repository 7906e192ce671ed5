//! The error taxonomy shared by every module and function.
//!
//! Each module has its own `thiserror` enum with context-carrying variants; all of them implement
//! [`Classify`], which sorts a failure into one of three [`ErrorKind`]s. A handler's error reaches
//! Lambda (and so Step Functions) with `errorType` set to the kind's stable name, so state machines
//! match them in `Retry`/`Catch`:
//!
//! | errorType | meaning | Step Functions |
//! | --- | --- | --- |
//! | `Tributary.Retryable` | throttling, timeouts, 5xx, lease busy: the same input may succeed later | `Retry` with backoff |
//! | `Tributary.BadInput` | the input itself is wrong (malformed task input, schema conflict) | `Catch` → quarantine / alert |
//! | `Tributary.Fatal` | configuration, permissions, missing resources, bugs | `Catch` → fail the execution |
//!
//! Bad *data* (a malformed file or row) is not an error at all: it is quarantined with a report and
//! the invocation succeeds, so counts always reconcile.

/// How a failure should be handled by whoever retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ErrorKind {
    Retryable,
    BadInput,
    Fatal,
}

impl ErrorKind {
    /// The `errorType` Lambda reports for this kind.
    pub const fn error_type(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "Tributary.Retryable",
            ErrorKind::BadInput => "Tributary.BadInput",
            ErrorKind::Fatal => "Tributary.Fatal",
        }
    }
}

/// Implemented by every module error.
pub trait Classify {
    fn kind(&self) -> ErrorKind;
    fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retryable
    }
}

/// A failed AWS API call, reduced to what callers need: which call, the service's error code,
/// a readable message (with the whole source chain) and whether a retry may succeed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct AwsError {
    pub operation: String,
    pub code: Option<String>,
    pub status: Option<u16>,
    pub message: String,
    pub retryable: bool,
}

/// Service error codes that mean "try again later" across S3, DynamoDB, Glue and Step Functions.
pub const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionConflictException",
    "ConcurrentModificationException",
    "SlowDown",
    "InternalError",
    "InternalServerError",
    "InternalServiceException",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

impl AwsError {
    /// A service's answer, classified: retryable when its code says "try again later"
    /// ([`RETRYABLE_CODES`]) or its status is 429 or 5xx.
    pub fn service(
        operation: impl Into<String>,
        code: Option<String>,
        status: Option<u16>,
        message: String,
    ) -> Self {
        let by_code = code
            .as_deref()
            .is_some_and(|c| RETRYABLE_CODES.contains(&c));
        Self {
            operation: operation.into(),
            code,
            status,
            message,
            retryable: by_code || Self::retryable_status(status),
        }
    }

    /// Whether an HTTP status means "try again later" (429, 5xx).
    pub fn retryable_status(status: Option<u16>) -> bool {
        status.is_some_and(|s| s == 429 || s >= 500)
    }

    /// Whether the service answered with this error code.
    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl Classify for AwsError {
    fn kind(&self) -> ErrorKind {
        if self.retryable {
            ErrorKind::Retryable
        } else {
            ErrorKind::Fatal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_stable_names() {
        assert_eq!(ErrorKind::Retryable.error_type(), "Tributary.Retryable");
        assert_eq!(ErrorKind::BadInput.error_type(), "Tributary.BadInput");
        assert_eq!(ErrorKind::Fatal.error_type(), "Tributary.Fatal");
    }
}
