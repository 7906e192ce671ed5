//! [`manifest::collect`] over [`MemManifests`], and [`PartitionPages`] over [`MemGlue`].

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::{ManifestOp, MemGlue, MemManifests, MemStore, slow_down};
use crate::catalog::Dataset;
use crate::discovery::manifest::{self, ManifestError, ManifestStore, PartitionPages, Selection};
use crate::error::{Classify, ErrorKind};
use crate::model::schema::{ColumnType, TableSchema};
use crate::tables::glue::{GlueError, Registrar, TableDef};

const BUCKET: &str = "clean";

fn orders() -> Dataset {
    serde_json::from_str(r#"{"id":"sales.orders","landing_prefix":"sales/orders/"}"#).unwrap()
}

fn employees() -> Dataset {
    serde_json::from_str(
        r#"{"id":"hr.employees","landing_prefix":"dms/HR/EMPLOYEES/","layout":"dms-date",
            "zone":"raw","zone_prefix":"dms/HR/EMPLOYEES/"}"#,
    )
    .unwrap()
}

fn store() -> MemManifests {
    let s = MemStore::with_buckets(&[BUCKET, "raw", "manifests"]);
    for (key, body) in [
        ("sales.orders/region=us/c-00000.parquet", "us-c"),
        ("sales.orders/region=eu/b-00000.parquet", "eu-bb"),
        ("sales.orders/region=eu/a-00000.parquet", "eu-aaa"),
        ("sales.orders/region=eu/_SUCCESS", ""),
        ("sales.orders/region=eu/.a-00000.parquet.crc", "crc"),
        ("sales.orders/region=eu/report.json", "{}"),
        ("sales.orders/_compaction/run.parquet", "x"),
        ("sales.orders/not-a-partition/x.parquet", "x"),
        ("sales.orders_v2/region=eu/z-00000.parquet", "other dataset"),
    ] {
        s.insert(BUCKET, key, body.as_bytes().to_vec());
    }
    for key in [
        "dms/HR/EMPLOYEES/2024/01/15/a.parquet",
        "dms/HR/EMPLOYEES/2024/01/16/b.parquet",
        "dms/HR/EMPLOYEES/2024/02/15/c.parquet",
        "dms/HR/EMPLOYEES/2024/13/01/bad-month.parquet",
        "dms/HR/EMPLOYEES/LOAD00000001.csv",
    ] {
        s.insert("raw", key, &b"PAR1"[..]);
    }
    MemManifests::new(s)
}

fn select(dataset: Dataset, bucket: &str, filters: &[(&str, &[&str])]) -> Selection {
    Selection {
        dataset,
        bucket: bucket.into(),
        partitions: filters
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
    }
}

fn signed_at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

const MINUTE: Duration = Duration::from_secs(60);

async fn keys(m: &MemManifests, sel: Selection) -> Vec<String> {
    let out = manifest::collect(m, &[sel], signed_at(), MINUTE, 100)
        .await
        .unwrap();
    out[0].objects.iter().map(|o| o.key.clone()).collect()
}

#[tokio::test]
async fn manifests_list_only_data_objects_in_key_order() {
    let m = store();
    let out = manifest::collect(
        &m,
        &[select(orders(), BUCKET, &[])],
        signed_at(),
        MINUTE,
        100,
    )
    .await
    .unwrap();
    assert_eq!(out.len(), 1);
    let d = &out[0];
    assert_eq!(
        (
            d.id.as_str(),
            d.zone.as_str(),
            d.bucket.as_str(),
            d.prefix.as_str()
        ),
        ("sales.orders", "clean", BUCKET, "sales.orders/")
    );
    let listed: Vec<(&str, u64)> = d.objects.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(
        listed,
        [
            ("sales.orders/region=eu/a-00000.parquet", 6),
            ("sales.orders/region=eu/b-00000.parquet", 5),
            ("sales.orders/region=us/c-00000.parquet", 4),
        ]
    );
    assert_eq!((d.object_count, d.byte_count), (3, 15));
    for o in &d.objects {
        assert_eq!(o.etag, m.store().meta(BUCKET, &o.key).unwrap().etag);
        let region = o
            .key
            .split("region=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        assert_eq!(
            o.partition,
            BTreeMap::from([("region".into(), region.into())])
        );
        assert!(o.url.contains(&o.key.replace('=', "%3D")), "{}", o.url);
    }
}

#[tokio::test]
async fn partition_filters_keep_only_the_requested_values() {
    let m = store();
    let eu = keys(&m, select(orders(), BUCKET, &[("region", &["eu"])])).await;
    assert_eq!(
        eu,
        [
            "sales.orders/region=eu/a-00000.parquet",
            "sales.orders/region=eu/b-00000.parquet"
        ]
    );
    let both = keys(&m, select(orders(), BUCKET, &[("region", &["us", "eu"])])).await;
    assert_eq!(both.len(), 3);
    assert!(
        keys(&m, select(orders(), BUCKET, &[("region", &["EU"])]))
            .await
            .is_empty()
    );
    assert!(
        keys(&m, select(orders(), BUCKET, &[("colour", &["red"])]))
            .await
            .is_empty()
    );
    // DMS date folders: keys year/month/day, every filter must hold; bad dates are not data.
    let all = keys(&m, select(employees(), "raw", &[])).await;
    assert_eq!(all.len(), 3, "{all:?}");
    let jan = keys(
        &m,
        select(
            employees(),
            "raw",
            &[("month", &["01"]), ("day", &["15", "16"])],
        ),
    )
    .await;
    assert_eq!(
        jan,
        [
            "dms/HR/EMPLOYEES/2024/01/15/a.parquet",
            "dms/HR/EMPLOYEES/2024/01/16/b.parquet"
        ]
    );
}

#[tokio::test]
async fn every_link_is_signed_at_the_same_time_for_the_requested_lifetime() {
    let m = store();
    let sels = [
        select(orders(), BUCKET, &[("region", &["eu"])]),
        select(employees(), "raw", &[("day", &["15"])]),
    ];
    let three = Duration::from_secs(3);
    let out = manifest::collect(&m, &sels, signed_at(), three, 100)
        .await
        .unwrap();
    let counts: Vec<usize> = out.iter().map(|d| d.object_count).collect();
    assert_eq!(counts, [2, 2], "in the order of the request");
    let signed = m.presigned();
    assert_eq!(signed.len(), 4);
    for (p, o) in signed.iter().zip(out.iter().flat_map(|d| &d.objects)) {
        assert_eq!((p.signed_at, p.expires), (signed_at(), three));
        assert_eq!(
            (p.key.as_str(), p.url.as_str()),
            (o.key.as_str(), o.url.as_str())
        );
        assert!(p.url.contains("X-Amz-Date=20231114T221320Z"), "{}", p.url);
        assert!(p.url.contains("X-Amz-Expires=3&"), "{}", p.url);
    }
    // SigV4 presigning refuses lifetimes above 7 days; the error is not retryable.
    let week = Duration::from_secs(7 * 24 * 3600);
    assert!(m.presign_get(BUCKET, "k", signed_at(), week).await.is_ok());
    let e = manifest::collect(
        &m,
        &sels[..1],
        signed_at(),
        week + Duration::from_secs(1),
        100,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ManifestError::Presign { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
}

#[tokio::test]
async fn too_many_objects_and_store_errors_fail_the_manifest() {
    let m = store();
    let sels = [
        select(orders(), BUCKET, &[]),
        select(employees(), "raw", &[]),
    ];
    let e = manifest::collect(&m, &sels, signed_at(), MINUTE, 5)
        .await
        .unwrap_err();
    assert!(matches!(e, ManifestError::TooLarge { max: 5 }), "{e}");
    assert_eq!(e.kind(), ErrorKind::BadInput);
    assert_eq!(
        m.calls(ManifestOp::PresignGet),
        5,
        "stops at the first object too many"
    );
    let out = manifest::collect(&m, &sels, signed_at(), MINUTE, 6)
        .await
        .unwrap();
    assert_eq!(out.iter().map(|d| d.object_count).sum::<usize>(), 6);

    let e = manifest::collect(&m, &[select(orders(), "nope", &[])], signed_at(), MINUTE, 9)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ManifestError::Aws(a) if a.is_code("NoSuchBucket")),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Fatal);
    m.fail_nth(
        ManifestOp::List,
        2,
        ManifestError::Aws(slow_down("s3:ListObjectsV2")),
    );
    let e = manifest::collect(&m, &sels, signed_at(), MINUTE, 9)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable, "{e}");
    // The manifest itself lands in the same store.
    m.put_json("manifests", "m/1.json", b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(
        m.store().content_type("manifests", "m/1.json").as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn partition_pages_walk_every_partition_once() {
    let glue = MemGlue::new();
    assert_eq!(glue.page("sales_orders", None, 10).await.unwrap(), None);
    let def = TableDef::new(
        &orders(),
        BUCKET,
        &TableSchema::default(),
        &[("Region".into(), ColumnType::String)],
    );
    let regions = ["apac", "emea", "eu/west", "latam", "us"];
    let values: Vec<Vec<String>> = regions.iter().map(|r| vec![r.to_string()]).collect();
    Registrar::new(glue.clone())
        .register(&def, &values)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = glue.page("sales_orders", token, 2).await.unwrap().unwrap();
        pages += 1;
        assert_eq!(page.keys, ["region"], "Glue lower-cases key names");
        assert!(page.partitions.len() <= 2);
        seen.extend(page.partitions);
        match page.next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let got: Vec<&str> = seen.iter().map(|(v, _)| v[0].as_str()).collect();
    assert_eq!(got, regions);
    assert_eq!(seen[2].1, "s3://clean/sales.orders/Region=eu%2Fwest/");

    // A garbled or foreign cursor is InvalidInputException (the API's "cursor no longer valid").
    let other = TableDef {
        name: "other".into(),
        ..def.clone()
    };
    Registrar::new(glue.clone())
        .register(&other, &values)
        .await
        .unwrap();
    let foreign = glue.page("other", None, 1).await.unwrap().unwrap().next;
    for bad in [Some("garbage".to_string()), foreign] {
        let e = glue.page("sales_orders", bad, 2).await.unwrap_err();
        assert!(
            matches!(&e, GlueError::Aws(a) if a.is_code("InvalidInputException")),
            "{e}"
        );
    }
    for limit in [0, 1001] {
        let e = glue.page("sales_orders", None, limit).await.unwrap_err();
        assert!(
            matches!(&e, GlueError::Aws(a) if a.is_code("ValidationException")),
            "{e}"
        );
    }
}
