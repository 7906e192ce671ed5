//! Writing a snapshot: the merge's output rows split by partition into Parquet files of the
//! target size (row groups of the configured rows, ZSTD, `tributary.seq_max` in each footer), with
//! winning deletes written as tombstones. Input schemas are unified first (missing columns become
//! null, ints and floats widen, anything else is refused), so files written by different schema
//! versions merge.
//!
//! Invariant: every file goes to a fresh `snapshot=<id>/` prefix through a sink that publishes
//! nothing until it finishes, so nothing a reader can see is ever modified.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{cast, filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::compaction::merge::{
    CompactError, MergeSpec, MergeStats, latest_per_key, read_with_partition,
};
use crate::config::CompactionTuning;
use crate::format::parquet::writer_properties_builder;
use crate::format::raw::META_SEQ_MAX;
use crate::storage::{ObjectSink, SinkFactory};

use super::*;

/// Rows per batch read, merged and written.
pub(crate) const BATCH_ROWS: usize = 8192;
/// Bytes of encoded row groups buffered by all open snapshot writers before the largest is
/// flushed early (many partitions at once).
const WRITER_BUFFER_BUDGET: usize = 32 << 20;

/// A local Parquet input of a merge: a snapshot file, a tombstone file or a raw delta, with the
/// Hive values of its partition (not stored in the file).
#[derive(Debug, Clone)]
pub struct LocalInput {
    pub path: PathBuf,
    pub partition: Vec<(String, String)>,
}

/// What the writer produced for one partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrittenPartition {
    pub values: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub files: Vec<String>,
}

/// What a merge wrote.
#[derive(Debug, Clone, Default)]
pub struct WrittenSnapshot {
    pub partitions: Vec<WrittenPartition>,
    pub tombstones: Option<String>,
    pub tombstone_rows: u64,
    pub high_water: Option<String>,
    pub stats: MergeStats,
    /// Columns of the data files (merged schema without the partition columns).
    pub file_schema: Option<SchemaRef>,
}

/// The widest type two files' columns share, if they are compatible.
pub(crate) fn merge_types(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    let int = |t: &DataType| matches!(t, Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32);
    let float = |t: &DataType| matches!(t, Float16 | Float32 | Float64);
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    Some(match (a, b) {
        (a, b) if a == b => a.clone(),
        (Null, t) | (t, Null) => t.clone(),
        (a, b) if int(a) && int(b) => Int64,
        (a, b) if (int(a) || float(a)) && (int(b) || float(b)) => Float64,
        (a, b) if text(a) && text(b) => Utf8,
        (Date32 | Date64, Date32 | Date64) => Date32,
        (Timestamp(_, tz), Timestamp(_, _)) => Timestamp(TimeUnit::Microsecond, tz.clone()),
        _ => return None,
    })
}

/// The union of the inputs' columns (first-seen order, all nullable, widest type).
pub fn unify_schemas(table: &str, schemas: &[SchemaRef]) -> Result<SchemaRef, CompactionError> {
    let mut fields: Vec<(String, DataType)> = Vec::new();
    for s in schemas {
        for f in s.fields() {
            match fields.iter_mut().find(|(n, _)| n == f.name()) {
                None => fields.push((f.name().clone(), f.data_type().clone())),
                Some((_, t)) => {
                    *t = merge_types(t, f.data_type()).ok_or_else(|| {
                        CompactionError::SchemaConflict {
                            table: table.into(),
                            column: f.name().clone(),
                            a: t.clone(),
                            b: f.data_type().clone(),
                        }
                    })?
                }
            }
        }
    }
    Ok(Arc::new(Schema::new(
        fields
            .into_iter()
            .map(|(n, t)| Field::new(n, t, true))
            .collect::<Vec<_>>(),
    )))
}

/// A batch in the unified schema: missing columns are nulls, narrower types are widened.
fn conform(batch: RecordBatch, target: &SchemaRef) -> Result<RecordBatch, CompactError> {
    let schema = batch.schema();
    let cols = target
        .fields()
        .iter()
        .map(|f| match schema.index_of(f.name()) {
            Ok(i) if batch.column(i).data_type() == f.data_type() => Ok(batch.column(i).clone()),
            Ok(i) => Ok(cast(batch.column(i), f.data_type())?),
            Err(_) => Ok(arrow::array::new_null_array(
                f.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<ArrayRef>, CompactError>>()?;
    Ok(RecordBatch::try_new(target.clone(), cols)?)
}

/// The Arrow schema of a local input, with its partition columns appended as strings.
fn input_schema(input: &LocalInput) -> Result<SchemaRef, CompactionError> {
    let file = std::fs::File::open(&input.path).map_err(|source| CompactionError::Io {
        path: input.path.clone(),
        source,
    })?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|source| CompactionError::Parquet {
            path: input.path.display().to_string(),
            source,
        })?;
    let mut fields: Vec<Field> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (k, _) in &input.partition {
        if !fields.iter().any(|f| f.name() == k) {
            fields.push(Field::new(k, DataType::Utf8, true));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

struct PartWriter {
    writer: ArrowWriter<Box<dyn ObjectSink>>,
    key: String,
    /// Highest `_seq` written, recorded in the footer as [`META_SEQ_MAX`] (statistics of a
    /// 72-byte `_seq` are truncated, so they cannot give it exactly).
    seq_max: Option<String>,
}

impl PartWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), CompactError> {
        let seq = batch
            .column(batch.schema().index_of("_seq")?)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| CompactError::MissingColumn("_seq".into()))?;
        if let Some(m) = arrow::compute::max_string(seq)
            && self.seq_max.as_deref().is_none_or(|h| m > h)
        {
            self.seq_max = Some(m.to_string());
        }
        self.writer.write(batch).map_err(emit_err)
    }
}

struct OpenPartition {
    current: Option<PartWriter>,
    next_part: u32,
    done: WrittenPartition,
}

/// Streams merged rows (in key order) into per-partition snapshot files and a tombstone file.
/// Nothing is visible to readers until published: files go to fresh keys.
pub struct SnapshotWriter<'a> {
    sinks: &'a dyn SinkFactory,
    layout: SnapshotLayout,
    merged: SchemaRef,
    file_schema: SchemaRef,
    file_cols: Vec<usize>,
    part_cols: Vec<usize>,
    op_idx: usize,
    props: WriterProperties,
    target_file_bytes: u64,
    open: BTreeMap<Vec<String>, OpenPartition>,
    tombstones: Option<PartWriter>,
    tombstone_rows: u64,
}

fn column(schema: &Schema, name: &str) -> Result<usize, CompactError> {
    schema
        .index_of(name)
        .map_err(|_| CompactError::MissingColumn(name.to_string()))
}

fn emit_err(e: impl std::error::Error + Send + Sync + 'static) -> CompactError {
    CompactError::Emit(Box::new(e))
}

impl<'a> SnapshotWriter<'a> {
    pub fn new(
        sinks: &'a dyn SinkFactory,
        layout: SnapshotLayout,
        merged: SchemaRef,
        row_group_rows: usize,
        target_file_bytes: u64,
    ) -> Result<Self, CompactError> {
        let part_cols = layout
            .partition_keys
            .iter()
            .map(|k| column(&merged, k))
            .collect::<Result<Vec<_>, _>>()?;
        let file_cols: Vec<usize> = (0..merged.fields().len())
            .filter(|i| !part_cols.contains(i))
            .collect();
        let file_schema = Arc::new(merged.project(&file_cols)?);
        let props = writer_properties_builder(row_group_rows, Some(&file_schema))
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                "tributary.snapshot".into(),
                layout.snapshot.clone(),
            )]))
            .build();
        Ok(Self {
            sinks,
            op_idx: column(&merged, "_op")?,
            layout,
            merged,
            file_schema,
            file_cols,
            part_cols,
            props,
            target_file_bytes,
            open: BTreeMap::new(),
            tombstones: None,
            tombstone_rows: 0,
        })
    }

    fn open_file(&self, key: String, schema: &SchemaRef) -> Result<PartWriter, CompactError> {
        let sink = self
            .sinks
            .create(&key, "application/vnd.apache.parquet")
            .map_err(emit_err)?;
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(self.props.clone()))
            .map_err(emit_err)?;
        Ok(PartWriter {
            writer,
            key,
            seq_max: None,
        })
    }

    fn close(mut w: PartWriter) -> Result<(String, u64), CompactError> {
        if let Some(m) = w.seq_max.take() {
            w.writer
                .append_key_value_metadata(parquet::file::metadata::KeyValue::new(
                    META_SEQ_MAX.into(),
                    m,
                ));
        }
        let sink = w.writer.into_inner().map_err(emit_err)?;
        let bytes = sink.finish().map_err(emit_err)?;
        Ok((w.key, bytes))
    }

    /// Takes one merged batch: deletes to the tombstone file, live rows to their partition.
    pub fn write(&mut self, batch: RecordBatch) -> Result<(), CompactError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let op = batch
            .column(self.op_idx)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| CompactError::MissingColumn("_op".into()))?;
        let is_delete: BooleanArray = op.iter().map(|v| Some(v == Some("D"))).collect();
        let deletes = filter_record_batch(&batch, &is_delete)?;
        if deletes.num_rows() > 0 {
            if self.tombstones.is_none() {
                let key = self.layout.tombstones_key();
                self.tombstones = Some(self.open_file(key, &self.merged.clone())?);
            }
            self.tombstone_rows += deletes.num_rows() as u64;
            let w = self.tombstones.as_mut().expect("opened above");
            w.write(&deletes)?;
        }
        let live = filter_record_batch(&batch, &arrow::compute::not(&is_delete)?)?;
        if live.num_rows() == 0 {
            return Ok(());
        }
        // Group rows by partition (rows arrive in key order, so partitions interleave).
        let parts: Vec<&StringArray> = self
            .part_cols
            .iter()
            .map(|&i| {
                live.column(i)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| CompactError::ColumnType {
                        column: live.schema().field(i).name().clone(),
                        found: live.column(i).data_type().clone(),
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut groups: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
        for row in 0..live.num_rows() {
            let values: Vec<String> = parts
                .iter()
                .map(|a| {
                    if a.is_null(row) {
                        String::new()
                    } else {
                        a.value(row).to_string()
                    }
                })
                .collect();
            groups.entry(values).or_default().push(row as u32);
        }
        let projected = live.project(&self.file_cols)?;
        let single = groups.len() == 1;
        for (values, rows) in groups {
            let part = if single {
                projected.clone()
            } else {
                take_record_batch(&projected, &UInt32Array::from(rows))?
            };
            self.write_partition(values, part)?;
        }
        self.bound_buffers()
    }

    fn write_partition(
        &mut self,
        values: Vec<String>,
        batch: RecordBatch,
    ) -> Result<(), CompactError> {
        if !self.open.contains_key(&values) {
            self.open.insert(
                values.clone(),
                OpenPartition {
                    current: None,
                    next_part: 0,
                    done: WrittenPartition {
                        values: values.clone(),
                        ..Default::default()
                    },
                },
            );
        }
        let needs_file = self.open[&values].current.is_none();
        if needs_file {
            let n = self.open[&values].next_part;
            let key = format!("{}part-{n:05}.parquet", self.layout.snapshot_dir(&values));
            let w = self.open_file(key, &self.file_schema.clone())?;
            let p = self.open.get_mut(&values).expect("inserted above");
            p.current = Some(w);
            p.next_part += 1;
        }
        let target = self.target_file_bytes;
        let p = self.open.get_mut(&values).expect("inserted above");
        p.done.rows += batch.num_rows() as u64;
        let w = p.current.as_mut().expect("opened above");
        w.write(&batch)?;
        if w.writer.bytes_written() as u64 + w.writer.in_progress_size() as u64 >= target {
            let (key, bytes) = Self::close(p.current.take().expect("open"))?;
            p.done.files.push(key);
            p.done.bytes += bytes;
        }
        Ok(())
    }

    /// Flushes the largest in-progress row group while all of them together exceed the budget.
    fn bound_buffers(&mut self) -> Result<(), CompactError> {
        loop {
            let sizes = self
                .open
                .iter()
                .filter_map(|(k, p)| p.current.as_ref().map(|w| (w.writer.in_progress_size(), k)));
            let total: usize = sizes.clone().map(|(s, _)| s).sum();
            if total <= WRITER_BUFFER_BUDGET {
                return Ok(());
            }
            let Some((_, key)) = sizes.max_by_key(|(s, _)| *s) else {
                return Ok(());
            };
            let key = key.clone();
            let w = self.open.get_mut(&key).and_then(|p| p.current.as_mut());
            if let Some(w) = w {
                w.writer.flush().map_err(emit_err)?;
            }
        }
    }

    /// Closes every file (each becomes durable) and reports what was written.
    pub fn finish(mut self) -> Result<WrittenSnapshot, CompactError> {
        let mut out = WrittenSnapshot {
            file_schema: Some(self.file_schema.clone()),
            ..Default::default()
        };
        for (_, mut p) in std::mem::take(&mut self.open) {
            if let Some(w) = p.current.take() {
                let (key, bytes) = Self::close(w)?;
                p.done.files.push(key);
                p.done.bytes += bytes;
            }
            out.partitions.push(p.done);
        }
        if let Some(w) = self.tombstones.take() {
            let (key, _) = Self::close(w)?;
            out.tombstones = Some(key);
        }
        out.tombstone_rows = self.tombstone_rows;
        Ok(out)
    }
}

/// The synchronous core shared by the function and the benchmark: merges local Parquet inputs
/// (latest `_seq` per key, deletes kept as tombstones) into a snapshot written through `sinks`.
/// With `delete_inputs`, each input file is removed once read (disk use stays near the size of
/// the spilled runs).
#[allow(clippy::too_many_arguments)] // the function's and the benchmark's one entry point
pub fn merge_to_snapshot(
    table: &str,
    inputs: &[LocalInput],
    key_columns: &[String],
    layout: SnapshotLayout,
    sinks: &dyn SinkFactory,
    tuning: &CompactionTuning,
    spill_dir: &Path,
    delete_inputs: bool,
) -> Result<WrittenSnapshot, CompactionError> {
    let schemas = inputs
        .iter()
        .map(input_schema)
        .collect::<Result<Vec<_>, _>>()?;
    let mut merged_schemas = schemas.clone();
    // An unpartitioned table still needs every partition key column (none); a table whose
    // inputs lack one gets it as nulls.
    merged_schemas.push(Arc::new(Schema::new(
        layout
            .partition_keys
            .iter()
            .map(|k| Field::new(k, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    )));
    let merged = unify_schemas(table, &merged_schemas)?;
    for k in &layout.partition_keys {
        let t = merged.field_with_name(k).map(|f| f.data_type().clone());
        if t.as_ref().ok() != Some(&DataType::Utf8) {
            return Err(CompactionError::SchemaConflict {
                table: table.into(),
                column: k.clone(),
                a: DataType::Utf8,
                b: t.unwrap_or(DataType::Null),
            });
        }
    }
    let spec = MergeSpec {
        key_columns: key_columns.to_vec(),
        memory_budget: tuning.memory_budget,
        spill_dir: spill_dir.to_path_buf(),
        batch_rows: BATCH_ROWS,
        keep_deletes: true,
    };
    let mut writer = SnapshotWriter::new(
        sinks,
        layout,
        merged.clone(),
        tuning.row_group_rows,
        tuning.target_file_bytes,
    )?;
    let target = merged.clone();
    let batches = inputs.iter().flat_map(move |input| {
        let target = target.clone();
        let path = input.path.clone();
        let opened = read_with_partition(&input.path, &input.partition, BATCH_ROWS);
        let (reader, err) = match opened {
            Ok((_, r)) => (Some(r), None),
            Err(e) => (None, Some(Err(e))),
        };
        let cleanup = std::iter::from_fn(move || {
            if delete_inputs {
                let _ = std::fs::remove_file(&path);
            }
            None
        });
        err.into_iter()
            .chain(
                reader
                    .into_iter()
                    .flatten()
                    .map(move |b| b.and_then(|b| conform(b, &target))),
            )
            .chain(cleanup)
    });
    let stats = latest_per_key(merged, batches, &spec, |b| writer.write(b))?;
    let mut out = writer.finish()?;
    out.stats = stats;
    Ok(out)
}
