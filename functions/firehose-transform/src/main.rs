//! firehose-transform: the Kinesis Data Firehose data-transformation Lambda. Validates each record
//! against the stream dataset's schema, normalises it and returns it with dynamic-partitioning
//! keys (or `Dropped` / `ProcessingFailed`). The logic lives in `tributary::stream::firehose`; this binary
//! only wires configuration and clients.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, run, service_fn};
use serde_json::value::RawValue;
use tributary::config::{Config, StreamConfig};
use tributary::stream::firehose::FirehoseTransform;
use tributary::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let stream = StreamConfig::from_env()?;
    let clients = aws::Clients::from_env().await;
    let transform = Arc::new(FirehoseTransform::with_clients(&clients, &config, stream));
    // The batch (up to 6 MB) as raw JSON: the library reads it without copying the records.
    run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let transform = transform.clone();
        async move { transform.handle(&event.payload).await }
    }))
    .await
}
