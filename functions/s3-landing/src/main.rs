//! s3-landing: converts objects landing in the landing bucket into typed Parquet in the clean zone.
//! The logic lives in `tributary::landing`; this binary only wires configuration and clients.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, run, service_fn};
use tributary::catalog::DynamoCatalog;
use tributary::landing::Landing;
use tributary::storage::S3Store;
use tributary::{aws, config::Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Arc::new(Config::from_env()?);
    let clients = aws::Clients::from_env().await;
    let catalog = DynamoCatalog::new(
        clients.dynamodb.clone(),
        &config.catalog_table,
        &config.ledger_table,
    );
    let landing = Arc::new(Landing::new(
        S3Store::new(clients.s3.clone()),
        catalog,
        config,
    ));
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let landing = landing.clone();
        async move { landing.handle(event.payload).await }
    }))
    .await
}
