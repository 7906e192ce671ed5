//! The Lambda runtime's side of errors: every handler error reaches Lambda (and Step Functions)
//! with `errorType` set to its kind's stable name (`tributary::error::ErrorKind::error_type`), so
//! state machines match them in `Retry`/`Catch`.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use tributary::error::Classify;

/// Converts any classified error into the `Diagnostic` lambda_runtime reports.
pub fn diagnostic<E: Classify + fmt::Display>(err: &E) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: err.kind().error_type().to_string(),
        error_message: err.to_string(),
    }
}

/// The instant by which a handler must stop: the invocation's deadline less `margin`. `None`
/// when the deadline is unknown (0, as some local emulators send) or already within the margin
/// of a clock that disagrees by more than an invocation's length (then no deadline is applied).
pub fn deadline(ctx: &lambda_runtime::Context, margin: Duration) -> Option<Instant> {
    if ctx.deadline == 0 {
        return None;
    }
    let left = ctx.deadline().duration_since(SystemTime::now()).ok()?;
    Some(Instant::now() + left.saturating_sub(margin))
}

/// The handler was stopped at its deadline (less the margin) before finishing: retryable.
#[derive(Debug)]
pub struct DeadlineReached;

impl fmt::Display for DeadlineReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stopped before the Lambda deadline ({} seconds of margin); retry",
            tributary::config::DEADLINE_MARGIN_SECONDS
        )
    }
}

impl Classify for DeadlineReached {
    fn kind(&self) -> tributary::error::ErrorKind {
        tributary::error::ErrorKind::Retryable
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

    #[test]
    fn the_deadline_is_the_invocations_less_the_margin() {
        let mut ctx = lambda_runtime::Context::default();
        assert_eq!(
            deadline(&ctx, Duration::from_secs(10)),
            None,
            "unknown deadline"
        );
        let in_60s = SystemTime::now() + Duration::from_secs(60);
        ctx.deadline = in_60s
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let d = deadline(&ctx, Duration::from_secs(10)).expect("a deadline");
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(45) && left <= Duration::from_secs(50),
            "{left:?}"
        );
        assert_eq!(
            diagnostic(&DeadlineReached).error_type,
            "Tributary.Retryable"
        );
    }
}
