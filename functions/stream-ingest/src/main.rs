//! stream-ingest: consumes a Kinesis data stream into Parquet micro-batches in the raw zone,
//! registers their hour partitions in Glue and reports `batchItemFailures`. The logic lives in
//! `tributary::stream::kinesis`; the wiring is `tributary_aws::handlers::run_stream_ingest`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_aws::handlers::run_stream_ingest().await
}
