//! Least privilege, proven: every function binary runs under `cargo lambda watch` with the call
//! recorder on (`TRIBUTARY_CALL_LOG`, shared/aws/src/calls.rs), through the end-to-end flows and
//! the paths that need more permissions (the search API's reads, writes and manifests; a schema
//! conflict that makes a function withdraw what it wrote). Each function's role policies are then
//! expanded from template.yaml by the SAM translator (tests/iam/expand_policies.py) and every
//! recorded call is evaluated against them with a real IAM policy evaluator
//! (tests/iam/evaluate.mjs). A denied call fails the test, naming function, action and resource;
//! the granted (action, resource) pairs no call used are printed. It also checks that every
//! function wrote EMF metric lines.

use std::process::Command;
use std::time::Duration;

use aws_sdk_glue::types::{Column, StorageDescriptor, TableInput};
use serde_json::Value;
use tributary_integration::flows::{STREAM_SETTINGS, pipeline, prepare};
use tributary_integration::watch::{Watch, post};
use tributary_integration::{env, fixture, repo_root, s3_event};

/// Every function of template.yaml, by binary name.
const FUNCTIONS: [&str; 7] = [
    "s3-landing",
    "cdc-sequencer",
    "partition-register",
    "compactor",
    "firehose-transform",
    "stream-ingest",
    "search-api",
];

fn invoke(port: u16, function: &str, event: &Value) -> (u16, Value) {
    post(
        port,
        &format!("/2015-03-31/functions/{function}/invocations"),
        event,
        Duration::from_secs(900),
    )
    .unwrap_or_else(|e| panic!("invoke {function}: {e}"))
}

/// The search API's routes, with the fixtures' gateway events (payload 2.0 and REST 1.0).
fn exercise_search_api(port: u16, watch: &Watch) {
    for event in [
        "api-search.json",
        "api-get-dataset-rest.json",
        "api-put-metadata.json",
        "api-manifest.json",
    ] {
        let (status, out) = invoke(port, "search-api", &fixture(event));
        assert_eq!(status, 200, "{event}: {out}\n{}", watch.log_tail());
        let code = out["statusCode"].as_u64().unwrap_or(0);
        assert!((200..500).contains(&code), "{event}: {out}");
    }
}

/// Rewrites the columns of Glue table `table` with `change` (the test's own client, unrecorded).
async fn alter_glue_table(table: &str, change: impl FnOnce(&mut Vec<Column>)) {
    let env = env();
    let glue = env.glue();
    let db = &env.config.glue_database;
    let t = glue
        .get_table()
        .database_name(db)
        .name(table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {table}: {e:?}"))
        .table
        .expect("a table");
    let sd = t.storage_descriptor.clone().expect("a storage descriptor");
    let mut columns = sd.columns.clone().unwrap_or_default();
    change(&mut columns);
    let sd = StorageDescriptor::builder()
        .set_columns(Some(columns))
        .set_location(sd.location)
        .set_input_format(sd.input_format)
        .set_output_format(sd.output_format)
        .set_serde_info(sd.serde_info)
        .set_parameters(sd.parameters)
        .build();
    let input = TableInput::builder()
        .name(table)
        .set_table_type(t.table_type)
        .set_parameters(t.parameters)
        .set_partition_keys(t.partition_keys)
        .storage_descriptor(sd)
        .build()
        .unwrap();
    glue.update_table()
        .database_name(db)
        .table_input(input)
        .send()
        .await
        .unwrap_or_else(|e| panic!("update {table}: {e:?}"));
}

/// Makes `column` of Glue table `table` an `int`, a type no file of the sample datasets fits.
async fn retype_to_int(table: &str, column: &str) {
    alter_glue_table(table, |cols| {
        for c in cols.iter_mut() {
            if c.name().eq_ignore_ascii_case(column) {
                *c = Column::builder()
                    .name(c.name())
                    .r#type("int")
                    .build()
                    .unwrap();
            }
        }
    })
    .await;
}

/// The paths that need more than the pipeline: in fresh containers (a second watch, so nothing
/// is cached), stream-ingest evolves a table that lost a column (GetPartitions,
/// BatchUpdatePartition, UpdateTable) and cdc-sequencer withdraws outputs a schema conflict keeps
/// out of the table (DeleteObject in raw), and s3-landing does the same in clean.
async fn exercise_schema_changes(env: &tributary_integration::TestEnv, extra: &[&str]) {
    alter_glue_table("web_events", |cols| {
        cols.retain(|c| !c.name().eq_ignore_ascii_case("ctx"))
    })
    .await;
    retype_to_int("hr_employees_cdc", "first_name").await;
    retype_to_int("sales_orders", "customer").await;
    let orders = "sales/orders/2024/orders-iam.csv";
    env.land_sample_as("sales/orders/2024/orders 2024-01-15.csv", orders)
        .await;
    let key = "dms/HR/EMPLOYEES/2024/11/05/20241105-134502000.csv";
    env.land_sample_as("dms/HR/EMPLOYEES/2024/11/05/20241105-134501123.csv", key)
        .await;
    let watch = Watch::start(env, "iam-watch-2", extra);
    let port = watch.port;
    let landing = env.config.landing_bucket.clone();
    tokio::task::spawn_blocking(move || {
        let (status, out) = invoke(port, "stream-ingest", &fixture("kinesis-stream.json"));
        assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
        let (status, out) = invoke(port, "s3-landing", &s3_event(&landing, orders));
        assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
        assert_eq!(out["objects"][0]["status"], "quarantined", "{out:#}");
        let (status, out) = invoke(
            port,
            "cdc-sequencer",
            &serde_json::json!({ "bucket": landing, "key": key }),
        );
        assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
        assert_eq!(out["objects"][0]["status"], "quarantined", "{out:#}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_call_is_allowed_by_the_template() {
    let env = env();
    let root = repo_root();
    let calls = env.state_dir.join("calls.jsonl");
    let _ = std::fs::remove_file(&calls);

    prepare(env).await;
    let record = format!("TRIBUTARY_CALL_LOG={}", calls.display());
    let mut extra: Vec<&str> = STREAM_SETTINGS.to_vec();
    extra.push(&record);
    let watch = Watch::start(env, "iam-watch", &extra);
    pipeline(env, &watch).await;
    let port = watch.port;
    let watch_log = watch.log.clone();
    tokio::task::spawn_blocking(move || {
        let watch = watch;
        exercise_search_api(port, &watch);
    })
    .await
    .unwrap();
    // Every function wrote EMF metric lines (namespace Tributary) to stdout.
    let log = std::fs::read_to_string(&watch_log).unwrap_or_default();
    for f in FUNCTIONS {
        let name = format!("\"Function\":\"{f}\"");
        assert!(
            log.lines()
                .any(|l| l.contains("\"Namespace\":\"Tributary\"") && l.contains(&name)),
            "no EMF metrics line from {f} in {}",
            watch_log.display()
        );
    }
    exercise_schema_changes(env, &extra).await;

    let text = std::fs::read_to_string(&calls).expect("calls recorded");
    let recorded: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    for f in FUNCTIONS {
        assert!(
            recorded.iter().any(|c| c["function"] == f),
            "no call recorded for {f}"
        );
    }

    // The role policies, from the template (the SAM translator is in SAM CLI's venv).
    let region = env.vars.get("AWS_REGION").cloned().unwrap_or_default();
    let out = Command::new(root.join(".venv-sam/bin/python"))
        .arg(root.join("tests/iam/expand_policies.py"))
        .args(["--region", &region])
        .output()
        .expect("run expand_policies.py");
    assert!(
        out.status.success(),
        "expand_policies.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policies = env.state_dir.join("policies.json");
    std::fs::write(&policies, &out.stdout).unwrap();

    let out = Command::new("node")
        .arg(root.join("tests/iam/evaluate.mjs"))
        .arg(&policies)
        .arg(&calls)
        .current_dir(root.join("tests/iam"))
        .output()
        .expect("run node tests/iam/evaluate.mjs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "evaluate.mjs gave no report:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    println!(
        "IAM: {} distinct (function, action, resource) calls evaluated",
        report["checked"]
    );
    println!("granted but not exercised by any test (remove, or explain in template.yaml):");
    for u in report["unexercised"].as_array().into_iter().flatten() {
        println!(
            "  {:<20} {:<28} {:<32} {}",
            u["function"].as_str().unwrap_or(""),
            u["sid"].as_str().unwrap_or(""),
            u["action"].as_str().unwrap_or(""),
            u["resource"].as_str().unwrap_or("")
        );
    }
    let denied: Vec<String> = report["denied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{} may not {} on {} ({})",
                d["function"].as_str().unwrap_or(""),
                d["action"].as_str().unwrap_or(""),
                d["resource"].as_str().unwrap_or(""),
                d["result"]
            )
        })
        .collect();
    assert!(
        denied.is_empty() && report["unknown_functions"] == serde_json::json!([]),
        "calls the template's policies would deny:\n  {}\nfunctions not in the template: {}",
        denied.join("\n  "),
        report["unknown_functions"]
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
