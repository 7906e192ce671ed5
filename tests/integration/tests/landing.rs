//! s3-landing against the local emulator, in-process, driven by the `events/` fixtures.

use serde_json::{Value, json};
use tributary::ingest::landing::Status;
use tributary_integration::{duckdb, env, fixture, parquet_rows, same_value};

fn objects(v: &Value) -> &Vec<Value> {
    v["objects"].as_array().expect("objects")
}

fn reconciles(o: &Value) {
    let (r, w, j) = (
        o["rows_read"].as_u64().unwrap(),
        o["rows_written"].as_u64().unwrap(),
        o["rows_rejected"].as_u64().unwrap(),
    );
    assert_eq!(r, w + j, "counts must reconcile: {o}");
}

/// Reads a CSV sample into (header, rows).
fn csv_rows(data: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(data);
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_s3_event_converts_partitions_and_reads_back_row_for_row() {
    let env = env();
    env.declare_sample("sales.orders").await;
    let input = env
        .land_sample("sales/orders/2024/orders 2024-01-15.csv")
        .await;

    let out = env
        .landing()
        .handle(fixture("s3-put.json"))
        .await
        .expect("handler");
    let o = &objects(&out)[0];
    assert_eq!(o["status"], "converted", "{out:#}");
    assert_eq!(
        o["key"], "sales/orders/2024/orders 2024-01-15.csv",
        "key URL-decoded"
    );
    reconciles(o);
    assert_eq!(o["rows_written"], 30);
    let parts: Vec<&str> = o["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        parts,
        [
            "sales.orders/region=ap-south",
            "sales.orders/region=eu-west",
            "sales.orders/region=us-east"
        ]
    );

    // Row for row: every input row appears exactly once in the partition of its region.
    let (header, rows) = csv_rows(&input);
    let region_idx = header.iter().position(|h| h == "region").unwrap();
    let mut seen = 0;
    for output in o["outputs"].as_array().unwrap() {
        let key = output["key"].as_str().unwrap();
        let region = output["partition_values"][0][1].as_str().unwrap();
        let (names, got) = parquet_rows(env.get(&env.config.clean_bucket, key).await);
        assert!(
            !names.contains(&"region".to_string()),
            "partition column lives in the path"
        );
        let want: Vec<&Vec<String>> = rows.iter().filter(|r| r[region_idx] == region).collect();
        assert_eq!(got.len(), want.len(), "{key}");
        for (g, w) in got.iter().zip(want) {
            let w: Vec<&String> = w
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != region_idx)
                .map(|(_, v)| v)
                .collect();
            for (gv, wv) in g.iter().zip(w) {
                assert!(same_value(wv, gv), "{key}: input {wv:?} vs output {gv:?}");
            }
        }
        seen += got.len();
    }
    assert_eq!(seen, rows.len());

    // Independent reader: DuckDB over the downloaded files with Hive partitioning.
    let keys: Vec<String> = o["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap().to_string())
        .collect();
    let dir = env
        .download(&env.config.clean_bucket, &keys, "orders")
        .await;
    let sum_in: f64 = rows.iter().map(|r| r[3].parse::<f64>().unwrap()).sum();
    let got = duckdb(&format!(
        "select count(*), round(sum(amount), 2), count(distinct region), min(ordered_at)::varchar from read_parquet('{}/**/*.parquet', hive_partitioning=true)",
        dir.display()
    ));
    assert_eq!(got[0][0], json!(30));
    assert!(
        (got[0][1].as_f64().unwrap() - (sum_in * 100.0).round() / 100.0).abs() < 0.011,
        "{got:?}"
    );
    assert_eq!(got[0][2], json!(3));
    assert!(
        got[0][3]
            .as_str()
            .unwrap()
            .starts_with("2024-01-15 08:00:00"),
        "{got:?}"
    );

    // The dataset record: counts, location and the inferred schema.
    assert_eq!(env.stat("sales.orders", "row_count").await, Some(30));
    assert_eq!(env.stat("sales.orders", "file_count").await, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_fixture_and_a_real_s3_notification_are_processed() {
    let env = env();
    env.declare_sample("hr.employees").await;
    let input = env.land_sample("hr/employees/employees.csv").await;

    let out = env
        .landing()
        .handle(fixture("sqs-s3-put.json"))
        .await
        .expect("handler");
    assert_eq!(out, json!({ "batchItemFailures": [] }));
    let outputs = env
        .list(&env.config.clean_bucket, "hr.employees/ingest_date=")
        .await;
    let file = outputs
        .iter()
        .find(|(k, _)| k.contains("/employees.csv-"))
        .expect("employees output")
        .0
        .clone();
    let (names, got) = parquet_rows(env.get(&env.config.clean_bucket, &file).await);
    let (header, rows) = csv_rows(&input);
    assert_eq!(names, header, "declared schema order kept");
    assert_eq!(got.len(), rows.len());
    for (g, w) in got.iter().zip(&rows) {
        for (gv, wv) in g.iter().zip(w) {
            assert!(same_value(wv, gv), "input {wv:?} vs output {gv:?}");
        }
    }

    // A notification really delivered by the emulator's S3 → SQS wiring.
    let key = "hr/employees/2024/new hire+1.csv";
    let body = b"EMPLOYEE_ID,FIRST_NAME,LAST_NAME,EMAIL,PHONE_NUMBER,HIRE_DATE,JOB_ID,SALARY,COMMISSION_PCT,MANAGER_ID,DEPARTMENT_ID\n500,Ada,Byron,ABYRON,515.1,2024-03-01,IT_PROG,9000,,100,60\n";
    env.put(&env.config.landing_bucket, key, body.to_vec())
        .await;
    let queue = env.vars["TRIBUTARY_LANDING_QUEUE_URL"].clone();
    let mut message = None;
    for _ in 0..50 {
        let got = env
            .sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let b = m.body().unwrap_or_default();
            if b.contains("new+hire") || b.contains("new%20hire") {
                message = Some(m.clone());
            }
        }
        if message.is_some() {
            break;
        }
    }
    let m = message.expect("the emulator delivered the notification");
    let event = json!({ "Records": [{
        "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
        "attributes": {}, "messageAttributes": {}, "md5OfBody": m.md5_of_body(),
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:tributary-landing-events", "awsRegion": "us-east-1"
    }]});
    let out = env.landing().handle(event).await.expect("handler");
    assert_eq!(out, json!({ "batchItemFailures": [] }));
    let landed = env.list(&env.config.clean_bucket, "hr.employees/").await;
    let (k, _) = landed
        .iter()
        .find(|(k, _)| k.contains("/new_hire_1.csv-"))
        .expect("the notified object landed");
    assert_eq!(
        parquet_rows(env.get(&env.config.clean_bucket, k).await)
            .1
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_partial_batch_failure_names_only_the_failing_message() {
    let env = env();
    env.declare_variant("hr.employees", "hr.batch", "batch/employees/")
        .await;
    let key = "batch/employees/ok.csv";
    env.land_sample_as("hr/employees/employees.csv", key).await;
    let s3_body = |k: &str| {
        json!({"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":env.config.landing_bucket},"object":{"key":k}}}]}).to_string()
    };
    let msg = |id: &str, body: String| json!({"messageId": id, "receiptHandle": "rh", "body": body, "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"});
    let event = json!({ "Records": [
        msg("good", s3_body(key)),
        msg("broken", s3_body("batch/employees/bad%zzescape.csv")),
        msg("also-good", "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}".into()),
    ]});
    let out = env.landing().handle(event).await.expect("handler");
    assert_eq!(
        out,
        json!({ "batchItemFailures": [{ "itemIdentifier": "broken" }] })
    );
    assert!(
        env.list(&env.config.clean_bucket, "hr.batch/")
            .await
            .iter()
            .any(|(k, _)| k.contains("/ok.csv-")),
        "the good record landed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_gzip_json_lines_infers_and_records_the_schema() {
    let env = env();
    env.declare_sample("web.clicks").await;
    env.land_sample("web/clicks/clicks-2024-01-15.jsonl.gz")
        .await;
    let out = env
        .landing()
        .handle(fixture("eventbridge-object-created.json"))
        .await
        .expect("handler");
    let o = &objects(&out)[0];
    assert_eq!(o["status"], "converted", "{out:#}");
    assert_eq!(
        (o["rows_read"].as_u64(), o["rows_written"].as_u64()),
        (Some(50), Some(50))
    );
    let schema = tributary::catalog::DatasetCatalog::recorded_schema(&env.catalog(), "web.clicks")
        .await
        .unwrap()
        .expect("schema recorded");
    let types: Vec<(String, &str)> = schema
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty.glue()))
        .collect();
    assert!(
        types.contains(&("ts".into(), "timestamp"))
            && types.contains(&("duration_ms".into(), "bigint")),
        "{types:?}"
    );

    // A later file of the same dataset is held to the recorded schema: a wrong type is rejected.
    let key = "web/clicks/clicks-late.jsonl";
    env.put(&env.config.landing_bucket, key, b"{\"event_id\":\"x1\",\"user\":\"u1\",\"page\":\"/\",\"ts\":\"2024-01-16T00:00:00Z\",\"duration_ms\":5}\n{\"event_id\":\"x2\",\"user\":\"u1\",\"page\":\"/\",\"ts\":\"2024-01-16T00:00:01Z\",\"duration_ms\":\"slow\"}\n{\"event_id\":\"x3\",\"user\":\"u2\",\"page\":\"/\",\"ts\":\"2024-01-16T00:00:02Z\",\"duration_ms\":7}\n".to_vec()).await;
    let out = env
        .landing()
        .handle(json!({"bucket": env.config.landing_bucket, "key": key}))
        .await
        .unwrap();
    let o = &objects(&out)[0];
    assert_eq!(
        (o["rows_written"].as_u64(), o["rows_rejected"].as_u64()),
        (Some(2), Some(1)),
        "{o}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_delivery_is_a_recorded_no_op() {
    let env = env();
    env.declare_variant("hr.employees", "hr.dup", "dup/employees/")
        .await;
    let key = "dup/employees/employees.csv";
    env.land_sample_as("hr/employees/employees.csv", key).await;
    let event = json!({"bucket": env.config.landing_bucket, "key": key});
    let landing = env.landing();
    let first = landing.handle(event.clone()).await.unwrap();
    assert_eq!(objects(&first)[0]["status"], "converted");
    let rows_after_first = env.stat("hr.dup", "row_count").await;
    let files_before = env.list(&env.config.clean_bucket, "hr.dup/").await;

    let second = landing.handle(event.clone()).await.unwrap();
    assert_eq!(objects(&second)[0]["status"], "duplicate");
    assert_eq!(
        env.list(&env.config.clean_bucket, "hr.dup/").await,
        files_before,
        "no new or changed output"
    );
    assert_eq!(
        env.stat("hr.dup", "row_count").await,
        rows_after_first,
        "stats counted once"
    );

    // The no-op is recorded in the ledger.
    let version = objects(&first)[0]["version"].as_str().unwrap().to_string();
    let item = env
        .dynamodb
        .get_item()
        .table_name(&env.config.ledger_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(tributary::catalog::keys::ledger_pk(
                &env.config.landing_bucket,
                key,
            )),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(version))
        .send()
        .await
        .unwrap();
    assert_eq!(
        item.item().unwrap()["duplicate_deliveries"].as_n().unwrap(),
        "1"
    );

    // Two deliveries racing: exactly one converts, the other is a duplicate, stats move once.
    let key2 = "dup/employees/race.csv";
    env.land_sample_as("hr/employees/employees.csv", key2).await;
    let before = env.stat("hr.dup", "row_count").await.unwrap();
    let ev2 = json!({"bucket": env.config.landing_bucket, "key": key2});
    let other = env.landing();
    let (a, b) = tokio::join!(landing.handle(ev2.clone()), other.handle(ev2.clone()));
    let mut statuses = vec![
        objects(&a.unwrap())[0]["status"].clone(),
        objects(&b.unwrap())[0]["status"].clone(),
    ];
    statuses.sort_by_key(|s| s.to_string());
    assert_eq!(statuses, vec![json!("converted"), json!("duplicate")]);
    assert_eq!(env.stat("hr.dup", "row_count").await.unwrap(), before + 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_quarantined_with_a_report_and_counts_reconcile() {
    let env = env();
    env.declare_sample("hr.employees").await;
    env.declare_variant("web.clicks", "web.badclicks", "badclicks/")
        .await;
    let q = env.config.quarantine_bucket.clone();
    let at = chrono::DateTime::from_timestamp_millis(1_893_553_445_678).unwrap();
    let landing = env
        .landing()
        .with_clock(tributary::clock::ManualClock::new(at));

    // Mostly good file (task-input fixture): wrong column count, invalid value, invalid UTF-8.
    env.land_sample("hr/employees/employees-bad.csv").await;
    let out = landing.handle(fixture("task-input.json")).await.unwrap();
    let o = &objects(&out)[0];
    reconciles(o);
    assert_eq!(o["status"], "converted");
    assert_eq!(
        (
            o["rows_read"].as_u64(),
            o["rows_written"].as_u64(),
            o["rows_rejected"].as_u64()
        ),
        (Some(14), Some(11), Some(3))
    );
    let report: Value = serde_json::from_slice(
        &env.get(
            &q,
            "hr.employees/hr/employees/employees-bad.csv.report.json",
        )
        .await,
    )
    .unwrap();
    // The one report shape, timed by the handler's clock.
    assert_eq!(report["function"], "s3-landing");
    assert_eq!(report["status"], "converted");
    assert_eq!(report["created_at"], "2030-01-02T03:04:05.678Z");
    assert_eq!(
        report["rejected_rows"],
        format!("s3://{q}/hr.employees/hr/employees/employees-bad.csv.rejected.csv")
    );
    let reasons = &report["rejections_by_reason"];
    assert_eq!(
        (
            reasons["wrong_column_count"].as_u64(),
            reasons["invalid_value"].as_u64(),
            reasons["invalid_utf8"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{report:#}"
    );
    let lines = tributary_integration::rejection_lines(&report);
    assert_eq!(lines, vec![5, 8, 13], "{report:#}");
    let rejected = env
        .get(
            &q,
            "hr.employees/hr/employees/employees-bad.csv.rejected.csv",
        )
        .await;
    assert_eq!(
        rejected.iter().filter(|b| **b == b'\n').count(),
        4,
        "header + 3 rejected rows"
    );

    // Unparseable file → whole file quarantined, nothing published.
    env.land_sample_as("web/clicks/garbage.jsonl", "badclicks/garbage.jsonl")
        .await;
    let out = landing
        .handle(json!({"bucket": env.config.landing_bucket, "key": "badclicks/garbage.jsonl"}))
        .await
        .unwrap();
    let o = &objects(&out)[0];
    assert_eq!(o["status"], "quarantined", "{o}");
    reconciles(o);
    assert!(
        env.exists(&q, "web.badclicks/badclicks/garbage.jsonl")
            .await
    );
    let report: Value = serde_json::from_slice(
        &env.get(&q, "web.badclicks/badclicks/garbage.jsonl.report.json")
            .await,
    )
    .unwrap();
    assert!(
        report["reason"].as_str().unwrap().contains("JSON"),
        "{report:#}"
    );
    assert!(
        env.list(&env.config.clean_bucket, "web.badclicks/")
            .await
            .is_empty()
    );

    // Invalid UTF-8 throughout a CSV → whole file quarantined.
    let key = "hr/employees/latin1.csv";
    let mut latin1 = b"EMPLOYEE_ID,FIRST_NAME,LAST_NAME,EMAIL,PHONE_NUMBER,HIRE_DATE,JOB_ID,SALARY,COMMISSION_PCT,MANAGER_ID,DEPARTMENT_ID\n".to_vec();
    for i in 0..5 {
        latin1.extend_from_slice(
            format!("{i},Jos\u{e9},M\u{fc}ller,X,1,2001-01-01,J,1,,,10\n")
                .replace('\u{e9}', "\u{1}")
                .as_bytes(),
        );
    }
    let latin1: Vec<u8> = latin1
        .into_iter()
        .map(|b| if b == 1 { 0xE9 } else { b })
        .collect();
    env.put(&env.config.landing_bucket, key, latin1).await;
    let out = landing
        .handle(json!({"bucket": env.config.landing_bucket, "key": key}))
        .await
        .unwrap();
    let o = &objects(&out)[0];
    assert_eq!(o["status"], "quarantined", "{o}");
    assert_eq!(
        (o["rows_read"].as_u64(), o["rows_rejected"].as_u64()),
        (Some(5), Some(5))
    );
    let report: Value = serde_json::from_slice(
        &env.get(&q, &format!("hr.employees/{key}.report.json"))
            .await,
    )
    .unwrap();
    assert_eq!(
        report["rejections_by_reason"]["invalid_utf8"], 5,
        "{report:#}"
    );

    // Empty object.
    env.put(
        &env.config.landing_bucket,
        "hr/employees/empty.csv",
        Vec::new(),
    )
    .await;
    let out = landing
        .handle(json!({"bucket": env.config.landing_bucket, "key": "hr/employees/empty.csv"}))
        .await
        .unwrap();
    assert_eq!(objects(&out)[0]["status"], "quarantined");
    assert_eq!(objects(&out)[0]["reason"], "the object is empty");
    assert!(
        env.exists(&q, "hr.employees/hr/employees/empty.csv.report.json")
            .await
    );

    // Unknown dataset.
    env.land_sample("misc/unknown.csv").await;
    let out = landing
        .handle(json!({"bucket": env.config.landing_bucket, "key": "misc/unknown.csv"}))
        .await
        .unwrap();
    let o = &objects(&out)[0];
    assert_eq!(o["status"], "quarantined");
    assert_eq!(o["dataset"], Value::Null);
    assert!(env.exists(&q, "_unrouted/misc/unknown.csv").await);
    let report: Value =
        serde_json::from_slice(&env.get(&q, "_unrouted/misc/unknown.csv.report.json").await)
            .unwrap();
    assert_eq!(
        report["reason"],
        "no dataset is declared for this key's prefix"
    );
    assert_eq!(
        (&report["status"], &report["dataset"]),
        (&json!("quarantined"), &Value::Null)
    );
    assert_eq!(
        report["quarantined_object"],
        format!("s3://{q}/_unrouted/misc/unknown.csv")
    );

    // Landing objects are never deleted.
    for k in [
        "hr/employees/employees-bad.csv",
        "badclicks/garbage.jsonl",
        "hr/employees/empty.csv",
        "misc/unknown.csv",
    ] {
        assert!(
            env.exists(&env.config.landing_bucket, k).await,
            "{k} still in landing"
        );
    }
    assert!(
        env.stat("hr.employees", "quarantined_file_count")
            .await
            .unwrap()
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_is_validated_and_passed_through() {
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;
    let env = env();
    let ds = tributary::catalog::Dataset {
        id: "ops.metrics".into(),
        landing_prefix: "ops/metrics/".into(),
        ..Default::default()
    };
    tributary::catalog::DatasetCatalog::declare(&env.catalog(), &ds)
        .await
        .unwrap();
    let batch = arrow::record_batch::RecordBatch::try_from_iter([
        (
            "host",
            Arc::new(StringArray::from(vec!["a", "b", "c"])) as arrow::array::ArrayRef,
        ),
        (
            "value",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as arrow::array::ArrayRef,
        ),
    ])
    .unwrap();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    env.put(
        &env.config.landing_bucket,
        "ops/metrics/m.parquet",
        buf.clone(),
    )
    .await;
    let out = env
        .landing()
        .handle(json!({"bucket": env.config.landing_bucket, "key": "ops/metrics/m.parquet"}))
        .await
        .unwrap();
    let o = &objects(&out)[0];
    assert_eq!(o["status"], "copied", "{o}");
    assert_eq!(o["rows_written"], 3);
    let key = o["outputs"][0]["key"].as_str().unwrap();
    assert_eq!(
        env.get(&env.config.clean_bucket, key).await,
        buf,
        "byte-identical copy"
    );

    env.put(
        &env.config.landing_bucket,
        "ops/metrics/broken.parquet",
        b"PAR1 not really parquet PAR1".to_vec(),
    )
    .await;
    let out = env
        .landing()
        .handle(json!({"bucket": env.config.landing_bucket, "key": "ops/metrics/broken.parquet"}))
        .await
        .unwrap();
    assert_eq!(objects(&out)[0]["status"], "quarantined");
    assert!(
        objects(&out)[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Parquet")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_objects_and_bad_events_are_classified() {
    let env = env();
    let out = env
        .landing()
        .handle(json!({"bucket": env.config.landing_bucket, "key": "nope/never-landed.csv"}))
        .await
        .unwrap();
    assert_eq!(objects(&out)[0]["status"], "missing");
    let err = env
        .landing()
        .handle(json!({"hello": "world"}))
        .await
        .unwrap_err();
    assert_eq!(
        tributary::error::Classify::kind(&err),
        tributary::error::ErrorKind::BadInput
    );
    // An event for any bucket but the landing bucket is refused as bad input, nothing read.
    let err = env
        .landing()
        .handle(json!({"bucket": "no-such-bucket-anywhere", "key": "x.csv"}))
        .await
        .unwrap_err();
    assert_eq!(
        tributary::error::Classify::kind(&err),
        tributary::error::ErrorKind::BadInput,
        "{err}"
    );
    assert!(err.to_string().contains("refused"), "{err}");
    // A landing bucket that does not exist (S3 answers HeadObject with a bare 404) is a
    // deployment error, not a missing object and not bad data.
    let mut config = (*env.config).clone();
    config.landing_bucket = "tributary-no-such-landing-bucket".into();
    let err = env
        .landing_with(std::sync::Arc::new(config))
        .handle(json!({"bucket": "tributary-no-such-landing-bucket", "key": "x.csv"}))
        .await
        .unwrap_err();
    assert_eq!(
        tributary::error::Classify::kind(&err),
        tributary::error::ErrorKind::Fatal,
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");
    let _ = Status::Missing;
}
