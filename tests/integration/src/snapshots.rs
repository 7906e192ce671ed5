//! What a compacted table of the bundled DMS employees sample holds, read two ways: the oracle
//! (DuckDB's latest version per key over every raw-tier file, deletes dropped) and what a reader
//! planning through Glue sees (every file under each curated partition's location). Shared by the
//! compaction and state-machine tests.

use serde_json::Value;
use tributary::compaction::curated_table_name;

use crate::{duckdb, env};

/// (EMPLOYEE_ID, SALARY, DEPARTMENT_ID, _seq)
pub type Row = (i64, Option<f64>, String, String);

pub fn rows(values: Vec<Vec<Value>>) -> Vec<Row> {
    let mut out: Vec<Row> = values
        .into_iter()
        .map(|r| {
            let dept = match &r[2] {
                Value::String(s) if s != "__HIVE_DEFAULT_PARTITION__" => s.clone(),
                _ => String::new(),
            };
            (
                r[0].as_i64().unwrap(),
                r[1].as_f64(),
                dept,
                r[3].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort_by_key(|a| a.0);
    out
}

/// Every raw-zone key of `id`.
pub async fn raw_keys(id: &str) -> Vec<String> {
    env()
        .list(&env().config.raw_bucket, &format!("{id}/"))
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// DuckDB's latest version per key over every raw file of `id` (the oracle).
pub async fn oracle(id: &str, tag: &str) -> Vec<Row> {
    let env = env();
    let keys = raw_keys(id).await;
    let dir = env.download(&env.config.raw_bucket, &keys, tag).await;
    rows(duckdb(&format!(
        "SELECT EMPLOYEE_ID, CAST(SALARY AS DOUBLE), CAST(DEPARTMENT_ID AS VARCHAR), _seq \
         FROM read_parquet('{}/{id}/**/*.parquet', hive_partitioning = true) \
         QUALIFY row_number() OVER (PARTITION BY EMPLOYEE_ID ORDER BY _seq DESC) = 1 AND _op <> 'D'",
        dir.display()
    )))
}

/// What a reader planning through the catalog sees: every file under each Glue partition's
/// location of the curated table, read by DuckDB with the partition value from Glue.
pub async fn published(id: &str, tag: &str) -> Vec<Row> {
    rows(published_select(id, tag, "EMPLOYEE_ID, CAST(SALARY AS DOUBLE)", "_seq").await)
}

/// Rows of `SELECT <columns>, '<partition value>', <after> FROM <each curated partition's files>`
/// for the curated table of `id`, as a reader planning through Glue sees them.
pub async fn published_select(id: &str, tag: &str, columns: &str, after: &str) -> Vec<Vec<Value>> {
    let env = env();
    let parts = env
        .glue()
        .get_partitions()
        .database_name(&env.config.glue_database)
        .table_name(curated_table_name(id))
        .send()
        .await
        .expect("curated partitions");
    let mut selects = Vec::new();
    for p in parts.partitions() {
        let loc = p.storage_descriptor().unwrap().location().unwrap();
        let tag = format!("{tag}-{}", selects.len());
        let Some(files) = location_files(loc, &tag).await else {
            continue;
        };
        let after = if after.is_empty() {
            String::new()
        } else {
            format!(", {after}")
        };
        selects.push(format!(
            "SELECT {columns}, '{}'{after} FROM read_parquet([{files}], hive_partitioning = false)",
            p.values()[0],
        ));
    }
    if selects.is_empty() {
        return vec![];
    }
    duckdb(&selects.join(" UNION ALL "))
}

/// Every object under a curated `s3://` location, downloaded: their local paths, quoted and
/// comma-separated for DuckDB's `read_parquet([...])`; `None` if the location is empty.
pub async fn location_files(location: &str, tag: &str) -> Option<String> {
    let env = env();
    let key_prefix = location
        .strip_prefix(&format!("s3://{}/", env.config.curated_bucket))
        .expect("a curated location");
    let keys: Vec<String> = env
        .list(&env.config.curated_bucket, key_prefix)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    if keys.is_empty() {
        return None;
    }
    let dir = env.download(&env.config.curated_bucket, &keys, tag).await;
    let files: Vec<String> = keys
        .iter()
        .map(|k| format!("'{}'", dir.join(k).display()))
        .collect();
    Some(files.join(", "))
}
