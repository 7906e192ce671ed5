//! The DMS half of landing: a full-load or CDC file is sequenced into the raw zone by
//! [`crate::ingest::cdc`], and a file whose columns drifted from the declaration evolves it
//! (`schema_evolution: add_columns`) or is quarantined (`strict`).
//!
//! Invariants:
//! - **Independent of delivery order and of the declaration cache**: a drift is decided on the
//!   stored declaration (the evolution reads and writes it in one conditional transaction), and
//!   the file is then read again with it; a file lacking a column lands with NULLs whatever the
//!   declaration cached, and a re-delivery stays a recorded duplicate (the ledger is checked
//!   before anything else).
//! - At most one evolution per file: a file still drifting after it is quarantined with the
//!   columns in the reason, never retried in a loop.

use super::*;
use crate::catalog::SchemaEvolution;
use crate::model::schema::Column;

impl<S, C, G> Landing<S, C, G>
where
    S: ObjectStore,
    C: DatasetCatalog + Ledger,
    G: PartitionCatalog,
{
    /// A DMS full-load or CDC file: sequenced into the raw zone. Unreadable files, files with
    /// too many bad rows and files whose names are not DMS names are quarantined whole; single
    /// bad rows are quarantined with their line and reason.
    pub(super) async fn sequence_dms(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
        version: &str,
        ds: &Dataset,
        schema: Option<TableSchema>,
        deadline: Option<Instant>,
    ) -> Result<ObjectSummary, LandingError> {
        let file = match DmsFile::parse(&obj.key) {
            Ok(f) => f,
            Err(reason) => {
                return self
                    .quarantine_whole(obj, meta, version, Some(ds), reason, None)
                    .await;
            }
        };
        let Some(mut schema) = schema.filter(|_| !ds.primary_key.is_empty()) else {
            let reason = format!(
                "dataset {} declares no schema or no primary_key, which DMS files need",
                ds.id
            );
            return self
                .quarantine_whole(obj, meta, version, Some(ds), reason, None)
                .await;
        };
        let phase = file.phase;
        let mut evolved = false;
        loop {
            let spec = self.cdc_spec(obj, ds, schema, file.clone(), deadline);
            match self.run_sequencer(obj, meta, ds, spec).await? {
                Ok(report) => {
                    let sequence = SequenceSummary {
                        phase,
                        rows_by_op: report.rows_by_op,
                        seq_first: report.seq_first,
                        seq_last: report.seq_last,
                        values_truncated: report.values_truncated,
                    };
                    return self
                        .publish_converted(obj, meta, version, ds, report.base, Some(sequence))
                        .await;
                }
                Err(ConvertError::SchemaDrift { columns }) if !evolved => {
                    match self.follow_drift(ds, &columns).await? {
                        Ok(fresh) => (schema, evolved) = (fresh, true),
                        Err(reason) => {
                            return self
                                .quarantine_whole(obj, meta, version, Some(ds), reason, None)
                                .await;
                        }
                    }
                }
                Err(e) => return self.quarantine_bad_file(obj, meta, version, ds, e).await,
            }
        }
    }

    /// The schema to read a drifted file with again: the stored declaration, evolved with the
    /// file's columns (`add_columns`), or as it is when it already holds them (`strict`: another
    /// file's declaration may be newer than the cache); `Err`: the quarantine reason.
    async fn follow_drift(
        &self,
        ds: &Dataset,
        columns: &[Column],
    ) -> Result<Result<TableSchema, String>, LandingError> {
        self.cache.clear();
        let described = cdc::describe_drift(columns);
        let stored = match ds.schema_evolution {
            SchemaEvolution::AddColumns => {
                let evolved = self.catalog.evolve_schema(&ds.id, columns).await?;
                tracing::info!(dataset = %ds.id, columns = %described, "schema evolved by a DMS file");
                evolved.schema
            }
            SchemaEvolution::Strict => {
                let holds = |s: &TableSchema| {
                    columns.iter().all(|c| {
                        s.columns.iter().any(|d| {
                            d.name.eq_ignore_ascii_case(&c.name)
                                && !(d.ty == ColumnType::Int32 && c.ty == ColumnType::Int64)
                        })
                    })
                };
                let stored = self.catalog.get(&ds.id).await?.and_then(|d| d.schema);
                match stored {
                    Some(s) if holds(&s) => Some(s),
                    _ => {
                        return Ok(Err(format!(
                            "schema_evolution is strict and the file's columns differ from the \
                             declaration (new or wider): {described}"
                        )));
                    }
                }
            }
        };
        Ok(stored.ok_or_else(|| format!("dataset {} declares no schema", ds.id)))
    }

    fn cdc_spec(
        &self,
        obj: &ObjectRef,
        ds: &Dataset,
        schema: TableSchema,
        file: DmsFile,
        deadline: Option<Instant>,
    ) -> CdcSpec {
        CdcSpec {
            schema,
            primary_key: ds.primary_key.clone(),
            partition_columns: ds.partition_columns.clone(),
            header: ds.source.header,
            delimiter: ds
                .source
                .delimiter
                .as_deref()
                .and_then(|d| d.bytes().next())
                .unwrap_or(b','),
            timestamp_column: ds.source.timestamp_column.clone(),
            change_sequence_column: ds.source.change_sequence_column.clone(),
            source_file: obj.key.clone(),
            file,
            output_prefix: ds.zone_prefix(),
            output_stem: output_stem(&obj.bucket, &obj.key),
            reject_key: QuarantineWriter::<S>::rejected_key(
                &quarantine_base(Some(ds), &obj.key),
                "csv",
            ),
            tuning: self.config.landing.clone(),
            deadline,
        }
    }

    /// Streams the object through the sequencer (Parquet spooled to local disk first: it
    /// needs random access).
    async fn run_sequencer(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
        ds: &Dataset,
        spec: CdcSpec,
    ) -> Result<Result<CdcReport, ConvertError>, LandingError> {
        let parquet = match detect_format(ds, &obj.key) {
            Some("parquet") => true,
            _ => obj.key.to_ascii_lowercase().ends_with(".parquet"),
        };
        let bucket = self.config.raw_bucket.clone();
        self.stream_through(obj, meta, bucket, move |mut reader, outputs, rejects| {
            if !parquet {
                return cdc::sequence_csv(reader, &spec, &outputs, &rejects);
            }
            let tmp = TempFile::new("dms.parquet");
            let copied = std::fs::File::create(&tmp.0)
                .and_then(|mut f| std::io::copy(&mut reader, &mut f))
                .and_then(|_| std::fs::File::open(&tmp.0));
            match copied {
                Ok(f) => cdc::sequence_parquet(f, &spec, &outputs, &rejects),
                Err(e) => Err(ConvertError::Source(e)),
            }
        })
        .await
    }
}
