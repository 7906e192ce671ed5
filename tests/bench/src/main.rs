//! Benchmarks. Each scenario generates its input, runs Tributary and a reference implementation on
//! the same input in the same run, and ends with one line `RESULT <scenario> key=value ...`.
//!
//! `cargo run --release -p tributary-bench -- landing`
//! `cargo run --release -p tributary-bench -- cdc-sequence`
//! `cargo run --release -p tributary-bench -- cdc-sequence-parquet` (the same rows as DMS Parquet)
//! `cargo run --release -p tributary-bench -- firehose`
//! `cargo run --release -p tributary-bench -- compaction` (see `compaction.rs`)
//!
//! Tributary's side runs in a child process (this binary, hidden subcommand) so its peak RSS
//! (`VmHWM`) is its own, not the generator's. The reference (DuckDB, `SET threads=1`) runs from the
//! project's venv (`scripts/bootstrap.sh` installs it).
//!
//! `firehose` runs in-process instead: it times whole Firehose batches (parse the event, transform,
//! serialise the response), median of many, against `tests/bench/firehose_reference.py` run by the
//! venv's python on the same event, and checks that both answer the same.

mod compaction;

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::value::RawValue;
use tributary::catalog::Dataset;
use tributary::config::LandingTuning;
use tributary::config::StreamConfig;
use tributary::ingest::cdc::{CdcSpec, DmsFile, sequence_csv, sequence_parquet};
use tributary::ingest::convert::{ConvertSpec, TextFormat, convert};
use tributary::storage::DirSinkFactory;
use tributary::stream::firehose::{self, FirehoseEvent, FirehoseRecord, MAX_RESPONSE_BYTES};
use tributary::stream::record::{MAX_RECORD_BYTES, RecordSpec};

mod search;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn work_dir(scenario: &str) -> PathBuf {
    let d = repo_root().join("target/bench").join(scenario);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Deterministic pseudo-random numbers (xorshift), so every run benchmarks the same bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FIRST: &[&str] = &[
    "Steven",
    "Neena",
    "Lex",
    "Alexander",
    "Bruce",
    "David",
    "Valli",
    "Diana",
    "Nancy",
    "Daniel",
    "John",
    "Ismael",
    "Luis",
    "Den",
    "Shelli",
    "Sigal",
    "Guy",
    "Karen",
];
const LAST: &[&str] = &[
    "King",
    "Kochhar",
    "De Haan",
    "Hunold",
    "Ernst",
    "Austin",
    "Pataballa",
    "Lorentz",
    "Greenberg",
    "Faviet",
    "Chen",
    "Sciarra",
    "Urman",
    "Popp",
    "Raphaely",
    "Khoo",
    "Baida",
    "Tobias",
];
const JOBS: &[&str] = &[
    "AD_PRES",
    "AD_VP",
    "IT_PROG",
    "FI_MGR",
    "FI_ACCOUNT",
    "PU_MAN",
    "PU_CLERK",
    "SA_REP",
    "ST_CLERK",
];

/// `FIRST_NAME,LAST_NAME,EMAIL,PHONE_NUMBER` of a generated employee, and a commission (or "").
fn person(rng: &mut Rng, id: u64) -> (String, String) {
    let f = FIRST[rng.below(FIRST.len() as u64) as usize];
    let l = LAST[rng.below(LAST.len() as u64) as usize];
    let commission = if rng.below(3) == 0 {
        format!("0.{}", 1 + rng.below(4))
    } else {
        String::new()
    };
    let person = format!(
        "{f},{l},{}{}{},515.{}.{:04}",
        &f[..1],
        l.to_uppercase().replace(' ', ""),
        id % 1000,
        100 + rng.below(900),
        rng.below(10000)
    );
    (person, commission)
}

/// `JOB_ID,SALARY,COMMISSION_PCT,MANAGER_ID,DEPARTMENT_ID` of a generated employee.
fn job(rng: &mut Rng, commission: &str) -> String {
    format!(
        "{},{}.{:02},{commission},{},{}",
        JOBS[rng.below(JOBS.len() as u64) as usize],
        2000 + rng.below(30000),
        rng.below(100),
        100 + rng.below(200),
        10 * (1 + rng.below(27)),
    )
}

/// Writes a DMS-like employees CSV of about `target_bytes` (reused when one of that size is there).
fn employees_csv(path: &Path, target_bytes: u64) -> u64 {
    if let Ok(m) = std::fs::metadata(path)
        && (target_bytes..target_bytes + 4096).contains(&m.len())
    {
        return m.len();
    }
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(w, "EMPLOYEE_ID,FIRST_NAME,LAST_NAME,EMAIL,PHONE_NUMBER,HIRE_DATE,JOB_ID,SALARY,COMMISSION_PCT,MANAGER_ID,DEPARTMENT_ID").unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut written = 0u64;
    let mut id = 100u64;
    while written < target_bytes {
        let (person, commission) = person(&mut rng, id);
        let hired = format!(
            "{}-{:02}-{:02}",
            1987 + rng.below(35),
            1 + rng.below(12),
            1 + rng.below(28)
        );
        let line = format!("{id},{person},{hired},{}\n", job(&mut rng, &commission));
        w.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        id += 1;
    }
    w.flush().unwrap();
    written
}

/// Writes a headerless DMS CDC file (`Op,dms_commit_ts,<employee columns>`) of about
/// `target_bytes`: changes to a pool of 200,000 keys (about 10% inserts, 80% updates, 10%
/// deletes), commit times increasing, dates as Oracle exports them (`6/7/94 0:00`).
fn cdc_csv(path: &Path, target_bytes: u64) -> u64 {
    if let Ok(m) = std::fs::metadata(path)
        && (target_bytes..target_bytes + 4096).contains(&m.len())
    {
        return m.len();
    }
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut written = 0u64;
    // 2024-11-05 13:00:00 UTC in µs.
    let mut ts: u64 = 1_730_811_600_000_000;
    while written < target_bytes {
        ts += 1 + rng.below(2_000);
        let (secs, micros) = (ts / 1_000_000, ts % 1_000_000);
        let (h, m, sec) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
        let day = 5 + secs / 86_400 - 1_730_764_800 / 86_400;
        let id = 100 + rng.below(200_000);
        let op = match rng.below(10) {
            0 => "I",
            9 => "D",
            _ => "U",
        };
        let (person, commission) = person(&mut rng, id);
        let hired = format!(
            "{}/{}/{:02} 0:00",
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(100)
        );
        let line = format!(
            "{op},2024-11-{day:02} {h:02}:{m:02}:{sec:02}.{micros:06},{id},{person},{hired},{}\n",
            job(&mut rng, &commission)
        );
        w.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
    }
    w.flush().unwrap();
    written
}

/// Child process: sequences `input` (CSV, or DMS Parquet when its name ends in `.parquet`) with
/// Tributary's CDC code, prints rows and peak RSS.
fn tributary_sequence(input: &Path, out: &Path) {
    let ds = sample_dataset("hr.employees_cdc");
    let parquet = input.extension().is_some_and(|e| e == "parquet");
    let key = if parquet {
        "dms/HR/EMPLOYEES/2024/11/05/20241105-134501123.parquet"
    } else {
        "dms/HR/EMPLOYEES/2024/11/05/20241105-134501123.csv"
    };
    let spec = CdcSpec {
        schema: ds.schema.expect("declared schema"),
        primary_key: ds.primary_key,
        partition_columns: ds.partition_columns,
        header: Some(false),
        delimiter: b',',
        timestamp_column: ds.source.timestamp_column,
        change_sequence_column: None,
        source_file: key.into(),
        file: DmsFile::parse(key).unwrap(),
        output_prefix: "hr.employees_cdc/".into(),
        output_stem: "bench".into(),
        reject_key: "hr.employees_cdc/bench.rejected.csv".into(),
        tuning: LandingTuning::default(),
        deadline: None,
    };
    let _ = std::fs::remove_dir_all(out);
    let sinks = DirSinkFactory {
        root: out.to_path_buf(),
    };
    let file = std::fs::File::open(input).unwrap();
    let report = if parquet {
        sequence_parquet(file, &spec, &sinks, &sinks)
    } else {
        sequence_csv(file, &spec, &sinks, &sinks)
    }
    .expect("sequencing");
    let bytes: u64 = report.base.outputs.iter().map(|o| o.bytes).sum();
    println!(
        "rows_read={} rows_written={} rows_rejected={} objects={} output_bytes={bytes} peak_rss_mib={:.1}",
        report.base.rows_read,
        report.base.rows_written,
        report.base.rows_rejected,
        report.base.outputs.len(),
        peak_rss_mib()
    );
}

fn sample_dataset(id: &str) -> Dataset {
    let datasets: Vec<Dataset> = serde_json::from_slice(
        &std::fs::read(repo_root().join("tests/data/datasets.json")).unwrap(),
    )
    .unwrap();
    datasets.into_iter().find(|d| d.id == id).unwrap()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Child process: converts `input` with Tributary's landing code, prints rows and peak RSS.
fn tributary_convert(input: &Path, out: &Path) {
    let ds = sample_dataset("hr.employees");
    let spec = ConvertSpec {
        format: TextFormat::Csv,
        delimiter: None,
        header: true,
        schema: ds.schema,
        partition_columns: vec![],
        static_partitions: vec![("ingest_date".into(), "2024-01-15".into())],
        output_prefix: "hr.employees/".into(),
        output_stem: "bench".into(),
        reject_key: "hr.employees/bench.rejected.csv".into(),
        tuning: LandingTuning::default(),
        deadline: None,
    };
    let _ = std::fs::remove_dir_all(out);
    let sinks = DirSinkFactory {
        root: out.to_path_buf(),
    };
    let report =
        convert(std::fs::File::open(input).unwrap(), &spec, &sinks, &sinks).expect("conversion");
    let bytes: u64 = report.outputs.iter().map(|o| o.bytes).sum();
    println!(
        "rows_read={} rows_written={} rows_rejected={} output_bytes={bytes} peak_rss_mib={:.1}",
        report.rows_read,
        report.rows_written,
        report.rows_rejected,
        peak_rss_mib()
    );
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

fn duckdb(sql_setup: &[&str], sql: &str) -> f64 {
    duckdb_query(sql_setup, sql).0
}

/// Runs `sql` after `sql_setup` in DuckDB; returns the seconds `sql` took and its first row
/// (as Python prints it).
fn duckdb_query(sql_setup: &[&str], sql: &str) -> (f64, String) {
    let py = venv_python();
    let mut script = String::from(
        "import duckdb, time, sys\ncon = duckdb.connect()\ncon.execute('SET enable_progress_bar=false')\n",
    );
    for s in sql_setup {
        script.push_str(&format!("con.execute({s:?})\n"));
    }
    script.push_str(&format!(
        "t = time.perf_counter()\nrow = con.execute({sql:?}).fetchone()\nprint(time.perf_counter() - t)\nprint(row)\n"
    ));
    let out = Command::new(py)
        .args(["-c", &script])
        .output()
        .expect("run DuckDB");
    assert!(
        out.status.success(),
        "DuckDB failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let secs = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("DuckDB timing");
    (secs, lines.next().unwrap_or_default().trim().to_string())
}

/// Bytes to generate: `TRIBUTARY_BENCH_BYTES`, else the scenario's default.
fn target_bytes(default: u64) -> u64 {
    std::env::var("TRIBUTARY_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs this binary's hidden subcommand `sub` on `input` in a child process; returns the
/// wall-clock seconds and the child's peak RSS in MiB.
fn run_child(sub: &str, input: &Path, out: &Path) -> (f64, f64) {
    // Warm the page cache equally for both sides.
    let _ = std::fs::read(input).map(|b| b.len());
    let me = std::env::current_exe().unwrap();
    let t = Instant::now();
    let child = Command::new(&me)
        .arg(sub)
        .arg(input)
        .arg(out)
        .output()
        .expect("child");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        child.status.success(),
        "tributary failed: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    let line = String::from_utf8_lossy(&child.stdout).trim().to_string();
    println!("tributary: {secs:.2}s {line}");
    let rss = field(&line, "peak_rss_mib")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (secs, rss)
}

fn announce(input: &Path, size: u64, t: Instant) {
    println!(
        "input: {} ({:.0} MiB, generated or reused in {:.1}s)",
        input.display(),
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
}

fn landing() {
    let dir = work_dir("landing");
    let input = dir.join("employees.csv");
    let t = Instant::now();
    let size = employees_csv(&input, target_bytes(1 << 30));
    announce(&input, size, t);
    let (trib_s, rss) = run_child("__landing-convert", &input, &dir.join("tributary-out"));
    let duck_out = dir.join("duckdb-out.parquet");
    let duck_s = duckdb(
        &["SET threads=1"],
        &format!(
            "COPY (SELECT * FROM read_csv('{}', header=true)) TO '{}' (FORMAT parquet)",
            input.display(),
            duck_out.display()
        ),
    );
    let duck_bytes = std::fs::metadata(&duck_out).map(|m| m.len()).unwrap_or(0);
    println!("duckdb (threads=1): {duck_s:.2}s output_bytes={duck_bytes}");
    println!(
        "RESULT landing time_ratio={:.3} peak_rss_mib={:.0}",
        trib_s / duck_s,
        rss
    );
}

fn cdc_sequence() {
    let dir = work_dir("cdc-sequence");
    let input = dir.join("20241105-134501123.csv");
    let t = Instant::now();
    let size = cdc_csv(&input, target_bytes(512 << 20));
    announce(&input, size, t);
    let (trib_s, rss) = run_child("__cdc-sequence", &input, &dir.join("tributary-out"));
    let duck_out = dir.join("duckdb-out.parquet");
    let duck_s = duckdb(
        &["SET threads=1"],
        &format!(
            "COPY (SELECT *, row_number() OVER () AS _seq FROM read_csv('{}', header=false, \
             names=['Op','dms_commit_ts','EMPLOYEE_ID','FIRST_NAME','LAST_NAME','EMAIL','PHONE_NUMBER',\
             'HIRE_DATE','JOB_ID','SALARY','COMMISSION_PCT','MANAGER_ID','DEPARTMENT_ID'])) TO '{}' (FORMAT parquet)",
            input.display(),
            duck_out.display()
        ),
    );
    let duck_bytes = std::fs::metadata(&duck_out).map(|m| m.len()).unwrap_or(0);
    println!("duckdb (threads=1): {duck_s:.2}s output_bytes={duck_bytes}");
    println!(
        "RESULT cdc-sequence time_ratio={:.3} peak_rss_mib={:.0}",
        trib_s / duck_s,
        rss
    );
}

/// `cdc-sequence` with the same rows as DMS writes them with `DataFormat=parquet`: typed columns
/// (the commit time and Oracle DATEs as timestamps, NUMBER(p,s) as decimals, ids as int32/int64),
/// converted from the generated CSV by DuckDB once (untimed). Tributary sequences the Parquet;
/// the reference is DuckDB reading the same Parquet and writing it with a row number.
fn cdc_sequence_parquet() {
    let dir = work_dir("cdc-sequence");
    let csv = dir.join("20241105-134501123.csv");
    let input = dir.join("20241105-134501123.parquet");
    let t = Instant::now();
    let size = cdc_csv(&csv, target_bytes(512 << 20));
    let stale = std::fs::metadata(&input)
        .and_then(|p| Ok(p.modified()? < std::fs::metadata(&csv)?.modified()?))
        .unwrap_or(true);
    if stale {
        duckdb(
            &["SET threads=1"],
            &format!(
                "COPY (SELECT Op, CAST(dms_commit_ts AS TIMESTAMP) AS dms_commit_ts,                  TRY_CAST(EMPLOYEE_ID AS INTEGER) AS EMPLOYEE_ID, FIRST_NAME, LAST_NAME, EMAIL,                  PHONE_NUMBER, try_strptime(HIRE_DATE, '%m/%d/%y %H:%M') AS HIRE_DATE, JOB_ID,                  TRY_CAST(SALARY AS DECIMAL(10,2)) AS SALARY,                  TRY_CAST(COMMISSION_PCT AS DECIMAL(4,2)) AS COMMISSION_PCT,                  TRY_CAST(MANAGER_ID AS BIGINT) AS MANAGER_ID,                  TRY_CAST(DEPARTMENT_ID AS INTEGER) AS DEPARTMENT_ID                  FROM read_csv('{}', header=false, all_varchar=true,                  names=['Op','dms_commit_ts','EMPLOYEE_ID','FIRST_NAME','LAST_NAME','EMAIL','PHONE_NUMBER',\
                 'HIRE_DATE','JOB_ID','SALARY','COMMISSION_PCT','MANAGER_ID','DEPARTMENT_ID']))                  TO '{}' (FORMAT parquet)",
                csv.display(),
                input.display()
            ),
        );
    }
    let pq_size = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
    announce(&input, pq_size, t);
    println!(
        "(the same rows as {:.0} MiB of CSV)",
        size as f64 / 1048576.0
    );
    let (trib_s, rss) = run_child("__cdc-sequence", &input, &dir.join("tributary-out-pq"));
    let duck_out = dir.join("duckdb-out-pq.parquet");
    let duck_s = duckdb(
        &["SET threads=1"],
        &format!(
            "COPY (SELECT *, row_number() OVER () AS _seq FROM read_parquet('{}')) TO '{}' (FORMAT parquet)",
            input.display(),
            duck_out.display()
        ),
    );
    let duck_bytes = std::fs::metadata(&duck_out).map(|m| m.len()).unwrap_or(0);
    println!("duckdb (threads=1): {duck_s:.2}s output_bytes={duck_bytes}");
    println!(
        "RESULT cdc-sequence-parquet time_ratio={:.3} peak_rss_mib={:.0}",
        trib_s / duck_s,
        rss
    );
}

const EVENT_TYPES: &[&str] = &[
    "page_view",
    "page_view",
    "page_view",
    "click",
    "scroll",
    "purchase",
];
const PAGES: &[&str] = &[
    "/",
    "/pricing",
    "/docs",
    "/docs/getting-started",
    "/blog/streaming",
    "/signup",
];

/// One generated clickstream record: compact ASCII JSON, mostly valid; about 2% heartbeats
/// (dropped) and 3% bad records (truncated JSON, a missing required field, a wrong type).
fn click_record(rng: &mut Rng, i: u64) -> String {
    let minute = i / 40; // about 40 events a minute: a ~6 MB batch spans several hours
    let (h, m, s, ms) = (10 + minute / 60 % 14, minute % 60, i % 60, rng.below(1000));
    let ts = match i % 3 {
        0 => format!("2024-01-15T{h:02}:{m:02}:{s:02}.{ms:03}Z"),
        1 => format!("2024-01-15T{:02}:{m:02}:{s:02}+01:00", h + 1),
        _ => format!("2024-01-15 {h:02}:{m:02}:{s:02}"),
    };
    let kind = EVENT_TYPES[rng.below(EVENT_TYPES.len() as u64) as usize];
    let user = if rng.below(2) == 0 {
        "userId"
    } else {
        "user_id"
    };
    let user_id = rng.below(50_000);
    let page = PAGES[rng.below(PAGES.len() as u64) as usize];
    let duration = rng.below(60_000);
    let fate = rng.below(100);
    let (user, duration) = match fate {
        3 => ("visitor", duration.to_string()),
        4 => (user, format!("\"{duration}\"")),
        _ => (user, duration.to_string()),
    };
    let mut rec = format!(
        "{{\"event_id\":\"evt-{i:08}\",\"event_type\":\"{kind}\",\"{user}\":\"u-{user_id}\",\"ts\":\"{ts}\",\"page\":\"{page}\",\"duration_ms\":{duration}"
    );
    if kind == "purchase" {
        let cents = 100 + rng.below(9_000) * 10 + 1 + rng.below(9);
        rec.push_str(&format!(",\"revenue\":{}.{:02}", cents / 100, cents % 100));
    }
    if rng.below(4) == 0 {
        rec.push_str(",\"consent\":true");
    }
    if rng.below(5) == 0 {
        rec.push_str(",\"ctx\":{\"ua\":\"Mozilla/5.0\",\"lang\":\"en-GB\"}");
    }
    rec.push('}');
    match fate {
        0 | 1 => format!(
            "{{\"event_type\":\"heartbeat\",\"tracker\":\"web-{}\",\"ts\":\"{ts}\"}}",
            i % 4
        ),
        2 => rec[..rec.len() / 2].to_string(),
        _ => rec,
    }
}

/// A Direct PUT Firehose event of at most `target` bytes of JSON.
fn firehose_event(target: usize) -> (Vec<u8>, usize) {
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    let mut event = FirehoseEvent {
        invocation_id: Some("4b4b7f6e-0c57-4d4e-9a8e-1f2a3b4c5d6e".into()),
        delivery_stream_arn: Some(
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/tributary-web-events".into(),
        ),
        region: Some("us-east-1".into()),
        ..Default::default()
    };
    let mut size = serde_json::to_vec(&event).unwrap().len();
    for i in 0.. {
        let data = click_record(&mut rng, i);
        let r = FirehoseRecord {
            record_id: format!("4954698668313554428650745793632162567570019247{i:010}").into(),
            approximate_arrival_timestamp: 1_705_312_800_000 + i as i64 * 3,
            data: base64_simd::STANDARD
                .encode_to_string(data.as_bytes())
                .into(),
            kinesis_record_metadata: None,
        };
        // The record and the comma before it.
        let len = serde_json::to_vec(&r).unwrap().len() + usize::from(i > 0);
        if size + len > target {
            break;
        }
        size += len;
        event.records.push(r);
    }
    let n = event.records.len();
    let bytes = serde_json::to_vec(&event).unwrap();
    assert_eq!(bytes.len(), size);
    (bytes, n)
}

/// What lambda_runtime does with the invocation body before calling the handler.
fn runtime_deserialize(body: &[u8]) -> Box<RawValue> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
        .expect("a JSON payload")
}

/// Hidden: the cost of each phase of a batch, medians of 30 runs (for tuning).
fn firehose_phases() {
    let ds = sample_dataset("web.events");
    let schema = ds.schema.clone().unwrap();
    let cfg = StreamConfig {
        dataset: ds.id.clone(),
        time_field: None,
        renames: vec![("userId".into(), "user_id".into())],
        drop_if: vec![("event_type".into(), "heartbeat".into())],
    };
    let spec = RecordSpec::new(&ds, &schema, &cfg).unwrap();
    let (event, _) = firehose_event(MAX_RESPONSE_BYTES);
    let time = |name: &str, f: &mut dyn FnMut()| {
        let mut v = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            f();
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        println!("{name:<40} {:8.2} ms median {min:8.2} ms min", median(v));
    };
    time("runtime: body into Box<RawValue>", &mut || {
        let _ = runtime_deserialize(&event);
    });
    let payload = runtime_deserialize(&event);
    time("handler: FirehoseEvent (serde, borrowed)", &mut || {
        let _: FirehoseEvent = serde_json::from_str(payload.get()).unwrap();
    });
    let parsed: FirehoseEvent = serde_json::from_str(payload.get()).unwrap();
    let mut json = String::new();
    time("handler: transform", &mut || {
        json = firehose::transform(&spec, &parsed, MAX_RESPONSE_BYTES)
            .unwrap()
            .0;
    });
    time("handler: RawValue::from_string", &mut || {
        let _ = RawValue::from_string(json.clone()).unwrap();
    });
    time("(String clone, included above)", &mut || {
        let _ = json.clone();
    });
    let resp = RawValue::from_string(json.clone()).unwrap();
    time("runtime: to_vec", &mut || {
        let _ = serde_json::to_vec(&resp).unwrap();
    });
    let datas: Vec<Vec<u8>> = parsed
        .records
        .iter()
        .map(|r| {
            base64_simd::STANDARD
                .decode_to_vec(r.data.as_bytes())
                .unwrap_or_default()
        })
        .collect();
    time("base64 decode", &mut || {
        let mut out = Vec::new();
        for r in &parsed.records {
            out.clear();
            let _ = base64_simd::STANDARD.decode_append(r.data.as_bytes(), &mut out);
        }
    });
    time("jsonrec::parse_object", &mut || {
        let mut f = Vec::new();
        for d in &datas {
            f.clear();
            let _ = tributary::format::jsonrec::parse_object(d, &mut f);
        }
    });
    let mut scratch = tributary::stream::record::Scratch::default();
    time("check", &mut || {
        for d in &datas {
            let (_, r) = spec.check(d, 0, &mut scratch);
            scratch.give_back(r);
        }
    });
    let mut line = Vec::new();
    time("check + write_json", &mut || {
        for d in &datas {
            let (_, r) = spec.check(d, 0, &mut scratch);
            line.clear();
            spec.write_json(&r, &mut line);
            scratch.give_back(r);
        }
    });
    time("base64 encode to new Strings", &mut || {
        let v: Vec<String> = datas
            .iter()
            .map(|d| base64_simd::STANDARD.encode_to_string(d))
            .collect();
        drop(v);
    });
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Per result, and the partition keys of every record, from a serialised response.
fn response_digest(body: &[u8]) -> (BTreeMap<String, u64>, Vec<Option<String>>) {
    let v: serde_json::Value = serde_json::from_slice(body).expect("response JSON");
    let mut counts = BTreeMap::new();
    let mut keys = Vec::new();
    for r in v["records"].as_array().expect("records") {
        *counts
            .entry(r["result"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
        keys.push(r.get("metadata").map(|m| m["partitionKeys"].to_string()));
    }
    (counts, keys)
}

fn firehose_bench() {
    let dir = work_dir("firehose");
    let ds = sample_dataset("web.events");
    let schema = ds.schema.clone().expect("declared schema");
    let cfg = StreamConfig {
        dataset: ds.id.clone(),
        time_field: None,
        renames: vec![("userId".into(), "user_id".into())],
        drop_if: vec![("event_type".into(), "heartbeat".into())],
    };
    let spec = RecordSpec::new(&ds, &schema, &cfg).unwrap();
    let t = Instant::now();
    let (event, n) = firehose_event(target_bytes(MAX_RESPONSE_BYTES as u64) as usize);
    let event_path = dir.join("event.json");
    std::fs::write(&event_path, &event).unwrap();
    println!(
        "input: {} ({} records, {} bytes, generated in {:.1}s)",
        event_path.display(),
        n,
        event.len(),
        t.elapsed().as_secs_f64()
    );

    // The Python reference's settings: the same dataset schema and stream settings.
    let settings = serde_json::json!({
        "dataset": ds.id,
        "columns": schema.columns.iter().map(|c| serde_json::json!([c.name, c.ty, c.nullable])).collect::<Vec<_>>(),
        "renames": cfg.renames.iter().cloned().collect::<BTreeMap<_, _>>(),
        "drop_if": cfg.drop_if,
        "time_field": spec.time_field(),
        "max_response": MAX_RESPONSE_BYTES,
        "max_record": MAX_RECORD_BYTES,
    });
    let settings_path = dir.join("settings.json");
    std::fs::write(&settings_path, settings.to_string()).unwrap();
    let py_out = dir.join("python-response.json");

    // Rounds of Tributary then Python, so that a busy machine slows both alike; medians over all.
    // Tributary per invocation: lambda_runtime deserialises the body into the handler's payload
    // type (`Box<RawValue>`), the handler runs `transform_raw` (the library function: event text
    // in, response text out), and the runtime serialises its result. The library function is
    // timed alone (the span the Python reference times: body text to response text) and with the
    // runtime's steps around it.
    let (rounds, trib_per_round, py_per_round) = (12, 10, 1);
    let (mut total, mut handler, mut py_times) = (Vec::new(), Vec::new(), Vec::new());
    let mut body = Vec::new();
    let mut report = None;
    for round in 0..rounds {
        for i in 0..=trib_per_round {
            let t = Instant::now();
            let payload = runtime_deserialize(&event);
            let th = Instant::now();
            let (resp, r) = firehose::transform_raw(&spec, &payload, MAX_RESPONSE_BYTES).unwrap();
            let handler_s = th.elapsed().as_secs_f64();
            body = serde_json::to_vec(&resp).unwrap();
            let total_s = t.elapsed().as_secs_f64();
            drop((resp, payload));
            if i > 0 {
                // The first run of a round warms caches and the allocator.
                total.push(total_s);
                handler.push(handler_s);
            }
            report = Some(r);
        }
        let out = Command::new(venv_python())
            .arg(repo_root().join("tests/bench/firehose_reference.py"))
            .arg(&settings_path)
            .arg(&event_path)
            .arg(&py_out)
            .arg((py_per_round + 1).to_string())
            .output()
            .expect("run the Python reference");
        assert!(
            out.status.success(),
            "the Python reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Its first run warms up too.
        py_times.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .skip(1)
                .map(|l| l.trim().parse::<f64>().expect("python timing")),
        );
        println!("round {} of {rounds} done", round + 1);
    }
    let report = report.unwrap();
    std::fs::write(dir.join("tributary-response.json"), &body).unwrap();
    let (trib_total_ms, trib_ms) = (median(total) * 1e3, median(handler) * 1e3);
    let py_n = py_times.len();
    let py_ms = median(py_times) * 1e3;
    let py_body = std::fs::read(&py_out).unwrap();
    println!(
        "tributary: {trib_ms:.2} ms per batch (transform_raw: event text to response text), median of {}; \
         {trib_total_ms:.2} ms with lambda_runtime's own steps (body into Box<RawValue>, to_vec of the response); \
         ok {} dropped {} failed {} {:?}; response {} bytes",
        rounds * trib_per_round,
        report.ok,
        report.dropped,
        report.failed,
        report.failed_by_reason,
        body.len()
    );
    println!(
        "python {} (stdlib json, base64): {py_ms:.2} ms per batch (json.loads, handler, response text), median of {py_n}; response {} bytes",
        String::from_utf8_lossy(
            &Command::new(venv_python())
                .arg("--version")
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        )
        .trim(),
        py_body.len()
    );

    // Same answers: per-result counts and every record's partition keys (and, here, the bytes).
    let (ours, theirs) = (response_digest(&body), response_digest(&py_body));
    assert_eq!(
        ours.0, theirs.0,
        "per-result counts differ from the Python reference"
    );
    assert_eq!(
        ours.1, theirs.1,
        "partition keys differ from the Python reference"
    );
    println!(
        "outputs agree: {:?}, identical partition keys for all {} records; responses {}",
        ours.0,
        ours.1.len(),
        if body == py_body {
            "byte-identical"
        } else {
            "differ in bytes only"
        }
    );
    println!(
        "with lambda_runtime's steps counted on Tributary's side: speedup {:.1} ({trib_total_ms:.2} ms)",
        py_ms / trib_total_ms
    );
    println!(
        "RESULT firehose speedup={:.1} per_batch_ms={trib_ms:.2}",
        py_ms / trib_ms
    );
}

fn venv_python() -> PathBuf {
    let py = repo_root().join(".venv/bin/python");
    if !py.exists() {
        let ok = Command::new("bash")
            .arg(repo_root().join("scripts/bootstrap.sh"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "scripts/bootstrap.sh failed: the project venv is needed"
        );
    }
    py
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("landing") => landing(),
        Some("cdc-sequence") => cdc_sequence(),
        Some("cdc-sequence-parquet") => cdc_sequence_parquet(),
        Some("firehose") => firehose_bench(),
        Some("compaction") => compaction::compaction(),
        Some("__compaction") => {
            compaction::tributary_compaction(Path::new(&args[1]), Path::new(&args[2]))
        }
        Some("search") => search::run(),
        Some("__firehose-phases") => firehose_phases(),
        Some("__landing-convert") => tributary_convert(Path::new(&args[1]), Path::new(&args[2])),
        Some("__cdc-sequence") => tributary_sequence(Path::new(&args[1]), Path::new(&args[2])),
        _ => {
            eprintln!(
                "usage: tributary-bench <scenario>\nscenarios: landing, cdc-sequence, cdc-sequence-parquet, firehose, compaction, search"
            );
            std::process::exit(2);
        }
    }
}
