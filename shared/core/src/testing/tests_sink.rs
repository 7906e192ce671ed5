//! [`S3Sink`] over [`MemStore`]: one `PutObject` for small objects, an ordered multipart upload
//! for large ones, nothing published before `finish`, and every failure aborts the upload.

use std::io::{self, Write};
use std::time::Duration;

use tokio::runtime::Runtime;

use super::{MIN_PART_SIZE, MemStore, StoreOp, access_denied, slow_down};
use crate::error::{Classify, ErrorKind};
use crate::storage::{MAX_PARTS_IN_FLIGHT, ObjectSink, S3SinkFactory, SinkFactory, StorageError};

const BUCKET: &str = "out";
const KEY: &str = "ds/region=eu/part-00000.parquet";
const CT: &str = "application/vnd.apache.parquet";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A store with the output bucket and a factory over it. `part_size` 1 is raised to S3's
/// minimum by the sink itself.
fn setup(rt: &Runtime) -> (MemStore, S3SinkFactory<MemStore>) {
    let store = MemStore::with_buckets(&[BUCKET]);
    let factory = S3SinkFactory {
        store: store.clone(),
        handle: rt.handle().clone(),
        bucket: BUCKET.into(),
        part_size: 1,
    };
    (store, factory)
}

/// `n` deterministic bytes in which every 4 KiB page differs (a pseudo-random block, each page
/// stamped with its index), so misordered or repeated parts cannot compare equal. Built with
/// copies rather than a per-byte loop: unoptimised test builds stay fast.
fn data(n: usize) -> Vec<u8> {
    const BLOCK: usize = 1 << 16;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = Vec::with_capacity(BLOCK);
    while block.len() < BLOCK {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        block.extend_from_slice(&x.to_le_bytes());
    }
    let mut out = Vec::with_capacity(n + BLOCK);
    while out.len() < n {
        out.extend_from_slice(&block);
    }
    out.truncate(n);
    for (i, page) in out.chunks_mut(4096).enumerate() {
        let stamp = (i as u64).to_le_bytes();
        let len = page.len().min(8);
        page[..len].copy_from_slice(&stamp[..len]);
    }
    out
}

/// Writes `bytes` in odd-sized chunks; the first write error, if any.
fn write_all(sink: &mut dyn ObjectSink, bytes: &[u8]) -> io::Result<()> {
    for chunk in bytes.chunks(1_000_003) {
        sink.write_all(chunk)?;
    }
    Ok(())
}

fn storage_kind(e: &io::Error) -> Option<ErrorKind> {
    e.get_ref()?
        .downcast_ref::<StorageError>()
        .map(Classify::kind)
}

#[test]
fn small_objects_are_one_put_with_the_exact_bytes() {
    let rt = runtime();
    let (store, f) = setup(&rt);
    let body = data(MIN_PART_SIZE - 1);
    let mut sink = f.create(KEY, CT).unwrap();
    write_all(sink.as_mut(), &body).unwrap();
    assert_eq!(store.meta(BUCKET, KEY), None, "nothing before finish");
    assert_eq!(sink.finish().unwrap(), body.len() as u64);
    assert!(store.object(BUCKET, KEY).unwrap() == body);
    assert_eq!(store.content_type(BUCKET, KEY).as_deref(), Some(CT));
    assert_eq!(
        (
            store.calls(StoreOp::Put),
            store.calls(StoreOp::CreateMultipart)
        ),
        (1, 0)
    );
    // An empty object is still published (one empty put).
    let sink = f.create("empty", CT).unwrap();
    assert_eq!(sink.finish().unwrap(), 0);
    assert_eq!(store.object(BUCKET, "empty").unwrap().len(), 0);
}

#[test]
fn large_objects_are_multipart_in_part_order_with_the_exact_bytes() {
    let rt = runtime();
    let (store, f) = setup(&rt);
    let body = data(3 * MIN_PART_SIZE + 123_457);
    let mut sink = f.create(KEY, CT).unwrap();
    write_all(sink.as_mut(), &body).unwrap();
    assert_eq!(store.meta(BUCKET, KEY), None, "nothing before finish");
    assert_eq!(store.uploads_in_progress().len(), 1);
    assert_eq!(sink.finish().unwrap(), body.len() as u64);
    let got = store.object(BUCKET, KEY).unwrap();
    assert!(got == body, "the object differs from what was written");
    assert!(store.meta(BUCKET, KEY).unwrap().etag.ends_with("-3"));
    assert_eq!(store.content_type(BUCKET, KEY).as_deref(), Some(CT));
    assert_eq!(
        (
            store.calls(StoreOp::CreateMultipart),
            store.calls(StoreOp::UploadPart),
            store.calls(StoreOp::CompleteMultipart),
            store.calls(StoreOp::Put),
            store.calls(StoreOp::AbortMultipart),
        ),
        (1, 3, 1, 0, 0),
        "a part size below S3's minimum is raised to it"
    );
    assert!(store.uploads_in_progress().is_empty());
}

#[test]
fn parts_in_flight_are_bounded() {
    let rt = runtime();
    let (store, f) = setup(&rt);
    store.set_latency(StoreOp::UploadPart, Duration::from_millis(40));
    let body = data(5 * MIN_PART_SIZE + 1);
    let mut sink = f.create(KEY, CT).unwrap();
    write_all(sink.as_mut(), &body).unwrap();
    sink.finish().unwrap();
    assert!(store.object(BUCKET, KEY).unwrap() == body);
    // Parts ship once the buffer holds a part (six 1 MB chunks), the rest at finish.
    assert_eq!(store.calls(StoreOp::UploadPart), 5);
    let most = store.max_in_flight(StoreOp::UploadPart);
    assert!(
        (2..=MAX_PARTS_IN_FLIGHT + 1).contains(&most),
        "{most} parts were in flight at once"
    );
}

#[test]
fn a_failed_part_aborts_the_upload_at_finish() {
    let rt = runtime();
    let (store, f) = setup(&rt);
    store.fail_nth(
        StoreOp::UploadPart,
        2,
        StorageError::Aws(slow_down("s3:UploadPart")),
    );
    let mut sink = f.create(KEY, CT).unwrap();
    // One part ships while writing, the second (failing) one at finish.
    write_all(sink.as_mut(), &data(2 * MIN_PART_SIZE + 10)).unwrap();
    let e = sink.finish().unwrap_err();
    assert_eq!(storage_kind(&e), Some(ErrorKind::Retryable), "{e}");
    assert_eq!(store.meta(BUCKET, KEY), None);
    assert_eq!(store.calls(StoreOp::CompleteMultipart), 0);
    assert_eq!(store.calls(StoreOp::AbortMultipart), 1);
    assert!(store.uploads_in_progress().is_empty());
}

#[test]
fn a_part_failing_while_writing_fails_the_write_and_the_drop_aborts() {
    let rt = runtime();
    let (store, f) = setup(&rt);
    store.fail_every(StoreOp::UploadPart, access_denied("s3:UploadPart"));
    let mut sink = f.create(KEY, CT).unwrap();
    let e = write_all(sink.as_mut(), &data(6 * MIN_PART_SIZE))
        .expect_err("the writer learns of the failed part");
    assert_eq!(storage_kind(&e), Some(ErrorKind::Fatal), "{e}");
    drop(sink);
    assert_eq!(store.meta(BUCKET, KEY), None);
    assert_eq!(store.calls(StoreOp::AbortMultipart), 1);
    assert!(store.uploads_in_progress().is_empty());
}

#[test]
fn a_failed_completion_aborts_and_keeps_the_previous_object() {
    let rt = runtime();
    let (store, f) = setup(&rt);
    store.insert(BUCKET, KEY, &b"previous version"[..]);
    store.fail_nth(
        StoreOp::CompleteMultipart,
        1,
        StorageError::Aws(slow_down("s3:CompleteMultipartUpload")),
    );
    let mut sink = f.create(KEY, CT).unwrap();
    write_all(sink.as_mut(), &data(MIN_PART_SIZE + 1)).unwrap();
    assert!(sink.finish().is_err());
    assert_eq!(
        store.object(BUCKET, KEY).as_deref(),
        Some(&b"previous version"[..])
    );
    assert_eq!(store.calls(StoreOp::AbortMultipart), 1);
    assert!(store.uploads_in_progress().is_empty());
}

#[test]
fn abort_and_drop_publish_nothing() {
    let rt = runtime();
    let (store, f) = setup(&rt);
    let mut sink = f.create("a", CT).unwrap();
    write_all(sink.as_mut(), &data(MIN_PART_SIZE + 1)).unwrap();
    sink.abort();
    let mut sink = f.create("b", CT).unwrap();
    write_all(sink.as_mut(), &data(100)).unwrap();
    drop(sink);
    assert!(store.keys(BUCKET).is_empty());
    assert_eq!(
        (
            store.calls(StoreOp::Put),
            store.calls(StoreOp::AbortMultipart)
        ),
        (0, 1),
        "a small unfinished object never reached S3"
    );
    assert!(store.uploads_in_progress().is_empty());

    // Aborting is best effort: a failed abort leaves the upload to the lifecycle rule.
    store.fail_nth(
        StoreOp::AbortMultipart,
        1,
        StorageError::Aws(slow_down("s3:AbortMultipartUpload")),
    );
    let mut sink = f.create("c", CT).unwrap();
    write_all(sink.as_mut(), &data(MIN_PART_SIZE)).unwrap();
    sink.abort();
    assert_eq!(store.uploads_in_progress().len(), 1);
    assert!(store.keys(BUCKET).is_empty());
}

#[test]
fn failed_create_and_put_publish_nothing() {
    let rt = runtime();
    let (store, f) = setup(&rt);
    store.fail_nth(
        StoreOp::CreateMultipart,
        1,
        StorageError::Aws(slow_down("s3:CreateMultipartUpload")),
    );
    let mut sink = f.create(KEY, CT).unwrap();
    let e = write_all(sink.as_mut(), &data(MIN_PART_SIZE)).unwrap_err();
    assert_eq!(storage_kind(&e), Some(ErrorKind::Retryable));
    drop(sink);
    assert_eq!(
        store.calls(StoreOp::AbortMultipart),
        0,
        "no upload to abort"
    );

    store.fail_nth(
        StoreOp::Put,
        1,
        StorageError::Aws(access_denied("s3:PutObject")),
    );
    let mut sink = f.create(KEY, CT).unwrap();
    sink.write_all(b"small").unwrap();
    let e = sink.finish().unwrap_err();
    assert_eq!(storage_kind(&e), Some(ErrorKind::Fatal));
    assert!(store.keys(BUCKET).is_empty());
    assert!(store.uploads_in_progress().is_empty());
}
