//! s3-landing: converts objects landing in the landing bucket into typed Parquet in the clean zone
//! (and sequences AWS DMS files into the raw zone, as cdc-sequencer does).
//! The logic lives in `tributary::ingest::landing`; this binary only wires configuration and clients.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, run, service_fn};
use tributary::ingest::landing::Landing;
use tributary::{aws, config::Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Arc::new(Config::from_env()?);
    let clients = aws::Clients::from_env().await;
    let landing = Arc::new(Landing::with_clients(&clients, config));
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let landing = landing.clone();
        async move { landing.handle(event.payload).await }
    }))
    .await
}
