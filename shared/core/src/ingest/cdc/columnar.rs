//! DMS Parquet: each batch's columns are converted to their declared types with Arrow casts
//! ([`crate::ingest::cast`]), then its rows are sequenced and routed like CSV rows. The file's
//! schema is checked against the declaration once, before any row: a column the declaration
//! lacks, or one wider than declared, is a [`ConvertError::SchemaDrift`] (nothing written); a
//! narrowing or unrelated type makes the file unreadable, with the column and both types.

use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;
use crate::ingest::cast::{self, Cast, Fit, Typed};
use crate::model::schema::ColumnType;

/// One batch's columns in their declared types.
struct Converted {
    op: Option<StringArray>,
    commit: Option<TimestampMicrosecondArray>,
    cseq: Option<StringArray>,
    /// Per schema column (`None`: absent from the file, NULL).
    data: Vec<Option<Cast>>,
    /// The first rejection of each row, if any row has one.
    rejected: Vec<Option<Rejection>>,
}

fn system_column(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.into(),
        ty,
        nullable: true,
    }
}

impl Run<'_> {
    pub(super) fn parquet(&mut self, file: std::fs::File) -> Result<(), ConvertError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| self.unreadable(format!("not a readable Parquet file: {e}")))?;
        let fields = builder.schema().fields().clone();
        let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
        let reader = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| self.unreadable(format!("not a readable Parquet file: {e}")))?;
        self.header = true;
        self.engine
            .keep_header(csv::ByteRecord::from(names.clone()));
        let layout = self.layout(Some(&names), names.len())?;
        self.op_column = layout.op.is_some();
        let types: Vec<&DataType> = fields.iter().map(|f| f.data_type()).collect();
        self.check_types(&layout, &names, &types)?;
        let mut line = 0u64;
        for batch in reader {
            let batch =
                batch.map_err(|e| self.unreadable(format!("reading Parquet data failed: {e}")))?;
            let converted = self.convert(&layout, &batch)?;
            self.rows(&batch, &converted, &mut line)?;
            self.engine.check_progress()?;
        }
        Ok(())
    }

    /// The file's schema against the declaration, before any row is read.
    fn check_types(
        &self,
        layout: &Layout,
        names: &[String],
        types: &[&DataType],
    ) -> Result<(), ConvertError> {
        let mut drift = Vec::new();
        for (col, &fi) in self.spec.schema.columns.iter().zip(&layout.data) {
            let Some(dt) = types.get(fi) else { continue };
            match cast::fit(dt, col.ty) {
                Fit::Holds => {}
                Fit::Widens(ty) => drift.push(Column { ty, ..col.clone() }),
                Fit::Incompatible(why) => {
                    return Err(self.unreadable(format!("column {}: {why}", col.name)));
                }
            }
        }
        for &fi in &layout.extra {
            let Some(ty) = cast::column_type_of(types[fi]) else {
                let reason = format!(
                    "column {} is {} in the file, which no declared type holds",
                    names[fi],
                    cast::source_type_name(types[fi])
                );
                return Err(self.unreadable(reason));
            };
            drift.push(Column {
                name: names[fi].clone(),
                ty,
                nullable: true,
            });
        }
        if drift.is_empty() {
            Ok(())
        } else {
            Err(ConvertError::SchemaDrift { columns: drift })
        }
    }

    /// Converts a batch's columns; a value a rule rejects marks its row.
    fn convert(&mut self, layout: &Layout, batch: &RecordBatch) -> Result<Converted, ConvertError> {
        let n = batch.num_rows();
        let mut rejected: Vec<Option<Rejection>> = Vec::new();
        let mut mark = |errors: &[(usize, String)], category: &'static str| {
            if errors.is_empty() {
                return;
            }
            if rejected.is_empty() {
                rejected.resize(n, None);
            }
            for (i, reason) in errors {
                rejected[*i].get_or_insert_with(|| (category, reason.clone()));
            }
        };
        let convert = |at: Option<usize>, col: Column| -> Result<Option<Cast>, ConvertError> {
            at.filter(|&i| i != ABSENT)
                .map(|i| cast::cast_column(&col, batch.column(i)))
                .transpose()
                .map_err(|reason| self.unreadable(reason))
        };
        let op = convert(layout.op, system_column("Op", ColumnType::String))?;
        let commit = convert(
            layout.ts,
            system_column("commit time", ColumnType::Timestamp),
        )?;
        let cseq = convert(
            layout.cseq,
            system_column("change sequence", ColumnType::String),
        )?;
        let mut data = Vec::with_capacity(layout.data.len());
        for (col, &fi) in self.spec.schema.columns.iter().zip(&layout.data) {
            data.push(convert(Some(fi), col.clone())?);
        }
        if let Some(c) = &commit {
            mark(&c.errors, "invalid_commit_timestamp");
        }
        for c in data.iter().flatten() {
            mark(&c.errors, "invalid_value");
        }
        let strings = |c: Option<Cast>| c.map(|c| c.values.as_string::<i32>().clone());
        Ok(Converted {
            op: strings(op),
            commit: commit.map(|c| c.values.as_primitive::<TimestampMicrosecondType>().clone()),
            cseq: strings(cseq),
            data,
            rejected,
        })
    }

    /// Sequences and routes the rows of a converted batch.
    fn rows(
        &mut self,
        batch: &RecordBatch,
        converted: &Converted,
        line: &mut u64,
    ) -> Result<(), ConvertError> {
        let spec = self.spec;
        let typed: Vec<Option<Typed<'_>>> = spec
            .schema
            .columns
            .iter()
            .zip(&converted.data)
            .map(|(col, c)| c.as_ref().map(|c| Typed::of(&c.values, col.ty)))
            .collect();
        let mut shown = Shown::default();
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(typed.len());
        let mut written = vec![false; batch.num_rows()];
        for (i, done) in written.iter_mut().enumerate() {
            *line += 1;
            self.engine.report.rows_read += 1;
            let position = self.engine.report.rows_read;
            if !self.seq.set_row(position) {
                return Err(
                    self.unreadable(format!("more than {MAX_ROWS_PER_FILE} rows in one file"))
                );
            }
            if let Some(Some(rejection)) = converted.rejected.get(i) {
                let rec = shown.row(batch, i)?;
                self.engine
                    .reject(*line, rejection.clone(), Kept::Record(rec))?;
                continue;
            }
            let fields = OrderFields {
                op: text_at(converted.op.as_ref(), i),
                commit: match &converted.commit {
                    None => Commit::None,
                    Some(a) => Commit::Micros(a.is_valid(i).then(|| a.value(i))),
                },
                cseq: text_at(converted.cseq.as_ref(), i),
            };
            let (op, commit) = match self.order(fields) {
                Ok(found) => found,
                Err(rejection) => {
                    let rec = shown.row(batch, i)?;
                    self.engine.reject(*line, rejection, Kept::Record(rec))?;
                    continue;
                }
            };
            cells.clear();
            cells.extend(
                typed
                    .iter()
                    .map(|t| t.as_ref().map_or(Cell::Null, |t| t.cell(i))),
            );
            if let Some(rejection) = self.required(op, &cells) {
                let rec = shown.row(batch, i)?;
                self.engine.reject(*line, rejection, Kept::Record(rec))?;
                continue;
            }
            self.accept(op, &commit, &cells)?;
            *done = true;
        }
        // Truncations are counted on the rows written.
        for (count, c) in self.truncated.iter_mut().zip(&converted.data) {
            let rows = c.iter().flat_map(|c| &c.truncated);
            *count += rows.filter(|&&i| written[i]).count() as u64;
        }
        Ok(())
    }

    /// The DMS rules for NULL: a key must have a value; other required columns too, except in
    /// a delete (which may carry only its key).
    fn required(&self, op: &str, cells: &[Cell<'_>]) -> Option<Rejection> {
        for (ci, (col, cell)) in self.spec.schema.columns.iter().zip(cells).enumerate() {
            if *cell != Cell::Null {
                continue;
            }
            if self.key_idx.contains(&ci) {
                return Some(("missing_key", format!("key column {} is empty", col.name)));
            }
            if !col.nullable && op != "D" {
                let reason = format!("column {}: required value is empty", col.name);
                return Some(("invalid_value", reason));
            }
        }
        None
    }
}

/// Row `i` of a string column as bytes (NULL is empty, as in CSV).
fn text_at(a: Option<&StringArray>, i: usize) -> Option<&[u8]> {
    a.map(|a| {
        if a.is_null(i) {
            &b""[..]
        } else {
            a.value(i).as_bytes()
        }
    })
}

/// A rejected Parquet row as text, for the rejected-rows file (rejections are rare: the
/// formatters are built per rejected row).
#[derive(Default)]
struct Shown {
    rec: csv::ByteRecord,
}

impl Shown {
    fn row(&mut self, batch: &RecordBatch, i: usize) -> Result<&csv::ByteRecord, ConvertError> {
        let options = FormatOptions::default();
        self.rec.clear();
        for c in batch.columns() {
            if c.is_null(i) {
                self.rec.push_field(b"");
                continue;
            }
            let f = ArrayFormatter::try_new(c.as_ref(), &options)?;
            self.rec.push_field(f.value(i).to_string().as_bytes());
        }
        Ok(&self.rec)
    }
}
