//! cdc-sequencer: sequences AWS DMS full-load and CDC files into the raw zone (`_op`, `_seq`,
//! `_source_file`, `_commit_ts` + the table's columns). The logic lives in `tributary::ingest::cdc` and
//! `tributary::ingest::landing`; the wiring is `tributary_aws::handlers::run_cdc_sequencer`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_aws::handlers::run_cdc_sequencer().await
}
