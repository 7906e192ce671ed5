//! Parquet writer settings shared by every Tributary output (ZSTD, chunk statistics, dictionary
//! encoding only where it pays), and reading a Parquet footer (rows and schema) without
//! reading the data.

use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::model::schema::{Column, ColumnType, TableSchema};

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

pub struct ParquetFooter {
    pub rows: u64,
    pub schema: TableSchema,
}

/// Decodes a Parquet footer's metadata: row count and schema, or why it is not readable.
pub fn parse_parquet_metadata(buf: &[u8]) -> Result<ParquetFooter, String> {
    let md = parquet::file::metadata::ParquetMetaDataReader::decode_metadata(buf)
        .map_err(|e| format!("corrupt Parquet footer: {e}"))?;
    let fm = md.file_metadata();
    let arrow = parquet::arrow::parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata())
        .map_err(|e| format!("unsupported Parquet schema: {e}"))?;
    let mut columns = Vec::new();
    for f in arrow.fields() {
        let ty = ColumnType::from_arrow(f.data_type()).unwrap_or(ColumnType::String);
        columns.push(Column {
            name: f.name().clone(),
            ty,
            nullable: f.is_nullable(),
        });
    }
    Ok(ParquetFooter {
        rows: fm.num_rows().max(0) as u64,
        schema: TableSchema { columns },
    })
}
