//! `compaction`: a table of ~5 million keys (the previous snapshot) plus deltas changing ~20% of
//! them (updates, deletes, deletes followed by re-inserts), about 2 GiB of Parquet in all.
//! Tributary's compaction core (`tributary::compaction::merge_to_snapshot`, the code the
//! compactor function runs between download and publish) merges them under a 256 MiB memory
//! budget in a child process; DuckDB (`SET threads=1`) computes the same latest-version-per-key
//! into Parquet from the same files. Both outputs are checked to hold the same rows (count and
//! an order-independent hash of key and `_seq`).
//!
//! `TRIBUTARY_BENCH_ROWS` overrides the number of keys (default 5,000,000).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use tributary::catalog::Layout;
use tributary::compaction::{LocalInput, SnapshotLayout, merge_to_snapshot};
use tributary::config::CompactionTuning;
use tributary::storage::DirSinkFactory;

use crate::{Rng, duckdb_query, peak_rss_mib, run_child, work_dir};

/// Memory budget of the merge: buffered input before a sorted run spills. The rest of the
/// 256 MiB goes to the sort's working copy, the merge's one batch per run and the writer.
const MERGE_BUDGET: usize = 48 << 20;
const ROWS_PER_FILE: u64 = 400_000;
const PAYLOAD: usize = 460;
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("payload", DataType::Utf8, true),
        Field::new("_op", DataType::Utf8, false),
        Field::new("_seq", DataType::Utf8, false),
        Field::new("_source_file", DataType::Utf8, true),
    ]))
}

/// (id, op, seq)
type Change = (i64, &'static str, u64);

fn text(rng: &mut Rng, n: usize) -> String {
    let mut s = String::with_capacity(n);
    let mut bits = 0u64;
    for i in 0..n {
        if i % 10 == 0 {
            bits = rng.next();
        }
        s.push(ALNUM[(bits % 62) as usize] as char);
        bits /= 62;
    }
    s
}

fn write_file(path: &Path, rows: &[Change], source: &str, rng: &mut Rng) {
    let props =
        tributary::ingest::convert::writer_properties_builder(131_072, Some(&schema())).build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, schema(), Some(props)).unwrap();
    for chunk in rows.chunks(65_536) {
        let deleted = |op: &str| op == "D";
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(chunk.iter().map(|c| c.0))),
            Arc::new(StringArray::from_iter(chunk.iter().map(|c| {
                (!deleted(c.1)).then(|| format!("name-{}-{}", c.0, c.2 % 97))
            }))),
            Arc::new(Float64Array::from_iter(chunk.iter().map(|c| {
                (!deleted(c.1)).then(|| (c.2 % 100_000) as f64 / 100.0)
            }))),
            Arc::new(StringArray::from_iter(chunk.iter().map(|c| {
                (!deleted(c.1)).then(|| ["books", "games", "garden", "tools"][(c.0 % 4) as usize])
            }))),
            Arc::new(StringArray::from_iter(
                chunk
                    .iter()
                    .map(|c| (!deleted(c.1)).then(|| text(rng, PAYLOAD))),
            )),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|c| c.1))),
            Arc::new(StringArray::from_iter_values(
                chunk
                    .iter()
                    .map(|c| format!("1-{:035}-{:023}-{:010}", c.2, 0, 0)),
            )),
            Arc::new(StringArray::from_iter_values(chunk.iter().map(|_| source))),
        ];
        w.write(&RecordBatch::try_new(schema(), cols).unwrap())
            .unwrap();
    }
    w.close().unwrap();
}

/// Generates (or reuses) the previous snapshot and the deltas; returns every input file.
fn generate(dir: &Path, keys: u64) -> Vec<PathBuf> {
    let marker = dir.join(format!("input-{keys}.done"));
    let input = dir.join("input");
    let list = |input: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(input)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        v.sort();
        v
    };
    if marker.exists() {
        return list(&input);
    }
    let _ = std::fs::remove_dir_all(&input);
    std::fs::create_dir_all(&input).unwrap();
    let mut rng = Rng(0x5eed_c0de_2026_1121);
    // The previous snapshot: every key once, sequence numbers 1..=keys.
    let mut seq = 0u64;
    let mut file = 0;
    let mut start = 0i64;
    while (start as u64) < keys {
        let end = (start + ROWS_PER_FILE as i64).min(keys as i64);
        let rows: Vec<Change> = (start..end)
            .map(|id| {
                seq += 1;
                (id, "I", seq)
            })
            .collect();
        write_file(
            &input.join(format!("base-{file:05}.parquet")),
            &rows,
            "snapshot",
            &mut rng,
        );
        file += 1;
        start = end;
    }
    // Deltas: 20% of the keys change; 70% updated, 20% deleted, 10% deleted then re-inserted;
    // some keys change twice. Written in sequence order, a file per 400,000 changes.
    let mut changes: Vec<Change> = Vec::new();
    for _ in 0..keys / 5 {
        let id = rng.below(keys) as i64;
        match rng.below(10) {
            0..=6 => {
                seq += 1;
                changes.push((id, "U", seq));
            }
            7 | 8 => {
                seq += 1;
                changes.push((id, "D", seq));
            }
            _ => {
                seq += 1;
                changes.push((id, "D", seq));
                seq += 1;
                changes.push((id, "I", seq));
            }
        }
    }
    for (n, chunk) in changes.chunks(ROWS_PER_FILE as usize).enumerate() {
        write_file(
            &input.join(format!("delta-{n:05}.parquet")),
            chunk,
            &format!("delta-{n}"),
            &mut rng,
        );
    }
    std::fs::write(&marker, b"").unwrap();
    list(&input)
}

/// Child process: Tributary's merge of every file in `input` into `out`.
pub fn tributary_compaction(input: &Path, out: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let inputs: Vec<LocalInput> = files
        .into_iter()
        .map(|path| LocalInput {
            path,
            partition: vec![],
        })
        .collect();
    let _ = std::fs::remove_dir_all(out);
    let sinks = DirSinkFactory {
        root: out.to_path_buf(),
    };
    let tuning = CompactionTuning {
        memory_budget: MERGE_BUDGET,
        ..CompactionTuning::default()
    };
    let layout = SnapshotLayout {
        prefix: "bench/".into(),
        layout: Layout::Hive,
        partition_keys: vec![],
        snapshot: "bench".into(),
    };
    let written = merge_to_snapshot(
        "bench",
        &inputs,
        &["id".to_string()],
        layout,
        &sinks,
        &tuning,
        &out.join("spill"),
        false,
    )
    .expect("compaction");
    let s = &written.stats;
    let bytes: u64 = written.partitions.iter().map(|p| p.bytes).sum();
    let files: usize = written.partitions.iter().map(|p| p.files.len()).sum();
    println!(
        "rows_in={} rows_out={} superseded={} deleted={} files={files} output_bytes={bytes} \
         runs_spilled={} bytes_spilled={} peak_rss_mib={:.1}",
        s.rows_in,
        s.rows_out,
        s.superseded,
        s.deleted,
        s.runs_spilled,
        s.bytes_spilled,
        peak_rss_mib()
    );
}

pub fn compaction() {
    let dir = work_dir("compaction");
    let keys = std::env::var("TRIBUTARY_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000u64);
    let t = Instant::now();
    let files = generate(&dir, keys);
    let size: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    println!(
        "input: {} files, {:.0} MiB, {keys} keys (generated or reused in {:.1}s)",
        files.len(),
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let input = dir.join("input");
    let out = dir.join("tributary-out");
    let (trib_s, rss) = run_child("__compaction", &input, &out);
    let duck_out = dir.join("duckdb-out.parquet");
    let list = files
        .iter()
        .map(|f| format!("'{}'", f.display()))
        .collect::<Vec<_>>()
        .join(", ");
    let (duck_s, _) = duckdb_query(
        &[
            "SET threads=1",
            "SET preserve_insertion_order=false",
            &format!("SET temp_directory='{}'", dir.join("duckdb-tmp").display()),
        ],
        &format!(
            "COPY (SELECT * FROM read_parquet([{list}]) \
             QUALIFY row_number() OVER (PARTITION BY id ORDER BY _seq DESC) = 1 AND _op <> 'D') \
             TO '{}' (FORMAT parquet, COMPRESSION zstd)",
            duck_out.display()
        ),
    );
    let duck_bytes = std::fs::metadata(&duck_out).map(|m| m.len()).unwrap_or(0);
    println!("duckdb (threads=1): {duck_s:.2}s output_bytes={duck_bytes}");
    // Same rows: count and an order-independent hash of (id, _seq), computed by DuckDB on both.
    let check = |files: &str| {
        duckdb_query(
            &[],
            &format!(
                "SELECT count(*), sum(hash(id, _seq) % 1000000007) FROM read_parquet({files})"
            ),
        )
        .1
    };
    let ours = check(&format!(
        "'{}/bench/snapshot=bench/*.parquet'",
        out.display()
    ));
    let theirs = check(&format!("'{}'", duck_out.display()));
    println!("check: tributary {ours} duckdb {theirs}");
    assert_eq!(ours, theirs, "the two compactions disagree");
    println!(
        "RESULT compaction time_ratio={:.3} peak_rss_mib={:.0}",
        trib_s / duck_s,
        rss
    );
}
