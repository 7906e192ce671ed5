//! The publishing half of landing: converted or passed-through Parquet is registered in Glue,
//! rejected rows and the report go to quarantine, and the ledger entry and dataset stats are
//! committed last, in one conditional transaction (outputs are durable before the ledger names them).

use super::*;

impl<S, C, G> Landing<S, C, G>
where
    S: ObjectStore,
    C: DatasetCatalog + Ledger,
    G: PartitionCatalog,
{
    pub(super) async fn publish_converted(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
        version: &str,
        ds: &Dataset,
        report: ConvertReport,
        sequence: Option<SequenceSummary>,
    ) -> Result<ObjectSummary, LandingError> {
        let status = if sequence.is_some() {
            Status::Sequenced
        } else {
            Status::Converted
        };
        let report_status = if sequence.is_some() {
            ReportStatus::Sequenced
        } else {
            ReportStatus::Converted
        };
        let mut s = ObjectSummary::new(obj, status);
        s.sequence = sequence;
        s.version = Some(version.to_string());
        s.dataset = Some(ds.id.clone());
        s.rows_read = report.rows_read;
        s.rows_written = report.rows_written;
        s.rows_rejected = report.rows_rejected;
        s.bytes_written = report.outputs.iter().map(|o| o.bytes).sum();
        s.partitions = partitions_of(ds, &report.outputs);
        s.outputs = report.outputs.clone();
        if report.rows_rejected > 0 || !report.warnings.is_empty() {
            let mut q = self
                .report(obj, meta, version, Some(ds), report_status)
                .with_conversion(&report);
            q.reason = (report.rows_rejected > 0).then(|| {
                format!(
                    "{} of {} rows rejected",
                    report.rows_rejected, report.rows_read
                )
            });
            q.outputs = report
                .outputs
                .iter()
                .map(|o| format!("s3://{}/{}", self.output_bucket(ds), o.key))
                .collect();
            let held = match &report.rejected_rows_key {
                Some(k) => Held::RowsWritten(k),
                None => Held::Nothing,
            };
            let keys = self
                .quarantine()
                .write(&quarantine_base(Some(ds), &obj.key), held, q)
                .await?;
            s.quarantine.extend(keys);
        }
        let stats = StatsDelta {
            dataset_id: ds.id.clone(),
            rows: report.rows_written,
            bytes: s.bytes_written,
            files: s.outputs.len() as u64,
            rows_rejected: report.rows_rejected,
            files_quarantined: 0,
            location: self.location(ds),
            last_update: self.clock.now_rfc3339(),
            schema: report.schema_inferred.then(|| report.schema.clone()),
        };
        // The file schema: the raw schema for sequenced files; else the table's minus the
        // partition columns (they are in the path).
        let file_schema = if s.sequence.is_some() {
            report.schema.clone()
        } else {
            report.schema.without(&ds.partition_columns)
        };
        let full = ds.schema.as_ref().unwrap_or(&report.schema);
        match self
            .register(ds, &file_schema, Some(full), &report.outputs)
            .await
        {
            Ok(r) => s.registration = r,
            Err(LandingError::Glue(GlueError::Incompatible { table, reason })) => {
                // The outputs cannot join the table: withdraw them, quarantine the source.
                for o in &report.outputs {
                    self.store.delete(self.output_bucket(ds), &o.key).await?;
                }
                let reason = format!("schema conflict with Glue table {table}: {reason}");
                return self
                    .quarantine_whole(obj, meta, version, Some(ds), reason, None)
                    .await;
            }
            Err(e) => return Err(e),
        }
        let summary = self.commit(s, &meta.etag, Some(stats)).await?;
        if report.schema_inferred {
            // The next file of this dataset must use the recorded schema.
            self.cache.clear();
        }
        Ok(summary)
    }

    /// Parquet is validated (magic bytes and footer) and copied through unchanged.
    pub(super) async fn pass_parquet(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
        version: &str,
        cached: &CachedDataset,
        ingest_date: &str,
    ) -> Result<ObjectSummary, LandingError> {
        let ds = &cached.dataset;
        let footer = match read_parquet_footer(&self.store, obj, meta).await? {
            Ok(f) => f,
            Err(reason) => {
                return self
                    .quarantine_whole(obj, meta, version, Some(ds), reason, None)
                    .await;
            }
        };
        // A file that does not match the dataset's schema (declared, or recorded from its first
        // file) is quarantined before anything is copied or registered: the copy is served as is.
        if let Some(schema) = &cached.schema
            && let Err(problems) = footer.schema.conforms_to(schema)
        {
            let source = if ds.schema.is_some() {
                "declared"
            } else {
                "recorded"
            };
            let reason = format!(
                "the Parquet file does not match the {source} schema of {}: {problems}",
                ds.id
            );
            return self
                .quarantine_whole(obj, meta, version, Some(ds), reason, None)
                .await;
        }
        // A file the table cannot take is quarantined before anything is copied.
        let table_schema = cached.schema.as_ref().unwrap_or(&footer.schema);
        let def = TableDef::new(
            ds,
            self.output_bucket(ds),
            table_schema,
            &[("ingest_date".into(), ColumnType::Date)],
        );
        let mut probe = RegisterSummary::default();
        match self.registrar.ensure_table(&def, &mut probe).await {
            Ok(_) => {}
            Err(GlueError::Incompatible { table, reason }) => {
                let reason = format!("schema conflict with Glue table {table}: {reason}");
                return self
                    .quarantine_whole(obj, meta, version, Some(ds), reason, None)
                    .await;
            }
            Err(e) => return Err(e.into()),
        }
        let partition = format!("ingest_date={ingest_date}");
        let key = format!(
            "{}{partition}/{}-00000.parquet",
            ds.zone_prefix(),
            output_stem(&obj.bucket, &obj.key)
        );
        self.store
            .copy(&obj.bucket, &obj.key, &self.config.clean_bucket, &key)
            .await?;
        let mut s = ObjectSummary::new(obj, Status::Copied);
        s.version = Some(version.to_string());
        s.dataset = Some(ds.id.clone());
        s.rows_read = footer.rows;
        s.rows_written = footer.rows;
        s.bytes_written = meta.size;
        s.partitions = vec![format!("{}{partition}", ds.zone_prefix())];
        s.outputs = vec![OutputFile {
            key,
            partition,
            partition_values: vec![("ingest_date".into(), ingest_date.into())],
            rows: footer.rows,
            bytes: meta.size,
        }];
        let stats = StatsDelta {
            dataset_id: ds.id.clone(),
            rows: footer.rows,
            bytes: meta.size,
            files: 1,
            rows_rejected: 0,
            files_quarantined: 0,
            location: self.location(ds),
            last_update: self.clock.now_rfc3339(),
            schema: Some(footer.schema.clone()),
        };
        s.registration = self.register(ds, table_schema, None, &s.outputs).await?;
        if let Some(r) = s.registration.as_mut() {
            r.glue_calls += probe.glue_calls;
            r.table_created |= probe.table_created;
            r.columns_added = probe.columns_added;
            r.columns_widened = probe.columns_widened;
            r.partitions_updated = probe.partitions_updated;
        }
        self.commit(s, &meta.etag, Some(stats)).await
    }

    /// Makes the outputs' partitions queryable: creates the dataset's Glue table if needed and
    /// registers new partitions. Runs after the outputs are durable and before the ledger entry,
    /// so a failure here is retried with the object (registration is idempotent).
    pub(super) async fn register(
        &self,
        ds: &Dataset,
        file_schema: &TableSchema,
        full_schema: Option<&TableSchema>,
        outputs: &[OutputFile],
    ) -> Result<Option<RegisterSummary>, LandingError> {
        let Some(first) = outputs.first() else {
            return Ok(None);
        };
        let keys: Vec<(String, ColumnType)> = first
            .partition_values
            .iter()
            .map(|(k, _)| {
                let ty = full_schema
                    .and_then(|s| s.index_of(k).map(|i| s.columns[i].ty))
                    .unwrap_or(if k == "ingest_date" {
                        ColumnType::Date
                    } else {
                        ColumnType::String
                    });
                (k.clone(), ty)
            })
            .collect();
        let def = TableDef::new(ds, self.output_bucket(ds), file_schema, &keys);
        let partitions: Vec<Vec<String>> = outputs
            .iter()
            .map(|o| o.partition_values.iter().map(|(_, v)| v.clone()).collect())
            .collect();
        Ok(Some(self.registrar.register_all(&def, &partitions).await?))
    }

    pub(super) async fn commit(
        &self,
        mut s: ObjectSummary,
        etag: &str,
        stats: Option<StatsDelta>,
    ) -> Result<ObjectSummary, LandingError> {
        let entry = LedgerEntry {
            bucket: s.bucket.clone(),
            key: s.key.clone(),
            version: s.version.clone().unwrap_or_default(),
            etag: etag.to_string(),
            dataset_id: s.dataset.clone(),
            outcome: serde_json::to_value(&s.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            rows_read: s.rows_read,
            rows_written: s.rows_written,
            rows_rejected: s.rows_rejected,
            bytes_written: s.bytes_written,
            outputs: s.outputs.iter().map(|o| o.key.clone()).collect(),
            quarantine: s.quarantine.clone(),
            processed_at: self.clock.now_rfc3339(),
            sequence: s.sequence.clone(),
        };
        if self.kill_at == Some(KillPoint::BeforeCommit) {
            tracing::warn!(key = %s.key, "fault injection: stopping before the ledger commit");
            return Err(LandingError::Killed(KillPoint::BeforeCommit));
        }
        if self.catalog.commit(&entry, stats.as_ref()).await? == CommitOutcome::AlreadyRecorded {
            // A concurrent delivery of the same version won the race; its outputs are identical.
            s.status = Status::Duplicate;
            s.reason = Some("a concurrent delivery recorded this object version first".into());
        }
        Ok(s)
    }
}
