//! A run's inputs (steps 3 and 4 of the module docs): the published snapshot's files, its
//! tombstones and the new deltas are downloaded to local disk (a few at a time), merged and written
//! as the new snapshot on a blocking thread.

use super::*;

impl<S, C, G, L> Compactor<S, C, G, L>
where
    S: ObjectStore,
    C: DatasetCatalog,
    G: PartitionCatalog,
    L: SnapshotLedger,
{
    /// Downloads the inputs and merges them into a snapshot written to the curated bucket.
    pub(super) async fn merge_and_write(
        &self,
        ds: &Dataset,
        record: Option<&SnapshotRecord>,
        new: &[String],
        generation: u64,
        token: &str,
        work: &Path,
    ) -> Result<(WrittenSnapshot, SchemaRef), CompactionError> {
        let keys = self.partition_keys(ds);
        let raw_prefix = ds.zone_prefix();
        let mut sources: Vec<Source> = Vec::new();
        if let Some(r) = record {
            for p in &r.partitions {
                let part: Vec<(String, String)> =
                    keys.iter().cloned().zip(p.values.iter().cloned()).collect();
                for f in &p.files {
                    sources.push((self.config.curated_bucket.clone(), f.clone(), part.clone()));
                }
            }
            if let Some(t) = &r.tombstones {
                sources.push((self.config.curated_bucket.clone(), t.clone(), vec![]));
            }
        }
        for key in new {
            let rel = key.strip_prefix(&raw_prefix).unwrap_or(key);
            let part = glue::partition_from_path(ds.layout, rel).map_err(|reason| {
                CompactionError::NotCompactable {
                    id: ds.id.clone(),
                    reason: format!("raw object {key}: {reason}"),
                }
            })?;
            sources.push((
                self.config.raw_bucket.clone(),
                key.clone(),
                part.keys.into_iter().zip(part.values).collect(),
            ));
        }
        let dir = work.join("in");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| CompactionError::Io {
                path: dir.clone(),
                source,
            })?;
        let inputs: Vec<LocalInput> = futures::stream::iter(sources.into_iter().enumerate())
            .map(|(i, (bucket, key, partition))| {
                let path = dir.join(format!("{i:06}.parquet"));
                async move {
                    self.download(&bucket, &key, &path).await?;
                    Ok::<_, CompactionError>(LocalInput { path, partition })
                }
            })
            .buffered(DOWNLOADS_IN_FLIGHT)
            .try_collect()
            .await?;
        // The folder name carries the high-water mark, so it is read before the merge.
        let high_water = input_high_water(&inputs)?;
        let sid = snapshot_id(&high_water, generation, token);
        let layout = self.layout(ds, &sid);
        let sinks = crate::storage::S3SinkFactory {
            store: self.store.clone(),
            handle: tokio::runtime::Handle::current(),
            bucket: self.config.curated_bucket.clone(),
            part_size: crate::storage::DEFAULT_PART_SIZE,
        };
        let (id, key_columns, tuning, runs) = (
            ds.id.clone(),
            ds.primary_key.clone(),
            self.tuning.clone(),
            work.join("runs"),
        );
        let mut written = tokio::task::spawn_blocking(move || {
            merge_to_snapshot(
                &id,
                &inputs,
                &key_columns,
                layout,
                &sinks,
                &tuning,
                &runs,
                true,
            )
        })
        .await
        .map_err(|e| CompactionError::Join(e.to_string()))??;
        written.high_water = Some(high_water);
        let schema = written
            .file_schema
            .clone()
            .expect("finish sets the file schema");
        Ok((written, schema))
    }

    pub(super) async fn download(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> Result<(), CompactionError> {
        let io = |source| CompactionError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut body = self.store.get(bucket, key, None).await?;
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        tokio::io::copy(&mut body, &mut file).await.map_err(io)?;
        use tokio::io::AsyncWriteExt;
        file.flush().await.map_err(io)?;
        Ok(())
    }
}
