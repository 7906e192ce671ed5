//! End to end: the real `s3-landing`, `cdc-sequencer`, `partition-register`, `firehose-transform`,
//! `stream-ingest` and `compactor` binaries served by `cargo lambda watch` (from the project's
//! venv), invoked over the Lambda invoke API with the `events/` fixtures, against this binary's
//! own moto server. Runs alone in its test binary, so its keys never collide with other tests.

use tributary_integration::env;
use tributary_integration::flows::{STREAM_SETTINGS, pipeline, prepare};
use tributary_integration::watch::Watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_landing_binary_under_cargo_lambda_watch() {
    let env = env();
    prepare(env).await;
    let watch = Watch::start(env, "watch", &STREAM_SETTINGS);
    pipeline(env, &watch).await;
    drop(watch);
}
