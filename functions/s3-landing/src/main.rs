//! s3-landing: converts objects landing in the landing bucket into typed Parquet in the clean zone
//! (and sequences AWS DMS files into the raw zone, as cdc-sequencer does).
//! The logic lives in `tributary::ingest::landing`; the wiring is `tributary_aws::handlers::run_s3_landing`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_aws::handlers::run_s3_landing().await
}
