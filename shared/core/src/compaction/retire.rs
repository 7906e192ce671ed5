//! Retirement (step 6 of the module docs): what no published snapshot needs any more is deleted
//! once the grace period has passed; never the recorded snapshot or anything Glue points at.

use super::*;

impl<S, C, G, L> Compactor<S, C, G, L>
where
    S: ObjectStore,
    C: DatasetCatalog,
    G: PartitionCatalog,
    L: SnapshotLedger,
{
    /// Step 6 of the module docs: deletes what no published snapshot needs any more, after
    /// the grace period.
    pub(super) async fn retire_leased(
        &self,
        ds: &Dataset,
        record: Option<SnapshotRecord>,
        existing: &HashMap<Vec<String>, String>,
        summary: &mut CompactionSummary,
    ) -> Result<(), CompactionError> {
        summary.status = "retired".into();
        let Some(record) = record else {
            return Ok(());
        };
        summary.generation = Some(record.generation);
        summary.snapshot = Some(record.snapshot.clone());
        // Whatever the record or Glue names stays.
        let mut live: HashSet<String> = HashSet::from([record.snapshot.clone()]);
        live.extend(
            existing
                .values()
                .filter_map(|l| snapshot_of_key(l))
                .map(str::to_string),
        );
        let now = self.clock.now();
        let grace = chrono::Duration::from_std(self.tuning.grace).unwrap_or(chrono::Duration::MAX);
        let published_long_ago = now - record.published_at >= grace;
        let prefix = Self::prefix(ds);
        let bucket = &self.config.curated_bucket;
        // Objects of each snapshot id: data files, tombstones, manifest.
        let mut by_snapshot: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let manifests = format!("{prefix}{META_DIR}/manifests/");
        let tombstones = format!("{prefix}{META_DIR}/tombstones/");
        for key in self.store.list(bucket, &prefix).await? {
            let sid = if let Some(name) = key.strip_prefix(&manifests) {
                name.strip_suffix(".json").map(str::to_string)
            } else if let Some(name) = key.strip_prefix(&tombstones) {
                name.strip_suffix(".parquet").map(str::to_string)
            } else {
                snapshot_of_key(&key).map(str::to_string)
            };
            if let Some(sid) = sid {
                by_snapshot.entry(sid).or_default().push(key);
            }
        }
        let mut doomed: Vec<(String, String)> = Vec::new();
        for (sid, mut keys) in by_snapshot {
            if live.contains(&sid) {
                continue;
            }
            let superseded = generation_of(&sid).is_some_and(|g| g < record.generation);
            let old_enough = if superseded {
                // Superseded at or before the current record's publication.
                published_long_ago
            } else {
                // An unpublished leftover of a crashed run: judged by when it was written.
                let mut newest = None;
                for k in &keys {
                    if let Some(m) = self.store.head(bucket, k).await? {
                        newest = newest.max(m.last_modified);
                    }
                }
                newest.is_none_or(|t| now - t >= grace)
            };
            if !old_enough {
                summary.retained_snapshots += 1;
                continue;
            }
            // The manifest goes last: while any file remains, its manifest explains it.
            keys.sort_by_key(|k| k.starts_with(&manifests));
            doomed.extend(keys.into_iter().map(|k| (bucket.clone(), k)));
        }
        if published_long_ago {
            let m = self.manifest(&record.manifest).await?;
            for key in m.iter().flat_map(|m| m.consumed.iter()) {
                doomed.push((self.config.raw_bucket.clone(), key.clone()));
            }
        }
        let half = doomed.len() / 2;
        for (i, (b, k)) in doomed.iter().enumerate() {
            if i == half && i > 0 {
                self.kill(KillPoint::DuringRetire)?;
            }
            if self.store.head(b, k).await?.is_none() {
                continue;
            }
            self.store.delete(b, k).await?;
            if *b == self.config.raw_bucket {
                summary.retired_deltas += 1;
            } else {
                summary.retired_objects += 1;
            }
        }
        tracing::info!(dataset = %ds.id, objects = summary.retired_objects, deltas = summary.retired_deltas, retained = summary.retained_snapshots, "retired");
        Ok(())
    }
}
