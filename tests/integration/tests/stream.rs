//! stream-ingest against the local emulator, in-process: the Kinesis fixture
//! (events/kinesis-stream.json: good records in two hours, a heartbeat, bad JSON, a missing field)
//! into the raw zone, read back with DuckDB; hour partitions in Glue; the quarantine; a retry of
//! the same batch; and a poisoned record (its object cannot be written) that fails only itself
//! and the records after it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{Value, json};
use tributary::error::{AwsError, Classify, ErrorKind};
use tributary::storage::{ObjectBody, ObjectMeta, ObjectStore, StorageError};
use tributary::stream::kinesis::{KinesisBatch, KinesisBatchRecord, StreamIngest};
use tributary_aws::GlueCatalog;
use tributary_aws::S3Store;
use tributary_integration::{duckdb, env, fixture, reconciles, stream_settings};

const STREAM: &str = "tributary-web-events";
const SHARD: &str = "shardId-000000000006";

fn ingest_with<S: ObjectStore>(
    id: &str,
    store: S,
) -> StreamIngest<S, tributary_aws::dynamo::DynamoCatalog, GlueCatalog> {
    let env = env();
    StreamIngest::new(
        store,
        env.catalog(),
        GlueCatalog::new(env.glue(), &env.config.glue_database),
        env.config.clone(),
        stream_settings(id),
    )
}

fn kinesis_fixture() -> KinesisBatch {
    serde_json::from_value(fixture("kinesis-stream.json")).expect("a Kinesis event")
}

fn seqs(event: &KinesisBatch) -> Vec<String> {
    event
        .records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect()
}

/// The dataset's raw rows as DuckDB reads them (Hive partitioning on), ordered by `_seq`.
async fn raw_rows(id: &str, tag: &str) -> Vec<Vec<Value>> {
    let env = env();
    let keys = env.keys(&env.config.raw_bucket, &format!("{id}/")).await;
    assert!(!keys.is_empty(), "no raw objects for {id}");
    let dir = env.download(&env.config.raw_bucket, &keys, tag).await;
    duckdb(&format!(
        "SELECT _op, _seq, _source_file, epoch_ms(_commit_ts), event_id, user_id, \
         strftime(ts, '%Y-%m-%dT%H:%M:%S.%f'), duration_ms, revenue, \
         CAST(year AS VARCHAR) || '-' || CAST(month AS VARCHAR) || '-' || CAST(day AS VARCHAR) || ' ' || CAST(hour AS VARCHAR) \
         FROM read_parquet('{}/{id}/**/*.parquet', hive_partitioning = true) ORDER BY _seq",
        dir.display()
    ))
}

async fn glue_partitions(id: &str) -> Vec<(Vec<String>, String)> {
    let env = env();
    let out = env
        .glue()
        .get_partitions()
        .database_name(&env.config.glue_database)
        .table_name(tributary::tables::glue::table_name(id))
        .send()
        .await
        .expect("GetPartitions");
    let mut parts: Vec<(Vec<String>, String)> = out
        .partitions()
        .iter()
        .map(|p| {
            (
                p.values().to_vec(),
                p.storage_descriptor()
                    .and_then(|s| s.location())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    parts.sort();
    parts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_batch_lands_in_the_raw_zone_with_partitions_and_quarantine() {
    let env = env();
    let id = "web.events_kds";
    env.declare_variant("web.events", id, "web/events-kds/")
        .await;
    let event = kinesis_fixture();
    let seq = seqs(&event);
    let summary = ingest_with(id, S3Store::new(env.s3.clone()))
        .ingest(event)
        .await
        .expect("ingest");
    reconciles(&summary);
    assert_eq!(
        (
            summary.records,
            summary.written,
            summary.dropped,
            summary.quarantined,
            summary.retried
        ),
        (8, 5, 1, 2, 0),
        "{summary:#?}"
    );
    assert!(summary.batch_item_failures.is_empty());
    assert_eq!(
        summary.rejections_by_reason,
        [("invalid_json", 1), ("missing_field", 1)].into()
    );

    // One object per hour, named by stream, shard and its first record's sequence number.
    let objects = env.keys(&env.config.raw_bucket, &format!("{id}/")).await;
    assert_eq!(
        objects,
        vec![
            format!(
                "{id}/year=2024/month=01/day=15/hour=10/{STREAM}-{SHARD}-{}.parquet",
                seq[0]
            ),
            format!(
                "{id}/year=2024/month=01/day=15/hour=11/{STREAM}-{SHARD}-{}.parquet",
                seq[6]
            ),
        ]
    );

    // An independent reader sees exactly the accepted records, typed, with the system columns.
    let rows = raw_rows(id, "kds").await;
    let pad = |s: &str| format!("{s:0>129}-00000000000000000006");
    let source = format!("kinesis:{STREAM}/{SHARD}");
    assert_eq!(
        rows,
        vec![
            vec![
                json!("I"),
                json!(pad(&seq[0])),
                json!(source),
                json!(1705312800900i64),
                json!("evt-1001"),
                json!("u-1842"),
                json!("2024-01-15T10:00:00.120000"),
                json!(3421),
                Value::Null,
                json!("2024-01-15 10")
            ],
            vec![
                json!("I"),
                json!(pad(&seq[1])),
                json!(source),
                json!(1705312802100i64),
                json!("evt-1002"),
                json!("u-1842"),
                json!("2024-01-15T10:00:02.000000"),
                Value::Null,
                Value::Null,
                json!("2024-01-15 10")
            ],
            vec![
                json!("I"),
                json!(pad(&seq[3])),
                json!(source),
                json!(1705312861250i64),
                json!("evt-1003"),
                json!("u-2203"),
                json!("2024-01-15T10:59:59.000000"),
                Value::Null,
                json!(49.95),
                json!("2024-01-15 10")
            ],
            vec![
                json!("I"),
                json!(pad(&seq[6])),
                json!(source),
                json!(1705317330750i64),
                json!("evt-1006"),
                json!("u-77"),
                json!("2024-01-15T11:15:30.500000"),
                json!(950),
                Value::Null,
                json!("2024-01-15 11")
            ],
            vec![
                json!("I"),
                json!(pad(&seq[7])),
                json!(source),
                json!(1705317360000i64),
                json!("evt-1007"),
                json!("u-77"),
                json!("2024-01-15T11:16:00.000000"),
                json!(1200),
                Value::Null,
                json!("2024-01-15 11")
            ],
        ]
    );
    let outputs_rows: u64 = summary.outputs.iter().map(|o| o.rows).sum();
    assert_eq!(outputs_rows, summary.written);

    // Hour partitions registered in Glue, located where the objects are.
    let reg = summary.registration.as_ref().expect("registration");
    assert!(reg.table_created && reg.partitions_created == 2, "{reg:?}");
    let raw = &env.config.raw_bucket;
    assert_eq!(
        glue_partitions(id).await,
        vec![
            (
                vec!["2024".into(), "01".into(), "15".into(), "10".into()],
                format!("s3://{raw}/{id}/year=2024/month=01/day=15/hour=10/")
            ),
            (
                vec!["2024".into(), "01".into(), "15".into(), "11".into()],
                format!("s3://{raw}/{id}/year=2024/month=01/day=15/hour=11/")
            ),
        ]
    );

    // Bad records: quarantined verbatim with their reasons, and a report.
    let q = &env.config.quarantine_bucket;
    let stem = format!("{id}/kinesis/{STREAM}/{SHARD}/{}", seq[4]);
    assert_eq!(
        summary.quarantine,
        vec![
            format!("{stem}.rejected.jsonl"),
            format!("{stem}.report.json")
        ]
    );
    let lines: Vec<Value> = String::from_utf8(env.get(q, &format!("{stem}.rejected.jsonl")).await)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["sequenceNumber"], seq[4]);
    assert_eq!(lines[0]["category"], "invalid_json");
    assert_eq!(
        lines[0]["data"],
        fixture("kinesis-stream.json")["Records"][4]["kinesis"]["data"],
        "the original bytes"
    );
    assert_eq!(lines[1]["reason"], "missing required field user_id");
    let report: Value =
        serde_json::from_slice(&env.get(q, &format!("{stem}.report.json")).await).unwrap();
    assert_eq!(report["function"], "stream-ingest");
    assert_eq!(report["rows_rejected"], 2);
    assert_eq!(
        report["rejected_rows"],
        format!("s3://{q}/{stem}.rejected.jsonl")
    );
    assert_eq!(
        report["rejections_by_reason"],
        json!({"invalid_json": 1, "missing_field": 1})
    );
    assert_eq!(report["source"]["shard"], SHARD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_overwrites_the_same_objects() {
    let env = env();
    let id = "web.events_retry";
    env.declare_variant("web.events", id, "web/events-retry/")
        .await;
    let first = ingest_with(id, S3Store::new(env.s3.clone()))
        .ingest(kinesis_fixture())
        .await
        .unwrap();
    let before = env.keys(&env.config.raw_bucket, &format!("{id}/")).await;
    let rows_before = raw_rows(id, "retry-1").await;
    // The same batch again, from a cold container (no warm Glue cache) and a warm one.
    for attempt in 0..2 {
        let handler = ingest_with(id, S3Store::new(env.s3.clone()));
        let again = handler.ingest(kinesis_fixture()).await.unwrap();
        assert_eq!(again.written, first.written);
        let names: Vec<&str> = again.outputs.iter().map(|o| o.key.as_str()).collect();
        let first_names: Vec<&str> = first.outputs.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(names, first_names, "attempt {attempt}: same object names");
        assert_eq!(again.quarantine, first.quarantine);
    }
    assert_eq!(
        env.keys(&env.config.raw_bucket, &format!("{id}/")).await,
        before
    );
    assert_eq!(raw_rows(id, "retry-2").await, rows_before, "no duplicates");
    assert_eq!(glue_partitions(id).await.len(), 2);
}

/// S3 with an injected fault: puts of keys containing the pattern fail as S3 throttling does.
#[derive(Clone)]
struct Faulty {
    inner: S3Store,
    poison: Arc<Mutex<Option<String>>>,
}

impl ObjectStore for Faulty {
    async fn head(&self, b: &str, k: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.inner.head(b, k).await
    }
    async fn get(&self, b: &str, k: &str, m: Option<&str>) -> Result<ObjectBody, StorageError> {
        self.inner.get(b, k, m).await
    }
    async fn get_range(&self, b: &str, k: &str, s: u64, e: u64) -> Result<Bytes, StorageError> {
        self.inner.get_range(b, k, s, e).await
    }
    async fn put(&self, b: &str, k: &str, body: Bytes, ct: &str) -> Result<(), StorageError> {
        let poisoned = self
            .poison
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|p| k.contains(p.as_str()));
        if poisoned {
            return Err(StorageError::Aws(AwsError {
                operation: format!("s3:PutObject s3://{b}/{k}"),
                code: Some("SlowDown".into()),
                status: Some(503),
                message: "SlowDown: injected by the test".into(),
                retryable: true,
            }));
        }
        self.inner.put(b, k, body, ct).await
    }
    async fn copy(&self, sb: &str, sk: &str, db: &str, dk: &str) -> Result<(), StorageError> {
        self.inner.copy(sb, sk, db, dk).await
    }
    async fn delete(&self, b: &str, k: &str) -> Result<(), StorageError> {
        self.inner.delete(b, k).await
    }
    async fn list(&self, b: &str, p: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(b, p).await
    }
    async fn create_multipart(&self, b: &str, k: &str, ct: &str) -> Result<String, StorageError> {
        self.inner.create_multipart(b, k, ct).await
    }
    async fn upload_part(
        &self,
        b: &str,
        k: &str,
        id: &str,
        n: i32,
        body: Bytes,
    ) -> Result<String, StorageError> {
        self.inner.upload_part(b, k, id, n, body).await
    }
    async fn complete_multipart(
        &self,
        b: &str,
        k: &str,
        id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), StorageError> {
        self.inner.complete_multipart(b, k, id, parts).await
    }
    async fn abort_multipart(&self, b: &str, k: &str, id: &str) -> Result<(), StorageError> {
        self.inner.abort_multipart(b, k, id).await
    }
}

/// A record of the fixture's shard with another payload and sequence number.
fn record(template: &KinesisBatchRecord, n: u32, payload: &str) -> KinesisBatchRecord {
    let seq = format!("4959033827149025660855969253836157109592157598913660{n:04}");
    let mut r = template.clone();
    r.kinesis.sequence_number = seq.clone();
    r.event_id = Some(format!("{SHARD}:{seq}"));
    r.kinesis.data.0 = payload.as_bytes().to_vec();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_record_fails_only_itself_and_the_later_ones() {
    let env = env();
    let id = "web.events_poison";
    env.declare_variant("web.events", id, "web/events-poison/")
        .await;
    let template = kinesis_fixture().records.remove(0);
    let ev = |n: u32, hour: u32| {
        format!(
            "{{\"event_id\":\"evt-{n}\",\"event_type\":\"click\",\"user_id\":\"u-{n}\",\"ts\":\"2024-01-15T{hour}:30:00Z\"}}"
        )
    };
    // a (10h), b (11h: its object cannot be written), c (10h), bad record, d (12h).
    let records = vec![
        record(&template, 0, &ev(1, 10)),
        record(&template, 1, &ev(2, 11)),
        record(&template, 2, &ev(3, 10)),
        record(&template, 3, "{\"event_id\": oops}"),
        record(&template, 4, &ev(4, 12)),
    ];
    let seq: Vec<String> = records
        .iter()
        .map(|r| r.kinesis.sequence_number.clone())
        .collect();
    let event = KinesisBatch { records };
    let store = Faulty {
        inner: S3Store::new(env.s3.clone()),
        poison: Arc::new(Mutex::new(Some("hour=11".into()))),
    };
    let handler = ingest_with(id, store.clone());
    let response = handler
        .handle(event.clone())
        .await
        .expect("a partial failure is not an error");
    // b and everything after it are retried; a is done.
    let failures: Vec<Value> = serde_json::to_value(&response).unwrap()["batchItemFailures"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        failures,
        seq[1..]
            .iter()
            .map(|s| json!({ "itemIdentifier": s }))
            .collect::<Vec<_>>()
    );
    // The 10h object was written with a and c, then rewritten without c (c is retried).
    let hour10 = format!(
        "{id}/year=2024/month=01/day=15/hour=10/{STREAM}-{SHARD}-{}.parquet",
        seq[0]
    );
    assert_eq!(
        env.keys(&env.config.raw_bucket, &format!("{id}/")).await,
        vec![hour10.clone()]
    );
    let ids = |rows: Vec<Vec<Value>>| rows.into_iter().map(|r| r[4].clone()).collect::<Vec<_>>();
    assert_eq!(ids(raw_rows(id, "poison-1").await), vec![json!("evt-1")]);
    assert!(
        env.keys(&env.config.quarantine_bucket, &format!("{id}/"))
            .await
            .is_empty(),
        "the bad record comes after the cut-off"
    );
    assert_eq!(glue_partitions(id).await.len(), 1);

    // Lambda retries from b with the fault gone: everything lands exactly once.
    *store.poison.lock().unwrap() = None;
    let mut retry = event.clone();
    retry.records.remove(0);
    let summary = handler.ingest(retry).await.unwrap();
    reconciles(&summary);
    assert!(summary.batch_item_failures.is_empty());
    assert_eq!((summary.written, summary.quarantined), (3, 1));
    assert_eq!(
        ids(raw_rows(id, "poison-2").await),
        vec![
            json!("evt-1"),
            json!("evt-2"),
            json!("evt-3"),
            json!("evt-4")
        ],
        "no duplicates, nothing lost"
    );
    assert_eq!(
        env.keys(&env.config.raw_bucket, &format!("{id}/"))
            .await
            .len(),
        4,
        "10h twice (a; c), 11h, 12h"
    );
    assert_eq!(glue_partitions(id).await.len(), 3);
    assert_eq!(
        env.keys(&env.config.quarantine_bucket, &format!("{id}/kinesis/"))
            .await
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_dataset_is_a_fatal_error() {
    let env = env();
    let err = ingest_with("no.such.dataset", S3Store::new(env.s3.clone()))
        .ingest(kinesis_fixture())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
    assert!(err.to_string().contains("no.such.dataset"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_records_are_not_bound_by_the_firehose_record_limit() {
    let env = env();
    let id = "web.events_large";
    env.declare_variant("web.events", id, "web/events-large/")
        .await;
    let template = kinesis_fixture().records.remove(0);
    let pad = "x".repeat(1_100_000);
    let payload = format!(
        "{{\"event_id\":\"big\",\"event_type\":\"click\",\"user_id\":\"u\",\"ts\":\"2024-01-15T10:00:00Z\",\"ctx\":\"{pad}\"}}"
    );
    let event = KinesisBatch {
        records: vec![record(&template, 9, &payload)],
    };
    let summary = ingest_with(id, S3Store::new(env.s3.clone()))
        .ingest(event)
        .await
        .unwrap();
    assert_eq!(
        (summary.written, summary.quarantined),
        (1, 0),
        "{summary:?}"
    );
}
