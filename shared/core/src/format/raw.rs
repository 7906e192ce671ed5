//! The raw tier's file format: system columns (`_op`, `_seq`, `_source_file`, `_commit_ts`) before
//! the data columns, footer metadata (`tributary.seq_min`/`seq_max`/`source_file`) and writer
//! settings. Written by CDC sequencing and stream ingest, read by compaction.

use parquet::basic::{Compression, Encoding};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::format::parquet::writer_properties_builder;
use crate::model::schema::{Column, ColumnType, TableSchema};

/// Rows per data page of raw-tier objects (bounds each column writer's page buffer).
pub const PAGE_ROWS: usize = 4096;

/// System columns of the raw tier, in order, before the data columns.
pub const OP: &str = "_op";
pub const SEQ: &str = "_seq";
pub const SOURCE_FILE: &str = "_source_file";
pub const COMMIT_TS: &str = "_commit_ts";
/// Footer metadata keys of raw-tier objects.
pub const META_SEQ_MIN: &str = "tributary.seq_min";
pub const META_SEQ_MAX: &str = "tributary.seq_max";
pub const META_SOURCE: &str = "tributary.source_file";

/// The raw-tier schema of a table: system columns, then the data columns that are not partition
/// columns. Data columns are nullable here: a DMS delete may carry only the key.
pub fn raw_schema(schema: &TableSchema, partition_columns: &[String]) -> TableSchema {
    let sys = |name: &str, ty, nullable| Column {
        name: name.into(),
        ty,
        nullable,
    };
    let mut columns = vec![
        sys(OP, ColumnType::String, false),
        sys(SEQ, ColumnType::String, false),
        sys(SOURCE_FILE, ColumnType::String, false),
        sys(COMMIT_TS, ColumnType::Timestamp, true),
    ];
    for c in &schema.without(partition_columns).columns {
        columns.push(Column {
            nullable: true,
            ..c.clone()
        });
    }
    TableSchema { columns }
}

/// Writer settings of raw-tier objects: Snappy; `_seq` delta-encoded (consecutive values share
/// most of their bytes), never dictionary-encoded.
pub fn raw_writer_properties(
    row_group_rows: usize,
    arrow: &arrow::datatypes::Schema,
    key_columns: &[String],
) -> WriterProperties {
    let mut b = writer_properties_builder(row_group_rows, Some(arrow))
        // The raw zone is a hot intermediate read back by compaction: Snappy (what most engines
        // write by default) costs a fraction of ZSTD's time; curated snapshots use ZSTD.
        .set_compression(Compression::SNAPPY);
    // Statistics where readers prune: `_op`, `_seq`, `_commit_ts` and the key; not on every
    // payload column, nor on `_source_file` (one value per object).
    for f in arrow.fields() {
        let system = f.name().starts_with('_') && f.name() != SOURCE_FILE;
        if !system {
            // Plain strings: building a dictionary per column chunk costs more here than it
            // saves; compaction re-encodes the data for readers.
            b = b.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
        if !system && !key_columns.iter().any(|k| k == f.name()) {
            b = b.set_column_statistics_enabled(
                ColumnPath::from(f.name().as_str()),
                parquet::file::properties::EnabledStatistics::None,
            );
        }
    }
    // `_source_file` repeats one value: delta encoding stores it once per page, with no hashing.
    b.set_column_dictionary_enabled(ColumnPath::from(SOURCE_FILE), false)
        .set_column_encoding(ColumnPath::from(SOURCE_FILE), Encoding::DELTA_BYTE_ARRAY)
        .set_column_dictionary_enabled(ColumnPath::from(SEQ), false)
        .set_column_encoding(ColumnPath::from(SEQ), Encoding::DELTA_BYTE_ARRAY)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .build()
}
