//! search-api: dataset search, detail, schema, partitions, business metadata and manifests behind
//! API Gateway (HTTP API payload 2.0, REST payload 1.0). The logic lives in `tributary::discovery::api`;
//! the wiring is `tributary_aws::handlers::run_search_api`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_aws::handlers::run_search_api().await
}
