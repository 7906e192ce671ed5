//! The time source of every handler: one injectable [`Clock`], so timestamps in reports, ledger
//! entries, snapshot records and manifests, and the expiry of warm-container caches, all read
//! the same clock, and tests can set it.
//!
//! Handlers hold a [`SharedClock`] that defaults to [`SystemClock`] in their constructors and can
//! be replaced with their `with_clock` method; the settable `ManualClock` exists for tests (this
//! crate's, or other crates' with the `testing` feature).
//!
//! Invariant: every text timestamp Tributary writes is RFC 3339 in UTC with milliseconds and a
//! `Z` suffix (`2024-01-15T10:00:00.000Z`, [`Clock::now_rfc3339`]); epoch times are milliseconds
//! ([`Clock::epoch_millis`]).

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// The current time as RFC 3339 UTC with milliseconds (`2024-01-15T10:00:00.000Z`).
    fn now_rfc3339(&self) -> String {
        rfc3339_millis(self.now())
    }

    /// The current time in milliseconds since the Unix epoch.
    fn epoch_millis(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

/// A clock shared by a handler and its parts.
pub type SharedClock = Arc<dyn Clock>;

/// A time as Tributary writes timestamps: RFC 3339 UTC with milliseconds and `Z`.
pub fn rfc3339_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock as a [`SharedClock`]: what handlers use unless told otherwise.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until it is set or advanced (tests only).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug)]
pub struct ManualClock {
    now: std::sync::Mutex<DateTime<Utc>>,
}

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: std::sync::Mutex::new(at),
        })
    }

    /// Shows `at` from now on.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().expect("clock lock") = at;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).expect("a representable duration");
        *self.now.lock().expect("clock lock") += by;
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn manual_clock_formats_and_advances() {
        let t0 = DateTime::from_timestamp_millis(1_705_312_800_123).unwrap();
        let clock = ManualClock::new(t0);
        assert_eq!(clock.now_rfc3339(), "2024-01-15T10:00:00.123Z");
        assert_eq!(clock.epoch_millis(), 1_705_312_800_123);
        clock.advance(Duration::from_millis(1_877));
        assert_eq!(clock.now_rfc3339(), "2024-01-15T10:00:02.000Z");
        clock.set(t0);
        assert_eq!(clock.now(), t0);
        let shared: SharedClock = clock.clone();
        assert_eq!(shared.epoch_millis(), 1_705_312_800_123);
    }

    #[test]
    fn system_clock_is_utc_with_millis() {
        let s = system().now_rfc3339();
        assert_eq!(s.len(), "2024-01-15T10:00:00.000Z".len(), "{s}");
        assert!(s.ends_with('Z'), "{s}");
    }
}
