//! compactor: collapses a table's sequenced raw-tier changes into a curated snapshot (latest
//! version per primary key, deletes applied) and publishes it atomically (Glue partition
//! locations, then a conditional DynamoDB record); with `"action": "retire"`, deletes what the
//! published snapshot no longer needs after the grace period; with `"action": "pending"`, reports
//! what is waiting and whether it is due (the CDC pipeline's decision). The logic lives in
//! `tributary::compaction`; the wiring is `tributary_aws::handlers::run_compactor`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_aws::handlers::run_compactor().await
}
