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

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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
const RETRYABLE_CODES: &[&str] = &[
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
    /// Builds an `AwsError` from an SDK error, classifying it.
    pub fn from_sdk<E>(
        operation: impl Into<String>,
        err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        // The service's own code and message when it answered; otherwise the whole source chain
        // (timeouts, connection errors). Never the raw HTTP response: messages stay readable.
        let message = match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                format!(
                    "{}: {}",
                    e.code().unwrap_or("ServiceError"),
                    e.message().unwrap_or("(no message)")
                )
            }
            other => truncate(&DisplayErrorContext(other).to_string(), 1000),
        };
        let status = err.raw_response().map(|r| r.status().as_u16());
        let (code, retryable) = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => (None, true),
            SdkError::ConstructionFailure(_) => (None, false),
            SdkError::ServiceError(se) => {
                let code = se.err().code().map(str::to_string);
                let by_code = code
                    .as_deref()
                    .is_some_and(|c| RETRYABLE_CODES.contains(&c));
                let by_status = status.is_some_and(|s| s == 429 || s >= 500);
                (code, by_code || by_status)
            }
            _ => (None, status.is_some_and(|s| s == 429 || s >= 500)),
        };
        Self {
            operation: operation.into(),
            code,
            status,
            message,
            retryable,
        }
    }

    /// Whether the service answered with this error code.
    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// Cuts a message to at most `max` bytes (on a character boundary), marking the cut.
fn truncate(s: &str, max: usize) -> String {
    let head = crate::model::schema::truncate(s, max);
    if head.len() == s.len() {
        head.to_string()
    } else {
        format!("{head}…")
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
