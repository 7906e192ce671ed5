//! cdc-sequencer: sequences AWS DMS full-load and CDC files into the raw zone (`_op`, `_seq`,
//! `_source_file`, `_commit_ts` + the table's columns). The logic lives in `tributary::ingest::cdc` and
//! `tributary::ingest::landing`; this binary only wires configuration and clients.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, run, service_fn};
use tributary::ingest::landing::Landing;
use tributary::{aws, config::Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Arc::new(Config::from_env()?);
    let clients = aws::Clients::from_env().await;
    let sequencer = Arc::new(Landing::with_clients(&clients, config).dms_only());
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let sequencer = sequencer.clone();
        async move { sequencer.handle(event.payload).await }
    }))
    .await
}
