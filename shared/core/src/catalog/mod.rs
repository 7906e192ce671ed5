//! Dataset declarations, landing-prefix routes, dataset stats and the processing ledger, all in
//! DynamoDB behind two narrow ports: [`DatasetCatalog`] and [`Ledger`].
//!
//! Item layout (both tables have a string partition key `pk` and sort key `sk`):
//!
//! | table | pk | sk | content |
//! | --- | --- | --- | --- |
//! | catalog | `dataset#<id>` | `declaration` | `doc`: the [`Dataset`] declaration as JSON |
//! | catalog | `dataset#<id>` | `stats` | row/byte/file counts (atomic `ADD`), last update, location, schema |
//! | catalog | `route#<landing prefix>` | `route` | `dataset_id` |
//! | catalog | `zroute#<zone>#<zone prefix>` | `route` | `dataset_id` (only for a declared `zone_prefix`) |
//! | ledger | `object#<bucket>/<key>` | `<version id or ETag>` | outcome summary of one processed object |
//!
//! Invariants:
//! - **Exactly-once accounting**: a ledger entry and the dataset's stats update are written in one
//!   `TransactWriteItems`, conditioned on the entry not existing. A second delivery of the same
//!   object version finds the entry (or loses the condition) and becomes a recorded no-op.
//! - The ledger is written only after the outputs it lists are durable.
//! - Routing needs no scan: the candidate prefixes of a key are fetched with one `BatchGetItem`, and
//!   the longest matching prefix wins.

pub mod records;

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::error::{AwsError, Classify, ErrorKind};
use crate::model::schema::TableSchema;

/// How a dataset's files arrive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// `csv`, `tsv`, `jsonl`, `parquet`, `dms-csv`, `dms-parquet`; absent → detected per file.
    #[serde(default)]
    pub format: Option<String>,
    /// Delimited files start with a header row (default true).
    #[serde(default)]
    pub header: Option<bool>,
    #[serde(default)]
    pub delimiter: Option<String>,
    /// DMS `TimestampColumnName`: the column holding each change's commit time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_column: Option<String>,
    /// A column carrying DMS's `AR_H_CHANGE_SEQ` (35 digits: timestamp, then a counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_sequence_column: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BusinessMetadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub steward: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub sensitivity: String,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
}

/// How partition folders are laid out under a dataset's zone prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `k=v/` segments, one per partition column, in declaration order (Tributary's writers).
    #[default]
    Hive,
    /// AWS DMS date folders `YYYY/MM/DD/` (`DatePartitionSequence` `YYYYMMDD`, slashes):
    /// partition keys `year`, `month`, `day`.
    DmsDate,
    /// `YYYY/MM/DD/HH/` (`DatePartitionSequence` `YYYYMMDDHH`): `year`, `month`, `day`, `hour`.
    DmsDateHour,
}

impl Layout {
    /// The partition keys a date layout implies (`None` for Hive: they come from the path).
    pub fn date_keys(self) -> Option<&'static [&'static str]> {
        match self {
            Layout::Hive => None,
            Layout::DmsDate => Some(&["year", "month", "day"]),
            Layout::DmsDateHour => Some(&["year", "month", "day", "hour"]),
        }
    }
}

/// A dataset (table), declared once in the catalog; see the project's data contracts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// e.g. `hr.employees`.
    pub id: String,
    /// Zone its landing output goes to (`clean` for s3-landing).
    #[serde(default = "default_zone")]
    pub zone: String,
    /// Landing-bucket prefix routed to this dataset, ending in `/` (e.g. `hr/employees/`).
    pub landing_prefix: String,
    #[serde(default)]
    pub source: SourceSpec,
    /// Declared schema; absent → inferred from the first file and recorded in the stats item.
    #[serde(default)]
    pub schema: Option<TableSchema>,
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Data columns used as Hive partitions; absent → `ingest_date`.
    #[serde(default)]
    pub partition_columns: Vec<String>,
    #[serde(default)]
    pub business: BusinessMetadata,
    /// Partition folder layout in the zone (`hive`, `dms-date`, `dms-date-hour`).
    #[serde(default, skip_serializing_if = "is_hive")]
    pub layout: Layout,
    /// Key prefix of the dataset's objects in its zone bucket, ending in `/`; absent → `<id>/`.
    /// Declare it when another producer writes the zone data in place (an AWS DMS S3 target
    /// writes `<BucketFolder>/<schema>/<table>/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_prefix: Option<String>,
}

fn is_hive(l: &Layout) -> bool {
    *l == Layout::Hive
}

fn default_zone() -> String {
    "clean".into()
}

impl Dataset {
    /// Path-safe name used as the dataset's key prefix in every zone.
    pub fn path_name(&self) -> &str {
        &self.id
    }

    /// The dataset's key prefix in its zone bucket (ends with `/`).
    pub fn zone_prefix(&self) -> String {
        self.zone_prefix
            .clone()
            .unwrap_or_else(|| format!("{}/", self.path_name()))
    }

    /// Columns every file must hold (lower case): the primary key and the declared non-nullable
    /// columns. A file without one of them is a schema conflict, not an evolution.
    pub fn required_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .primary_key
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if let Some(schema) = &self.schema {
            for c in schema.columns.iter().filter(|c| !c.nullable) {
                let n = c.name.to_ascii_lowercase();
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// Whether the dataset's files are AWS DMS full-load/CDC output (sequenced into the raw zone).
    pub fn is_dms(&self) -> bool {
        self.source
            .format
            .as_deref()
            .is_some_and(|f| f.starts_with("dms"))
    }

    /// Checks what a declaration must hold to be usable.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() || self.id.contains('/') || self.id.contains('=') {
            return Err("id must be non-empty and contain no '/' or '='".into());
        }
        if !self.landing_prefix.ends_with('/') || self.landing_prefix.starts_with('/') {
            return Err("landing_prefix must end with '/' and not start with it".into());
        }
        if let Some(schema) = &self.schema {
            for c in self.primary_key.iter().chain(&self.partition_columns) {
                if schema.index_of(c).is_none() {
                    return Err(format!("column {c} is not in the schema"));
                }
            }
        }
        if let Some(p) = &self.zone_prefix
            && (!p.ends_with('/') || p.starts_with('/') || p.len() < 2)
        {
            return Err("zone_prefix must end with '/' and not start with it".into());
        }
        if self.layout != Layout::Hive && !self.partition_columns.is_empty() {
            return Err(
                "a dms-date layout takes its partitions (year, month, day[, hour]) from the date \
                 folders; partition_columns must be empty"
                    .into(),
            );
        }
        if self.is_dms() {
            if self.schema.is_none() {
                return Err(
                    "a DMS dataset needs a declared schema (DMS files may have no header)".into(),
                );
            }
            if self.primary_key.is_empty() {
                return Err("a DMS dataset needs a primary_key".into());
            }
        }
        Ok(())
    }
}

/// Outcome of processing one source object, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub bucket: String,
    pub key: String,
    /// Version id when the bucket is versioned, else the ETag.
    pub version: String,
    pub etag: String,
    pub dataset_id: Option<String>,
    /// `converted`, `copied`, `quarantined`.
    pub outcome: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub bytes_written: u64,
    pub outputs: Vec<String>,
    pub quarantine: Vec<String>,
    pub processed_at: String,
    /// DMS files: rows by op and the `_seq` range written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<crate::ingest::landing::SequenceSummary>,
}

/// Stats delta applied to a dataset together with its ledger entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsDelta {
    pub dataset_id: String,
    pub rows: u64,
    pub bytes: u64,
    pub files: u64,
    pub rows_rejected: u64,
    pub files_quarantined: u64,
    pub location: String,
    pub last_update: String,
    /// Schema to record when the dataset has none recorded yet (inferred).
    pub schema: Option<TableSchema>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// The same object version was already recorded: nothing was written.
    AlreadyRecorded,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("dataset {id}: the stored declaration is not valid: {reason}")]
    BadDeclaration { id: String, reason: String },
    #[error("dataset {id}: the declaration is invalid: {reason}")]
    Invalid { id: String, reason: String },
    /// Writing the dataset's record and search index entries (`crate::catalog::records`).
    #[error(transparent)]
    Record(Box<crate::catalog::records::RecordError>),
}

impl Classify for CatalogError {
    fn kind(&self) -> ErrorKind {
        match self {
            CatalogError::Aws(e) => e.kind(),
            CatalogError::BadDeclaration { .. } => ErrorKind::Fatal,
            CatalogError::Invalid { .. } => ErrorKind::BadInput,
            CatalogError::Record(e) => e.kind(),
        }
    }
}

/// Reading and declaring datasets.
pub trait DatasetCatalog: Send + Sync {
    /// The dataset whose landing prefix is the longest prefix of `key`, if any.
    fn resolve(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Dataset>, CatalogError>> + Send;
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Dataset>, CatalogError>> + Send;
    /// The dataset owning `key` in the `zone` bucket: the longest declared `zone_prefix` of the
    /// key, else the dataset whose id is the key's first segment (Tributary's own layout).
    fn resolve_zone(
        &self,
        zone: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Dataset>, CatalogError>> + Send;
    /// The schema recorded for a dataset (declared or inferred from its first file).
    fn recorded_schema(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<TableSchema>, CatalogError>> + Send;
    /// Creates or replaces a declaration and its route.
    fn declare(&self, ds: &Dataset) -> impl Future<Output = Result<(), CatalogError>> + Send;
}

/// The processing ledger.
pub trait Ledger: Send + Sync {
    fn lookup(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> impl Future<Output = Result<Option<LedgerEntry>, CatalogError>> + Send;
    /// Counts a repeated delivery of an already-processed object (the recorded no-op).
    fn record_duplicate(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
        at: &str,
    ) -> impl Future<Output = Result<(), CatalogError>> + Send;
    /// Records the entry and applies the stats delta atomically, once.
    fn commit(
        &self,
        entry: &LedgerEntry,
        stats: Option<&StatsDelta>,
    ) -> impl Future<Output = Result<CommitOutcome, CatalogError>> + Send;
}

/// Both ports over DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoCatalog {
    client: aws_sdk_dynamodb::Client,
    catalog_table: String,
    ledger_table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn dataset_pk(id: &str) -> String {
    format!("dataset#{id}")
}
fn route_pk(prefix: &str) -> String {
    format!("route#{prefix}")
}
fn zone_route_pk(zone: &str, prefix: &str) -> String {
    format!("zroute#{zone}#{prefix}")
}
fn ledger_pk(bucket: &str, key: &str) -> String {
    format!("object#{bucket}/{key}")
}

/// Every directory prefix of a key, longest first: `a/b/c.csv` → `a/b/`, `a/`.
pub fn candidate_prefixes(key: &str) -> Vec<&str> {
    let mut out: Vec<&str> = key.match_indices('/').map(|(i, _)| &key[..=i]).collect();
    out.reverse();
    out
}

impl DynamoCatalog {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        catalog_table: impl Into<String>,
        ledger_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            catalog_table: catalog_table.into(),
            ledger_table: ledger_table.into(),
        }
    }

    /// The dataset records (with their search index entries) in the catalog table.
    pub fn records(&self) -> crate::catalog::records::DynamoRecords {
        crate::catalog::records::DynamoRecords::new(self.client.clone(), &self.catalog_table)
    }

    /// The dataset id of the longest route among `key`'s directory prefixes (one
    /// `BatchGetItem`), with `pk` naming a prefix's route item.
    async fn longest_route(
        &self,
        key: &str,
        pk: impl Fn(&str) -> String,
    ) -> Result<Option<String>, CatalogError> {
        let prefixes = candidate_prefixes(key);
        if prefixes.is_empty() {
            return Ok(None);
        }
        // BatchGetItem takes at most 100 keys; deeper keys than that are not routable.
        let keys: Vec<HashMap<String, AttributeValue>> = prefixes
            .iter()
            .take(100)
            .map(|p| HashMap::from([("pk".to_string(), s(pk(p))), ("sk".to_string(), s("route"))]))
            .collect();
        let wanted: HashMap<String, &str> = prefixes.iter().map(|p| (pk(p), *p)).collect();
        let mut found: HashMap<String, String> = HashMap::new();
        let mut request = Some(HashMap::from([(
            self.catalog_table.clone(),
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| AwsError {
                    operation: "dynamodb:BatchGetItem".into(),
                    code: None,
                    status: None,
                    message: e.to_string(),
                    retryable: false,
                })?,
        )]));
        while let Some(req) = request.take().filter(|r| !r.is_empty()) {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(req))
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("dynamodb:BatchGetItem {}", self.catalog_table), e)
                })?;
            for item in out
                .responses()
                .and_then(|r| r.get(&self.catalog_table))
                .into_iter()
                .flatten()
            {
                if let (Some(pk), Some(id)) = (
                    item.get("pk").and_then(|v| v.as_s().ok()),
                    item.get("dataset_id").and_then(|v| v.as_s().ok()),
                ) {
                    if let Some(p) = wanted.get(pk) {
                        found.insert(p.to_string(), id.clone());
                    }
                }
            }
            request = out.unprocessed_keys().cloned();
        }
        Ok(prefixes.iter().find_map(|p| found.get(*p)).cloned())
    }

    fn parse_declaration(
        id: &str,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Dataset, CatalogError> {
        let doc = item.get("doc").and_then(|v| v.as_s().ok()).ok_or_else(|| {
            CatalogError::BadDeclaration {
                id: id.into(),
                reason: "attribute doc is missing".into(),
            }
        })?;
        serde_json::from_str(doc).map_err(|e| CatalogError::BadDeclaration {
            id: id.into(),
            reason: e.to_string(),
        })
    }
}

impl DatasetCatalog for DynamoCatalog {
    async fn resolve(&self, key: &str) -> Result<Option<Dataset>, CatalogError> {
        match self.longest_route(key, route_pk).await? {
            Some(id) => self.get(&id).await,
            None => Ok(None),
        }
    }

    async fn resolve_zone(&self, zone: &str, key: &str) -> Result<Option<Dataset>, CatalogError> {
        if let Some(id) = self.longest_route(key, |p| zone_route_pk(zone, p)).await? {
            return self.get(&id).await;
        }
        match key.split_once('/') {
            Some((first, _)) if !first.is_empty() => {
                Ok(self.get(first).await?.filter(|d| d.zone_prefix.is_none()))
            }
            _ => Ok(None),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Dataset>, CatalogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.catalog_table)
            .key("pk", s(dataset_pk(id)))
            .key("sk", s("declaration"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("dynamodb:GetItem {}", self.catalog_table), e)
            })?;
        out.item()
            .map(|item| Self::parse_declaration(id, item))
            .transpose()
    }

    async fn recorded_schema(&self, id: &str) -> Result<Option<TableSchema>, CatalogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.catalog_table)
            .key("pk", s(dataset_pk(id)))
            .key("sk", s("stats"))
            .projection_expression("#s")
            .expression_attribute_names("#s", "schema")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("dynamodb:GetItem {}", self.catalog_table), e)
            })?;
        let Some(doc) = out
            .item()
            .and_then(|i| i.get("schema"))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(None);
        };
        serde_json::from_str(doc)
            .map(Some)
            .map_err(|e| CatalogError::BadDeclaration {
                id: id.into(),
                reason: format!("recorded schema: {e}"),
            })
    }

    async fn declare(&self, ds: &Dataset) -> Result<(), CatalogError> {
        ds.validate().map_err(|reason| CatalogError::Invalid {
            id: ds.id.clone(),
            reason,
        })?;
        let put = |item: HashMap<String, AttributeValue>| {
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.catalog_table)
                        .set_item(Some(item))
                        .build()
                        .expect("table and item are set"),
                )
                .build()
        };
        // The declaration itself is written by `records`, with its search index entries.
        let mut items = vec![put(HashMap::from([
            ("pk".into(), s(route_pk(&ds.landing_prefix))),
            ("sk".into(), s("route")),
            ("dataset_id".into(), s(&ds.id)),
        ]))];
        if let Some(prefix) = &ds.zone_prefix {
            items.push(put(HashMap::from([
                ("pk".into(), s(zone_route_pk(&ds.zone, prefix))),
                ("sk".into(), s("route")),
                ("dataset_id".into(), s(&ds.id)),
            ])));
        }
        if let Some(schema) = &ds.schema {
            items.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.catalog_table)
                            .key("pk", s(dataset_pk(&ds.id)))
                            .key("sk", s("stats"))
                            .update_expression("SET #s = :s")
                            .expression_attribute_names("#s", "schema")
                            .expression_attribute_values(
                                ":s",
                                s(serde_json::to_string(schema).unwrap_or_default()),
                            )
                            .build()
                            .expect("update is complete"),
                    )
                    .build(),
            );
        }
        crate::catalog::records::declare(
            &self.records(),
            ds,
            items,
            &crate::catalog::records::now(),
        )
        .await
        .map_err(|e| CatalogError::Record(Box::new(e)))?;
        Ok(())
    }
}

impl Ledger for DynamoCatalog {
    async fn lookup(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> Result<Option<LedgerEntry>, CatalogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.ledger_table)
            .key("pk", s(ledger_pk(bucket, key)))
            .key("sk", s(version))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("dynamodb:GetItem {}", self.ledger_table), e)
            })?;
        Ok(out
            .item()
            .and_then(|i| i.get("entry"))
            .and_then(|v| v.as_s().ok())
            .and_then(|doc| serde_json::from_str(doc).ok()))
    }

    async fn record_duplicate(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
        at: &str,
    ) -> Result<(), CatalogError> {
        self.client
            .update_item()
            .table_name(&self.ledger_table)
            .key("pk", s(ledger_pk(bucket, key)))
            .key("sk", s(version))
            .update_expression("ADD duplicate_deliveries :one SET last_duplicate_at = :at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":at", s(at))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("dynamodb:UpdateItem {}", self.ledger_table), e)
            })?;
        Ok(())
    }

    async fn commit(
        &self,
        entry: &LedgerEntry,
        stats: Option<&StatsDelta>,
    ) -> Result<CommitOutcome, CatalogError> {
        let doc = serde_json::to_string(entry).expect("ledger entries serialise");
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.ledger_table)
                        .item("pk", s(ledger_pk(&entry.bucket, &entry.key)))
                        .item("sk", s(&entry.version))
                        .item("entry", s(doc))
                        .item("outcome", s(&entry.outcome))
                        .item("processed_at", s(&entry.processed_at))
                        .item("duplicate_deliveries", n(0))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .expect("table and item are set"),
                )
                .build(),
        ];
        if let Some(d) = stats {
            let mut update = Update::builder()
                .table_name(&self.catalog_table)
                .key("pk", s(dataset_pk(&d.dataset_id)))
                .key("sk", s("stats"))
                .expression_attribute_values(":rows", n(d.rows))
                .expression_attribute_values(":bytes", n(d.bytes))
                .expression_attribute_values(":files", n(d.files))
                .expression_attribute_values(":rej", n(d.rows_rejected))
                .expression_attribute_values(":quar", n(d.files_quarantined))
                .expression_attribute_values(":loc", s(&d.location))
                .expression_attribute_values(":at", s(&d.last_update));
            let mut set = "SET #loc = :loc, last_update = :at".to_string();
            update = update.expression_attribute_names("#loc", "location");
            if let Some(schema) = &d.schema {
                set.push_str(", #s = if_not_exists(#s, :schema)");
                update = update
                    .expression_attribute_names("#s", "schema")
                    .expression_attribute_values(
                        ":schema",
                        s(serde_json::to_string(schema).expect("schemas serialise")),
                    );
            }
            let expr = format!(
                "{set} ADD row_count :rows, byte_count :bytes, file_count :files, rejected_row_count :rej, quarantined_file_count :quar"
            );
            items.push(
                TransactWriteItem::builder()
                    .update(
                        update
                            .update_expression(expr)
                            .build()
                            .expect("update is complete"),
                    )
                    .build(),
            );
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => {
                if let Some(d) = stats.filter(|d| d.schema.is_some()) {
                    // A recorded schema may name the dataset's columns for the first time.
                    crate::catalog::records::index_recorded_schema(&self.records(), &d.dataset_id)
                        .await;
                }
                Ok(CommitOutcome::Committed)
            }
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                let ledger_condition_failed = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(tc)) => {
                        tc.cancellation_reasons().first().and_then(|r| r.code())
                            == Some("ConditionalCheckFailed")
                    }
                    _ => false,
                };
                if ledger_condition_failed {
                    Ok(CommitOutcome::AlreadyRecorded)
                } else {
                    Err(AwsError::from_sdk(
                        format!("dynamodb:TransactWriteItems {}", self.ledger_table),
                        e,
                    )
                    .into())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_longest_first() {
        assert_eq!(
            candidate_prefixes("hr/employees/2024/x.csv"),
            vec!["hr/employees/2024/", "hr/employees/", "hr/"]
        );
        assert!(candidate_prefixes("top.csv").is_empty());
    }

    #[test]
    fn declaration_round_trips_with_defaults() {
        let ds: Dataset =
            serde_json::from_str(r#"{"id":"hr.employees","landing_prefix":"hr/employees/"}"#)
                .unwrap();
        assert_eq!(ds.zone, "clean");
        assert!(ds.schema.is_none() && ds.partition_columns.is_empty());
        let back: Dataset = serde_json::from_str(&serde_json::to_string(&ds).unwrap()).unwrap();
        assert_eq!(back, ds);
    }
}
