//! `"action": "pending"`: what a table has waiting for compaction, and whether that is enough to
//! compact now. The CDC pipeline (statemachines/cdc-pipeline.asl.json) asks this after sequencing
//! and compacts only when the answer is `due`.
//!
//! # Input
//! `{"table": "<dataset id>", "action": "pending", "min_deltas": N, "min_bytes": N,
//! "max_age_seconds": N}`; each threshold is optional (a number or a string of digits, as Step
//! Functions' `DefinitionSubstitutions` write them; `0` or absent = that rule is off).
//!
//! # Output
//! `pending_deltas`, `pending_bytes`, `oldest_delta_age_seconds` (null when nothing is pending),
//! `due` and `reason`: due when any rule holds: at least `min_deltas` new deltas, at least
//! `min_bytes` of them, or the oldest older than `max_age_seconds`. With no rule set, any pending
//! delta is due.
//!
//! # Invariants
//! - Read-only: no lease is taken and nothing is written, so it is safe at any time and any
//!   number of times; the compaction that follows takes the lease and plans again (the answer can
//!   only have grown).
//! - "Pending" means exactly what a compaction would consume: the same plan
//!   ([`super::Compactor`]'s step 2), so the two can never disagree about what is new.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::Value;

use super::{CompactionError, Compactor, SnapshotLedger, curated_table_name};
use crate::catalog::DatasetCatalog;
use crate::storage::ObjectStore;
use crate::tables::glue::PartitionCatalog;

/// Parallel `HeadObject`s for the deltas' sizes and ages.
const HEADS_IN_FLIGHT: usize = 8;

/// When a table is due (see the module docs). `0` turns a rule off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueRules {
    pub min_deltas: u64,
    pub min_bytes: u64,
    pub max_age_seconds: u64,
}

impl DueRules {
    /// Reads the thresholds from a task input (numbers or digit strings).
    pub fn from_input(obj: &serde_json::Map<String, Value>) -> Result<Self, CompactionError> {
        let read = |name: &str| -> Result<u64, CompactionError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(0),
                Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad(name, &n.to_string())),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(0),
                Some(Value::String(s)) => s.trim().parse().map_err(|_| bad(name, s)),
                Some(other) => Err(bad(name, &other.to_string())),
            }
        };
        Ok(Self {
            min_deltas: read("min_deltas")?,
            min_bytes: read("min_bytes")?,
            max_age_seconds: read("max_age_seconds")?,
        })
    }

    /// Whether `pending` is due, and why (or why not).
    pub fn decide(&self, deltas: u64, bytes: u64, oldest_age: Option<u64>) -> (bool, String) {
        if deltas == 0 {
            return (false, "nothing pending".into());
        }
        if *self == Self::default() {
            return (
                true,
                format!("{deltas} delta(s) pending and no threshold set"),
            );
        }
        if self.min_deltas > 0 && deltas >= self.min_deltas {
            return (
                true,
                format!("{deltas} deltas pending >= min_deltas {}", self.min_deltas),
            );
        }
        if self.min_bytes > 0 && bytes >= self.min_bytes {
            return (
                true,
                format!("{bytes} bytes pending >= min_bytes {}", self.min_bytes),
            );
        }
        if let Some(age) = oldest_age.filter(|_| self.max_age_seconds > 0)
            && age >= self.max_age_seconds
        {
            return (
                true,
                format!(
                    "oldest delta {age} s old >= max_age_seconds {}",
                    self.max_age_seconds
                ),
            );
        }
        (
            false,
            format!(
                "{deltas} delta(s), {bytes} bytes, oldest {} s: below every threshold",
                oldest_age.unwrap_or(0)
            ),
        )
    }
}

fn bad(name: &str, value: &str) -> CompactionError {
    CompactionError::Input(format!(
        "{name} must be a non-negative integer, not {value}"
    ))
}

/// The `pending` action's answer.
#[derive(Debug, Clone, Serialize)]
pub struct PendingSummary {
    pub dataset: String,
    pub table: String,
    pub status: &'static str,
    pub generation: Option<u64>,
    pub pending_deltas: u64,
    pub pending_bytes: u64,
    pub oldest_delta_age_seconds: Option<u64>,
    pub due: bool,
    pub reason: String,
}

impl<S, C, G, L> Compactor<S, C, G, L>
where
    S: ObjectStore,
    C: DatasetCatalog,
    G: PartitionCatalog,
    L: SnapshotLedger,
{
    /// What is pending for table `id` and whether it is due under `rules` (module docs).
    pub(super) async fn pending(
        &self,
        id: &str,
        rules: DueRules,
    ) -> Result<PendingSummary, CompactionError> {
        let ds = self.dataset(id).await?;
        let record = self.ledger.current(&ds.id).await?;
        let plan = self.plan(&ds, record.as_ref()).await?;
        let bucket = self.config.raw_bucket.clone();
        let metas: Vec<_> = futures::stream::iter(plan.new.iter())
            .map(|key| {
                let bucket = bucket.clone();
                async move { self.store.head(&bucket, key).await }
            })
            .buffer_unordered(HEADS_IN_FLIGHT)
            .try_collect()
            .await?;
        let now = self.clock.now();
        let (mut deltas, mut bytes, mut oldest) = (0u64, 0u64, None);
        // A delta listed then retired before its head is simply no longer pending.
        for meta in metas.into_iter().flatten() {
            deltas += 1;
            bytes += meta.size;
            if let Some(t) = meta.last_modified {
                let age = (now - t).num_seconds().max(0) as u64;
                oldest = Some(oldest.map_or(age, |o: u64| o.max(age)));
            }
        }
        let (due, reason) = rules.decide(deltas, bytes, oldest);
        Ok(PendingSummary {
            dataset: ds.id.clone(),
            table: curated_table_name(&ds.id),
            status: "pending",
            generation: record.map(|r| r.generation),
            pending_deltas: deltas,
            pending_bytes: bytes,
            oldest_delta_age_seconds: oldest,
            due,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: Value) -> Result<DueRules, CompactionError> {
        DueRules::from_input(v.as_object().unwrap())
    }

    #[test]
    fn thresholds_read_from_numbers_or_digit_strings() {
        assert_eq!(
            rules(json!({"min_deltas": "10", "min_bytes": 5, "max_age_seconds": ""})).unwrap(),
            DueRules {
                min_deltas: 10,
                min_bytes: 5,
                max_age_seconds: 0
            }
        );
        let err = rules(json!({"min_bytes": "-1"})).unwrap_err().to_string();
        assert!(err.contains("min_bytes"), "{err}");
        assert!(rules(json!({"min_deltas": 1.5})).is_err());
    }

    #[test]
    fn due_when_any_rule_holds() {
        let r = DueRules {
            min_deltas: 3,
            min_bytes: 1000,
            max_age_seconds: 60,
        };
        assert!(!r.decide(0, 0, None).0);
        assert!(!r.decide(2, 999, Some(59)).0);
        assert!(r.decide(3, 0, Some(0)).0);
        assert!(r.decide(1, 1000, Some(0)).0);
        let (due, reason) = r.decide(1, 1, Some(60));
        assert!(due && reason.contains("oldest"), "{reason}");
        // No rule: anything pending is due; nothing pending never is.
        assert!(DueRules::default().decide(1, 1, None).0);
        assert!(!DueRules::default().decide(0, 0, None).0);
    }
}
