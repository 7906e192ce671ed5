//! Tracing set-up shared by every function: JSON lines on stdout (what CloudWatch Logs and Lambda's
//! JSON log format expect), level from `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's logging config) or
//! `RUST_LOG`, defaulting to `info`. CloudWatch EMF metrics ([`tributary::metrics`]) go to stdout
//! as well, one JSON line per unit of work, unless [`METRICS`] is `off`.

use tracing_subscriber::EnvFilter;

/// Lambda's advanced logging controls put the application log level here.
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// Standard tracing filter directive (e.g. `info,tributary=debug`).
pub const RUST_LOG: &str = "RUST_LOG";

/// `off` stops the EMF metric lines (any other value, or unset: on).
pub const METRICS: &str = "TRIBUTARY_METRICS";

/// Turns EMF metrics on for `function` (the binary's name, the `Function` dimension) unless
/// [`METRICS`] is `off`. Read once, at start.
pub fn init_metrics(function: &str) {
    let off = std::env::var(METRICS).is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"));
    if !off {
        tributary::metrics::configure(function);
    }
}

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
