//! compactor: collapses a table's sequenced raw-tier changes into a curated snapshot (latest
//! version per primary key, deletes applied) and publishes it atomically (Glue partition
//! locations, then a conditional DynamoDB record); with `"action": "retire"`, deletes what the
//! published snapshot no longer needs after the grace period. The logic lives in
//! `tributary::compaction`; this binary only wires configuration and clients.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, run, service_fn};
use tributary::compaction::Compactor;
use tributary::config::{CompactionTuning, Config};
use tributary::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Arc::new(Config::from_env()?);
    let tuning = CompactionTuning::from_env()?;
    let clients = aws::Clients::from_env().await;
    let handler = Arc::new(Compactor::with_clients(&clients, config, tuning));
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let handler = handler.clone();
        async move { handler.handle(event.payload).await }
    }))
    .await
}
