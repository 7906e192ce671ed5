//! Dataset declarations, landing-prefix routes, dataset stats and the processing ledger, behind
//! two narrow ports, [`DatasetCatalog`] and [`Ledger`], implemented once by [`Catalog`] over two
//! item tables (`crate::catalog::table`; DynamoDB in production: `tributary_aws::dynamo`).
//!
//! Item layout (keys built by `crate::catalog::keys`; both tables have a string `pk` and `sk`):
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
//!   transaction, conditioned on the entry not existing. A second delivery of the same
//!   object version finds the entry (or loses the condition) and becomes a recorded no-op.
//! - The ledger is written only after the outputs it lists are durable.
//! - Routing needs no scan: the candidate prefixes of a key are fetched with one batch read, and
//!   the longest matching prefix wins. Route items are written with the declaration
//!   (`crate::catalog::records`).

pub mod cache;
pub mod index;
pub mod keys;
#[cfg(any(test, feature = "testing"))]
pub mod memtable;
pub mod records;
pub mod table;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::catalog::table::{
    Attr, CancelReason, Cond, Item, ItemTable, Key, TableError, UpdateAction, Write, text,
};
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

/// What a DMS file whose columns differ from the declaration does (`schema_evolution`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaEvolution {
    /// A column the file carries that the declaration lacks is added (nullable, typed from the
    /// source), and a wider source type widens the declared one: a new schema version, cascaded
    /// to the Glue tables and the search index.
    #[default]
    AddColumns,
    /// Such a file is quarantined whole, with the columns in the reason.
    Strict,
}

impl SchemaEvolution {
    fn is_default(&self) -> bool {
        *self == SchemaEvolution::AddColumns
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
    /// DMS datasets: `add_columns` (default) or `strict`; see [`SchemaEvolution`].
    #[serde(default, skip_serializing_if = "SchemaEvolution::is_default")]
    pub schema_evolution: SchemaEvolution,
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
    pub sequence: Option<SequenceSummary>,
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
    /// Adds the columns the declared schema lacks and widens the ones a source widened (see
    /// `crate::catalog::records::evolve`); returns the declaration as stored afterwards.
    fn evolve_schema(
        &self,
        id: &str,
        columns: &[crate::model::schema::Column],
    ) -> impl Future<Output = Result<Dataset, CatalogError>> + Send;
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

/// Both ports over the catalog and ledger item tables (`DynamoCatalog` over DynamoDB).
#[derive(Clone, Debug)]
pub struct Catalog<T> {
    catalog: T,
    ledger: T,
}

/// Every directory prefix of a key, longest first: `a/b/c.csv` → `a/b/`, `a/`.
pub fn candidate_prefixes(key: &str) -> Vec<&str> {
    let mut out: Vec<&str> = key.match_indices('/').map(|(i, _)| &key[..=i]).collect();
    out.reverse();
    out
}

/// Prefixes of a key looked up for its route (one `BatchGetItem`); deeper ones are not routable.
pub const MAX_ROUTE_DEPTH: usize = 100;

impl From<TableError> for CatalogError {
    fn from(e: TableError) -> Self {
        CatalogError::Aws(e.into_aws())
    }
}

impl<T: ItemTable + Clone> Catalog<T> {
    /// The catalog over its two tables (of one store: a ledger commit spans both).
    pub fn with_tables(catalog: T, ledger: T) -> Self {
        Self { catalog, ledger }
    }

    /// The dataset records (with their search index entries) in the catalog table.
    pub fn records(&self) -> crate::catalog::records::Records<T> {
        crate::catalog::records::Records::with_table(self.catalog.clone())
    }

    /// The dataset id of the longest route among `key`'s directory prefixes (one batch read),
    /// with `route` naming a prefix's route item.
    async fn longest_route(
        &self,
        key: &str,
        route: impl Fn(&str) -> Key,
    ) -> Result<Option<String>, CatalogError> {
        let prefixes: Vec<&str> = candidate_prefixes(key)
            .into_iter()
            .take(MAX_ROUTE_DEPTH)
            .collect();
        if prefixes.is_empty() {
            return Ok(None);
        }
        let keys: Vec<Key> = prefixes.iter().map(|p| route(p)).collect();
        let found = self.catalog.batch_get(&keys, None).await?;
        Ok(keys
            .iter()
            .find_map(|k| found.get(k).and_then(|i| text(i, "dataset_id")))
            .map(String::from))
    }

    fn parse_declaration(id: &str, item: &Item) -> Result<Dataset, CatalogError> {
        let doc = text(item, "doc").ok_or_else(|| CatalogError::BadDeclaration {
            id: id.into(),
            reason: "attribute doc is missing".into(),
        })?;
        serde_json::from_str(doc).map_err(|e| CatalogError::BadDeclaration {
            id: id.into(),
            reason: e.to_string(),
        })
    }
}

impl<T: ItemTable + Clone> DatasetCatalog for Catalog<T> {
    async fn resolve(&self, key: &str) -> Result<Option<Dataset>, CatalogError> {
        match self.longest_route(key, keys::route).await? {
            Some(id) => self.get(&id).await,
            None => Ok(None),
        }
    }

    async fn resolve_zone(&self, zone: &str, key: &str) -> Result<Option<Dataset>, CatalogError> {
        if let Some(id) = self
            .longest_route(key, |p| keys::zone_route(zone, p))
            .await?
        {
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
        self.catalog
            .get(&keys::declaration(id), None)
            .await?
            .map(|item| Self::parse_declaration(id, &item))
            .transpose()
    }

    async fn recorded_schema(&self, id: &str) -> Result<Option<TableSchema>, CatalogError> {
        let item = self
            .catalog
            .get(&keys::stats(id), Some(&["schema"]))
            .await?;
        let Some(doc) = item.as_ref().and_then(|i| text(i, "schema")) else {
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
        // The declaration is written by `records`, with its routes and search index entries.
        crate::catalog::records::declare(&self.records(), ds, &crate::catalog::records::now())
            .await
            .map_err(|e| CatalogError::Record(Box::new(e)))?;
        Ok(())
    }

    async fn evolve_schema(
        &self,
        id: &str,
        columns: &[crate::model::schema::Column],
    ) -> Result<Dataset, CatalogError> {
        let now = crate::catalog::records::now();
        crate::catalog::records::evolve(&self.records(), id, columns, &now)
            .await
            .map_err(|e| CatalogError::Record(Box::new(e)))
    }
}

impl<T: ItemTable + Clone> Ledger for Catalog<T> {
    async fn lookup(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> Result<Option<LedgerEntry>, CatalogError> {
        let item = self
            .ledger
            .get(&keys::ledger_entry(bucket, key, version), None)
            .await?;
        Ok(item
            .as_ref()
            .and_then(|i| text(i, "entry"))
            .and_then(|doc| serde_json::from_str(doc).ok()))
    }

    async fn record_duplicate(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
        at: &str,
    ) -> Result<(), CatalogError> {
        let update = Write::update(
            keys::ledger_entry(bucket, key, version),
            vec![
                UpdateAction::add("duplicate_deliveries", 1),
                UpdateAction::set("last_duplicate_at", Attr::s(at)),
            ],
        )
        .when(Cond::item_present());
        self.ledger.write(update).await?;
        Ok(())
    }

    async fn commit(
        &self,
        entry: &LedgerEntry,
        stats: Option<&StatsDelta>,
    ) -> Result<CommitOutcome, CatalogError> {
        let doc = serde_json::to_string(entry).expect("ledger entries serialise");
        let key = keys::ledger_entry(&entry.bucket, &entry.key, &entry.version);
        let mut writes = vec![
            Write::put(key.item([
                ("entry", Attr::s(doc)),
                ("outcome", Attr::s(&entry.outcome)),
                ("processed_at", Attr::s(&entry.processed_at)),
                ("duplicate_deliveries", Attr::n(0)),
            ]))
            .when(Cond::item_absent()),
        ];
        if let Some(d) = stats {
            let mut actions = vec![
                UpdateAction::set("location", Attr::s(&d.location)),
                UpdateAction::set("last_update", Attr::s(&d.last_update)),
            ];
            if let Some(schema) = &d.schema {
                actions.push(UpdateAction::set_if_absent(
                    "schema",
                    Attr::s(serde_json::to_string(schema).expect("schemas serialise")),
                ));
            }
            actions.extend([
                UpdateAction::add("row_count", d.rows),
                UpdateAction::add("byte_count", d.bytes),
                UpdateAction::add("file_count", d.files),
                UpdateAction::add("rejected_row_count", d.rows_rejected),
                UpdateAction::add("quarantined_file_count", d.files_quarantined),
            ]);
            writes.push(Write::update(keys::stats(&d.dataset_id), actions).on(self.catalog.name()));
        }
        match self.ledger.transact(writes).await {
            Ok(()) => {
                if let Some(d) = stats.filter(|d| d.schema.is_some()) {
                    // A recorded schema may name the dataset's columns for the first time.
                    crate::catalog::records::index_recorded_schema(&self.records(), &d.dataset_id)
                        .await;
                }
                Ok(CommitOutcome::Committed)
            }
            // The ledger entry exists: this object version was already processed.
            Err(e) if e.reasons().first() == Some(&CancelReason::ConditionFailed) => {
                Ok(CommitOutcome::AlreadyRecorded)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// What the CDC sequencer adds to an object's summary.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SequenceSummary {
    pub phase: crate::model::dms::Phase,
    pub rows_by_op: std::collections::BTreeMap<String, u64>,
    pub seq_first: Option<String>,
    pub seq_last: Option<String>,
    /// Values written with a non-zero part dropped, by column (Parquet: a time of day into a
    /// `date`, sub-microsecond digits into a `timestamp`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub values_truncated: std::collections::BTreeMap<String, u64>,
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
