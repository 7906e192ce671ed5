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
//! - **Every write of a record goes through [`RecordStore::write`]**: one `TransactWriteItems`
//!   puts the declaration (conditioned on the version read before, so concurrent writers cannot
//!   both win), the dataset's digest, its postings in every bucket it occupies, removes it from the
//!   buckets it left (`ix` of the previous version), and adds a schema version when the effective
//!   schema (declared, else recorded) changed. The index therefore always describes the stored
//!   version of every record. `declare` (the catalog port), the metadata API and the landing commit
//!   that records an inferred schema all write this way.
//! - A transaction touches at most 1 + 1 + [`BUCKETS`] + 4 items, below DynamoDB's 100.
//! - Versions only grow; `If-Match` on the API compares with `version`.
//! - [`bulk_load`] writes records and complete index items with `BatchWriteItem` (25 per call);
//!   it replaces the whole index, so it is given every dataset (first load, re-index).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::catalog::Dataset;
use crate::discovery::search::{
    BUCKETS, DOCS_PK, DatasetEntries, IndexBuild, ItemKey, cell_attr, parse_bucket_list, shard_of,
    shard_sk, splice_cell, term_pk,
};
use crate::error::{AwsError, Classify, ErrorKind};
use crate::model::schema::TableSchema;

pub fn dataset_pk(id: &str) -> String {
    format!("dataset#{id}")
}

pub fn schema_sk(version: u64) -> String {
    format!("schema#{version:06}")
}

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

/// Reading and writing dataset records (with their index entries).
pub trait RecordStore: Send + Sync {
    /// The whole record (one `Query` on the dataset's partition).
    fn load(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<DatasetRecord>, RecordError>> + Send;
    /// Writes `ds` as the version after `head` with its index entries, atomically; fails with
    /// [`RecordError::VersionConflict`] if the stored version is no longer `head.version`.
    /// `extra` items (routes) join the transaction. Returns the new version.
    fn write(
        &self,
        ds: &Dataset,
        recorded: Option<&TableSchema>,
        head: &RecordHead,
        extra: Vec<TransactWriteItem>,
        now: &str,
    ) -> impl Future<Output = Result<u64, RecordError>> + Send;
}

/// [`RecordStore`] over the catalog table.
#[derive(Clone, Debug)]
pub struct DynamoRecords {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
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

fn num(item: &HashMap<String, AttributeValue>, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// Reads a record from the items of its partition.
pub fn record_from_items(
    id: &str,
    items: &[HashMap<String, AttributeValue>],
) -> Result<Option<DatasetRecord>, RecordError> {
    let corrupt = |reason: String| RecordError::Corrupt {
        id: id.into(),
        reason,
    };
    let mut decl = None;
    let mut stats = RecordStats::default();
    let mut recorded_schema = None;
    let mut schemas = Vec::new();
    for item in items {
        match text(item, "sk").as_deref() {
            Some("declaration") => decl = Some(item),
            Some("stats") => {
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
            Some(sk) if sk.starts_with("schema#") => {
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

impl DynamoRecords {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn op(&self, name: &str) -> String {
        format!("dynamodb:{name} {}", self.table)
    }

    /// The cell `attr` of each index item (one `BatchGetItem` with a projection).
    async fn read_cells(
        &self,
        keys: &[ItemKey],
        attr: &str,
    ) -> Result<HashMap<ItemKey, Option<String>>, RecordError> {
        let found = crate::discovery::search::batch_get(
            &self.client,
            &self.table,
            keys,
            Some(("pk, sk, #c", attr)),
        )
        .await?;
        Ok(keys
            .iter()
            .map(|k| (k.clone(), found.get(k).and_then(|item| text(item, attr))))
            .collect())
    }

    /// The transaction items of one record write (see the module invariants).
    pub fn write_items(
        &self,
        ds: &Dataset,
        recorded: Option<&TableSchema>,
        head: &RecordHead,
        cells: &HashMap<ItemKey, Option<String>>,
        now: &str,
    ) -> (u64, Vec<TransactWriteItem>) {
        let version = head.version + 1;
        let entries = DatasetEntries::of(ds, recorded, version);
        let effective = ds.schema.as_ref().or(recorded);
        let hash = schema_hash(effective);
        let schema_changed = effective.is_some() && hash != head.schema_hash;
        let schema_version = head.schema_version + u64::from(schema_changed);
        let mut decl = Put::builder()
            .table_name(&self.table)
            .item("pk", s(dataset_pk(&ds.id)))
            .item("sk", s("declaration"))
            .item(
                "doc",
                s(serde_json::to_string(ds).expect("declarations serialise")),
            )
            .item("version", n(version))
            .item("updated_at", s(now))
            .item("ix", s(entries.bucket_list()))
            .item("schema_version", n(schema_version))
            .item("schema_hash", s(&hash));
        decl = if !head.exists {
            decl.condition_expression("attribute_not_exists(pk)")
        } else if head.version == 0 {
            decl.condition_expression("attribute_exists(pk) AND attribute_not_exists(version)")
        } else {
            decl.condition_expression("version = :v")
                .expression_attribute_values(":v", n(head.version))
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .put(decl.build().expect("put is complete"))
                .build(),
        ];
        let shard = shard_sk(shard_of(&ds.id));
        let attr = cell_attr(&ds.id);
        // Each touched cell is rewritten with this dataset's line replaced, on condition that it
        // still holds what was read (another dataset's write to the same cell retries).
        let mut splice = |pk: String, value: Option<&str>| {
            let key = ItemKey::new(pk.clone(), shard.clone());
            let old = cells.get(&key).and_then(|c| c.as_deref());
            let new = splice_cell(old, &ds.id, value);
            if new.as_deref() == old {
                return;
            }
            let mut u = Update::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(shard.clone()))
                .expression_attribute_names("#c", &attr);
            u = match old {
                None => u.condition_expression("attribute_not_exists(#c)"),
                Some(old) => u
                    .condition_expression("#c = :old")
                    .expression_attribute_values(":old", s(old)),
            };
            u = match new {
                Some(new) => u
                    .update_expression("SET #c = :new")
                    .expression_attribute_values(":new", s(new)),
                None => u.update_expression("REMOVE #c"),
            };
            items.push(
                TransactWriteItem::builder()
                    .update(u.build().expect("update is complete"))
                    .build(),
            );
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
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .item("pk", s(dataset_pk(&ds.id)))
                            .item("sk", s(schema_sk(schema_version)))
                            .item("version", n(schema_version))
                            .item(
                                "schema",
                                s(serde_json::to_string(schema).expect("schemas serialise")),
                            )
                            .item(
                                "source",
                                s(if ds.schema.is_some() {
                                    "declared"
                                } else {
                                    "recorded"
                                }),
                            )
                            .item("recorded_at", s(now))
                            .build()
                            .expect("put is complete"),
                    )
                    .build(),
            );
        }
        debug_assert!(items.len() <= 2 + BUCKETS as usize + 2);
        (version, items)
    }
}

impl RecordStore for DynamoRecords {
    async fn load(&self, id: &str) -> Result<Option<DatasetRecord>, RecordError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(dataset_pk(id)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(self.op("Query"), e))?;
            items.extend(out.items().iter().cloned());
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        record_from_items(id, &items)
    }

    async fn write(
        &self,
        ds: &Dataset,
        recorded: Option<&TableSchema>,
        head: &RecordHead,
        extra: Vec<TransactWriteItem>,
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
        let keys: Vec<ItemKey> = std::iter::once(DOCS_PK.to_string())
            .chain(
                head.buckets
                    .iter()
                    .copied()
                    .chain(new_buckets)
                    .collect::<BTreeSet<u32>>()
                    .into_iter()
                    .map(term_pk),
            )
            .map(|pk| ItemKey::new(pk, shard.clone()))
            .collect();
        for attempt in 0..WRITE_ATTEMPTS as u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let cells = self.read_cells(&keys, &cell_attr(&ds.id)).await?;
            let (version, mut items) = self.write_items(ds, recorded, head, &cells, now);
            items.extend(extra.iter().cloned());
            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(version),
                Err(e) => e,
            };
            let reasons: Vec<Option<String>> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(tc)) => tc
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_string))
                    .collect(),
                _ => vec![],
            };
            let failed = |code: &str| reasons.iter().any(|r| r.as_deref() == Some(code));
            if reasons.first().and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed") {
                return Err(RecordError::VersionConflict {
                    id: ds.id.clone(),
                    expected: head.version,
                });
            }
            // A cell changed under us (another dataset of the cell), or a concurrent
            // transaction: read again and redo.
            if !(failed("ConditionalCheckFailed") || failed("TransactionConflict")) {
                return Err(AwsError::from_sdk(self.op("TransactWriteItems"), err).into());
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
                vec![],
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

/// Writes `records` and a complete index of exactly them with `BatchWriteItem`, 25 items per
/// call. A record that was versioned keeps its version and schema versions; any other becomes
/// version 1 with its schema (if any) as schema version 1. The index items are replaced whole:
/// pass every dataset of the catalog.
pub async fn bulk_load(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    records: &[BulkRecord],
    now: &str,
) -> Result<usize, RecordError> {
    let mut build = IndexBuild::new();
    let mut puts: Vec<HashMap<String, AttributeValue>> = Vec::new();
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
        puts.push(HashMap::from([
            ("pk".into(), s(dataset_pk(&ds.id))),
            ("sk".into(), s("declaration")),
            (
                "doc".into(),
                s(serde_json::to_string(ds).expect("declarations serialise")),
            ),
            ("version".into(), n(version)),
            ("updated_at".into(), s(now)),
            ("ix".into(), s(entries.bucket_list())),
            ("schema_version".into(), n(schema_version)),
            ("schema_hash".into(), s(hash)),
        ]));
        puts.push(HashMap::from([
            ("pk".into(), s(format!("route#{}", ds.landing_prefix))),
            ("sk".into(), s("route")),
            ("dataset_id".into(), s(&ds.id)),
        ]));
        if let Some(prefix) = &ds.zone_prefix {
            puts.push(HashMap::from([
                ("pk".into(), s(format!("zroute#{}#{prefix}", ds.zone))),
                ("sk".into(), s("route")),
                ("dataset_id".into(), s(&ds.id)),
            ]));
        }
        if let (false, Some(schema)) = (versioned, effective) {
            puts.push(HashMap::from([
                ("pk".into(), s(dataset_pk(&ds.id))),
                ("sk".into(), s(schema_sk(1))),
                ("version".into(), n(1)),
                (
                    "schema".into(),
                    s(serde_json::to_string(schema).expect("schemas serialise")),
                ),
                (
                    "source".into(),
                    s(if ds.schema.is_some() {
                        "declared"
                    } else {
                        "recorded"
                    }),
                ),
                ("recorded_at".into(), s(now)),
            ]));
        }
    }
    for ((pk, sk), attrs) in build.rendered() {
        let mut item: HashMap<String, AttributeValue> =
            attrs.into_iter().map(|(k, v)| (k, s(v))).collect();
        item.insert("pk".into(), s(pk));
        item.insert("sk".into(), s(sk));
        puts.push(item);
    }
    let written = puts.len();
    for chunk in puts.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .expect("item is set"),
                    )
                    .build()
            })
            .collect();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6))).await;
            }
            attempt += 1;
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("dynamodb:BatchWriteItem {table}"), e))?;
            pending = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
        }
    }
    Ok(written)
}

/// Every declared dataset as a [`BulkRecord`] (a `Scan`: for re-indexing only, never on a request
/// path).
pub async fn scan_records(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<BulkRecord>, RecordError> {
    let mut by_id: std::collections::BTreeMap<String, Vec<HashMap<String, AttributeValue>>> =
        Default::default();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(pk, :p) AND (sk = :d OR sk = :s)")
            .expression_attribute_values(":p", s("dataset#"))
            .expression_attribute_values(":d", s("declaration"))
            .expression_attribute_values(":s", s("stats"))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("dynamodb:Scan {table}"), e))?;
        for item in out.items() {
            if let Some(id) =
                text(item, "pk").and_then(|p| p.strip_prefix("dataset#").map(String::from))
            {
                by_id.entry(id).or_default().push(item.clone());
            }
        }
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            break;
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

/// The current time as stored in records (RFC 3339, UTC, milliseconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Creates or replaces a declaration (business metadata included) with `extra` items (routes),
/// keeping the stored record's version history; redone when a concurrent writer wins.
pub async fn declare<R: RecordStore>(
    store: &R,
    ds: &Dataset,
    extra: Vec<TransactWriteItem>,
    now: &str,
) -> Result<u64, RecordError> {
    let mut last = None;
    for _ in 0..WRITE_ATTEMPTS {
        let (head, recorded) = match store.load(&ds.id).await? {
            Some(rec) => (rec.head, rec.recorded_schema),
            None => (RecordHead::default(), None),
        };
        match store
            .write(ds, recorded.as_ref(), &head, extra.clone(), now)
            .await
        {
            Ok(v) => return Ok(v),
            Err(e @ RecordError::VersionConflict { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("at least one attempt"))
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
