//! The fault suite, against the emulator: at-least-once delivery, crashes, throttling and server
//! errors, and objects that change under the function. Every case checks that nothing is lost or
//! duplicated and that counts reconcile (read = written + rejected).
//!
//! Faults come only through documented switches: the kill point (`TRIBUTARY_KILL_POINT`,
//! `tributary::faults`) and the SDK interceptor (`TRIBUTARY_FAULTS`, `tributary_aws::faults`),
//! both installed here through the same builders the functions use. No code path is edited.
//!
//! The hostile-input table is in `hostile.rs`.

use serde_json::{Value, json};
use tributary::catalog::keys;
use tributary::catalog::table::ItemTable;
use tributary::error::{Classify, ErrorKind};
use tributary::faults::KillPoint;
use tributary::stream::kinesis::KinesisBatch;
use tributary_aws::Clients;
use tributary_aws::dynamo::DynamoTable;
use tributary_aws::faults::{Answer, FaultInjector};
use tributary_aws::handlers::{
    AwsLanding, landing_handler, register_handler, stream_ingest_handler,
};
use tributary_integration::{duckdb, env, fixture, gzip, reconciles, s3_event, stream_settings};

/// The functions' clients with `faults` installed (as `TRIBUTARY_FAULTS` does in a function).
fn clients(faults: &FaultInjector) -> Clients {
    let env = env();
    Clients {
        s3: env.s3.clone(),
        dynamodb: env.dynamodb.clone(),
        glue: env.glue(),
    }
    .with_faults(faults)
}

fn landing(faults: &FaultInjector) -> AwsLanding {
    landing_handler(&clients(faults), env().config.clone())
}

fn object(out: &Value) -> &Value {
    &out["objects"][0]
}

/// The ledger entries of one landed object (one per version).
async fn ledger(key: &str) -> Vec<Value> {
    let env = env();
    let table = DynamoTable::new(env.dynamodb.clone(), &env.config.ledger_table);
    let items = table
        .query(&keys::ledger_pk(&env.config.landing_bucket, key))
        .await
        .expect("ledger query");
    items
        .iter()
        .map(|i| {
            let entry = tributary::catalog::table::text(i, "entry").unwrap_or("{}");
            let mut v: Value = serde_json::from_str(entry).unwrap();
            v["duplicate_deliveries"] = json!(tributary::catalog::table::number::<u64>(
                i,
                "duplicate_deliveries"
            ));
            v
        })
        .collect()
}

/// Rows of every Parquet object under `prefix` of `bucket`, as DuckDB counts them.
async fn parquet_rows(bucket: &str, prefix: &str, tag: &str) -> u64 {
    let env = env();
    let keys: Vec<String> = env
        .keys(bucket, prefix)
        .await
        .into_iter()
        .filter(|k| k.ends_with(".parquet"))
        .collect();
    if keys.is_empty() {
        return 0;
    }
    let dir = env.download(bucket, &keys, tag).await;
    let files: Vec<String> = keys
        .iter()
        .map(|k| format!("'{}'", dir.join(k).display()))
        .collect();
    duckdb(&format!(
        "SELECT count(*) FROM read_parquet([{}], union_by_name = true)",
        files.join(", ")
    ))[0][0]
        .as_u64()
        .unwrap()
}

/// Declares a copy of the sample CSV employees dataset under `prefix` and lands the sample file.
async fn employees(id: &str, prefix: &str, file: &str) -> String {
    let env = env();
    env.declare_variant("hr.employees", id, prefix).await;
    let key = format!("{prefix}{file}");
    env.land_sample_as("hr/employees/employees.csv", &key).await;
    key
}

// ---------------------------------------------------------------------------------------------
// Delivered three times, and twice at once.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn landing_delivered_three_times_and_twice_at_once_writes_once() {
    let env = env();
    let faults = FaultInjector::default();
    let (id, prefix) = ("fx_redeliver.employees", "fx-redeliver/employees/");
    let key = employees(id, prefix, "a.csv").await;
    let l = landing(&faults);
    let event = s3_event(&env.config.landing_bucket, &key);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let out = l.handle(event.clone()).await.expect("delivery");
        statuses.push(object(&out)["status"].as_str().unwrap().to_string());
    }
    assert_eq!(statuses, ["converted", "duplicate", "duplicate"]);
    let entries = ledger(&key).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["duplicate_deliveries"], 2);
    let rows = entries[0]["rows_written"].as_u64().unwrap();

    // A second object delivered twice at once: one conversion is recorded, never two.
    let key2 = format!("{prefix}b.csv");
    env.land_sample_as("hr/employees/employees.csv", &key2)
        .await;
    let event2 = s3_event(&env.config.landing_bucket, &key2);
    let (l1, l2) = (landing(&faults), landing(&faults));
    let (a, b) = tokio::join!(l1.handle(event2.clone()), l2.handle(event2.clone()));
    let pair = [
        object(&a.expect("first")).clone(),
        object(&b.expect("second")).clone(),
    ];
    let converted = pair.iter().filter(|o| o["status"] == "converted").count();
    let duplicate = pair.iter().filter(|o| o["status"] == "duplicate").count();
    assert_eq!((converted, duplicate), (1, 1), "{pair:#?}");
    assert_eq!(ledger(&key2).await.len(), 1);
    // Stats count each object once; the clean zone holds each object's rows once.
    assert_eq!(env.stat(id, "row_count").await, Some(2 * rows));
    assert_eq!(env.stat(id, "file_count").await, Some(2));
    assert_eq!(
        parquet_rows(&env.config.clean_bucket, &format!("{id}/"), "fx-redeliver").await,
        2 * rows
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cdc_sequencer_delivered_three_times_and_twice_at_once_writes_once() {
    let env = env();
    let faults = FaultInjector::default();
    let (id, prefix) = ("fx_cdc.employees", "fx-cdc/HR/EMPLOYEES/");
    env.declare_variant("hr.employees_cdc", id, prefix).await;
    let seq = || landing(&faults).dms_only();
    let files = ["LOAD00000001.csv", "2024/11/05/20241105-134501123.csv"];
    let mut written = 0;
    for (i, f) in files.iter().enumerate() {
        let key = format!("{prefix}{f}");
        env.land_sample_as(&format!("dms/HR/EMPLOYEES/{f}"), &key)
            .await;
        let event = json!({"bucket": env.config.landing_bucket, "key": key});
        let outs: Vec<Value> = if i == 0 {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(object(&seq().handle(event.clone()).await.unwrap()).clone());
            }
            v
        } else {
            let (s1, s2) = (seq(), seq());
            let (a, b) = tokio::join!(s1.handle(event.clone()), s2.handle(event.clone()));
            vec![object(&a.unwrap()).clone(), object(&b.unwrap()).clone()]
        };
        let sequenced: Vec<&Value> = outs.iter().filter(|o| o["status"] == "sequenced").collect();
        assert_eq!(sequenced.len(), 1, "{outs:#?}");
        assert!(
            outs.iter()
                .all(|o| o["status"] == "sequenced" || o["status"] == "duplicate")
        );
        written += sequenced[0]["rows_written"].as_u64().unwrap();
        assert_eq!(ledger(&key).await.len(), 1);
    }
    assert_eq!(
        parquet_rows(&env.config.raw_bucket, &format!("{id}/"), "fx-cdc").await,
        written
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_register_delivered_three_times_and_twice_at_once_registers_once() {
    let env = env();
    let faults = FaultInjector::default();
    let (id, prefix) = ("fx_reg.employees", "fx-reg/employees/");
    let key = employees(id, prefix, "a.csv").await;
    let out = landing(&faults)
        .handle(s3_event(&env.config.landing_bucket, &key))
        .await
        .unwrap();
    let output = object(&out)["outputs"][0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let event = json!({"bucket": env.config.clean_bucket, "key": output});
    let reg = || register_handler(&clients(&faults), env.config.clone());
    for _ in 0..3 {
        let out = reg().handle(event.clone()).await.expect("register");
        assert_eq!(out["objects"][0]["status"], "registered", "{out:#}");
    }
    let (r1, r2) = (reg(), reg());
    let (a, b) = tokio::join!(r1.handle(event.clone()), r2.handle(event.clone()));
    for out in [a.unwrap(), b.unwrap()] {
        assert_eq!(out["objects"][0]["status"], "registered", "{out:#}");
    }
    let parts = env
        .glue()
        .get_partitions()
        .database_name(&env.config.glue_database)
        .table_name(tributary::tables::glue::table_name(id))
        .send()
        .await
        .unwrap();
    assert_eq!(parts.partitions().len(), 1, "{:?}", parts.partitions());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stream_ingest_delivered_three_times_and_twice_at_once_writes_once() {
    let env = env();
    let faults = FaultInjector::default();
    let id = "fx_stream.events";
    env.declare_variant("web.events", id, "fx-stream/events/")
        .await;
    let ingest =
        || stream_ingest_handler(&clients(&faults), env.config.clone(), stream_settings(id));
    let batch =
        || -> KinesisBatch { serde_json::from_value(fixture("kinesis-stream.json")).unwrap() };
    let first = ingest().ingest(batch()).await.expect("ingest");
    reconciles(&first);
    let objects = env.keys(&env.config.raw_bucket, &format!("{id}/")).await;
    for _ in 0..2 {
        let again = ingest().ingest(batch()).await.expect("again");
        reconciles(&again);
        assert_eq!(again.written, first.written);
    }
    let (i1, i2) = (ingest(), ingest());
    let (a, b) = tokio::join!(i1.ingest(batch()), i2.ingest(batch()));
    reconciles(&a.unwrap());
    reconciles(&b.unwrap());
    // The same objects, overwritten: the raw zone holds each accepted record once.
    assert_eq!(
        env.keys(&env.config.raw_bucket, &format!("{id}/")).await,
        objects
    );
    assert_eq!(
        parquet_rows(&env.config.raw_bucket, &format!("{id}/"), "fx-stream").await,
        first.written
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn firehose_transform_answers_a_redelivered_batch_identically() {
    let env = env();
    let id = "fx_firehose.events";
    env.declare_variant("web.events", id, "fx-firehose/events/")
        .await;
    let t = tributary_aws::handlers::firehose_handler(
        &clients(&FaultInjector::default()),
        &env.config,
        stream_settings(id),
    );
    let body = serde_json::value::to_raw_value(&fixture("firehose-direct-put.json")).unwrap();
    let first = t.handle(&body).await.expect("transform").get().to_string();
    for _ in 0..2 {
        assert_eq!(t.handle(&body).await.unwrap().get(), first);
    }
    let (a, b) = tokio::join!(t.handle(&body), t.handle(&body));
    assert_eq!(a.unwrap().get(), first);
    assert_eq!(b.unwrap().get(), first);
}

// ---------------------------------------------------------------------------------------------
// A crash between writing the outputs and the commit, then the retry.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_ledger_commit_is_retried_into_exactly_one_landing() {
    let env = env();
    let faults = FaultInjector::default();
    let (id, prefix) = ("fx_crash.employees", "fx-crash/employees/");
    let key = employees(id, prefix, "a.csv").await;
    let event = s3_event(&env.config.landing_bucket, &key);
    let crashing = landing(&faults).with_kill_point(Some(KillPoint::BeforeCommit));
    let err = crashing.handle(event.clone()).await.unwrap_err();
    assert!(err.to_string().contains("before_commit"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Retryable);
    // The outputs are written, nothing is recorded.
    let written = env.keys(&env.config.clean_bucket, &format!("{id}/")).await;
    assert!(!written.is_empty());
    assert!(ledger(&key).await.is_empty());
    assert_eq!(env.stat(id, "row_count").await.unwrap_or(0), 0);
    // The retry converts again, overwrites the same objects and records once.
    let out = landing(&faults).handle(event.clone()).await.unwrap();
    assert_eq!(object(&out)["status"], "converted", "{out:#}");
    assert_eq!(
        env.keys(&env.config.clean_bucket, &format!("{id}/")).await,
        written
    );
    let o = object(&out);
    assert_eq!(
        o["rows_read"].as_u64(),
        Some(o["rows_written"].as_u64().unwrap() + o["rows_rejected"].as_u64().unwrap())
    );
    assert_eq!(env.stat(id, "row_count").await, o["rows_written"].as_u64());
    assert_eq!(
        parquet_rows(&env.config.clean_bucket, &format!("{id}/"), "fx-crash").await,
        o["rows_written"].as_u64().unwrap()
    );
    let again = landing(&faults).handle(event).await.unwrap();
    assert_eq!(object(&again)["status"], "duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_sequencer_commit_is_retried_into_exactly_one_sequence() {
    let env = env();
    let faults = FaultInjector::default();
    let (id, prefix) = ("fx_crashcdc.employees", "fx-crashcdc/HR/EMPLOYEES/");
    env.declare_variant("hr.employees_cdc", id, prefix).await;
    let key = format!("{prefix}LOAD00000001.csv");
    env.land_sample_as("dms/HR/EMPLOYEES/LOAD00000001.csv", &key)
        .await;
    let event = json!({"bucket": env.config.landing_bucket, "key": key});
    let err = landing(&faults)
        .dms_only()
        .with_kill_point(Some(KillPoint::BeforeCommit))
        .handle(event.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    let written = env.keys(&env.config.raw_bucket, &format!("{id}/")).await;
    assert!(!written.is_empty());
    assert!(ledger(&key).await.is_empty());
    let out = landing(&faults).dms_only().handle(event).await.unwrap();
    assert_eq!(object(&out)["status"], "sequenced", "{out:#}");
    assert_eq!(
        env.keys(&env.config.raw_bucket, &format!("{id}/")).await,
        written
    );
    assert_eq!(
        parquet_rows(&env.config.raw_bucket, &format!("{id}/"), "fx-crashcdc").await,
        object(&out)["rows_written"].as_u64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_stream_registration_is_retried_without_duplicates() {
    let env = env();
    let faults = FaultInjector::default();
    let id = "fx_crashstream.events";
    env.declare_variant("web.events", id, "fx-crashstream/events/")
        .await;
    let batch =
        || -> KinesisBatch { serde_json::from_value(fixture("kinesis-stream.json")).unwrap() };
    let ingest =
        || stream_ingest_handler(&clients(&faults), env.config.clone(), stream_settings(id));
    let err = ingest()
        .with_kill_point(Some(KillPoint::BeforeCommit))
        .ingest(batch())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    let written = env.keys(&env.config.raw_bucket, &format!("{id}/")).await;
    assert!(!written.is_empty());
    // Lambda retries the whole batch.
    let s = ingest().ingest(batch()).await.unwrap();
    reconciles(&s);
    assert!(s.batch_item_failures.is_empty());
    assert!(s.registration.is_some(), "registered on the retry");
    assert_eq!(
        env.keys(&env.config.raw_bucket, &format!("{id}/")).await,
        written
    );
    assert_eq!(
        parquet_rows(&env.config.raw_bucket, &format!("{id}/"), "fx-crashstream").await,
        s.written
    );
}

// ---------------------------------------------------------------------------------------------
// Throttling and server errors from S3, DynamoDB and Glue.

/// SDK attempts per call (standard retry mode).
const SDK_ATTEMPTS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried_within_bounds_then_retryable() {
    let env = env();
    // (service, operation, answer, bound on the attempts answered before giving up)
    let cases: [(&str, &str, Answer, u64); 5] = [
        ("s3", "HeadObject", Answer::Throttle, SDK_ATTEMPTS),
        ("s3", "GetObject", Answer::ServerError(503), SDK_ATTEMPTS),
        (
            "dynamodb",
            "TransactWriteItems",
            Answer::Throttle,
            SDK_ATTEMPTS * u64::from(tributary_aws::dynamo::MAX_ATTEMPTS),
        ),
        ("glue", "GetTable", Answer::ServerError(500), SDK_ATTEMPTS),
        ("glue", "CreateTable", Answer::Throttle, SDK_ATTEMPTS),
    ];
    println!("\nfault                               attempts  outcome           then");
    for (i, (service, op, answer, bound)) in cases.into_iter().enumerate() {
        let (id, prefix) = (
            format!("fx_throttle{i}.employees"),
            format!("fx-throttle{i}/employees/"),
        );
        let key = employees(&id, &prefix, "a.csv").await;
        let faults = FaultInjector::default();
        faults.inject(service, op, answer, None);
        let event = s3_event(&env.config.landing_bucket, &key);
        let err = landing(&faults).handle(event.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Retryable, "{service}:{op}: {err}");
        let n = faults.injected(service, op);
        assert!(
            n >= 2 && n <= bound,
            "{service}:{op}: {n} attempts (bound {bound})"
        );
        assert!(
            ledger(&key).await.is_empty(),
            "{service}:{op}: nothing recorded"
        );
        // Healed, the retry lands the object once.
        faults.heal();
        let out = landing(&faults).handle(event).await.unwrap();
        assert_eq!(
            object(&out)["status"],
            "converted",
            "{service}:{op}: {out:#}"
        );
        assert_eq!(ledger(&key).await.len(), 1);
        assert_eq!(
            env.stat(&id, "row_count").await,
            object(&out)["rows_written"].as_u64()
        );
        println!(
            "{:<35} {n:>8}  Tributary.Retryable  converted once",
            format!("{service}:{op} {answer:?}")
        );
    }
    // A transient fault (two throttled attempts) is absorbed by the SDK's retry.
    let key = employees("fx_transient.employees", "fx-transient/employees/", "a.csv").await;
    let faults = FaultInjector::default();
    faults.inject("s3", "HeadObject", Answer::Throttle, Some(2));
    let out = landing(&faults)
        .handle(s3_event(&env.config.landing_bucket, &key))
        .await
        .expect("absorbed");
    assert_eq!(object(&out)["status"], "converted");
    assert_eq!(faults.injected("s3", "HeadObject"), 2);
    assert!(faults.seen("s3", "HeadObject") >= 3);
}

// ---------------------------------------------------------------------------------------------
// Objects that change under the function.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_deleted_overwritten_or_corrupt_lose_nothing() {
    let env = env();
    let (id, prefix) = ("fx_change.employees", "fx-change/employees/");
    // Deleted between the event and the read: `missing`, nothing recorded.
    let key = employees(id, prefix, "gone.csv").await;
    env.s3
        .delete_object()
        .bucket(&env.config.landing_bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let faults = FaultInjector::default();
    let out = landing(&faults)
        .handle(s3_event(&env.config.landing_bucket, &key))
        .await
        .unwrap();
    assert_eq!(object(&out)["status"], "missing", "{out:#}");
    assert!(ledger(&key).await.is_empty());

    // Overwritten between HeadObject and GetObject: the read is pinned to the ETag HEAD saw, so
    // it fails retryably and nothing is published; the retry reads the new object.
    let key = format!("{prefix}changed.csv");
    env.land_sample_as("hr/employees/employees.csv", &key).await;
    faults.inject("s3", "HeadObject", Answer::StaleEtag, Some(1));
    let err = landing(&faults)
        .handle(s3_event(&env.config.landing_bucket, &key))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    assert!(
        err.to_string()
            .contains("changed while it was being processed"),
        "{err}"
    );
    assert!(ledger(&key).await.is_empty());
    let out = landing(&faults)
        .handle(s3_event(&env.config.landing_bucket, &key))
        .await
        .unwrap();
    assert_eq!(object(&out)["status"], "converted", "{out:#}");

    // A corrupt object (gzip whose checksum does not match): quarantined whole with a reason.
    let key = format!("{prefix}corrupt.csv.gz");
    let mut gz = gzip(b"employee_id,first_name\n1,Ada\n");
    let n = gz.len();
    gz[n - 6] ^= 0xff; // the CRC32 of the trailer
    env.put(&env.config.landing_bucket, &key, gz).await;
    let out = landing(&faults)
        .handle(s3_event(&env.config.landing_bucket, &key))
        .await
        .unwrap();
    let o = object(&out);
    assert_eq!(o["status"], "quarantined", "{out:#}");
    assert!(
        o["reason"].as_str().unwrap().contains("cannot be read"),
        "{out:#}"
    );
    assert_eq!(ledger(&key).await.len(), 1, "the quarantine is recorded");
}
