//! The compactor: a table's raw-tier changes collapse into a published snapshot in the curated
//! zone, the latest version of each primary key with deletes applied, swapped in atomically.
//!
//! # Input
//! `{"table": "<dataset id>"}`, optionally with `"partition"` or `"partitions"` (a Step Functions
//! Map item), and `"action": "compact"` (default), `"retire"` or `"pending"` (what is waiting and
//! whether it is due, read-only: see `pending.rs`). Whatever partitions are named,
//! the **whole table** is merged: DMS deletes carry only the key (their rows sit in the default
//! partition) and updates move keys between partitions, so a partition's true content depends on
//! every partition's changes. Concurrent Map items for one table meet at the table's lease: one
//! compacts, the others get `Tributary.Retryable` (lease busy) and, retried, find nothing new.
//!
//! # Layout (curated bucket)
//! ```text
//! <dataset>/<partition path>/snapshot=<id>/part-00000.parquet   data, per partition
//! <dataset>/_compaction/tombstones/<id>.parquet                  winning deletes (never read
//!                                                                 by a reader: hidden folder)
//! <dataset>/_compaction/manifests/<id>.json                      the snapshot's manifest
//! ```
//! `<id>` = `<high-water _seq>_g<generation>_<run token>`: the highest `_seq` the snapshot holds,
//! the table's snapshot generation (1, 2, ...) and a random token, so a crashed or stale run can
//! never overwrite a published file. Snapshot files keep every column of the winning raw row,
//! system columns included, except the partition columns (they are in the path).
//!
//! # A run (under the table's lease)
//! 1. **Recover**: if Glue points a partition at a snapshot the DynamoDB record does not name
//!    (a run died between the Glue swap and the record), that run's manifest is rolled forward:
//!    the swap is finished and the record written.
//! 2. **Plan**: every data object under the dataset's raw prefix that the current manifest does
//!    not list as consumed is a new delta; the manifest lists consumed *files*, not a sequence
//!    range, because a late DMS file can carry lower `_seq` values than one already compacted.
//!    Nothing new → no-op.
//! 3. **Merge** ([`crate::compaction::merge::latest_per_key`], memory bounded by spilling sorted runs to
//!    local disk): the current snapshot's files, its tombstones and the new deltas. Per key the
//!    highest `_seq` wins; a winning delete is kept as a **tombstone** (outside every partition
//!    location), so a late, older insert of a deleted key cannot bring it back.
//! 4. **Write** the new snapshot under fresh prefixes, files split at the target size, then its
//!    manifest (files, rows, consumed deltas, merge counts).
//! 5. **Publish**, only after every file is durable: (a) the lease is renewed (fencing), (b) each
//!    Glue partition's location is switched to its new prefix (partitions that lost all rows
//!    point at an empty prefix), (c) the record is written in one DynamoDB transaction that
//!    checks the lease and the previous generation. A reader planning through the catalog sees
//!    a partition's old files or its new ones, never a mix: files are never modified in place.
//! 6. **Retire** (`"action": "retire"`, a separate step): snapshots other than the published
//!    one (and Glue's), their tombstones and manifests, and the published snapshot's consumed
//!    deltas are deleted only once the grace period has passed since they were superseded
//!    (unpublished leftovers of crashed runs: since they were written).
//!
//! # Invariants
//! - **Deterministic content**: the rows of a snapshot depend only on the set of consumed
//!   deltas, whatever the order or number of runs that consumed them (merging is associative
//!   because tombstones are kept).
//! - **Crash-safe and idempotent**: a run killed anywhere leaves either the previous published
//!   state (plus unreferenced files that retirement reaps) or a Glue swap that the next run rolls
//!   forward; a run with nothing new changes nothing.
//! - **One publisher**: the lease outlives the function's timeout ([`crate::config::COMPACT_LEASE_SECONDS`]),
//!   and the record's conditional write checks both the lease and the generation.
//! - **Nothing lost**: `rows_in = rows_out + superseded + deleted`.

mod inputs;
mod lease;
pub mod merge;
mod pending;
mod publish;
mod retire;
mod snapshot;
mod writer;

pub use lease::{SnapshotLedger, Snapshots};
pub use pending::{DueRules, PendingSummary};
pub use snapshot::*;
pub use writer::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, StringArray};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::keys;
use crate::catalog::table::{self, Attr, Cond, ItemTable, TableError, UpdateAction, Write};
use crate::catalog::{CatalogError, Dataset, DatasetCatalog};
use crate::clock::{self, SharedClock};
use crate::compaction::merge::CompactError;
use crate::config::{CompactionTuning, Config};
use crate::error::{AwsError, Classify, ErrorKind};
use crate::format::raw::META_SEQ_MAX;
use crate::model::schema::{Column, ColumnType, TableSchema};
use crate::storage::{ObjectStore, StorageError};
use crate::tables::glue::{
    self, GlueError, MAX_PARTITIONS_PER_CALL, PartitionCatalog, PartitionState, RegisterSummary,
    Registrar, TableDef,
};

/// Parallel downloads of input objects.
const DOWNLOADS_IN_FLIGHT: usize = 4;

/// Where a run may be stopped as if it crashed (fault tests): nothing is cleaned up and the lease
/// is kept until it expires. The compactor's points: `AfterFiles`, `AfterSwap`, `AfterRecord`,
/// `DuringRetire`.
pub use crate::faults::KillPoint;

#[derive(Debug, thiserror::Error)]
pub enum CompactionError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Glue(#[from] GlueError),
    #[error(transparent)]
    Merge(#[from] CompactError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("bad task input: {0}")]
    Input(String),
    #[error("dataset {0} is not declared")]
    UnknownDataset(String),
    #[error("dataset {id} cannot be compacted: {reason}")]
    NotCompactable { id: String, reason: String },
    #[error("table {table}: another compaction holds the lease until {until}")]
    LeaseBusy { table: String, until: String },
    #[error("table {table}: the lease was lost before generation {generation} was recorded")]
    LeaseLost { table: String, generation: u64 },
    #[error("table {table}: files disagree on column {column}: {a} and {b} do not merge")]
    SchemaConflict {
        table: String,
        column: String,
        a: DataType,
        b: DataType,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parquet {path}: {source}")]
    Parquet {
        path: String,
        source: parquet::errors::ParquetError,
    },
    #[error("manifest {key}: {reason}")]
    Manifest { key: String, reason: String },
    #[error("stopped at kill point {0:?} (fault injection)")]
    Killed(KillPoint),
    #[error("merge task failed: {0}")]
    Join(String),
}

impl Classify for CompactionError {
    fn kind(&self) -> ErrorKind {
        match self {
            CompactionError::Storage(e) => e.kind(),
            CompactionError::Catalog(e) => e.kind(),
            CompactionError::Glue(e) => e.kind(),
            CompactionError::Merge(e) => e.kind(),
            CompactionError::Aws(e) => e.kind(),
            CompactionError::Input(_)
            | CompactionError::UnknownDataset(_)
            | CompactionError::NotCompactable { .. }
            | CompactionError::SchemaConflict { .. } => ErrorKind::BadInput,
            CompactionError::LeaseBusy { .. }
            | CompactionError::LeaseLost { .. }
            | CompactionError::Io { .. } => ErrorKind::Retryable,
            CompactionError::Parquet { .. }
            | CompactionError::Manifest { .. }
            | CompactionError::Killed(_)
            | CompactionError::Join(_) => ErrorKind::Fatal,
        }
    }
}

/// What a run did (the function's output).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactionSummary {
    pub dataset: String,
    pub table: String,
    /// `published`, `unchanged`, `empty` (no data yet) or `retired`.
    pub status: String,
    pub generation: Option<u64>,
    pub snapshot: Option<String>,
    pub high_water: Option<String>,
    /// The generation a previous, interrupted run had half-published and this run finished.
    pub recovered: Option<u64>,
    /// Partitions named in the input (the whole table is always merged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requested_partitions: Vec<Value>,
    pub deltas_consumed: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    pub superseded: u64,
    pub deleted: u64,
    pub tombstones: u64,
    pub partitions: u64,
    pub files: u64,
    pub bytes: u64,
    pub runs_spilled: u64,
    pub bytes_spilled: u64,
    pub glue_calls: u64,
    /// Retirement: objects deleted (snapshot files, tombstones, manifests) and consumed deltas.
    pub retired_objects: u64,
    pub retired_deltas: u64,
    /// Retirement: superseded snapshots still inside the grace period.
    pub retained_snapshots: u64,
    pub duration_ms: u64,
}

impl CompactionSummary {
    /// The run's EMF line ([`crate::metrics`]); a successful compaction run (published or
    /// unchanged) also counts [`crate::metrics::COMPACTIONS_SUCCEEDED`], the compaction-lag alarm's
    /// metric (its `[Function]` dimension set sums every dataset).
    pub fn emit_metrics(&self, compaction: bool) {
        use crate::metrics as m;
        m::emit(Some(&self.dataset), |e| {
            e.count(m::ROWS_IN, self.rows_in)
                .count(m::ROWS_WRITTEN, self.rows_out)
                .bytes(m::BYTES_WRITTEN, self.bytes)
                .millis("Compact", u128::from(self.duration_ms));
            if compaction {
                e.count(m::COMPACTIONS_SUCCEEDED, 1);
            }
        });
    }
}

/// The compactor handler (see the module docs).
pub struct Compactor<S, C, G, L> {
    store: S,
    catalog: C,
    registrar: Registrar<G>,
    ledger: L,
    config: Arc<Config>,
    tuning: CompactionTuning,
    kill_at: Option<KillPoint>,
    clock: SharedClock,
}

/// What a run has to do: the raw objects listed, those the published snapshot consumed, and the
/// new deltas (listed, not consumed).
struct Plan {
    consumed: HashSet<String>,
    listed: Vec<String>,
    new: Vec<String>,
}

impl Plan {
    /// Every delta the new snapshot holds, sorted: the still-listed consumed ones and the new.
    fn all_consumed(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .listed
            .iter()
            .filter(|k| self.consumed.contains(k.as_str()))
            .chain(self.new.iter())
            .cloned()
            .collect();
        all.sort();
        all
    }
}

impl CompactionSummary {
    /// Nothing new: the published snapshot (if any) stands.
    fn unchanged(&mut self, record: Option<&SnapshotRecord>) {
        self.status = if record.is_some() {
            "unchanged"
        } else {
            "empty"
        }
        .into();
        if let Some(r) = record {
            self.generation = Some(r.generation);
            self.snapshot = Some(r.snapshot.clone());
            self.high_water = Some(r.high_water.clone());
            self.rows_out = r.rows;
            self.partitions = r.partitions.len() as u64;
            self.files = r.files;
            self.bytes = r.bytes;
        }
    }

    /// A snapshot was published.
    fn published(&mut self, published: &SnapshotRecord, written: &WrittenSnapshot, deltas: u64) {
        let st = &written.stats;
        self.status = "published".into();
        self.generation = Some(published.generation);
        self.snapshot = Some(published.snapshot.clone());
        self.high_water = Some(published.high_water.clone());
        self.deltas_consumed = deltas;
        self.rows_in = st.rows_in;
        self.rows_out = st.rows_out;
        self.superseded = st.superseded;
        self.deleted = st.deleted;
        self.tombstones = written.tombstone_rows;
        self.partitions = published.partitions.len() as u64;
        self.files = published.files;
        self.bytes = published.bytes;
        self.runs_spilled = st.runs_spilled;
        self.bytes_spilled = st.bytes_spilled;
    }
}

/// An input to download: (bucket, key, partition values).
type Source = (String, String, Vec<(String, String)>);

/// A random run token: 8 hex digits (the first 32 bits of a v4 UUID, all random), never `_`
/// (snapshot ids are split at `_`, see [`generation_of`]).
fn run_token() -> String {
    let mut token = uuid::Uuid::new_v4().simple().to_string();
    token.truncate(8);
    token
}

/// A TableDef of the curated table as Glue holds it (for location swaps).
fn def_from_state(name: &str, ds: &Dataset, st: glue::TableState) -> TableDef {
    TableDef {
        name: name.to_string(),
        location: st.location,
        columns: st.columns,
        partition_keys: st.partition_keys,
        description: ds.business.description.clone(),
        layout: ds.layout,
        required: Vec::new(),
    }
}

impl<S, C, G, L> Compactor<S, C, G, L>
where
    S: ObjectStore,
    C: DatasetCatalog,
    G: PartitionCatalog,
    L: SnapshotLedger,
{
    pub fn new(
        store: S,
        catalog: C,
        glue: G,
        ledger: L,
        config: Arc<Config>,
        tuning: CompactionTuning,
    ) -> Self {
        Self {
            store,
            catalog,
            registrar: Registrar::new(glue),
            ledger,
            config,
            tuning,
            kill_at: None,
            clock: clock::system(),
        }
    }

    /// Reads time (publication times, the grace period of retirement) from `clock` instead of
    /// the system's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Fault testing: stop the next runs at `point` as a crash would (nothing cleaned up, the
    /// lease kept until it expires).
    pub fn with_kill_point(mut self, point: Option<KillPoint>) -> Self {
        self.kill_at = point;
        self
    }

    fn kill(&self, point: KillPoint) -> Result<(), CompactionError> {
        if self.kill_at == Some(point) {
            tracing::warn!(?point, "fault injection: stopping here");
            return Err(CompactionError::Killed(point));
        }
        Ok(())
    }

    /// Handles a task input (see the module docs).
    pub async fn handle(&self, input: Value) -> Result<Value, CompactionError> {
        let obj = input
            .as_object()
            .ok_or_else(|| CompactionError::Input("expected a JSON object".into()))?;
        for k in obj.keys() {
            if ![
                "table",
                "dataset",
                "partition",
                "partitions",
                "action",
                "min_deltas",
                "min_bytes",
                "max_age_seconds",
            ]
            .contains(&k.as_str())
            {
                return Err(CompactionError::Input(format!("unknown field {k:?}")));
            }
        }
        let id = obj
            .get("table")
            .or_else(|| obj.get("dataset"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                CompactionError::Input("field table (a dataset id) is required".into())
            })?;
        let mut requested = Vec::new();
        if let Some(p) = obj.get("partition") {
            requested.push(p.clone());
        }
        match obj.get("partitions") {
            None => {}
            Some(Value::Array(a)) => requested.extend(a.iter().cloned()),
            Some(_) => return Err(CompactionError::Input("partitions must be a list".into())),
        }
        let action = obj
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("compact");
        let mut summary = match action {
            "compact" => Box::pin(self.run(id, false)).await?,
            "retire" => Box::pin(self.run(id, true)).await?,
            "pending" => {
                let rules = DueRules::from_input(obj)?;
                let pending = self.pending(id, rules).await?;
                return Ok(serde_json::to_value(pending).expect("summaries serialise"));
            }
            other => {
                return Err(CompactionError::Input(format!(
                    "action must be compact, retire or pending, not {other:?}"
                )));
            }
        };
        summary.requested_partitions = requested;
        summary.emit_metrics(action == "compact");
        Ok(serde_json::to_value(summary).expect("summaries serialise"))
    }

    async fn dataset(&self, id: &str) -> Result<Dataset, CompactionError> {
        let ds = self
            .catalog
            .get(id)
            .await?
            .ok_or_else(|| CompactionError::UnknownDataset(id.into()))?;
        let not = |reason: &str| CompactionError::NotCompactable {
            id: id.into(),
            reason: reason.into(),
        };
        if ds.primary_key.is_empty() {
            return Err(not("it declares no primary_key"));
        }
        if ds.zone != "raw" {
            return Err(not(
                "only raw-zone datasets (sequenced changes with _op and _seq) are compacted",
            ));
        }
        Ok(ds)
    }

    /// Runs `work` under the table's lease; the lease is released unless the run was killed.
    async fn leased<T>(
        &self,
        ds: &Dataset,
        work: impl AsyncFnOnce(&str) -> Result<T, CompactionError>,
    ) -> Result<T, CompactionError> {
        let owner = run_token();
        if let Err(until) = self
            .ledger
            .acquire(&ds.id, &owner, self.tuning.lease_ttl)
            .await?
        {
            return Err(CompactionError::LeaseBusy {
                table: ds.id.clone(),
                until: clock::rfc3339_millis(until),
            });
        }
        let result = work(&owner).await;
        if !matches!(result, Err(CompactionError::Killed(_))) {
            self.ledger.release(&ds.id, &owner).await?;
        }
        result
    }

    fn prefix(ds: &Dataset) -> String {
        format!("{}/", ds.path_name())
    }

    fn s3_location(&self, key_prefix: &str) -> String {
        format!("s3://{}/{key_prefix}", self.config.curated_bucket)
    }

    async fn manifest(&self, key: &str) -> Result<Option<SnapshotManifest>, CompactionError> {
        if self
            .store
            .head(&self.config.curated_bucket, key)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let body = self.read_all(&self.config.curated_bucket, key).await?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| CompactionError::Manifest {
                key: key.into(),
                reason: e.to_string(),
            })
    }

    async fn read_all(&self, bucket: &str, key: &str) -> Result<Vec<u8>, CompactionError> {
        use tokio::io::AsyncReadExt;
        let mut body = self.store.get(bucket, key, None).await?;
        let mut buf = Vec::new();
        body.read_to_end(&mut buf)
            .await
            .map_err(|source| CompactionError::Io {
                path: PathBuf::from(format!("s3://{bucket}/{key}")),
                source,
            })?;
        Ok(buf)
    }

    /// Compacts (or retires, see the module docs) one table under its lease, after recovering
    /// a half-published snapshot (step 1).
    async fn run(&self, id: &str, retire: bool) -> Result<CompactionSummary, CompactionError> {
        let ds = self.dataset(id).await?;
        self.leased(&ds, async |owner: &str| {
            let started = Instant::now();
            let mut summary = CompactionSummary {
                dataset: ds.id.clone(),
                table: curated_table_name(&ds.id),
                ..Default::default()
            };
            let record = self.ledger.current(&ds.id).await?;
            let (record, existing) = self.recover(&ds, record, owner, &mut summary).await?;
            if retire {
                self.retire_leased(&ds, record, &existing, &mut summary)
                    .await?;
            } else {
                self.compact_leased(&ds, owner, record, existing, &mut summary)
                    .await?;
            }
            summary.duration_ms = started.elapsed().as_millis() as u64;
            Ok(summary)
        })
        .await
    }

    async fn compact_leased(
        &self,
        ds: &Dataset,
        owner: &str,
        record: Option<SnapshotRecord>,
        mut existing: HashMap<Vec<String>, String>,
        summary: &mut CompactionSummary,
    ) -> Result<(), CompactionError> {
        let plan = self.plan(ds, record.as_ref()).await?;
        if plan.new.is_empty() {
            summary.unchanged(record.as_ref());
            return Ok(());
        }
        let generation = record.as_ref().map_or(1, |r| r.generation + 1);
        let token = run_token();
        let work = self.tuning.spill_dir.join(format!(
            "tributary-compact-{}-{token}",
            glue::table_name(&ds.id)
        ));
        let result = self
            .merge_and_write(ds, record.as_ref(), &plan.new, generation, &token, &work)
            .await;
        let _ = tokio::fs::remove_dir_all(&work).await;
        let (written, file_schema) = result?;
        let high_water = written.high_water.clone().unwrap_or_default();
        let sid = snapshot_id(&high_water, generation, &token);
        let snapshot =
            self.snapshot_record(ds, &summary.table, &sid, generation, &written, &existing);
        let manifest = SnapshotManifest {
            snapshot: snapshot.clone(),
            previous_generation: record.as_ref().map(|r| r.generation),
            consumed: plan.all_consumed(),
            new_deltas: plan.new.clone(),
            merge: written.stats.clone(),
        };
        self.store
            .put(
                &self.config.curated_bucket,
                &snapshot.manifest,
                serde_json::to_vec_pretty(&manifest)
                    .expect("manifests serialise")
                    .into(),
                "application/json",
            )
            .await?;
        self.kill(KillPoint::AfterFiles)?;
        let published = self
            .publish(ds, owner, &manifest, &file_schema, &mut existing, summary)
            .await?;
        tracing::info!(dataset = %ds.id, generation, snapshot = %sid, rows = published.rows, "snapshot published");
        summary.published(&published, &written, plan.new.len() as u64);
        Ok(())
    }

    /// The new deltas: every data object under the raw prefix that the published manifest does
    /// not list as consumed.
    async fn plan(
        &self,
        ds: &Dataset,
        record: Option<&SnapshotRecord>,
    ) -> Result<Plan, CompactionError> {
        let previous = match record {
            Some(r) => Some(self.manifest(&r.manifest).await?.ok_or_else(|| {
                CompactionError::Manifest {
                    key: r.manifest.clone(),
                    reason: "the published snapshot's manifest is missing".into(),
                }
            })?),
            None => None,
        };
        let consumed: HashSet<String> = previous
            .map(|m| m.consumed)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let listed: Vec<String> = self
            .store
            .list(&self.config.raw_bucket, &ds.zone_prefix())
            .await?
            .into_iter()
            .filter(|k| glue::is_data_object(k))
            .collect();
        let new = listed
            .iter()
            .filter(|k| !consumed.contains(k.as_str()))
            .cloned()
            .collect();
        Ok(Plan {
            consumed,
            listed,
            new,
        })
    }

    fn partition_keys(&self, ds: &Dataset) -> Vec<String> {
        match ds.layout.date_keys() {
            Some(keys) => keys.iter().map(|k| k.to_string()).collect(),
            None => ds.partition_columns.clone(),
        }
    }

    fn layout(&self, ds: &Dataset, snapshot: &str) -> SnapshotLayout {
        SnapshotLayout {
            prefix: Self::prefix(ds),
            layout: ds.layout,
            partition_keys: self.partition_keys(ds),
            snapshot: snapshot.to_string(),
        }
    }
}

/// The highest `_seq` among the inputs: the snapshot's high-water mark (superseded rows have
/// lower `_seq` than their winners, so the highest input `_seq` survives as a row or a
/// tombstone). Read from each file's [`META_SEQ_MAX`] footer entry (written by the sequencer and
/// the compactor), else from its `_seq` column.
pub fn input_high_water(inputs: &[LocalInput]) -> Result<String, CompactionError> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut best: Option<String> = None;
    let mut offer = |m: &str| {
        if best.as_deref().is_none_or(|b| m > b) {
            best = Some(m.to_string());
        }
    };
    for input in inputs {
        let perr = |source| CompactionError::Parquet {
            path: input.path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(&input.path).map_err(|source| CompactionError::Io {
            path: input.path.clone(),
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
        let meta = builder.metadata().file_metadata();
        let recorded = meta
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == META_SEQ_MAX))
            .and_then(|e| e.value.clone());
        if let Some(m) = recorded {
            offer(&m);
            continue;
        }
        let Some(col) = meta
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == "_seq")
        else {
            continue;
        };
        let mask = ProjectionMask::leaves(meta.schema_descr(), [col]);
        for batch in builder.with_projection(mask).build().map_err(perr)? {
            let batch = batch.map_err(|e| perr(e.into()))?;
            if let Some(seq) = batch.column(0).as_any().downcast_ref::<StringArray>()
                && let Some(m) = arrow::compute::max_string(seq)
            {
                offer(m);
            }
        }
    }
    Ok(best.unwrap_or_default())
}

/// The Glue columns of snapshot files.
fn arrow_table_schema(id: &str, schema: &Schema) -> Result<TableSchema, CompactionError> {
    Ok(TableSchema {
        columns: schema
            .fields()
            .iter()
            .map(|f| {
                Ok(Column {
                    name: f.name().clone(),
                    ty: ColumnType::from_arrow(f.data_type()).ok_or_else(|| {
                        CompactionError::NotCompactable {
                            id: id.into(),
                            reason: format!(
                                "column {} has type {} with no catalog equivalent",
                                f.name(),
                                f.data_type()
                            ),
                        }
                    })?,
                    nullable: true,
                })
            })
            .collect::<Result<_, CompactionError>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Layout;
    use arrow::datatypes::Field;

    #[test]
    fn snapshot_ids_round_trip() {
        let sid = snapshot_id("1-0000-0000-0000000012", 7, "ab12cd34");
        assert_eq!(sid, "1-0000-0000-0000000012_g00000007_ab12cd34");
        assert_eq!(generation_of(&sid), Some(7));
        let key = format!("hr.e/DEPARTMENT_ID=10/snapshot={sid}/part-00000.parquet");
        assert_eq!(snapshot_of_key(&key), Some(sid.as_str()));
        assert_eq!(snapshot_of_key("hr.e/DEPARTMENT_ID=10/x.parquet"), None);
    }

    #[test]
    fn run_tokens_are_short_random_hex() {
        let (a, b) = (run_token(), run_token());
        assert_ne!(a, b);
        for t in [&a, &b] {
            assert_eq!(t.len(), 8, "{t}");
            assert!(t.bytes().all(|c| c.is_ascii_hexdigit()), "{t}");
        }
        let sid = snapshot_id("0000000042-00000000000000000001", 3, &a);
        assert_eq!(generation_of(&sid), Some(3));
        assert!(sid.ends_with(&format!("_{a}")));
    }

    #[test]
    fn types_widen_or_conflict() {
        use DataType::*;
        assert_eq!(merge_types(&Int32, &Int64), Some(Int64));
        assert_eq!(merge_types(&Int64, &Float64), Some(Float64));
        assert_eq!(merge_types(&Null, &Utf8), Some(Utf8));
        assert_eq!(merge_types(&Utf8, &Int64), None);
        let a = Arc::new(Schema::new(vec![Field::new("a", Int32, false)]));
        let b = Arc::new(Schema::new(vec![
            Field::new("a", Int64, true),
            Field::new("b", Utf8, true),
        ]));
        let u = unify_schemas("t", &[a, b]).unwrap();
        assert_eq!(u.field(0).data_type(), &Int64);
        assert_eq!(u.fields().len(), 2);
        let c = Arc::new(Schema::new(vec![Field::new("b", Boolean, true)]));
        assert!(matches!(
            unify_schemas("t", &[u, c]),
            Err(CompactionError::SchemaConflict { .. })
        ));
    }

    #[test]
    fn layouts_name_folders() {
        let l = SnapshotLayout {
            prefix: "s.o/".into(),
            layout: Layout::Hive,
            partition_keys: vec!["region".into()],
            snapshot: "X".into(),
        };
        assert_eq!(
            l.snapshot_dir(&["eu/west".into()]),
            "s.o/region=eu%2Fwest/snapshot=X/"
        );
        assert_eq!(
            l.snapshot_dir(&["".into()]),
            "s.o/region=__HIVE_DEFAULT_PARTITION__/snapshot=X/"
        );
        assert_eq!(l.tombstones_key(), "s.o/_compaction/tombstones/X.parquet");
        let d = SnapshotLayout {
            layout: Layout::DmsDate,
            partition_keys: vec!["year".into(), "month".into(), "day".into()],
            ..l
        };
        assert_eq!(
            d.snapshot_dir(&["2024".into(), "11".into(), "05".into()]),
            "s.o/2024/11/05/snapshot=X/"
        );
    }
}
