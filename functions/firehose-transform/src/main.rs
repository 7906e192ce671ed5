//! firehose-transform: the Kinesis Data Firehose data-transformation Lambda. Validates each record
//! against the stream dataset's schema, normalises it and returns it with dynamic-partitioning
//! keys (or `Dropped` / `ProcessingFailed`). The logic lives in `tributary::stream::firehose`; the wiring is
//! `tributary_aws::handlers::run_firehose_transform`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_aws::handlers::run_firehose_transform().await
}
