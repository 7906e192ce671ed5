//! Compaction oracle on the bundled DMS fixtures: the five files are sequenced into the raw tier
//! (in the emulator), downloaded, and merged by `tributary::compact`; DuckDB computes the same
//! latest-version-per-key from the same files. Run with and without spilling to disk.

use arrow::array::{Array, Int64Array, StringArray};
use serde_json::{Value, json};
use tributary::catalog::Layout;
use tributary::compact::{MergeSpec, latest_per_key, read_with_partition, spill_dir};
use tributary::glue::partition_from_path;
use tributary_integration::{duckdb, env};

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
    env.declare_variant("hr.employees_cdc", id, prefix).await;
    for f in FILES {
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
    let keys: Vec<String> = env
        .list(&env.config.raw_bucket, &format!("{id}/"))
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
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
