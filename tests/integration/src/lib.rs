//! Test harness: a private moto server per test binary, started through `scripts/local_aws.py`
//! (the same script the demo uses, so resource names match template.yaml), stopped at process
//! exit. Nothing listens on anything but 127.0.0.1, and the process environment is never mutated:
//! the server's variables are kept in [`TestEnv::vars`] and passed explicitly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use tributary::catalog::Dataset;
use tributary::config::Config;
use tributary::ingest::landing::Landing;
use tributary::tables::register::PartitionRegister;
use tributary_aws::dynamo::{DynamoCatalog, DynamoSnapshots};
use tributary_aws::{GlueCatalog, S3Store};

pub mod flows;
pub mod sfn;
pub mod snapshots;
pub mod watch;

/// The bundled DMS sample (tests/data/landing/dms/HR/EMPLOYEES), in time order: two full-load
/// files, then three CDC files with repeated keys, deletes, re-inserts, a department transfer and
/// bad rows.
pub const DMS_SAMPLE_FILES: [&str; 5] = [
    "LOAD00000001.csv",
    "LOAD00000002.csv",
    "2024/11/05/20241105-134501123.csv",
    "2024/11/05/20241105-140002456.csv",
    "2024/11/06/20241106-090000000.csv",
];

pub struct TestEnv {
    pub vars: HashMap<String, String>,
    pub config: Arc<Config>,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub state_dir: PathBuf,
}

static ENV: OnceLock<TestEnv> = OnceLock::new();
static STATE_DIR: OnceLock<PathBuf> = OnceLock::new();

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn venv_python() -> PathBuf {
    repo_root().join(".venv/bin/python")
}

extern "C" fn stop_moto() {
    if let Some(dir) = STATE_DIR.get() {
        let _ = Command::new(venv_python())
            .arg(repo_root().join("scripts/local_aws.py"))
            .args(["down", "--state-dir"])
            .arg(dir)
            .status();
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn start_moto() -> (PathBuf, HashMap<String, String>) {
    let root = repo_root();
    let status = Command::new("bash")
        .arg(root.join("scripts/bootstrap.sh"))
        .status()
        .expect("run scripts/bootstrap.sh");
    assert!(status.success(), "scripts/bootstrap.sh failed");
    let dir = root.join("target/test-moto").join(format!(
        "{}-{}",
        std::process::id(),
        env!("CARGO_CRATE_NAME")
    ));
    STATE_DIR.set(dir.clone()).expect("moto started once");
    // SAFETY: registering a plain extern "C" function with no captured state.
    unsafe { libc::atexit(stop_moto) };
    let out = Command::new(venv_python())
        .arg(root.join("scripts/local_aws.py"))
        .args(["up", "--state-dir"])
        .arg(&dir)
        .output()
        .expect("run scripts/local_aws.py up");
    assert!(
        out.status.success(),
        "local_aws.py up failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("env")).expect("env file written by local_aws.py");
    let vars = text
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect();
    (dir, vars)
}

/// The shared test environment (starts moto on first use).
pub fn env() -> &'static TestEnv {
    ENV.get_or_init(|| {
        let (state_dir, vars) = start_moto();
        let config = Arc::new(
            Config::from_lookup(|k| vars.get(k).cloned())
                .expect("config from the local stack's env"),
        );
        let endpoint = vars["AWS_ENDPOINT_URL"].clone();
        let region = Region::new(
            vars.get("AWS_REGION")
                .cloned()
                .unwrap_or_else(|| "us-east-1".into()),
        );
        let creds = Credentials::new("test", "test", None, None, "tributary-tests");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .endpoint_url(&endpoint)
                .region(region.clone())
                .credentials_provider(creds.clone())
                .force_path_style(true)
                .build(),
        );
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version_latest()
                .endpoint_url(&endpoint)
                .region(region.clone())
                .credentials_provider(creds.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version_latest()
                .endpoint_url(&endpoint)
                .region(region)
                .credentials_provider(creds)
                .build(),
        );
        TestEnv {
            vars,
            config,
            s3,
            dynamodb,
            sqs,
            state_dir,
        }
    })
}

impl TestEnv {
    pub fn landing(&self) -> Landing<S3Store, DynamoCatalog, GlueCatalog> {
        self.landing_with(self.config.clone())
    }

    /// The landing handler over this emulator with another configuration.
    pub fn landing_with(
        &self,
        config: std::sync::Arc<tributary::config::Config>,
    ) -> Landing<S3Store, DynamoCatalog, GlueCatalog> {
        Landing::new(
            S3Store::new(self.s3.clone()),
            self.catalog(),
            GlueCatalog::new(self.glue(), &self.config.glue_database),
            config,
        )
    }

    /// The partition-register handler over this emulator.
    pub fn register(&self) -> PartitionRegister<S3Store, DynamoCatalog, GlueCatalog> {
        PartitionRegister::new(
            S3Store::new(self.s3.clone()),
            self.catalog(),
            GlueCatalog::new(self.glue(), &self.config.glue_database),
            self.config.clone(),
        )
    }

    /// The compactor over this emulator, with `tuning`.
    pub fn compactor(
        &self,
        tuning: tributary::config::CompactionTuning,
    ) -> tributary::compaction::Compactor<S3Store, DynamoCatalog, GlueCatalog, DynamoSnapshots>
    {
        tributary::compaction::Compactor::new(
            S3Store::new(self.s3.clone()),
            self.catalog(),
            GlueCatalog::new(self.glue(), &self.config.glue_database),
            tributary_aws::dynamo::snapshots(self.dynamodb.clone(), &self.config.catalog_table),
            self.config.clone(),
            tuning,
        )
    }

    /// A compactor whose lease, publication and retirement times all come from `clock` (a manual
    /// clock lets a test expire a lease without sleeping).
    pub fn compactor_at(
        &self,
        tuning: tributary::config::CompactionTuning,
        clock: tributary::clock::SharedClock,
    ) -> tributary::compaction::Compactor<S3Store, DynamoCatalog, GlueCatalog, DynamoSnapshots>
    {
        tributary::compaction::Compactor::new(
            S3Store::new(self.s3.clone()),
            self.catalog(),
            GlueCatalog::new(self.glue(), &self.config.glue_database),
            tributary_aws::dynamo::snapshots(self.dynamodb.clone(), &self.config.catalog_table)
                .with_clock(clock.clone()),
            self.config.clone(),
            tuning,
        )
        .with_clock(clock)
    }

    /// A Glue client for this test binary's emulator.
    pub fn glue(&self) -> aws_sdk_glue::Client {
        let conf = aws_sdk_glue::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.vars["AWS_ENDPOINT_URL"])
            .region(aws_sdk_glue::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_glue::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .build();
        aws_sdk_glue::Client::from_conf(conf)
    }

    pub fn catalog(&self) -> DynamoCatalog {
        tributary_aws::dynamo::catalog(
            self.dynamodb.clone(),
            &self.config.catalog_table,
            &self.config.ledger_table,
        )
    }

    pub async fn put(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.into()))
            .send()
            .await
            .expect("put_object");
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let o = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get s3://{bucket}/{key}: {e:?}"));
        o.body.collect().await.expect("body").into_bytes().to_vec()
    }

    pub async fn exists(&self, bucket: &str, key: &str) -> bool {
        self.s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .is_ok()
    }

    pub async fn list(&self, bucket: &str, prefix: &str) -> Vec<(String, i64)> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list");
        out.contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap_or_default().to_string(),
                    o.size().unwrap_or(0),
                )
            })
            .collect()
    }

    /// The keys under `prefix` of `bucket`.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.list(bucket, prefix)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }

    /// Uploads a bundled sample file (tests/data/landing/<key>) to the landing bucket at `key`.
    pub async fn land_sample(&self, key: &str) -> Vec<u8> {
        self.land_sample_as(key, key).await
    }

    /// Uploads the bundled sample `sample` to the landing bucket under another key.
    pub async fn land_sample_as(&self, sample: &str, key: &str) -> Vec<u8> {
        let data = std::fs::read(repo_root().join("tests/data/landing").join(sample))
            .expect("sample file");
        self.put(&self.config.landing_bucket, key, data.clone())
            .await;
        data
    }

    /// Declares the bundled sample dataset `id` (tests/data/datasets.json).
    pub async fn declare_sample(&self, id: &str) -> Dataset {
        self.declare(sample_dataset(id)).await
    }

    /// Declares a copy of sample dataset `id` under another id and landing prefix, so tests that
    /// check a dataset's stats do not share them with concurrently running tests.
    pub async fn declare_variant(&self, id: &str, new_id: &str, prefix: &str) -> Dataset {
        let mut ds = sample_dataset(id);
        ds.id = new_id.into();
        ds.landing_prefix = prefix.into();
        self.declare(ds).await
    }

    /// Declares `ds` through the catalog (record, routes, index).
    pub async fn declare(&self, ds: Dataset) -> Dataset {
        tributary::catalog::DatasetCatalog::declare(&self.catalog(), &ds)
            .await
            .expect("declare");
        ds
    }

    /// Reads a catalog item's numeric attribute.
    pub async fn stat(&self, dataset: &str, attr: &str) -> Option<u64> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.config.catalog_table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(tributary::catalog::keys::dataset_pk(
                    dataset,
                )),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(
                    tributary::catalog::keys::STATS_SK.into(),
                ),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("get stats");
        out.item()?.get(attr)?.as_n().ok()?.parse().ok()
    }

    /// Downloads objects into a fresh temp dir (keeping their keys) for an independent reader.
    pub async fn download(&self, bucket: &str, keys: &[String], tag: &str) -> PathBuf {
        let dir = repo_root()
            .join("target/test-downloads")
            .join(format!("{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for k in keys {
            let path = dir.join(k);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, self.get(bucket, k).await).unwrap();
        }
        dir
    }
}

/// A declaration from tests/data/datasets.json.
pub fn sample_dataset(id: &str) -> Dataset {
    let all: Vec<Dataset> = serde_json::from_slice(
        &std::fs::read(repo_root().join("tests/data/datasets.json")).expect("datasets.json"),
    )
    .expect("datasets.json parses");
    all.into_iter()
        .find(|d| d.id == id)
        .unwrap_or_else(|| panic!("no sample dataset {id}"))
}

/// Loads an `events/` fixture.
pub fn fixture(name: &str) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events").join(name)).expect("fixture"),
    )
    .expect("fixture JSON")
}

/// Runs a DuckDB query in the project's venv (an independent Parquet reader) and returns its rows
/// as JSON values.
pub fn duckdb(sql: &str) -> Vec<Vec<serde_json::Value>> {
    let script = "import duckdb, json, sys\nrel = duckdb.sql(sys.argv[1])\nrows = rel.fetchall() if rel is not None else []\nprint(json.dumps([[v if isinstance(v,(int,float,str,type(None),bool)) else str(v) for v in r] for r in rows]))";
    let out = Command::new(venv_python())
        .args(["-c", script, sql])
        .output()
        .expect("run duckdb");
    assert!(
        out.status.success(),
        "duckdb failed for {sql}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("duckdb JSON")
}

/// A Parquet file written by DuckDB (an independent writer) from a query.
pub fn parquet_from_sql(sql: &str) -> Vec<u8> {
    let dir = repo_root().join("target/test-downloads");
    std::fs::create_dir_all(&dir).unwrap();
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = dir.join(format!(
        "gen-{}-{}.parquet",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    duckdb(&format!(
        "COPY ({sql}) TO '{}' (FORMAT parquet)",
        path.display()
    ));
    let data = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    data
}

/// The line numbers listed in a quarantine report's `rejections`.
pub fn rejection_lines(report: &serde_json::Value) -> Vec<u64> {
    report["rejections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["line"].as_u64())
        .collect()
}

/// Reads Parquet bytes into rows of display strings (NULL → empty string).
pub fn parquet_rows(data: Vec<u8>) -> (Vec<String>, Vec<Vec<String>>) {
    use arrow::util::display::array_value_to_string;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(data),
    )
    .unwrap();
    let schema = builder.schema().clone();
    let reader = builder.build().unwrap();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for r in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            String::new()
                        } else {
                            array_value_to_string(c, r).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    (names, rows)
}

/// Whether an input text value and an output display value denote the same value (numbers
/// compared numerically, timestamps as instants, everything else as text).
pub fn same_value(input: &str, output: &str) -> bool {
    if input == output {
        return true;
    }
    if let (Ok(a), Ok(b)) = (input.trim().parse::<f64>(), output.trim().parse::<f64>()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (
        tributary::model::schema::parse_timestamp(input.trim()),
        tributary::model::schema::parse_timestamp(output.trim()),
    ) {
        return a == b;
    }
    if let Some(b) = tributary::model::schema::parse_bool(output) {
        return tributary::model::schema::parse_bool(input) == Some(b);
    }
    false
}

/// An S3 notification as S3 sends it: the key URL-encoded (`+` for a space, `%XX` for other
/// bytes outside `[A-Za-z0-9-_.~/*]`).
pub fn s3_event(bucket: &str, key: &str) -> serde_json::Value {
    let mut encoded = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'*' => {
                encoded.push(b as char)
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    serde_json::json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": encoded, "size": 1}}}]})
}

/// `data`, gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// The stream functions' settings the Kinesis and Firehose fixtures expect, for dataset `id`.
pub fn stream_settings(id: &str) -> tributary::config::StreamConfig {
    tributary::config::StreamConfig {
        dataset: id.into(),
        time_field: None,
        renames: vec![("userId".into(), "user_id".into())],
        drop_if: vec![("event_type".into(), "heartbeat".into())],
    }
}

/// Asserts that a stream-ingest summary reconciles: records = written + dropped + quarantined +
/// retried.
pub fn reconciles(s: &tributary::stream::kinesis::IngestSummary) {
    assert_eq!(
        s.records,
        s.written + s.dropped + s.quarantined + s.retried,
        "counts reconcile: {s:?}"
    );
}
