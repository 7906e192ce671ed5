//! The state machines of statemachines/ executed locally with the real handlers: the local ASL
//! interpreter (scripts/sfn/run.mjs) runs each definition and sends its Lambda Tasks to the
//! function binaries served by `cargo lambda watch`, its SQS and S3 steps to this binary's moto
//! server. Cases: DMS files carried to a published snapshot (and the scheduled machine finding
//! nothing more to do); a retryable failure, injected through the `TRIBUTARY_FAULTS` switch,
//! that succeeds on retry; a bad file caught per item while its siblings complete; a fatal error
//! (the `TRIBUTARY_KILL_POINT` switch) ending in a failure record that scripts/redrive.py
//! redrives; a 5,000-key backfill (Distributed Map, emulated by the runner) whose execution output
//! stays small.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tributary_integration::sfn::{Execution, redrive, run_machine};
use tributary_integration::snapshots::{oracle, published};
use tributary_integration::watch::Watch;
use tributary_integration::{TestEnv, env};

use tributary_integration::DMS_SAMPLE_FILES as FILES;

/// Step Functions' limit on an execution's output.
const OUTPUT_LIMIT: u64 = 256 * 1024;

/// The compactor's own grace period is 0 here, so the pipeline's Retire step really deletes.
const WATCH_ENV: [&str; 1] = ["TRIBUTARY_COMPACT_GRACE_SECONDS=0"];

/// The DefinitionSubstitutions scripts/local_aws.py resolved from template.yaml.
fn substitutions(env: &TestEnv) -> HashMap<String, String> {
    let path = &env.vars["TRIBUTARY_SFN_SUBSTITUTIONS"];
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Declares a copy of the DMS employees sample as `id` landing under `prefix`, lands the five
/// files there (not sequenced) and returns their keys.
async fn land_dms(id: &str, prefix: &str) -> Vec<String> {
    let env = env();
    env.declare_variant("hr.employees_cdc", id, prefix).await;
    let mut keys = Vec::new();
    for f in FILES {
        let key = format!("{prefix}{f}");
        env.land_sample_as(&format!("dms/HR/EMPLOYEES/{f}"), &key)
            .await;
        keys.push(key);
    }
    keys
}

async fn run(port: u16, machine: &str, input: Value, subs: &[&str]) -> Execution {
    let machine = machine.to_string();
    let subs: Vec<String> = subs.iter().map(|s| s.to_string()).collect();
    let run = tokio::task::spawn_blocking(move || {
        let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
        run_machine(env(), port, &machine, &input, &subs)
    })
    .await
    .unwrap();
    eprintln!("{}", run.log);
    run
}

fn start_watch(name: &str, extra: &[&str]) -> Watch {
    let mut lines: Vec<&str> = WATCH_ENV.to_vec();
    lines.extend_from_slice(extra);
    Watch::start(env(), name, &lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_pipeline_carries_dms_files_to_a_published_snapshot() {
    let env = env();
    let (id, prefix) = ("sfn.happy", "sfn-happy/HR/EMPLOYEES/");
    let keys = land_dms(id, prefix).await;
    let watch = start_watch("happy", &[]);
    let input = json!({ "table": id, "bucket": env.config.landing_bucket, "keys": keys, "grace_seconds": 0 });

    // Thresholds not reached: every file is sequenced, nothing is compacted yet.
    let not_due = [
        "CompactionMinDeltas=1000",
        "CompactionMinBytes=0",
        "CompactionMaxDeltaAgeSeconds=0",
    ];
    let first = run(watch.port, "cdc-pipeline", input.clone(), &not_due).await;
    assert_eq!(
        first.status(),
        "SUCCEEDED",
        "{:#}\n{}",
        first.result,
        watch.log_tail()
    );
    let out = first.output();
    let sequenced = out["sequenced"].as_array().unwrap();
    assert_eq!(sequenced.len(), 5, "{out:#}");
    for s in sequenced {
        assert_eq!(s["status"], "done", "{out:#}");
        assert_eq!(s["totals"]["sequenced"], 1, "{out:#}");
    }
    assert_eq!(out["pending"]["due"], false, "{out:#}");
    assert!(out["pending"]["deltas"].as_u64().unwrap() >= 5, "{out:#}");
    assert!(out["compaction"].is_null(), "{out:#}");
    assert!(!first.states().contains(&"Compact".to_string()));
    let want = oracle(id, "sfn-happy-oracle").await;
    assert!(!want.is_empty());

    // Due (one delta is enough): compact, wait the grace period, retire. The same files again
    // are recorded duplicates.
    let due = ["CompactionMinDeltas=1"];
    let second = run(watch.port, "cdc-pipeline", input, &due).await;
    assert_eq!(
        second.status(),
        "SUCCEEDED",
        "{:#}\n{}",
        second.result,
        watch.log_tail()
    );
    let out = second.output();
    for s in out["sequenced"].as_array().unwrap() {
        assert_eq!(s["totals"]["duplicates"], 1, "{out:#}");
    }
    assert_eq!(out["pending"]["due"], true, "{out:#}");
    let c = &out["compaction"];
    assert_eq!(c["status"], "published", "{out:#}");
    assert_eq!(c["generation"], 1, "{out:#}");
    assert_eq!(
        c["rows_out"].as_u64().unwrap(),
        want.len() as u64,
        "{out:#}"
    );
    let n = |k: &str| c[k].as_u64().unwrap();
    assert_eq!(n("rows_in"), n("rows_out") + n("superseded") + n("deleted"));
    let states = second.states();
    for s in [
        "Sequence", "Pending", "Compact", "Grace", "Retire", "Summary",
    ] {
        assert!(
            states
                .iter()
                .any(|x| x == s || (s == "Sequence" && x == "Process")),
            "{s} missing from {states:?}"
        );
    }
    // Grace 0 for the compactor too: the consumed deltas are retired.
    assert_eq!(
        out["retirement"]["retired_deltas"].as_u64(),
        Some(n("deltas_consumed")),
        "{out:#}"
    );
    // What a reader planning through Glue sees is DuckDB's latest version per key.
    assert_eq!(published(id, "sfn-happy-published").await, want);
    assert!(second.result["output_bytes"].as_u64().unwrap() < 16 * 1024);

    // The scheduled machine runs the pipeline per table as a child execution: nothing new.
    let scheduled = run(watch.port, "compaction", json!({ "tables": [id] }), &due).await;
    assert_eq!(scheduled.status(), "SUCCEEDED", "{:#}", scheduled.result);
    let r = &scheduled.output()["results"][0];
    assert_eq!(r["status"], "done", "{:#}", scheduled.result);
    assert!(r["compaction"].is_null(), "{:#}", scheduled.result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failure_succeeds_on_retry() {
    let env = env();
    let (id, prefix) = ("sfn.retry", "sfn-retry/HR/EMPLOYEES/");
    let keys = land_dms(id, prefix).await;
    // The SDK's own three attempts of the first GetObject are all throttled: the function
    // answers Tributary.Retryable, and the state machine's Retry runs it again.
    let watch = start_watch("retry", &["TRIBUTARY_FAULTS=\"s3:GetObject=throttle*3\""]);
    let input = json!({ "bucket": env.config.landing_bucket, "keys": [keys[0]] });
    let run = run(watch.port, "cdc", input, &[]).await;
    assert_eq!(
        run.status(),
        "SUCCEEDED",
        "{:#}\n{}",
        run.result,
        watch.log_tail()
    );
    assert!(
        run.retries()
            .iter()
            .any(|(s, e)| s == "Process" && e == "Tributary.Retryable"),
        "{:#}",
        run.result
    );
    let r = &run.output()["results"][0];
    assert_eq!(r["status"], "done", "{:#}", run.result);
    assert_eq!(r["totals"]["sequenced"], 1, "{:#}", run.result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_file_is_caught_per_item_while_the_others_complete() {
    let env = env();
    let (id, prefix) = ("sfn.bad", "sfn-bad/HR/EMPLOYEES/");
    let mut keys = land_dms(id, prefix).await;
    // A file that cannot be sequenced (not a DMS file name): quarantined with its reason.
    let misnamed = format!("{prefix}employees.csv");
    env.land_sample_as("dms/HR/EMPLOYEES/LOAD00000001.csv", &misnamed)
        .await;
    keys.insert(2, misnamed.clone());
    // A task the function refuses outright (Tributary.BadInput): caught as `rejected`.
    keys.insert(4, String::new());
    let watch = start_watch("bad", &[]);
    let input = json!({ "bucket": env.config.landing_bucket, "keys": keys });
    let run = run(watch.port, "cdc", input, &[]).await;
    assert_eq!(
        run.status(),
        "SUCCEEDED",
        "{:#}\n{}",
        run.result,
        watch.log_tail()
    );
    let results = run.output()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 7);
    let by_key = |k: &str| results.iter().find(|r| r["key"] == k).unwrap().clone();
    assert_eq!(by_key("")["status"], "rejected", "{results:#?}");
    assert_eq!(by_key("")["error"], "Tributary.BadInput", "{results:#?}");
    let m = by_key(&misnamed);
    assert_eq!(m["status"], "done", "{m:#}");
    assert_eq!(m["totals"]["quarantined"], 1, "{m:#}");
    for k in &keys[..2] {
        assert_eq!(by_key(k)["totals"]["sequenced"], 1, "{results:#?}");
    }
    let sequenced: u64 = results
        .iter()
        .filter_map(|r| r["totals"]["sequenced"].as_u64())
        .sum();
    assert_eq!(sequenced, 5, "{results:#?}");
    assert!(
        run.result["caught"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["error"] == "Tributary.BadInput")
    );
}

/// The failure queue's records, left on the queue (visibility timeout 0).
async fn failure_records(env: &TestEnv, queue: &str) -> Vec<Value> {
    let got = env
        .sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    got.messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_error_is_recorded_and_redriven() {
    let env = env();
    let (id, prefix) = ("sfn.fatal", "sfn-fatal/HR/EMPLOYEES/");
    let keys = land_dms(id, prefix).await;
    let queue = substitutions(env)["FailureQueueUrl"].clone();
    let input = json!({ "table": id, "bucket": env.config.landing_bucket, "keys": keys, "grace_seconds": 0 });
    let due = ["CompactionMinDeltas=1"];
    {
        // The compactor stops after writing its files, as if it crashed: Tributary.Fatal, not
        // retried; the lease it holds expires after 3 s.
        let watch = start_watch(
            "fatal",
            &[
                "TRIBUTARY_KILL_POINT=after_files",
                "TRIBUTARY_COMPACT_LEASE_SECONDS=3",
            ],
        );
        let run = run(watch.port, "cdc-pipeline", input.clone(), &due).await;
        assert_eq!(run.status(), "FAILED", "{:#}", run.result);
        assert_eq!(run.result["error"], "Tributary.Fatal", "{:#}", run.result);
        assert!(
            run.retries().is_empty(),
            "fatal errors are not retried: {:#}",
            run.result
        );
        assert!(run.states().contains(&"RecordFailure".to_string()));
    }
    let records = failure_records(env, &queue).await;
    let rec = records
        .iter()
        .find(|r| r["redrive"]["input"]["table"] == id)
        .unwrap_or_else(|| panic!("no failure record for {id}: {records:#?}"));
    assert_eq!(rec["machine"], "cdc-pipeline");
    assert_eq!(rec["error"], "Tributary.Fatal");
    assert_eq!(rec["redrive"]["input"], input);
    assert!(
        rec["redrive"]["state_machine"]
            .as_str()
            .unwrap()
            .ends_with(":stateMachine:tributary-cdc-pipeline")
    );

    // Healed (no kill point), once the crashed run's lease has expired: redriven from the record.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let watch = start_watch("fatal-healed", &[]);
    let (code, text) = tokio::task::spawn_blocking(move || {
        redrive(env, watch.port, &queue, &["CompactionMinDeltas=1"])
    })
    .await
    .unwrap();
    eprintln!("{text}");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("redrive: SUCCEEDED"), "{text}");
    assert!(text.contains("1 record(s) redriven, 0 not"), "{text}");
    let queue = substitutions(env)["FailureQueueUrl"].clone();
    assert!(
        !failure_records(env, &queue)
            .await
            .iter()
            .any(|r| r["redrive"]["input"]["table"] == id),
        "the record is deleted once redriven"
    );
    let rec = tributary_aws::dynamo::snapshots(env.dynamodb.clone(), &env.config.catalog_table);
    let current = tributary::compaction::SnapshotLedger::current(&rec, id)
        .await
        .unwrap()
        .expect("published by the redrive");
    assert_eq!(current.generation, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_of_5000_keys_keeps_its_output_small() {
    let env = env();
    let bucket = substitutions(env)["OrchestrationBucket"].clone();
    let (id, prefix) = ("sfn.backfill", "sfn-backfill/");
    env.declare_variant("hr.employees", id, prefix).await;
    // 5,000 keys: one real file and 4,999 listed but since deleted (answered `missing`).
    let mut keys: Vec<String> = (0..5000)
        .map(|i| format!("{prefix}gone/{i:05}.csv"))
        .collect();
    keys[0] = format!("{prefix}employees.csv");
    env.land_sample_as("hr/employees/employees.csv", &keys[0])
        .await;
    env.put(
        &bucket,
        "backfills/test-5000.json",
        serde_json::to_vec(&keys).unwrap(),
    )
    .await;
    let watch = start_watch("backfill", &[]);
    let input = json!({
        "bucket": env.config.landing_bucket,
        "items": { "Bucket": bucket, "Key": "backfills/test-5000.json" }
    });
    let started = std::time::Instant::now();
    let run = run(watch.port, "backfill", input, &[]).await;
    eprintln!(
        "backfill of 5,000 keys: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        run.status(),
        "SUCCEEDED",
        "{:#}\n{}",
        run.result,
        watch.log_tail()
    );
    let bytes = run.result["output_bytes"].as_u64().unwrap();
    eprintln!("backfill output: {bytes} bytes: {}", run.output());
    // Far under Step Functions' limit, and independent of the number of keys.
    assert!(bytes < OUTPUT_LIMIT / 256, "output of {bytes} bytes");
    let out = run.output();
    assert!(
        out["map_run"].as_str().unwrap().contains(":mapRun:"),
        "{out:#}"
    );
    let manifest: Value = serde_json::from_slice(
        &env.get(
            out["results"]["Bucket"].as_str().unwrap(),
            out["results"]["Key"].as_str().unwrap(),
        )
        .await,
    )
    .unwrap();
    let files = &manifest["ResultFiles"];
    assert!(
        files["FAILED"].as_array().unwrap().is_empty(),
        "{manifest:#}"
    );
    let mut statuses: HashMap<String, u64> = HashMap::new();
    for f in files["SUCCEEDED"].as_array().unwrap() {
        let body = env
            .get(
                out["results"]["Bucket"].as_str().unwrap(),
                f["Key"].as_str().unwrap(),
            )
            .await;
        let runs: Vec<Value> = serde_json::from_slice(&body).unwrap();
        for r in runs {
            let o: Value = serde_json::from_str(r["Output"].as_str().unwrap()).unwrap();
            let t = &o["totals"];
            let kind = if t["converted"] == 1 {
                "converted"
            } else if t["missing"] == 1 {
                "missing"
            } else {
                "other"
            };
            *statuses.entry(kind.to_string()).or_default() += 1;
        }
    }
    assert_eq!(statuses.get("converted"), Some(&1), "{statuses:?}");
    assert_eq!(statuses.get("missing"), Some(&4999), "{statuses:?}");
}
