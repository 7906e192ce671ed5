//! Partition registration in the Glue Data Catalog, without crawlers.
//!
//! A dataset's zone output is one Glue table (`<dataset id>` with `.`/`-` → `_`, lower case),
//! Parquet, external, located at `s3://<zone bucket>/<dataset>/`, partitioned by the dataset's
//! Hive keys. [`Registrar::register`] creates the table when it is missing and registers the
//! partitions it is given with `BatchCreatePartition`, at most [`MAX_PARTITIONS_PER_CALL`] per
//! call, each partition's storage descriptor copied from the table with its own location.
//!
//! Invariants:
//! - **Idempotent**: `AlreadyExistsException` for a table or a partition counts as success, so
//!   re-runs and concurrent registrations are harmless.
//! - **Nothing swallowed**: every other per-partition error is returned in the summary.
//! - **Few calls**: partitions registered (or found present) by this container are remembered and
//!   not sent again while it is warm.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_glue::types::{
    Column as GlueColumn, PartitionInput, SerDeInfo, StorageDescriptor, TableInput,
};
use serde::Serialize;

use crate::catalog::Dataset;
use crate::convert::escape_partition_value;
use crate::error::{AwsError, Classify, ErrorKind};
use crate::schema::{ColumnType, TableSchema};

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
            GlueError::Definition { .. } => ErrorKind::BadInput,
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
}

impl TableDef {
    /// The table of `ds` in a zone: `file_schema` are the columns stored in the files (partition
    /// columns excluded); `partition_keys` name the Hive keys and their types, in path order.
    pub fn new(
        ds: &Dataset,
        bucket: &str,
        file_schema: &TableSchema,
        partition_keys: &[(String, ColumnType)],
    ) -> Self {
        Self {
            name: table_name(&ds.id),
            location: format!("s3://{bucket}/{}/", ds.path_name()),
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
        }
    }

    fn storage(&self, location: &str) -> StorageDescriptor {
        StorageDescriptor::builder()
            .set_columns(Some(glue_columns(&self.columns)))
            .location(location)
            .input_format(PARQUET_INPUT_FORMAT)
            .output_format(PARQUET_OUTPUT_FORMAT)
            .compressed(false)
            .serde_info(
                SerDeInfo::builder()
                    .serialization_library(PARQUET_SERDE)
                    .parameters("serialization.format", "1")
                    .build(),
            )
            .build()
    }

    fn input(&self) -> TableInput {
        TableInput::builder()
            .name(&self.name)
            .description(&self.description)
            .table_type("EXTERNAL_TABLE")
            .parameters("classification", "parquet")
            .parameters("EXTERNAL", "TRUE")
            .parameters("parquet.compression", "ZSTD")
            .storage_descriptor(self.storage(&self.location))
            .set_partition_keys(Some(glue_columns(&self.partition_keys)))
            .build()
            .expect("the table name is set")
    }

    /// A partition's location: the table's plus the escaped `k=v/` path.
    pub fn partition_location(&self, values: &[String]) -> String {
        let mut loc = self.location.clone();
        for ((k, _), v) in self.partition_keys.iter().zip(values) {
            loc.push_str(&format!("{k}={}/", escape_partition_value(v)));
        }
        loc
    }
}

fn glue_columns(cols: &[(String, String)]) -> Vec<GlueColumn> {
    cols.iter()
        .map(|(n, t)| {
            GlueColumn::builder()
                .name(n.to_ascii_lowercase())
                .r#type(t)
                .build()
                .expect("the column name is set")
        })
        .collect()
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
}

/// The capability to define tables and register partitions. Implemented for Glue.
pub trait PartitionCatalog: Send + Sync {
    /// Creates the table; `Ok(false)` if it already exists.
    fn create_table(&self, def: &TableDef) -> impl Future<Output = Result<bool, GlueError>> + Send;
    /// Registers up to [`MAX_PARTITIONS_PER_CALL`] partitions; returns the failed ones (values,
    /// error code, message), `AlreadyExistsException` included.
    fn create_partitions(
        &self,
        def: &TableDef,
        partitions: &[Vec<String>],
    ) -> impl Future<Output = Result<Vec<PartitionFailure>, GlueError>> + Send;
}

/// [`PartitionCatalog`] over the Glue API.
#[derive(Clone, Debug)]
pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
    database: String,
}

impl GlueCatalog {
    pub fn new(client: aws_sdk_glue::Client, database: impl Into<String>) -> Self {
        Self {
            client,
            database: database.into(),
        }
    }
}

impl PartitionCatalog for GlueCatalog {
    async fn create_table(&self, def: &TableDef) -> Result<bool, GlueError> {
        match self
            .client
            .create_table()
            .database_name(&self.database)
            .table_input(def.input())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsError::from_sdk(format!("glue:CreateTable {}", def.name), e).into()),
        }
    }

    async fn create_partitions(
        &self,
        def: &TableDef,
        partitions: &[Vec<String>],
    ) -> Result<Vec<PartitionFailure>, GlueError> {
        let inputs = partitions
            .iter()
            .map(|values| {
                PartitionInput::builder()
                    .set_values(Some(values.clone()))
                    .storage_descriptor(def.storage(&def.partition_location(values)))
                    .build()
            })
            .collect();
        let out = self
            .client
            .batch_create_partition()
            .database_name(&self.database)
            .table_name(&def.name)
            .set_partition_input_list(Some(inputs))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("glue:BatchCreatePartition {}", def.name), e)
            })?;
        Ok(out
            .errors()
            .iter()
            .map(|e| PartitionFailure {
                values: e.partition_values().to_vec(),
                code: e
                    .error_detail()
                    .and_then(|d| d.error_code())
                    .unwrap_or("Unknown")
                    .to_string(),
                message: e
                    .error_detail()
                    .and_then(|d| d.error_message())
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect())
    }
}

/// Registers tables and partitions, remembering what this container already registered.
pub struct Registrar<P> {
    catalog: P,
    known_tables: Mutex<HashSet<String>>,
    known_partitions: Mutex<HashSet<(String, Vec<String>)>>,
}

impl<P: PartitionCatalog> Registrar<P> {
    pub fn new(catalog: P) -> Self {
        Self {
            catalog,
            known_tables: Mutex::new(HashSet::new()),
            known_partitions: Mutex::new(HashSet::new()),
        }
    }

    /// Makes `def` exist and every partition in `partitions` (values in key order) registered.
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
        if !self.known_tables.lock().expect("lock").contains(&def.name) {
            summary.glue_calls += 1;
            summary.table_created = self.catalog.create_table(def).await?;
            self.known_tables
                .lock()
                .expect("lock")
                .insert(def.name.clone());
        }
        let mut todo: Vec<Vec<String>> = Vec::new();
        {
            let known = self.known_partitions.lock().expect("lock");
            let mut seen = HashSet::new();
            for p in partitions {
                if known.contains(&(def.name.clone(), p.clone())) {
                    summary.partitions_present += 1;
                } else if seen.insert(p.clone()) {
                    todo.push(p.clone());
                }
            }
        }
        for chunk in todo.chunks(MAX_PARTITIONS_PER_CALL) {
            summary.glue_calls += 1;
            let failures = self.catalog.create_partitions(def, chunk).await?;
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
                known.insert((def.name.clone(), p.clone()));
            }
        }
        Ok(summary)
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
