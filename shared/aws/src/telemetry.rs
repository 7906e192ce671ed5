//! Tracing set-up shared by every function: JSON lines on stdout (what CloudWatch Logs and Lambda's
//! JSON log format expect), level from `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's logging config) or
//! `RUST_LOG`, defaulting to `info`.

use tracing_subscriber::EnvFilter;

/// Lambda's advanced logging controls put the application log level here.
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// Standard tracing filter directive (e.g. `info,tributary=debug`).
pub const RUST_LOG: &str = "RUST_LOG";

/// Installs the global JSON subscriber. Safe to call more than once (later calls are no-ops).
pub fn init() {
    let directive = std::env::var(AWS_LAMBDA_LOG_LEVEL)
        .ok()
        .map(|l| l.to_lowercase())
        .or_else(|| std::env::var(RUST_LOG).ok())
        .unwrap_or_else(|| "info".to_string());
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time() // Lambda stamps every line itself.
        .try_init();
}
