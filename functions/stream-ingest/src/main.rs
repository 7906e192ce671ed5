//! stream-ingest: consumes a Kinesis data stream into Parquet micro-batches in the raw zone,
//! registers their hour partitions in Glue and reports `batchItemFailures`. The logic lives in
//! `tributary::stream::kinesis`; this binary only wires configuration and clients.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, run, service_fn};
use tributary::config::{Config, StreamConfig};
use tributary::stream::kinesis::{KinesisBatch, StreamIngest};
use tributary::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Arc::new(Config::from_env()?);
    let stream = StreamConfig::from_env()?;
    let clients = aws::Clients::from_env().await;
    let ingest = Arc::new(StreamIngest::with_clients(&clients, config, stream));
    run(service_fn(move |event: LambdaEvent<KinesisBatch>| {
        let ingest = ingest.clone();
        async move { ingest.handle(event.payload).await }
    }))
    .await
}
