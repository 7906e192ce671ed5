//! Flows shared by the end-to-end and IAM tests: every function binary, served by one
//! `cargo lambda watch`, invoked over the Lambda invoke API with the `events/` fixtures.

use std::time::Duration;

use serde_json::{Value, json};

use crate::watch::{Watch, post};
use crate::{TestEnv, fixture};

/// A function's first invocation: it compiles the binary if needed, so a cold build is allowed for.
pub async fn first_invoke(port: u16, path: &'static str, event: &'static str) -> (u16, Value) {
    tokio::task::spawn_blocking(move || post(port, path, &fixture(event), Duration::from_secs(900)))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("invoke failed: {e}"))
}

/// The datasets and landed objects [`pipeline`] expects.
pub async fn prepare(env: &TestEnv) {
    env.declare_sample("sales.orders").await;
    env.declare_sample("hr.employees").await;
    env.land_sample("sales/orders/2024/orders 2024-01-15.csv")
        .await;
    env.land_sample("hr/employees/employees.csv").await;
}

/// The stream functions' settings (read by firehose-transform and stream-ingest only; quoted:
/// the values hold `=`): the `extra` lines of [`Watch::start`] for [`pipeline`].
pub const STREAM_SETTINGS: [&str; 4] = [
    "TRIBUTARY_MAX_REJECT_RATIO=0.5",
    "TRIBUTARY_STREAM_DATASET=web.events",
    "TRIBUTARY_STREAM_RENAMES=\"userId=user_id\"",
    "TRIBUTARY_STREAM_DROP_IF=\"event_type=heartbeat\"",
];

/// s3-landing, cdc-sequencer, partition-register, compactor, firehose-transform and
/// stream-ingest, each with its fixture events, checking each answer.
pub async fn pipeline(env: &TestEnv, watch: &Watch) {
    let port = watch.port;
    let invoke = "/2015-03-31/functions/s3-landing/invocations";
    let (status, out) = first_invoke(port, invoke, "s3-put.json").await;
    assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
    let o = &out["objects"][0];
    assert_eq!(o["status"], "converted", "{out:#}");
    assert_eq!(
        (
            o["rows_read"].as_u64(),
            o["rows_written"].as_u64(),
            o["rows_rejected"].as_u64()
        ),
        (Some(30), Some(30), Some(0))
    );
    for output in o["outputs"].as_array().unwrap() {
        assert!(
            env.exists(&env.config.clean_bucket, output["key"].as_str().unwrap())
                .await
        );
    }

    // SQS fixture through the binary: no failures; the same delivery again is a duplicate.
    let (status, out) = post(
        port,
        invoke,
        &fixture("sqs-s3-put.json"),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(
        (status, &out),
        (200, &json!({ "batchItemFailures": [] })),
        "{}",
        watch.log_tail()
    );
    let (status, out) = post(
        port,
        invoke,
        &fixture("s3-put.json"),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(out["objects"][0]["status"], "duplicate", "{out:#}");

    // A malformed event is a typed error Step Functions can Catch.
    let (status, out) = post(
        port,
        invoke,
        &json!({"not": "an event"}),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(status, 500, "{out}");
    assert_eq!(out["errorType"], "Tributary.BadInput", "{out}");

    // The cdc-sequencer binary, served by the same watch, with the DMS CDC fixture event.
    env.declare_sample("hr.employees_cdc").await;
    env.land_sample("dms/HR/EMPLOYEES/2024/11/05/20241105-134501123.csv")
        .await;
    let cdc = "/2015-03-31/functions/cdc-sequencer/invocations";
    let (status, out) = first_invoke(port, cdc, "dms-cdc-put.json").await;
    assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
    let o = &out["objects"][0];
    assert_eq!(o["status"], "sequenced", "{out:#}");
    assert_eq!(
        o["rows_by_op"],
        json!({ "D": 1, "I": 1, "U": 3 }),
        "{out:#}"
    );
    assert_eq!(o["seq_first"].as_str().map(str::len), Some(72));
    for output in o["outputs"].as_array().unwrap() {
        assert!(
            env.exists(&env.config.raw_bucket, output["key"].as_str().unwrap())
                .await
        );
    }
    // Both functions share the ledger: an object s3-landing processed is a no-op here.
    let (status, out) = post(port, cdc, &fixture("s3-put.json"), Duration::from_secs(60)).unwrap();
    assert_eq!(status, 200);
    assert_eq!(out["objects"][0]["status"], "duplicate", "{out:#}");

    // partition-register, with the EventBridge event of one of the sequencer's outputs (the
    // fixture names it) and a task input listing partitions: the sequencer registered them
    // already, so both find them present; nothing is created twice.
    let fx = fixture("zone-object-created.json");
    let key = fx["detail"]["object"]["key"].as_str().unwrap();
    assert!(env.exists(&env.config.raw_bucket, key).await, "{key}");
    let reg = "/2015-03-31/functions/partition-register/invocations";
    let (status, out) = first_invoke(port, reg, "zone-object-created.json").await;
    assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
    let o = &out["objects"][0];
    assert_eq!(
        (&o["status"], &o["table"], &o["partition"]),
        (
            &json!("registered"),
            &json!("hr_employees_cdc"),
            &json!([["DEPARTMENT_ID", "60"]])
        ),
        "{out:#}"
    );
    assert_eq!(out["totals"]["partitions_present"], 1, "{out:#}");
    assert_eq!(out["totals"]["partitions_created"], 0, "{out:#}");
    let (status, out) = post(
        port,
        reg,
        &fixture("register-partitions.json"),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (
            out["totals"]["registered"].as_u64(),
            out["totals"]["partitions_present"].as_u64(),
            out["totals"]["partitions_failed"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "{out:#}"
    );

    // compactor over the sequenced CDC file: a snapshot published, then a no-op; a bad input
    // is a typed error Step Functions can Catch.
    let compactor = "/2015-03-31/functions/compactor/invocations";
    let (status, out) = first_invoke(port, compactor, "compact-table.json").await;
    assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
    assert_eq!(
        (&out["status"], &out["generation"], &out["table"]),
        (
            &json!("published"),
            &json!(1),
            &json!("hr_employees_cdc_curated")
        ),
        "{out:#}"
    );
    assert_eq!(out["rows_in"], 5, "{out:#}");
    let (status, again) = post(
        port,
        compactor,
        &fixture("compact-table.json"),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "unchanged", "{again:#}");
    let (status, bad) = post(
        port,
        compactor,
        &json!({ "table": "no.such.dataset" }),
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(status, 500, "{bad}");
    assert_eq!(bad["errorType"], "Tributary.BadInput", "{bad}");

    // firehose-transform with the Direct PUT fixture: every record back once, in order.
    env.declare_sample("web.events").await;
    let firehose = "/2015-03-31/functions/firehose-transform/invocations";
    let (status, out) = first_invoke(port, firehose, "firehose-direct-put.json").await;
    assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
    let sent = fixture("firehose-direct-put.json");
    let ids = |v: &Value, field: &str| -> Vec<Value> {
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[field].clone())
            .collect()
    };
    assert_eq!(ids(&out, "recordId"), ids(&sent, "recordId"));
    assert_eq!(
        ids(&out, "result"),
        [
            "Ok",
            "Ok",
            "Ok",
            "Dropped",
            "ProcessingFailed",
            "ProcessingFailed",
            "ProcessingFailed",
            "ProcessingFailed",
            "Ok"
        ]
        .map(Value::from)
    );
    assert_eq!(
        out["records"][8]["metadata"]["partitionKeys"],
        json!({ "dataset": "web.events", "year": "2024", "month": "01", "day": "15", "hour": "11" })
    );

    // stream-ingest with the Kinesis fixture: nothing to retry; Parquet in the raw zone.
    let kinesis = "/2015-03-31/functions/stream-ingest/invocations";
    let (status, out) = first_invoke(port, kinesis, "kinesis-stream.json").await;
    assert_eq!(status, 200, "{out}\n{}", watch.log_tail());
    assert_eq!(out, json!({ "batchItemFailures": [] }));
    let written = env.list(&env.config.raw_bucket, "web.events/").await;
    assert_eq!(written.len(), 2, "one object per event hour: {written:?}");
    assert!(
        !env.list(&env.config.quarantine_bucket, "web.events/kinesis/")
            .await
            .is_empty()
    );
}
