//! The snapshot model: what a published snapshot is (record, manifest, partitions), how its ids
//! and folders are named, and where its files live in the curated bucket. Ids sort and parse:
//! `<high-water _seq>_g<generation>_<run token>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::Layout;
use crate::compaction::merge::MergeStats;
use crate::model::paths::escape_partition_value;
use crate::tables::glue::{self};

pub use crate::model::paths::{SNAPSHOT_SEGMENT, snapshot_of_key};

/// Folder (under the dataset's curated prefix) of tombstones and manifests; hidden from readers.
pub const META_DIR: &str = "_compaction";

/// One partition of a published snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSnapshot {
    /// Partition values, in key order (empty for an unpartitioned table).
    pub values: Vec<String>,
    /// `s3://` prefix of the snapshot folder (the Glue partition location).
    pub location: String,
    pub rows: u64,
    pub bytes: u64,
    /// Object keys of the data files.
    pub files: Vec<String>,
}

/// A published snapshot: what DynamoDB records and the manifest holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub dataset: String,
    /// Glue table of the curated snapshots.
    pub table: String,
    pub generation: u64,
    /// The snapshot id (`snapshot=<id>` folders).
    pub snapshot: String,
    /// Highest `_seq` the snapshot (rows and tombstones) holds.
    pub high_water: String,
    /// Key of the manifest in the curated bucket.
    pub manifest: String,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    pub partitions: Vec<PartitionSnapshot>,
    /// Key of the tombstone file, if any delete won.
    pub tombstones: Option<String>,
    pub tombstone_rows: u64,
    /// When the snapshot was written (manifest) or published (record).
    pub published_at: DateTime<Utc>,
}

/// The manifest written beside a snapshot before it is published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub snapshot: SnapshotRecord,
    pub previous_generation: Option<u64>,
    /// Raw-zone keys whose changes the snapshot holds.
    pub consumed: Vec<String>,
    /// The deltas this run added.
    pub new_deltas: Vec<String>,
    pub merge: MergeStats,
}

/// A snapshot folder name's parts: `<high water>_g<generation>_<token>`.
pub fn snapshot_id(high_water: &str, generation: u64, token: &str) -> String {
    format!("{high_water}_g{generation:08}_{token}")
}

/// The generation of a snapshot id.
pub fn generation_of(snapshot: &str) -> Option<u64> {
    snapshot.rsplit('_').nth(1)?.strip_prefix('g')?.parse().ok()
}

/// The Glue table of a dataset's curated snapshots.
pub fn curated_table_name(dataset_id: &str) -> String {
    format!("{}_curated", glue::table_name(dataset_id))
}

/// Key names of one snapshot in the curated bucket.
#[derive(Debug, Clone)]
pub struct SnapshotLayout {
    /// The dataset's curated prefix (`<dataset>/`).
    pub prefix: String,
    pub layout: Layout,
    pub partition_keys: Vec<String>,
    pub snapshot: String,
}

impl SnapshotLayout {
    /// The partition's folder: Hive `k=v/` (escaped) or DMS date folders.
    pub fn partition_dir(&self, values: &[String]) -> String {
        let mut dir = self.prefix.clone();
        for (k, v) in self.partition_keys.iter().zip(values) {
            match self.layout {
                Layout::Hive => dir.push_str(&format!("{k}={}/", escape_partition_value(v))),
                Layout::DmsDate | Layout::DmsDateHour => dir.push_str(&format!("{v}/")),
            }
        }
        dir
    }

    /// The snapshot folder of a partition.
    pub fn snapshot_dir(&self, values: &[String]) -> String {
        format!(
            "{}{SNAPSHOT_SEGMENT}{}/",
            self.partition_dir(values),
            self.snapshot
        )
    }

    pub fn tombstones_key(&self) -> String {
        format!(
            "{}{META_DIR}/tombstones/{}.parquet",
            self.prefix, self.snapshot
        )
    }

    pub fn manifest_key(prefix: &str, snapshot: &str) -> String {
        format!("{prefix}{META_DIR}/manifests/{snapshot}.json")
    }
}
