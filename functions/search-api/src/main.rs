//! search-api: dataset search, detail, schema, partitions, business metadata and manifests behind
//! API Gateway (HTTP API payload 2.0, REST payload 1.0). The logic lives in `tributary::discovery::api`;
//! this binary only wires configuration and clients.

use std::sync::Arc;

use lambda_http::{Request, run, service_fn};
use tributary::config::{ApiConfig, Config};
use tributary::discovery::api::SearchApi;
use tributary::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Arc::new(Config::from_env()?);
    let api_config = Arc::new(ApiConfig::from_env()?);
    let clients = aws::Clients::from_env().await;
    let api = Arc::new(SearchApi::with_clients(
        clients.dynamodb,
        clients.glue,
        clients.s3,
        config,
        api_config,
    ));
    run(service_fn(move |req: Request| {
        let api = api.clone();
        async move { api.handle(req).await }
    }))
    .await
}
