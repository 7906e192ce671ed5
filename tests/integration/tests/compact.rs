//! Compaction oracle on the bundled DMS fixtures: the five files are sequenced into the raw tier
//! (in the emulator), downloaded, and merged by `tributary::compaction::merge`; DuckDB computes the same
//! latest-version-per-key from the same files. Run with and without spilling to disk.

use arrow::array::{Array, Int64Array, StringArray};
use serde_json::{Value, json};
use tributary::catalog::Layout;
use tributary::compaction::merge::{MergeSpec, latest_per_key, read_with_partition, spill_dir};
use tributary::tables::glue::partition_from_path;
use tributary_integration::snapshots::{location_files, oracle, published, raw_keys, rows};
use tributary_integration::{duckdb, env, fixture};

const FILES: [&str; 5] = [
    "2024/11/06/20241106-090000000.csv",
    "LOAD00000002.csv",
    "2024/11/05/20241105-134501123.csv",
    "LOAD00000001.csv",
    "2024/11/05/20241105-140002456.csv",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_of_the_dms_fixtures_matches_duckdb() {
    let env = env();
    let (id, prefix) = ("cmp.employees", "cmp/HR/EMPLOYEES/");
    sequence(id, prefix, &FILES, true).await;
    let keys = raw_keys(id).await;
    let dir = env.download(&env.config.raw_bucket, &keys, "compact").await;

    let want: Vec<Vec<Value>> = duckdb(&format!(
        "SELECT EMPLOYEE_ID, SALARY, CAST(DEPARTMENT_ID AS VARCHAR), _seq \
         FROM read_parquet('{}/{id}/**/*.parquet', hive_partitioning = true) \
         QUALIFY row_number() OVER (PARTITION BY EMPLOYEE_ID ORDER BY _seq DESC) = 1 AND _op <> 'D' \
         ORDER BY EMPLOYEE_ID",
        dir.display()
    ));
    assert!(want.len() > 20, "{want:?}");

    for budget in [usize::MAX, 2048] {
        let mut schema = None;
        let mut inputs = Vec::new();
        for key in &keys {
            let rel = key.strip_prefix(&format!("{id}/")).unwrap();
            let p = partition_from_path(Layout::Hive, rel).unwrap();
            let (s, batches) = read_with_partition(
                &dir.join(key),
                &p.keys.into_iter().zip(p.values).collect::<Vec<_>>(),
                5,
            )
            .unwrap();
            schema = Some(s);
            inputs.extend(batches);
        }
        let spec = MergeSpec {
            key_columns: vec!["EMPLOYEE_ID".into()],
            memory_budget: budget,
            spill_dir: spill_dir(&std::env::temp_dir(), "fixture"),
            batch_rows: 4,
            keep_deletes: false,
        };
        let mut got: Vec<Vec<Value>> = Vec::new();
        let stats = latest_per_key(schema.unwrap(), inputs, &spec, |b| {
            let col = |n: &str| b.column(b.schema().index_of(n).unwrap()).clone();
            let emp = col("EMPLOYEE_ID");
            let emp = emp.as_any().downcast_ref::<Int64Array>().unwrap();
            let sal = col("SALARY");
            let sal = arrow::compute::cast(&sal, &arrow::datatypes::DataType::Float64).unwrap();
            let sal = sal
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .unwrap();
            let dept = col("DEPARTMENT_ID");
            let dept = dept.as_any().downcast_ref::<StringArray>().unwrap();
            let seq = col("_seq");
            let seq = seq.as_any().downcast_ref::<StringArray>().unwrap();
            for i in 0..b.num_rows() {
                got.push(vec![
                    json!(emp.value(i)),
                    if sal.is_null(i) {
                        Value::Null
                    } else {
                        json!(sal.value(i))
                    },
                    json!(dept.value(i)),
                    json!(seq.value(i)),
                ]);
            }
            Ok(())
        })
        .unwrap();
        // DuckDB may print SALARY as an integer or a double: compare as numbers.
        let norm = |rows: &[Vec<Value>]| -> Vec<(i64, Option<f64>, String, String)> {
            rows.iter()
                .map(|r| {
                    (
                        r[0].as_i64().unwrap(),
                        r[1].as_f64(),
                        r[2].as_str().unwrap().to_string(),
                        r[3].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        assert_eq!(norm(&got), norm(&want), "budget {budget}");
        assert_eq!(
            stats.rows_in,
            stats.rows_out + stats.superseded + stats.deleted
        );
        if budget != usize::MAX {
            assert!(stats.runs_spilled > 1, "{stats:?}");
        }
        // Employee 105 moved from department 60 to 100: one row, in 100.
        let e105: Vec<_> = norm(&got).into_iter().filter(|r| r.0 == 105).collect();
        assert_eq!(e105.len(), 1);
        assert_eq!(e105[0].2, "100");
    }
}

// ---------------------------------------------------------------------------------------------
// The compactor function: publish protocol, kill points, concurrency, replay and retirement.

use std::time::Duration;

use tributary::clock::ManualClock;
use tributary::compaction::{KillPoint, SnapshotLedger, curated_table_name};
use tributary::config::CompactionTuning;

fn tuning(memory_budget: usize) -> CompactionTuning {
    CompactionTuning {
        memory_budget,
        lease_ttl: Duration::from_secs(2),
        grace: Duration::from_secs(3600),
        ..CompactionTuning::default()
    }
}

/// Declares `id` (the DMS employees table, landing under `prefix`) and sequences `files` into
/// its raw tier, in the order given.
async fn sequence(id: &str, prefix: &str, files: &[&str], declare: bool) {
    let env = env();
    if declare {
        env.declare_variant("hr.employees_cdc", id, prefix).await;
    }
    for f in files {
        let key = format!("{prefix}{f}");
        env.land_sample_as(&format!("dms/HR/EMPLOYEES/{f}"), &key)
            .await;
        let out = env
            .landing()
            .dms_only()
            .handle(json!({ "bucket": env.config.landing_bucket, "key": key }))
            .await
            .expect("sequence");
        assert_eq!(out["objects"][0]["status"], "sequenced", "{out:#}");
    }
}

const CDC: [&str; 3] = [
    "2024/11/06/20241106-090000000.csv",
    "2024/11/05/20241105-134501123.csv",
    "2024/11/05/20241105-140002456.csv",
];
const LOADS: [&str; 2] = ["LOAD00000002.csv", "LOAD00000001.csv"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compactor_publishes_what_duckdb_computes() {
    let env = env();
    let (id, prefix) = ("cmpf.employees", "cmpf/HR/EMPLOYEES/");
    // The changes first; the full load (lower _seq) arrives late.
    sequence(id, prefix, &CDC, true).await;
    let c = env.compactor(tuning(usize::MAX));
    let first = c.handle(json!({ "table": id })).await.expect("compact");
    assert_eq!(first["status"], "published", "{first:#}");
    assert_eq!(first["generation"], 1);
    assert_eq!(published(id, "f1").await, oracle(id, "f1o").await);

    // Nothing new: a no-op (twice), same generation.
    for _ in 0..2 {
        let again = c.handle(json!({ "table": id })).await.expect("again");
        assert_eq!(again["status"], "unchanged", "{again:#}");
        assert_eq!(again["generation"], 1);
    }

    // The late full load: deletes already compacted must stay deleted (tombstones), spilled.
    sequence(id, prefix, &LOADS, false).await;
    let spilling = env.compactor(tuning(2048));
    let input = fixture("compact-table.json");
    let mut input = input.clone();
    input["table"] = json!(id);
    let second = spilling.handle(input).await.expect("compact 2");
    assert_eq!(second["status"], "published", "{second:#}");
    assert_eq!(second["generation"], 2);
    // Every raw object (one per DMS file and department) consumed exactly once.
    let raw = env.list(&env.config.raw_bucket, &format!("{id}/")).await;
    assert_eq!(
        first["deltas_consumed"].as_u64().unwrap() + second["deltas_consumed"].as_u64().unwrap(),
        raw.len() as u64
    );
    assert!(second["runs_spilled"].as_u64().unwrap() > 1, "{second:#}");
    let n = |k: &str| second[k].as_u64().unwrap();
    assert_eq!(n("rows_in"), n("rows_out") + n("superseded") + n("deleted"));
    let want = oracle(id, "f2o").await;
    let got = published(id, "f2").await;
    assert_eq!(got, want);
    assert_eq!(n("rows_out"), want.len() as u64);
    assert!(n("tombstones") > 0, "{second:#}");
    // Employee 105 moved from department 60 to 100: one row, in 100.
    let e105: Vec<_> = got.iter().filter(|r| r.0 == 105).collect();
    assert_eq!(e105.len(), 1);
    assert_eq!(e105[0].2, "100");

    // The record names the snapshot Glue points at, with its files and rows.
    let rec = tributary_aws::dynamo::snapshots(env.dynamodb.clone(), &env.config.catalog_table)
        .current(id)
        .await
        .unwrap()
        .expect("a record");
    assert_eq!(rec.generation, 2);
    assert_eq!(rec.rows, want.len() as u64);
    assert_eq!(Some(rec.snapshot.as_str()), second["snapshot"].as_str());
    assert!(rec.snapshot.starts_with(&rec.high_water));
    for p in &rec.partitions {
        assert!(p.location.contains(&format!("/snapshot={}/", rec.snapshot)));
        for f in &p.files {
            assert!(env.exists(&env.config.curated_bucket, f).await, "{f}");
        }
    }
    // Partition registration leaves snapshot files to the compactor.
    let key = &rec
        .partitions
        .iter()
        .find(|p| !p.files.is_empty())
        .unwrap()
        .files[0];
    let reg = env
        .register()
        .handle(json!({ "bucket": env.config.curated_bucket, "key": key }))
        .await
        .unwrap();
    assert_eq!(reg["totals"]["skipped"], 1, "{reg:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kill_point_ends_in_the_clean_snapshot() {
    let env = env();
    for (i, point) in [
        KillPoint::AfterFiles,
        KillPoint::AfterSwap,
        KillPoint::AfterRecord,
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("cmpk{i}.employees");
        let prefix = format!("cmpk{i}/HR/EMPLOYEES/");
        sequence(&id, &prefix, &CDC[..2], true).await;
        // Lease times on a manual clock: the crashed run's lease expires when the test says so,
        // however slowly the machine runs.
        let clock = ManualClock::new(chrono::Utc::now());
        let clean = env.compactor_at(tuning(usize::MAX), clock.clone());
        clean.handle(json!({ "table": id })).await.expect("gen 1");
        let before = published(&id, &format!("k{i}a")).await;
        sequence(&id, &prefix, &[CDC[2], LOADS[0], LOADS[1]], false).await;

        let crashing = env
            .compactor_at(tuning(usize::MAX), clock.clone())
            .with_kill_point(Some(point));
        let err = crashing.handle(json!({ "table": id })).await.unwrap_err();
        assert!(err.to_string().contains("kill point"), "{err}");
        // A reader still sees a whole snapshot: the old one, or (after the swap) the new one.
        let mid = published(&id, &format!("k{i}b")).await;
        let want = oracle(&id, &format!("k{i}o")).await;
        match point {
            KillPoint::AfterFiles => assert_eq!(mid, before, "{point:?}"),
            _ => assert_eq!(mid, want, "{point:?}"),
        }
        // The crashed run still holds the lease: the next run waits for it to expire.
        let busy = clean.handle(json!({ "table": id })).await.unwrap_err();
        assert!(busy.to_string().contains("holds the lease"), "{busy}");
        clock.advance(Duration::from_millis(2100));
        let next = clean
            .handle(json!({ "table": id }))
            .await
            .expect("next run");
        match point {
            KillPoint::AfterFiles => {
                assert_eq!(next["status"], "published", "{next:#}");
                assert_eq!(next["generation"], 2);
            }
            KillPoint::AfterSwap => {
                assert_eq!(next["recovered"], 2, "{next:#}");
                assert_eq!(next["status"], "unchanged", "{next:#}");
            }
            _ => assert_eq!(next["status"], "unchanged", "{next:#}"),
        }
        assert_eq!(published(&id, &format!("k{i}c")).await, want, "{point:?}");
        let last = clean.handle(json!({ "table": id })).await.expect("replay");
        assert_eq!(last["status"], "unchanged");
        assert_eq!(last["generation"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_compactions_publish_once() {
    let env = env();
    let (id, prefix) = ("cmpc.employees", "cmpc/HR/EMPLOYEES/");
    sequence(id, prefix, &CDC, true).await;
    sequence(id, prefix, &LOADS, false).await;
    let (a, b) = (
        env.compactor(tuning(usize::MAX)),
        env.compactor(tuning(4096)),
    );
    let (ra, rb) = tokio::join!(
        a.handle(json!({ "table": id, "partition": "DEPARTMENT_ID=60" })),
        b.handle(json!({ "table": id, "partition": "DEPARTMENT_ID=100" })),
    );
    let outcomes: Vec<String> = [&ra, &rb]
        .iter()
        .map(|r| match r {
            Ok(v) => v["status"].as_str().unwrap().to_string(),
            Err(e) => {
                assert!(e.to_string().contains("holds the lease"), "{e}");
                "busy".into()
            }
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|s| *s == "published").count(),
        1,
        "{outcomes:?}"
    );
    // The loser, retried, finds nothing new.
    let retry = a.handle(json!({ "table": id })).await.expect("retry");
    assert_eq!(retry["status"], "unchanged");
    assert_eq!(retry["generation"], 1);
    assert_eq!(published(id, "c1").await, oracle(id, "c1o").await);

    // A publish that does not hold the lease, or names a stale generation, writes nothing.
    let ledger = tributary_aws::dynamo::snapshots(env.dynamodb.clone(), &env.config.catalog_table);
    let mut rec = ledger.current(id).await.unwrap().unwrap();
    rec.generation = 2;
    assert!(
        !ledger
            .publish(&rec, Some(1), "not-the-owner")
            .await
            .unwrap()
    );
    assert!(
        ledger
            .acquire(id, "me", Duration::from_secs(5))
            .await
            .unwrap()
            .is_ok()
    );
    assert!(!ledger.publish(&rec, None, "me").await.unwrap());
    assert!(
        ledger
            .acquire(id, "other", Duration::from_secs(5))
            .await
            .unwrap()
            .is_err()
    );
    ledger.release(id, "me").await.unwrap();
    assert_eq!(ledger.current(id).await.unwrap().unwrap().generation, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retirement_waits_for_the_grace_period_and_survives_a_crash() {
    let env = env();
    let (id, prefix) = ("cmpr.employees", "cmpr/HR/EMPLOYEES/");
    sequence(id, prefix, &CDC, true).await;
    let c = env.compactor(tuning(usize::MAX));
    c.handle(json!({ "table": id })).await.expect("gen 1");
    sequence(id, prefix, &LOADS, false).await;
    c.handle(json!({ "table": id })).await.expect("gen 2");
    let want = oracle(id, "r0").await;
    // One raw object per (DMS file, department).
    let raw_before = env.list(&env.config.raw_bucket, &format!("{id}/")).await;
    assert_eq!(raw_before.len(), 16, "{raw_before:?}");

    // Inside the grace period nothing goes.
    let kept = c
        .handle(json!({ "table": id, "action": "retire" }))
        .await
        .expect("retire");
    assert_eq!(kept["retired_objects"], 0, "{kept:#}");
    assert_eq!(kept["retained_snapshots"], 1, "{kept:#}");

    // Grace 0: a crash half-way, then a clean run, retire generation 1 and the consumed deltas.
    let eager = CompactionTuning {
        grace: Duration::ZERO,
        ..tuning(usize::MAX)
    };
    let crashing = env
        .compactor(eager.clone())
        .with_kill_point(Some(KillPoint::DuringRetire));
    crashing
        .handle(json!({ "table": id, "action": "retire" }))
        .await
        .unwrap_err();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let done = env
        .compactor(eager)
        .handle(json!({ "table": id, "action": "retire" }))
        .await
        .expect("retire");
    // The crashed run deleted the first half; this one the rest.
    assert!(done["retired_deltas"].as_u64().unwrap() > 0, "{done:#}");
    assert!(
        env.list(&env.config.raw_bucket, &format!("{id}/"))
            .await
            .is_empty()
    );
    // Only the published snapshot remains, and it reads the same.
    let rec = tributary_aws::dynamo::snapshots(env.dynamodb.clone(), &env.config.catalog_table)
        .current(id)
        .await
        .unwrap()
        .unwrap();
    for (k, _) in env
        .list(&env.config.curated_bucket, &format!("{id}/"))
        .await
    {
        assert!(k.contains(&rec.snapshot), "{k} survived retirement");
    }
    assert_eq!(published(id, "r1").await, want);
    // Retired deltas are not consumed again.
    let after = c.handle(json!({ "table": id })).await.expect("after");
    assert_eq!(after["status"], "unchanged", "{after:#}");
}

/// An unpartitioned curated table (the README's default for DMS): Glue holds no partition with
/// empty values; the table location is the published snapshot folder, so an engine reading the
/// table location sees exactly the snapshot, after every compaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpartitioned_table_reads_exactly_its_snapshot() {
    let env = env();
    let (id, prefix) = ("cmpu.employees", "cmpu/HR/EMPLOYEES/");
    let mut ds = tributary_integration::sample_dataset("hr.employees_cdc");
    ds.id = id.into();
    ds.landing_prefix = prefix.into();
    ds.partition_columns.clear();
    env.declare(ds).await;
    let c = env.compactor(tuning(usize::MAX));
    for (generation, files) in [(1u64, &CDC[..2]), (2, &[CDC[2], LOADS[0], LOADS[1]][..])] {
        sequence(id, prefix, files, false).await;
        let out = c.handle(json!({ "table": id })).await.expect("compact");
        assert_eq!(out["status"], "published", "{out:#}");
        assert_eq!(out["generation"], generation);

        let glue = env.glue();
        let table = curated_table_name(id);
        let parts = glue
            .get_partitions()
            .database_name(&env.config.glue_database)
            .table_name(&table)
            .send()
            .await
            .expect("partitions");
        assert!(parts.partitions().is_empty(), "{:?}", parts.partitions());
        let got = glue
            .get_table()
            .database_name(&env.config.glue_database)
            .name(&table)
            .send()
            .await
            .expect("table");
        let t = got.table().unwrap();
        assert!(t.partition_keys().is_empty());
        let loc = t.storage_descriptor().unwrap().location().unwrap();
        assert!(
            loc.ends_with(&format!("snapshot={}/", out["snapshot"].as_str().unwrap())),
            "{loc} vs {out:#}"
        );
        // Everything under the table location, as an engine reads it.
        let files = location_files(loc, &format!("u{generation}"))
            .await
            .expect("files under the table location");
        let read = rows(duckdb(&format!(
            "SELECT EMPLOYEE_ID, CAST(SALARY AS DOUBLE), CAST(DEPARTMENT_ID AS VARCHAR), _seq \
             FROM read_parquet([{files}], hive_partitioning = false)"
        )));
        assert_eq!(
            read,
            oracle(id, &format!("u{generation}o")).await,
            "generation {generation}"
        );
    }
}
