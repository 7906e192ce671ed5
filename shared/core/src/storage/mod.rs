//! Object storage port ([`ObjectStore`], implemented for S3 by `tributary-aws`), plus synchronous
//! streaming sinks used by the CPU-bound converters that run on blocking threads.
//!
//! Invariants:
//! - A [`S3Sink`] publishes nothing until [`ObjectSink::finish`]: small objects are one `PutObject`,
//!   larger ones a multipart upload completed only at the end; [`ObjectSink::abort`] (or dropping an
//!   unfinished sink) aborts the upload, so a reader never sees a partial object.
//! - Memory per sink is bounded by `part_size * (MAX_PARTS_IN_FLIGHT + 1)`.
//! - Reads pin the ETag seen by `head` (`If-Match`), so an object overwritten mid-flight fails
//!   loudly instead of mixing two versions.

pub mod quarantine;

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::AsyncRead;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::error::{AwsError, Classify, ErrorKind};

/// What `head` reports about an object.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ObjectMeta {
    pub size: u64,
    /// ETag without quotes.
    pub etag: String,
    pub version_id: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
}

/// A streaming object body.
pub type ObjectBody = Pin<Box<dyn AsyncRead + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("s3://{bucket}/{key} changed while it was being processed (expected ETag {etag})")]
    Changed {
        bucket: String,
        key: String,
        etag: String,
    },
    /// The bucket itself does not exist: a deployment error, never "the object is missing".
    #[error("bucket {bucket} does not exist")]
    NoSuchBucket { bucket: String },
}

impl Classify for StorageError {
    fn kind(&self) -> ErrorKind {
        match self {
            StorageError::Aws(e) => e.kind(),
            // A newer version will be (or was) delivered on its own event.
            StorageError::Changed { .. } => ErrorKind::Retryable,
            StorageError::NoSuchBucket { .. } => ErrorKind::Fatal,
        }
    }
}

/// The capability to read and write objects. Implemented for S3; logic is generic over it.
pub trait ObjectStore: Clone + Send + Sync + 'static {
    /// Size, ETag, version and modification time; `None` when the object does not exist, and
    /// [`StorageError::NoSuchBucket`] when its bucket does not.
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectMeta>, StorageError>> + Send;
    /// Streams an object's body; with `if_match`, fails with [`StorageError::Changed`] if the ETag differs.
    fn get(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<ObjectBody, StorageError>> + Send;
    /// Reads the inclusive byte range `start..=end`.
    fn get_range(
        &self,
        bucket: &str,
        key: &str,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Bytes, StorageError>> + Send;
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Server-side copy (objects up to 5 GiB).
    fn copy(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn delete(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Every key under `prefix`, in key order.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, StorageError>> + Send;
    fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<String, StorageError>> + Send;
    /// Uploads one part and returns its ETag.
    fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> impl Future<Output = Result<String, StorageError>> + Send;
    fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// A synchronous, write-once destination for one object.
pub trait ObjectSink: Write + Send {
    /// Makes the object durable and visible; returns its size in bytes.
    fn finish(self: Box<Self>) -> io::Result<u64>;
    /// Discards everything written; the object never appears.
    fn abort(self: Box<Self>);
}

/// Opens sinks by key. The bucket (or directory) is the factory's.
pub trait SinkFactory: Send {
    fn create(&self, key: &str, content_type: &str) -> io::Result<Box<dyn ObjectSink>>;
}

/// Multipart uploads in flight per sink while the next part fills.
pub const MAX_PARTS_IN_FLIGHT: usize = 2;
/// Default part size: above S3's 5 MiB minimum, small enough to bound memory.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

fn io_err(e: StorageError) -> io::Error {
    io::Error::other(e)
}

/// Streams into one S3 object from a blocking thread (uses `Handle::block_on`, so never call
/// it from inside an async task).
pub struct S3Sink<S: ObjectStore> {
    store: S,
    handle: Handle,
    bucket: String,
    key: String,
    content_type: String,
    part_size: usize,
    buf: Vec<u8>,
    upload_id: Option<String>,
    next_part: i32,
    in_flight: VecDeque<JoinHandle<Result<(i32, String), StorageError>>>,
    done: Vec<(i32, String)>,
    written: u64,
    finished: bool,
}

impl<S: ObjectStore> S3Sink<S> {
    pub fn new(
        store: S,
        handle: Handle,
        bucket: &str,
        key: &str,
        content_type: &str,
        part_size: usize,
    ) -> Self {
        Self {
            store,
            handle,
            bucket: bucket.into(),
            key: key.into(),
            content_type: content_type.into(),
            part_size: part_size.max(5 * 1024 * 1024),
            buf: Vec::new(),
            upload_id: None,
            next_part: 1,
            in_flight: VecDeque::new(),
            done: Vec::new(),
            written: 0,
            finished: false,
        }
    }

    fn ship_part(&mut self) -> io::Result<()> {
        if self.upload_id.is_none() {
            let id = self
                .handle
                .block_on(
                    self.store
                        .create_multipart(&self.bucket, &self.key, &self.content_type),
                )
                .map_err(io_err)?;
            self.upload_id = Some(id);
        }
        let body = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(self.part_size),
        ));
        let (store, bucket, key, id, n) = (
            self.store.clone(),
            self.bucket.clone(),
            self.key.clone(),
            self.upload_id.clone().unwrap_or_default(),
            self.next_part,
        );
        self.next_part += 1;
        self.in_flight.push_back(self.handle.spawn(async move {
            let etag = store.upload_part(&bucket, &key, &id, n, body).await?;
            Ok((n, etag))
        }));
        while self.in_flight.len() > MAX_PARTS_IN_FLIGHT {
            self.wait_oldest()?;
        }
        Ok(())
    }

    fn wait_oldest(&mut self) -> io::Result<()> {
        if let Some(h) = self.in_flight.pop_front() {
            let part = self
                .handle
                .block_on(h)
                .map_err(io::Error::other)?
                .map_err(io_err)?;
            self.done.push(part);
        }
        Ok(())
    }

    fn abort_upload(&mut self) {
        self.finished = true;
        for h in self.in_flight.drain(..) {
            h.abort();
        }
        if let Some(id) = self.upload_id.take() {
            let (store, bucket, key) = (self.store.clone(), self.bucket.clone(), self.key.clone());
            // Best effort: an orphaned upload is also reaped by the bucket's lifecycle rule.
            let _ = self
                .handle
                .block_on(async move { store.abort_multipart(&bucket, &key, &id).await });
        }
    }
}

impl<S: ObjectStore> Write for S3Sink<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= self.part_size {
            self.ship_part()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: ObjectStore> ObjectSink for S3Sink<S> {
    fn finish(mut self: Box<Self>) -> io::Result<u64> {
        if self.upload_id.is_none() {
            let body = Bytes::from(std::mem::take(&mut self.buf));
            self.handle
                .block_on(
                    self.store
                        .put(&self.bucket, &self.key, body, &self.content_type),
                )
                .map_err(io_err)?;
        } else {
            if !self.buf.is_empty() {
                self.ship_part()?;
            }
            while !self.in_flight.is_empty() {
                if let Err(e) = self.wait_oldest() {
                    self.abort_upload();
                    return Err(e);
                }
            }
            let id = self.upload_id.clone().unwrap_or_default();
            let mut parts = std::mem::take(&mut self.done);
            parts.sort_by_key(|(n, _)| *n);
            if let Err(e) = self.handle.block_on(self.store.complete_multipart(
                &self.bucket,
                &self.key,
                &id,
                parts,
            )) {
                self.abort_upload();
                return Err(io_err(e));
            }
        }
        self.finished = true;
        Ok(self.written)
    }

    fn abort(mut self: Box<Self>) {
        self.abort_upload();
    }
}

impl<S: ObjectStore> Drop for S3Sink<S> {
    fn drop(&mut self) {
        if !self.finished {
            self.abort_upload();
        }
    }
}

/// Opens [`S3Sink`]s in one bucket.
#[derive(Clone)]
pub struct S3SinkFactory<S: ObjectStore> {
    pub store: S,
    pub handle: Handle,
    pub bucket: String,
    pub part_size: usize,
}

impl<S: ObjectStore> SinkFactory for S3SinkFactory<S> {
    fn create(&self, key: &str, content_type: &str) -> io::Result<Box<dyn ObjectSink>> {
        Ok(Box::new(S3Sink::new(
            self.store.clone(),
            self.handle.clone(),
            &self.bucket,
            key,
            content_type,
            self.part_size,
        )))
    }
}

/// Writes objects as files under a directory (benchmarks, local tools). Files appear under their
/// final name only on `finish` (written to a temporary name, then renamed).
#[derive(Clone, Debug)]
pub struct DirSinkFactory {
    pub root: PathBuf,
}

struct DirSink {
    tmp: PathBuf,
    dst: PathBuf,
    file: Option<io::BufWriter<std::fs::File>>,
    written: u64,
}

impl Write for DirSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.file.as_mut().map_or(Ok(0), |f| f.write(data))?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl ObjectSink for DirSink {
    fn finish(mut self: Box<Self>) -> io::Result<u64> {
        if let Some(f) = self.file.take() {
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&self.tmp, &self.dst)?;
        Ok(self.written)
    }
    fn abort(mut self: Box<Self>) {
        self.file.take();
        let _ = std::fs::remove_file(&self.tmp);
    }
}

impl SinkFactory for DirSinkFactory {
    fn create(&self, key: &str, _content_type: &str) -> io::Result<Box<dyn ObjectSink>> {
        let dst = self.root.join(key);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = dst.with_extension("partial");
        let file = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        Ok(Box::new(DirSink {
            tmp,
            dst,
            file: Some(file),
            written: 0,
        }))
    }
}

/// A fresh temp directory with `out/` and `rej/` sink factories, for converter tests.
#[cfg(test)]
pub(crate) fn test_dirs(
    tag: &str,
    name: &str,
) -> (std::path::PathBuf, DirSinkFactory, DirSinkFactory) {
    let root = std::env::temp_dir().join(format!("tributary-{tag}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    (
        root.clone(),
        DirSinkFactory {
            root: root.join("out"),
        },
        DirSinkFactory {
            root: root.join("rej"),
        },
    )
}

/// Reads and checks a Parquet object's footer with ranged GETs (magic bytes at both ends, metadata
/// length, decodable metadata): `Ok(Err(reason))` when the object is not valid Parquet.
pub async fn read_parquet_footer<S: ObjectStore>(
    store: &S,
    obj: &crate::model::events::ObjectRef,
    meta: &ObjectMeta,
) -> Result<Result<crate::format::parquet::ParquetFooter, String>, StorageError> {
    if meta.size < 12 {
        return Ok(Err("not a Parquet file: too small".into()));
    }
    let tail = store
        .get_range(&obj.bucket, &obj.key, meta.size - 8, meta.size - 1)
        .await?;
    let head = store.get_range(&obj.bucket, &obj.key, 0, 3).await?;
    if &tail[4..] != b"PAR1" || &head[..] != b"PAR1" {
        return Ok(Err("not a Parquet file: magic bytes PAR1 missing".into()));
    }
    let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    if len + 12 > meta.size {
        return Ok(Err(format!(
            "corrupt Parquet footer: metadata length {len} exceeds the file"
        )));
    }
    let buf = store
        .get_range(&obj.bucket, &obj.key, meta.size - 8 - len, meta.size - 9)
        .await?;
    Ok(crate::format::parquet::parse_parquet_metadata(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_sink_publishes_only_on_finish() {
        let dir = std::env::temp_dir().join(format!("tributary-dirsink-{}", std::process::id()));
        let f = DirSinkFactory { root: dir.clone() };
        let mut s = f.create("x/y.bin", "application/octet-stream").unwrap();
        s.write_all(b"hello").unwrap();
        assert!(!dir.join("x/y.bin").exists());
        assert_eq!(s.finish().unwrap(), 5);
        assert_eq!(std::fs::read(dir.join("x/y.bin")).unwrap(), b"hello");
        let mut s = f.create("x/z.bin", "application/octet-stream").unwrap();
        s.write_all(b"nope").unwrap();
        s.abort();
        assert!(!dir.join("x/z.bin").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
