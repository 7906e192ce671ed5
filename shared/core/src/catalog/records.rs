//! Dataset records in the catalog table, written together with their search index entries.
//!
//! A record is every item under `pk = dataset#<id>`:
//!
//! | sk | content |
//! | --- | --- |
//! | `declaration` | `doc` (the declaration, business metadata included), `version` (1, 2, ...), `updated_at`, `ix` (the index buckets the dataset occupies), `schema_version`, `schema_hash` |
//! | `stats` | counts, location, last update, recorded schema (written by landing, see `crate::catalog`) |
//! | `schema#<NNNNNN>` | one schema version: `schema` (JSON), `recorded_at`, `source` (`declared` or `recorded`) |
//!
//! Invariants:
//! - **Every write of a record goes through [`RecordStore::write`]**: one transaction
//!   ([`record_writes`]) puts the declaration (conditioned on the version read before, so concurrent writers cannot
//!   both win), the dataset's digest, its postings in every bucket it occupies, removes it from the
//!   buckets it left (`ix` of the previous version), and adds a schema version when the effective
//!   schema (declared, else recorded) changed. The index therefore always describes the stored
//!   version of every record. `declare` (the catalog port), the metadata API and the landing commit
//!   that records an inferred schema all write this way. A declaration's transaction also puts
//!   the dataset's route items ([`route_items`], the one place they are built).
//! - A transaction touches at most 1 + 1 + [`BUCKETS`] + 4 items, below DynamoDB's 100.
//! - Versions only grow; `If-Match` on the API compares with `version`.
//! - [`bulk_load`] writes records, routes and complete index items with batch puts; it replaces
//!   the whole index, so it is given every dataset (first load, re-index).
//! - Written once over the item-table port (`crate::catalog::table`): [`Records`] over any table,
//!   `DynamoRecords` over DynamoDB.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::catalog::Dataset;
use crate::catalog::index::{
    BUCKETS, DOCS_PK, DatasetEntries, IndexBuild, cell_attr, parse_bucket_list, shard_of, shard_sk,
    splice_cell, term_pk,
};
use crate::catalog::keys;
pub use crate::catalog::keys::{dataset_pk, schema_sk};
use crate::catalog::table::{
    self, Attr, CancelReason, Cond, Item, ItemTable, Key, ScanFilter, TableError, UpdateAction,
    Write,
};
use crate::error::{AwsError, Classify, ErrorKind};
use crate::model::schema::{Column, ColumnType, TableSchema};

/// How many times a write that lost a race to a concurrent writer of the same record is redone
/// (by the callers that replace records: declare, re-index).
pub const WRITE_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("dataset {id}: the record changed (expected version {expected}); read it again")]
    VersionConflict { id: String, expected: u64 },
    #[error("dataset {id}: stored record is not valid: {reason}")]
    Corrupt { id: String, reason: String },
    #[error("dataset {id}: {reason}")]
    Invalid { id: String, reason: String },
    #[error("dataset {id}: its search index cells kept changing under concurrent writes")]
    IndexBusy { id: String },
}

impl Classify for RecordError {
    fn kind(&self) -> ErrorKind {
        match self {
            RecordError::Aws(e) => e.kind(),
            RecordError::VersionConflict { .. } => ErrorKind::Retryable,
            RecordError::Corrupt { .. } => ErrorKind::Fatal,
            RecordError::Invalid { .. } => ErrorKind::BadInput,
            RecordError::IndexBusy { .. } => ErrorKind::Retryable,
        }
    }
}

/// Counts and last update from the stats item.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecordStats {
    pub row_count: u64,
    pub byte_count: u64,
    pub file_count: u64,
    pub rejected_row_count: u64,
    pub quarantined_file_count: u64,
    pub last_update: Option<String>,
    pub location: Option<String>,
}

/// One schema version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemaVersion {
    pub version: u64,
    pub source: String,
    pub recorded_at: String,
    pub schema: TableSchema,
}

/// What the next write of a record must know of the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordHead {
    /// 0 when there is no record, or one written before records were versioned.
    pub version: u64,
    pub exists: bool,
    pub buckets: BTreeSet<u32>,
    pub schema_version: u64,
    pub schema_hash: String,
}

/// A dataset record as read.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRecord {
    pub dataset: Dataset,
    pub head: RecordHead,
    pub updated_at: Option<String>,
    pub stats: RecordStats,
    pub recorded_schema: Option<TableSchema>,
    /// Oldest first.
    pub schemas: Vec<SchemaVersion>,
}

impl DatasetRecord {
    /// The schema in force: declared, else recorded from the first file.
    pub fn effective_schema(&self) -> Option<&TableSchema> {
        self.dataset
            .schema
            .as_ref()
            .or(self.recorded_schema.as_ref())
    }
}

/// What a record write carries besides the record and its index entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WriteScope {
    /// The record (declaration, schema version) and its index entries.
    #[default]
    Record,
    /// A declaration: also the dataset's route items ([`route_items`]) and, for a declared
    /// schema, the schema on its stats item.
    Declaration,
}

/// Reading and writing dataset records (with their index entries).
pub trait RecordStore: Send + Sync {
    /// The whole record (one query of the dataset's partition).
    fn load(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<DatasetRecord>, RecordError>> + Send;
    /// Writes `ds` as the version after `head` with its index entries (and what `scope` adds),
    /// atomically; fails with [`RecordError::VersionConflict`] if the stored version is no longer
    /// `head.version`. Returns the new version.
    fn write(
        &self,
        ds: &Dataset,
        recorded: Option<&TableSchema>,
        head: &RecordHead,
        scope: WriteScope,
        now: &str,
    ) -> impl Future<Output = Result<u64, RecordError>> + Send;
}

/// [`RecordStore`] over the catalog table (`DynamoRecords` over DynamoDB).
#[derive(Clone, Debug)]
pub struct Records<T> {
    table: T,
}

impl From<TableError> for RecordError {
    fn from(e: TableError) -> Self {
        RecordError::Aws(e.into_aws())
    }
}

pub fn schema_hash(schema: Option<&TableSchema>) -> String {
    match schema {
        None => String::new(),
        Some(sc) => {
            let json = serde_json::to_vec(sc).expect("schemas serialise");
            Sha256::digest(&json)[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }
    }
}

fn num(item: &Item, name: &str) -> u64 {
    table::number(item, name).unwrap_or(0)
}
fn text(item: &Item, name: &str) -> Option<String> {
    table::text(item, name).map(String::from)
}

/// Reads a record from the items of its partition.
pub fn record_from_items(id: &str, items: &[Item]) -> Result<Option<DatasetRecord>, RecordError> {
    let corrupt = |reason: String| RecordError::Corrupt {
        id: id.into(),
        reason,
    };
    let mut decl = None;
    let mut stats = RecordStats::default();
    let mut recorded_schema = None;
    let mut schemas = Vec::new();
    for item in items {
        match text(item, table::SK).as_deref() {
            Some(keys::DECLARATION_SK) => decl = Some(item),
            Some(keys::STATS_SK) => {
                stats = RecordStats {
                    row_count: num(item, "row_count"),
                    byte_count: num(item, "byte_count"),
                    file_count: num(item, "file_count"),
                    rejected_row_count: num(item, "rejected_row_count"),
                    quarantined_file_count: num(item, "quarantined_file_count"),
                    last_update: text(item, "last_update"),
                    location: text(item, "location"),
                };
                if let Some(doc) = text(item, "schema") {
                    recorded_schema = Some(
                        serde_json::from_str(&doc)
                            .map_err(|e| corrupt(format!("recorded schema: {e}")))?,
                    );
                }
            }
            Some(sk) if sk.starts_with(keys::SCHEMA_SK_PREFIX) => {
                let doc = text(item, "schema").unwrap_or_default();
                schemas.push(SchemaVersion {
                    version: num(item, "version"),
                    source: text(item, "source").unwrap_or_default(),
                    recorded_at: text(item, "recorded_at").unwrap_or_default(),
                    schema: serde_json::from_str(&doc)
                        .map_err(|e| corrupt(format!("{sk}: {e}")))?,
                });
            }
            _ => {}
        }
    }
    let Some(decl) = decl else {
        return Ok(None);
    };
    let doc = text(decl, "doc").ok_or_else(|| corrupt("attribute doc is missing".into()))?;
    let dataset: Dataset = serde_json::from_str(&doc).map_err(|e| corrupt(e.to_string()))?;
    schemas.sort_by_key(|v| v.version);
    Ok(Some(DatasetRecord {
        head: RecordHead {
            version: num(decl, "version"),
            exists: true,
            buckets: parse_bucket_list(&text(decl, "ix").unwrap_or_default()),
            schema_version: num(decl, "schema_version"),
            schema_hash: text(decl, "schema_hash").unwrap_or_default(),
        },
        updated_at: text(decl, "updated_at"),
        dataset,
        stats,
        recorded_schema,
        schemas,
    }))
}

/// The route items of a dataset: its landing prefix and, when declared, its zone prefix. The
/// one place route items are built (declarations and [`bulk_load`]).
pub fn route_items(ds: &Dataset) -> Vec<Item> {
    let mut keys = vec![keys::route(&ds.landing_prefix)];
    if let Some(prefix) = &ds.zone_prefix {
        keys.push(keys::zone_route(&ds.zone, prefix));
    }
    keys.iter()
        .map(|k| k.item([("dataset_id", Attr::s(&ds.id))]))
        .collect()
}

/// What a declaration writes besides the record ([`WriteScope::Declaration`]): its routes and,
/// for a declared schema, that schema on the stats item.
fn declaration_writes(ds: &Dataset) -> Vec<Write> {
    let mut writes: Vec<Write> = route_items(ds).into_iter().map(Write::put).collect();
    if let Some(schema) = &ds.schema {
        writes.push(Write::update(
            keys::stats(&ds.id),
            vec![UpdateAction::set(
                "schema",
                Attr::s(serde_json::to_string(schema).unwrap_or_default()),
            )],
        ));
    }
    writes
}

/// The declaration item of a record at `version`.
fn declaration_item(
    ds: &Dataset,
    version: u64,
    entries: &DatasetEntries,
    schema_version: u64,
    hash: &str,
    now: &str,
) -> Item {
    keys::declaration(&ds.id).item([
        (
            "doc",
            Attr::s(serde_json::to_string(ds).expect("declarations serialise")),
        ),
        ("version", Attr::n(version)),
        ("updated_at", Attr::s(now)),
        ("ix", Attr::s(entries.bucket_list())),
        ("schema_version", Attr::n(schema_version)),
        ("schema_hash", Attr::s(hash)),
    ])
}

/// The item of a schema version.
fn schema_version_item(ds: &Dataset, schema: &TableSchema, version: u64, now: &str) -> Item {
    keys::schema_version(&ds.id, version).item([
        ("version", Attr::n(version)),
        (
            "schema",
            Attr::s(serde_json::to_string(schema).expect("schemas serialise")),
        ),
        (
            "source",
            Attr::s(if ds.schema.is_some() {
                "declared"
            } else {
                "recorded"
            }),
        ),
        ("recorded_at", Attr::s(now)),
    ])
}

/// The writes of one record write, as one transaction (see the module invariants), given the
/// index cells as read (`cells`: the dataset's cell attribute of each index item it touches).
/// The declaration is the first write. Returns the new version.
pub fn record_writes(
    ds: &Dataset,
    recorded: Option<&TableSchema>,
    head: &RecordHead,
    cells: &HashMap<Key, Option<String>>,
    now: &str,
) -> (u64, Vec<Write>) {
    let version = head.version + 1;
    let entries = DatasetEntries::of(ds, recorded, version);
    let effective = ds.schema.as_ref().or(recorded);
    let hash = schema_hash(effective);
    let schema_changed = effective.is_some() && hash != head.schema_hash;
    let schema_version = head.schema_version + u64::from(schema_changed);
    let decl = Write::put(declaration_item(
        ds,
        version,
        &entries,
        schema_version,
        &hash,
        now,
    ));
    let decl = decl.when(if !head.exists {
        Cond::item_absent()
    } else if head.version == 0 {
        Cond::item_present().and(Cond::not_exists("version"))
    } else {
        Cond::eq("version", Attr::n(head.version))
    });
    let mut writes = vec![decl];
    let shard = shard_sk(shard_of(&ds.id));
    let attr = cell_attr(&ds.id);
    // Each touched cell is rewritten with this dataset's line replaced, on condition that it
    // still holds what was read (another dataset's write to the same cell retries).
    let mut splice = |pk: String, value: Option<&str>| {
        let key = Key::new(pk, shard.clone());
        let old = cells.get(&key).and_then(|c| c.as_deref());
        let new = splice_cell(old, &ds.id, value);
        if new.as_deref() == old {
            return;
        }
        let action = match new {
            Some(new) => UpdateAction::set(&attr, Attr::s(new)),
            None => UpdateAction::remove(&attr),
        };
        let held = match old {
            None => Cond::not_exists(&attr),
            Some(old) => Cond::eq(&attr, Attr::s(old)),
        };
        writes.push(Write::update(key, vec![action]).when(held));
    };
    splice(DOCS_PK.to_string(), Some(&entries.digest_json()));
    for (bucket, postings) in &entries.postings {
        splice(term_pk(*bucket), Some(postings));
    }
    for bucket in head
        .buckets
        .iter()
        .filter(|b| !entries.postings.contains_key(b))
    {
        splice(term_pk(*bucket), None);
    }
    if let (true, Some(schema)) = (schema_changed, effective) {
        writes.push(Write::put(schema_version_item(
            ds,
            schema,
            schema_version,
            now,
        )));
    }
    debug_assert!(writes.len() <= 2 + BUCKETS as usize + 2);
    (version, writes)
}

impl<T: ItemTable> Records<T> {
    pub fn with_table(table: T) -> Self {
        Self { table }
    }

    /// The cell `attr` of each index item (one batch read with a projection).
    async fn read_cells(
        &self,
        keys: &[Key],
        attr: &str,
    ) -> Result<HashMap<Key, Option<String>>, RecordError> {
        let found = self.table.batch_get(keys, Some(&[attr])).await?;
        Ok(keys
            .iter()
            .map(|k| (k.clone(), found.get(k).and_then(|item| text(item, attr))))
            .collect())
    }
}

impl<T: ItemTable> RecordStore for Records<T> {
    async fn load(&self, id: &str) -> Result<Option<DatasetRecord>, RecordError> {
        let items = self.table.query(&dataset_pk(id)).await?;
        record_from_items(id, &items)
    }

    async fn write(
        &self,
        ds: &Dataset,
        recorded: Option<&TableSchema>,
        head: &RecordHead,
        scope: WriteScope,
        now: &str,
    ) -> Result<u64, RecordError> {
        if ds.id.contains(['\t', '\n']) {
            return Err(RecordError::Invalid {
                id: ds.id.clone(),
                reason: "a dataset id may not contain tabs or line breaks".into(),
            });
        }
        let shard = shard_sk(shard_of(&ds.id));
        let new_buckets = DatasetEntries::of(ds, recorded, 0).postings.into_keys();
        let keys: Vec<Key> = std::iter::once(DOCS_PK.to_string())
            .chain(
                head.buckets
                    .iter()
                    .copied()
                    .chain(new_buckets)
                    .collect::<BTreeSet<u32>>()
                    .into_iter()
                    .map(term_pk),
            )
            .map(|pk| Key::new(pk, shard.clone()))
            .collect();
        let extra = match scope {
            WriteScope::Record => vec![],
            WriteScope::Declaration => declaration_writes(ds),
        };
        for attempt in 0..WRITE_ATTEMPTS as u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let cells = self.read_cells(&keys, &cell_attr(&ds.id)).await?;
            let (version, mut writes) = record_writes(ds, recorded, head, &cells, now);
            writes.extend(extra.iter().cloned());
            let err = match self.table.transact(writes).await {
                Ok(()) => return Ok(version),
                Err(e) => e,
            };
            let reasons = err.reasons();
            if reasons.first() == Some(&CancelReason::ConditionFailed) {
                return Err(RecordError::VersionConflict {
                    id: ds.id.clone(),
                    expected: head.version,
                });
            }
            // A cell changed under us (another dataset of the cell), or a concurrent
            // transaction: read again and redo.
            let retry = reasons
                .iter()
                .any(|r| matches!(r, CancelReason::ConditionFailed | CancelReason::Conflict));
            if !retry {
                return Err(err.into());
            }
        }
        Err(RecordError::IndexBusy { id: ds.id.clone() })
    }
}

/// Rewrites a record as it is (same declaration, recorded schema) so its index entries and schema
/// versions match it; redone when a concurrent writer wins. Returns the new version, or `None`
/// when the dataset does not exist. Used after landing records an inferred schema, and to index
/// records written by other means.
pub async fn reindex<R: RecordStore>(
    store: &R,
    id: &str,
    now: &str,
) -> Result<Option<u64>, RecordError> {
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        let Some(rec) = store.load(id).await? else {
            return Ok(None);
        };
        match store
            .write(
                &rec.dataset,
                rec.recorded_schema.as_ref(),
                &rec.head,
                WriteScope::Record,
                now,
            )
            .await
        {
            Ok(v) => return Ok(Some(v)),
            Err(e @ RecordError::VersionConflict { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// A record for [`bulk_load`]: its declaration, recorded schema and the stored head (default for
/// a new dataset).
#[derive(Debug, Clone, Default)]
pub struct BulkRecord {
    pub dataset: Dataset,
    pub recorded: Option<TableSchema>,
    pub head: RecordHead,
}

/// Writes `records`, their routes and a complete index of exactly them with batch puts
/// (`BatchWriteItem`, 25 items per call, in DynamoDB). A record that was versioned keeps its
/// version and schema versions; any other becomes version 1 with its schema (if any) as schema
/// version 1. The index items are replaced whole: pass every dataset of the catalog. Returns the
/// number of items written.
pub async fn bulk_load<T: ItemTable>(
    table: &T,
    records: &[BulkRecord],
    now: &str,
) -> Result<usize, RecordError> {
    let mut build = IndexBuild::new();
    let mut puts: Vec<Item> = Vec::new();
    for BulkRecord {
        dataset: ds,
        recorded,
        head,
    } in records
    {
        let versioned = head.exists && head.version > 0;
        let version = if versioned { head.version } else { 1 };
        let entries = DatasetEntries::of(ds, recorded.as_ref(), version);
        build.add(&entries);
        let effective = ds.schema.as_ref().or(recorded.as_ref());
        let (schema_version, hash) = if versioned {
            (head.schema_version, head.schema_hash.clone())
        } else {
            (u64::from(effective.is_some()), schema_hash(effective))
        };
        puts.push(declaration_item(
            ds,
            version,
            &entries,
            schema_version,
            &hash,
            now,
        ));
        puts.extend(route_items(ds));
        if let (false, Some(schema)) = (versioned, effective) {
            puts.push(schema_version_item(ds, schema, 1, now));
        }
    }
    for ((pk, sk), attrs) in build.rendered() {
        let key = Key::new(pk, sk);
        puts.push(key.item(attrs.iter().map(|(k, v)| (k.as_str(), Attr::s(v)))));
    }
    let written = puts.len();
    table.batch_put(puts).await?;
    Ok(written)
}

/// Every declared dataset as a [`BulkRecord`] (a scan: for re-indexing only, never on a request
/// path).
pub async fn scan_records<T: ItemTable>(table: &T) -> Result<Vec<BulkRecord>, RecordError> {
    let filter = ScanFilter {
        pk_prefix: keys::DATASET_PREFIX.into(),
        sk_in: vec![keys::DECLARATION_SK.into(), keys::STATS_SK.into()],
    };
    let mut by_id: std::collections::BTreeMap<String, Vec<Item>> = Default::default();
    for item in table.scan(&filter).await? {
        if let Some(id) = table::text(&item, table::PK).and_then(keys::dataset_id_of) {
            by_id.entry(id.to_string()).or_default().push(item);
        }
    }
    let mut out = Vec::new();
    for (id, items) in by_id {
        if let Some(rec) = record_from_items(&id, &items)? {
            out.push(BulkRecord {
                dataset: rec.dataset,
                recorded: rec.recorded_schema,
                head: rec.head,
            });
        }
    }
    Ok(out)
}

/// The current time as stored in records (RFC 3339, UTC, milliseconds), from the system clock.
pub fn now() -> String {
    crate::clock::Clock::now_rfc3339(&crate::clock::SystemClock)
}

/// Creates or replaces a declaration (business metadata included) with its routes, keeping the
/// stored record's version history; redone when a concurrent writer wins.
pub async fn declare<R: RecordStore>(
    store: &R,
    ds: &Dataset,
    now: &str,
) -> Result<u64, RecordError> {
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        let (head, recorded) = match store.load(&ds.id).await? {
            Some(rec) => (rec.head, rec.recorded_schema),
            None => (RecordHead::default(), None),
        };
        match store
            .write(ds, recorded.as_ref(), &head, WriteScope::Declaration, now)
            .await
        {
            Ok(v) => return Ok(v),
            Err(e @ RecordError::VersionConflict { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Evolves a dataset's declared schema with the columns of a drifted source file: a column it
/// lacks is appended (nullable), an `int` column the source holds as `bigint` is widened
/// ([`merge_columns`]). Written as a new declaration version with its schema version and index
/// entries, in one transaction, and redone on the stored record when a concurrent writer wins,
/// so concurrent evolutions of different columns all stay. Returns the declaration as stored
/// afterwards (unchanged when it already holds every column).
pub async fn evolve<R: RecordStore>(
    store: &R,
    id: &str,
    columns: &[Column],
    now: &str,
) -> Result<Dataset, RecordError> {
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        let Some(rec) = store.load(id).await? else {
            let reason = "no such dataset to evolve".to_string();
            return Err(RecordError::Invalid {
                id: id.into(),
                reason,
            });
        };
        let mut ds = rec.dataset.clone();
        let Some(schema) = ds.schema.as_mut() else {
            let reason = "the dataset declares no schema to evolve".to_string();
            return Err(RecordError::Invalid {
                id: id.into(),
                reason,
            });
        };
        if !merge_columns(schema, columns) {
            return Ok(rec.dataset);
        }
        let recorded = rec.recorded_schema.as_ref();
        match store
            .write(&ds, recorded, &rec.head, WriteScope::Declaration, now)
            .await
        {
            Ok(_) => return Ok(ds),
            Err(e @ RecordError::VersionConflict { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// Merges drifted columns into a schema (names compared case-insensitively, as headers are): a
/// new one is appended as nullable, an `int` one becomes `bigint` when the source's is; any
/// other existing column stays as declared. Returns whether anything changed.
pub fn merge_columns(schema: &mut TableSchema, columns: &[Column]) -> bool {
    let mut changed = false;
    for c in columns {
        match schema
            .columns
            .iter_mut()
            .find(|d| d.name.eq_ignore_ascii_case(&c.name))
        {
            Some(d) if d.ty == ColumnType::Int32 && c.ty == ColumnType::Int64 => {
                d.ty = ColumnType::Int64;
                changed = true;
            }
            Some(_) => {}
            None => {
                schema.columns.push(Column {
                    nullable: true,
                    ..c.clone()
                });
                changed = true;
            }
        }
    }
    changed
}

/// After a landing commit that carried a schema: when the dataset declares none and the index
/// does not yet reflect the recorded one, re-index it. The commit is already durable, so a
/// failure here is logged (re-run `tributary-catalog reindex` to repair), not returned.
pub async fn index_recorded_schema<R: RecordStore>(store: &R, id: &str) {
    let result = async {
        match store.load(id).await? {
            Some(rec)
                if rec.dataset.schema.is_none()
                    && rec.recorded_schema.is_some()
                    && rec.head.schema_hash != schema_hash(rec.recorded_schema.as_ref()) =>
            {
                reindex(store, id, &now()).await.map(|_| ())
            }
            _ => Ok(()),
        }
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(dataset = id, error = %e, "search index not updated with the recorded schema");
    }
}
