//! [`MemStore`]: an in-memory [`ObjectStore`] that behaves like S3 where the domain relies on it.
//!
//! Invariants (as S3):
//! - Buckets exist only once created; a missing bucket is `NoSuchBucket` (404), except for
//!   `head`, which (like `HeadObject`, whose 404 has no body) reports the object absent.
//! - An object is its current version: a put or copy replaces it whole, with a new ETag and
//!   last-modified time (whole seconds). A versioned bucket keeps old versions, gives each a
//!   version id and turns a delete into a delete marker; an unversioned one reports no id.
//! - ETags depend only on the content: equal bodies have equal ETags (a 128-bit digest of the
//!   body, not MD5; `<digest of the part digests>-<parts>` for multipart uploads, as S3 does).
//! - A multipart upload is invisible until completed: parts must be listed in ascending order
//!   with the ETags `upload_part` returned, all but the last at least [`MIN_PART_SIZE`]; an
//!   aborted or completed upload is gone (`NoSuchUpload`).
//! - `get_range` clamps the end to the object (`InvalidRange`, 416, when the start is past it);
//!   a reversed range is ignored and the whole object returned, as S3 ignores an invalid `Range`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::faults::Faults;
use crate::error::AwsError;
use crate::storage::{ObjectBody, ObjectMeta, ObjectStore, StorageError};

/// S3's minimum size of every part but the last.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// S3's highest part number.
const MAX_PART_NUMBER: i32 = 10_000;

/// The operations of [`ObjectStore`], for counting calls and arming faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    Head,
    Get,
    GetRange,
    Put,
    Copy,
    Delete,
    List,
    CreateMultipart,
    UploadPart,
    CompleteMultipart,
    AbortMultipart,
}

impl StoreOp {
    /// The S3 API call behind the operation.
    fn api(self) -> &'static str {
        match self {
            StoreOp::Head => "HeadObject",
            StoreOp::Get | StoreOp::GetRange => "GetObject",
            StoreOp::Put => "PutObject",
            StoreOp::Copy => "CopyObject",
            StoreOp::Delete => "DeleteObject",
            StoreOp::List => "ListObjectsV2",
            StoreOp::CreateMultipart => "CreateMultipartUpload",
            StoreOp::UploadPart => "UploadPart",
            StoreOp::CompleteMultipart => "CompleteMultipartUpload",
            StoreOp::AbortMultipart => "AbortMultipartUpload",
        }
    }
}

#[derive(Debug, Clone)]
struct Version {
    id: Option<String>,
    /// `None`: a delete marker.
    body: Option<Bytes>,
    etag: String,
    content_type: String,
    last_modified: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Bucket {
    versioned: bool,
    /// Key → versions, oldest first; the last one is current.
    objects: BTreeMap<String, Vec<Version>>,
}

#[derive(Debug)]
struct Upload {
    bucket: String,
    key: String,
    content_type: String,
    /// Part number → (body, ETag without quotes).
    parts: BTreeMap<i32, (Bytes, String)>,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, Bucket>,
    uploads: BTreeMap<String, Upload>,
    next_id: u64,
    clock: Option<DateTime<Utc>>,
    faults: Faults<StoreOp, StorageError>,
    latency: HashMap<StoreOp, Duration>,
    /// Calls in progress now and the most ever at once.
    in_flight: HashMap<StoreOp, (usize, usize)>,
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        let t = self.clock.unwrap_or_else(Utc::now);
        DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:016x}", self.next_id)
    }

    fn bucket(
        &mut self,
        op: StoreOp,
        bucket: &str,
        key: &str,
    ) -> Result<&mut Bucket, StorageError> {
        self.buckets.get_mut(bucket).ok_or_else(|| {
            s3_error(
                op,
                bucket,
                key,
                "NoSuchBucket",
                404,
                "The specified bucket does not exist",
            )
        })
    }

    fn current(&self, bucket: &str, key: &str) -> Option<&Version> {
        self.buckets
            .get(bucket)?
            .objects
            .get(key)?
            .last()
            .filter(|v| v.body.is_some())
    }

    /// Makes `body` the current version of `key`.
    fn write(
        &mut self,
        op: StoreOp,
        bucket: &str,
        key: &str,
        body: Bytes,
        etag: String,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let last_modified = self.now();
        let id = self.id("v");
        let b = self.bucket(op, bucket, key)?;
        let version = Version {
            id: b.versioned.then_some(id),
            body: Some(body),
            etag,
            content_type: content_type.into(),
            last_modified,
        };
        let versions = b.objects.entry(key.into()).or_default();
        if !b.versioned {
            versions.clear();
        }
        versions.push(version);
        Ok(())
    }
}

/// An S3 error as the S3 adapter (`tributary_aws::S3Store`) reports it.
fn s3_error(
    op: StoreOp,
    bucket: &str,
    key: &str,
    code: &str,
    status: u16,
    message: &str,
) -> StorageError {
    StorageError::Aws(super::aws_error(
        &format!("s3:{} s3://{bucket}/{key}", op.api()),
        code,
        status,
        message,
    ))
}

/// A 128-bit content digest (two multiply-xor lanes over 8-byte words): ETags only need equal
/// bodies to agree and different ones to differ, and this stays fast in unoptimised test builds
/// where hashing megabytes with a cryptographic digest takes seconds.
fn digest(data: &[u8]) -> [u8; 16] {
    let (mut a, mut b) = (
        0xcbf2_9ce4_8422_2325u64,
        0x9e37_79b9_7f4a_7c15u64 ^ data.len() as u64,
    );
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
        a = (a ^ w).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ w.rotate_left(29)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    let w = u64::from_le_bytes(tail);
    a = (a ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    b = (b ^ w.rotate_left(29)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&(a ^ (b >> 31)).to_le_bytes());
    out[8..].copy_from_slice(&(b ^ (a >> 29)).to_le_bytes());
    out
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The ETag S3 gives a single-part object.
fn etag_of(body: &[u8]) -> String {
    hex(&digest(body))
}

fn meta_of(v: &Version) -> ObjectMeta {
    ObjectMeta {
        size: v.body.as_ref().map_or(0, |b| b.len() as u64),
        etag: v.etag.clone(),
        version_id: v.id.clone(),
        last_modified: Some(v.last_modified),
    }
}

/// An in-memory [`ObjectStore`]. Clones share the same buckets, counters and faults.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    state: Arc<Mutex<State>>,
}

/// Counts a call as in flight until dropped (also when its task is aborted).
struct InFlight {
    state: Arc<Mutex<State>>,
    op: StoreOp,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((now, _)) = st.in_flight.get_mut(&self.op) {
            *now = now.saturating_sub(1);
        }
    }
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store with these (unversioned) buckets.
    pub fn with_buckets(buckets: &[&str]) -> Self {
        let s = Self::new();
        for b in buckets {
            s.create_bucket(b);
        }
        s
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates an unversioned bucket (no-op if it exists).
    pub fn create_bucket(&self, name: &str) {
        self.lock().buckets.entry(name.into()).or_default();
    }

    /// Creates a bucket with versioning enabled (or enables it on an existing one).
    pub fn create_versioned_bucket(&self, name: &str) {
        self.lock()
            .buckets
            .entry(name.into())
            .or_default()
            .versioned = true;
    }

    /// Writes an object directly (test setup: not counted, no faults). Panics on a missing bucket.
    pub fn insert(&self, bucket: &str, key: &str, body: impl Into<Bytes>) {
        let body = body.into();
        let etag = etag_of(&body);
        self.lock()
            .write(StoreOp::Put, bucket, key, body, etag, "binary/octet-stream")
            .unwrap_or_else(|e| panic!("MemStore::insert: {e}"));
    }

    /// The current body of an object.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Bytes> {
        self.lock()
            .current(bucket, key)
            .and_then(|v| v.body.clone())
    }

    /// The current version's metadata.
    pub fn meta(&self, bucket: &str, key: &str) -> Option<ObjectMeta> {
        self.lock().current(bucket, key).map(meta_of)
    }

    /// The content type the current version was written with.
    pub fn content_type(&self, bucket: &str, key: &str) -> Option<String> {
        self.lock()
            .current(bucket, key)
            .map(|v| v.content_type.clone())
    }

    /// Every version of a key, oldest first; `None` entries are delete markers.
    pub fn versions(&self, bucket: &str, key: &str) -> Vec<Option<ObjectMeta>> {
        let st = self.lock();
        let versions = st.buckets.get(bucket).and_then(|b| b.objects.get(key));
        versions
            .into_iter()
            .flatten()
            .map(|v| v.body.as_ref().map(|_| meta_of(v)))
            .collect()
    }

    /// The keys of a bucket's current (not deleted) objects, in key order.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.list_now(bucket, "").unwrap_or_default()
    }

    /// Multipart uploads neither completed nor aborted: (bucket, key, upload id).
    pub fn uploads_in_progress(&self) -> Vec<(String, String, String)> {
        self.lock()
            .uploads
            .iter()
            .map(|(id, u)| (u.bucket.clone(), u.key.clone(), id.clone()))
            .collect()
    }

    /// Fixes the clock objects are stamped with (`None`: the system clock).
    pub fn set_time(&self, at: Option<DateTime<Utc>>) {
        self.lock().clock = at;
    }

    /// Makes every call of `op` take `delay` (on the tokio timer) before it acts.
    pub fn set_latency(&self, op: StoreOp, delay: Duration) {
        self.lock().latency.insert(op, delay);
    }

    /// The most calls of `op` that were ever in progress at once.
    pub fn max_in_flight(&self, op: StoreOp) -> usize {
        self.lock().in_flight.get(&op).map_or(0, |(_, max)| *max)
    }

    /// How many calls of `op` were made (failed ones included).
    pub fn calls(&self, op: StoreOp) -> u64 {
        self.lock().faults.calls(op)
    }

    /// Fails the `nth` call of `op` from now (1 = the next one) with `error`.
    pub fn fail_nth(&self, op: StoreOp, nth: u64, error: StorageError) {
        self.lock().faults.fail_nth(op, nth, error);
    }

    /// Fails every call of `op` with `error` until [`Self::heal`].
    pub fn fail_every(&self, op: StoreOp, error: AwsError) {
        self.lock().faults.fail_every(op, error);
    }

    /// Disarms the faults on `op`.
    pub fn heal(&self, op: StoreOp) {
        self.lock().faults.heal(op);
    }

    /// Counts the call, fails it if a fault is armed, then waits out the op's latency.
    async fn enter(&self, op: StoreOp) -> Result<InFlight, StorageError> {
        let delay = {
            let mut st = self.lock();
            st.faults.record(op)?;
            let (now, max) = st.in_flight.entry(op).or_insert((0, 0));
            *now += 1;
            *max = (*max).max(*now);
            st.latency.get(&op).copied()
        };
        let guard = InFlight {
            state: self.state.clone(),
            op,
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        Ok(guard)
    }

    fn list_now(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut st = self.lock();
        let b = st.bucket(StoreOp::List, bucket, prefix)?;
        Ok(b.objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, v)| v.last().is_some_and(|v| v.body.is_some()))
            .map(|(k, _)| k.clone())
            .collect())
    }

    /// The current objects under `prefix`: (key, size, ETag), in key order.
    pub(crate) fn list_detailed(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, u64, String)>, StorageError> {
        let keys = self.list_now(bucket, prefix)?;
        let st = self.lock();
        Ok(keys
            .into_iter()
            .filter_map(|k| {
                let v = st.current(bucket, &k)?;
                let size = v.body.as_ref().map_or(0, |b| b.len() as u64);
                Some((k, size, v.etag.clone()))
            })
            .collect())
    }

    /// A put without counting or faults (for the other in-memory ports over this store).
    pub(crate) fn put_now(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let etag = etag_of(&body);
        self.lock()
            .write(StoreOp::Put, bucket, key, body, etag, content_type)
    }

    fn no_such_key(op: StoreOp, bucket: &str, key: &str) -> StorageError {
        s3_error(
            op,
            bucket,
            key,
            "NoSuchKey",
            404,
            "The specified key does not exist.",
        )
    }

    /// The current body of `key`, or S3's error for a missing bucket or key.
    fn body(&self, op: StoreOp, bucket: &str, key: &str) -> Result<(Bytes, String), StorageError> {
        let mut st = self.lock();
        st.bucket(op, bucket, key)?;
        st.current(bucket, key)
            .and_then(|v| Some((v.body.clone()?, v.etag.clone())))
            .ok_or_else(|| Self::no_such_key(op, bucket, key))
    }

    fn no_such_upload(op: StoreOp, bucket: &str, key: &str) -> StorageError {
        s3_error(
            op,
            bucket,
            key,
            "NoSuchUpload",
            404,
            "The specified upload does not exist. The upload ID may be invalid, or the upload \
             may have been aborted or completed.",
        )
    }

    /// Validates the part list of `CompleteMultipartUpload` and assembles the object.
    fn assemble(
        upload: &Upload,
        parts: &[(i32, String)],
        bucket: &str,
        key: &str,
    ) -> Result<(Bytes, String), StorageError> {
        let op = StoreOp::CompleteMultipart;
        let bad = |code: &str, msg: &str| s3_error(op, bucket, key, code, 400, msg);
        if parts.is_empty() {
            return Err(bad(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate.",
            ));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(bad(
                "InvalidPartOrder",
                "The list of parts was not in ascending order.",
            ));
        }
        let mut body = Vec::new();
        let mut digests = Vec::new();
        for (i, (n, etag)) in parts.iter().enumerate() {
            let (data, want) = upload
                .parts
                .get(n)
                .filter(|(_, e)| e == etag.trim_matches('"'))
                .ok_or_else(|| {
                    bad(
                        "InvalidPart",
                        &format!("part {n} was not uploaded or its ETag does not match"),
                    )
                })?;
            if i + 1 < parts.len() && data.len() < MIN_PART_SIZE {
                return Err(bad(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                ));
            }
            body.extend_from_slice(data);
            digests.extend_from_slice(&digest(want.as_bytes()));
        }
        let etag = format!("{}-{}", hex(&digest(&digests)), parts.len());
        Ok((Bytes::from(body), etag))
    }
}

impl ObjectStore for MemStore {
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let _call = self.enter(StoreOp::Head).await?;
        if !self.lock().buckets.contains_key(bucket) {
            return Err(StorageError::NoSuchBucket {
                bucket: bucket.into(),
            });
        }
        Ok(self.meta(bucket, key))
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<ObjectBody, StorageError> {
        let _call = self.enter(StoreOp::Get).await?;
        let (body, etag) = self.body(StoreOp::Get, bucket, key)?;
        if let Some(want) = if_match
            && want.trim_matches('"') != etag
        {
            return Err(StorageError::Changed {
                bucket: bucket.into(),
                key: key.into(),
                etag: want.into(),
            });
        }
        Ok(Box::pin(std::io::Cursor::new(body)))
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        start: u64,
        end: u64,
    ) -> Result<Bytes, StorageError> {
        let _call = self.enter(StoreOp::GetRange).await?;
        let (body, _) = self.body(StoreOp::GetRange, bucket, key)?;
        let size = body.len() as u64;
        if start > end {
            return Ok(body);
        }
        if start >= size {
            return Err(s3_error(
                StoreOp::GetRange,
                bucket,
                key,
                "InvalidRange",
                416,
                "The requested range is not satisfiable",
            ));
        }
        Ok(body.slice(start as usize..=end.min(size - 1) as usize))
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let _call = self.enter(StoreOp::Put).await?;
        self.put_now(bucket, key, body, content_type)
    }

    async fn copy(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
    ) -> Result<(), StorageError> {
        let _call = self.enter(StoreOp::Copy).await?;
        let mut st = self.lock();
        st.bucket(StoreOp::Copy, dst_bucket, dst_key)?;
        let src = st
            .current(src_bucket, src_key)
            .cloned()
            .ok_or_else(|| Self::no_such_key(StoreOp::Copy, dst_bucket, dst_key))?;
        let body = src.body.unwrap_or_default();
        // A copy is a new single-part object: its ETag is that of its content.
        let etag = etag_of(&body);
        st.write(
            StoreOp::Copy,
            dst_bucket,
            dst_key,
            body,
            etag,
            &src.content_type,
        )
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        let _call = self.enter(StoreOp::Delete).await?;
        let mut st = self.lock();
        let last_modified = st.now();
        let id = st.id("v");
        let b = st.bucket(StoreOp::Delete, bucket, key)?;
        if b.versioned {
            // A delete marker becomes the current version; older versions stay.
            b.objects.entry(key.into()).or_default().push(Version {
                id: Some(id),
                body: None,
                etag: String::new(),
                content_type: String::new(),
                last_modified,
            });
        } else {
            // Deleting a missing key succeeds, as in S3.
            b.objects.remove(key);
        }
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let _call = self.enter(StoreOp::List).await?;
        self.list_now(bucket, prefix)
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<String, StorageError> {
        let _call = self.enter(StoreOp::CreateMultipart).await?;
        let mut st = self.lock();
        st.bucket(StoreOp::CreateMultipart, bucket, key)?;
        let id = st.id("upload-");
        st.uploads.insert(
            id.clone(),
            Upload {
                bucket: bucket.into(),
                key: key.into(),
                content_type: content_type.into(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Result<String, StorageError> {
        let op = StoreOp::UploadPart;
        let _call = self.enter(op).await?;
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(s3_error(
                op,
                bucket,
                key,
                "InvalidArgument",
                400,
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        let etag = etag_of(&body);
        let mut st = self.lock();
        let upload = st
            .uploads
            .get_mut(upload_id)
            .filter(|u| u.bucket == bucket && u.key == key)
            .ok_or_else(|| Self::no_such_upload(op, bucket, key))?;
        upload.parts.insert(part_number, (body, etag.clone()));
        // S3 answers with the ETag header, quotes included.
        Ok(format!("\"{etag}\""))
    }

    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), StorageError> {
        let op = StoreOp::CompleteMultipart;
        let _call = self.enter(op).await?;
        let mut st = self.lock();
        let upload = st
            .uploads
            .get(upload_id)
            .filter(|u| u.bucket == bucket && u.key == key)
            .ok_or_else(|| Self::no_such_upload(op, bucket, key))?;
        let (body, etag) = Self::assemble(upload, &parts, bucket, key)?;
        let content_type = upload.content_type.clone();
        st.write(op, bucket, key, body, etag, &content_type)?;
        st.uploads.remove(upload_id);
        Ok(())
    }

    async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StorageError> {
        let op = StoreOp::AbortMultipart;
        let _call = self.enter(op).await?;
        let mut st = self.lock();
        match st.uploads.get(upload_id) {
            Some(u) if u.bucket == bucket && u.key == key => {
                st.uploads.remove(upload_id);
                Ok(())
            }
            _ => Err(Self::no_such_upload(op, bucket, key)),
        }
    }
}
