//! The wiring of every Lambda: configuration read once from the environment (failing with the
//! variable's name), the SDK clients, the adapters, the domain handler, and the runtime loop.
//! `functions/<name>/src/main.rs` calls one `run` here and nothing else.
//!
//! Each `*_handler` builds the handler over the AWS adapters (tests and tools use them too); each
//! `run_*` serves it. Errors reach Lambda as [`crate::lambda::diagnostic`]s.

use std::sync::Arc;
use std::time::Instant;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use serde_json::value::RawValue;
use tributary::compaction::Compactor;
use tributary::config::{ApiConfig, CompactionTuning, Config, StreamConfig};
use tributary::discovery::api::SearchApi;
use tributary::ingest::landing::Landing;
use tributary::stream::firehose::FirehoseTransform;
use tributary::stream::kinesis::{KinesisBatch, StreamIngest};
use tributary::tables::register::PartitionRegister;

use crate::api_gateway::{api_request, lambda_response};
use crate::dynamo::{DynamoCatalog, DynamoItems, DynamoRecords, DynamoSnapshots};
use crate::lambda::{DeadlineReached, deadline, diagnostic};
use crate::{Clients, GlueCatalog, S3Store, telemetry};

type Error = lambda_runtime::Error;

/// The catalog and ledger tables.
pub fn catalog(clients: &Clients, config: &Config) -> DynamoCatalog {
    crate::dynamo::catalog(
        clients.dynamodb.clone(),
        &config.catalog_table,
        &config.ledger_table,
    )
}

/// The Glue database of every table.
pub fn glue(clients: &Clients, config: &Config) -> GlueCatalog {
    GlueCatalog::new(clients.glue.clone(), &config.glue_database)
}

pub type AwsLanding = Landing<S3Store, DynamoCatalog, GlueCatalog>;

/// s3-landing's handler (cdc-sequencer's is the same, `dms_only`).
pub fn landing_handler(clients: &Clients, config: Arc<Config>) -> AwsLanding {
    Landing::new(
        S3Store::new(clients.s3.clone()),
        catalog(clients, &config),
        glue(clients, &config),
        config,
    )
}

pub type AwsRegister = PartitionRegister<S3Store, DynamoCatalog, GlueCatalog>;

pub fn register_handler(clients: &Clients, config: Arc<Config>) -> AwsRegister {
    PartitionRegister::new(
        S3Store::new(clients.s3.clone()),
        catalog(clients, &config),
        glue(clients, &config),
        config,
    )
}

pub type AwsStreamIngest = StreamIngest<S3Store, DynamoCatalog, GlueCatalog>;

pub fn stream_ingest_handler(
    clients: &Clients,
    config: Arc<Config>,
    stream: StreamConfig,
) -> AwsStreamIngest {
    StreamIngest::new(
        S3Store::new(clients.s3.clone()),
        catalog(clients, &config),
        glue(clients, &config),
        config,
        stream,
    )
}

pub fn firehose_handler(
    clients: &Clients,
    config: &Config,
    stream: StreamConfig,
) -> FirehoseTransform<DynamoCatalog> {
    FirehoseTransform::new(catalog(clients, config), stream)
}

pub type AwsCompactor = Compactor<S3Store, DynamoCatalog, GlueCatalog, DynamoSnapshots>;

pub fn compactor_handler(
    clients: &Clients,
    config: Arc<Config>,
    tuning: CompactionTuning,
) -> AwsCompactor {
    Compactor::new(
        S3Store::new(clients.s3.clone()),
        catalog(clients, &config),
        glue(clients, &config),
        crate::dynamo::snapshots(clients.dynamodb.clone(), &config.catalog_table),
        config,
        tuning,
    )
}

pub type AwsSearchApi = SearchApi<DynamoRecords, DynamoItems, GlueCatalog, S3Store>;

/// The search API (one DynamoDB client for records and index reads).
pub fn search_api_handler(
    clients: &Clients,
    config: Arc<Config>,
    api: Arc<ApiConfig>,
) -> AwsSearchApi {
    SearchApi::new(
        crate::dynamo::records(clients.dynamodb.clone(), &config.catalog_table),
        crate::dynamo::items(clients.dynamodb.clone(), &config.catalog_table),
        glue(clients, &config),
        S3Store::new(clients.s3.clone()),
        config,
        api,
    )
}

/// Serves a JSON-in, JSON-out handler. The handler gets the instant by which it must stop (the
/// invocation's deadline less [`tributary::config::DEADLINE_MARGIN_SECONDS`]); as a backstop, a
/// handler still running at the deadline less half the margin is stopped with a retryable error.
async fn serve_json<F, Fut, E>(handler: F) -> Result<(), Error>
where
    F: Fn(Value, Option<Instant>) -> Fut,
    Fut: Future<Output = Result<Value, E>>,
    E: tributary::error::Classify + std::fmt::Display,
{
    let margin = tributary::config::deadline_margin(|n| std::env::var(n).ok())?;
    // Boxed: the runtime's future is deeply nested, and each binary's `main` holds it.
    Box::pin(lambda_runtime::run(service_fn(
        |event: LambdaEvent<Value>| {
            let stop_by = deadline(&event.context, margin);
            let backstop = deadline(&event.context, margin / 2);
            let answer = handler(event.payload, stop_by);
            async move {
                let Some(at) = backstop else {
                    return answer.await.map_err(|e| diagnostic(&e));
                };
                match tokio::time::timeout_at(at.into(), answer).await {
                    Ok(done) => done.map_err(|e| diagnostic(&e)),
                    Err(_) => Err(diagnostic(&DeadlineReached)),
                }
            }
        },
    )))
    .await
}

/// Logging and metrics (EMF lines named after `function`, unless switched off), then the
/// configuration (read once, failing with the variable's name) and the clients: what every
/// function does first.
async fn start(function: &str) -> Result<(Arc<Config>, Clients), Error> {
    telemetry::init();
    telemetry::init_metrics(function);
    let config = Arc::new(Config::from_env()?);
    Ok((config, Clients::from_env().await?))
}

/// The fault switch ([`tributary::config::KILL_POINT`]), read once; unset in deployments.
fn kill_point() -> Result<Option<tributary::faults::KillPoint>, Error> {
    Ok(tributary::config::kill_point(|n| std::env::var(n).ok())?)
}

/// s3-landing: objects landing in the landing bucket → typed Parquet in the clean zone (and DMS
/// files sequenced into the raw zone, as cdc-sequencer does).
pub async fn run_s3_landing() -> Result<(), Error> {
    let (config, clients) = start("s3-landing").await?;
    let landing = Arc::new(landing_handler(&clients, config).with_kill_point(kill_point()?));
    serve_json(|event, stop_by| {
        let landing = landing.clone();
        async move { landing.handle_until(event, stop_by).await }
    })
    .await
}

/// cdc-sequencer: AWS DMS files only, sequenced into the raw zone.
pub async fn run_cdc_sequencer() -> Result<(), Error> {
    let (config, clients) = start("cdc-sequencer").await?;
    let sequencer = Arc::new(
        landing_handler(&clients, config)
            .dms_only()
            .with_kill_point(kill_point()?),
    );
    serve_json(|event, stop_by| {
        let sequencer = sequencer.clone();
        async move { sequencer.handle_until(event, stop_by).await }
    })
    .await
}

/// partition-register: Glue partitions for objects written to a zone bucket.
pub async fn run_partition_register() -> Result<(), Error> {
    let (config, clients) = start("partition-register").await?;
    let handler = Arc::new(register_handler(&clients, config));
    serve_json(|event, _stop_by| {
        let handler = handler.clone();
        async move { handler.handle(event).await }
    })
    .await
}

/// compactor: compaction and retirement of one table per invocation.
pub async fn run_compactor() -> Result<(), Error> {
    let (config, clients) = start("compactor").await?;
    let tuning = CompactionTuning::from_env()?;
    let handler =
        Arc::new(compactor_handler(&clients, config, tuning).with_kill_point(kill_point()?));
    serve_json(|event, _stop_by| {
        let handler = handler.clone();
        async move { handler.handle(event).await }
    })
    .await
}

/// stream-ingest: the Kinesis Data Streams consumer (partial batch responses).
pub async fn run_stream_ingest() -> Result<(), Error> {
    let (config, clients) = start("stream-ingest").await?;
    let stream = StreamConfig::from_env()?;
    let ingest =
        Arc::new(stream_ingest_handler(&clients, config, stream).with_kill_point(kill_point()?));
    Box::pin(lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisBatch>| {
            let ingest = ingest.clone();
            async move {
                ingest
                    .handle(event.payload)
                    .await
                    .map_err(|e| diagnostic(&e))
            }
        },
    )))
    .await
}

/// firehose-transform: the Firehose data-transformation contract. The batch (up to 6 MB) is taken
/// as raw JSON: the domain reads it without copying the records.
pub async fn run_firehose_transform() -> Result<(), Error> {
    let (config, clients) = start("firehose-transform").await?;
    let stream = StreamConfig::from_env()?;
    let transform = Arc::new(firehose_handler(&clients, &config, stream));
    Box::pin(lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| {
            let transform = transform.clone();
            async move {
                transform
                    .handle(&event.payload)
                    .await
                    .map_err(|e| diagnostic(&e))
            }
        },
    )))
    .await
}

/// search-api: dataset search, detail, schema, partitions, business metadata and manifests behind
/// API Gateway.
pub async fn run_search_api() -> Result<(), Error> {
    let (config, clients) = start("search-api").await?;
    let api_config = Arc::new(ApiConfig::from_env()?);
    let api = Arc::new(search_api_handler(&clients, config, api_config));
    Box::pin(lambda_http::run(lambda_http::service_fn(
        move |req: lambda_http::Request| {
            let api = api.clone();
            async move {
                let started = Instant::now();
                let response = api.handle(api_request(req)).await;
                let status = response.status().as_u16();
                tributary::metrics::emit(None, |e| {
                    use tributary::metrics as m;
                    e.count(m::REQUESTS, 1)
                        .count(m::SERVER_ERRORS, u64::from(status >= 500))
                        .millis("Request", started.elapsed().as_millis());
                });
                Ok::<_, std::convert::Infallible>(lambda_response(response))
            }
        },
    )))
    .await
}
