//! Streaming conversion of delimited text and JSON lines (optionally gzip-compressed) into
//! ZSTD-compressed Parquet under Hive partitions, with row-level rejection.
//!
//! The clean-zone user of the text engine ([`crate::ingest::textengine`], which reads, parses, rejects
//! and writes): this module adds schema inference, header-to-schema mapping, and partition
//! columns that move from the file into the path (their raw text is the partition value).
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

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parquet::errors::ParquetError;
use serde::Serialize;

use crate::config::LandingTuning;
use crate::error::{Classify, ErrorKind};
use crate::ingest::textengine::{
    DelimitedReader, Engine, Kept, LineReader, OutputPlan, SchemaOnly, Spill, line_of,
    parse_fields, push_partition_value, recycle, wrong_width,
};
use crate::model::schema::{Cell, ColumnType, TableSchema, TypeGuess, parse_json};
use crate::storage::{SinkFactory, StorageError};

pub use crate::format::parquet::{
    writer_properties, writer_properties_builder, writer_properties_for,
};
pub use crate::model::paths::{HIVE_DEFAULT_PARTITION, escape_partition_value};
pub use crate::storage::quarantine::{MAX_REPORTED_REJECTIONS, RowRejection};
use crate::storage::quarantine::{QuarantineReport, Rejection};

mod input;
pub use input::{PARQUET_MAGIC, RATIO_CHECK_AFTER, ReadLimits};
pub(crate) use input::{blame_source, open_text};

/// Rows per Arrow record batch handed to the Parquet writer.
pub const BATCH_ROWS: usize = 8192;
/// Partitions written at once; one more closes the oldest (its next rows go to a new part).
pub const MAX_OPEN_PARTITIONS: usize = 32;
/// Rows read before a file with no good row at all is given up on.
pub const GIVE_UP_AFTER_ROWS: u64 = 10_000;

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
    /// When reading must stop (the Lambda deadline less a margin); `None`: no deadline.
    pub deadline: Option<std::time::Instant>,
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
    /// A decompression cap ([`ReadLimits`]): the file is quarantined whole.
    #[error("the file is too large to process: {reason}")]
    TooLarge { reason: String },
    /// The deadline came before the input was read: nothing published, retried later.
    #[error("stopped before the Lambda deadline; nothing was published, retry")]
    OutOfTime,
    /// The file carries columns the declaration lacks, or wider types (DMS sources): nothing
    /// was written; the caller evolves the declaration (or refuses the file) and reads it again.
    #[error(
        "the file's columns differ from the declaration: {}",
        crate::ingest::cdc::describe_drift(columns)
    )]
    SchemaDrift {
        columns: Vec<crate::model::schema::Column>,
    },
}

impl Classify for ConvertError {
    fn kind(&self) -> ErrorKind {
        match self {
            ConvertError::Source(_) => ErrorKind::Retryable,
            ConvertError::Sink { source, .. } => source
                .get_ref()
                .and_then(|e| e.downcast_ref::<StorageError>())
                .map_or(ErrorKind::Retryable, |e| e.kind()),
            ConvertError::Unreadable { .. }
            | ConvertError::TooManyRejects { .. }
            | ConvertError::TooLarge { .. }
            | ConvertError::SchemaDrift { .. } => ErrorKind::BadInput,
            ConvertError::OutOfTime => ErrorKind::Retryable,
            ConvertError::Parquet(_) | ConvertError::Arrow(_) => ErrorKind::Fatal,
        }
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

/// Converts `input` per `spec`, writing Parquet through `outputs` and rejected rows through
/// `rejects`. Gzip input is detected by its magic bytes.
pub fn convert<R: Read + Send>(
    input: R,
    spec: &ConvertSpec,
    outputs: &dyn SinkFactory,
    rejects: &dyn SinkFactory,
) -> Result<ConvertReport, ConvertError> {
    let (reader, gzip, watch) = open_text(
        input,
        spec.format,
        ReadLimits::new(&spec.tuning, spec.deadline),
    )?;
    let mut run = Run::new(spec, outputs, rejects);
    run.engine.report.compressed = gzip;
    let result = match spec.format {
        TextFormat::JsonLines => run.json_lines(reader),
        TextFormat::Csv | TextFormat::Tsv => run.delimited(reader),
        TextFormat::Parquet => Err(run.engine.unreadable("Parquet is not a text format")),
    };
    let result = result.map_err(|e| blame_source(e, &watch));
    let (report, ()) = run.engine.conclude(result, true)?;
    Ok(report)
}

/// The clean-zone conversion: typed data columns, partition columns moved into the path.
struct Run<'a> {
    spec: &'a ConvertSpec,
    engine: Engine<'a, ()>,
    /// Columns of the full schema (data + partition columns), in order.
    schema: TableSchema,
    partition_columns: Vec<usize>,
    /// The partition key of the current row.
    part_key: Vec<u8>,
}

impl<'a> Run<'a> {
    fn new(
        spec: &'a ConvertSpec,
        outputs: &'a dyn SinkFactory,
        rejects: &'a dyn SinkFactory,
    ) -> Self {
        Self {
            spec,
            engine: Engine::new(
                spec.format,
                outputs,
                rejects,
                spec.reject_key.clone(),
                spec.delimiter.unwrap_or(spec.format.delimiter()),
                spec.tuning.max_reject_ratio,
            ),
            schema: TableSchema::default(),
            partition_columns: Vec::new(),
            part_key: Vec::new(),
        }
    }

    /// Fixes the schema and the outputs; checks partition columns exist.
    fn set_schema(&mut self, schema: TableSchema, inferred: bool) -> Result<(), ConvertError> {
        let mut partition_columns = Vec::new();
        for p in &self.spec.partition_columns {
            let i = schema.index_of(p).ok_or_else(|| {
                self.engine
                    .unreadable(format!("partition column {p} is not in the schema"))
            })?;
            partition_columns.push(i);
        }
        let file_columns: Vec<usize> = (0..schema.columns.len())
            .filter(|i| !partition_columns.contains(i))
            .collect();
        let file_schema = schema.without(&self.spec.partition_columns).arrow();
        self.engine.plan_outputs(OutputPlan {
            prefix: self.spec.output_prefix.clone(),
            stem: self.spec.output_stem.clone(),
            static_partitions: self.spec.static_partitions.clone(),
            partition_names: partition_columns
                .iter()
                .map(|&ci| schema.columns[ci].name.clone())
                .collect(),
            props: writer_properties_for(self.spec.tuning.row_group_rows, Some(&file_schema)),
            schema: file_schema,
            column_types: file_columns
                .iter()
                .map(|&ci| schema.columns[ci].ty)
                .collect(),
            leading: 0,
            data_cells: file_columns,
            constant: None,
            batch_rows: BATCH_ROWS,
            spill: Spill::CloseOldest {
                max_open: MAX_OPEN_PARTITIONS,
            },
            footer: Vec::new(),
        });
        self.partition_columns = partition_columns;
        self.engine.report.schema = schema.clone();
        self.engine.report.schema_inferred = inferred;
        self.schema = schema;
        Ok(())
    }

    // ---------------------------------------------------------------- delimited text

    fn delimited<B: BufRead>(&mut self, reader: B) -> Result<(), ConvertError> {
        let delimiter = self.spec.delimiter.unwrap_or(self.spec.format.delimiter());
        let mut rdr = DelimitedReader::new(reader, delimiter);
        let mut rec = csv::ByteRecord::new();

        // Header and column mapping.
        let header: Option<Vec<String>> = if self.spec.header {
            if !rdr.read(&mut rec)? {
                return Err(self.engine.unreadable("the file is empty (no header row)"));
            }
            let names = self.engine.header(&rec)?;
            if names.iter().any(|n| n.is_empty()) {
                return Err(self
                    .engine
                    .unreadable("the header row has an empty column name"));
            }
            Some(names)
        } else {
            None
        };

        let mut sample: Vec<(u64, csv::ByteRecord)> = Vec::new();
        let (schema, inferred) = match (&self.spec.schema, &header) {
            (Some(s), _) => (s.clone(), false),
            (None, None) => {
                return Err(self
                    .engine
                    .unreadable("no header row and no declared schema: column names are unknown"));
            }
            (None, Some(names)) => {
                let mut guesses = vec![TypeGuess::default(); names.len()];
                while sample.len() < self.spec.tuning.infer_sample_rows.max(1) {
                    if !rdr.read(&mut rec)? {
                        break;
                    }
                    if rec.len() == names.len() {
                        for (g, f) in guesses.iter_mut().zip(rec.iter()) {
                            if let Ok(s) = std::str::from_utf8(f) {
                                g.observe_text(s);
                            }
                        }
                    }
                    sample.push((line_of(&rec), rec.clone()));
                }
                (TableSchema::inferred(names, &guesses), true)
            }
        };
        self.set_schema(schema, inferred)?;

        // mapping[schema column] = field index in the record
        let width = header
            .as_ref()
            .map_or(self.schema.columns.len(), |h| h.len());
        let mapping: Vec<usize> = match &header {
            None => (0..self.schema.columns.len()).collect(),
            Some(names) => self.header_mapping(names)?,
        };

        let mut cells_buf: Vec<Cell<'static>> = Vec::with_capacity(self.schema.columns.len());
        for (line, r) in std::mem::take(&mut sample) {
            self.record(line, &r, width, &mapping, &mut cells_buf)?;
        }
        while rdr.read(&mut rec)? {
            self.record(line_of(&rec), &rec, width, &mapping, &mut cells_buf)?;
            if self.engine.report.rows_read.is_multiple_of(4096) {
                self.engine.check_progress()?;
            }
        }
        Ok(())
    }

    /// The record's field of each schema column, by header name; warns of dropped columns.
    fn header_mapping(&mut self, names: &[String]) -> Result<Vec<usize>, ConvertError> {
        let mut m = Vec::with_capacity(self.schema.columns.len());
        for c in &self.schema.columns {
            match names.iter().position(|n| n.eq_ignore_ascii_case(&c.name)) {
                Some(i) => m.push(i),
                None => {
                    return Err(self
                        .engine
                        .unreadable(format!("the header has no column {}", c.name)));
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
            self.engine.report.warnings.push(format!(
                "columns not in the dataset schema were dropped: {extra:?}"
            ));
        }
        Ok(m)
    }

    /// Validates and routes one data record.
    fn record(
        &mut self,
        line: u64,
        rec: &csv::ByteRecord,
        width: usize,
        mapping: &[usize],
        cells_buf: &mut Vec<Cell<'static>>,
    ) -> Result<(), ConvertError> {
        self.engine.report.rows_read += 1;
        if rec.len() != width {
            let rejection = wrong_width(width, rec.len());
            return self.engine.reject(line, rejection, Kept::Record(rec));
        }
        let mut cells: Vec<Cell<'_>> = recycle(std::mem::take(cells_buf));
        let parsed = parse_fields(&self.schema.columns, mapping, rec, &mut cells, &SchemaOnly);
        let result = match parsed {
            Err(rejection) => self.engine.reject(line, rejection, Kept::Record(rec)),
            Ok(()) => {
                self.part_key.clear();
                for &pi in &self.partition_columns {
                    push_partition_value(&mut self.part_key, |k| {
                        k.extend_from_slice(&rec[mapping[pi]])
                    });
                }
                self.engine.accept(&self.part_key, &cells, |_| {})
            }
        };
        *cells_buf = recycle(cells);
        result
    }

    // ---------------------------------------------------------------- JSON lines

    fn json_lines<B: BufRead>(&mut self, reader: B) -> Result<(), ConvertError> {
        let mut lines = LineReader::new(reader);
        let mut buf = Vec::with_capacity(4096);

        let mut sample: Vec<(u64, Vec<u8>)> = Vec::new();
        let (schema, inferred) = match &self.spec.schema {
            Some(s) => (s.clone(), false),
            None => {
                let mut names: Vec<String> = Vec::new();
                let mut guesses: Vec<TypeGuess> = Vec::new();
                while sample.len() < self.spec.tuning.infer_sample_rows.max(1)
                    && lines.next_line(&mut buf)?
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
                    sample.push((lines.line(), buf.clone()));
                }
                if names.is_empty() && !sample.is_empty() {
                    return Err(self
                        .engine
                        .unreadable("no line of the sample is a JSON object"));
                }
                (TableSchema::inferred(&names, &guesses), true)
            }
        };
        self.set_schema(schema, inferred)?;

        let mut unknown_fields: BTreeMap<String, u64> = BTreeMap::new();
        for (line, raw) in std::mem::take(&mut sample) {
            self.json_line(line, &raw, &mut unknown_fields)?;
        }
        while lines.next_line(&mut buf)? {
            self.json_line(lines.line(), &buf, &mut unknown_fields)?;
            if self.engine.report.rows_read.is_multiple_of(4096) {
                self.engine.check_progress()?;
            }
        }
        if !unknown_fields.is_empty() {
            self.engine.report.warnings.push(format!(
                "fields not in the dataset schema were dropped (field: rows): {unknown_fields:?}"
            ));
        }
        Ok(())
    }

    /// Validates and routes one JSON line.
    fn json_line(
        &mut self,
        line: u64,
        raw: &[u8],
        unknown_fields: &mut BTreeMap<String, u64>,
    ) -> Result<(), ConvertError> {
        use serde_json::Value;
        self.engine.report.rows_read += 1;
        let reject = |engine: &mut Engine<'a, ()>, category, reason| {
            engine.reject(line, (category, reason), Kept::Line(raw))
        };
        if std::str::from_utf8(raw).is_err() {
            let reason = "the line is not valid UTF-8".into();
            return reject(&mut self.engine, "invalid_utf8", reason);
        }
        let obj = match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                let reason = "the line is not a JSON object".into();
                return reject(&mut self.engine, "invalid_json", reason);
            }
            Err(e) => {
                return reject(
                    &mut self.engine,
                    "invalid_json",
                    format!("invalid JSON: {e}"),
                );
            }
        };
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(self.schema.columns.len());
        for col in &self.schema.columns {
            match parse_json(col, obj.get(&col.name)) {
                Ok(c) => cells.push(c),
                Err(reason) => return reject(&mut self.engine, "invalid_value", reason),
            }
        }
        for k in obj.keys() {
            if self.schema.index_of(k).is_none() {
                *unknown_fields.entry(k.clone()).or_default() += 1;
            }
        }
        self.part_key.clear();
        for &pi in &self.partition_columns {
            push_partition_value(&mut self.part_key, |k| {
                match obj.get(&self.schema.columns[pi].name) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => k.extend_from_slice(s.as_bytes()),
                    Some(v) => {
                        let _ = write!(k, "{v}");
                    }
                }
            });
        }
        self.engine.accept(&self.part_key, &cells, |_| {})
    }
}

impl ColumnType {
    /// Whether values of this type can be used as Hive partition values without surprise.
    pub fn partitionable(self) -> bool {
        !matches!(self, ColumnType::Double)
    }
}

/// A conversion's counts, rejections and warnings in its quarantine report.
impl QuarantineReport {
    /// Takes the counts, rejections and warnings of a conversion.
    pub fn with_conversion(mut self, r: &ConvertReport) -> Self {
        self.rows_read = r.rows_read;
        self.rows_written = r.rows_written;
        self.rows_rejected = r.rows_rejected;
        self.rejections_by_reason = r.rejections_by_reason.clone();
        self.rejections = r
            .rejections
            .iter()
            .take(MAX_REPORTED_REJECTIONS)
            .map(Rejection::from)
            .collect();
        self.warnings = r.warnings.clone();
        self
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::quarantine::{Function, ReportStatus, Source};
    use serde_json::json;

    #[test]
    fn conversions_reconcile_and_keep_line_numbers() {
        let c = ConvertReport {
            rows_read: 5,
            rows_written: 3,
            rows_rejected: 2,
            rejections_by_reason: [("invalid_value".to_string(), 2)].into(),
            rejections: vec![
                RowRejection {
                    line: 3,
                    reason: "bad".into(),
                },
                RowRejection {
                    line: 5,
                    reason: "worse".into(),
                },
            ],
            ..Default::default()
        };
        let r = QuarantineReport::new(
            Function::CdcSequencer,
            ReportStatus::Sequenced,
            Source::default(),
        )
        .with_conversion(&c);
        assert_eq!(r.rows_read, r.rows_written + r.rows_rejected);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["rejections"][1], json!({ "line": 5, "reason": "worse" }));
        assert_eq!(v["function"], "cdc-sequencer");
        assert_eq!(v["source"], json!({}));
    }

    use super::*;
    use crate::model::schema::Column;
    use crate::storage::DirSinkFactory;
    use arrow::record_batch::RecordBatch;

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
            deadline: None,
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
