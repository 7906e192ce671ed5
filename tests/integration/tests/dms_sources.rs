//! DMS sources as AWS DMS writes them, against the local emulator: Parquet typed the DMS way
//! (timestamps for Oracle DATEs, decimals, int32/int64, a string `Op`, a full load without `Op`)
//! sequenced exactly like the same rows as CSV; a column added mid-stream, in header, headerless
//! and Parquet files, delivered shuffled with a duplicate, compacted and read back through Glue
//! against the table the same files give in time order; and `strict` mode quarantining.
//!
//! The DMS-shaped files are written from the bundled fixtures (tests/data/landing/dms/HR/EMPLOYEES)
//! by `tests/integration/scripts/dms_shapes.py` with pyarrow, an independent Parquet writer.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use tributary::catalog::{DatasetCatalog, SchemaEvolution};
use tributary::compaction::curated_table_name;
use tributary::config::CompactionTuning;
use tributary::model::schema::{Column, ColumnType};
use tributary_integration::{duckdb, env, repo_root, sample_dataset, venv_python};

const FIXTURES: [&str; 5] = [
    "LOAD00000001.csv",
    "LOAD00000002.csv",
    "2024/11/05/20241105-134501123.csv",
    "2024/11/05/20241105-140002456.csv",
    "2024/11/06/20241106-090000000.csv",
];

/// A fresh local folder for generated files.
fn work_dir(tag: &str) -> PathBuf {
    let dir = repo_root()
        .join("target/test-downloads")
        .join(format!("{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Rewrites fixture `i` in DMS's shapes (see the script); returns the written file.
fn shape(dir: &std::path::Path, i: usize, parquet: bool, header: bool, bonus: bool) -> PathBuf {
    let src = repo_root()
        .join("tests/data/landing/dms/HR/EMPLOYEES")
        .join(FIXTURES[i]);
    let stem = FIXTURES[i]
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".csv");
    let out = dir.join(format!(
        "{stem}-{}{}.{}",
        u8::from(header),
        u8::from(bonus),
        if parquet { "parquet" } else { "csv" }
    ));
    let job = json!({
        "src": src,
        "csv_out": (!parquet).then(|| out.clone()),
        "parquet_out": parquet.then(|| out.clone()),
        "header": header,
        "bonus": bonus,
    });
    let run = Command::new(venv_python())
        .arg(repo_root().join("tests/integration/scripts/dms_shapes.py"))
        .arg(job.to_string())
        .output()
        .expect("run dms_shapes.py");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// The landing key of fixture `i` under `prefix` (`.parquet` for Parquet).
fn key_of(prefix: &str, i: usize, parquet: bool) -> String {
    let rel = FIXTURES[i];
    if parquet {
        format!("{prefix}{}.parquet", rel.trim_end_matches(".csv"))
    } else {
        format!("{prefix}{rel}")
    }
}

/// Uploads `file` at `key` and runs the DMS landing handler on it; its object summary.
async fn deliver(key: &str, file: Option<&PathBuf>) -> Value {
    let env = env();
    if let Some(f) = file {
        env.put(&env.config.landing_bucket, key, std::fs::read(f).unwrap())
            .await;
    }
    let out = env
        .landing()
        .dms_only()
        .handle(json!({ "bucket": env.config.landing_bucket, "key": key }))
        .await
        .expect("landing handler");
    out["objects"][0].clone()
}

async fn declare(id: &str, prefix: &str, bonus: bool, mode: SchemaEvolution) {
    let mut ds = sample_dataset("hr.employees_cdc");
    ds.id = id.into();
    ds.landing_prefix = prefix.into();
    ds.schema_evolution = mode;
    if bonus {
        ds.schema.as_mut().unwrap().columns.push(Column {
            name: "BONUS".into(),
            ty: ColumnType::Double,
            nullable: true,
        });
    }
    env().declare(ds).await;
}

/// Every raw-tier row of `id` as DuckDB reads it, ordered by `_seq` (without `_source_file`).
async fn raw_rows(id: &str, tag: &str) -> Vec<Vec<Value>> {
    let env = env();
    let keys: Vec<String> = env
        .list(&env.config.raw_bucket, &format!("{id}/"))
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(!keys.is_empty(), "no raw objects for {id}");
    let dir = env.download(&env.config.raw_bucket, &keys, tag).await;
    duckdb(&format!(
        "SELECT _op, _seq, CAST(_commit_ts AS VARCHAR), EMPLOYEE_ID, FIRST_NAME, LAST_NAME, EMAIL, \
         PHONE_NUMBER, CAST(HIRE_DATE AS VARCHAR), JOB_ID, SALARY, COMMISSION_PCT, MANAGER_ID, \
         DEPARTMENT_ID FROM read_parquet('{}/{id}/**/*.parquet', hive_partitioning = true) \
         ORDER BY _seq",
        dir.display()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dms_parquet_is_read_natively_and_matches_the_csv_path_row_by_row() {
    let dir = work_dir("dms-native");
    let (csv_id, csv_prefix) = ("dmsn.csv", "dmsn-csv/HR/EMPLOYEES/");
    let (pq_id, pq_prefix) = ("dmsn.pq", "dmsn-pq/HR/EMPLOYEES/");
    declare(csv_id, csv_prefix, false, SchemaEvolution::AddColumns).await;
    declare(pq_id, pq_prefix, false, SchemaEvolution::AddColumns).await;
    let mut written = 0;
    for (i, fixture) in FIXTURES.iter().enumerate() {
        let header = i == 2;
        let csv = shape(&dir, i, false, header, false);
        let pq = shape(&dir, i, true, header, false);
        let c = deliver(&key_of(csv_prefix, i, false), Some(&csv)).await;
        let p = deliver(&key_of(pq_prefix, i, true), Some(&pq)).await;
        assert_eq!(c["status"], "sequenced", "{c:#}");
        assert_eq!(p["status"], "sequenced", "{p:#}");
        for field in [
            "rows_read",
            "rows_written",
            "rows_rejected",
            "rows_by_op",
            "phase",
        ] {
            assert_eq!(c[field], p[field], "{field} of {}: {c:#} {p:#}", fixture);
        }
        // Oracle DATEs arrive as timestamps at midnight: nothing dropped, nothing rejected.
        assert!(p.get("values_truncated").is_none(), "{p:#}");
        written += p["rows_written"].as_u64().unwrap();
    }
    let from_csv = raw_rows(csv_id, "dmsn-c").await;
    let from_pq = raw_rows(pq_id, "dmsn-p").await;
    assert_eq!(from_csv.len() as u64, written);
    assert!(written > 25, "{written}");
    for (c, p) in from_csv.iter().zip(&from_pq) {
        assert_eq!(c, p);
    }
    assert_eq!(from_csv.len(), from_pq.len());
    // Spot checks of the types: a date from a timestamp, decimal commissions as doubles (the
    // full load's, then the 13:44 update's).
    let king = from_pq.iter().find(|r| r[3] == 100).unwrap();
    assert_eq!(king[8], "1987-06-17");
    let russell: Vec<&Value> = from_pq
        .iter()
        .filter(|r| r[3] == 145)
        .map(|r| &r[11])
        .collect();
    assert_eq!(russell, [&json!(0.4), &json!(0.45)]);
}

/// The files of the mid-stream scenario: BONUS appears with fixture 3 (CDC, 2024-11-05 13:55).
/// `(fixture, parquet, header, bonus)`.
const WITH_HEADERS: [(usize, bool, bool, bool); 5] = [
    (0, false, false, false), // full load, headerless CSV
    (1, true, false, false),  // full load, Parquet without Op
    (2, false, true, false),  // CDC, CSV with a header
    (3, false, true, true),   // CDC, CSV whose header adds BONUS
    (4, true, true, true),    // CDC, Parquet carrying BONUS
];
const HEADERLESS: [(usize, bool, bool, bool); 5] = [
    (0, false, false, false),
    (1, false, false, false),
    (2, false, false, false),
    (3, false, false, true),
    (4, false, false, true),
];
/// Delivery order: shuffled, with fixture 2 delivered twice.
const SHUFFLED: [usize; 6] = [4, 2, 0, 3, 2, 1];

/// Lands the scenario's files under `prefix` in `order`; the summaries.
async fn land(
    prefix: &str,
    files: &[(usize, bool, bool, bool)],
    order: &[usize],
    dir: &std::path::Path,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut sent = std::collections::HashSet::new();
    for &i in order {
        let (f, parquet, header, bonus) = files[i];
        let key = key_of(prefix, f, parquet);
        // A re-delivery is the same object version: uploaded once.
        let file = sent
            .insert(i)
            .then(|| shape(dir, f, parquet, header, bonus));
        out.push(deliver(&key, file.as_ref()).await);
    }
    out
}

/// Compacts `id` and reads its snapshot the way a query engine plans it: through the curated
/// Glue table's partitions. Rows `(EMPLOYEE_ID, SALARY, BONUS, DEPARTMENT_ID)`, sorted, and the
/// curated table's column names.
async fn compacted(
    id: &str,
    tag: &str,
) -> (Vec<(i64, Option<f64>, Option<f64>, String)>, Vec<String>) {
    let env = env();
    let tuning = CompactionTuning {
        lease_ttl: Duration::from_secs(2),
        grace: Duration::from_secs(3600),
        ..CompactionTuning::default()
    };
    let c = env
        .compactor(tuning)
        .handle(json!({ "table": id }))
        .await
        .expect("compact");
    assert_eq!(c["status"], "published", "{c:#}");
    let glue = env.glue();
    let table = glue
        .get_table()
        .database_name(&env.config.glue_database)
        .name(curated_table_name(id))
        .send()
        .await
        .expect("curated table");
    let columns: Vec<String> = table
        .table()
        .and_then(|t| t.storage_descriptor())
        .map(|sd| sd.columns().iter().map(|c| c.name().to_string()).collect())
        .unwrap_or_default();
    let selected = tributary_integration::snapshots::published_select(
        id,
        tag,
        "EMPLOYEE_ID, CAST(SALARY AS DOUBLE), CAST(BONUS AS DOUBLE)",
        "",
    )
    .await;
    let mut rows: Vec<_> = selected
        .into_iter()
        .map(|r| {
            (
                r[0].as_i64().unwrap(),
                r[1].as_f64(),
                r[2].as_f64(),
                r[3].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    (rows, columns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_added_mid_stream_loses_no_row_whatever_the_delivery_order() {
    let env = env();
    let dir = work_dir("dms-drift");
    // The expected table: BONUS declared from the start, files in time order.
    declare(
        "drift.ordered",
        "drift-ordered/HR/EMPLOYEES/",
        true,
        SchemaEvolution::AddColumns,
    )
    .await;
    let ordered = land(
        "drift-ordered/HR/EMPLOYEES/",
        &WITH_HEADERS,
        &[0, 1, 2, 3, 4],
        &dir,
    )
    .await;
    assert!(
        ordered.iter().all(|o| o["status"] == "sequenced"),
        "{ordered:#?}"
    );

    // Header and Parquet files: BONUS undeclared, added by the first file carrying it.
    let prefix = "drift-hdr/HR/EMPLOYEES/";
    declare("drift.hdr", prefix, false, SchemaEvolution::AddColumns).await;
    let got = land(prefix, &WITH_HEADERS, &SHUFFLED, &dir).await;
    let statuses: Vec<&str> = got.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "sequenced",
            "sequenced",
            "sequenced",
            "sequenced",
            "duplicate",
            "sequenced"
        ],
        "{got:#?}"
    );
    for (o, want) in got.iter().zip(SHUFFLED.map(|i| &ordered[i])) {
        if o["status"] == "sequenced" {
            assert_eq!(o["rows_written"], want["rows_written"], "{o:#}");
            assert_eq!(o["rows_rejected"], want["rows_rejected"], "{o:#}");
        }
    }
    // The declaration gained BONUS (double, from Parquet's decimal) as a new schema version.
    let ds = env.catalog().get("drift.hdr").await.unwrap().unwrap();
    let bonus = ds.schema.as_ref().unwrap().columns.last().unwrap();
    assert_eq!(
        (bonus.name.as_str(), bonus.ty, bonus.nullable),
        ("BONUS", ColumnType::Double, true)
    );
    let record =
        tributary::catalog::records::RecordStore::load(&env.catalog().records(), "drift.hdr")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        record.schemas.len(),
        2,
        "declared, then evolved: {:?}",
        record.schemas
    );

    // Headerless files: BONUS declared; files written before it lack the trailing field.
    let hl = "drift-hl/HR/EMPLOYEES/";
    declare("drift.hl", hl, true, SchemaEvolution::AddColumns).await;
    let got_hl = land(hl, &HEADERLESS, &SHUFFLED, &dir).await;
    for (o, want) in got_hl.iter().zip(SHUFFLED.map(|i| &ordered[i])) {
        if o["status"] != "duplicate" {
            assert_eq!(o["status"], "sequenced", "{o:#}");
            assert_eq!(o["rows_written"], want["rows_written"], "{o:#}");
        }
    }
    assert_eq!(
        got_hl.iter().filter(|o| o["status"] == "duplicate").count(),
        1
    );

    let (want, _) = compacted("drift.ordered", "drift-o").await;
    let (from_headers, columns) = compacted("drift.hdr", "drift-h").await;
    let (from_headerless, _) = compacted("drift.hl", "drift-l").await;
    assert!(
        columns.iter().any(|c| c.eq_ignore_ascii_case("BONUS")),
        "the curated Glue table carries BONUS: {columns:?}"
    );
    assert!(want.len() > 20, "{want:?}");
    assert_eq!(from_headers, want);
    assert_eq!(from_headerless, want);
    // Keys last changed before BONUS existed read NULL; later versions carry it.
    let row = |id: i64| want.iter().find(|r| r.0 == id).unwrap().clone();
    assert_eq!(row(100).2, None, "King: full load only");
    assert_eq!(
        row(207).2,
        Some(1040.25),
        "Lovelace: updated after BONUS was added"
    );
    assert_eq!(
        row(105).2,
        Some(480.25),
        "Austin moved to department 100 with a BONUS"
    );
    assert_eq!(row(105).3, "100");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_quarantines_a_file_with_an_undeclared_column() {
    let env = env();
    let dir = work_dir("dms-strict");
    let prefix = "drift-strict/HR/EMPLOYEES/";
    declare("drift.strict", prefix, false, SchemaEvolution::Strict).await;
    let got = land(prefix, &WITH_HEADERS, &[2, 3, 4], &dir).await;
    assert_eq!(got[0]["status"], "sequenced", "{:#}", got[0]);
    for o in &got[1..] {
        assert_eq!(o["status"], "quarantined", "{o:#}");
        let reason = o["reason"].as_str().unwrap();
        assert!(
            reason.contains("schema_evolution is strict") && reason.contains("BONUS double"),
            "{reason}"
        );
        assert!(!o["quarantine"].as_array().unwrap().is_empty(), "{o:#}");
    }
    let ds = env.catalog().get("drift.strict").await.unwrap().unwrap();
    assert!(
        ds.schema.unwrap().index_of("BONUS").is_none(),
        "strict: declaration unchanged"
    );
}
