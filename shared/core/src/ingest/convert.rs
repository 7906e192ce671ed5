//! Streaming conversion of delimited text and JSON lines (optionally gzip-compressed) into
//! ZSTD-compressed Parquet under Hive partitions, with row-level rejection.
//!
//! Invariants:
//! - **Bounded memory**: input is read through a fixed buffer; rows are appended to Arrow builders
//!   and flushed every [`BATCH_ROWS`] rows into a Parquet writer whose row groups are capped at
//!   `row_group_rows`; outputs stream to their sinks part by part. Memory does not grow with the
//!   input size (only with the number of simultaneously open partitions, capped at
//!   [`MAX_OPEN_PARTITIONS`]).
//! - **Nothing is lost**: every data row is either written or rejected with a line number and a
//!   reason; `rows_read == rows_written + rows_rejected` always holds in a report. Rejected rows
//!   are copied verbatim (CSV re-quoted) to the reject sink.
//! - **Nothing half-published**: outputs are finished only after the whole input was read and the
//!   reject ratio is acceptable; on any failure every sink is aborted.
//! - **Deterministic**: output keys depend only on the spec and the input's content
//!   (`<prefix><k=v/...>/<stem>-<part>.parquet`), so a re-run overwrites identically.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use crate::config::LandingTuning;
use crate::error::{Classify, ErrorKind};
use crate::model::schema::{
    Cell, ColumnBuilder, ColumnType, TableSchema, TypeGuess, parse_json, parse_numeric_bytes,
    parse_text,
};
use crate::storage::{ObjectSink, SinkFactory, StorageError};

/// Rows per Arrow record batch handed to the Parquet writer.
pub const BATCH_ROWS: usize = 8192;
/// Partitions written at once; one more closes the oldest (its next rows go to a new part).
pub const MAX_OPEN_PARTITIONS: usize = 32;
/// Row rejections kept verbatim in a report (all are counted).
pub const MAX_REPORTED_REJECTIONS: usize = 1000;
/// Rows read before a file with no good row at all is given up on.
pub const GIVE_UP_AFTER_ROWS: u64 = 10_000;
/// Hive's name for a NULL or empty partition value.
pub const HIVE_DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Input formats: the converter reads the text formats; Parquet is read only by the CDC
/// sequencer (s3-landing passes Parquet through unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextFormat {
    Csv,
    Tsv,
    JsonLines,
    Parquet,
}

impl TextFormat {
    pub fn delimiter(self) -> u8 {
        if self == TextFormat::Tsv { b'\t' } else { b',' }
    }
}

/// What to convert and where the results go.
#[derive(Debug, Clone)]
pub struct ConvertSpec {
    pub format: TextFormat,
    /// Delimiter override for CSV (defaults by format).
    pub delimiter: Option<u8>,
    /// Delimited input starts with a header row.
    pub header: bool,
    /// The dataset's declared schema; `None` → inferred from the first rows.
    pub schema: Option<TableSchema>,
    /// Data columns whose values become Hive partitions (and leave the file).
    pub partition_columns: Vec<String>,
    /// Fixed partitions that precede the data-driven ones (e.g. `ingest_date`).
    pub static_partitions: Vec<(String, String)>,
    /// Key prefix for outputs, e.g. `sales.orders/`.
    pub output_prefix: String,
    /// Per-source stem for output names, e.g. `orders-2024-01-01.csv-1a2b3c4d`.
    pub output_stem: String,
    /// Key of the rejected-rows file in the reject sink.
    pub reject_key: String,
    pub tuning: LandingTuning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputFile {
    pub key: String,
    /// `k=v/k=v` (empty when unpartitioned).
    pub partition: String,
    pub partition_values: Vec<(String, String)>,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowRejection {
    pub line: u64,
    pub reason: String,
}

/// Counts reconcile: `rows_read == rows_written + rows_rejected`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConvertReport {
    pub format: Option<TextFormat>,
    pub compressed: bool,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub outputs: Vec<OutputFile>,
    pub rejected_rows_key: Option<String>,
    /// Rejections by category (`wrong_column_count`, `invalid_utf8`, `invalid_value`, `invalid_json`).
    pub rejections_by_reason: BTreeMap<String, u64>,
    /// The first [`MAX_REPORTED_REJECTIONS`] rejections.
    pub rejections: Vec<RowRejection>,
    pub schema: TableSchema,
    pub schema_inferred: bool,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("reading the source object failed: {0}")]
    Source(io::Error),
    #[error("writing {key} failed: {source}")]
    Sink { key: String, source: io::Error },
    #[error("the file cannot be read as {format:?}: {reason}")]
    Unreadable { format: TextFormat, reason: String },
    #[error("{} of {} rows rejected (more than {:.0}% allowed)", report.rows_rejected, report.rows_read, max_ratio * 100.0)]
    TooManyRejects {
        report: Box<ConvertReport>,
        max_ratio: f64,
    },
    #[error("encoding Parquet failed: {0}")]
    Parquet(#[from] ParquetError),
    #[error("building a record batch failed: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Classify for ConvertError {
    fn kind(&self) -> ErrorKind {
        match self {
            ConvertError::Source(_) => ErrorKind::Retryable,
            ConvertError::Sink { source, .. } => source
                .get_ref()
                .and_then(|e| e.downcast_ref::<StorageError>())
                .map_or(ErrorKind::Retryable, |e| e.kind()),
            ConvertError::Unreadable { .. } | ConvertError::TooManyRejects { .. } => {
                ErrorKind::BadInput
            }
            ConvertError::Parquet(_) | ConvertError::Arrow(_) => ErrorKind::Fatal,
        }
    }
}

/// Wraps the source so a failure of the underlying read (network) can be told apart from a
/// decoding failure of the data itself (corrupt gzip, bad bytes).
struct Tracked<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .inspect_err(|_| self.failed.store(true, Ordering::Relaxed))
    }
}

/// Parquet writer settings shared by every Tributary output.
pub fn writer_properties(row_group_rows: usize) -> WriterProperties {
    writer_properties_for(row_group_rows, None)
}

/// Writer settings for a known schema: dictionary encoding only for string and boolean columns
/// (numeric and temporal columns are mostly high-cardinality, where building a dictionary that
/// is then abandoned costs time and saves nothing), and statistics per column chunk (what
/// readers use for pruning) rather than per page.
pub fn writer_properties_for(
    row_group_rows: usize,
    schema: Option<&arrow::datatypes::Schema>,
) -> WriterProperties {
    writer_properties_builder(row_group_rows, schema).build()
}

/// [`writer_properties_for`] before `build()`, for writers that tune single columns further.
pub fn writer_properties_builder(
    row_group_rows: usize,
    schema: Option<&arrow::datatypes::Schema>,
) -> parquet::file::properties::WriterPropertiesBuilder {
    let mut b = WriterProperties::builder()
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::Chunk);
    for f in schema.iter().flat_map(|s| s.fields().iter()) {
        if !matches!(
            f.data_type(),
            arrow::datatypes::DataType::Utf8 | arrow::datatypes::DataType::Boolean
        ) {
            b = b.set_column_dictionary_enabled(
                parquet::schema::types::ColumnPath::from(f.name().as_str()),
                false,
            );
        }
    }
    b.set_compression(Compression::ZSTD(
        ZstdLevel::try_new(1).expect("level 1 is valid"),
    ))
    .set_max_row_group_row_count(Some(row_group_rows))
    .set_created_by(format!("tributary {}", env!("CARGO_PKG_VERSION")))
}

/// Escapes a partition value as Hive does (`/`, `=`, `%`, control and a few other characters
/// become `%XX`); empty values become [`HIVE_DEFAULT_PARTITION`].
pub fn escape_partition_value(v: &str) -> String {
    if v.is_empty() {
        return HIVE_DEFAULT_PARTITION.to_string();
    }
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        let special = matches!(
            ch,
            '"' | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\x7f'
                | '{'
                | '['
                | ']'
                | '^'
        ) || (ch as u32) < 0x20;
        if special {
            out.push_str(&format!("%{:02X}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Converts `input` per `spec`, writing Parquet through `outputs` and rejected rows through
/// `rejects`. Gzip input is detected by its magic bytes.
pub fn convert<R: Read + Send>(
    input: R,
    spec: &ConvertSpec,
    outputs: &dyn SinkFactory,
    rejects: &dyn SinkFactory,
) -> Result<ConvertReport, ConvertError> {
    let (reader, gzip, failed) = open_text(input)?;
    let mut run = Run::new(spec, outputs, rejects);
    run.report.compressed = gzip;
    run.report.format = Some(spec.format);
    let result = match spec.format {
        TextFormat::JsonLines => run.json_lines(reader),
        TextFormat::Csv | TextFormat::Tsv => run.delimited(reader),
        TextFormat::Parquet => Err(run.unreadable("Parquet is not a text format")),
    };
    let result = result.map_err(|e| blame_source(e, &failed));
    match result {
        Ok(()) => run.finish(),
        Err(e) => {
            run.abort();
            Err(e)
        }
    }
}

/// Buffers `input`, decompressing gzip (detected by its magic bytes). The flag turns true when
/// the underlying read failed (a source/network failure rather than bad data).
pub(crate) fn open_text<'r, R: Read + Send + 'r>(
    input: R,
) -> Result<(Box<dyn BufRead + Send + 'r>, bool, Arc<AtomicBool>), ConvertError> {
    let failed = Arc::new(AtomicBool::new(false));
    let mut raw = BufReader::with_capacity(
        1 << 20,
        Tracked {
            inner: input,
            failed: failed.clone(),
        },
    );
    let head = raw.fill_buf().map_err(ConvertError::Source)?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead + Send + 'r> = if gzip {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    Ok((reader, gzip, failed))
}

/// A decode error caused by the network (the flag from [`open_text`]) is a source failure, to
/// be retried, not bad data.
pub(crate) fn blame_source(e: ConvertError, source_failed: &AtomicBool) -> ConvertError {
    match e {
        ConvertError::Unreadable { .. } if source_failed.load(Ordering::Relaxed) => {
            ConvertError::Source(io::Error::other("source stream failed while reading"))
        }
        e => e,
    }
}

/// Maps a Parquet write error: failures of the sink underneath are sink (storage) errors.
pub(crate) fn parquet_write_error(key: &str, e: ParquetError) -> ConvertError {
    match e {
        ParquetError::External(inner) => ConvertError::Sink {
            key: key.to_string(),
            source: io::Error::other(inner.to_string()),
        },
        e => ConvertError::Parquet(e),
    }
}

struct PartitionWriter {
    values: Vec<(String, String)>,
    path: String,
    key: String,
    builders: Vec<ColumnBuilder>,
    pending: usize,
    rows: u64,
    writer: ArrowWriter<Box<dyn ObjectSink>>,
}

enum RejectWriter {
    None,
    Csv(csv::Writer<Box<dyn ObjectSink>>),
    Lines(Box<dyn ObjectSink>),
}

struct Run<'a> {
    spec: &'a ConvertSpec,
    outputs: &'a dyn SinkFactory,
    rejects: &'a dyn SinkFactory,
    report: ConvertReport,
    /// Columns of the full schema (data + partition columns), in order.
    schema: TableSchema,
    file_schema: SchemaRef,
    file_columns: Vec<usize>,
    partition_columns: Vec<usize>,
    props: WriterProperties,
    open: Vec<PartitionWriter>,
    index: HashMap<Vec<String>, usize>,
    next_part: HashMap<String, u32>,
    finished: Vec<OutputFile>,
    reject_writer: RejectWriter,
    reject_header: Option<csv::ByteRecord>,
}

/// Reuses a vector's allocation for a new lifetime (the vector is emptied first).
pub(crate) fn recycle<'x, 'y>(mut v: Vec<Cell<'x>>) -> Vec<Cell<'y>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

impl<'a> Run<'a> {
    fn new(
        spec: &'a ConvertSpec,
        outputs: &'a dyn SinkFactory,
        rejects: &'a dyn SinkFactory,
    ) -> Self {
        Self {
            spec,
            outputs,
            rejects,
            report: ConvertReport::default(),
            schema: TableSchema::default(),
            file_schema: TableSchema::default().arrow(),
            file_columns: Vec::new(),
            partition_columns: Vec::new(),
            props: writer_properties(spec.tuning.row_group_rows),
            open: Vec::new(),
            index: HashMap::new(),
            next_part: HashMap::new(),
            finished: Vec::new(),
            reject_writer: RejectWriter::None,
            reject_header: None,
        }
    }

    fn unreadable(&self, reason: impl Into<String>) -> ConvertError {
        ConvertError::Unreadable {
            format: self.spec.format,
            reason: reason.into(),
        }
    }

    /// Fixes the schema; checks partition columns exist.
    fn set_schema(&mut self, schema: TableSchema, inferred: bool) -> Result<(), ConvertError> {
        let mut partition_columns = Vec::new();
        for p in &self.spec.partition_columns {
            let i = schema.index_of(p).ok_or_else(|| {
                self.unreadable(format!("partition column {p} is not in the schema"))
            })?;
            partition_columns.push(i);
        }
        self.file_columns = (0..schema.columns.len())
            .filter(|i| !partition_columns.contains(i))
            .collect();
        self.file_schema = schema.without(&self.spec.partition_columns).arrow();
        self.props =
            writer_properties_for(self.spec.tuning.row_group_rows, Some(&self.file_schema));
        self.partition_columns = partition_columns;
        self.report.schema = schema.clone();
        self.report.schema_inferred = inferred;
        self.schema = schema;
        Ok(())
    }

    fn reject(&mut self, line: u64, category: &str, reason: String) {
        self.report.rows_rejected += 1;
        *self
            .report
            .rejections_by_reason
            .entry(category.to_string())
            .or_default() += 1;
        if self.report.rejections.len() < MAX_REPORTED_REJECTIONS {
            self.report.rejections.push(RowRejection { line, reason });
        }
    }

    fn reject_sink(&mut self) -> Result<Box<dyn ObjectSink>, ConvertError> {
        let key = self.spec.reject_key.clone();
        let ct = if self.spec.format == TextFormat::JsonLines {
            "application/x-ndjson"
        } else {
            "text/csv"
        };
        self.report.rejected_rows_key = Some(key.clone());
        self.rejects
            .create(&key, ct)
            .map_err(|source| ConvertError::Sink { key, source })
    }

    fn keep_rejected_record(&mut self, rec: &csv::ByteRecord) -> Result<(), ConvertError> {
        if matches!(self.reject_writer, RejectWriter::None) {
            let sink = self.reject_sink()?;
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .delimiter(self.delimiter())
                .from_writer(sink);
            if let Some(h) = &self.reject_header {
                w.write_byte_record(h)
                    .map_err(|e| self.reject_io(e.into()))?;
            }
            self.reject_writer = RejectWriter::Csv(w);
        }
        if let RejectWriter::Csv(w) = &mut self.reject_writer {
            let r = w.write_byte_record(rec);
            r.map_err(|e| ConvertError::Sink {
                key: self.spec.reject_key.clone(),
                source: e.into(),
            })?;
        }
        Ok(())
    }

    fn keep_rejected_line(&mut self, line: &[u8]) -> Result<(), ConvertError> {
        if matches!(self.reject_writer, RejectWriter::None) {
            self.reject_writer = RejectWriter::Lines(self.reject_sink()?);
        }
        if let RejectWriter::Lines(w) = &mut self.reject_writer {
            let r = w.write_all(line).and_then(|_| {
                if line.ends_with(b"\n") {
                    Ok(())
                } else {
                    w.write_all(b"\n")
                }
            });
            r.map_err(|source| ConvertError::Sink {
                key: self.spec.reject_key.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn reject_io(&self, source: io::Error) -> ConvertError {
        ConvertError::Sink {
            key: self.spec.reject_key.clone(),
            source,
        }
    }

    fn delimiter(&self) -> u8 {
        self.spec.delimiter.unwrap_or(self.spec.format.delimiter())
    }

    /// Appends one validated row (cells in schema order) to its partition.
    fn accept(&mut self, cells: &[Cell<'_>], part_values: &[String]) -> Result<(), ConvertError> {
        let idx = if part_values.is_empty() && self.open.len() == 1 {
            0 // unpartitioned: skip the lookup
        } else {
            match self.index.get(part_values) {
                Some(i) => *i,
                None => self.open_partition(part_values)?,
            }
        };
        let pw = &mut self.open[idx];
        for (b, &ci) in pw.builders.iter_mut().zip(&self.file_columns) {
            b.append(&cells[ci]);
        }
        pw.pending += 1;
        pw.rows += 1;
        self.report.rows_written += 1;
        if pw.pending >= BATCH_ROWS {
            Self::flush(pw, &self.file_schema)?;
        }
        Ok(())
    }

    fn flush(pw: &mut PartitionWriter, schema: &SchemaRef) -> Result<(), ConvertError> {
        if pw.pending == 0 {
            return Ok(());
        }
        let arrays = pw.builders.iter_mut().map(|b| b.finish()).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        pw.writer
            .write(&batch)
            .map_err(|e| parquet_write_error(&pw.key, e))?;
        pw.pending = 0;
        Ok(())
    }

    fn open_partition(&mut self, part_values: &[String]) -> Result<usize, ConvertError> {
        if self.open.len() >= MAX_OPEN_PARTITIONS {
            let oldest = self.open.remove(0);
            self.close(oldest)?;
            self.index = self
                .open
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        p.values
                            .iter()
                            .skip(self.spec.static_partitions.len())
                            .map(|(_, v)| v.clone())
                            .collect(),
                        i,
                    )
                })
                .collect();
        }
        let mut values = self.spec.static_partitions.clone();
        for (&ci, v) in self.partition_columns.iter().zip(part_values) {
            values.push((self.schema.columns[ci].name.clone(), v.clone()));
        }
        let path = values
            .iter()
            .map(|(k, v)| format!("{k}={}", escape_partition_value(v)))
            .collect::<Vec<_>>()
            .join("/");
        let part = self.next_part.entry(path.clone()).or_insert(0);
        let key = if path.is_empty() {
            format!(
                "{}{}-{:05}.parquet",
                self.spec.output_prefix, self.spec.output_stem, part
            )
        } else {
            format!(
                "{}{}/{}-{:05}.parquet",
                self.spec.output_prefix, path, self.spec.output_stem, part
            )
        };
        *part += 1;
        let sink = self
            .outputs
            .create(&key, "application/vnd.apache.parquet")
            .map_err(|source| ConvertError::Sink {
                key: key.clone(),
                source,
            })?;
        let writer =
            ArrowWriter::try_new(sink, self.file_schema.clone(), Some(self.props.clone()))?;
        let builders = self
            .file_columns
            .iter()
            .map(|&ci| ColumnBuilder::new(self.schema.columns[ci].ty, BATCH_ROWS))
            .collect();
        self.open.push(PartitionWriter {
            values,
            path,
            key,
            builders,
            pending: 0,
            rows: 0,
            writer,
        });
        self.index.insert(part_values.to_vec(), self.open.len() - 1);
        Ok(self.open.len() - 1)
    }

    fn close(&mut self, mut pw: PartitionWriter) -> Result<(), ConvertError> {
        Self::flush(&mut pw, &self.file_schema)?;
        // into_inner writes the footer and hands the sink back.
        let sink = pw.writer.into_inner()?;
        let bytes = sink.finish().map_err(|source| ConvertError::Sink {
            key: pw.key.clone(),
            source,
        })?;
        self.finished.push(OutputFile {
            key: pw.key,
            partition: pw.path,
            partition_values: pw.values,
            rows: pw.rows,
            bytes,
        });
        Ok(())
    }

    fn check_progress(&self) -> Result<(), ConvertError> {
        if self.report.rows_written == 0 && self.report.rows_rejected >= GIVE_UP_AFTER_ROWS {
            return Err(ConvertError::TooManyRejects {
                report: Box::new(self.report.clone()),
                max_ratio: self.spec.tuning.max_reject_ratio,
            });
        }
        Ok(())
    }

    fn finish(mut self) -> Result<ConvertReport, ConvertError> {
        let r = &self.report;
        if r.rows_read == 0 {
            let e = self.unreadable("the file holds no data rows");
            self.abort();
            return Err(e);
        }
        let ratio = r.rows_rejected as f64 / r.rows_read as f64;
        if ratio > self.spec.tuning.max_reject_ratio {
            let e = ConvertError::TooManyRejects {
                report: Box::new(self.report.clone()),
                max_ratio: self.spec.tuning.max_reject_ratio,
            };
            self.abort();
            return Err(e);
        }
        // Rejected rows first: they must be durable before good rows are published.
        match std::mem::replace(&mut self.reject_writer, RejectWriter::None) {
            RejectWriter::None => {}
            RejectWriter::Csv(w) => {
                let sink = w
                    .into_inner()
                    .map_err(|e| self.reject_io(io::Error::other(e.to_string())))?;
                sink.finish().map_err(|e| self.reject_io(e))?;
            }
            RejectWriter::Lines(sink) => {
                sink.finish().map_err(|e| self.reject_io(e))?;
            }
        }
        while !self.open.is_empty() {
            let pw = self.open.remove(0);
            if let Err(e) = self.close(pw) {
                self.abort();
                return Err(e);
            }
        }
        let mut report = std::mem::take(&mut self.report);
        report.outputs = std::mem::take(&mut self.finished);
        report.outputs.sort_by(|a, b| a.key.cmp(&b.key));
        debug_assert_eq!(report.rows_read, report.rows_written + report.rows_rejected);
        Ok(report)
    }

    /// Aborts every open sink. Outputs already finished (a partition closed early because too
    /// many were open) stay: they are deterministic and are overwritten identically by a retry.
    fn abort(&mut self) {
        for pw in self.open.drain(..) {
            if let Ok(sink) = pw.writer.into_inner() {
                sink.abort();
            }
        }
        match std::mem::replace(&mut self.reject_writer, RejectWriter::None) {
            RejectWriter::None => {}
            RejectWriter::Csv(w) => {
                if let Ok(s) = w.into_inner() {
                    s.abort()
                }
            }
            RejectWriter::Lines(s) => s.abort(),
        }
    }

    // ---------------------------------------------------------------- delimited text

    fn delimited<B: BufRead>(&mut self, reader: B) -> Result<(), ConvertError> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(self.delimiter())
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(reader);
        let mut rec = csv::ByteRecord::new();
        let read =
            |rdr: &mut csv::Reader<B>, rec: &mut csv::ByteRecord| -> Result<bool, ConvertError> {
                rdr.read_byte_record(rec).map_err(|e| match e.into_kind() {
                    csv::ErrorKind::Io(io) => ConvertError::Unreadable {
                        format: TextFormat::Csv,
                        reason: format!("decoding failed: {io}"),
                    },
                    other => ConvertError::Unreadable {
                        format: TextFormat::Csv,
                        reason: format!("{other:?}"),
                    },
                })
            };

        // Header and column mapping.
        let header: Option<Vec<String>> = if self.spec.header {
            if !read(&mut rdr, &mut rec)? {
                return Err(self.unreadable("the file is empty (no header row)"));
            }
            let names: Result<Vec<String>, _> = rec
                .iter()
                .map(|f| {
                    std::str::from_utf8(f)
                        .map(|s| s.trim().trim_start_matches('\u{feff}').to_string())
                })
                .collect();
            let names = names.map_err(|_| self.unreadable("the header row is not valid UTF-8"))?;
            if names.iter().any(|n| n.is_empty()) {
                return Err(self.unreadable("the header row has an empty column name"));
            }
            self.reject_header = Some(rec.clone());
            Some(names)
        } else {
            None
        };

        let mut sample: Vec<(u64, csv::ByteRecord)> = Vec::new();
        let (schema, inferred) = match (&self.spec.schema, &header) {
            (Some(s), _) => (s.clone(), false),
            (None, None) => {
                return Err(self
                    .unreadable("no header row and no declared schema: column names are unknown"));
            }
            (None, Some(names)) => {
                let mut guesses = vec![TypeGuess::default(); names.len()];
                while sample.len() < self.spec.tuning.infer_sample_rows.max(1) {
                    if !read(&mut rdr, &mut rec)? {
                        break;
                    }
                    if rec.len() == names.len() {
                        for (g, f) in guesses.iter_mut().zip(rec.iter()) {
                            if let Ok(s) = std::str::from_utf8(f) {
                                g.observe_text(s);
                            }
                        }
                    }
                    sample.push((rec.position().map_or(0, |p| p.line()), rec.clone()));
                }
                (TableSchema::inferred(&names, &guesses), true)
            }
        };
        self.set_schema(schema, inferred)?;

        // mapping[schema column] = field index in the record
        let width = header
            .as_ref()
            .map_or(self.schema.columns.len(), |h| h.len());
        let mapping: Vec<usize> = match &header {
            None => (0..self.schema.columns.len()).collect(),
            Some(names) => {
                let mut m = Vec::with_capacity(self.schema.columns.len());
                for c in &self.schema.columns {
                    match names.iter().position(|n| n.eq_ignore_ascii_case(&c.name)) {
                        Some(i) => m.push(i),
                        None => {
                            return Err(
                                self.unreadable(format!("the header has no column {}", c.name))
                            );
                        }
                    }
                }
                let extra: Vec<&String> = names
                    .iter()
                    .filter(|n| {
                        !self
                            .schema
                            .columns
                            .iter()
                            .any(|c| c.name.eq_ignore_ascii_case(n))
                    })
                    .collect();
                if !extra.is_empty() {
                    self.report.warnings.push(format!(
                        "columns not in the dataset schema were dropped: {extra:?}"
                    ));
                }
                m
            }
        };

        let mut cells_buf: Vec<Cell<'static>> = Vec::with_capacity(self.schema.columns.len());
        let mut part_values: Vec<String> = Vec::new();
        let mut process = |this: &mut Self,
                           line: u64,
                           rec: &csv::ByteRecord,
                           cells_buf: &mut Vec<Cell<'static>>|
         -> Result<(), ConvertError> {
            this.report.rows_read += 1;
            if rec.len() != width {
                this.reject(
                    line,
                    "wrong_column_count",
                    format!("expected {width} fields, found {}", rec.len()),
                );
                return this.keep_rejected_record(rec);
            }
            let mut cells: Vec<Cell<'_>> = recycle(std::mem::take(cells_buf));
            let mut failure: Option<(&str, String)> = None;
            for (col, &fi) in this.schema.columns.iter().zip(&mapping) {
                let raw = &rec[fi];
                if let Some(parsed) = parse_numeric_bytes(col, raw) {
                    match parsed {
                        Ok(c) => cells.push(c),
                        Err(reason) if std::str::from_utf8(raw).is_ok() => {
                            failure = Some(("invalid_value", reason));
                            break;
                        }
                        Err(_) => {
                            failure = Some((
                                "invalid_utf8",
                                format!("column {}: invalid UTF-8", col.name),
                            ));
                            break;
                        }
                    }
                    continue;
                }
                let Ok(text) = std::str::from_utf8(raw) else {
                    failure = Some((
                        "invalid_utf8",
                        format!("column {}: invalid UTF-8", col.name),
                    ));
                    break;
                };
                match parse_text(col, text) {
                    Ok(c) => cells.push(c),
                    Err(reason) => {
                        failure = Some(("invalid_value", reason));
                        break;
                    }
                }
            }
            let result = match failure {
                Some((cat, reason)) => {
                    this.reject(line, cat, reason);
                    this.keep_rejected_record(rec)
                }
                None => {
                    part_values.clear();
                    for &pi in &this.partition_columns {
                        part_values.push(
                            std::str::from_utf8(&rec[mapping[pi]])
                                .unwrap_or_default()
                                .to_string(),
                        );
                    }
                    this.accept(&cells, &part_values)
                }
            };
            *cells_buf = recycle(cells);
            result
        };
        for (line, r) in std::mem::take(&mut sample) {
            process(self, line, &r, &mut cells_buf)?;
        }
        while read(&mut rdr, &mut rec)? {
            let line = rec.position().map_or(0, |p| p.line());
            process(self, line, &rec, &mut cells_buf)?;
            if self.report.rows_read % 4096 == 0 {
                self.check_progress()?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- JSON lines

    fn json_lines<B: BufRead>(&mut self, mut reader: B) -> Result<(), ConvertError> {
        let mut line_no: u64 = 0;
        let mut buf = Vec::with_capacity(4096);
        let next =
            |reader: &mut B, buf: &mut Vec<u8>, line_no: &mut u64| -> Result<bool, ConvertError> {
                loop {
                    buf.clear();
                    let n =
                        reader
                            .read_until(b'\n', buf)
                            .map_err(|e| ConvertError::Unreadable {
                                format: TextFormat::JsonLines,
                                reason: format!("decoding failed: {e}"),
                            })?;
                    if n == 0 {
                        return Ok(false);
                    }
                    *line_no += 1;
                    if !buf.iter().all(|b| b.is_ascii_whitespace()) {
                        return Ok(true);
                    }
                }
            };

        let mut sample: Vec<(u64, Vec<u8>)> = Vec::new();
        let (schema, inferred) = match &self.spec.schema {
            Some(s) => (s.clone(), false),
            None => {
                let mut names: Vec<String> = Vec::new();
                let mut guesses: Vec<TypeGuess> = Vec::new();
                while sample.len() < self.spec.tuning.infer_sample_rows.max(1)
                    && next(&mut reader, &mut buf, &mut line_no)?
                {
                    if let Ok(serde_json::Value::Object(map)) =
                        serde_json::from_slice::<serde_json::Value>(&buf)
                    {
                        for (k, v) in &map {
                            let i = match names.iter().position(|n| n == k) {
                                Some(i) => i,
                                None => {
                                    names.push(k.clone());
                                    guesses.push(TypeGuess::default());
                                    names.len() - 1
                                }
                            };
                            guesses[i].observe_json(v);
                        }
                    }
                    sample.push((line_no, buf.clone()));
                }
                if names.is_empty() && !sample.is_empty() {
                    return Err(self.unreadable("no line of the sample is a JSON object"));
                }
                (TableSchema::inferred(&names, &guesses), true)
            }
        };
        self.set_schema(schema, inferred)?;

        let mut unknown_fields: BTreeMap<String, u64> = BTreeMap::new();
        let mut part_values: Vec<String> = Vec::new();
        let mut process = |this: &mut Self, line: u64, raw: &[u8]| -> Result<(), ConvertError> {
            this.report.rows_read += 1;
            if std::str::from_utf8(raw).is_err() {
                this.reject(line, "invalid_utf8", "the line is not valid UTF-8".into());
                return this.keep_rejected_line(raw);
            }
            let obj = match serde_json::from_slice::<serde_json::Value>(raw) {
                Ok(serde_json::Value::Object(m)) => m,
                Ok(_) => {
                    this.reject(line, "invalid_json", "the line is not a JSON object".into());
                    return this.keep_rejected_line(raw);
                }
                Err(e) => {
                    this.reject(line, "invalid_json", format!("invalid JSON: {e}"));
                    return this.keep_rejected_line(raw);
                }
            };
            let mut cells: Vec<Cell<'_>> = Vec::with_capacity(this.schema.columns.len());
            for col in &this.schema.columns {
                match parse_json(col, obj.get(&col.name)) {
                    Ok(c) => cells.push(c),
                    Err(reason) => {
                        this.reject(line, "invalid_value", reason);
                        return this.keep_rejected_line(raw);
                    }
                }
            }
            for k in obj.keys() {
                if this.schema.index_of(k).is_none() {
                    *unknown_fields.entry(k.clone()).or_default() += 1;
                }
            }
            part_values.clear();
            for &pi in &this.partition_columns {
                part_values.push(match obj.get(&this.schema.columns[pi].name) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                });
            }
            this.accept(&cells, &part_values)
        };
        for (line, raw) in std::mem::take(&mut sample) {
            process(self, line, &raw)?;
        }
        while next(&mut reader, &mut buf, &mut line_no)? {
            process(self, line_no, &buf)?;
            if self.report.rows_read % 4096 == 0 {
                self.check_progress()?;
            }
        }
        if !unknown_fields.is_empty() {
            self.report.warnings.push(format!(
                "fields not in the dataset schema were dropped (field: rows): {unknown_fields:?}"
            ));
        }
        Ok(())
    }
}

impl ColumnType {
    /// Whether values of this type can be used as Hive partition values without surprise.
    pub fn partitionable(self) -> bool {
        !matches!(self, ColumnType::Double)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::Column;
    use crate::storage::DirSinkFactory;
    use std::io::Write;

    fn spec(format: TextFormat) -> ConvertSpec {
        ConvertSpec {
            format,
            delimiter: None,
            header: true,
            schema: None,
            partition_columns: vec![],
            static_partitions: vec![("ingest_date".into(), "2024-01-02".into())],
            output_prefix: "ds/".into(),
            output_stem: "src-abcd".into(),
            reject_key: "ds/src.rejected".into(),
            tuning: LandingTuning::default(),
        }
    }

    fn dirs(name: &str) -> (std::path::PathBuf, DirSinkFactory, DirSinkFactory) {
        crate::storage::test_dirs("convert", name)
    }

    fn read_parquet(path: &std::path::Path) -> Vec<RecordBatch> {
        let f = std::fs::File::open(path).unwrap();
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect()
    }

    #[test]
    fn csv_with_bad_rows_keeps_good_ones_and_reconciles() {
        let (root, out, rej) = dirs("csv");
        let mut data =
            b"id,name,score\n1,ann,1.5\n2,bob\n3,cy,2.5\n4,\xff\xfe,3\n5,ed,x\n".to_vec();
        data.extend_from_slice(b"6,flo,4\n");
        let mut s = spec(TextFormat::Csv);
        s.schema = Some(TableSchema {
            columns: vec![
                Column {
                    name: "id".into(),
                    ty: ColumnType::Int64,
                    nullable: false,
                },
                Column {
                    name: "name".into(),
                    ty: ColumnType::String,
                    nullable: true,
                },
                Column {
                    name: "score".into(),
                    ty: ColumnType::Double,
                    nullable: true,
                },
            ],
        });
        s.tuning.max_reject_ratio = 0.6;
        let r = convert(&data[..], &s, &out, &rej).unwrap();
        assert_eq!((r.rows_read, r.rows_written, r.rows_rejected), (6, 3, 3));
        assert_eq!(
            r.rejections.iter().map(|x| x.line).collect::<Vec<_>>(),
            vec![3, 5, 6]
        );
        assert_eq!(r.rejections_by_reason.get("wrong_column_count"), Some(&1));
        assert_eq!(r.rejections_by_reason.get("invalid_utf8"), Some(&1));
        assert_eq!(r.rejections_by_reason.get("invalid_value"), Some(&1));
        assert_eq!(r.outputs.len(), 1);
        assert_eq!(
            r.outputs[0].key,
            "ds/ingest_date=2024-01-02/src-abcd-00000.parquet"
        );
        let batches = read_parquet(&root.join("out").join(&r.outputs[0].key));
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        let rejected = std::fs::read(root.join("rej/ds/src.rejected")).unwrap();
        assert_eq!(rejected, b"id,name,score\n2,bob\n4,\xff\xfe,3\n5,ed,x\n");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn gzip_json_lines_infer_and_partition() {
        let (root, out, rej) = dirs("jsonl");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..100 {
            writeln!(
                gz,
                r#"{{"id":{i},"region":"{}","at":"2024-01-01T00:00:0{}Z","tags":["a"]}}"#,
                if i % 2 == 0 { "eu/west" } else { "us" },
                i % 10
            )
            .unwrap();
        }
        writeln!(gz, "not json").unwrap();
        let data = gz.finish().unwrap();
        let mut s = spec(TextFormat::JsonLines);
        s.partition_columns = vec!["region".into()];
        let r = convert(&data[..], &s, &out, &rej).unwrap();
        assert!(r.compressed && r.schema_inferred);
        assert_eq!(
            (r.rows_read, r.rows_written, r.rows_rejected),
            (101, 100, 1)
        );
        let types: Vec<_> = r
            .schema
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.ty))
            .collect();
        assert_eq!(
            types,
            vec![
                ("id", ColumnType::Int64),
                ("region", ColumnType::String),
                ("at", ColumnType::Timestamp),
                ("tags", ColumnType::String)
            ],
            "columns in file order"
        );
        let keys: Vec<_> = r.outputs.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "ds/ingest_date=2024-01-02/region=eu%2Fwest/src-abcd-00000.parquet",
                "ds/ingest_date=2024-01-02/region=us/src-abcd-00000.parquet"
            ]
        );
        let batches = read_parquet(&root.join("out").join(keys[0]));
        assert_eq!(
            batches[0].num_columns(),
            3,
            "partition column leaves the file"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn mostly_bad_or_empty_files_publish_nothing() {
        let (root, out, rej) = dirs("bad");
        let s = spec(TextFormat::Csv);
        let e = convert(&b"a,b\n1\n2\n3,4\n"[..], &s, &out, &rej).unwrap_err();
        assert!(matches!(e, ConvertError::TooManyRejects { .. }), "{e}");
        assert!(
            !root.join("out").join("ds").exists()
                || std::fs::read_dir(root.join("out/ds/ingest_date=2024-01-02"))
                    .unwrap()
                    .next()
                    .is_none()
        );
        let e = convert(&b"a,b\n"[..], &s, &out, &rej).unwrap_err();
        assert!(e.to_string().contains("no data rows"), "{e}");
        let e = convert(&b""[..], &s, &out, &rej).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = convert(&[0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02][..], &s, &out, &rej).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadInput, "{e}");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn hive_escaping() {
        assert_eq!(escape_partition_value("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape_partition_value(""), HIVE_DEFAULT_PARTITION);
        assert_eq!(escape_partition_value("2024-01-01"), "2024-01-01");
    }
}
