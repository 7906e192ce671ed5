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
//! (keys required, deletes may carry only their key), the system columns and `_seq`. DMS
//! Parquet is read column by column with Arrow casts to the declared types
//! ([`crate::ingest::cast`], `columnar`), never through text.
//!
//! # Schema drift
//!
//! DMS propagates `ALTER TABLE ADD COLUMN` into the files it writes from then on, so a table's
//! files differ in width:
//! - a declared nullable column (neither key nor partition) missing from a file's header or
//!   Parquet schema is NULL in that file's rows;
//! - a headerless record short of trailing nullable columns takes them as NULL (DMS appends new
//!   columns at the end); any other width is a row rejection;
//! - a header or Parquet column the declaration lacks, or a Parquet type wider than declared, is
//!   [`ConvertError::SchemaDrift`] with the columns to add or widen (CSV types inferred from all
//!   of the file's values): nothing is written, the caller evolves the declaration or refuses
//!   the file. A narrowing or unrelated Parquet type makes the file unreadable.
//!
//! The outcome depends only on the file and the declaration it is read with, never on the order
//! files arrive in.
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
    ABSENT, DelimitedReader, Engine, FieldRules, Kept, OutputPlan, PartStats, Rejection, Spill,
    line_of, parse_fields, push_partition_value, recycle, wrong_width,
};
use crate::model::schema::{Cell, Column, TableSchema, TypeGuess, parse_timestamp};
use crate::storage::SinkFactory;

pub use crate::format::raw::{
    COMMIT_TS, META_SEQ_MAX, META_SEQ_MIN, META_SOURCE, OP, PAGE_ROWS, SEQ, SOURCE_FILE,
    raw_schema, raw_writer_properties,
};
pub use crate::model::dms::Phase;

mod columnar;
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
    /// Values whose dropped part was not zero, by column (Parquet: a time of day into a `date`,
    /// sub-microsecond digits into a `timestamp`; see [`crate::ingest::cast`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub values_truncated: BTreeMap<String, u64>,
}

/// The columns of a [`ConvertError::SchemaDrift`], as a reason: `BONUS double (new), GRADE bigint (widened)`.
pub fn describe_drift(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.ty.glue()))
        .collect::<Vec<_>>()
        .join(", ")
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

/// Sequences a DMS Parquet file (read from a local file: Parquet needs random access). Columns
/// are converted to their declared types with Arrow casts, batch by batch, by the rules of
/// [`crate::ingest::cast`]; a row with a value the rules reject goes to the rejected rows.
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
    /// Field index per schema column ([`ABSENT`]: not in the file, NULL).
    data: Vec<usize>,
    /// Fields of a header that are no column of the declaration (nor `Op`, commit time or
    /// change sequence): the file's schema drifted.
    extra: Vec<usize>,
}

impl Layout {
    /// The layout of a headerless record `missing` fields short: DMS appends new columns at the
    /// end, so the last `missing` data columns are absent (the change sequence, last, moves up).
    fn short(&self, missing: usize) -> Layout {
        let keep = self.data.len() - missing;
        Layout {
            width: self.width - missing,
            op: self.op,
            ts: self.ts,
            cseq: self.cseq.map(|i| i - missing),
            data: (0..self.data.len())
                .map(|ci| if ci < keep { self.data[ci] } else { ABSENT })
                .collect(),
            extra: Vec::new(),
        }
    }
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
    /// Truncated values by schema column (Parquet).
    truncated: Vec<u64>,
    /// How many trailing declared columns a shorter headerless record may lack (nullable,
    /// neither key nor partition).
    may_lack: usize,
    /// Layouts of shorter headerless records, by the number of missing fields.
    short: Vec<Option<Layout>>,
    /// A headerless full-load record starts with `I` where no declared column could hold it:
    /// DMS wrote `Op` (`IncludeOpForFullLoad`) into a file narrower than the declaration.
    op_first: bool,
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
        let fixed: Vec<usize> = idx(&spec.primary_key)
            .into_iter()
            .chain(partition_idx.iter().copied())
            .collect();
        let may_lack = spec
            .schema
            .columns
            .iter()
            .enumerate()
            .rev()
            .take_while(|(ci, c)| c.nullable && !fixed.contains(ci))
            .count();
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
            truncated: vec![0; spec.schema.columns.len()],
            may_lack,
            short: Vec::new(),
            op_first: false,
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
                for (ci, c) in spec.schema.columns.iter().enumerate() {
                    // A nullable column the file lacks (it predates the column) is NULL.
                    let needed = !c.nullable
                        || self.key_idx.contains(&ci)
                        || self.partition_idx.contains(&ci);
                    data.push(match find(&c.name) {
                        Some(i) => i,
                        None if !needed => ABSENT,
                        None => {
                            let reason = format!("the header has no column {} (required)", c.name);
                            return Err(self.unreadable(reason));
                        }
                    });
                }
                let known = |i: usize| {
                    Some(i) == op || Some(i) == ts || Some(i) == cseq || data.contains(&i)
                };
                let extra = (0..names.len()).filter(|i| !known(*i)).collect();
                Ok(Layout {
                    width: names.len(),
                    op,
                    ts,
                    cseq,
                    data,
                    extra,
                })
            }
            None => {
                let base = spec.schema.columns.len()
                    + usize::from(spec.timestamp_column.is_some())
                    + usize::from(spec.change_sequence_column.is_some());
                let has_op = self.cdc() || first_width == base + 1 || self.op_first;
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
                    extra: Vec::new(),
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
            if !layout.extra.is_empty() {
                return Err(self.csv_drift(&names, &layout, &mut rdr, &mut rec));
            }
            if !rdr.read(&mut rec)? {
                self.op_column = layout.op.is_some();
                return Ok(());
            }
            layout
        } else {
            self.op_first = self.starts_with_op(&rec);
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

    /// Whether a headerless full-load record narrower than the declaration plus `Op` starts
    /// with an `Op` value: `I` in a field no declared column could hold (the commit time, or a
    /// data column that is not a string).
    fn starts_with_op(&self, rec: &csv::ByteRecord) -> bool {
        let spec = self.spec;
        let first_holds_text = spec.timestamp_column.is_none()
            && spec
                .schema
                .columns
                .first()
                .is_some_and(|c| c.ty == crate::model::schema::ColumnType::String);
        rec.get(0).map(<[u8]>::trim_ascii) == Some(b"I") && !first_holds_text
    }

    /// The header names columns the declaration lacks: their types are inferred from all of
    /// the file's values (a second pass only when a schema changes), and nothing is written.
    fn csv_drift<B: io::BufRead>(
        &self,
        names: &[String],
        layout: &Layout,
        rdr: &mut DelimitedReader<B>,
        rec: &mut csv::ByteRecord,
    ) -> ConvertError {
        let mut guesses = vec![TypeGuess::default(); layout.extra.len()];
        loop {
            match rdr.read(rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return e,
            }
            for (g, &fi) in guesses.iter_mut().zip(&layout.extra) {
                if let Some(text) = rec.get(fi).and_then(|f| std::str::from_utf8(f).ok()) {
                    g.observe_text(text);
                }
            }
        }
        let columns = layout
            .extra
            .iter()
            .zip(&guesses)
            .map(|(&fi, g)| Column {
                name: names[fi].clone(),
                ty: g.column_type(),
                nullable: true,
            })
            .collect();
        ConvertError::SchemaDrift { columns }
    }

    /// How many trailing fields a record of `width` fields lacks: 0 for the file's width; for a
    /// headerless record lacking trailing nullable columns, their number (its layout is built
    /// in `self.short`); `None`: a width mismatch.
    fn missing_fields(&mut self, layout: &Layout, width: usize) -> Option<usize> {
        if width == layout.width {
            return Some(0);
        }
        let missing = layout.width.checked_sub(width)?;
        if self.header || missing > self.may_lack {
            return None;
        }
        if self.short.len() <= missing {
            self.short.resize_with(missing + 1, || None);
        }
        self.short[missing].get_or_insert_with(|| layout.short(missing));
        Some(missing)
    }

    /// The file's layout, or the one of a record `missing` fields short.
    fn layout_of<'l>(&'l self, layout: &'l Layout, missing: usize) -> &'l Layout {
        match missing {
            0 => layout,
            m => self.short[m].as_ref().expect("built by missing_fields"),
        }
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
        let Some(missing) = self.missing_fields(layout, rec.len()) else {
            let rejection = wrong_width(layout.width, rec.len());
            return self.engine.reject(line, rejection, Kept::Record(rec));
        };
        let (op_at, ts_at, cseq_at) = {
            let l = self.layout_of(layout, missing);
            (l.op, l.ts, l.cseq)
        };
        let fields = OrderFields {
            op: op_at.map(|i| &rec[i]),
            commit: ts_at.map_or(Commit::None, |i| Commit::Text(&rec[i])),
            cseq: cseq_at.map(|i| &rec[i]),
        };
        let (op, commit) = match self.order(fields) {
            Ok(found) => found,
            Err(rejection) => return self.engine.reject(line, rejection, Kept::Record(rec)),
        };
        let mut cells: Vec<Cell<'_>> = recycle(std::mem::take(cells_buf));
        let rules = DmsFields {
            key_idx: &self.key_idx,
            delete: op == "D",
        };
        let data = &self.layout_of(layout, missing).data;
        let parsed = parse_fields(&self.spec.schema.columns, data, rec, &mut cells, &rules);
        let result = match parsed {
            Err(rejection) => self.engine.reject(line, rejection, Kept::Record(rec)),
            Ok(()) => self.accept(op, &commit, &cells),
        };
        *cells_buf = recycle(cells);
        result
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
            values_truncated: self
                .spec
                .schema
                .columns
                .iter()
                .zip(&self.truncated)
                .filter(|(_, n)| **n > 0)
                .map(|(c, n)| (c.name.clone(), *n))
                .collect(),
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
