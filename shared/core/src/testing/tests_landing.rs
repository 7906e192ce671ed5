//! Landing over in-memory ports: what is refused before anything is read, what is checked before
//! anything is copied or registered, and the caps that quarantine a file instead of running out
//! of time. Each case checks that nothing is lost (the object is in quarantine with a reason) or
//! that nothing was written at all (refusals).

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{MemGlue, MemStore};
use crate::catalog::memtable::MemTable;
use crate::catalog::{Catalog, Dataset, DatasetCatalog};
use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::ingest::convert::ConvertError;
use crate::ingest::landing::{Landing, LandingError};
use crate::model::schema::{Column, ColumnType, TableSchema};
use crate::storage::StorageError;

const LANDING: &str = "landing";
const CLEAN: &str = "clean";
const QUARANTINE: &str = "quarantine";
const RAW: &str = "raw";

struct Fixture {
    store: MemStore,
    catalog: Catalog<MemTable>,
    ledger: MemTable,
    glue: MemGlue,
    landing: Landing<MemStore, Catalog<MemTable>, MemGlue>,
}

fn config(tune: impl Fn(&mut Config)) -> Arc<Config> {
    let mut c = Config::from_lookup(|name| {
        Some(
            match name {
                crate::config::LANDING_BUCKET => LANDING,
                crate::config::CLEAN_BUCKET => CLEAN,
                crate::config::QUARANTINE_BUCKET => QUARANTINE,
                crate::config::RAW_BUCKET => RAW,
                crate::config::CURATED_BUCKET => "curated",
                crate::config::CATALOG_TABLE => "catalog",
                crate::config::LEDGER_TABLE => "ledger",
                crate::config::GLUE_DATABASE => "lake",
                _ => return None,
            }
            .to_string(),
        )
    })
    .expect("config");
    tune(&mut c);
    Arc::new(c)
}

fn employees_schema() -> TableSchema {
    let col = |name: &str, ty, nullable| Column {
        name: name.into(),
        ty,
        nullable,
    };
    TableSchema {
        columns: vec![
            col("employee_id", ColumnType::Int64, false),
            col("name", ColumnType::String, true),
            col("salary", ColumnType::Double, true),
        ],
    }
}

/// `hr.employees` declared with a schema and no format, under `hr/employees/`.
fn dataset(format: Option<&str>) -> Dataset {
    let mut ds: Dataset = serde_json::from_value(json!({
        "id": "hr.employees",
        "landing_prefix": "hr/employees/",
        "primary_key": ["employee_id"],
    }))
    .unwrap();
    ds.schema = Some(employees_schema());
    ds.source.format = format.map(str::to_string);
    ds
}

async fn fixture(ds: Dataset, tune: impl Fn(&mut Config)) -> Fixture {
    let store = MemStore::with_buckets(&[LANDING, CLEAN, QUARANTINE, RAW, "foreign"]);
    let catalog_table = MemTable::new("catalog");
    let ledger = catalog_table.sibling("ledger");
    let catalog = Catalog::with_tables(catalog_table, ledger.clone());
    catalog.declare(&ds).await.expect("declare");
    let glue = MemGlue::new();
    let landing = Landing::new(store.clone(), catalog.clone(), glue.clone(), config(tune));
    Fixture {
        store,
        catalog,
        ledger,
        glue,
        landing,
    }
}

fn s3_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}]})
}

fn first(out: &Value) -> &Value {
    &out["objects"][0]
}

/// The quarantine report of `key` (JSON), if one was written.
fn report(f: &Fixture, key: &str) -> Option<Value> {
    f.store
        .keys(QUARANTINE)
        .into_iter()
        .find(|k| k.contains(key) && k.ends_with(".report.json"))
        .map(|k| serde_json::from_slice(&f.store.object(QUARANTINE, &k).unwrap()).unwrap())
}

fn parquet_file(schema: &TableSchema, rows: usize) -> Vec<u8> {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    let arrays: Vec<ArrayRef> = schema
        .columns
        .iter()
        .map(|c| -> ArrayRef {
            match c.ty {
                ColumnType::Int64 => Arc::new(Int64Array::from_iter_values(0..rows as i64)),
                ColumnType::Double => {
                    Arc::new(Float64Array::from_iter_values((0..rows).map(|i| i as f64)))
                }
                _ => Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("v{i}")),
                )),
            }
        })
        .collect();
    let batch = arrow::record_batch::RecordBatch::try_new(schema.arrow(), arrays).unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const CSV: &str = "employee_id,name,salary\n1,Ada,10.5\n2,Grace,20\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_for_other_buckets_are_refused_before_anything_is_read() {
    let f = fixture(dataset(None), |_| {}).await;
    for bucket in ["foreign", CLEAN] {
        f.store.insert(bucket, "hr/employees/a.csv", CSV);
        let err = f
            .landing
            .handle(s3_event(bucket, "hr/employees/a.csv"))
            .await
            .expect_err("refused");
        assert!(
            matches!(err, LandingError::ForeignBucket { .. }),
            "{bucket}: {err}"
        );
        assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
        assert!(err.to_string().contains("reads only \"landing\""), "{err}");
    }
    // A batch with one foreign record is refused whole: nothing read, nothing recorded.
    f.store.insert(LANDING, "hr/employees/b.csv", CSV);
    let mixed = json!({"Records": [
        s3_event(LANDING, "hr/employees/b.csv")["Records"][0],
        s3_event("foreign", "hr/employees/a.csv")["Records"][0],
    ]});
    f.landing.handle(mixed).await.expect_err("refused");
    let written: Vec<String> = f
        .store
        .keys(CLEAN)
        .into_iter()
        .filter(|k| k.ends_with(".parquet"))
        .collect();
    assert!(written.is_empty(), "{written:?}");
    assert!(f.store.keys(QUARANTINE).is_empty());
    assert!(
        f.ledger.items().is_empty(),
        "ledger: {:?}",
        f.ledger.items()
    );
    // The landing bucket itself is processed.
    let out = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/b.csv"))
        .await
        .expect("landed");
    assert_eq!(first(&out)["status"], "converted", "{out:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_landing_bucket_is_an_error_not_a_missing_object() {
    let mut f = fixture(dataset(None), |_| {}).await;
    let store = MemStore::with_buckets(&[CLEAN, QUARANTINE]);
    f.landing = Landing::new(store, f.catalog.clone(), f.glue.clone(), config(|_| {}));
    let err = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/a.csv"))
        .await
        .expect_err("an error");
    let LandingError::Object { source, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(
            **source,
            LandingError::Storage(StorageError::NoSuchBucket { .. })
        ),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Fatal);
    // A missing object in an existing bucket is still `missing`.
    let f = fixture(dataset(None), |_| {}).await;
    let out = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/gone.csv"))
        .await
        .unwrap();
    assert_eq!(first(&out)["status"], "missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_parquet_file_that_conflicts_with_the_declaration_cannot_poison_the_table() {
    let f = fixture(dataset(None), |_| {}).await;
    // The key and the salary as strings: the declaration says int64 and double.
    let bad = TableSchema {
        columns: ["employee_id", "name", "salary"]
            .iter()
            .map(|n| Column {
                name: n.to_string(),
                ty: ColumnType::String,
                nullable: true,
            })
            .collect(),
    };
    f.store
        .insert(LANDING, "hr/employees/first.parquet", parquet_file(&bad, 5));
    let out = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/first.parquet"))
        .await
        .unwrap();
    let o = first(&out);
    assert_eq!(o["status"], "quarantined", "{out:#}");
    let reason = o["reason"].as_str().unwrap();
    assert!(
        reason.contains("does not match the declared schema of hr.employees")
            && reason.contains("column employee_id is string in the file but declared bigint")
            && reason.contains("column salary is string in the file but declared double"),
        "{reason}"
    );
    assert!(f.store.keys(CLEAN).is_empty(), "nothing copied");
    assert!(f.glue.table("hr_employees").is_none(), "no table created");
    assert!(report(&f, "first.parquet").is_some(), "a report");
    // Conforming files land afterwards: the table follows the declaration.
    f.store.insert(LANDING, "hr/employees/a.csv", CSV);
    let out = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/a.csv"))
        .await
        .unwrap();
    assert_eq!(first(&out)["status"], "converted", "{out:#}");
    f.store.insert(
        LANDING,
        "hr/employees/good.parquet",
        parquet_file(&employees_schema(), 3),
    );
    let out = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/good.parquet"))
        .await
        .unwrap();
    assert_eq!(first(&out)["status"], "copied", "{out:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_file_under_a_csv_dataset_is_quarantined_with_an_accurate_reason() {
    let f = fixture(dataset(Some("csv")), |_| {}).await;
    f.store.insert(
        LANDING,
        "hr/employees/oops.csv",
        parquet_file(&employees_schema(), 3),
    );
    let out = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/oops.csv"))
        .await
        .unwrap();
    let o = first(&out);
    assert_eq!(o["status"], "quarantined", "{out:#}");
    let reason = o["reason"].as_str().unwrap();
    assert!(reason.contains("the file is Parquet"), "{reason}");
    assert!(!reason.contains("header"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompression_past_the_caps_quarantines_the_file_with_its_own_reason() {
    // The size cap: 1 MiB decompressed at most.
    let f = fixture(dataset(None), |c| {
        c.landing.max_decompressed_bytes = 1 << 20
    })
    .await;
    let mut big = String::from("employee_id,name,salary\n");
    for i in 0..60_000 {
        big.push_str(&format!("{i},name {i},{i}.5\n"));
    }
    f.store
        .insert(LANDING, "hr/employees/big.csv.gz", gzip(big.as_bytes()));
    let out = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/big.csv.gz"))
        .await
        .unwrap();
    let o = first(&out);
    assert_eq!(o["status"], "quarantined", "{out:#}");
    assert!(
        o["reason"]
            .as_str()
            .unwrap()
            .contains("decompressed size exceeds the cap of 1048576 bytes"),
        "{out:#}"
    );
    assert!(f.store.keys(CLEAN).is_empty(), "nothing published");
    // The ratio cap: a gzip bomb (zeros) stops after the first 64 MiB, whatever the size cap.
    let f = fixture(dataset(None), |_| {}).await;
    let mut bomb = b"employee_id,name,salary\n1,".to_vec();
    bomb.resize(80 << 20, b'0');
    let packed = gzip(&bomb);
    f.store.insert(LANDING, "hr/employees/bomb.csv.gz", packed);
    let out = f
        .landing
        .handle(s3_event(LANDING, "hr/employees/bomb.csv.gz"))
        .await
        .unwrap();
    let o = first(&out);
    assert_eq!(o["status"], "quarantined", "{out:#}");
    assert!(
        o["reason"]
            .as_str()
            .unwrap()
            .contains("compression ratio exceeds the cap of 200:1"),
        "{out:#}"
    );
    let r = report(&f, "bomb.csv.gz").expect("report");
    assert!(r.to_string().contains("compression ratio"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_deadline_nothing_starts_and_the_error_is_retryable() {
    let f = fixture(dataset(None), |_| {}).await;
    f.store.insert(LANDING, "hr/employees/a.csv", CSV);
    let err = f
        .landing
        .handle_until(
            s3_event(LANDING, "hr/employees/a.csv"),
            Some(Instant::now()),
        )
        .await
        .expect_err("stopped");
    assert!(
        matches!(err, LandingError::Convert(ConvertError::OutOfTime)),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Retryable);
    assert!(f.store.keys(CLEAN).is_empty() && f.ledger.items().is_empty());
    // With time left, the same event lands.
    let out = f
        .landing
        .handle_until(
            s3_event(LANDING, "hr/employees/a.csv"),
            Some(Instant::now() + Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(first(&out)["status"], "converted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_register_refuses_buckets_that_are_not_zones() {
    use crate::tables::register::{PartitionRegister, RegisterError};
    let f = fixture(dataset(None), |_| {}).await;
    f.store.insert(
        "foreign",
        "hr.employees/ingest_date=2024-01-01/x.parquet",
        parquet_file(&employees_schema(), 2),
    );
    let register = PartitionRegister::new(
        f.store.clone(),
        f.catalog.clone(),
        f.glue.clone(),
        config(|_| {}),
    );
    for event in [
        s3_event("foreign", "hr.employees/ingest_date=2024-01-01/x.parquet"),
        s3_event(LANDING, "hr/employees/a.csv"),
        json!({"bucket": "foreign", "partitions": ["hr.employees/ingest_date=2024-01-01/"]}),
    ] {
        let err = register.handle(event.clone()).await.expect_err("refused");
        assert!(
            matches!(err, RegisterError::ForeignBucket { .. }),
            "{event}: {err}"
        );
        assert_eq!(err.kind(), ErrorKind::BadInput);
    }
    assert!(f.glue.table("hr_employees").is_none(), "nothing registered");
}
