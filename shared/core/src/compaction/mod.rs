//! The compactor: a table's raw-tier changes collapse into a published snapshot in the curated
//! zone, the latest version of each primary key with deletes applied, swapped in atomically.
//!
//! # Input
//! `{"table": "<dataset id>"}`, optionally with `"partition"` or `"partitions"` (a Step Functions
//! Map item), and `"action": "compact"` (default) or `"retire"`. Whatever partitions are named,
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

pub mod merge;
mod snapshot;
mod writer;

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
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::keys;
use crate::catalog::table::{self, Attr, Cond, ItemTable, TableError, UpdateAction, Write};
use crate::catalog::{CatalogError, Dataset, DatasetCatalog};
use crate::clock::{self, Clock, SharedClock, SystemClock};
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
/// is kept until it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillPoint {
    /// Every snapshot file and the manifest are written; nothing is published.
    AfterFiles,
    /// Glue points at the new snapshot; the DynamoDB record does not.
    AfterSwap,
    /// The record is written; the lease is not released.
    AfterRecord,
    /// Retirement has deleted about half of what it will delete.
    DuringRetire,
}

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

/// Snapshot records and the per-table lease. Implemented once over the item-table port.
pub trait SnapshotLedger: Send + Sync {
    /// The table's published snapshot, if any.
    fn current(
        &self,
        dataset: &str,
    ) -> impl Future<Output = Result<Option<SnapshotRecord>, CompactionError>> + Send;
    /// Takes the lease for `ttl` unless another owner holds an unexpired one (then `Err(until)`).
    fn acquire(
        &self,
        dataset: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Result<(), DateTime<Utc>>, CompactionError>> + Send;
    /// Extends the lease if `owner` still holds it; `false` if it was lost.
    fn renew(
        &self,
        dataset: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, CompactionError>> + Send;
    fn release(
        &self,
        dataset: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), CompactionError>> + Send;
    /// Records `snapshot` if `owner` holds the lease and the recorded generation is `previous`;
    /// `false` when either condition fails (nothing written).
    fn publish(
        &self,
        snapshot: &SnapshotRecord,
        previous: Option<u64>,
        owner: &str,
    ) -> impl Future<Output = Result<bool, CompactionError>> + Send;
}

/// [`SnapshotLedger`] in the catalog table (`DynamoSnapshots` over DynamoDB): `pk =
/// compaction#<dataset>` (`crate::catalog::keys`), `sk = snapshot` (the record as JSON in `doc`, its
/// `generation`) and `sk = lease` (`owner`, `expires_ms`).
#[derive(Clone, Debug)]
pub struct Snapshots<T> {
    table: T,
}

impl From<TableError> for CompactionError {
    fn from(e: TableError) -> Self {
        CompactionError::Aws(e.into_aws())
    }
}

fn now_ms() -> i64 {
    SystemClock.epoch_millis()
}

/// The lease is `owner`'s and has not expired at `now` (ms).
fn lease_held(owner: &str, now: i64) -> Cond {
    Cond::eq("owner", Attr::s(owner)).and(Cond::ge("expires_ms", Attr::n(now)))
}

impl<T: ItemTable> Snapshots<T> {
    pub fn with_table(table: T) -> Self {
        Self { table }
    }
}

impl<T: ItemTable> SnapshotLedger for Snapshots<T> {
    async fn current(&self, dataset: &str) -> Result<Option<SnapshotRecord>, CompactionError> {
        let item = self.table.get(&keys::snapshot(dataset), None).await?;
        let Some(doc) = item.as_ref().and_then(|i| table::text(i, "doc")) else {
            return Ok(None);
        };
        serde_json::from_str(doc)
            .map(Some)
            .map_err(|e| CompactionError::Manifest {
                key: format!(
                    "table {} {}",
                    self.table.name(),
                    keys::compaction_pk(dataset)
                ),
                reason: e.to_string(),
            })
    }

    async fn acquire(
        &self,
        dataset: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Result<(), DateTime<Utc>>, CompactionError> {
        let now = now_ms();
        let lease = keys::lease(dataset);
        let put = Write::put(lease.item([
            ("owner", Attr::s(owner)),
            ("expires_ms", Attr::n(now + ttl.as_millis() as i64)),
        ]))
        .when(
            Cond::item_absent()
                .or(Cond::lt("expires_ms", Attr::n(now)))
                .or(Cond::eq("owner", Attr::s(owner))),
        );
        match self.table.write(put).await {
            Ok(()) => Ok(Ok(())),
            Err(e) if e.is_condition_failure() => {
                let until = self
                    .table
                    .get(&lease, None)
                    .await?
                    .as_ref()
                    .and_then(|i| table::number::<i64>(i, "expires_ms"))
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or_else(|| SystemClock.now());
                Ok(Err(until))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn renew(
        &self,
        dataset: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, CompactionError> {
        let now = now_ms();
        let update = Write::update(
            keys::lease(dataset),
            vec![UpdateAction::set(
                "expires_ms",
                Attr::n(now + ttl.as_millis() as i64),
            )],
        )
        .when(lease_held(owner, now));
        match self.table.write(update).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_condition_failure() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn release(&self, dataset: &str, owner: &str) -> Result<(), CompactionError> {
        let delete = Write::delete(keys::lease(dataset)).when(Cond::eq("owner", Attr::s(owner)));
        match self.table.write(delete).await {
            Ok(()) => Ok(()),
            // Expired and taken by another run: not ours to delete.
            Err(e) if e.is_condition_failure() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn publish(
        &self,
        snapshot: &SnapshotRecord,
        previous: Option<u64>,
        owner: &str,
    ) -> Result<bool, CompactionError> {
        let check = Write::check(keys::lease(&snapshot.dataset), lease_held(owner, now_ms()));
        let doc = serde_json::to_string(snapshot).expect("records serialise");
        let put = Write::put(keys::snapshot(&snapshot.dataset).item([
            ("generation", Attr::n(snapshot.generation)),
            ("snapshot", Attr::s(&snapshot.snapshot)),
            ("rows", Attr::n(snapshot.rows)),
            ("published_at", Attr::s(snapshot.published_at.to_rfc3339())),
            ("doc", Attr::s(doc)),
        ]))
        .when(match previous {
            None => Cond::item_absent(),
            Some(g) => Cond::eq("generation", Attr::n(g)),
        });
        match self.table.transact(vec![check, put]).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_condition_failure() => Ok(false),
            Err(e) => Err(e.into()),
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
            if !["table", "dataset", "partition", "partitions", "action"].contains(&k.as_str()) {
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
            other => {
                return Err(CompactionError::Input(format!(
                    "action must be compact or retire, not {other:?}"
                )));
            }
        };
        summary.requested_partitions = requested;
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

    /// Every partition of a Glue table (values → location); empty when the table is missing.
    async fn glue_partitions(
        &self,
        table: &str,
        summary: &mut CompactionSummary,
    ) -> Result<Option<(glue::TableState, HashMap<Vec<String>, String>)>, CompactionError> {
        summary.glue_calls += 1;
        let Some(state) = self.registrar.catalog().get_table(table).await? else {
            return Ok(None);
        };
        let mut out = HashMap::new();
        let mut token = None;
        loop {
            summary.glue_calls += 1;
            let (page, next) = self
                .registrar
                .catalog()
                .get_partitions(table, token)
                .await?;
            out.extend(page.into_iter().map(|p| (p.values, p.location)));
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(Some((state, out)))
    }

    /// Points every partition of `target` at its location: existing partitions are updated,
    /// new ones created; `existing` (values → location, as Glue holds them) follows. Idempotent.
    async fn swap(
        &self,
        def: &TableDef,
        existing: &mut HashMap<Vec<String>, String>,
        target: &[PartitionSnapshot],
        summary: &mut CompactionSummary,
    ) -> Result<(), CompactionError> {
        let mut update = Vec::new();
        let mut create = Vec::new();
        for p in target {
            let state = PartitionState {
                values: p.values.clone(),
                location: p.location.clone(),
            };
            match existing.get(&p.values) {
                Some(loc) if *loc == p.location => {}
                Some(_) => update.push(state),
                None => create.push(state),
            }
        }
        let catalog = self.registrar.catalog();
        for chunk in create.chunks(MAX_PARTITIONS_PER_CALL) {
            summary.glue_calls += 1;
            let failures = catalog.create_partitions(def, chunk).await?;
            let mut bad = Vec::new();
            for f in failures {
                if f.code == "AlreadyExistsException" {
                    // Created meanwhile (by partition registration): switch it instead.
                    if let Some(s) = chunk.iter().find(|s| s.values == f.values) {
                        update.push(s.clone());
                    }
                } else {
                    bad.push(f);
                }
            }
            if !bad.is_empty() {
                return Err(GlueError::Partitions {
                    table: def.name.clone(),
                    failures: bad,
                }
                .into());
            }
        }
        for chunk in update.chunks(MAX_PARTITIONS_PER_CALL) {
            summary.glue_calls += 1;
            let failures = catalog.update_partitions(def, chunk).await?;
            if !failures.is_empty() {
                return Err(GlueError::Partitions {
                    table: def.name.clone(),
                    failures,
                }
                .into());
            }
        }
        existing.extend(
            target
                .iter()
                .map(|p| (p.values.clone(), p.location.clone())),
        );
        Ok(())
    }

    /// Step 1 of a run: finishes a half-published snapshot, or puts Glue back on the record.
    /// Returns the record and the table's partitions as Glue then holds them (values →
    /// location; empty when the table does not exist yet).
    async fn recover(
        &self,
        ds: &Dataset,
        record: Option<SnapshotRecord>,
        owner: &str,
        summary: &mut CompactionSummary,
    ) -> Result<(Option<SnapshotRecord>, HashMap<Vec<String>, String>), CompactionError> {
        let table = curated_table_name(&ds.id);
        let Some((state, mut existing)) = self.glue_partitions(&table, summary).await? else {
            return Ok((record, HashMap::new()));
        };
        let current = record.as_ref().map(|r| r.snapshot.as_str());
        let mut foreign: Vec<String> = existing
            .values()
            .filter_map(|loc| snapshot_of_key(loc))
            .filter(|s| Some(*s) != current)
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if foreign.is_empty() {
            return Ok((record, existing));
        }
        foreign.sort_by_key(|s| std::cmp::Reverse(generation_of(s)));
        let def = def_from_state(&table, ds, state);
        for sid in foreign {
            let key = SnapshotLayout::manifest_key(&Self::prefix(ds), &sid);
            let Some(m) = self.manifest(&key).await? else {
                continue;
            };
            if m.previous_generation != record.as_ref().map(|r| r.generation) {
                continue;
            }
            tracing::warn!(dataset = %ds.id, snapshot = sid, "rolling forward a half-published snapshot");
            self.swap(&def, &mut existing, &m.snapshot.partitions, summary)
                .await?;
            let mut rec = m.snapshot.clone();
            rec.published_at = self.clock.now();
            if !self
                .ledger
                .publish(&rec, m.previous_generation, owner)
                .await?
            {
                return Err(CompactionError::LeaseLost {
                    table: ds.id.clone(),
                    generation: rec.generation,
                });
            }
            summary.recovered = Some(rec.generation);
            return Ok((Some(rec), existing));
        }
        // Glue names snapshots no manifest explains as next: put it back on the record.
        if let Some(rec) = &record {
            tracing::warn!(dataset = %ds.id, "catalog locations differ from the record: restoring");
            self.swap(&def, &mut existing, &rec.partitions, summary)
                .await?;
        }
        Ok((record, existing))
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

    /// The record of a written snapshot: the partitions written, plus those the catalog has that
    /// lost every row (they point at an empty folder of the new snapshot).
    fn snapshot_record(
        &self,
        ds: &Dataset,
        table: &str,
        sid: &str,
        generation: u64,
        written: &WrittenSnapshot,
        existing: &HashMap<Vec<String>, String>,
    ) -> SnapshotRecord {
        let layout = self.layout(ds, sid);
        let partition = |values: &Vec<String>, rows, bytes, files: Vec<String>| PartitionSnapshot {
            values: values.clone(),
            location: self.s3_location(&layout.snapshot_dir(values)),
            rows,
            bytes,
            files,
        };
        let mut partitions: Vec<PartitionSnapshot> = written
            .partitions
            .iter()
            .map(|p| partition(&p.values, p.rows, p.bytes, p.files.clone()))
            .collect();
        let mut emptied: Vec<&Vec<String>> = existing
            .keys()
            .filter(|v| !written.partitions.iter().any(|p| &p.values == *v))
            .collect();
        emptied.sort();
        partitions.extend(emptied.into_iter().map(|v| partition(v, 0, 0, vec![])));
        SnapshotRecord {
            dataset: ds.id.clone(),
            table: table.to_string(),
            generation,
            snapshot: sid.to_string(),
            high_water: written.high_water.clone().unwrap_or_default(),
            manifest: SnapshotLayout::manifest_key(&Self::prefix(ds), sid),
            rows: partitions.iter().map(|p| p.rows).sum(),
            files: partitions.iter().map(|p| p.files.len() as u64).sum(),
            bytes: partitions.iter().map(|p| p.bytes).sum(),
            partitions,
            tombstones: written.tombstones.clone(),
            tombstone_rows: written.tombstone_rows,
            published_at: self.clock.now(),
        }
    }

    /// Publishes a written snapshot: fence (renew the lease), swap the catalog's partitions,
    /// write the record under the lease and the generation check.
    async fn publish(
        &self,
        ds: &Dataset,
        owner: &str,
        manifest: &SnapshotManifest,
        file_schema: &SchemaRef,
        existing: &mut HashMap<Vec<String>, String>,
        summary: &mut CompactionSummary,
    ) -> Result<SnapshotRecord, CompactionError> {
        let snapshot = &manifest.snapshot;
        let lease_lost = || CompactionError::LeaseLost {
            table: ds.id.clone(),
            generation: snapshot.generation,
        };
        if !self
            .ledger
            .renew(&ds.id, owner, self.tuning.lease_ttl)
            .await?
        {
            return Err(lease_lost());
        }
        let mut reg = RegisterSummary::default();
        let key_types = glue::partition_key_types(ds, &self.partition_keys(ds));
        let file_table = arrow_table_schema(&ds.id, file_schema)?;
        let mut def = TableDef::new(ds, &self.config.curated_bucket, &file_table, &key_types)
            .with_layout(ds.layout);
        def.name = snapshot.table.clone();
        def.location = self.s3_location(&Self::prefix(ds));
        // Created, or evolved when the snapshot adds or widens columns.
        let def = self.registrar.ensure_table(&def, &mut reg).await?;
        summary.glue_calls += reg.glue_calls;
        self.swap(&def, existing, &snapshot.partitions, summary)
            .await?;
        self.kill(KillPoint::AfterSwap)?;
        let mut published = snapshot.clone();
        published.published_at = self.clock.now();
        if !self
            .ledger
            .publish(&published, manifest.previous_generation, owner)
            .await?
        {
            return Err(lease_lost());
        }
        self.kill(KillPoint::AfterRecord)?;
        Ok(published)
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

    /// Downloads the inputs and merges them into a snapshot written to the curated bucket.
    async fn merge_and_write(
        &self,
        ds: &Dataset,
        record: Option<&SnapshotRecord>,
        new: &[String],
        generation: u64,
        token: &str,
        work: &Path,
    ) -> Result<(WrittenSnapshot, SchemaRef), CompactionError> {
        let keys = self.partition_keys(ds);
        let raw_prefix = ds.zone_prefix();
        let mut sources: Vec<Source> = Vec::new();
        if let Some(r) = record {
            for p in &r.partitions {
                let part: Vec<(String, String)> =
                    keys.iter().cloned().zip(p.values.iter().cloned()).collect();
                for f in &p.files {
                    sources.push((self.config.curated_bucket.clone(), f.clone(), part.clone()));
                }
            }
            if let Some(t) = &r.tombstones {
                sources.push((self.config.curated_bucket.clone(), t.clone(), vec![]));
            }
        }
        for key in new {
            let rel = key.strip_prefix(&raw_prefix).unwrap_or(key);
            let part = glue::partition_from_path(ds.layout, rel).map_err(|reason| {
                CompactionError::NotCompactable {
                    id: ds.id.clone(),
                    reason: format!("raw object {key}: {reason}"),
                }
            })?;
            sources.push((
                self.config.raw_bucket.clone(),
                key.clone(),
                part.keys.into_iter().zip(part.values).collect(),
            ));
        }
        let dir = work.join("in");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| CompactionError::Io {
                path: dir.clone(),
                source,
            })?;
        let inputs: Vec<LocalInput> = futures::stream::iter(sources.into_iter().enumerate())
            .map(|(i, (bucket, key, partition))| {
                let path = dir.join(format!("{i:06}.parquet"));
                async move {
                    self.download(&bucket, &key, &path).await?;
                    Ok::<_, CompactionError>(LocalInput { path, partition })
                }
            })
            .buffered(DOWNLOADS_IN_FLIGHT)
            .try_collect()
            .await?;
        // The folder name carries the high-water mark, so it is read before the merge.
        let high_water = input_high_water(&inputs)?;
        let sid = snapshot_id(&high_water, generation, token);
        let layout = self.layout(ds, &sid);
        let sinks = crate::storage::S3SinkFactory {
            store: self.store.clone(),
            handle: tokio::runtime::Handle::current(),
            bucket: self.config.curated_bucket.clone(),
            part_size: crate::storage::DEFAULT_PART_SIZE,
        };
        let (id, key_columns, tuning, runs) = (
            ds.id.clone(),
            ds.primary_key.clone(),
            self.tuning.clone(),
            work.join("runs"),
        );
        let mut written = tokio::task::spawn_blocking(move || {
            merge_to_snapshot(
                &id,
                &inputs,
                &key_columns,
                layout,
                &sinks,
                &tuning,
                &runs,
                true,
            )
        })
        .await
        .map_err(|e| CompactionError::Join(e.to_string()))??;
        written.high_water = Some(high_water);
        let schema = written
            .file_schema
            .clone()
            .expect("finish sets the file schema");
        Ok((written, schema))
    }

    async fn download(&self, bucket: &str, key: &str, path: &Path) -> Result<(), CompactionError> {
        let io = |source| CompactionError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut body = self.store.get(bucket, key, None).await?;
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        tokio::io::copy(&mut body, &mut file).await.map_err(io)?;
        use tokio::io::AsyncWriteExt;
        file.flush().await.map_err(io)?;
        Ok(())
    }

    /// Step 6 of the module docs: deletes what no published snapshot needs any more, after
    /// the grace period.
    async fn retire_leased(
        &self,
        ds: &Dataset,
        record: Option<SnapshotRecord>,
        existing: &HashMap<Vec<String>, String>,
        summary: &mut CompactionSummary,
    ) -> Result<(), CompactionError> {
        summary.status = "retired".into();
        let Some(record) = record else {
            return Ok(());
        };
        summary.generation = Some(record.generation);
        summary.snapshot = Some(record.snapshot.clone());
        // Whatever the record or Glue names stays.
        let mut live: HashSet<String> = HashSet::from([record.snapshot.clone()]);
        live.extend(
            existing
                .values()
                .filter_map(|l| snapshot_of_key(l))
                .map(str::to_string),
        );
        let now = self.clock.now();
        let grace = chrono::Duration::from_std(self.tuning.grace).unwrap_or(chrono::Duration::MAX);
        let published_long_ago = now - record.published_at >= grace;
        let prefix = Self::prefix(ds);
        let bucket = &self.config.curated_bucket;
        // Objects of each snapshot id: data files, tombstones, manifest.
        let mut by_snapshot: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let manifests = format!("{prefix}{META_DIR}/manifests/");
        let tombstones = format!("{prefix}{META_DIR}/tombstones/");
        for key in self.store.list(bucket, &prefix).await? {
            let sid = if let Some(name) = key.strip_prefix(&manifests) {
                name.strip_suffix(".json").map(str::to_string)
            } else if let Some(name) = key.strip_prefix(&tombstones) {
                name.strip_suffix(".parquet").map(str::to_string)
            } else {
                snapshot_of_key(&key).map(str::to_string)
            };
            if let Some(sid) = sid {
                by_snapshot.entry(sid).or_default().push(key);
            }
        }
        let mut doomed: Vec<(String, String)> = Vec::new();
        for (sid, mut keys) in by_snapshot {
            if live.contains(&sid) {
                continue;
            }
            let superseded = generation_of(&sid).is_some_and(|g| g < record.generation);
            let old_enough = if superseded {
                // Superseded at or before the current record's publication.
                published_long_ago
            } else {
                // An unpublished leftover of a crashed run: judged by when it was written.
                let mut newest = None;
                for k in &keys {
                    if let Some(m) = self.store.head(bucket, k).await? {
                        newest = newest.max(m.last_modified);
                    }
                }
                newest.is_none_or(|t| now - t >= grace)
            };
            if !old_enough {
                summary.retained_snapshots += 1;
                continue;
            }
            // The manifest goes last: while any file remains, its manifest explains it.
            keys.sort_by_key(|k| k.starts_with(&manifests));
            doomed.extend(keys.into_iter().map(|k| (bucket.clone(), k)));
        }
        if published_long_ago {
            let m = self.manifest(&record.manifest).await?;
            for key in m.iter().flat_map(|m| m.consumed.iter()) {
                doomed.push((self.config.raw_bucket.clone(), key.clone()));
            }
        }
        let half = doomed.len() / 2;
        for (i, (b, k)) in doomed.iter().enumerate() {
            if i == half && i > 0 {
                self.kill(KillPoint::DuringRetire)?;
            }
            if self.store.head(b, k).await?.is_none() {
                continue;
            }
            self.store.delete(b, k).await?;
            if *b == self.config.raw_bucket {
                summary.retired_deltas += 1;
            } else {
                summary.retired_objects += 1;
            }
        }
        tracing::info!(dataset = %ds.id, objects = summary.retired_objects, deltas = summary.retired_deltas, retained = summary.retained_snapshots, "retired");
        Ok(())
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
