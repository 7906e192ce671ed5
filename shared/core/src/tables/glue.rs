//! Partition registration in the Glue Data Catalog, without crawlers.
//!
//! A dataset's zone output is one Glue table (`<dataset id>` with `.`/`-` → `_`, lower case),
//! Parquet, external, located at `s3://<zone bucket>/<dataset>/`, partitioned by the dataset's
//! Hive keys. [`Registrar::register`] creates the table when it is missing and registers the
//! partitions it is given with `BatchCreatePartition`, at most [`MAX_PARTITIONS_PER_CALL`] per
//! call, each partition's storage descriptor copied from the table with its own location.
//!
//! Partition values come from the object's path, per the dataset's [`Layout`]: Hive `k=v/`
//! segments, or AWS DMS date folders `YYYY/MM/DD[/HH]/` (keys `year`, `month`, `day`[, `hour`],
//! Glue type `string`, location the folder itself); see [`partition_from_path`].
//!
//! **Schema evolution** ([`evolve`]): a file may add nullable columns (appended to the table) or
//! widen a type (`int` → `bigint`/`double`, `float` → `double`). The new columns are cascaded to
//! every existing partition's descriptor *first*, then the table is updated, so a run killed
//! half-way is redone whole by the next one. Anything else (a narrowed or changed type, a missing
//! required column, a new required column, other partition keys) is [`GlueError::Incompatible`]:
//! nothing in the catalog changes and the caller quarantines the file.
//!
//! Invariants:
//! - **Idempotent**: `AlreadyExistsException` for a table or a partition counts as success, so
//!   re-runs and concurrent registrations are harmless.
//! - **Nothing swallowed**: every other per-partition error is returned in the summary.
//! - **Few calls**: partitions registered (or found present) by this container are remembered and
//!   not sent again while it is warm.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use serde::Serialize;

use crate::catalog::{Dataset, Layout};
use crate::error::{AwsError, Classify, ErrorKind};
use crate::model::paths::{HIVE_DEFAULT_PARTITION, escape_partition_value};
use crate::model::schema::{ColumnType, TableSchema};

/// `BatchCreatePartition` takes at most 100 partitions per call.
pub const MAX_PARTITIONS_PER_CALL: usize = 100;
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
pub const PARQUET_INPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
pub const PARQUET_OUTPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";

#[derive(Debug, thiserror::Error)]
pub enum GlueError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("table {table}: {reason}")]
    Definition { table: String, reason: String },
    /// The file's schema cannot be reconciled with the table's: nothing was changed.
    #[error("table {table}: incompatible schema change: {reason}")]
    Incompatible { table: String, reason: String },
    #[error("table {table}: {} partition(s) could not be registered: {failures:?}", failures.len())]
    Partitions {
        table: String,
        failures: Vec<PartitionFailure>,
    },
}

impl Classify for GlueError {
    fn kind(&self) -> ErrorKind {
        match self {
            GlueError::Aws(e) => e.kind(),
            GlueError::Definition { .. } | GlueError::Incompatible { .. } => ErrorKind::BadInput,
            // Glue's per-partition errors are mostly transient (internal errors, throttling,
            // concurrent modification); anything else needs an operator.
            GlueError::Partitions { failures, .. } => {
                if failures.iter().all(|f| {
                    ["Internal", "Throttl", "Concurrent", "Timeout"]
                        .iter()
                        .any(|t| f.code.contains(t))
                }) {
                    ErrorKind::Retryable
                } else {
                    ErrorKind::Fatal
                }
            }
        }
    }
}

/// Whether a zone key is a Parquet data object: a `.parquet` name, and no hidden segment
/// (`_`- or `.`-prefixed folders and files, as Hive and Spark skip: `_SUCCESS`, `_compaction/`).
pub fn is_data_object(key: &str) -> bool {
    key.ends_with(".parquet")
        && key
            .split('/')
            .all(|seg| !seg.starts_with('_') && !seg.starts_with('.'))
}

/// The Glue types of a dataset's partition keys: the declared column type (Hive layout),
/// `date` for the default `ingest_date`, else `string` (DMS date folders).
pub fn partition_key_types(ds: &Dataset, keys: &[String]) -> Vec<(String, ColumnType)> {
    keys.iter()
        .map(|k| {
            let declared = ds
                .schema
                .as_ref()
                .and_then(|s| s.index_of(k).map(|i| s.columns[i].ty));
            let ty = match (ds.layout, declared) {
                (Layout::Hive, Some(t)) => t,
                (Layout::Hive, None) if k == "ingest_date" => ColumnType::Date,
                _ => ColumnType::String,
            };
            (k.clone(), ty)
        })
        .collect()
}

/// The Glue table name of a dataset: lower case, `.` and `-` become `_`.
pub fn table_name(dataset_id: &str) -> String {
    dataset_id
        .chars()
        .map(|c| match c {
            '.' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// What a table looks like in Glue: data columns, partition keys (name, Glue type), location.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    pub name: String,
    pub location: String,
    pub columns: Vec<(String, String)>,
    pub partition_keys: Vec<(String, String)>,
    pub description: String,
    /// How partition folders are named under the location.
    pub layout: Layout,
    /// Columns (lower case) every file must hold, and new columns a file holds as non-nullable.
    pub required: Vec<String>,
}

impl TableDef {
    /// The table of `ds` in a zone: `file_schema` are the columns stored in the files (partition
    /// columns excluded); `partition_keys` name the Hive keys and their types, in path order.
    /// The location is the dataset's zone prefix; the layout is Hive (use [`Self::with_layout`]
    /// for data written in place in DMS date folders).
    pub fn new(
        ds: &Dataset,
        bucket: &str,
        file_schema: &TableSchema,
        partition_keys: &[(String, ColumnType)],
    ) -> Self {
        let mut required = ds.required_columns();
        for c in file_schema.columns.iter().filter(|c| !c.nullable) {
            let n = c.name.to_ascii_lowercase();
            if !required.contains(&n) {
                required.push(n);
            }
        }
        Self {
            name: table_name(&ds.id),
            location: format!("s3://{bucket}/{}", ds.zone_prefix()),
            columns: file_schema
                .columns
                .iter()
                .map(|c| (c.name.to_ascii_lowercase(), c.ty.glue().to_string()))
                .collect(),
            // As in the path (S3 keys are case-sensitive); Glue lower-cases column names itself.
            partition_keys: partition_keys
                .iter()
                .map(|(n, t)| (n.clone(), t.glue().to_string()))
                .collect(),
            description: ds.business.description.clone(),
            layout: Layout::Hive,
            required,
        }
    }

    /// The same table with partition folders named per `layout`.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// A partition's location: the table's plus the escaped `k=v/` path (Hive), or the date
    /// folders `YYYY/MM/DD[/HH]/` (DMS layouts).
    pub fn partition_location(&self, values: &[String]) -> String {
        let mut loc = self.location.clone();
        for ((k, _), v) in self.partition_keys.iter().zip(values) {
            match self.layout {
                Layout::Hive => loc.push_str(&format!("{k}={}/", escape_partition_value(v))),
                Layout::DmsDate | Layout::DmsDateHour => loc.push_str(&format!("{v}/")),
            }
        }
        loc
    }
}

/// Undoes [`escape_partition_value`]: `%XX` → the byte; [`HIVE_DEFAULT_PARTITION`] → empty.
pub fn unescape_partition_value(v: &str) -> Result<String, String> {
    if v == HIVE_DEFAULT_PARTITION {
        return Ok(String::new());
    }
    crate::model::events::decode_s3_key(&v.replace('+', "%2B"))
        .map_err(|e| format!("partition value {v:?}: {e}"))
}

/// Where an object sits in its table: the partition keys (in path order) and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPartition {
    pub keys: Vec<String>,
    pub values: Vec<String>,
}

/// Reads the partition of `rel`, an object's key relative to its dataset's zone prefix, per
/// `layout`. Hive: every folder must be a `k=v` segment. DMS dates: the folders must be exactly
/// `YYYY/MM/DD[/HH]` and a real date (hour 00-23).
pub fn partition_from_path(layout: Layout, rel: &str) -> Result<PathPartition, String> {
    let folders: Vec<&str> = match rel.rsplit_once('/') {
        Some((dirs, _)) => dirs.split('/').collect(),
        None => vec![],
    };
    match layout.date_keys() {
        None => {
            let mut p = PathPartition {
                keys: vec![],
                values: vec![],
            };
            for f in folders {
                let (k, v) = f
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or_else(|| format!("folder {f:?} is not a Hive k=v segment"))?;
                p.keys.push(k.to_string());
                p.values.push(unescape_partition_value(v)?);
            }
            Ok(p)
        }
        Some(keys) => {
            let shape = keys
                .iter()
                .map(|k| if *k == "year" { "YYYY" } else { "NN" })
                .collect::<Vec<_>>()
                .join("/");
            let bad = || {
                format!(
                    "folders {:?} are not DMS date folders {}",
                    folders.join("/"),
                    shape
                        .replacen("NN", "MM", 1)
                        .replacen("NN", "DD", 1)
                        .replace("NN", "HH")
                )
            };
            if folders.len() != keys.len() {
                return Err(bad());
            }
            let width_ok = folders.iter().enumerate().all(|(i, f)| {
                f.len() == if i == 0 { 4 } else { 2 } && f.bytes().all(|b| b.is_ascii_digit())
            });
            if !width_ok {
                return Err(bad());
            }
            let n = |i: usize| folders[i].parse::<u32>().unwrap_or(u32::MAX);
            if chrono::NaiveDate::from_ymd_opt(n(0) as i32, n(1), n(2)).is_none()
                || (folders.len() == 4 && n(3) > 23)
            {
                return Err(format!("{}: not a valid date/hour", bad()));
            }
            Ok(PathPartition {
                keys: keys.iter().map(|k| k.to_string()).collect(),
                values: folders.iter().map(|f| f.to_string()).collect(),
            })
        }
    }
}

/// Glue types a column may widen to without rewriting data (Athena, Spark and Trino read the
/// narrower Parquet physical type under the wider declared one).
fn widens(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("tinyint", "smallint" | "int" | "bigint" | "double")
            | ("smallint", "int" | "bigint" | "double")
            | ("int", "bigint" | "double")
            | ("float", "double")
    )
}

/// What a compatible schema change does to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evolution {
    /// The table's new columns: the current ones (types widened) then the added ones.
    pub columns: Vec<(String, String)>,
    pub added: Vec<String>,
    pub widened: Vec<String>,
}

/// Compares the columns of a file (`def`) with the table's `current` columns. `Ok(None)`: the
/// file fits as it is (it may lack nullable columns: readers see nulls). `Ok(Some)`: the table
/// must evolve. `Err`: the change is incompatible (the reason names the column).
pub fn evolve(current: &[(String, String)], def: &TableDef) -> Result<Option<Evolution>, String> {
    let lower = |n: &str| n.to_ascii_lowercase();
    let mut columns: Vec<(String, String)> = current
        .iter()
        .map(|(n, t)| (lower(n), t.to_ascii_lowercase()))
        .collect();
    let (mut added, mut widened) = (vec![], vec![]);
    for (name, ty) in &def.columns {
        let (name, ty) = (lower(name), ty.to_ascii_lowercase());
        match columns.iter_mut().find(|(n, _)| *n == name) {
            Some((_, cur)) if *cur == ty => {}
            Some((_, cur)) if widens(cur, &ty) => {
                widened.push(format!("{name}: {cur} -> {ty}"));
                *cur = ty;
            }
            Some((_, cur)) if widens(&ty, cur) => {
                return Err(format!("column {name} narrowed from {cur} to {ty}"));
            }
            Some((_, cur)) => {
                return Err(format!("column {name} changed type from {cur} to {ty}"));
            }
            None if def.partition_keys.iter().any(|(k, _)| lower(k) == name) => {
                return Err(format!("column {name} is also a partition key"));
            }
            None if def.required.contains(&name) => {
                return Err(format!(
                    "new column {name} is required (not nullable), but existing data has no \
                     values for it"
                ));
            }
            None => {
                added.push(name.clone());
                columns.push((name, ty));
            }
        }
    }
    for (name, _) in current {
        let name = lower(name);
        if def.required.contains(&name) && !def.columns.iter().any(|(n, _)| lower(n) == name) {
            return Err(format!("required column {name} is missing from the file"));
        }
    }
    Ok(
        (!added.is_empty() || !widened.is_empty()).then_some(Evolution {
            columns,
            added,
            widened,
        }),
    )
}

/// A table as the catalog holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableState {
    pub columns: Vec<(String, String)>,
    pub partition_keys: Vec<(String, String)>,
    pub location: String,
}

/// A registered partition: its values and location.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionState {
    pub values: Vec<String>,
    pub location: String,
}

/// A partition that could not be registered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionFailure {
    pub values: Vec<String>,
    pub code: String,
    pub message: String,
}

/// What one registration did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RegisterSummary {
    pub table: String,
    pub table_created: bool,
    pub partitions_created: u64,
    pub partitions_present: u64,
    pub partitions_failed: Vec<PartitionFailure>,
    pub glue_calls: u64,
    /// Schema evolution: columns added to the table, types widened, partitions updated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns_widened: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub partitions_updated: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The capability to define tables and register partitions. Implemented for Glue.
pub trait PartitionCatalog: Send + Sync {
    /// Creates the table; `Ok(false)` if it already exists.
    fn create_table(&self, def: &TableDef) -> impl Future<Output = Result<bool, GlueError>> + Send;
    /// Registers up to [`MAX_PARTITIONS_PER_CALL`] partitions at their locations; returns the
    /// failed ones (values, error code, message), `AlreadyExistsException` included.
    fn create_partitions(
        &self,
        def: &TableDef,
        partitions: &[PartitionState],
    ) -> impl Future<Output = Result<Vec<PartitionFailure>, GlueError>> + Send;
    /// The table's current definition; `None` if it does not exist.
    fn get_table(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<TableState>, GlueError>> + Send;
    /// Replaces the table's definition (columns, location, keys) with `def`.
    fn update_table(&self, def: &TableDef) -> impl Future<Output = Result<(), GlueError>> + Send;
    /// One page of the table's partitions and the token of the next page.
    fn get_partitions(
        &self,
        table: &str,
        token: Option<String>,
    ) -> impl Future<Output = Result<(Vec<PartitionState>, Option<String>), GlueError>> + Send;
    /// Gives up to [`MAX_PARTITIONS_PER_CALL`] partitions `def`'s columns, each keeping its
    /// location; returns the failed ones.
    fn update_partitions(
        &self,
        def: &TableDef,
        partitions: &[PartitionState],
    ) -> impl Future<Output = Result<Vec<PartitionFailure>, GlueError>> + Send;
}

/// Registers tables and partitions, remembering what this container already registered.
pub struct Registrar<P> {
    catalog: P,
    /// Table name → the columns it is known to have.
    known_tables: Mutex<HashMap<String, Vec<(String, String)>>>,
    known_partitions: Mutex<HashSet<(String, Vec<String>)>>,
}

impl<P: PartitionCatalog> Registrar<P> {
    pub fn new(catalog: P) -> Self {
        Self {
            catalog,
            known_tables: Mutex::new(HashMap::new()),
            known_partitions: Mutex::new(HashSet::new()),
        }
    }

    /// Makes `def`'s table exist and able to hold a file with `def`'s columns: creates it, or
    /// evolves it (see the module docs), or fails with [`GlueError::Incompatible`] having changed
    /// nothing. Returns the table as it now is: `def` with the table's full column list.
    /// The catalog port itself (partition listing and updates beyond registration).
    pub fn catalog(&self) -> &P {
        &self.catalog
    }

    pub async fn ensure_table(
        &self,
        def: &TableDef,
        summary: &mut RegisterSummary,
    ) -> Result<TableDef, GlueError> {
        let with_columns = |columns: Vec<(String, String)>| TableDef {
            columns,
            ..def.clone()
        };
        let cached = self
            .known_tables
            .lock()
            .expect("lock")
            .get(&def.name)
            .cloned();
        if let Some(cols) = cached
            && let Ok(None) = evolve(&cols, def)
        {
            return Ok(with_columns(cols));
        }
        // Unknown here, or the file differs from what this container knows: ask the catalog.
        summary.glue_calls += 1;
        let effective = match self.catalog.get_table(&def.name).await? {
            None => {
                summary.glue_calls += 1;
                summary.table_created = self.catalog.create_table(def).await?;
                if summary.table_created {
                    def.clone()
                } else {
                    // Created concurrently: compare with the winner's definition.
                    summary.glue_calls += 1;
                    let current = self.catalog.get_table(&def.name).await?.ok_or_else(|| {
                        GlueError::Definition {
                            table: def.name.clone(),
                            reason: "exists but cannot be read".into(),
                        }
                    })?;
                    self.reconcile(def, current, summary).await?
                }
            }
            Some(current) => self.reconcile(def, current, summary).await?,
        };
        self.known_tables
            .lock()
            .expect("lock")
            .insert(def.name.clone(), effective.columns.clone());
        Ok(effective)
    }

    /// Fits `def` to the table as it is: same partition keys, then [`evolve`].
    async fn reconcile(
        &self,
        def: &TableDef,
        current: TableState,
        summary: &mut RegisterSummary,
    ) -> Result<TableDef, GlueError> {
        let keys = |k: &[(String, String)]| {
            k.iter()
                .map(|(n, t)| (n.to_ascii_lowercase(), t.to_ascii_lowercase()))
                .collect::<Vec<_>>()
        };
        if keys(&current.partition_keys) != keys(&def.partition_keys) {
            return Err(GlueError::Incompatible {
                table: def.name.clone(),
                reason: format!(
                    "partition keys {:?} differ from the table's {:?}",
                    def.partition_keys, current.partition_keys
                ),
            });
        }
        let evolution =
            evolve(&current.columns, def).map_err(|reason| GlueError::Incompatible {
                table: def.name.clone(),
                reason,
            })?;
        let Some(ev) = evolution else {
            return Ok(TableDef {
                columns: current.columns,
                location: current.location,
                ..def.clone()
            });
        };
        let evolved = TableDef {
            columns: ev.columns,
            location: current.location,
            ..def.clone()
        };
        // Partitions first, then the table: a run that dies in between leaves the table as it
        // was, so the next file redoes the whole evolution.
        let mut token = None;
        let mut all = Vec::new();
        loop {
            summary.glue_calls += 1;
            let (page, next) = self.catalog.get_partitions(&def.name, token).await?;
            all.extend(page);
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        for chunk in all.chunks(MAX_PARTITIONS_PER_CALL) {
            summary.glue_calls += 1;
            let failures = self.catalog.update_partitions(&evolved, chunk).await?;
            if !failures.is_empty() {
                return Err(GlueError::Partitions {
                    table: def.name.clone(),
                    failures,
                });
            }
            summary.partitions_updated += chunk.len() as u64;
        }
        summary.glue_calls += 1;
        self.catalog.update_table(&evolved).await?;
        summary.columns_added = ev.added;
        summary.columns_widened = ev.widened;
        tracing::info!(table = %def.name, added = ?summary.columns_added, widened = ?summary.columns_widened, partitions_updated = summary.partitions_updated, "table schema evolved");
        Ok(evolved)
    }

    /// Makes `def`'s table exist (evolving it if needed, see [`Self::ensure_table`]) and every
    /// partition in `partitions` (values in key order) registered.
    pub async fn register(
        &self,
        def: &TableDef,
        partitions: &[Vec<String>],
    ) -> Result<RegisterSummary, GlueError> {
        let mut summary = RegisterSummary {
            table: def.name.clone(),
            ..Default::default()
        };
        for p in partitions {
            if p.len() != def.partition_keys.len() {
                return Err(GlueError::Definition {
                    table: def.name.clone(),
                    reason: format!(
                        "partition {p:?} has {} values for {} keys",
                        p.len(),
                        def.partition_keys.len()
                    ),
                });
            }
        }
        let table = self.ensure_table(def, &mut summary).await?;
        self.register_partitions(&table, partitions, &mut summary)
            .await?;
        Ok(summary)
    }

    /// [`Self::register`], and every partition registered: a partition Glue refused fails the
    /// call with [`GlueError::Partitions`] (for writers that must not record unregistered files).
    pub async fn register_all(
        &self,
        def: &TableDef,
        partitions: &[Vec<String>],
    ) -> Result<RegisterSummary, GlueError> {
        let summary = self.register(def, partitions).await?;
        if !summary.partitions_failed.is_empty() {
            return Err(GlueError::Partitions {
                table: def.name.clone(),
                failures: summary.partitions_failed,
            });
        }
        Ok(summary)
    }

    /// Registers `partitions` of a table [`Self::ensure_table`] returned.
    pub async fn register_partitions(
        &self,
        table: &TableDef,
        partitions: &[Vec<String>],
        summary: &mut RegisterSummary,
    ) -> Result<(), GlueError> {
        let mut todo: Vec<Vec<String>> = Vec::new();
        {
            let known = self.known_partitions.lock().expect("lock");
            let mut seen = HashSet::new();
            for p in partitions {
                if known.contains(&(table.name.clone(), p.clone())) {
                    summary.partitions_present += 1;
                } else if seen.insert(p.clone()) {
                    todo.push(p.clone());
                }
            }
        }
        for chunk in todo.chunks(MAX_PARTITIONS_PER_CALL) {
            summary.glue_calls += 1;
            let at: Vec<PartitionState> = chunk
                .iter()
                .map(|values| PartitionState {
                    values: values.clone(),
                    location: table.partition_location(values),
                })
                .collect();
            let failures = self.catalog.create_partitions(table, &at).await?;
            let mut failed: HashSet<&Vec<String>> = HashSet::new();
            for f in &failures {
                if f.code == "AlreadyExistsException" {
                    summary.partitions_present += 1;
                } else {
                    summary.partitions_failed.push(f.clone());
                    failed.insert(&f.values);
                }
            }
            let created = chunk.len() as u64 - failures.len() as u64;
            summary.partitions_created += created;
            let mut known = self.known_partitions.lock().expect("lock");
            for p in chunk.iter().filter(|p| !failed.contains(p)) {
                known.insert((table.name.clone(), p.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_locations() {
        assert_eq!(table_name("hr.employees_cdc"), "hr_employees_cdc");
        assert_eq!(table_name("Web-Clicks.v2"), "web_clicks_v2");
        let ds = Dataset {
            id: "sales.orders".into(),
            ..Default::default()
        };
        let def = TableDef::new(
            &ds,
            "clean-bucket",
            &TableSchema::default(),
            &[
                ("region".into(), ColumnType::String),
                ("Day".into(), ColumnType::Date),
            ],
        );
        assert_eq!(def.location, "s3://clean-bucket/sales.orders/");
        assert_eq!(
            def.partition_location(&["eu/west".into(), "".into()]),
            "s3://clean-bucket/sales.orders/region=eu%2Fwest/Day=__HIVE_DEFAULT_PARTITION__/"
        );
        assert_eq!(def.partition_keys[1], ("Day".into(), "date".into()));
    }
}
