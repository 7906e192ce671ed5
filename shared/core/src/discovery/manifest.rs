//! Manifests: every data object of a list of datasets (optionally filtered by partition), each
//! with a presigned GET link, written as one JSON document to the manifest bucket and handed out
//! as a presigned link itself. Also the Glue partition pages the API lists.
//!
//! Invariants:
//! - Links expire after at most 15 minutes (`TRIBUTARY_MANIFEST_EXPIRY_SECONDS` caps what a
//!   request may ask), the manifest's own link too.
//! - A manifest lists data objects only: Parquet files under the dataset's zone prefix whose
//!   folders are partitions of its layout (reports, `_SUCCESS`, dot files are left out).
//! - The caller's visibility was checked for every dataset before anything is listed
//!   (`crate::discovery::api`).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::catalog::Dataset;
use crate::error::{AwsError, Classify, ErrorKind};
use crate::tables::glue::{GlueError, partition_from_path};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("presigning s3://{bucket}/{key}: {reason}")]
    Presign {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("the manifest would list more than {max} objects")]
    TooLarge { max: usize },
}

impl Classify for ManifestError {
    fn kind(&self) -> ErrorKind {
        match self {
            ManifestError::Aws(e) => e.kind(),
            ManifestError::Presign { .. } => ErrorKind::Fatal,
            ManifestError::TooLarge { .. } => ErrorKind::BadInput,
        }
    }
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// Listing, writing and presigning objects: what manifests need of S3.
pub trait ManifestStore: Send + Sync {
    /// Every object under `prefix` (all pages).
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectInfo>, ManifestError>> + Send;
    fn put_json(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), ManifestError>> + Send;
    /// A presigned GET link signed at `signed_at` and valid for `expires` from then.
    fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        signed_at: SystemTime,
        expires: Duration,
    ) -> impl Future<Output = Result<String, ManifestError>> + Send;
}

/// One dataset of a manifest request: its id and, per partition key, the values to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub dataset: Dataset,
    pub bucket: String,
    pub partitions: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestObject {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub partition: BTreeMap<String, String>,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestDataset {
    pub id: String,
    pub zone: String,
    pub bucket: String,
    pub prefix: String,
    pub object_count: usize,
    pub byte_count: u64,
    pub objects: Vec<ManifestObject>,
}

/// The manifest document written to S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub manifest_id: String,
    pub created_at: String,
    pub expires_at: String,
    pub requested_by: String,
    pub object_count: usize,
    pub datasets: Vec<ManifestDataset>,
}

/// Whether a key is a data object of the dataset: Parquet, not hidden, in partition folders of
/// its layout. Returns its partition.
pub fn data_object(ds: &Dataset, key: &str) -> Option<BTreeMap<String, String>> {
    let rel = key.strip_prefix(&ds.zone_prefix())?;
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if name.starts_with('.') || name.starts_with('_') || !name.ends_with(".parquet") {
        return None;
    }
    let p = partition_from_path(ds.layout, rel).ok()?;
    Some(p.keys.into_iter().zip(p.values).collect())
}

/// Lists the selected objects and presigns a link to each, all signed at `signed_at` (in the
/// order of the request, keys sorted within a dataset).
pub async fn collect<M: ManifestStore>(
    store: &M,
    selections: &[Selection],
    signed_at: SystemTime,
    expires: Duration,
    max_objects: usize,
) -> Result<Vec<ManifestDataset>, ManifestError> {
    let mut out = Vec::new();
    let mut total = 0usize;
    for sel in selections {
        let prefix = sel.dataset.zone_prefix();
        let mut listed = store.list(&sel.bucket, &prefix).await?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        let mut objects = Vec::new();
        for o in listed {
            let Some(partition) = data_object(&sel.dataset, &o.key) else {
                continue;
            };
            let keep = sel.partitions.iter().all(|(k, values)| {
                partition
                    .get(k)
                    .is_some_and(|v| values.iter().any(|want| want == v))
            });
            if !keep {
                continue;
            }
            total += 1;
            if total > max_objects {
                return Err(ManifestError::TooLarge { max: max_objects });
            }
            let url = store
                .presign_get(&sel.bucket, &o.key, signed_at, expires)
                .await?;
            objects.push(ManifestObject {
                key: o.key,
                size: o.size,
                etag: o.etag,
                partition,
                url,
            });
        }
        out.push(ManifestDataset {
            id: sel.dataset.id.clone(),
            zone: sel.dataset.zone.clone(),
            bucket: sel.bucket.clone(),
            prefix,
            object_count: objects.len(),
            byte_count: objects.iter().map(|o| o.size).sum(),
            objects,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Partitions from Glue.

/// One page of a table's partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPage {
    pub keys: Vec<String>,
    /// (values, location)
    pub partitions: Vec<(Vec<String>, String)>,
    pub next: Option<String>,
}

/// Pages through a Glue table's partitions.
pub trait PartitionPages: Send + Sync {
    /// `None` when the table does not exist (nothing registered yet).
    fn page(
        &self,
        table: &str,
        token: Option<String>,
        limit: i32,
    ) -> impl Future<Output = Result<Option<PartitionPage>, GlueError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_objects_are_parquet_in_partition_folders() {
        let ds: Dataset =
            serde_json::from_str(r#"{"id":"sales.orders","landing_prefix":"sales/orders/"}"#)
                .unwrap();
        assert_eq!(
            data_object(&ds, "sales.orders/region=eu-west/a-1-00000.parquet"),
            Some(BTreeMap::from([("region".into(), "eu-west".into())]))
        );
        for skipped in [
            "sales.orders/region=eu/_SUCCESS",
            "sales.orders/region=eu/.tmp.parquet",
            "sales.orders/region=eu/a.json",
            "sales.orders/not-a-partition/a.parquet",
            "other/region=eu/a.parquet",
        ] {
            assert_eq!(data_object(&ds, skipped), None, "{skipped}");
        }
    }
}
