//! Benchmarks. Each scenario generates its input, runs Tributary and a reference implementation on
//! the same input in the same run, and ends with one line `RESULT <scenario> key=value ...`.
//!
//! `cargo run --release -p tributary-bench -- landing`
//!
//! Tributary's side runs in a child process (this binary, hidden subcommand) so its peak RSS
//! (`VmHWM`) is its own, not the generator's. The reference (DuckDB, `SET threads=1`) runs from the
//! project's venv (`scripts/bootstrap.sh` installs it).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tributary::catalog::Dataset;
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

/// Writes a DMS-like employees CSV of about `target_bytes` (reused when already there).
fn employees_csv(path: &Path, target_bytes: u64) -> u64 {
    if let Ok(m) = std::fs::metadata(path)
        && m.len() >= target_bytes
    {
        return m.len();
    }
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(w, "EMPLOYEE_ID,FIRST_NAME,LAST_NAME,EMAIL,PHONE_NUMBER,HIRE_DATE,JOB_ID,SALARY,COMMISSION_PCT,MANAGER_ID,DEPARTMENT_ID").unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut written = 0u64;
    let mut id = 100u64;
    while written < target_bytes {
        let f = FIRST[rng.below(FIRST.len() as u64) as usize];
        let l = LAST[rng.below(LAST.len() as u64) as usize];
        let commission = if rng.below(3) == 0 {
            format!("0.{}", 1 + rng.below(4))
        } else {
            String::new()
        };
        let line = format!(
            "{id},{f},{l},{}{}{},515.{}.{:04},{}-{:02}-{:02},{},{}.{:02},{commission},{},{}\n",
            &f[..1],
            l.to_uppercase().replace(' ', ""),
            id % 1000,
            100 + rng.below(900),
            rng.below(10000),
            1987 + rng.below(35),
            1 + rng.below(12),
            1 + rng.below(28),
            JOBS[rng.below(JOBS.len() as u64) as usize],
            2000 + rng.below(30000),
            rng.below(100),
            100 + rng.below(200),
            10 * (1 + rng.below(27)),
        );
        w.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        id += 1;
    }
    w.flush().unwrap();
    written
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
    let datasets: Vec<Dataset> = serde_json::from_slice(
        &std::fs::read(repo_root().join("tests/data/datasets.json")).unwrap(),
    )
    .unwrap();
    let ds = datasets
        .into_iter()
        .find(|d| d.id == "hr.employees")
        .unwrap();
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

fn landing() {
    let dir = work_dir("landing");
    let input = dir.join("employees.csv");
    let target = std::env::var("TRIBUTARY_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1u64 << 30);
    let t = Instant::now();
    let size = employees_csv(&input, target);
    println!(
        "input: {} ({:.0} MiB, generated or reused in {:.1}s)",
        input.display(),
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    // Warm the page cache equally for both sides.
    let _ = std::fs::read(&input).map(|b| b.len());

    let me = std::env::current_exe().unwrap();
    let t = Instant::now();
    let out = Command::new(&me)
        .args(["__landing-convert"])
        .arg(&input)
        .arg(dir.join("tributary-out"))
        .output()
        .expect("child");
    let trib_s = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "tributary conversion failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    println!("tributary: {trib_s:.2}s {line}");
    let rss: f64 = field(&line, "peak_rss_mib")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);

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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("landing") => landing(),
        Some("__landing-convert") => tributary_convert(Path::new(&args[1]), Path::new(&args[2])),
        _ => {
            eprintln!("usage: tributary-bench <scenario>\nscenarios: landing");
            std::process::exit(2);
        }
    }
}
