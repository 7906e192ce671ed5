//! Compaction core: every version of a record collapses to the latest, deletes are applied.
//!
//! [`latest_per_key`] reads record batches (a snapshot's rows and raw-tier deltas, all with the
//! system columns `_op` and `_seq`) and emits, per primary key (possibly composite), the row
//! with the highest `_seq`, unless that row's `_op` is `D`. A delete followed by a re-insert
//! keeps the re-insert (it has the higher `_seq`).
//!
//! Bounded memory: rows are buffered up to [`MergeSpec::memory_budget`] bytes; a full buffer is
//! sorted by (key ascending, `_seq` descending), reduced to one row per key, and spilled to local
//! disk (Lambda's `/tmp`) as an Arrow IPC run. The runs are then merged k-way, one batch per run
//! in memory, so a partition far larger than the budget compacts in `budget + runs × batch`.
//!
//! Invariants:
//! - **Deterministic**: the result depends only on the multiset of input rows, not on their
//!   order or batching (`_seq` is a total order per table; equal `_seq` means the same change).
//! - **Nothing invented**: every output row is an input row, unchanged.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{concat_batches, interleave_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::row::{RowConverter, SortField};

use crate::error::{Classify, ErrorKind};

/// Bytes per batch of a spilled run (the merge keeps one batch of every run in memory).
const SPILL_BATCH_BYTES: usize = 1 << 20;

/// Name of the key column added to spilled runs (the key's memcomparable row encoding).
const KEY_COLUMN: &str = "__tributary_key";

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("spill file {path}: {source}")]
    Spill {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("input has no column {0} (the compactor needs the primary key, _op and _seq)")]
    MissingColumn(String),
    #[error("column {column} must be a string column, found {found}")]
    ColumnType { column: String, found: DataType },
    /// The consumer of the merged rows failed (e.g. writing the snapshot).
    #[error("{0}")]
    Emit(Box<dyn std::error::Error + Send + Sync>),
}

impl Classify for CompactError {
    fn kind(&self) -> ErrorKind {
        match self {
            CompactError::Spill { .. } => ErrorKind::Retryable,
            CompactError::MissingColumn(_) | CompactError::ColumnType { .. } => ErrorKind::BadInput,
            CompactError::Arrow(_) | CompactError::Emit(_) => ErrorKind::Fatal,
        }
    }
}

/// How to merge.
#[derive(Debug, Clone)]
pub struct MergeSpec {
    /// Primary-key columns, in order.
    pub key_columns: Vec<String>,
    /// Bytes of buffered input rows before a sorted run is spilled.
    pub memory_budget: usize,
    /// Where runs are spilled (created if missing; runs are deleted when merged).
    pub spill_dir: PathBuf,
    /// Rows per output batch (and per spilled batch).
    pub batch_rows: usize,
    /// Also emit the winning delete rows (tombstones), so the caller can keep them: a late file
    /// holding an older version of a deleted key must not bring it back. Off: deletes vanish.
    pub keep_deletes: bool,
}

/// What a merge did. `rows_in = rows_out + superseded + deleted`, where `deleted` counts the
/// delete rows that won (their key is gone; emitted only with [`MergeSpec::keep_deletes`]) and
/// `superseded` every older version.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MergeStats {
    pub rows_in: u64,
    pub rows_out: u64,
    pub superseded: u64,
    pub deleted: u64,
    pub runs_spilled: u64,
    pub bytes_spilled: u64,
}

/// A sorted, one-row-per-key batch: rows ordered by key, with the key's row encoding.
struct Run {
    batch: RecordBatch,
    keys: BinaryArray,
}

struct Merger<'a> {
    spec: &'a MergeSpec,
    schema: SchemaRef,
    converter: RowConverter,
    key_idx: Vec<usize>,
    seq_idx: usize,
    op_idx: usize,
    buffer: Vec<RecordBatch>,
    buffered: usize,
    runs: Vec<PathBuf>,
    stats: MergeStats,
}

fn column_index(schema: &Schema, name: &str) -> Result<usize, CompactError> {
    schema
        .index_of(name)
        .map_err(|_| CompactError::MissingColumn(name.to_string()))
}

fn strings(batch: &RecordBatch, idx: usize) -> Result<&StringArray, CompactError> {
    batch
        .column(idx)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| CompactError::ColumnType {
            column: batch.schema().field(idx).name().clone(),
            found: batch.column(idx).data_type().clone(),
        })
}

impl<'a> Merger<'a> {
    fn new(schema: SchemaRef, spec: &'a MergeSpec) -> Result<Self, CompactError> {
        let key_idx = spec
            .key_columns
            .iter()
            .map(|k| column_index(&schema, k))
            .collect::<Result<Vec<_>, _>>()?;
        let converter = RowConverter::new(
            key_idx
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect(),
        )?;
        Ok(Self {
            seq_idx: column_index(&schema, "_seq")?,
            op_idx: column_index(&schema, "_op")?,
            spec,
            schema,
            converter,
            key_idx,
            buffer: Vec::new(),
            buffered: 0,
            runs: Vec::new(),
            stats: MergeStats::default(),
        })
    }

    fn push(&mut self, batch: RecordBatch) -> Result<(), CompactError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.stats.rows_in += batch.num_rows() as u64;
        self.buffered += batch.get_array_memory_size();
        self.buffer.push(batch);
        if self.buffered >= self.spec.memory_budget {
            let run = self.sort_buffer()?;
            self.spill(run)?;
        }
        Ok(())
    }

    /// Sorts the buffer by (key asc, `_seq` desc) and keeps the first row of each key.
    fn sort_buffer(&mut self) -> Result<Option<Run>, CompactError> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        let all = concat_batches(&self.schema, &self.buffer)?;
        self.buffer.clear();
        self.buffered = 0;
        let cols: Vec<ArrayRef> = self
            .key_idx
            .iter()
            .map(|&i| all.column(i).clone())
            .collect();
        let rows = self.converter.convert_columns(&cols)?;
        let seq = strings(&all, self.seq_idx)?;
        let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            rows.row(a as usize)
                .cmp(&rows.row(b as usize))
                .then_with(|| seq.value(b as usize).cmp(seq.value(a as usize)))
        });
        let mut keep: Vec<u32> = Vec::with_capacity(order.len());
        for &i in &order {
            match keep.last() {
                Some(&last) if rows.row(last as usize) == rows.row(i as usize) => {
                    self.stats.superseded += 1;
                }
                _ => keep.push(i),
            }
        }
        let keys = BinaryArray::from_iter_values(keep.iter().map(|&i| rows.row(i as usize)));
        let batch = take_record_batch(&all, &UInt32Array::from(keep))?;
        Ok(Some(Run { batch, keys }))
    }

    fn spill(&mut self, run: Option<Run>) -> Result<(), CompactError> {
        let Some(run) = run else { return Ok(()) };
        std::fs::create_dir_all(&self.spec.spill_dir).map_err(|source| CompactError::Spill {
            path: self.spec.spill_dir.clone(),
            source,
        })?;
        let path = self.spec.spill_dir.join(format!(
            "run-{}-{:05}.arrow",
            std::process::id(),
            self.runs.len()
        ));
        let io = |source| CompactError::Spill {
            path: path.clone(),
            source,
        };
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(KEY_COLUMN, DataType::Binary, false));
        let spill_schema = Arc::new(Schema::new(fields));
        let file = File::create(&path).map_err(io)?;
        let mut writer = FileWriter::try_new(BufWriter::new(file), &spill_schema)?;
        let n = run.batch.num_rows();
        // The merge holds one batch per run: batches of about SPILL_BATCH_BYTES keep that
        // bounded however many runs there are.
        let row_bytes = (run.batch.get_array_memory_size() / n.max(1)).max(1);
        let batch_rows = (SPILL_BATCH_BYTES / row_bytes).clamp(64, self.spec.batch_rows.max(64));
        let mut start = 0;
        while start < n {
            let len = batch_rows.min(n - start);
            let mut cols = run.batch.slice(start, len).columns().to_vec();
            cols.push(Arc::new(run.keys.slice(start, len)));
            writer.write(&RecordBatch::try_new(spill_schema.clone(), cols)?)?;
            start += len;
        }
        writer.finish()?;
        self.stats.runs_spilled += 1;
        self.stats.bytes_spilled += std::fs::metadata(&path).map_err(io)?.len();
        self.runs.push(path);
        Ok(())
    }

    /// Emits the winners: from the in-memory run if nothing was spilled, else by merging runs.
    fn finish(
        mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), CompactError>,
    ) -> Result<MergeStats, CompactError> {
        let last = self.sort_buffer()?;
        if self.runs.is_empty() {
            if let Some(run) = last {
                let mut out = Emitter::new(self.spec, self.schema.clone(), self.op_idx);
                let batch = Arc::new(run.batch);
                for i in 0..batch.num_rows() {
                    out.offer(&batch, 0, i, &mut self.stats, emit)?;
                }
                out.flush(emit)?;
            }
            return Ok(self.stats);
        }
        self.spill(last)?;
        let result = self.merge_runs(emit);
        for r in &self.runs {
            let _ = std::fs::remove_file(r);
        }
        result.map(|()| self.stats)
    }

    fn merge_runs(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), CompactError>,
    ) -> Result<(), CompactError> {
        let mut readers = Vec::with_capacity(self.runs.len());
        for path in &self.runs {
            let file = File::open(path).map_err(|source| CompactError::Spill {
                path: path.clone(),
                source,
            })?;
            readers.push(RunReader::open(BufReader::new(file), self.seq_idx)?);
        }
        let mut heap = BinaryHeap::new();
        for (r, reader) in readers.iter().enumerate() {
            if let Some(head) = reader.head(r) {
                heap.push(head);
            }
        }
        let mut out = Emitter::new(self.spec, self.schema.clone(), self.op_idx);
        let mut last_key: Option<Vec<u8>> = None;
        while let Some(head) = heap.pop() {
            let reader = &mut readers[head.run];
            if last_key.as_deref() == Some(head.key.as_slice()) {
                self.stats.superseded += 1;
            } else {
                let batch = reader.batch.clone().expect("a head has a batch");
                out.offer(&batch, head.run, reader.row, &mut self.stats, emit)?;
                last_key = Some(head.key);
            }
            reader.advance()?;
            if let Some(next) = reader.head(head.run) {
                heap.push(next);
            }
        }
        out.flush(emit)
    }
}

/// The next row of a run, ordered for a max-heap so the smallest key (then highest `_seq`)
/// pops first.
#[derive(PartialEq, Eq)]
struct Head {
    key: Vec<u8>,
    seq: String,
    run: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .cmp(&self.key)
            .then_with(|| self.seq.cmp(&other.seq))
            .then_with(|| other.run.cmp(&self.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

struct RunReader {
    reader: FileReader<BufReader<File>>,
    batch: Option<Arc<RecordBatch>>,
    row: usize,
    seq_idx: usize,
}

impl RunReader {
    fn open(file: BufReader<File>, seq_idx: usize) -> Result<Self, CompactError> {
        let mut r = Self {
            reader: FileReader::try_new(file, None)?,
            batch: None,
            row: 0,
            seq_idx,
        };
        r.next_batch()?;
        Ok(r)
    }

    fn next_batch(&mut self) -> Result<(), CompactError> {
        self.row = 0;
        self.batch = loop {
            match self.reader.next().transpose()? {
                Some(b) if b.num_rows() == 0 => continue,
                // The key column stays last; the emitter leaves it out.
                Some(b) => break Some(Arc::new(b)),
                None => break None,
            }
        };
        Ok(())
    }

    fn advance(&mut self) -> Result<(), CompactError> {
        self.row += 1;
        if self
            .batch
            .as_ref()
            .is_some_and(|b| self.row >= b.num_rows())
        {
            self.next_batch()?;
        }
        Ok(())
    }

    fn head(&self, run: usize) -> Option<Head> {
        let b = self.batch.as_ref()?;
        let keys = b
            .column(b.num_columns() - 1)
            .as_any()
            .downcast_ref::<BinaryArray>()?;
        let seq = b
            .column(self.seq_idx)
            .as_any()
            .downcast_ref::<StringArray>()?;
        Some(Head {
            key: keys.value(self.row).to_vec(),
            seq: seq.value(self.row).to_string(),
            run,
        })
    }
}

/// Collects winning rows (dropping deletes) into output batches of `batch_rows`.
struct Emitter {
    schema: SchemaRef,
    batch_rows: usize,
    op_idx: usize,
    keep_deletes: bool,
    /// Batches referenced by `picks`, by source id (run index).
    sources: Vec<(usize, Arc<RecordBatch>)>,
    picks: Vec<(usize, usize)>,
}

impl Emitter {
    fn new(spec: &MergeSpec, schema: SchemaRef, op_idx: usize) -> Self {
        Self {
            schema,
            batch_rows: spec.batch_rows.max(1),
            op_idx,
            keep_deletes: spec.keep_deletes,
            sources: Vec::new(),
            picks: Vec::new(),
        }
    }

    fn offer(
        &mut self,
        batch: &Arc<RecordBatch>,
        source: usize,
        row: usize,
        stats: &mut MergeStats,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), CompactError>,
    ) -> Result<(), CompactError> {
        if strings(batch, self.op_idx)?.value(row) == "D" {
            stats.deleted += 1;
            if !self.keep_deletes {
                return Ok(());
            }
        } else {
            stats.rows_out += 1;
        }
        let slot = match self
            .sources
            .iter()
            .position(|(s, b)| *s == source && Arc::ptr_eq(b, batch))
        {
            Some(p) => p,
            None => {
                self.sources.push((source, batch.clone()));
                self.sources.len() - 1
            }
        };
        self.picks.push((slot, row));
        if self.picks.len() >= self.batch_rows {
            self.flush(emit)?;
        }
        Ok(())
    }

    fn flush(
        &mut self,
        emit: &mut dyn FnMut(RecordBatch) -> Result<(), CompactError>,
    ) -> Result<(), CompactError> {
        if self.picks.is_empty() {
            return Ok(());
        }
        let width = self.schema.fields().len();
        let parts: Vec<RecordBatch> = self
            .sources
            .iter()
            .map(|(_, b)| {
                RecordBatch::try_new(self.schema.clone(), b.columns()[..width].to_vec())
                    .map_err(CompactError::from)
            })
            .collect::<Result<_, _>>()?;
        let refs: Vec<&RecordBatch> = parts.iter().collect();
        let out = interleave_record_batch(&refs, &self.picks)?;
        self.picks.clear();
        self.sources.clear();
        emit(out)
    }
}

/// Merges `inputs` (batches with the same `schema`, holding the key columns, `_op` and `_seq`)
/// into the latest non-deleted row per key; `emit` receives the output in key order.
pub fn latest_per_key(
    schema: SchemaRef,
    inputs: impl IntoIterator<Item = Result<RecordBatch, CompactError>>,
    spec: &MergeSpec,
    mut emit: impl FnMut(RecordBatch) -> Result<(), CompactError>,
) -> Result<MergeStats, CompactError> {
    let mut merger = Merger::new(schema, spec)?;
    for batch in inputs {
        merger.push(batch?)?;
    }
    merger.finish(&mut emit)
}

/// Batches read lazily from one file.
pub type RawBatches = Box<dyn Iterator<Item = Result<RecordBatch, CompactError>> + Send>;

/// Reads a raw-tier (or snapshot) Parquet file as batches of `batch_rows`, with its Hive
/// partition values (from the path; not stored in the file) appended as string columns, so rows
/// of every partition of a table share one schema and a key that moved partitions is still one
/// key.
pub fn read_with_partition(
    path: &Path,
    partition: &[(String, String)],
    batch_rows: usize,
) -> Result<(SchemaRef, RawBatches), CompactError> {
    use arrow::record_batch::RecordBatchReader;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = File::open(path).map_err(|source| CompactError::Spill {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
    let mut fields: Vec<Field> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(
        partition
            .iter()
            .map(|(k, _)| Field::new(k, DataType::Utf8, true)),
    );
    let schema = Arc::new(Schema::new(fields));
    let out_schema = schema.clone();
    let partition = partition.to_vec();
    let batches = reader.map(move |b| {
        let b = b?;
        let mut cols = b.columns().to_vec();
        for (_, v) in &partition {
            cols.push(Arc::new(StringArray::from(vec![v.as_str(); b.num_rows()])) as ArrayRef);
        }
        Ok(RecordBatch::try_new(out_schema.clone(), cols)?)
    });
    Ok((schema, Box::new(batches)))
}

/// A fresh spill directory under `base` for one compaction.
pub fn spill_dir(base: &Path, tag: &str) -> PathBuf {
    base.join(format!("tributary-compact-{tag}-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow::array::Int64Array;
    use proptest::prelude::*;

    use super::*;

    /// An output row as the tests compare it.
    type Row = (String, i64, i64, u64);

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("_op", DataType::Utf8, false),
            Field::new("_seq", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
            Field::new("v", DataType::Int64, true),
        ]))
    }

    /// (op, seq, region, id, v)
    type Change = (&'static str, u64, &'static str, i64, i64);

    fn batch(rows: &[Change]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| format!("{:020}", r.1)),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
            ],
        )
        .unwrap()
    }

    fn run(
        rows: &[Change],
        chunk: usize,
        budget: usize,
    ) -> (Vec<(String, i64, i64, u64)>, MergeStats) {
        let (out, stats, tombstones) = run_keeping(rows, chunk, budget, false);
        assert_eq!(tombstones, 0);
        (out, stats)
    }

    /// Merges `rows`; returns the live rows, the stats and how many tombstones were emitted.
    fn run_keeping(
        rows: &[Change],
        chunk: usize,
        budget: usize,
        keep_deletes: bool,
    ) -> (Vec<Row>, MergeStats, u64) {
        let mut tombstones = 0;
        let dir = spill_dir(
            &std::env::temp_dir(),
            &format!("t{chunk}-{budget}-{}", rows.len()),
        );
        let spec = MergeSpec {
            key_columns: vec!["region".into(), "id".into()],
            memory_budget: budget,
            spill_dir: dir.clone(),
            batch_rows: 7,
            keep_deletes,
        };
        let mut out = Vec::new();
        let stats = latest_per_key(
            schema(),
            rows.chunks(chunk.max(1)).map(|c| Ok(batch(c))),
            &spec,
            |b| {
                let op = strings(&b, 0).unwrap();
                let seq = strings(&b, 1).unwrap();
                let region = strings(&b, 2).unwrap();
                let id = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
                let v = b.column(4).as_any().downcast_ref::<Int64Array>().unwrap();
                for i in 0..b.num_rows() {
                    if op.value(i) == "D" {
                        tombstones += 1;
                        continue;
                    }
                    out.push((
                        region.value(i).to_string(),
                        id.value(i),
                        v.value(i),
                        seq.value(i).parse().unwrap(),
                    ));
                }
                Ok(())
            },
        )
        .unwrap();
        assert!(
            std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none()),
            "runs left behind"
        );
        (out, stats, tombstones)
    }

    fn oracle(rows: &[Change]) -> Vec<(String, i64, i64, u64)> {
        let mut latest: HashMap<(&str, i64), &Change> = HashMap::new();
        for r in rows {
            let e = latest.entry((r.2, r.3)).or_insert(r);
            if r.1 > e.1 {
                *e = r;
            }
        }
        let mut out: Vec<_> = latest
            .into_values()
            .filter(|r| r.0 != "D")
            .map(|r| (r.2.to_string(), r.3, r.4, r.1))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn delete_then_reinsert_keeps_the_reinsert() {
        let rows = [
            ("I", 1, "eu", 1, 10),
            ("U", 2, "eu", 1, 11),
            ("D", 3, "eu", 1, 0),
            ("I", 4, "eu", 1, 12),
            ("I", 5, "eu", 2, 20),
            ("D", 6, "eu", 2, 0),
            ("I", 7, "us", 1, 30),
        ];
        let (out, stats) = run(&rows, 3, usize::MAX);
        assert_eq!(out, [("eu".into(), 1, 12, 4), ("us".into(), 1, 30, 7)]);
        assert_eq!(
            (
                stats.rows_in,
                stats.rows_out,
                stats.superseded,
                stats.deleted
            ),
            (7, 2, 4, 1)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Random histories of inserts, updates, deletes and re-inserts, delivered in any order
        /// and batching, spilled or not: the oracle's answer.
        #[test]
        fn latest_per_key_matches_the_oracle(
            history in prop::collection::vec((0usize..4, 0usize..3, 0i64..12, 0i64..1000), 1..300),
            shuffle in any::<u64>(),
            chunk in 1usize..50,
            spill in any::<bool>(),
            keep_deletes in any::<bool>(),
        ) {
            let ops = ["I", "U", "D", "U"];
            let regions = ["eu", "us", "ap"];
            let mut rows: Vec<Change> = history
                .iter()
                .enumerate()
                .map(|(seq, &(op, region, id, v))| (ops[op], seq as u64 + 1, regions[region], id, v))
                .collect();
            let want = oracle(&rows);
            // Deterministic shuffle.
            let mut state = shuffle | 1;
            for i in (1..rows.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                rows.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let (mut got, stats, tombstones) =
                run_keeping(&rows, chunk, if spill { 1 } else { usize::MAX }, keep_deletes);
            got.sort();
            prop_assert_eq!(&got, &want);
            // With tombstones kept, every winning delete is emitted once.
            prop_assert_eq!(tombstones, if keep_deletes { stats.deleted } else { 0 });
            prop_assert_eq!(stats.rows_in, stats.rows_out + stats.superseded + stats.deleted);
            if spill && rows.len() > chunk {
                prop_assert!(stats.runs_spilled > 1);
            }
        }
    }
}
