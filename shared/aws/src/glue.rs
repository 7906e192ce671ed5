//! The Glue adapter: [`GlueCatalog`] implements the table and partition ports
//! ([`PartitionCatalog`] for registration and evolution, [`PartitionPages`] for the API's partition
//! listing). Table and partition inputs are built from the domain's [`TableDef`] here, and only
//! here.

use aws_sdk_glue::types::{
    BatchUpdatePartitionRequestEntry, Column as GlueColumn, PartitionInput, SerDeInfo,
    StorageDescriptor, TableInput,
};
use tributary::discovery::manifest::{PartitionPage, PartitionPages};
use tributary::tables::glue::{
    GlueError, PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, PartitionCatalog,
    PartitionFailure, PartitionState, TableDef, TableState,
};

/// [`PartitionCatalog`] and [`PartitionPages`] over the Glue API: the one Glue adapter.
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
            .table_input(table_input(def))
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
            Err(e) => {
                Err(crate::sdk::aws_error(format!("glue:CreateTable {}", def.name), e).into())
            }
        }
    }

    async fn create_partitions(
        &self,
        def: &TableDef,
        partitions: &[PartitionState],
    ) -> Result<Vec<PartitionFailure>, GlueError> {
        let inputs = partitions
            .iter()
            .map(|p| {
                PartitionInput::builder()
                    .set_values(Some(p.values.clone()))
                    .storage_descriptor(storage(def, &p.location))
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
                crate::sdk::aws_error(format!("glue:BatchCreatePartition {}", def.name), e)
            })?;
        Ok(out
            .errors()
            .iter()
            .map(|e| failure(e.partition_values(), e.error_detail()))
            .collect())
    }

    async fn get_table(&self, name: &str) -> Result<Option<TableState>, GlueError> {
        let out = match self
            .client
            .get_table()
            .database_name(&self.database)
            .name(name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(crate::sdk::aws_error(format!("glue:GetTable {name}"), e).into()),
        };
        let Some(t) = out.table() else {
            return Ok(None);
        };
        let cols = |c: &[GlueColumn]| {
            c.iter()
                .map(|c| {
                    (
                        c.name().to_string(),
                        c.r#type().unwrap_or("string").to_string(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let sd = t.storage_descriptor();
        Ok(Some(TableState {
            columns: sd.map(|sd| cols(sd.columns())).unwrap_or_default(),
            partition_keys: cols(t.partition_keys()),
            location: sd
                .and_then(|sd| sd.location())
                .unwrap_or_default()
                .to_string(),
        }))
    }

    async fn update_table(&self, def: &TableDef) -> Result<(), GlueError> {
        self.client
            .update_table()
            .database_name(&self.database)
            .table_input(table_input(def))
            .send()
            .await
            .map_err(|e| crate::sdk::aws_error(format!("glue:UpdateTable {}", def.name), e))?;
        Ok(())
    }

    async fn get_partitions(
        &self,
        table: &str,
        token: Option<String>,
    ) -> Result<(Vec<PartitionState>, Option<String>), GlueError> {
        let out = self
            .client
            .get_partitions()
            .database_name(&self.database)
            .table_name(table)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| crate::sdk::aws_error(format!("glue:GetPartitions {table}"), e))?;
        let parts = out
            .partitions()
            .iter()
            .map(|p| PartitionState {
                values: p.values().to_vec(),
                location: p
                    .storage_descriptor()
                    .and_then(|sd| sd.location())
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect();
        Ok((parts, out.next_token().map(str::to_string)))
    }

    async fn update_partitions(
        &self,
        def: &TableDef,
        partitions: &[PartitionState],
    ) -> Result<Vec<PartitionFailure>, GlueError> {
        let entries = partitions
            .iter()
            .map(|p| {
                BatchUpdatePartitionRequestEntry::builder()
                    .set_partition_value_list(Some(p.values.clone()))
                    .partition_input(
                        PartitionInput::builder()
                            .set_values(Some(p.values.clone()))
                            .storage_descriptor(storage(def, &p.location))
                            .build(),
                    )
                    .build()
                    .expect("values and input are set")
            })
            .collect();
        let out = self
            .client
            .batch_update_partition()
            .database_name(&self.database)
            .table_name(&def.name)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                crate::sdk::aws_error(format!("glue:BatchUpdatePartition {}", def.name), e)
            })?;
        Ok(out
            .errors()
            .iter()
            .map(|e| failure(e.partition_value_list(), e.error_detail()))
            .collect())
    }
}

impl PartitionPages for GlueCatalog {
    async fn page(
        &self,
        table: &str,
        token: Option<String>,
        limit: i32,
    ) -> Result<Option<PartitionPage>, GlueError> {
        let t = match self
            .client
            .get_table()
            .database_name(&self.database)
            .name(table)
            .send()
            .await
        {
            Ok(t) => t,
            Err(e) => {
                let e = crate::sdk::aws_error(format!("glue:GetTable {table}"), e);
                if e.is_code("EntityNotFoundException") {
                    return Ok(None);
                }
                return Err(e.into());
            }
        };
        let keys = t
            .table()
            .map(|t| {
                t.partition_keys()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let out = self
            .client
            .get_partitions()
            .database_name(&self.database)
            .table_name(table)
            .max_results(limit)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| crate::sdk::aws_error(format!("glue:GetPartitions {table}"), e))?;
        Ok(Some(PartitionPage {
            keys,
            partitions: out
                .partitions()
                .iter()
                .map(|p| {
                    (
                        p.values().to_vec(),
                        p.storage_descriptor()
                            .and_then(|sd| sd.location())
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect(),
            next: out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        }))
    }
}

fn storage(def: &TableDef, location: &str) -> StorageDescriptor {
    StorageDescriptor::builder()
        .set_columns(Some(glue_columns(&def.columns)))
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

fn table_input(def: &TableDef) -> TableInput {
    TableInput::builder()
        .name(&def.name)
        .description(&def.description)
        .table_type("EXTERNAL_TABLE")
        .parameters("classification", "parquet")
        .parameters("EXTERNAL", "TRUE")
        .parameters("parquet.compression", "ZSTD")
        .storage_descriptor(storage(def, &def.location))
        .set_partition_keys(Some(glue_columns(&def.partition_keys)))
        .build()
        .expect("the table name is set")
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

/// A partition Glue refused, from its error detail.
fn failure(
    values: &[String],
    detail: Option<&aws_sdk_glue::types::ErrorDetail>,
) -> PartitionFailure {
    PartitionFailure {
        values: values.to_vec(),
        code: detail
            .and_then(|d| d.error_code())
            .unwrap_or("Unknown")
            .to_string(),
        message: detail
            .and_then(|d| d.error_message())
            .unwrap_or_default()
            .to_string(),
    }
}
