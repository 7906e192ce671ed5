//! The CDC sequencer against the local emulator, in-process: the bundled DMS fixtures
//! (tests/data/landing/dms/HR/EMPLOYEES: two full-load files, three CDC files with repeated keys,
//! deletes, re-inserts, a department transfer and bad rows) delivered in order, shuffled and
//! duplicated, plus DMS Parquet and whole-file failures.

use serde_json::{Value, json};
use tributary_integration::{duckdb, env};

use tributary_integration::DMS_SAMPLE_FILES as FILES;

fn task(bucket: &str, key: &str) -> Value {
    json!({ "bucket": bucket, "key": key })
}

/// Declares the sample CDC dataset under `id`/`prefix` and lands every fixture there.
async fn land_all(id: &str, prefix: &str) {
    let env = env();
    env.declare_variant("hr.employees_cdc", id, prefix).await;
    for f in FILES {
        env.land_sample_as(&format!("dms/HR/EMPLOYEES/{f}"), &format!("{prefix}{f}"))
            .await;
    }
}

async fn sequence(prefix: &str, file: &str) -> Value {
    let env = env();
    let out = env
        .landing()
        .dms_only()
        .handle(task(&env.config.landing_bucket, &format!("{prefix}{file}")))
        .await
        .expect("handler");
    out["objects"][0].clone()
}

/// Every raw-tier row of a dataset as DuckDB reads it (Hive partitioning on), ordered by `_seq`,
/// with the landing prefix taken out of `_source_file`.
async fn raw_rows(id: &str, prefix: &str, tag: &str) -> Vec<Vec<Value>> {
    let env = env();
    let keys: Vec<String> = env
        .list(&env.config.raw_bucket, &format!("{id}/"))
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(!keys.is_empty(), "no raw objects for {id}");
    let dir = env.download(&env.config.raw_bucket, &keys, tag).await;
    duckdb(&format!(
        "SELECT _op, _seq, replace(_source_file, '{prefix}', ''), CAST(_commit_ts AS VARCHAR), \
         EMPLOYEE_ID, LAST_NAME, CAST(HIRE_DATE AS VARCHAR), SALARY, DEPARTMENT_ID \
         FROM read_parquet('{}/{id}/**/*.parquet', hive_partitioning = true) ORDER BY _seq",
        dir.display()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_and_duplicated_delivery_gives_the_in_order_raw_tier() {
    let env = env();
    land_all("cdc.inorder", "cdc-a/HR/EMPLOYEES/").await;
    land_all("cdc.shuffled", "cdc-b/HR/EMPLOYEES/").await;

    let mut in_order = Vec::new();
    for f in FILES {
        in_order.push(sequence("cdc-a/HR/EMPLOYEES/", f).await);
    }
    let statuses: Vec<&str> = in_order
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["sequenced"; 5], "{in_order:#?}");
    let read: u64 = in_order
        .iter()
        .map(|o| o["rows_read"].as_u64().unwrap())
        .sum();
    let written: u64 = in_order
        .iter()
        .map(|o| o["rows_written"].as_u64().unwrap())
        .sum();
    let rejected: u64 = in_order
        .iter()
        .map(|o| o["rows_rejected"].as_u64().unwrap())
        .sum();
    assert_eq!((read, written, rejected), (36, 33, 3));
    let last = &in_order[4];
    assert_eq!(
        last["rows_by_op"],
        json!({ "D": 1, "I": 1, "U": 1 }),
        "{last:#}"
    );
    assert_eq!(last["phase"], "cdc");
    assert!(last["seq_first"].as_str().unwrap() < last["seq_last"].as_str().unwrap());
    assert_eq!(in_order[0]["phase"], "full_load");
    assert_eq!(in_order[0]["rows_by_op"], json!({ "I": 11 }));

    // Shuffled, with two files delivered twice.
    let order = [4, 2, 0, 4, 3, 1, 2];
    let mut seen = std::collections::HashSet::new();
    for i in order {
        let o = sequence("cdc-b/HR/EMPLOYEES/", FILES[i]).await;
        let expected = if seen.insert(i) {
            "sequenced"
        } else {
            "duplicate"
        };
        assert_eq!(o["status"], expected, "{} {o:#}", FILES[i]);
    }

    let a = raw_rows("cdc.inorder", "cdc-a/", "inorder").await;
    let b = raw_rows("cdc.shuffled", "cdc-b/", "shuffled").await;
    assert_eq!(a.len(), 33);
    assert_eq!(a, b, "arrival order must not change the raw tier");
    // Every _seq is unique and 72 characters wide.
    let mut seqs: Vec<&str> = a.iter().map(|r| r[1].as_str().unwrap()).collect();
    assert!(seqs.iter().all(|s| s.len() == 72));
    seqs.dedup();
    assert_eq!(seqs.len(), 33);
    // Full load first, then the changes in commit order: employee 104's history.
    let history: Vec<(String, f64)> = a
        .iter()
        .filter(|r| r[4] == json!(104))
        .map(|r| (r[0].as_str().unwrap().to_string(), r[7].as_f64().unwrap()))
        .collect();
    assert_eq!(
        history,
        [("I", 6000.0), ("U", 6500.0), ("U", 7000.0), ("U", 7200.0)]
            .map(|(o, s)| (o.to_string(), s))
    );
    // The delete of 107 carries only its key; the re-insert follows it.
    let e107: Vec<&str> = a
        .iter()
        .filter(|r| r[4] == json!(107))
        .map(|r| r[0].as_str().unwrap())
        .collect();
    assert_eq!(e107, ["I", "D", "I"]);
    // Typed values: HIRE_DATE parsed from "6/7/94 0:00", commit time kept, partition from the path.
    let e206 = a.iter().find(|r| r[4] == json!(206)).unwrap();
    assert_eq!(e206[6], "1994-06-07");
    assert_eq!(e206[8], json!(110));
    assert_eq!(e206[2], "HR/EMPLOYEES/LOAD00000002.csv");
    assert!(e206[3].as_str().unwrap().starts_with("2024-11-05 13:00:00"));

    // The latest version per key, computed by DuckDB from the raw tier alone.
    let keys: Vec<String> = env
        .list(&env.config.raw_bucket, "cdc.inorder/")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let dir = env.download(&env.config.raw_bucket, &keys, "latest").await;
    let latest = duckdb(&format!(
        "SELECT EMPLOYEE_ID, SALARY FROM (SELECT * FROM read_parquet('{}/cdc.inorder/**/*.parquet', \
         hive_partitioning = true) QUALIFY row_number() OVER (PARTITION BY EMPLOYEE_ID ORDER BY _seq DESC) = 1) \
         WHERE _op <> 'D' AND EMPLOYEE_ID IN (104, 107, 178, 206, 207) ORDER BY 1",
        dir.display()
    ));
    assert_eq!(
        latest,
        vec![
            vec![json!(104), json!(7200.0)],
            vec![json!(107), json!(4600.0)],
            vec![json!(206), json!(8800.0)],
            vec![json!(207), json!(10400.0)],
        ]
    );

    // Bad rows of the third CDC file are in quarantine with line and reason.
    let report: Value = serde_json::from_slice(
        &env.get(
            &env.config.quarantine_bucket,
            "cdc.inorder/cdc-a/HR/EMPLOYEES/2024/11/06/20241106-090000000.csv.report.json",
        )
        .await,
    )
    .unwrap();
    assert_eq!(report["status"], "sequenced");
    assert_eq!(report["rows_rejected"], 3);
    assert_eq!(
        report["rejections_by_reason"],
        json!({ "invalid_value": 1, "unknown_op": 1, "wrong_column_count": 1 })
    );
    let lines = tributary_integration::rejection_lines(&report);
    assert_eq!(lines, [2, 3, 4]);
    let rejected = String::from_utf8(
        env.get(
            &env.config.quarantine_bucket,
            "cdc.inorder/cdc-a/HR/EMPLOYEES/2024/11/06/20241106-090000000.csv.rejected.csv",
        )
        .await,
    )
    .unwrap();
    assert_eq!(rejected.lines().count(), 3);
    assert!(rejected.starts_with("X,"));

    // Stats count each file once.
    assert_eq!(env.stat("cdc.shuffled", "row_count").await, Some(33));
    assert_eq!(
        env.stat("cdc.shuffled", "rejected_row_count").await,
        Some(3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_files_that_cannot_be_sequenced_are_quarantined() {
    let env = env();
    let prefix = "cdc-bad/HR/EMPLOYEES/";
    env.declare_variant("hr.employees_cdc", "cdc.bad", prefix)
        .await;
    let bucket = env.config.landing_bucket.clone();

    // Not a DMS file name.
    env.land_sample_as(
        "dms/HR/EMPLOYEES/LOAD00000001.csv",
        &format!("{prefix}employees.csv"),
    )
    .await;
    // Mostly bad rows.
    env.put(
        &bucket,
        &format!("{prefix}20241107-100000000.csv"),
        "Q,2024-11-07 10:00:00,1,a,b,c,d,1/1/90 0:00,X,1,,1,1\nQ,2024-11-07 10:00:00,2,a,b,c,d,1/1/90 0:00,X,1,,1,1\n",
    )
    .await;
    // No dataset for this table.
    env.put(
        &bucket,
        "cdc-nowhere/HR/JOBS/20241107-100000000.csv",
        "I,1\n",
    )
    .await;

    let landing = env.landing().dms_only();
    for (key, reason) in [
        (format!("{prefix}employees.csv"), "not a DMS file name"),
        (
            format!("{prefix}20241107-100000000.csv"),
            "2 of 2 rows rejected",
        ),
        (
            "cdc-nowhere/HR/JOBS/20241107-100000000.csv".to_string(),
            "no dataset",
        ),
    ] {
        let out = landing.handle(task(&bucket, &key)).await.expect("handler");
        let o = &out["objects"][0];
        assert_eq!(o["status"], "quarantined", "{o:#}");
        assert!(o["reason"].as_str().unwrap().contains(reason), "{o:#}");
        assert_eq!(
            o["rows_read"].as_u64().unwrap(),
            o["rows_written"].as_u64().unwrap() + o["rows_rejected"].as_u64().unwrap()
        );
        for q in o["quarantine"].as_array().unwrap() {
            assert!(
                env.exists(&env.config.quarantine_bucket, q.as_str().unwrap())
                    .await
            );
        }
    }
    assert!(
        env.list(&env.config.raw_bucket, "cdc.bad/")
            .await
            .is_empty()
    );

    // A non-DMS dataset is left to s3-landing by the sequencer.
    env.declare_variant("hr.employees", "cdc.not-dms", "cdc-plain/")
        .await;
    env.land_sample_as("hr/employees/employees.csv", "cdc-plain/employees.csv")
        .await;
    let out = landing
        .handle(task(&bucket, "cdc-plain/employees.csv"))
        .await
        .unwrap();
    assert_eq!(out["objects"][0]["status"], "skipped", "{out:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dms_parquet_output_is_sequenced_like_csv() {
    let env = env();
    let prefix = "cdc-pq/HR/EMPLOYEES/";
    env.declare_variant("hr.employees_cdc", "cdc.parquet", prefix)
        .await;
    let dir = tributary_integration::repo_root()
        .join("target/test-downloads")
        .join(format!("{}-dmspq", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("20241107-100000000.parquet");
    // What DMS writes with DataFormat=parquet: typed columns, Op first, then the timestamp.
    duckdb(&format!(
        "COPY (SELECT * FROM (VALUES \
           ('U', TIMESTAMP '2024-11-07 09:59:00', 104::BIGINT, 'Bruce', 'Ernst', 'BERNST', '590.423.4568', DATE '1991-05-21', 'IT_PROG', 7500.0, NULL::DOUBLE, 103::BIGINT, 60::BIGINT), \
           ('D', TIMESTAMP '2024-11-07 09:59:30', 105::BIGINT, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 60::BIGINT), \
           ('U', TIMESTAMP '2024-11-07 09:58:00', NULL, 'No', 'Key', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 60::BIGINT)) \
           AS t(Op, dms_commit_ts, EMPLOYEE_ID, FIRST_NAME, LAST_NAME, EMAIL, PHONE_NUMBER, HIRE_DATE, JOB_ID, SALARY, COMMISSION_PCT, MANAGER_ID, DEPARTMENT_ID)) \
         TO '{}' (FORMAT parquet)",
        file.display()
    ));
    let key = format!("{prefix}2024/11/07/20241107-100000000.parquet");
    env.put(
        &env.config.landing_bucket,
        &key,
        std::fs::read(&file).unwrap(),
    )
    .await;
    let out = env
        .landing()
        .handle(task(&env.config.landing_bucket, &key))
        .await
        .unwrap();
    let o = &out["objects"][0];
    assert_eq!(o["status"], "sequenced", "{o:#}");
    assert_eq!(
        (
            o["rows_read"].as_u64(),
            o["rows_written"].as_u64(),
            o["rows_rejected"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(o["rows_by_op"], json!({ "D": 1, "U": 1 }));
    let rows = raw_rows("cdc.parquet", "cdc-pq/", "pq").await;
    let got: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| (r[0].as_str().unwrap(), r[4].as_i64().unwrap()))
        .collect();
    assert_eq!(got, [("U", 104), ("D", 105)], "commit order");
    assert_eq!(rows[0][6], "1991-05-21");
}
