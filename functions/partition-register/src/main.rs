//! partition-register: makes Parquet objects created in the raw, clean and curated buckets
//! queryable through the Glue Data Catalog (table created or evolved, partitions registered).
//! The logic lives in `tributary::tables::register`; this binary only wires configuration and clients.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, run, service_fn};
use tributary::tables::register::PartitionRegister;
use tributary::{aws, config::Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Arc::new(Config::from_env()?);
    let clients = aws::Clients::from_env().await;
    let handler = Arc::new(PartitionRegister::with_clients(&clients, config));
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let handler = handler.clone();
        async move { handler.handle(event.payload).await }
    }))
    .await
}
