//! Publishing a snapshot (step 5 of the module docs) and recovering a half-published one (step 1):
//! the Glue partitions are swapped to the new folders under the renewed lease, then the record is
//! written; a Glue swap the record does not name is rolled forward from its manifest.

use super::*;

impl<S, C, G, L> Compactor<S, C, G, L>
where
    S: ObjectStore,
    C: DatasetCatalog,
    G: PartitionCatalog,
    L: SnapshotLedger,
{
    /// Every partition of a Glue table (values → location); `None` when the table is missing. An
    /// unpartitioned table has one "partition", its table location, under no values.
    pub(super) async fn glue_partitions(
        &self,
        table: &str,
        summary: &mut CompactionSummary,
    ) -> Result<Option<(glue::TableState, HashMap<Vec<String>, String>)>, CompactionError> {
        summary.glue_calls += 1;
        let Some(state) = self.registrar.catalog().get_table(table).await? else {
            return Ok(None);
        };
        let mut out = HashMap::new();
        if state.partition_keys.is_empty() {
            out.insert(Vec::new(), state.location.clone());
            return Ok(Some((state, out)));
        }
        let mut token = None;
        loop {
            summary.glue_calls += 1;
            let (page, next) = self
                .registrar
                .catalog()
                .get_partitions(table, token)
                .await?;
            out.extend(page.into_iter().map(|p| (p.values, p.location)));
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(Some((state, out)))
    }

    /// Points every partition of `target` at its location: existing partitions are updated,
    /// new ones created; `existing` (values → location, as Glue holds them) follows. Idempotent.
    /// An unpartitioned table has no partitions: its table location is switched to the snapshot
    /// folder instead, so a reader of the table location sees exactly the snapshot.
    pub(super) async fn swap(
        &self,
        def: &TableDef,
        existing: &mut HashMap<Vec<String>, String>,
        target: &[PartitionSnapshot],
        summary: &mut CompactionSummary,
    ) -> Result<(), CompactionError> {
        if def.partition_keys.is_empty() {
            let Some(p) = target.iter().find(|p| p.values.is_empty()) else {
                return Ok(());
            };
            if existing.get(&p.values) != Some(&p.location) {
                let mut moved = def.clone();
                moved.location = p.location.clone();
                summary.glue_calls += 1;
                self.registrar.catalog().update_table(&moved).await?;
                existing.insert(Vec::new(), p.location.clone());
            }
            return Ok(());
        }
        let mut update = Vec::new();
        let mut create = Vec::new();
        for p in target {
            let state = PartitionState {
                values: p.values.clone(),
                location: p.location.clone(),
            };
            match existing.get(&p.values) {
                Some(loc) if *loc == p.location => {}
                Some(_) => update.push(state),
                None => create.push(state),
            }
        }
        let catalog = self.registrar.catalog();
        for chunk in create.chunks(MAX_PARTITIONS_PER_CALL) {
            summary.glue_calls += 1;
            let failures = catalog.create_partitions(def, chunk).await?;
            let mut bad = Vec::new();
            for f in failures {
                if f.code == "AlreadyExistsException" {
                    // Created meanwhile (by partition registration): switch it instead.
                    if let Some(s) = chunk.iter().find(|s| s.values == f.values) {
                        update.push(s.clone());
                    }
                } else {
                    bad.push(f);
                }
            }
            if !bad.is_empty() {
                return Err(GlueError::Partitions {
                    table: def.name.clone(),
                    failures: bad,
                }
                .into());
            }
        }
        for chunk in update.chunks(MAX_PARTITIONS_PER_CALL) {
            summary.glue_calls += 1;
            let failures = catalog.update_partitions(def, chunk).await?;
            if !failures.is_empty() {
                return Err(GlueError::Partitions {
                    table: def.name.clone(),
                    failures,
                }
                .into());
            }
        }
        existing.extend(
            target
                .iter()
                .map(|p| (p.values.clone(), p.location.clone())),
        );
        Ok(())
    }

    /// Step 1 of a run: finishes a half-published snapshot, or puts Glue back on the record.
    /// Returns the record and the table's partitions as Glue then holds them (values →
    /// location; empty when the table does not exist yet).
    pub(super) async fn recover(
        &self,
        ds: &Dataset,
        record: Option<SnapshotRecord>,
        owner: &str,
        summary: &mut CompactionSummary,
    ) -> Result<(Option<SnapshotRecord>, HashMap<Vec<String>, String>), CompactionError> {
        let table = curated_table_name(&ds.id);
        let Some((state, mut existing)) = self.glue_partitions(&table, summary).await? else {
            return Ok((record, HashMap::new()));
        };
        let current = record.as_ref().map(|r| r.snapshot.as_str());
        let mut foreign: Vec<String> = existing
            .values()
            .filter_map(|loc| snapshot_of_key(loc))
            .filter(|s| Some(*s) != current)
            .map(str::to_string)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if foreign.is_empty() {
            return Ok((record, existing));
        }
        foreign.sort_by_key(|s| std::cmp::Reverse(generation_of(s)));
        let def = def_from_state(&table, ds, state);
        for sid in foreign {
            let key = SnapshotLayout::manifest_key(&Self::prefix(ds), &sid);
            let Some(m) = self.manifest(&key).await? else {
                continue;
            };
            if m.previous_generation != record.as_ref().map(|r| r.generation) {
                continue;
            }
            tracing::warn!(dataset = %ds.id, snapshot = sid, "rolling forward a half-published snapshot");
            self.swap(&def, &mut existing, &m.snapshot.partitions, summary)
                .await?;
            let mut rec = m.snapshot.clone();
            rec.published_at = self.clock.now();
            if !self
                .ledger
                .publish(&rec, m.previous_generation, owner)
                .await?
            {
                return Err(CompactionError::LeaseLost {
                    table: ds.id.clone(),
                    generation: rec.generation,
                });
            }
            summary.recovered = Some(rec.generation);
            return Ok((Some(rec), existing));
        }
        // Glue names snapshots no manifest explains as next: put it back on the record.
        if let Some(rec) = &record {
            tracing::warn!(dataset = %ds.id, "catalog locations differ from the record: restoring");
            self.swap(&def, &mut existing, &rec.partitions, summary)
                .await?;
        }
        Ok((record, existing))
    }

    /// The record of a written snapshot: the partitions written, plus those the catalog has that
    /// lost every row (they point at an empty folder of the new snapshot).
    pub(super) fn snapshot_record(
        &self,
        ds: &Dataset,
        table: &str,
        sid: &str,
        generation: u64,
        written: &WrittenSnapshot,
        existing: &HashMap<Vec<String>, String>,
    ) -> SnapshotRecord {
        let layout = self.layout(ds, sid);
        let partition = |values: &Vec<String>, rows, bytes, files: Vec<String>| PartitionSnapshot {
            values: values.clone(),
            location: self.s3_location(&layout.snapshot_dir(values)),
            rows,
            bytes,
            files,
        };
        let mut partitions: Vec<PartitionSnapshot> = written
            .partitions
            .iter()
            .map(|p| partition(&p.values, p.rows, p.bytes, p.files.clone()))
            .collect();
        let mut emptied: Vec<&Vec<String>> = existing
            .keys()
            .filter(|v| !written.partitions.iter().any(|p| &p.values == *v))
            .collect();
        emptied.sort();
        partitions.extend(emptied.into_iter().map(|v| partition(v, 0, 0, vec![])));
        SnapshotRecord {
            dataset: ds.id.clone(),
            table: table.to_string(),
            generation,
            snapshot: sid.to_string(),
            high_water: written.high_water.clone().unwrap_or_default(),
            manifest: SnapshotLayout::manifest_key(&Self::prefix(ds), sid),
            rows: partitions.iter().map(|p| p.rows).sum(),
            files: partitions.iter().map(|p| p.files.len() as u64).sum(),
            bytes: partitions.iter().map(|p| p.bytes).sum(),
            partitions,
            tombstones: written.tombstones.clone(),
            tombstone_rows: written.tombstone_rows,
            published_at: self.clock.now(),
        }
    }

    /// Publishes a written snapshot: fence (renew the lease), swap the catalog's partitions,
    /// write the record under the lease and the generation check.
    pub(super) async fn publish(
        &self,
        ds: &Dataset,
        owner: &str,
        manifest: &SnapshotManifest,
        file_schema: &SchemaRef,
        existing: &mut HashMap<Vec<String>, String>,
        summary: &mut CompactionSummary,
    ) -> Result<SnapshotRecord, CompactionError> {
        let snapshot = &manifest.snapshot;
        let lease_lost = || CompactionError::LeaseLost {
            table: ds.id.clone(),
            generation: snapshot.generation,
        };
        if !self
            .ledger
            .renew(&ds.id, owner, self.tuning.lease_ttl)
            .await?
        {
            return Err(lease_lost());
        }
        let mut reg = RegisterSummary::default();
        let key_types = glue::partition_key_types(ds, &self.partition_keys(ds));
        let file_table = arrow_table_schema(&ds.id, file_schema)?;
        let mut def = TableDef::new(ds, &self.config.curated_bucket, &file_table, &key_types)
            .with_layout(ds.layout);
        def.name = snapshot.table.clone();
        def.location = match snapshot.partitions.as_slice() {
            // Unpartitioned: the table is the snapshot folder (created there, or evolved there).
            [only] if key_types.is_empty() => only.location.clone(),
            _ => self.s3_location(&Self::prefix(ds)),
        };
        // Created, or evolved when the snapshot adds or widens columns.
        let def = self.registrar.ensure_table(&def, &mut reg).await?;
        summary.glue_calls += reg.glue_calls;
        self.swap(&def, existing, &snapshot.partitions, summary)
            .await?;
        self.kill(KillPoint::AfterSwap)?;
        let mut published = snapshot.clone();
        published.published_at = self.clock.now();
        if !self
            .ledger
            .publish(&published, manifest.previous_generation, owner)
            .await?
        {
            return Err(lease_lost());
        }
        self.kill(KillPoint::AfterRecord)?;
        Ok(published)
    }
}
