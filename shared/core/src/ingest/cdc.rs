//! Sequencing of AWS DMS full-load and CDC files: every change gets a synthetic sequence number
//! (`_seq`) that orders it correctly within its table and is the same every time the file is
//! processed; the sequenced rows are written as Parquet to the raw zone.
//!
//! # The sequence number
//!
//! `_seq` is a fixed-width, 72-character ASCII string whose byte order is the change order, so it
//! sorts correctly as a string in every engine (Athena, Spark, DuckDB, Rust):
//!
//! ```text
//! P-KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK-FFFFFFFFFFFFFFFFFFFFFFF-RRRRRRRRRR
//! 1 -           35 digits             -        23 digits      - 10 digits
//! ```
//!
//! | field | width | content |
//! | --- | --- | --- |
//! | `P` phase | 1 digit | `0` full load, `1` CDC: every full-load row sorts before every change |
//! | `K` change order | 35 digits | CDC: the change-sequence column (DMS `AR_H_CHANGE_SEQ`, 35 digits, timestamp `YYYYMMDDHHMMSS` then a counter) when the table has one; else the commit timestamp column as `YYYYMMDDHHMMSSffffff` (µs) padded with zeros; else the file's time from its name as `YYYYMMDDHHMMSS` + 9 fraction digits, padded with zeros. Full load: zeros. |
//! | `F` file | 23 digits | CDC: the file name's time (`YYYYMMDD-HHMMSS[fraction]` → `YYYYMMDDHHMMSS` + fraction padded to 9 digits). Full load: parallel-load segment (3 digits, `LOAD_<segment>_<counter>`, else 000) + the hex counter of `LOADxxxxxxxx` in decimal (20 digits) |
//! | `R` row | 10 digits | the row's position among the file's data rows, from 1 |
//!
//! The three `-` separators sit at fixed positions and never affect the order. In bits: 72 bytes
//! carry ≈ 229 bits of information (P 1, K ≈ 116.3, F ≈ 76.4, R ≈ 33.2): K holds any 35-digit
//! change sequence losslessly, F any 64-bit load counter or nanosecond file time, R up to
//! 9,999,999,999 rows per file (a larger file is refused, never wrapped).
//!
//! The three CDC ordering sources share the `YYYYMMDDHHMMSS` prefix, so rows of tables whose
//! files mix them still interleave by time at one-second granularity; within one table, use one
//! source consistently for a strict commit order.
//!
//! Reading, field parsing, rejection and the partitioned writers are the text engine's
//! ([`crate::ingest::textengine`], shared with the clean-zone converter); this module adds the DMS
//! layout (header detection, `Op`, commit time, change sequence), the rules for empty fields
//! (keys required, deletes may carry only their key), the system columns and `_seq`.
//!
//! # Invariants
//! - **Total and deterministic**: `(K, F, R)` is unique per row of a table (a file is identified
//!   by its name's time or counter, and `R` by the row's position), and every field depends only
//!   on the file's name and content, never on arrival order or processing time.
//! - **Nothing lost**: `rows_read = rows_written + rows_rejected`; rejected rows are kept verbatim
//!   with their line number and reason.
//! - **Bounded memory**: rows stream from the input to one Parquet writer per partition; when the
//!   row groups buffered by all writers exceed [`WRITER_BUFFER_BUDGET`], the largest is closed
//!   early. Per open partition, at most [`PARTITION_BATCH_ROWS`] rows wait in Arrow builders and pages hold
//!   at most [`PAGE_ROWS`] rows.
//! - **One object per (input file, partition)**, named from the source key only, so a re-run
//!   overwrites identically. Each object's footer records `tributary.seq_min`/`seq_max`.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};
use parquet::file::metadata::KeyValue;
use serde::Serialize;

use crate::config::LandingTuning;
use crate::ingest::convert::{
    BATCH_ROWS, ConvertError, ConvertReport, ReadLimits, TextFormat, blame_source, open_text,
};
use crate::ingest::textengine::{
    DelimitedReader, Engine, FieldRules, Kept, OutputPlan, PartStats, Rejection, Spill, line_of,
    parse_fields, push_partition_value, recycle, wrong_width,
};
use crate::model::schema::{Cell, Column, TableSchema, parse_timestamp};
use crate::storage::SinkFactory;

pub use crate::format::raw::{
    COMMIT_TS, META_SEQ_MAX, META_SEQ_MIN, META_SOURCE, OP, PAGE_ROWS, SEQ, SOURCE_FILE,
    raw_schema, raw_writer_properties,
};
pub use crate::model::dms::Phase;

mod seq;
pub use seq::*;

/// Encoded row groups buffered across all open partition writers before the largest is flushed.
pub const WRITER_BUFFER_BUDGET: usize = 48 << 20;
/// Rows a partition collects in Arrow builders before they go to its Parquet writer.
pub const PARTITION_BATCH_ROWS: usize = 4096;
/// Positions of the system columns in raw-tier files, and their number.
const OP_AT: usize = 0;
const SEQ_AT: usize = 1;
const SOURCE_FILE_AT: usize = 2;
const COMMIT_TS_AT: usize = 3;
const SYSTEM_COLUMNS: usize = 4;

/// How one DMS file is to be sequenced.
#[derive(Debug, Clone)]
pub struct CdcSpec {
    /// The table's data columns (declared).
    pub schema: TableSchema,
    pub primary_key: Vec<String>,
    pub partition_columns: Vec<String>,
    /// `Some(true)`: the first row names the columns (DMS `AddColumnName`); `None`: detected.
    pub header: Option<bool>,
    pub delimiter: u8,
    pub timestamp_column: Option<String>,
    pub change_sequence_column: Option<String>,
    /// The landing key, stored in `_source_file`.
    pub source_file: String,
    pub file: DmsFile,
    /// `<dataset>/`; objects go to `<prefix><k=v/...>/<stem>.parquet`.
    pub output_prefix: String,
    pub output_stem: String,
    pub reject_key: String,
    pub tuning: LandingTuning,
    /// When reading must stop (the Lambda deadline less a margin); `None`: no deadline.
    pub deadline: Option<std::time::Instant>,
}

/// Counts reconcile: `rows_read == rows_written + rows_rejected`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CdcReport {
    #[serde(flatten)]
    pub base: ConvertReport,
    pub phase: Option<Phase>,
    /// Rows written, by op (`I`, `U`, `D`).
    pub rows_by_op: BTreeMap<String, u64>,
    pub seq_first: Option<String>,
    pub seq_last: Option<String>,
    pub header: bool,
    pub op_column: bool,
}

/// Sequences a delimited DMS file (gzip detected by magic bytes).
pub fn sequence_csv<R: Read + Send>(
    input: R,
    spec: &CdcSpec,
    outputs: &dyn SinkFactory,
    rejects: &dyn SinkFactory,
) -> Result<CdcReport, ConvertError> {
    let (reader, gzip, watch) = open_text(
        input,
        TextFormat::Csv,
        ReadLimits::new(&spec.tuning, spec.deadline),
    )?;
    let mut run = Run::new(TextFormat::Csv, spec, outputs, rejects);
    run.engine.report.compressed = gzip;
    let result = run.csv(reader).map_err(|e| blame_source(e, &watch));
    run.conclude(result)
}

/// Sequences a DMS Parquet file (read from a local file: Parquet needs random access). Values
/// are rendered as text and validated exactly like CSV fields, so both formats behave alike.
pub fn sequence_parquet(
    file: std::fs::File,
    spec: &CdcSpec,
    outputs: &dyn SinkFactory,
    rejects: &dyn SinkFactory,
) -> Result<CdcReport, ConvertError> {
    let mut run = Run::new(TextFormat::Parquet, spec, outputs, rejects);
    let result = run.parquet(file);
    run.conclude(result)
}

/// Where each field is in a record.
struct Layout {
    width: usize,
    op: Option<usize>,
    ts: Option<usize>,
    cseq: Option<usize>,
    /// Field index per schema column.
    data: Vec<usize>,
}

/// The `_seq` range of an object (or of the whole file).
#[derive(Default)]
struct SeqRange(Option<([u8; SEQ_WIDTH], [u8; SEQ_WIDTH])>);

impl SeqRange {
    fn observe(&mut self, seq: &[u8; SEQ_WIDTH]) {
        match &mut self.0 {
            None => self.0 = Some((*seq, *seq)),
            // Rows mostly arrive in `_seq` order: usually one comparison.
            Some((_, max)) if seq > max => *max = *seq,
            Some((min, _)) if seq < min => *min = *seq,
            Some(_) => {}
        }
    }

    fn text(bytes: &[u8; SEQ_WIDTH]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

impl PartStats for SeqRange {
    /// `tributary.seq_min` and `tributary.seq_max`.
    fn footer(&self) -> Vec<KeyValue> {
        self.0
            .iter()
            .flat_map(|(min, max)| [(META_SEQ_MIN, min), (META_SEQ_MAX, max)])
            .map(|(k, v)| KeyValue::new(k.to_string(), Self::text(v)))
            .collect()
    }

    fn absorb(&mut self, closed: &Self) {
        if let Some((min, max)) = &closed.0 {
            self.observe(min);
            self.observe(max);
        }
    }
}

/// DMS rules for empty fields: a key column must have a value; a delete may carry only its key.
struct DmsFields<'k> {
    key_idx: &'k [usize],
    delete: bool,
}

impl FieldRules for DmsFields<'_> {
    const KEEP_NUMBER_REASON: bool = true;

    fn empty_field(&self, ci: usize, col: &Column) -> Option<Result<Cell<'static>, Rejection>> {
        if self.key_idx.contains(&ci) {
            let reason = format!("key column {} is empty", col.name);
            return Some(Err(("missing_key", reason)));
        }
        (self.delete || col.nullable).then_some(Ok(Cell::Null))
    }
}

/// The raw-zone sequencing: system columns before the data columns, `_seq` per row.
struct Run<'a> {
    spec: &'a CdcSpec,
    engine: Engine<'a, SeqRange>,
    partition_idx: Vec<usize>,
    key_idx: Vec<usize>,
    seq: SeqWriter,
    /// The partition key of the current row.
    part_key: Vec<u8>,
    /// Rows written with op I, U, D.
    op_counts: [u64; 3],
    header: bool,
    op_column: bool,
}

impl<'a> Run<'a> {
    fn new(
        format: TextFormat,
        spec: &'a CdcSpec,
        outputs: &'a dyn SinkFactory,
        rejects: &'a dyn SinkFactory,
    ) -> Self {
        let raw_table = raw_schema(&spec.schema, &spec.partition_columns);
        let raw = raw_table.arrow();
        let idx = |names: &[String]| {
            names
                .iter()
                .filter_map(|n| spec.schema.index_of(n))
                .collect::<Vec<_>>()
        };
        let partition_idx = idx(&spec.partition_columns);
        let mut engine = Engine::new(
            format,
            outputs,
            rejects,
            spec.reject_key.clone(),
            spec.delimiter,
            spec.tuning.max_reject_ratio,
        );
        engine.plan_outputs(OutputPlan {
            prefix: spec.output_prefix.clone(),
            stem: spec.output_stem.clone(),
            static_partitions: Vec::new(),
            partition_names: partition_idx
                .iter()
                .map(|&pi| spec.schema.columns[pi].name.clone())
                .collect(),
            props: raw_writer_properties(spec.tuning.row_group_rows, &raw, &spec.primary_key),
            schema: raw,
            column_types: raw_table.columns.iter().map(|c| c.ty).collect(),
            leading: SYSTEM_COLUMNS,
            data_cells: (0..spec.schema.columns.len())
                .filter(|&ci| {
                    !spec
                        .partition_columns
                        .contains(&spec.schema.columns[ci].name)
                })
                .collect(),
            // `_source_file` is one value per file: a slice of a prebuilt column.
            constant: Some((SOURCE_FILE_AT, spec.source_file.clone())),
            batch_rows: PARTITION_BATCH_ROWS,
            spill: Spill::FlushLargest {
                budget: WRITER_BUFFER_BUDGET,
            },
            footer: vec![(META_SOURCE.to_string(), spec.source_file.clone())],
        });
        engine.report.schema = raw_table;
        Self {
            spec,
            engine,
            partition_idx,
            key_idx: idx(&spec.primary_key),
            seq: SeqWriter::new(&spec.file),
            part_key: Vec::new(),
            op_counts: [0; 3],
            header: false,
            op_column: false,
        }
    }

    fn unreadable(&self, reason: impl Into<String>) -> ConvertError {
        self.engine.unreadable(reason)
    }

    fn cdc(&self) -> bool {
        self.spec.file.phase == Phase::Cdc
    }

    /// Decides the layout from the header (names) or, without one, from the first record's width:
    /// `[Op,] [timestamp,] data columns… [, change sequence]` (the order DMS writes them in).
    fn layout(
        &mut self,
        names: Option<&[String]>,
        first_width: usize,
    ) -> Result<Layout, ConvertError> {
        let spec = self.spec;
        if spec.partition_columns.len() != self.partition_idx.len()
            || spec.primary_key.len() != self.key_idx.len()
        {
            return Err(self.unreadable("a key or partition column is not in the table's schema"));
        }
        match names {
            Some(names) => {
                let find = |n: &str| names.iter().position(|h| h.eq_ignore_ascii_case(n));
                let op = find("Op");
                if op.is_none() && self.cdc() {
                    return Err(self.unreadable("a CDC file's header has no Op column"));
                }
                let ts = match &spec.timestamp_column {
                    Some(t) => Some(find(t).ok_or_else(|| {
                        self.unreadable(format!("the header has no timestamp column {t}"))
                    })?),
                    None => None,
                };
                let cseq = spec.change_sequence_column.as_deref().and_then(find);
                let mut data = Vec::with_capacity(spec.schema.columns.len());
                for c in &spec.schema.columns {
                    data.push(find(&c.name).ok_or_else(|| {
                        self.unreadable(format!("the header has no column {}", c.name))
                    })?);
                }
                let known = |i: usize| {
                    Some(i) == op || Some(i) == ts || Some(i) == cseq || data.contains(&i)
                };
                let extra: Vec<&String> = names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !known(*i))
                    .map(|(_, n)| n)
                    .collect();
                if !extra.is_empty() {
                    self.engine.report.warnings.push(format!(
                        "columns not in the table's schema were dropped: {extra:?}"
                    ));
                }
                Ok(Layout {
                    width: names.len(),
                    op,
                    ts,
                    cseq,
                    data,
                })
            }
            None => {
                let base = spec.schema.columns.len()
                    + usize::from(spec.timestamp_column.is_some())
                    + usize::from(spec.change_sequence_column.is_some());
                let has_op = self.cdc() || first_width == base + 1;
                let mut at = 0;
                let mut next = || {
                    at += 1;
                    at - 1
                };
                let op = has_op.then(&mut next);
                let ts = spec.timestamp_column.as_ref().map(|_| next());
                let data = spec.schema.columns.iter().map(|_| next()).collect();
                let cseq = spec.change_sequence_column.as_ref().map(|_| next());
                Ok(Layout {
                    width: at,
                    op,
                    ts,
                    cseq,
                    data,
                })
            }
        }
    }

    fn is_header(&self, rec: &csv::ByteRecord) -> bool {
        let first = rec.get(0).unwrap_or_default();
        let first = String::from_utf8_lossy(first);
        let first = first.trim().trim_start_matches('\u{feff}');
        first.eq_ignore_ascii_case("Op")
            || self
                .spec
                .timestamp_column
                .as_deref()
                .is_some_and(|t| first.eq_ignore_ascii_case(t))
            || self
                .spec
                .schema
                .columns
                .first()
                .is_some_and(|c| first.eq_ignore_ascii_case(&c.name))
    }

    fn csv<B: io::BufRead>(&mut self, reader: B) -> Result<(), ConvertError> {
        let mut rdr = DelimitedReader::new(reader, self.spec.delimiter);
        let mut rec = csv::ByteRecord::new();
        if !rdr.read(&mut rec)? {
            return Ok(());
        }
        let header = self.spec.header.unwrap_or_else(|| self.is_header(&rec));
        self.header = header;
        let layout = if header {
            let names = self.engine.header(&rec)?;
            let layout = self.layout(Some(&names), names.len())?;
            if !rdr.read(&mut rec)? {
                self.op_column = layout.op.is_some();
                return Ok(());
            }
            layout
        } else {
            self.layout(None, rec.len())?
        };
        self.op_column = layout.op.is_some();
        let mut cells: Vec<Cell<'static>> = Vec::with_capacity(self.spec.schema.columns.len());
        loop {
            self.row(&layout, line_of(&rec), &rec, &mut cells)?;
            if self.engine.report.rows_read.is_multiple_of(4096) {
                self.engine.check_progress()?;
            }
            if !rdr.read(&mut rec)? {
                return Ok(());
            }
        }
    }

    fn parquet(&mut self, file: std::fs::File) -> Result<(), ConvertError> {
        use arrow::util::display::{ArrayFormatter, FormatOptions};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| self.unreadable(format!("not a readable Parquet file: {e}")))?;
        let names: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let reader = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| self.unreadable(format!("not a readable Parquet file: {e}")))?;
        self.header = true;
        self.engine
            .keep_header(csv::ByteRecord::from(names.clone()));
        let layout = self.layout(Some(&names), names.len())?;
        self.op_column = layout.op.is_some();
        let options = FormatOptions::default();
        let mut rec = csv::ByteRecord::new();
        let mut field = Vec::with_capacity(64);
        let mut cells: Vec<Cell<'static>> = Vec::with_capacity(self.spec.schema.columns.len());
        let mut line = 0u64;
        for batch in reader {
            let batch =
                batch.map_err(|e| self.unreadable(format!("reading Parquet data failed: {e}")))?;
            let columns = batch.columns();
            let formatters = columns
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.unreadable(format!("unsupported Parquet column: {e}")))?;
            for i in 0..batch.num_rows() {
                rec.clear();
                for (c, f) in columns.iter().zip(&formatters) {
                    field.clear();
                    if !c.is_null(i) {
                        write!(field, "{}", f.value(i))
                            .map_err(|e| self.unreadable(e.to_string()))?;
                    }
                    rec.push_field(&field);
                }
                line += 1;
                self.row(&layout, line, &rec, &mut cells)?;
            }
            self.engine.check_progress()?;
        }
        Ok(())
    }

    /// Validates, sequences and routes one data row.
    fn row(
        &mut self,
        layout: &Layout,
        line: u64,
        rec: &csv::ByteRecord,
        cells_buf: &mut Vec<Cell<'static>>,
    ) -> Result<(), ConvertError> {
        self.engine.report.rows_read += 1;
        let position = self.engine.report.rows_read;
        if !self.seq.set_row(position) {
            return Err(self.unreadable(format!("more than {MAX_ROWS_PER_FILE} rows in one file")));
        }
        if rec.len() != layout.width {
            let rejection = wrong_width(layout.width, rec.len());
            return self.engine.reject(line, rejection, Kept::Record(rec));
        }
        let (op, commit) = match self.order(layout, rec) {
            Ok(found) => found,
            Err(rejection) => return self.engine.reject(line, rejection, Kept::Record(rec)),
        };
        let mut cells: Vec<Cell<'_>> = recycle(std::mem::take(cells_buf));
        let rules = DmsFields {
            key_idx: &self.key_idx,
            delete: op == "D",
        };
        let parsed = parse_fields(
            &self.spec.schema.columns,
            &layout.data,
            rec,
            &mut cells,
            &rules,
        );
        let result = match parsed {
            Err(rejection) => self.engine.reject(line, rejection, Kept::Record(rec)),
            Ok(()) => self.accept(op, &commit, &cells),
        };
        *cells_buf = recycle(cells);
        result
    }

    /// The row's op and commit time; sets `K` of `_seq` (CDC files).
    fn order(
        &mut self,
        layout: &Layout,
        rec: &csv::ByteRecord,
    ) -> Result<(&'static str, Cell<'static>), Rejection> {
        let op: &'static str = match layout.op.map(|i| rec[i].trim_ascii()) {
            None => "I",
            Some(b"I") => "I",
            Some(b"U") => "U",
            Some(b"D") => "D",
            Some(other) => {
                let reason = format!(
                    "Op {:?} is not I, U or D",
                    String::from_utf8_lossy(&other[..other.len().min(32)])
                );
                return Err(("unknown_op", reason));
            }
        };
        // Commit time and the order key K.
        let mut commit = Cell::Null;
        let mut commit_text: Option<&[u8]> = None;
        if let Some(i) = layout.ts {
            let raw = rec[i].trim_ascii();
            if !raw.is_empty() {
                match std::str::from_utf8(raw).ok().and_then(parse_timestamp) {
                    Some(us) => {
                        commit = Cell::Ts(us);
                        commit_text = Some(raw);
                    }
                    None => {
                        let reason = format!(
                            "commit timestamp {:?} is not yyyy-MM-dd HH:mm:ss[.ffffff]",
                            String::from_utf8_lossy(&raw[..raw.len().min(40)])
                        );
                        return Err(("invalid_commit_timestamp", reason));
                    }
                }
            }
        }
        if self.cdc() {
            if let Some(i) = layout.cseq {
                if !self.seq.set_change_sequence(rec[i].trim_ascii()) {
                    let reason = format!(
                        "change sequence {:?} is not 35 digits",
                        String::from_utf8_lossy(&rec[i][..rec[i].len().min(40)])
                    );
                    return Err(("invalid_change_sequence", reason));
                }
            } else if layout.ts.is_some() {
                let ok = match (commit_text, &commit) {
                    (Some(t), _) if self.seq.set_commit_text(t) => true,
                    (_, Cell::Ts(us)) => self.seq.set_commit_micros(*us),
                    _ => false,
                };
                if !ok {
                    let reason = "commit timestamp is missing or out of range (it orders this table's changes)".to_string();
                    return Err(("invalid_commit_timestamp", reason));
                }
            }
        }
        Ok((op, commit))
    }

    fn accept(
        &mut self,
        op: &'static str,
        commit: &Cell<'_>,
        cells: &[Cell<'_>],
    ) -> Result<(), ConvertError> {
        // Canonical partition values of this row, as the lookup key.
        self.part_key.clear();
        for &pi in &self.partition_idx {
            push_partition_value(&mut self.part_key, |k| canonical(&cells[pi], k));
        }
        let seq = &self.seq;
        self.engine.accept(&self.part_key, cells, |out| {
            out.builders[OP_AT].append(&Cell::Str(op));
            out.builders[SEQ_AT].append(&Cell::Str(seq.as_str()));
            out.builders[COMMIT_TS_AT].append(commit);
            out.stats.observe(seq.bytes());
        })?;
        self.op_counts[match op {
            "I" => 0,
            "U" => 1,
            _ => 2,
        }] += 1;
        Ok(())
    }

    /// Publishes after a complete read, or discards everything after a failed one.
    fn conclude(self, read: Result<(), ConvertError>) -> Result<CdcReport, ConvertError> {
        let (base, seq) = self.engine.conclude(read, false)?;
        let mut rows_by_op = BTreeMap::new();
        for (op, n) in ["I", "U", "D"].iter().zip(self.op_counts) {
            if n > 0 {
                rows_by_op.insert(op.to_string(), n);
            }
        }
        let report = CdcReport {
            base,
            phase: Some(self.spec.file.phase),
            rows_by_op,
            seq_first: seq.0.map(|(min, _)| SeqRange::text(&min)),
            seq_last: seq.0.map(|(_, max)| SeqRange::text(&max)),
            header: self.header,
            op_column: self.op_column,
        };
        Ok(report)
    }
}
/// The canonical text of a partition value (`YYYY-MM-DD` for dates, plain decimals for
/// integers); NULL is empty (Hive's default partition).
fn canonical(cell: &Cell<'_>, out: &mut Vec<u8>) {
    match cell {
        Cell::Null => {}
        Cell::Str(s) => out.extend_from_slice(s.as_bytes()),
        Cell::Owned(s) => out.extend_from_slice(s.as_bytes()),
        Cell::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::F64(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::Bool(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::Date(d) => {
            let day = chrono::DateTime::from_timestamp(*d as i64 * 86_400, 0)
                .map(|t| t.date_naive().to_string())
                .unwrap_or_default();
            out.extend_from_slice(day.as_bytes());
        }
        Cell::Ts(us) => {
            let t = chrono::DateTime::from_timestamp_micros(*us)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_default();
            out.extend_from_slice(t.as_bytes());
        }
    }
}

#[cfg(test)]
#[path = "cdc_tests.rs"]
mod tests;
