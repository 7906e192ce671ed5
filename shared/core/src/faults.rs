//! Fault switches: where a run may be stopped as if the process crashed, for the fault suite and
//! for trying recovery by hand (`TRIBUTARY_KILL_POINT`, [`crate::config::KILL_POINT`]).
//!
//! Invariant: a kill point only stops work (an error carrying the point, nothing cleaned up);
//! it never changes what is written before it, so what a test sees after the "crash" is what a
//! real crash at that point leaves behind. Unset, no code path changes.

use serde::{Deserialize, Serialize};

/// Where a run stops, as a crash would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillPoint {
    /// s3-landing, cdc-sequencer: outputs, rejected rows and report are written; the ledger
    /// commit is not. stream-ingest: every group is written; the Glue registration and the
    /// response are not.
    BeforeCommit,
    /// compactor: every snapshot file and the manifest are written; nothing is published.
    AfterFiles,
    /// compactor: Glue points at the new snapshot; the DynamoDB record does not.
    AfterSwap,
    /// compactor: the record is written; the lease is not released.
    AfterRecord,
    /// compactor: retirement has deleted about half of what it will delete.
    DuringRetire,
}

impl KillPoint {
    pub const ALL: [KillPoint; 5] = [
        KillPoint::BeforeCommit,
        KillPoint::AfterFiles,
        KillPoint::AfterSwap,
        KillPoint::AfterRecord,
        KillPoint::DuringRetire,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KillPoint::BeforeCommit => "before_commit",
            KillPoint::AfterFiles => "after_files",
            KillPoint::AfterSwap => "after_swap",
            KillPoint::AfterRecord => "after_record",
            KillPoint::DuringRetire => "during_retire",
        }
    }

    /// Parses a point's name (`before_commit`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s.trim())
    }
}

impl std::fmt::Display for KillPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in KillPoint::ALL {
            assert_eq!(KillPoint::parse(p.name()), Some(p));
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.name())
            );
        }
        assert_eq!(KillPoint::parse("nowhere"), None);
    }
}
