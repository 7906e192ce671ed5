//! The one text→Parquet engine behind the clean-zone converter ([`crate::ingest::convert`]) and the
//! raw-zone CDC sequencer ([`crate::ingest::cdc`]): reading delimited records and JSON lines (from the
//! buffered, gunzipped input of `convert::open_text`), parsing fields into typed cells with
//! per-row rejection, the rejected-rows file, and the partitioned Parquet writers with their
//! [`OutputFile`] bookkeeping. Each user adds only its own rules: which columns lead the data
//! columns of its files (filled per row through [`Engine::accept`]), what is decided about an
//! empty field ([`FieldRules`]), what each output remembers for its footer ([`PartStats`]) and
//! how partitions spill ([`Spill`]).
//!
//! Invariants:
//! - **Nothing is lost**: every row a user counts in `rows_read` ends in [`Engine::accept`]
//!   (`rows_written`) or [`Engine::reject`] (`rows_rejected`, a line number and a reason, the row
//!   kept verbatim, CSV re-quoted, in the reject sink).
//! - **Nothing half-published**: outputs are finished only by [`Engine::conclude`] after a
//!   complete read with an acceptable reject ratio, and only once the rejected rows are durable;
//!   on any failure every open sink is aborted.
//! - **Bounded memory**: at most [`OutputPlan::batch_rows`] rows wait in the Arrow builders of
//!   an open partition; [`Spill`] bounds the open partitions or their encoded row groups.
//! - **Deterministic**: object keys depend only on the plan and the rows' partition values.
//! - **No dispatch per cell**: user rules are generic parameters (monomorphised); the per-row
//!   path reuses its buffers and allocates nothing of its own.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::ingest::convert::{
    ConvertError, ConvertReport, GIVE_UP_AFTER_ROWS, MAX_REPORTED_REJECTIONS, OutputFile,
    RowRejection, TextFormat, escape_partition_value, parquet_write_error,
};
use crate::model::schema::{
    Cell, Column, ColumnBuilder, ColumnType, parse_numeric_bytes, parse_text,
};
use crate::storage::{ObjectSink, SinkFactory};

/// Why a row is rejected: its category (a key of `rejections_by_reason`) and the reason.
pub(crate) type Rejection = (&'static str, String);

// ------------------------------------------------------------------------------------ input

/// Delimited records (CSV, TSV, DMS), read as bytes: fields are validated per column later.
pub(crate) struct DelimitedReader<B: BufRead> {
    rdr: csv::Reader<B>,
}

impl<B: BufRead> DelimitedReader<B> {
    pub(crate) fn new(input: B, delimiter: u8) -> Self {
        let rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(input);
        Self { rdr }
    }

    /// Reads the next record; `false` at the end of the input.
    pub(crate) fn read(&mut self, rec: &mut csv::ByteRecord) -> Result<bool, ConvertError> {
        self.rdr
            .read_byte_record(rec)
            .map_err(|e| ConvertError::Unreadable {
                format: TextFormat::Csv,
                reason: match e.into_kind() {
                    csv::ErrorKind::Io(io) => format!("decoding failed: {io}"),
                    other => format!("{other:?}"),
                },
            })
    }
}

/// The line a record starts on (from 1).
pub(crate) fn line_of(rec: &csv::ByteRecord) -> u64 {
    rec.position().map_or(0, |p| p.line())
}

/// Non-blank lines of JSON-lines input, with their line numbers.
pub(crate) struct LineReader<B: BufRead> {
    reader: B,
    line: u64,
}

impl<B: BufRead> LineReader<B> {
    pub(crate) fn new(reader: B) -> Self {
        Self { reader, line: 0 }
    }

    /// Reads the next line that is not blank into `buf`; `false` at the end of the input.
    pub(crate) fn next_line(&mut self, buf: &mut Vec<u8>) -> Result<bool, ConvertError> {
        loop {
            buf.clear();
            let n = self
                .reader
                .read_until(b'\n', buf)
                .map_err(|e| ConvertError::Unreadable {
                    format: TextFormat::JsonLines,
                    reason: format!("decoding failed: {e}"),
                })?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            if !buf.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(true);
            }
        }
    }

    /// The line number of the line last read.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }
}

// ------------------------------------------------------------------------------------ fields

/// Reuses a vector's allocation for a new lifetime (the vector is emptied first).
pub(crate) fn recycle<'x, 'y>(mut v: Vec<Cell<'x>>) -> Vec<Cell<'y>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// The rejection of a record whose width is not the expected one.
pub(crate) fn wrong_width(expected: usize, found: usize) -> Rejection {
    (
        "wrong_column_count",
        format!("expected {expected} fields, found {found}"),
    )
}

/// A user's rules for the fields of one row (a generic parameter: no dispatch per cell).
pub(crate) trait FieldRules {
    /// A number that does not parse in a field that is not UTF-8 keeps the number parser's
    /// reason (`false`: the reason is `column <name>: invalid UTF-8`); both are `invalid_utf8`.
    const KEEP_NUMBER_REASON: bool = false;

    /// Decides the empty field of schema column `ci` before it is parsed; `None`: parse it
    /// (empty is NULL for a nullable column, a rejection otherwise).
    fn empty_field(&self, _ci: usize, _col: &Column) -> Option<Result<Cell<'static>, Rejection>> {
        None
    }
}

/// No rule beyond the schema's.
pub(crate) struct SchemaOnly;

impl FieldRules for SchemaOnly {}

/// Whether every field of `rec` is valid UTF-8, with one check of the whole record: the record
/// is valid and every field starts on a character boundary (then each field ends on one too).
fn record_is_utf8(rec: &csv::ByteRecord) -> bool {
    std::str::from_utf8(rec.as_slice()).is_ok()
        && rec
            .iter()
            .all(|f| f.first().is_none_or(|&c| (c as i8) >= -0x40))
}

/// The field index of a column a record does not carry (a nullable column missing from a DMS
/// file's header, or trailing columns missing from a shorter headerless record).
pub(crate) const ABSENT: usize = usize::MAX;

/// Parses the fields of `rec` into `cells`, one per column (`fields[i]` is the record's field
/// for `columns[i]`, or [`ABSENT`]: NULL); the first field that fails rejects the row. Numbers are parsed straight
/// from their bytes; other fields are checked for UTF-8 once per record.
pub(crate) fn parse_fields<'r, R: FieldRules>(
    columns: &[Column],
    fields: &[usize],
    rec: &'r csv::ByteRecord,
    cells: &mut Vec<Cell<'r>>,
    rules: &R,
) -> Result<(), Rejection> {
    let not_utf8 = |col: &Column| {
        (
            "invalid_utf8",
            format!("column {}: invalid UTF-8", col.name),
        )
    };
    let mut record_utf8: Option<bool> = None;
    for (ci, (col, &fi)) in columns.iter().zip(fields).enumerate() {
        let Some(raw) = rec.get(fi) else {
            // A column this record does not carry ([`ABSENT`]): NULL where the column allows it.
            if !col.nullable {
                let reason = format!("column {}: required value is missing", col.name);
                return Err(("missing_column", reason));
            }
            cells.push(Cell::Null);
            continue;
        };
        if raw.is_empty()
            && let Some(decided) = rules.empty_field(ci, col)
        {
            cells.push(decided?);
            continue;
        }
        let cell = match parse_numeric_bytes(col, raw) {
            Some(Ok(c)) => c,
            Some(Err(reason)) if std::str::from_utf8(raw).is_ok() => {
                return Err(("invalid_value", reason));
            }
            Some(Err(reason)) if R::KEEP_NUMBER_REASON => return Err(("invalid_utf8", reason)),
            Some(Err(_)) => return Err(not_utf8(col)),
            None => {
                let text = if *record_utf8.get_or_insert_with(|| record_is_utf8(rec)) {
                    // SAFETY: the record is valid UTF-8 and this field starts and ends on
                    // character boundaries (checked by `record_is_utf8`).
                    unsafe { std::str::from_utf8_unchecked(raw) }
                } else {
                    std::str::from_utf8(raw).map_err(|_| not_utf8(col))?
                };
                parse_text(col, text).map_err(|reason| ("invalid_value", reason))?
            }
        };
        cells.push(cell);
    }
    Ok(())
}

// ------------------------------------------------------------------------------------ outputs

/// What an output remembers of its rows, for its footer and for the run.
pub(crate) trait PartStats: Default {
    /// Footer metadata of the finished object (before [`OutputPlan::footer`]).
    fn footer(&self) -> Vec<KeyValue>;
    /// Folds a closed output's stats into the run's.
    fn absorb(&mut self, closed: &Self);
}

impl PartStats for () {
    fn footer(&self) -> Vec<KeyValue> {
        Vec::new()
    }
    fn absorb(&mut self, _: &Self) {}
}

/// What happens when partitions pile up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Spill {
    /// At most `max_open` partitions are open; one more closes the oldest, whose later rows go
    /// to a new numbered part (`<stem>-<part:05>.parquet`).
    CloseOldest { max_open: usize },
    /// One object per partition (`<stem>.parquet`); when the writers together buffer more than
    /// `budget` bytes of encoded row groups, the largest closes its row group.
    FlushLargest { budget: usize },
}

/// The files one run writes: names, columns and writer settings.
pub(crate) struct OutputPlan {
    /// Key prefix, e.g. `sales.orders/`.
    pub prefix: String,
    /// Per-source stem of object names.
    pub stem: String,
    /// Fixed partitions preceding the data-driven ones.
    pub static_partitions: Vec<(String, String)>,
    /// Names of the data-driven partition columns, in partition-key order.
    pub partition_names: Vec<String>,
    /// The files' Arrow schema.
    pub schema: SchemaRef,
    pub props: WriterProperties,
    /// Builder type of each column of [`Self::schema`].
    pub column_types: Vec<ColumnType>,
    /// Columns the user fills per row (in [`Engine::accept`]) before the data columns.
    pub leading: usize,
    /// Cell index (in the row's cells) of each data column after the leading ones.
    pub data_cells: Vec<usize>,
    /// A column holding one string in every row: sliced from a prebuilt array at each batch
    /// instead of built row by row.
    pub constant: Option<(usize, String)>,
    /// Rows a partition collects in Arrow builders before they go to its Parquet writer.
    pub batch_rows: usize,
    pub spill: Spill,
    /// Footer metadata of every object (after the outputs' own [`PartStats::footer`]).
    pub footer: Vec<(String, String)>,
}

impl Default for OutputPlan {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            stem: String::new(),
            static_partitions: Vec::new(),
            partition_names: Vec::new(),
            schema: Arc::new(arrow::datatypes::Schema::empty()),
            props: WriterProperties::default(),
            column_types: Vec::new(),
            leading: 0,
            data_cells: Vec::new(),
            constant: None,
            batch_rows: 1,
            spill: Spill::CloseOldest { max_open: 1 },
            footer: Vec::new(),
        }
    }
}

/// Appends one partition value to a partition key: length-prefixed, so keys of different
/// value lists never collide. `write` appends the value's text.
pub(crate) fn push_partition_value(key: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = key.len();
    key.extend_from_slice(&[0; 4]);
    write(key);
    let len = (key.len() - at - 4) as u32;
    key[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// The values of a key built with [`push_partition_value`].
fn partition_values(mut key: &[u8]) -> Vec<String> {
    let mut values = Vec::new();
    while key.len() >= 4 {
        let len = u32::from_le_bytes([key[0], key[1], key[2], key[3]]) as usize;
        let end = (4 + len).min(key.len());
        values.push(String::from_utf8_lossy(&key[4..end]).into_owned());
        key = &key[end..];
    }
    values
}

/// One open partition: its Parquet writer and the rows waiting in its builders.
pub(crate) struct OpenPart<X> {
    /// The partition key it was opened for.
    part_key: Vec<u8>,
    values: Vec<(String, String)>,
    path: String,
    key: String,
    /// One builder per column of the plan's schema; users fill the leading ones.
    pub(crate) builders: Vec<ColumnBuilder>,
    pending: usize,
    rows: u64,
    writer: ArrowWriter<Box<dyn ObjectSink>>,
    pub(crate) stats: X,
}

/// The partitioned Parquet writers of one run.
pub(crate) struct Outputs<'a, X> {
    sinks: &'a dyn SinkFactory,
    plan: OutputPlan,
    /// [`OutputPlan::constant`], prebuilt with `batch_rows` values.
    constant: Option<(usize, ArrayRef)>,
    open: Vec<OpenPart<X>>,
    index: HashMap<Vec<u8>, usize>,
    next_part: HashMap<String, u32>,
    finished: Vec<OutputFile>,
    /// Stats of the outputs closed so far.
    closed: X,
}

impl<'a, X: PartStats> Outputs<'a, X> {
    fn new(sinks: &'a dyn SinkFactory, plan: OutputPlan) -> Self {
        let constant = plan.constant.as_ref().map(|(i, v)| {
            let values = std::iter::repeat_n(v.as_str(), plan.batch_rows);
            let array: ArrayRef = Arc::new(arrow::array::StringArray::from_iter_values(values));
            (*i, array)
        });
        Self {
            sinks,
            plan,
            constant,
            open: Vec::new(),
            index: HashMap::new(),
            next_part: HashMap::new(),
            finished: Vec::new(),
            closed: X::default(),
        }
    }

    /// The open partition for `key` (built with [`push_partition_value`]), opened on first use.
    fn route(&mut self, key: &[u8]) -> Result<usize, ConvertError> {
        if key.is_empty() && self.open.len() == 1 {
            return Ok(0); // unpartitioned: skip the lookup
        }
        match self.index.get(key) {
            Some(&i) => Ok(i),
            None => self.open_partition(key),
        }
    }

    /// Appends the data cells of a row whose leading columns are filled; writes a full batch.
    fn append(&mut self, idx: usize, cells: &[Cell<'_>]) -> Result<(), ConvertError> {
        let part = &mut self.open[idx];
        let data = &mut part.builders[self.plan.leading..];
        for (b, &ci) in data.iter_mut().zip(&self.plan.data_cells) {
            b.append(&cells[ci]);
        }
        part.pending += 1;
        part.rows += 1;
        if part.pending >= self.plan.batch_rows {
            Self::flush(part, &self.plan.schema, self.constant.as_ref())?;
            if let Spill::FlushLargest { budget } = self.plan.spill {
                self.keep_within(budget)?;
            }
        }
        Ok(())
    }

    fn flush(
        part: &mut OpenPart<X>,
        schema: &SchemaRef,
        constant: Option<&(usize, ArrayRef)>,
    ) -> Result<(), ConvertError> {
        if part.pending == 0 {
            return Ok(());
        }
        let pending = part.pending;
        let arrays = part
            .builders
            .iter_mut()
            .enumerate()
            .map(|(i, b)| match constant {
                Some((at, values)) if *at == i => values.slice(0, pending),
                _ => b.finish(),
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        part.writer
            .write(&batch)
            .map_err(|e| parquet_write_error(&part.key, e))?;
        part.pending = 0;
        Ok(())
    }

    /// Closes the row group of the writer buffering the most when all of them together hold
    /// more than `budget` bytes.
    fn keep_within(&mut self, budget: usize) -> Result<(), ConvertError> {
        let total: usize = self.open.iter().map(|o| o.writer.memory_size()).sum();
        if total <= budget {
            return Ok(());
        }
        if let Some(o) = self.open.iter_mut().max_by_key(|o| o.writer.memory_size()) {
            o.writer
                .flush()
                .map_err(|e| parquet_write_error(&o.key, e))?;
        }
        Ok(())
    }

    fn open_partition(&mut self, part_key: &[u8]) -> Result<usize, ConvertError> {
        let numbered = match self.plan.spill {
            Spill::CloseOldest { max_open } => {
                if self.open.len() >= max_open {
                    let oldest = self.open.remove(0);
                    self.close(oldest)?;
                    self.index = self
                        .open
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (p.part_key.clone(), i))
                        .collect();
                }
                true
            }
            Spill::FlushLargest { .. } => false,
        };
        let plan = &self.plan;
        let mut values = plan.static_partitions.clone();
        values.extend(
            plan.partition_names
                .iter()
                .cloned()
                .zip(partition_values(part_key)),
        );
        let path = values
            .iter()
            .map(|(k, v)| format!("{k}={}", escape_partition_value(v)))
            .collect::<Vec<_>>()
            .join("/");
        let dir = if path.is_empty() {
            plan.prefix.clone()
        } else {
            format!("{}{path}/", plan.prefix)
        };
        let key = if numbered {
            let part = self.next_part.entry(path.clone()).or_insert(0);
            *part += 1;
            format!("{dir}{}-{:05}.parquet", plan.stem, *part - 1)
        } else {
            format!("{dir}{}.parquet", plan.stem)
        };
        let sink = self
            .sinks
            .create(&key, "application/vnd.apache.parquet")
            .map_err(|source| ConvertError::Sink {
                key: key.clone(),
                source,
            })?;
        let writer = ArrowWriter::try_new(sink, plan.schema.clone(), Some(plan.props.clone()))?;
        let builders = plan
            .column_types
            .iter()
            .map(|&ty| ColumnBuilder::new(ty, plan.batch_rows))
            .collect();
        self.open.push(OpenPart {
            part_key: part_key.to_vec(),
            values,
            path,
            key,
            builders,
            pending: 0,
            rows: 0,
            writer,
            stats: X::default(),
        });
        self.index.insert(part_key.to_vec(), self.open.len() - 1);
        Ok(self.open.len() - 1)
    }

    /// Writes the last batch and the footer, and finishes the object.
    fn close(&mut self, mut part: OpenPart<X>) -> Result<(), ConvertError> {
        Self::flush(&mut part, &self.plan.schema, self.constant.as_ref())?;
        let footer = part.stats.footer().into_iter().chain(
            self.plan
                .footer
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        );
        for kv in footer {
            part.writer.append_key_value_metadata(kv);
        }
        // into_inner writes the footer and hands the sink back.
        let sink = part.writer.into_inner()?;
        let bytes = sink.finish().map_err(|source| ConvertError::Sink {
            key: part.key.clone(),
            source,
        })?;
        self.closed.absorb(&part.stats);
        self.finished.push(OutputFile {
            key: part.key,
            partition: part.path,
            partition_values: part.values,
            rows: part.rows,
            bytes,
        });
        Ok(())
    }

    /// Closes every open partition, oldest first; on a failure the rest are aborted.
    fn close_all(&mut self) -> Result<(), ConvertError> {
        while !self.open.is_empty() {
            let part = self.open.remove(0);
            if let Err(e) = self.close(part) {
                self.abort();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Aborts every open sink. Outputs already finished (a partition closed early) stay: they
    /// are deterministic and are overwritten identically by a retry.
    fn abort(&mut self) {
        for part in self.open.drain(..) {
            if let Ok(sink) = part.writer.into_inner() {
                sink.abort();
            }
        }
    }
}

// ------------------------------------------------------------------------------------ rejects

/// The rejected-rows file, opened at the first rejection (the CSV writer boxed: it holds its
/// buffer inline).
enum RejectWriter {
    None,
    Csv(Box<csv::Writer<Box<dyn ObjectSink>>>),
    Lines(Box<dyn ObjectSink>),
}

/// A rejected row as it is kept: a delimited record (re-quoted) or a raw line.
pub(crate) enum Kept<'r> {
    Record(&'r csv::ByteRecord),
    Line(&'r [u8]),
}

// ------------------------------------------------------------------------------------ engine

/// One run: the report, the rejected rows and the outputs.
pub(crate) struct Engine<'a, X: PartStats> {
    pub(crate) report: ConvertReport,
    outputs: Outputs<'a, X>,
    rejects: &'a dyn SinkFactory,
    reject_key: String,
    reject_delimiter: u8,
    /// Written first in the rejected-rows file (the input's header).
    reject_header: Option<csv::ByteRecord>,
    reject_writer: RejectWriter,
    max_reject_ratio: f64,
}

impl<'a, X: PartStats> Engine<'a, X> {
    /// A run reading `format` (named in errors and choosing the rejected-rows content type).
    pub(crate) fn new(
        format: TextFormat,
        outputs: &'a dyn SinkFactory,
        rejects: &'a dyn SinkFactory,
        reject_key: String,
        reject_delimiter: u8,
        max_reject_ratio: f64,
    ) -> Self {
        Self {
            report: ConvertReport {
                format: Some(format),
                ..Default::default()
            },
            outputs: Outputs::new(outputs, OutputPlan::default()),
            rejects,
            reject_key,
            reject_delimiter,
            reject_header: None,
            reject_writer: RejectWriter::None,
            max_reject_ratio,
        }
    }

    /// Fixes the files to write; called before the first row is accepted.
    pub(crate) fn plan_outputs(&mut self, plan: OutputPlan) {
        debug_assert!(self.outputs.open.is_empty() && self.outputs.finished.is_empty());
        self.outputs = Outputs::new(self.outputs.sinks, plan);
    }

    pub(crate) fn unreadable(&self, reason: impl Into<String>) -> ConvertError {
        ConvertError::Unreadable {
            format: self.report.format.unwrap_or(TextFormat::Csv),
            reason: reason.into(),
        }
    }

    /// The column names of a header record (trimmed, without a byte-order mark); the record is
    /// also the header of the rejected-rows file.
    pub(crate) fn header(&mut self, rec: &csv::ByteRecord) -> Result<Vec<String>, ConvertError> {
        let names = rec
            .iter()
            .map(|f| {
                std::str::from_utf8(f)
                    .map(|s| s.trim().trim_start_matches('\u{feff}').to_string())
                    .map_err(|_| self.unreadable("the header row is not valid UTF-8"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.keep_header(rec.clone());
        Ok(names)
    }

    /// Makes `rec` the first record of the rejected-rows file (delimited input).
    pub(crate) fn keep_header(&mut self, rec: csv::ByteRecord) {
        self.reject_header = Some(rec);
    }

    /// Routes one valid row (`cells` in the user's order) to the partition `part_key` (built
    /// with [`push_partition_value`]): `lead` fills the leading columns, then the data columns
    /// are appended.
    pub(crate) fn accept(
        &mut self,
        part_key: &[u8],
        cells: &[Cell<'_>],
        lead: impl FnOnce(&mut OpenPart<X>),
    ) -> Result<(), ConvertError> {
        let idx = self.outputs.route(part_key)?;
        lead(&mut self.outputs.open[idx]);
        self.report.rows_written += 1;
        self.outputs.append(idx, cells)
    }

    /// Counts a rejected row and keeps it in the rejected-rows file.
    pub(crate) fn reject(
        &mut self,
        line: u64,
        (category, reason): Rejection,
        kept: Kept<'_>,
    ) -> Result<(), ConvertError> {
        let r = &mut self.report;
        r.rows_rejected += 1;
        *r.rejections_by_reason
            .entry(category.to_string())
            .or_default() += 1;
        if r.rejections.len() < MAX_REPORTED_REJECTIONS {
            r.rejections.push(RowRejection { line, reason });
        }
        if matches!(self.reject_writer, RejectWriter::None) {
            self.open_rejects(&kept)?;
        }
        let written = match (&mut self.reject_writer, kept) {
            (RejectWriter::Csv(w), Kept::Record(rec)) => {
                w.write_byte_record(rec).map_err(io::Error::from)
            }
            (RejectWriter::Lines(w), Kept::Line(line)) => w.write_all(line).and_then(|_| {
                if line.ends_with(b"\n") {
                    Ok(())
                } else {
                    w.write_all(b"\n")
                }
            }),
            _ => Ok(()),
        };
        written.map_err(|e| self.reject_io(e))
    }

    fn open_rejects(&mut self, kept: &Kept<'_>) -> Result<(), ConvertError> {
        let key = self.reject_key.clone();
        let ct = if self.report.format == Some(TextFormat::JsonLines) {
            "application/x-ndjson"
        } else {
            "text/csv"
        };
        let sink = self
            .rejects
            .create(&key, ct)
            .map_err(|source| ConvertError::Sink {
                key: key.clone(),
                source,
            })?;
        self.report.rejected_rows_key = Some(key);
        self.reject_writer = match kept {
            Kept::Line(_) => RejectWriter::Lines(sink),
            Kept::Record(_) => {
                let mut w = csv::WriterBuilder::new()
                    .flexible(true)
                    .delimiter(self.reject_delimiter)
                    .from_writer(sink);
                if let Some(h) = &self.reject_header {
                    w.write_byte_record(h)
                        .map_err(|e| self.reject_io(e.into()))?;
                }
                RejectWriter::Csv(Box::new(w))
            }
        };
        Ok(())
    }

    fn reject_io(&self, source: io::Error) -> ConvertError {
        ConvertError::Sink {
            key: self.reject_key.clone(),
            source,
        }
    }

    /// Gives up on a file whose first [`GIVE_UP_AFTER_ROWS`] rows were all rejected.
    pub(crate) fn check_progress(&self) -> Result<(), ConvertError> {
        let r = &self.report;
        if r.rows_written == 0 && r.rows_rejected >= GIVE_UP_AFTER_ROWS {
            return Err(ConvertError::TooManyRejects {
                report: Box::new(r.clone()),
                max_ratio: self.max_reject_ratio,
            });
        }
        Ok(())
    }

    /// Publishes after a complete read (`read` is `Ok`), or discards everything after a failed
    /// one. `require_rows`: a file without data rows is unreadable. Returns the report (outputs
    /// sorted by key) and the stats of all outputs.
    pub(crate) fn conclude(
        mut self,
        read: Result<(), ConvertError>,
        require_rows: bool,
    ) -> Result<(ConvertReport, X), ConvertError> {
        if let Err(e) = read {
            self.abort();
            return Err(e);
        }
        let (read, rejected) = (self.report.rows_read, self.report.rows_rejected);
        if require_rows && read == 0 {
            let e = self.unreadable("the file holds no data rows");
            self.abort();
            return Err(e);
        }
        if read > 0 && rejected as f64 / read as f64 > self.max_reject_ratio {
            let e = ConvertError::TooManyRejects {
                report: Box::new(self.report.clone()),
                max_ratio: self.max_reject_ratio,
            };
            self.abort();
            return Err(e);
        }
        // Rejected rows first: they must be durable before good rows are published.
        match std::mem::replace(&mut self.reject_writer, RejectWriter::None) {
            RejectWriter::None => {}
            RejectWriter::Csv(w) => {
                let sink = (*w)
                    .into_inner()
                    .map_err(|e| self.reject_io(io::Error::other(e.to_string())))?;
                sink.finish().map_err(|e| self.reject_io(e))?;
            }
            RejectWriter::Lines(sink) => {
                sink.finish().map_err(|e| self.reject_io(e))?;
            }
        }
        self.outputs.close_all()?;
        let mut report = std::mem::take(&mut self.report);
        report.outputs = std::mem::take(&mut self.outputs.finished);
        report.outputs.sort_by(|a, b| a.key.cmp(&b.key));
        debug_assert_eq!(report.rows_read, report.rows_written + report.rows_rejected);
        Ok((report, std::mem::take(&mut self.outputs.closed)))
    }

    /// Aborts every open sink (outputs and rejected rows).
    fn abort(&mut self) {
        self.outputs.abort();
        match std::mem::replace(&mut self.reject_writer, RejectWriter::None) {
            RejectWriter::None => {}
            RejectWriter::Csv(w) => {
                if let Ok(s) = (*w).into_inner() {
                    s.abort()
                }
            }
            RejectWriter::Lines(s) => s.abort(),
        }
    }
}
