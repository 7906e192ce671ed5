//! SDK errors reduced to the domain's [`AwsError`]: which call, the service's error code, a
//! readable message (with the whole source chain) and whether a retry may succeed. Every adapter
//! maps its SDK errors here, so classification is the same for S3, DynamoDB and Glue.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tributary::error::AwsError;

/// Builds an [`AwsError`] from any SDK client's error (they share one `SdkError` type).
pub fn aws_error<E>(operation: impl Into<String>, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    match &err {
        // The service's own code and message when it answered.
        SdkError::ServiceError(se) => {
            let e = se.err();
            let message = format!(
                "{}: {}",
                e.code().unwrap_or("ServiceError"),
                e.message().unwrap_or("(no message)")
            );
            AwsError::service(operation, e.code().map(str::to_string), status, message)
        }
        // Otherwise the whole source chain (timeouts, connection errors), never the raw HTTP
        // response: messages stay readable.
        other => AwsError {
            operation: operation.into(),
            code: None,
            status,
            message: truncate(&DisplayErrorContext(other).to_string(), 1000),
            retryable: match other {
                SdkError::TimeoutError(_)
                | SdkError::DispatchFailure(_)
                | SdkError::ResponseError(_) => true,
                SdkError::ConstructionFailure(_) => false,
                _ => AwsError::retryable_status(status),
            },
        },
    }
}

/// Cuts a message to at most `max` bytes (on a character boundary), marking the cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("aé", 2), "a…");
        assert_eq!(truncate("abcdef", 3), "abc…");
    }

    #[test]
    fn service_errors_are_classified_by_code_and_status() {
        let slow = AwsError::service(
            "s3:GetObject",
            Some("SlowDown".into()),
            Some(503),
            "x".into(),
        );
        assert!(slow.retryable);
        let denied = AwsError::service(
            "s3:GetObject",
            Some("AccessDenied".into()),
            Some(403),
            "x".into(),
        );
        assert!(!denied.retryable);
        let throttled =
            AwsError::service("glue:GetTable", Some("Other".into()), Some(429), "x".into());
        assert!(throttled.retryable);
    }
}
