//! The domain logic written once over the item-table port (catalog, ledger, records and their
//! index, snapshot ledger), run against [`crate::catalog::memtable::MemTable`].

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::keys;
use crate::catalog::memtable::*;
use crate::catalog::records::{self, RecordError, RecordHead, RecordStore, Records, WriteScope};
use crate::catalog::table::*;
use crate::catalog::table::{number, text};
use crate::catalog::{
    BusinessMetadata, Catalog, CatalogError, CommitOutcome, Dataset, DatasetCatalog, Ledger,
    LedgerEntry, StatsDelta,
};
use crate::compaction::{SnapshotLedger, SnapshotRecord, Snapshots};
use crate::discovery::search::{DatasetEntries, IndexBuild, cell_attr, shard_of};
use crate::model::schema::{Column, ColumnType, TableSchema};

/// A catalog over a fresh store, and its catalog table.
fn catalog() -> (Catalog<MemTable>, MemTable) {
    let t = MemTable::new("catalog");
    (Catalog::with_tables(t.clone(), t.sibling("ledger")), t)
}

fn schema(cols: &[&str]) -> TableSchema {
    TableSchema {
        columns: cols
            .iter()
            .map(|c| Column {
                name: c.to_string(),
                ty: ColumnType::String,
                nullable: true,
            })
            .collect(),
    }
}

fn dataset(id: &str, prefix: &str, tags: &[&str]) -> Dataset {
    Dataset {
        id: id.into(),
        zone: "clean".into(),
        landing_prefix: prefix.into(),
        business: BusinessMetadata {
            name: format!("{id} name"),
            owner: "team".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn catalog_declares_routes_and_resolves_the_longest_prefix() {
    let (cat, t) = catalog();
    cat.declare(&dataset("hr.all", "hr/", &[])).await.unwrap();
    let mut emp = dataset("hr.emp", "hr/employees/", &["people"]);
    emp.zone = "raw".into();
    emp.zone_prefix = Some("dms/hr/emp/".into());
    emp.schema = Some(schema(&["id", "name"]));
    cat.declare(&emp).await.unwrap();

    let id = |d: Option<Dataset>| d.map(|d| d.id);
    assert_eq!(
        id(cat.resolve("hr/employees/2024/x.csv").await.unwrap()).as_deref(),
        Some("hr.emp")
    );
    assert_eq!(
        id(cat.resolve("hr/other/x.csv").await.unwrap()).as_deref(),
        Some("hr.all")
    );
    assert_eq!(id(cat.resolve("fin/x.csv").await.unwrap()), None);
    assert_eq!(id(cat.resolve("top.csv").await.unwrap()), None);
    let zone = |z: &'static str, k: &'static str| {
        let cat = cat.clone();
        async move { id(cat.resolve_zone(z, k).await.unwrap()) }
    };
    assert_eq!(
        zone("raw", "dms/hr/emp/2024/01/02/x.parquet")
            .await
            .as_deref(),
        Some("hr.emp")
    );
    assert_eq!(
        zone("clean", "hr.all/ingest_date=2024-01-01/x.parquet")
            .await
            .as_deref(),
        Some("hr.all")
    );
    // A dataset with a declared zone prefix is not found by its id's folder.
    assert_eq!(zone("raw", "hr.emp/x.parquet").await, None);

    let items = t.items();
    let route = &items[&keys::route("hr/employees/")];
    assert_eq!(text(route, "dataset_id"), Some("hr.emp"));
    assert!(items.contains_key(&keys::zone_route("raw", "dms/hr/emp/")));
    // A declared schema is the recorded one, on the stats item.
    assert_eq!(cat.recorded_schema("hr.emp").await.unwrap(), emp.schema);
    assert_eq!(cat.recorded_schema("hr.all").await.unwrap(), None);
    assert_eq!(cat.get("hr.emp").await.unwrap(), Some(emp.clone()));

    // Re-declaring keeps the history: version 2.
    emp.business.description = "all employees".into();
    cat.declare(&emp).await.unwrap();
    let rec = cat.records().load("hr.emp").await.unwrap().unwrap();
    assert_eq!(rec.head.version, 2);
    assert_eq!(rec.schemas.len(), 1);

    let bad = dataset("x", "no-slash", &[]);
    assert!(matches!(
        cat.declare(&bad).await,
        Err(CatalogError::Invalid { .. })
    ));
    // A stored declaration that is not JSON is reported, not skipped.
    t.insert(keys::declaration("broken").item([("doc", Attr::s("{"))]));
    assert!(matches!(
        cat.get("broken").await,
        Err(CatalogError::BadDeclaration { .. })
    ));
}

fn entry(key: &str) -> LedgerEntry {
    LedgerEntry {
        bucket: "landing".into(),
        key: key.into(),
        version: "v1".into(),
        etag: "e".into(),
        dataset_id: Some("hr.all".into()),
        outcome: "converted".into(),
        rows_read: 10,
        rows_written: 9,
        rows_rejected: 1,
        bytes_written: 100,
        outputs: vec!["s3://clean/hr.all/x.parquet".into()],
        quarantine: vec![],
        processed_at: "2024-01-01T00:00:00Z".into(),
        sequence: None,
    }
}

fn delta(schema: Option<TableSchema>) -> StatsDelta {
    StatsDelta {
        dataset_id: "hr.all".into(),
        rows: 9,
        bytes: 100,
        files: 1,
        rows_rejected: 1,
        files_quarantined: 0,
        location: "s3://clean/hr.all/".into(),
        last_update: "2024-01-01T00:00:00Z".into(),
        schema,
    }
}

#[tokio::test]
async fn ledger_commits_once_and_counts_duplicates() {
    let (cat, t) = catalog();
    cat.declare(&dataset("hr.all", "hr/", &[])).await.unwrap();
    let first = schema(&["a"]);
    let d = delta(Some(first.clone()));
    assert_eq!(
        cat.commit(&entry("hr/1.csv"), Some(&d)).await.unwrap(),
        CommitOutcome::Committed
    );
    assert_eq!(
        cat.commit(&entry("hr/1.csv"), Some(&d)).await.unwrap(),
        CommitOutcome::AlreadyRecorded
    );
    // Another object: counts add up, the first recorded schema stays.
    let other = delta(Some(schema(&["b"])));
    cat.commit(&entry("hr/2.csv"), Some(&other)).await.unwrap();
    let stats = t.items()[&keys::stats("hr.all")].clone();
    assert_eq!(number::<u64>(&stats, "row_count"), Some(18));
    assert_eq!(number::<u64>(&stats, "rejected_row_count"), Some(2));
    assert_eq!(text(&stats, "location"), Some("s3://clean/hr.all/"));
    assert_eq!(cat.recorded_schema("hr.all").await.unwrap(), Some(first));
    // The recorded schema was indexed: the record is at version 2 with a schema version.
    let rec = cat.records().load("hr.all").await.unwrap().unwrap();
    assert_eq!((rec.head.version, rec.schemas.len()), (2, 1));

    assert_eq!(
        cat.lookup("landing", "hr/1.csv", "v1").await.unwrap(),
        Some(entry("hr/1.csv"))
    );
    assert_eq!(cat.lookup("landing", "hr/1.csv", "v2").await.unwrap(), None);
    for _ in 0..2 {
        cat.record_duplicate("landing", "hr/1.csv", "v1", "later")
            .await
            .unwrap();
    }
    let ledger = t.sibling("ledger").items();
    let item = &ledger[&keys::ledger_entry("landing", "hr/1.csv", "v1")];
    assert_eq!(number::<u64>(item, "duplicate_deliveries"), Some(2));
    assert_eq!(text(item, "last_duplicate_at"), Some("later"));
    // A duplicate of an object never committed is an error, and writes nothing.
    let err = cat
        .record_duplicate("landing", "nope", "v1", "x")
        .await
        .unwrap_err();
    assert!(matches!(&err, CatalogError::Aws(e) if e.is_code("ConditionalCheckFailedException")));
    assert_eq!(t.sibling("ledger").items().len(), 2);
}

/// The stored index items, as `IndexBuild::rendered` shows them (key → cells).
fn stored_index(t: &MemTable) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    t.items()
        .into_iter()
        .filter(|(k, _)| k.pk == keys::DOCS_PK || k.pk.starts_with(keys::TERM_PREFIX))
        .map(|(k, item)| {
            let cells = item
                .iter()
                .filter(|(n, _)| n.as_str() != "pk" && n.as_str() != "sk")
                .map(|(n, v)| (n.clone(), v.as_s().unwrap().to_string()))
                .collect();
            ((k.pk, k.sk), cells)
        })
        .filter(|(_, cells): &(_, BTreeMap<String, String>)| !cells.is_empty())
        .collect()
}

fn built_index(records: &[(Dataset, u64)]) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let mut b = IndexBuild::new();
    for (d, v) in records {
        b.add(&DatasetEntries::of(d, None, *v));
    }
    b.rendered()
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

#[tokio::test]
async fn records_are_versioned_and_the_index_follows_them() {
    let (cat, t) = catalog();
    let recs = cat.records();
    let mut a = dataset("sales.orders", "sales/orders/", &["orders", "finance"]);
    let b = dataset("sales.customers", "sales/customers/", &["people"]);
    cat.declare(&a).await.unwrap();
    cat.declare(&b).await.unwrap();
    assert_eq!(
        stored_index(&t),
        built_index(&[(a.clone(), 1), (b.clone(), 1)])
    );

    // A write from a stale head loses; one from the stored head wins.
    let head = recs.load(&a.id).await.unwrap().unwrap().head;
    a.business.tags = vec!["archive".into()];
    let stale = RecordHead::default();
    let err = recs
        .write(&a, None, &stale, WriteScope::Record, "t")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RecordError::VersionConflict { expected: 0, .. }
    ));
    assert_eq!(
        recs.write(&a, None, &head, WriteScope::Record, "t")
            .await
            .unwrap(),
        2
    );
    let err = recs
        .write(&a, None, &head, WriteScope::Record, "t")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RecordError::VersionConflict { expected: 1, .. }
    ));
    // Buckets it left are emptied of it, new ones hold it.
    assert_eq!(
        stored_index(&t),
        built_index(&[(a.clone(), 2), (b.clone(), 1)])
    );

    // The bulk loader writes the same index and records from scratch.
    let fresh = MemTable::new("catalog");
    let all = records::scan_records(&t).await.unwrap();
    assert_eq!(all.len(), 2);
    records::bulk_load(&fresh, &all, "t").await.unwrap();
    assert_eq!(stored_index(&fresh), stored_index(&t));
    assert_eq!(
        fresh.items()[&keys::route("sales/orders/")],
        t.items()[&keys::route("sales/orders/")]
    );
    let again = Records::with_table(fresh)
        .load(&a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.head.version, again.dataset), (2, a));
}

#[tokio::test]
async fn a_cell_changed_under_a_write_is_read_again_then_reported_busy() {
    let (cat, t) = catalog();
    let a = dataset("ops.jobs", "ops/jobs/", &["batch"]);
    cat.declare(&a).await.unwrap();
    let docs = keys::docs(shard_of(&a.id));
    let attr = cell_attr(&a.id);
    // Another dataset sharing the cell writes it once between our read and our transaction.
    let bumps = Arc::new(AtomicUsize::new(0));
    let hook = |limit: usize| {
        let (docs, attr, bumps) = (docs.clone(), attr.clone(), bumps.clone());
        move |tables: &mut Tables| {
            if bumps.fetch_add(1, AtomicOrdering::SeqCst) < limit {
                let item = tables.get_mut("catalog").unwrap().get_mut(&docs).unwrap();
                let n = bumps.load(AtomicOrdering::SeqCst);
                let cell = item.get(&attr).and_then(Attr::as_s).unwrap_or_default();
                item.insert(attr.clone(), Attr::s(format!("{cell}\nzz.other{n}\t{{}}")));
            }
        }
    };
    t.before_transact(hook(1));
    let recs = cat.records();
    let head = recs.load(&a.id).await.unwrap().unwrap().head;
    assert_eq!(
        recs.write(&a, None, &head, WriteScope::Record, "t")
            .await
            .unwrap(),
        2
    );
    assert_eq!(bumps.load(AtomicOrdering::SeqCst), 2, "one retry");
    let cell = t.items()[&docs][&attr].as_s().unwrap().to_string();
    assert!(cell.contains("zz.other1") && cell.contains("ops.jobs\t"));

    bumps.store(0, AtomicOrdering::SeqCst);
    t.before_transact(hook(usize::MAX));
    let head = recs.load(&a.id).await.unwrap().unwrap().head;
    let err = recs
        .write(&a, None, &head, WriteScope::Record, "t")
        .await
        .unwrap_err();
    assert!(matches!(err, RecordError::IndexBusy { .. }));
    assert_eq!(bumps.load(AtomicOrdering::SeqCst), records::WRITE_ATTEMPTS);
    assert_eq!(recs.load(&a.id).await.unwrap().unwrap().head.version, 2);
}

fn snapshot(generation: u64) -> SnapshotRecord {
    SnapshotRecord {
        dataset: "t".into(),
        table: "t_curated".into(),
        generation,
        snapshot: format!("000_g{generation}_x"),
        high_water: "000".into(),
        manifest: "m".into(),
        rows: 1,
        files: 1,
        bytes: 1,
        partitions: vec![],
        tombstones: None,
        tombstone_rows: 0,
        published_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn the_lease_has_one_holder_until_it_expires_and_publishing_checks_it() {
    let t = MemTable::new("catalog");
    let s = Snapshots::with_table(t.clone());
    let ttl = Duration::from_secs(60);
    assert_eq!(s.acquire("t", "a", ttl).await.unwrap(), Ok(()));
    let until = s.acquire("t", "b", ttl).await.unwrap().unwrap_err();
    assert!(until > chrono::Utc::now() + chrono::Duration::seconds(50));
    assert_eq!(
        s.acquire("t", "a", ttl).await.unwrap(),
        Ok(()),
        "the holder takes it again"
    );
    assert!(s.renew("t", "a", ttl).await.unwrap());
    assert!(!s.renew("t", "b", ttl).await.unwrap());
    s.release("t", "b").await.unwrap();
    assert!(
        t.items().contains_key(&keys::lease("t")),
        "not b's to release"
    );

    assert!(
        !s.publish(&snapshot(1), None, "b").await.unwrap(),
        "b holds no lease"
    );
    assert_eq!(s.current("t").await.unwrap(), None);
    assert!(s.publish(&snapshot(1), None, "a").await.unwrap());
    assert!(
        !s.publish(&snapshot(1), None, "a").await.unwrap(),
        "generation 1 exists"
    );
    assert!(
        !s.publish(&snapshot(2), Some(0), "a").await.unwrap(),
        "wrong generation"
    );
    assert!(s.publish(&snapshot(2), Some(1), "a").await.unwrap());
    assert_eq!(s.current("t").await.unwrap().map(|r| r.generation), Some(2));

    s.release("t", "a").await.unwrap();
    assert!(!t.items().contains_key(&keys::lease("t")));
    // An expired lease goes to the next owner, and its holder can no longer renew or publish.
    assert_eq!(s.acquire("t", "a", Duration::ZERO).await.unwrap(), Ok(()));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(!s.renew("t", "a", ttl).await.unwrap());
    assert_eq!(s.acquire("t", "b", ttl).await.unwrap(), Ok(()));
    assert!(!s.publish(&snapshot(3), Some(2), "a").await.unwrap());
    assert!(s.publish(&snapshot(3), Some(2), "b").await.unwrap());
}

#[tokio::test]
async fn transactions_are_all_or_nothing_with_a_reason_per_write() {
    let t = MemTable::new("x");
    let k1 = Key::new("p", "1");
    t.write(Write::put(k1.item([("v", Attr::n(1))])))
        .await
        .unwrap();
    let err = t
        .transact(vec![
            Write::update(k1.clone(), vec![UpdateAction::add("v", 1)]),
            Write::put(Key::new("p", "2").item([])).on("y"),
            Write::check(Key::new("p", "3"), Cond::item_present()),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        err.reasons(),
        [
            CancelReason::None,
            CancelReason::None,
            CancelReason::ConditionFailed
        ]
    );
    assert_eq!(number::<u64>(&t.items()[&k1], "v"), Some(1));
    assert!(t.sibling("y").items().is_empty());
    let dup = t
        .transact(vec![Write::delete(k1.clone()), Write::delete(k1.clone())])
        .await
        .unwrap_err();
    assert!(dup.aws().is_code("ValidationException"));
}
