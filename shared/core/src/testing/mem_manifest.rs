//! [`MemManifests`]: the in-memory [`ManifestStore`], over the objects of a [`MemStore`].
//!
//! Invariants:
//! - `list` and `put_json` see and change the same buckets as the [`MemStore`] (sizes and ETags
//!   included), with S3's errors for a missing bucket.
//! - `presign_get` signs like SigV4 query signing: the link carries `X-Amz-Date` (the signing
//!   time, whole seconds) and `X-Amz-Expires` (seconds), and a lifetime above 7 days is refused
//!   (the SDK's presigning limit). Links are not checked for existence, as S3 presigning isn't.
//!   Every link handed out is recorded ([`MemManifests::presigned`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::faults::Faults;
use super::mem_store::MemStore;
use crate::discovery::manifest::{ManifestError, ManifestStore, ObjectInfo};
use crate::error::AwsError;
use crate::storage::StorageError;

/// The longest lifetime SigV4 presigning accepts.
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

/// The operations of [`ManifestStore`], for counting calls and arming faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestOp {
    List,
    PutJson,
    PresignGet,
}

/// One link [`MemManifests`] handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub bucket: String,
    pub key: String,
    pub signed_at: SystemTime,
    pub expires: Duration,
    pub url: String,
}

#[derive(Debug, Default)]
struct State {
    faults: Faults<ManifestOp, ManifestError>,
    presigned: Vec<Presigned>,
}

/// An in-memory [`ManifestStore`]. Clones share state (and the underlying [`MemStore`]).
#[derive(Clone, Debug)]
pub struct MemManifests {
    store: MemStore,
    state: Arc<Mutex<State>>,
}

fn manifest_error(e: StorageError) -> ManifestError {
    match e {
        StorageError::Aws(a) => ManifestError::Aws(a),
        other => ManifestError::Aws(super::aws_error(
            "s3:ListObjectsV2",
            "InternalError",
            500,
            &other.to_string(),
        )),
    }
}

/// `%`-encodes a key for a URL path (keeps `/`).
fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl MemManifests {
    /// Manifests over the buckets of `store`.
    pub fn new(store: MemStore) -> Self {
        Self {
            store,
            state: Arc::default(),
        }
    }

    /// The object store underneath.
    pub fn store(&self) -> &MemStore {
        &self.store
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every link handed out so far, in order.
    pub fn presigned(&self) -> Vec<Presigned> {
        self.lock().presigned.clone()
    }

    /// How many calls of `op` were made (failed ones included).
    pub fn calls(&self, op: ManifestOp) -> u64 {
        self.lock().faults.calls(op)
    }

    /// Fails the `nth` call of `op` from now (1 = the next one) with `error`.
    pub fn fail_nth(&self, op: ManifestOp, nth: u64, error: ManifestError) {
        self.lock().faults.fail_nth(op, nth, error);
    }

    /// Fails every call of `op` with `error` until [`Self::heal`].
    pub fn fail_every(&self, op: ManifestOp, error: AwsError) {
        self.lock().faults.fail_every(op, error);
    }

    /// Disarms the faults on `op`.
    pub fn heal(&self, op: ManifestOp) {
        self.lock().faults.heal(op);
    }
}

impl ManifestStore for MemManifests {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, ManifestError> {
        self.lock().faults.record(ManifestOp::List)?;
        let listed = self
            .store
            .list_detailed(bucket, prefix)
            .map_err(manifest_error)?;
        Ok(listed
            .into_iter()
            .map(|(key, size, etag)| ObjectInfo { key, size, etag })
            .collect())
    }

    async fn put_json(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), ManifestError> {
        self.lock().faults.record(ManifestOp::PutJson)?;
        self.store
            .put_now(bucket, key, Bytes::from(body), "application/json")
            .map_err(manifest_error)
    }

    async fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        signed_at: SystemTime,
        expires: Duration,
    ) -> Result<String, ManifestError> {
        let mut st = self.lock();
        st.faults.record(ManifestOp::PresignGet)?;
        if expires > MAX_PRESIGN {
            return Err(ManifestError::Presign {
                bucket: bucket.into(),
                key: key.into(),
                reason: format!(
                    "presigned requests may not be valid for longer than 7 days; {}s asked",
                    expires.as_secs()
                ),
            });
        }
        let at: DateTime<Utc> = signed_at.into();
        let url = format!(
            "https://{bucket}.s3.mem.invalid/{}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={}&X-Amz-Expires={}&X-Amz-SignedHeaders=host&x-id=GetObject",
            encode_path(key),
            at.format("%Y%m%dT%H%M%SZ"),
            expires.as_secs(),
        );
        st.presigned.push(Presigned {
            bucket: bucket.into(),
            key: key.into(),
            signed_at,
            expires,
            url: url.clone(),
        });
        Ok(url)
    }
}
