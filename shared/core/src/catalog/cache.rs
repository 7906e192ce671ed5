//! The warm-container cache of dataset declarations: one small TTL map, keyed by string, holding
//! shared values. s3-landing and cdc-sequencer (the dataset of a landing folder), partition-register
//! (the dataset of a zone folder, including "none") and the stream functions (the stream's
//! compiled spec) each keep one.
//!
//! Invariants: an entry is served for at most its TTL ([`DATASET_CACHE_TTL`] for datasets) as
//! measured by the cache's [`Clock`]; a clock that went backwards makes an entry stale, never
//! fresher; a value is never half-written (loads complete before they are stored, and a failed
//! load stores nothing); expired entries are dropped whenever a new one is stored, so the map
//! holds at most the keys seen within one TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::SharedClock;

/// How long a warm container trusts a resolved dataset declaration (declarations change rarely;
/// a new one is picked up within a minute).
pub const DATASET_CACHE_TTL: Duration = Duration::from_secs(60);

struct Entry<V> {
    at: DateTime<Utc>,
    value: Arc<V>,
}

/// A map from string keys to shared values, each trusted for the cache's TTL.
pub struct TtlCache<V> {
    ttl: Duration,
    clock: SharedClock,
    entries: Mutex<HashMap<String, Entry<V>>>,
}

impl<V> TtlCache<V> {
    /// An empty cache whose entries live for `ttl` on `clock`.
    pub fn new(ttl: Duration, clock: SharedClock) -> Self {
        Self {
            ttl,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// An empty cache of dataset declarations ([`DATASET_CACHE_TTL`]) on `clock`.
    pub fn datasets(clock: SharedClock) -> Self {
        Self::new(DATASET_CACHE_TTL, clock)
    }

    /// The same cache, empty, on another clock.
    pub fn with_clock(self, clock: SharedClock) -> Self {
        Self::new(self.ttl, clock)
    }

    fn fresh(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        (now - at).to_std().is_ok_and(|age| age < self.ttl)
    }

    /// The value stored under `key` if it is still fresh.
    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        let now = self.clock.now();
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|e| self.fresh(e.at, now))
            .map(|e| e.value.clone())
    }

    /// Stores `value` under `key` (replacing any older value) and returns it shared.
    pub fn insert(&self, key: impl Into<String>, value: V) -> Arc<V> {
        let now = self.clock.now();
        let value = Arc::new(value);
        let mut entries = self.entries.lock().expect("cache lock");
        entries.retain(|_, e| self.fresh(e.at, now));
        entries.insert(
            key.into(),
            Entry {
                at: now,
                value: value.clone(),
            },
        );
        value
    }

    /// Forgets every entry (e.g. after the declaration behind them changed).
    pub fn clear(&self) {
        self.entries.lock().expect("cache lock").clear();
    }

    /// The fresh value under `key`, else the one `load` returns, which is stored. A failed load
    /// stores nothing and returns its error.
    pub async fn get_or_try_load<E, F, Fut>(&self, key: &str, load: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let value = load().await?;
        Ok(self.insert(key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn clock() -> Arc<ManualClock> {
        ManualClock::new(DateTime::from_timestamp(1_705_312_800, 0).unwrap())
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let clock = clock();
        let cache = TtlCache::datasets(clock.clone());
        cache.insert("a", 1);
        clock.advance(DATASET_CACHE_TTL - Duration::from_millis(1));
        assert_eq!(cache.get("a").as_deref(), Some(&1));
        clock.advance(Duration::from_millis(1));
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b"), None);
    }

    #[test]
    fn a_clock_gone_backwards_makes_entries_stale() {
        let clock = clock();
        let cache = TtlCache::new(Duration::from_secs(5), clock.clone());
        cache.insert("a", "x");
        clock.set(DateTime::from_timestamp(1_705_312_799, 0).unwrap());
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn inserting_drops_expired_entries_and_clear_forgets_all() {
        let clock = clock();
        let cache = TtlCache::new(Duration::from_secs(5), clock.clone());
        cache.insert("old", 1);
        clock.advance(Duration::from_secs(5));
        cache.insert("new", 2);
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
        cache.clear();
        assert_eq!(cache.get("new"), None);
    }

    #[tokio::test]
    async fn loads_once_per_ttl_and_stores_no_failure() {
        let clock = clock();
        let cache = TtlCache::new(Duration::from_secs(5), clock.clone());
        let loads = std::sync::atomic::AtomicU32::new(0);
        let load = || async {
            loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok::<_, String>(7)
        };
        assert_eq!(*cache.get_or_try_load("k", load).await.unwrap(), 7);
        assert_eq!(*cache.get_or_try_load("k", load).await.unwrap(), 7);
        assert_eq!(loads.load(std::sync::atomic::Ordering::Relaxed), 1);
        let failed = cache
            .get_or_try_load("e", || async { Err::<i32, _>("down".to_string()) })
            .await;
        assert_eq!(failed.unwrap_err(), "down");
        assert_eq!(cache.get("e"), None);
        clock.advance(Duration::from_secs(5));
        cache.get_or_try_load("k", load).await.unwrap();
        assert_eq!(loads.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
