//! Benchmarks. Each scenario generates its input, runs Tributary and a reference implementation on
//! the same input in the same run, and ends with one line `RESULT <scenario> key=value ...`.
//!
//! `cargo run --release -p tributary-bench -- landing`
//! `cargo run --release -p tributary-bench -- cdc-sequence`
//!
//! Tributary's side runs in a child process (this binary, hidden subcommand) so its peak RSS
//! (`VmHWM`) is its own, not the generator's. The reference (DuckDB, `SET threads=1`) runs from the
//! project's venv (`scripts/bootstrap.sh` installs it).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tributary::catalog::Dataset;
use tributary::cdc::{CdcSpec, DmsFile, sequence_csv};
use tributary::config::LandingTuning;
use tributary::convert::{ConvertSpec, TextFormat, convert};
use tributary::storage::DirSinkFactory;

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

/// Child process: sequences `input` with Tributary's CDC code, prints rows and peak RSS.
fn tributary_sequence(input: &Path, out: &Path) {
    let ds = sample_dataset("hr.employees_cdc");
    let key = "dms/HR/EMPLOYEES/2024/11/05/20241105-134501123.csv";
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
    };
    let _ = std::fs::remove_dir_all(out);
    let sinks = DirSinkFactory {
        root: out.to_path_buf(),
    };
    let report = sequence_csv(std::fs::File::open(input).unwrap(), &spec, &sinks, &sinks)
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
    let py = repo_root().join(".venv/bin/python");
    if !py.exists() {
        let ok = Command::new("bash")
            .arg(repo_root().join("scripts/bootstrap.sh"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "scripts/bootstrap.sh failed: DuckDB is needed as the reference"
        );
    }
    let mut script = String::from(
        "import duckdb, time, sys\ncon = duckdb.connect()\ncon.execute('SET enable_progress_bar=false')\n",
    );
    for s in sql_setup {
        script.push_str(&format!("con.execute({s:?})\n"));
    }
    script.push_str(&format!(
        "t = time.perf_counter()\ncon.execute({sql:?})\nprint(time.perf_counter() - t)\n"
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
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("DuckDB timing")
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("landing") => landing(),
        Some("cdc-sequence") => cdc_sequence(),
        Some("__landing-convert") => tributary_convert(Path::new(&args[1]), Path::new(&args[2])),
        Some("__cdc-sequence") => tributary_sequence(Path::new(&args[1]), Path::new(&args[2])),
        _ => {
            eprintln!("usage: tributary-bench <scenario>\nscenarios: landing, cdc-sequence");
            std::process::exit(2);
        }
    }
}
