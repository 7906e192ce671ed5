//! [`MemStore`] behaves like S3 where the domain relies on it.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::AsyncReadExt;

use super::{MIN_PART_SIZE, MemStore, StoreOp, access_denied, slow_down};
use crate::error::{Classify, ErrorKind};
use crate::storage::{ObjectStore, StorageError};

async fn read(store: &MemStore, bucket: &str, key: &str, if_match: Option<&str>) -> Vec<u8> {
    let mut body = store.get(bucket, key, if_match).await.expect("get");
    let mut out = Vec::new();
    body.read_to_end(&mut out).await.expect("read");
    out
}

fn code(e: &StorageError) -> (Option<&str>, Option<u16>, ErrorKind) {
    match e {
        StorageError::Aws(a) => (a.code.as_deref(), a.status, e.kind()),
        StorageError::Changed { .. } => (Some("Changed"), None, e.kind()),
        StorageError::NoSuchBucket { .. } => (Some("NoSuchBucket"), Some(404), e.kind()),
    }
}

#[tokio::test]
async fn put_head_get_and_etags_follow_the_content() {
    let s = MemStore::with_buckets(&["b"]);
    let at = DateTime::parse_from_rfc3339("2024-03-01T10:00:00.750Z")
        .unwrap()
        .with_timezone(&Utc);
    s.set_time(Some(at));
    assert_eq!(s.head("b", "k").await.unwrap(), None);
    s.put("b", "k", Bytes::from_static(b"hello"), "text/plain")
        .await
        .unwrap();
    let m = s.head("b", "k").await.unwrap().unwrap();
    assert_eq!(m.size, 5);
    assert_eq!(m.version_id, None, "unversioned buckets report no version");
    assert_eq!(m.etag.len(), 32);
    assert!(!m.etag.contains('"'));
    assert_eq!(
        m.last_modified.unwrap().to_rfc3339(),
        "2024-03-01T10:00:00+00:00",
        "whole seconds, as S3's Last-Modified"
    );
    assert_eq!(s.content_type("b", "k").as_deref(), Some("text/plain"));
    assert_eq!(read(&s, "b", "k", None).await, b"hello");
    assert_eq!(read(&s, "b", "k", Some(&m.etag)).await, b"hello");

    s.put("b", "same", Bytes::from_static(b"hello"), "text/plain")
        .await
        .unwrap();
    assert_eq!(s.meta("b", "same").unwrap().etag, m.etag);
    s.put("b", "k", Bytes::from_static(b"world"), "text/plain")
        .await
        .unwrap();
    assert_ne!(s.meta("b", "k").unwrap().etag, m.etag);
    // The ETag pinned by a reader no longer matches: Changed, retryable.
    let Err(e) = s.get("b", "k", Some(&m.etag)).await else {
        panic!("a stale If-Match must fail");
    };
    assert!(
        matches!(&e, StorageError::Changed { etag, .. } if *etag == m.etag),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(
        (
            s.calls(StoreOp::Put),
            s.calls(StoreOp::Head),
            s.calls(StoreOp::Get)
        ),
        (3, 2, 3)
    );
}

#[tokio::test]
async fn missing_buckets_and_keys_fail_like_s3() {
    let s = MemStore::with_buckets(&["b"]);
    let Err(e) = s.get("b", "nope", None).await else {
        panic!("missing key");
    };
    assert_eq!(code(&e), (Some("NoSuchKey"), Some(404), ErrorKind::Fatal));
    assert!(e.to_string().contains("s3:GetObject s3://b/nope"), "{e}");
    let e = s
        .put("nobucket", "k", Bytes::new(), "x/y")
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (Some("NoSuchBucket"), Some(404), ErrorKind::Fatal)
    );
    // HeadObject's 404 carries no code: the adapter asks the bucket, and a missing bucket is an
    // error, never "the object is absent".
    let e = s.head("nobucket", "k").await.unwrap_err();
    assert!(matches!(e, StorageError::NoSuchBucket { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert_eq!(s.head("b", "absent").await.unwrap(), None);
    let e = s.copy("b", "nope", "b", "dst").await.unwrap_err();
    assert_eq!(code(&e).0, Some("NoSuchKey"));
    // Deleting a missing key succeeds.
    s.delete("b", "nope").await.unwrap();
}

#[tokio::test]
async fn ranges_are_inclusive_and_clamped() {
    let s = MemStore::with_buckets(&["b"]);
    s.insert("b", "k", &b"0123456789"[..]);
    let r = |a, z| {
        let s = s.clone();
        async move { s.get_range("b", "k", a, z).await }
    };
    assert_eq!(&r(0, 3).await.unwrap()[..], b"0123");
    assert_eq!(&r(6, 9).await.unwrap()[..], b"6789");
    assert_eq!(&r(8, 100).await.unwrap()[..], b"89", "end clamped");
    assert_eq!(
        &r(5, 2).await.unwrap()[..],
        b"0123456789",
        "reversed: ignored"
    );
    let e = r(10, 12).await.unwrap_err();
    assert_eq!(
        code(&e),
        (Some("InvalidRange"), Some(416), ErrorKind::Fatal)
    );
}

#[tokio::test]
async fn list_is_prefix_filtered_in_key_order_and_copy_delete_work() {
    let s = MemStore::with_buckets(&["b", "c"]);
    for k in ["p/b", "p/a", "p/a/x", "q/a", "p", "pz"] {
        s.insert("b", k, k.as_bytes().to_vec());
    }
    assert_eq!(s.list("b", "p/").await.unwrap(), ["p/a", "p/a/x", "p/b"]);
    assert_eq!(
        s.list("b", "p").await.unwrap(),
        ["p", "p/a", "p/a/x", "p/b", "pz"]
    );
    assert!(s.list("b", "r/").await.unwrap().is_empty());
    assert_eq!(
        code(&s.list("zz", "").await.unwrap_err()).0,
        Some("NoSuchBucket")
    );

    s.put(
        "b",
        "src",
        Bytes::from_static(b"data"),
        "application/x-parquet",
    )
    .await
    .unwrap();
    s.copy("b", "src", "c", "dst/1").await.unwrap();
    assert_eq!(s.object("c", "dst/1").as_deref(), Some(&b"data"[..]));
    assert_eq!(
        s.content_type("c", "dst/1").as_deref(),
        Some("application/x-parquet")
    );
    assert_eq!(
        s.meta("c", "dst/1").unwrap().etag,
        s.meta("b", "src").unwrap().etag
    );
    s.delete("b", "src").await.unwrap();
    assert_eq!(s.head("b", "src").await.unwrap(), None);
    assert!(s.object("c", "dst/1").is_some(), "a copy is independent");
    assert_eq!(s.keys("c"), ["dst/1"]);
}

#[tokio::test]
async fn versioned_buckets_keep_versions_and_delete_markers() {
    let s = MemStore::new();
    s.create_versioned_bucket("v");
    s.put("v", "k", Bytes::from_static(b"one"), "t/p")
        .await
        .unwrap();
    let v1 = s.head("v", "k").await.unwrap().unwrap().version_id.unwrap();
    s.put("v", "k", Bytes::from_static(b"two"), "t/p")
        .await
        .unwrap();
    let v2 = s.head("v", "k").await.unwrap().unwrap().version_id.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(read(&s, "v", "k", None).await, b"two");
    s.delete("v", "k").await.unwrap();
    assert_eq!(s.head("v", "k").await.unwrap(), None);
    assert!(s.list("v", "").await.unwrap().is_empty());
    let versions = s.versions("v", "k");
    assert_eq!(versions.len(), 3);
    assert!(versions[2].is_none(), "a delete marker is current");
    assert_eq!(
        versions[0].as_ref().unwrap().version_id.as_deref(),
        Some(&*v1)
    );
}

#[tokio::test]
async fn multipart_uploads_publish_only_a_valid_completion() {
    let s = MemStore::with_buckets(&["b"]);
    let big = vec![7u8; MIN_PART_SIZE];
    let id = s
        .create_multipart("b", "k", "application/x-parquet")
        .await
        .unwrap();
    let e1 = s
        .upload_part("b", "k", &id, 1, Bytes::from(big.clone()))
        .await
        .unwrap();
    assert!(
        e1.starts_with('"') && e1.ends_with('"'),
        "quoted, as S3's ETag header"
    );
    let e2 = s
        .upload_part("b", "k", &id, 2, Bytes::from_static(b"tail"))
        .await
        .unwrap();
    assert_eq!(
        s.head("b", "k").await.unwrap(),
        None,
        "invisible until completed"
    );
    assert_eq!(s.uploads_in_progress().len(), 1);

    let bad = [
        (vec![], "MalformedXML"),
        (vec![(2, e2.clone()), (1, e1.clone())], "InvalidPartOrder"),
        (vec![(1, e1.clone()), (2, e1.clone())], "InvalidPart"),
        (vec![(1, e1.clone()), (3, e2.clone())], "InvalidPart"),
        (vec![(2, e1.clone())], "InvalidPart"),
    ];
    for (parts, want) in bad {
        let e = s
            .complete_multipart("b", "k", &id, parts)
            .await
            .unwrap_err();
        assert_eq!(code(&e), (Some(want), Some(400), ErrorKind::Fatal), "{e}");
    }
    // A small part that is not the last one.
    let small = s.create_multipart("b", "s", "x/y").await.unwrap();
    let a = s
        .upload_part("b", "s", &small, 1, Bytes::from_static(b"a"))
        .await
        .unwrap();
    let z = s
        .upload_part("b", "s", &small, 2, Bytes::from_static(b"z"))
        .await
        .unwrap();
    let e = s
        .complete_multipart("b", "s", &small, vec![(1, a), (2, z)])
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, Some("EntityTooSmall"));

    s.complete_multipart("b", "k", &id, vec![(1, e1), (2, e2)])
        .await
        .unwrap();
    let got = s.object("b", "k").unwrap();
    assert_eq!(got.len(), MIN_PART_SIZE + 4);
    assert_eq!(&got[MIN_PART_SIZE..], b"tail");
    assert!(s.meta("b", "k").unwrap().etag.ends_with("-2"));
    assert_eq!(
        s.content_type("b", "k").as_deref(),
        Some("application/x-parquet")
    );
    // Completed and aborted uploads are gone.
    let e = s
        .complete_multipart("b", "k", &id, vec![])
        .await
        .unwrap_err();
    assert_eq!(
        code(&e),
        (Some("NoSuchUpload"), Some(404), ErrorKind::Fatal)
    );
    s.abort_multipart("b", "s", &small).await.unwrap();
    let e = s.abort_multipart("b", "s", &small).await.unwrap_err();
    assert_eq!(code(&e).0, Some("NoSuchUpload"));
    let e = s
        .upload_part("b", "s", &small, 3, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, Some("NoSuchUpload"));
    assert!(s.uploads_in_progress().is_empty());
    let e = s
        .upload_part("b", "k", "upload-x", 0, Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, Some("InvalidArgument"));
}

#[tokio::test]
async fn faults_fail_the_chosen_calls_only() {
    let s = MemStore::with_buckets(&["b"]);
    s.insert("b", "k", &b"x"[..]);
    s.fail_nth(
        StoreOp::Head,
        2,
        StorageError::Aws(slow_down("s3:HeadObject")),
    );
    assert!(s.head("b", "k").await.unwrap().is_some());
    let e = s.head("b", "k").await.unwrap_err();
    assert_eq!(
        code(&e),
        (Some("SlowDown"), Some(503), ErrorKind::Retryable)
    );
    assert!(s.head("b", "k").await.unwrap().is_some());

    s.fail_every(StoreOp::Put, access_denied("s3:PutObject"));
    for _ in 0..2 {
        let e = s.put("b", "k", Bytes::new(), "x/y").await.unwrap_err();
        assert_eq!(
            code(&e),
            (Some("AccessDenied"), Some(403), ErrorKind::Fatal)
        );
    }
    assert_eq!(
        s.object("b", "k").as_deref(),
        Some(&b"x"[..]),
        "a failed put changes nothing"
    );
    s.heal(StoreOp::Put);
    s.put("b", "k", Bytes::new(), "x/y").await.unwrap();
    assert_eq!((s.calls(StoreOp::Head), s.calls(StoreOp::Put)), (3, 3));
}
