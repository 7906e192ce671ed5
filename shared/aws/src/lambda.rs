//! The Lambda runtime's side of errors: every handler error reaches Lambda (and Step Functions)
//! with `errorType` set to its kind's stable name (`tributary::error::ErrorKind::error_type`), so
//! state machines match them in `Retry`/`Catch`.

use std::fmt;

use tributary::error::Classify;

/// Converts any classified error into the `Diagnostic` lambda_runtime reports.
pub fn diagnostic<E: Classify + fmt::Display>(err: &E) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: err.kind().error_type().to_string(),
        error_message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary::error::{AwsError, ErrorKind};

    #[test]
    fn diagnostic_carries_kind_and_message() {
        let e = AwsError {
            operation: "s3:GetObject".into(),
            code: Some("SlowDown".into()),
            status: Some(503),
            message: "slow down".into(),
            retryable: true,
        };
        let d = diagnostic(&e);
        assert_eq!(d.error_type, "Tributary.Retryable");
        assert_eq!(ErrorKind::Retryable.error_type(), "Tributary.Retryable");
        assert_eq!(d.error_message, "s3:GetObject: slow down");
    }
}
