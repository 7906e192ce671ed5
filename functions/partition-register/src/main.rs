//! partition-register: makes Parquet objects created in the raw, clean and curated buckets
//! queryable through the Glue Data Catalog (table created or evolved, partitions registered).
//! The logic lives in `tributary::tables::register`; the wiring is `tributary_aws::handlers::run_partition_register`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_aws::handlers::run_partition_register().await
}
