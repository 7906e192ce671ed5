//! [`Registrar`] over [`MemGlue`]: table creation, batched idempotent partition registration,
//! schema evolution (partitions first, then the table) and conflicts that change nothing.

use std::collections::BTreeSet;

use super::{GlueOp, MemGlue, MemPartition, aws_error};
use crate::catalog::{Dataset, Layout};
use crate::error::{Classify, ErrorKind};
use crate::model::schema::{Column, ColumnType, TableSchema};
use crate::tables::glue::{GlueError, PartitionFailure, Registrar, TableDef, TableState};

const BUCKET: &str = "clean";

fn dataset() -> Dataset {
    Dataset {
        id: "sales.orders".into(),
        primary_key: vec!["order_id".into()],
        ..Default::default()
    }
}

/// A file's table: `(name, type, nullable)` columns, partitioned by region and day.
fn def(cols: &[(&str, ColumnType, bool)]) -> TableDef {
    def_keyed(
        cols,
        &[("region", ColumnType::String), ("day", ColumnType::Date)],
    )
}

fn def_keyed(cols: &[(&str, ColumnType, bool)], keys: &[(&str, ColumnType)]) -> TableDef {
    let schema = TableSchema {
        columns: cols
            .iter()
            .map(|(n, ty, nullable)| Column {
                name: n.to_string(),
                ty: *ty,
                nullable: *nullable,
            })
            .collect(),
    };
    let keys: Vec<(String, ColumnType)> = keys.iter().map(|(k, t)| (k.to_string(), *t)).collect();
    TableDef::new(&dataset(), BUCKET, &schema, &keys)
}

fn v1() -> TableDef {
    def(&[
        ("order_id", ColumnType::Int64, false),
        ("v", ColumnType::Int32, true),
    ])
}

/// `v` widened to bigint, a nullable `channel` added.
fn v2() -> TableDef {
    def(&[
        ("order_id", ColumnType::Int64, false),
        ("v", ColumnType::Int64, true),
        ("channel", ColumnType::String, true),
    ])
}

fn cols(c: &[(&str, &str)]) -> Vec<(String, String)> {
    c.iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

fn parts(n: usize) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| {
            vec![
                ["eu", "us", "ap/south"][i % 3].to_string(),
                format!("2024-{:02}-{:02}", i / 28 % 12 + 1, i % 28 + 1),
            ]
        })
        .collect()
}

fn snapshot(glue: &MemGlue) -> (Option<TableState>, Vec<MemPartition>) {
    (glue.table("sales_orders"), glue.partitions("sales_orders"))
}

#[tokio::test]
async fn the_first_registration_creates_the_table_and_batches_new_partitions() {
    let glue = MemGlue::new();
    let reg = Registrar::new(glue.clone());
    let wanted = parts(250);
    assert_eq!(wanted.iter().collect::<BTreeSet<_>>().len(), 250);
    let mut with_repeats = wanted.clone();
    with_repeats.extend_from_slice(&wanted[..5]);
    let s = reg.register(&v1(), &with_repeats).await.unwrap();
    assert!(s.table_created);
    // GetTable (absent) + CreateTable + 3 BatchCreatePartition calls of at most 100.
    assert_eq!(
        (s.partitions_created, s.partitions_present, s.glue_calls),
        (250, 0, 5),
        "{s:?}"
    );
    assert!(s.partitions_failed.is_empty());
    assert_eq!(glue.batches(GlueOp::BatchCreatePartition), [100, 100, 50]);
    assert_eq!(glue.total_calls(), s.glue_calls);
    let t = glue.table("sales_orders").unwrap();
    assert_eq!(t.columns, cols(&[("order_id", "bigint"), ("v", "int")]));
    assert_eq!(
        t.partition_keys,
        cols(&[("region", "string"), ("day", "date")])
    );
    assert_eq!(t.location, "s3://clean/sales.orders/");
    let stored = glue.partitions("sales_orders");
    assert_eq!(stored.len(), 250);
    let south = stored
        .iter()
        .find(|p| p.values == ["ap/south", "2024-01-03"])
        .unwrap();
    assert_eq!(
        south.location,
        "s3://clean/sales.orders/region=ap%2Fsouth/day=2024-01-03/"
    );
    assert!(stored.iter().all(|p| p.columns == t.columns));

    // Warm container: nothing is sent again.
    let s = reg.register(&v1(), &wanted[..10]).await.unwrap();
    assert_eq!((s.partitions_present, s.glue_calls), (10, 0), "{s:?}");
    assert_eq!(glue.total_calls(), 5);

    // Cold (or concurrent) container: present partitions count as success.
    let cold = Registrar::new(glue.clone());
    let s = cold.register(&v1(), &wanted).await.unwrap();
    assert!(!s.table_created);
    assert_eq!(
        (s.partitions_created, s.partitions_present, s.glue_calls),
        (0, 250, 4),
        "{s:?}"
    );
    assert!(s.partitions_failed.is_empty());
    assert_eq!(glue.partitions("sales_orders").len(), 250);
}

#[tokio::test]
async fn failed_partitions_are_reported_and_sent_again_next_time() {
    let glue = MemGlue::new();
    let reg = Registrar::new(glue.clone());
    glue.fail_partition(
        &["us", "2024-01-02"],
        "InternalServiceException",
        "try later",
    );
    let s = reg.register(&v1(), &parts(3)).await.unwrap();
    assert_eq!(s.partitions_created, 2);
    assert_eq!(
        s.partitions_failed,
        [PartitionFailure {
            values: vec!["us".into(), "2024-01-02".into()],
            code: "InternalServiceException".into(),
            message: "try later".into(),
        }]
    );
    assert_eq!(glue.partitions("sales_orders").len(), 2);
    glue.heal_partitions();
    let s = reg.register(&v1(), &parts(3)).await.unwrap();
    assert_eq!(
        (s.partitions_created, s.partitions_present, s.glue_calls),
        (1, 2, 1),
        "only the failed partition is sent again: {s:?}"
    );
    assert_eq!(glue.batches(GlueOp::BatchCreatePartition), [3, 1]);

    // Per-partition errors are classified: transient ones retry, the rest need an operator.
    let failure = |code: &str| PartitionFailure {
        values: vec![],
        code: code.into(),
        message: String::new(),
    };
    let err = |codes: &[&str]| GlueError::Partitions {
        table: "t".into(),
        failures: codes.iter().copied().map(failure).collect(),
    };
    assert_eq!(
        err(&["ThrottlingException", "InternalServiceException"]).kind(),
        ErrorKind::Retryable
    );
    assert_eq!(
        err(&["ThrottlingException", "AccessDeniedException"]).kind(),
        ErrorKind::Fatal
    );
}

#[tokio::test]
async fn bad_input_and_failed_calls_register_nothing() {
    let glue = MemGlue::new();
    let reg = Registrar::new(glue.clone());
    let e = reg.register(&v1(), &[vec!["eu".into()]]).await.unwrap_err();
    assert!(matches!(e, GlueError::Definition { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::BadInput);
    assert_eq!(glue.total_calls(), 0, "checked before any call");

    glue.fail_nth(
        GlueOp::GetTable,
        1,
        aws_error("glue:GetTable", "AccessDeniedException", 400, "no").into(),
    );
    let e = reg.register(&v1(), &parts(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");
    assert_eq!(glue.table("sales_orders"), None);
    glue.fail_nth(
        GlueOp::BatchCreatePartition,
        1,
        aws_error(
            "glue:BatchCreatePartition",
            "InternalServiceException",
            500,
            "x",
        )
        .into(),
    );
    let e = reg.register(&v1(), &parts(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable);
    // Nothing was remembered: the next run sends the partition.
    let s = reg.register(&v1(), &parts(1)).await.unwrap();
    assert_eq!((s.partitions_created, s.glue_calls), (1, 1), "{s:?}");
}

#[tokio::test]
async fn new_columns_and_widened_types_evolve_the_partitions_then_the_table() {
    let glue = MemGlue::new();
    let reg = Registrar::new(glue.clone());
    reg.register(&v1(), &parts(2)).await.unwrap();
    let before = glue.total_calls();
    let s = reg.register(&v2(), &parts(3)[2..]).await.unwrap();
    assert_eq!(s.columns_added, ["channel"]);
    assert_eq!(s.columns_widened, ["v: int -> bigint"]);
    assert_eq!((s.partitions_updated, s.partitions_created), (2, 1));
    // GetTable + GetPartitions + BatchUpdatePartition + UpdateTable + BatchCreatePartition.
    assert_eq!(s.glue_calls, 5, "{s:?}");
    assert_eq!(glue.total_calls() - before, 5);
    let evolved = cols(&[
        ("order_id", "bigint"),
        ("v", "bigint"),
        ("channel", "string"),
    ]);
    assert_eq!(glue.table("sales_orders").unwrap().columns, evolved);
    let stored = glue.partitions("sales_orders");
    assert_eq!(stored.len(), 3);
    for p in &stored {
        assert_eq!(p.columns, evolved, "partition {:?}", p.values);
        assert!(
            p.location.ends_with(&format!("day={}/", p.values[1])),
            "{p:?}"
        );
    }

    // A file lacking a nullable column fits as it is; its new partition gets the full columns.
    let narrow = def(&[("order_id", ColumnType::Int64, false)]);
    let cold = Registrar::new(glue.clone());
    let s = cold.register(&narrow, &parts(4)[3..]).await.unwrap();
    assert_eq!(
        (s.partitions_updated, s.partitions_created, s.glue_calls),
        (0, 1, 2)
    );
    assert!(s.columns_added.is_empty() && s.columns_widened.is_empty());
    assert_eq!(glue.calls(GlueOp::UpdateTable), 1);
    let stored = glue.partitions("sales_orders");
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().all(|p| p.columns == evolved));
}

#[tokio::test]
async fn incompatible_files_change_nothing() {
    let glue = MemGlue::new();
    let reg = Registrar::new(glue.clone());
    reg.register(&v2(), &parts(2)).await.unwrap();
    let before = snapshot(&glue);
    let conflicts = [
        (
            def(&[("order_id", ColumnType::Int32, false)]),
            "order_id narrowed from bigint to int",
        ),
        (
            def(&[
                ("order_id", ColumnType::Int64, false),
                ("v", ColumnType::String, true),
            ]),
            "v changed type from bigint to string",
        ),
        (
            def(&[("v", ColumnType::Int64, true)]),
            "required column order_id is missing",
        ),
        (
            def(&[
                ("order_id", ColumnType::Int64, false),
                ("score", ColumnType::Double, false),
            ]),
            "new column score is required",
        ),
        (
            def(&[
                ("order_id", ColumnType::Int64, false),
                ("region", ColumnType::String, true),
            ]),
            "column region is also a partition key",
        ),
        (
            def_keyed(
                &[("order_id", ColumnType::Int64, false)],
                &[("region", ColumnType::String)],
            ),
            "partition keys",
        ),
    ];
    for (file, why) in conflicts {
        let values: Vec<Vec<String>> = parts(3)
            .into_iter()
            .map(|p| p[..file.partition_keys.len()].to_vec())
            .collect();
        let cold = Registrar::new(glue.clone());
        // A warm registrar trusts the partition keys it has seen: only data columns are
        // rechecked against what it remembers.
        let registrars = if file.partition_keys.len() == 2 {
            vec![&reg, &cold]
        } else {
            vec![&cold]
        };
        for r in registrars {
            let e = r.register(&file, &values).await.unwrap_err();
            assert!(
                matches!(&e, GlueError::Incompatible { reason, .. } if reason.contains(why)),
                "{why}: {e}"
            );
            assert_eq!(e.kind(), ErrorKind::BadInput);
            assert!(snapshot(&glue) == before, "{why}: the catalog changed");
        }
    }
    assert_eq!(
        (
            glue.calls(GlueOp::UpdateTable),
            glue.calls(GlueOp::BatchUpdatePartition),
            glue.batches(GlueOp::BatchCreatePartition).len()
        ),
        (0, 0, 1)
    );
}

#[tokio::test]
async fn an_evolution_cut_short_is_redone_whole_over_every_page() {
    let glue = MemGlue::new();
    glue.set_page_size(60);
    let reg = Registrar::new(glue.clone());
    reg.register(&v1(), &parts(150)).await.unwrap();
    glue.fail_nth(
        GlueOp::UpdateTable,
        1,
        aws_error("glue:UpdateTable", "InternalServiceException", 500, "lost").into(),
    );
    let e = reg.register(&v2(), &[]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable, "{e}");
    // Died between the partitions and the table: the table still has the old columns.
    assert_eq!(
        glue.table("sales_orders").unwrap().columns,
        cols(&[("order_id", "bigint"), ("v", "int")])
    );
    assert_eq!(
        glue.calls(GlueOp::GetPartitions),
        3,
        "150 partitions in pages of 60"
    );
    assert_eq!(glue.batches(GlueOp::BatchUpdatePartition), [100, 50]);

    let s = reg.register(&v2(), &[]).await.unwrap();
    assert_eq!(s.partitions_updated, 150, "the whole evolution is redone");
    assert_eq!(s.columns_added, ["channel"]);
    let t = glue.table("sales_orders").unwrap();
    assert_eq!(t.columns.len(), 3);
    assert!(
        glue.partitions("sales_orders")
            .iter()
            .all(|p| p.columns == t.columns)
    );

    // A failed partition update stops the evolution before the table changes.
    let v3 = def(&[
        ("order_id", ColumnType::Int64, false),
        ("note", ColumnType::String, true),
    ]);
    glue.fail_partition(
        &["eu", "2024-01-01"],
        "ConcurrentModificationException",
        "busy",
    );
    let e = reg.register(&v3, &[]).await.unwrap_err();
    assert!(matches!(&e, GlueError::Partitions { failures, .. } if failures.len() == 1));
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(glue.table("sales_orders").unwrap().columns, t.columns);
}

#[tokio::test]
async fn a_table_created_concurrently_is_reconciled_with_the_winner() {
    let glue = MemGlue::new();
    glue.race_next_create(v1());
    let reg = Registrar::new(glue.clone());
    let s = reg.register(&v1(), &parts(2)).await.unwrap();
    assert!(!s.table_created);
    // GetTable (absent) + CreateTable (lost) + GetTable + BatchCreatePartition.
    assert_eq!((s.glue_calls, s.partitions_created), (4, 2), "{s:?}");

    // The winner lacks a column this file has: the table evolves.
    let glue = MemGlue::new();
    glue.race_next_create(v1());
    let s = Registrar::new(glue.clone())
        .register(&v2(), &parts(1))
        .await
        .unwrap();
    assert_eq!(s.columns_added, ["channel"]);
    assert_eq!(glue.table("sales_orders").unwrap().columns.len(), 3);

    // The winner has other partition keys: nothing changes.
    let glue = MemGlue::new();
    let other = def_keyed(
        &[("order_id", ColumnType::Int64, false)],
        &[("region", ColumnType::String)],
    );
    glue.race_next_create(other);
    let e = Registrar::new(glue.clone())
        .register(&v1(), &parts(1))
        .await
        .unwrap_err();
    assert!(matches!(e, GlueError::Incompatible { .. }), "{e}");
    assert!(glue.partitions("sales_orders").is_empty());
}

#[tokio::test]
async fn dms_date_partitions_are_located_at_their_folders() {
    let glue = MemGlue::new();
    let def = def_keyed(
        &[("order_id", ColumnType::Int64, false)],
        &[
            ("year", ColumnType::String),
            ("month", ColumnType::String),
            ("day", ColumnType::String),
        ],
    )
    .with_layout(Layout::DmsDate);
    let values = vec!["2024".to_string(), "01".into(), "15".into()];
    Registrar::new(glue.clone())
        .register(&def, std::slice::from_ref(&values))
        .await
        .unwrap();
    let stored = glue.partitions("sales_orders");
    assert_eq!(stored[0].values, values);
    assert_eq!(stored[0].location, "s3://clean/sales.orders/2024/01/15/");
}
