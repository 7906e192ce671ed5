//! The partition-register handler against the emulator: Parquet objects written into the zone
//! buckets (here by DuckDB, an independent writer) become Glue partitions; DMS date folders;
//! schema evolution and conflicts; re-runs and every input shape.

use serde_json::{Value, json};
use tributary::catalog::{Dataset, DatasetCatalog};
use tributary_integration::{duckdb, env, parquet_from_sql};

async fn declare(doc: Value) -> Dataset {
    let ds: Dataset = serde_json::from_value(doc).expect("declaration");
    env().catalog().declare(&ds).await.expect("declare");
    ds
}

/// How S3 writes a key into a notification: URL-encoded, `+` for space.
fn notification_key(key: &str) -> String {
    key.replace('%', "%25")
        .replace('=', "%3D")
        .replace(' ', "+")
}

fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    json!({ "Records": keys.iter().map(|k| json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": bucket }, "object": { "key": notification_key(k), "size": 1 } }
    })).collect::<Vec<_>>() })
}

async fn table_columns(table: &str) -> Vec<(String, String)> {
    let env = env();
    let t = env
        .glue()
        .get_table()
        .database_name(&env.config.glue_database)
        .name(table)
        .send()
        .await
        .expect("GetTable");
    t.table()
        .unwrap()
        .storage_descriptor()
        .unwrap()
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.r#type().unwrap().to_string()))
        .collect()
}

/// (values, location, column names) of every partition, sorted.
async fn partitions(table: &str) -> Vec<(Vec<String>, String, Vec<String>)> {
    let env = env();
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = env
            .glue()
            .get_partitions()
            .database_name(&env.config.glue_database)
            .table_name(table)
            .set_next_token(token)
            .send()
            .await
            .expect("GetPartitions");
        for p in out.partitions() {
            let sd = p.storage_descriptor().unwrap();
            all.push((
                p.values().to_vec(),
                sd.location().unwrap().to_string(),
                sd.columns().iter().map(|c| c.name().to_string()).collect(),
            ));
        }
        token = out.next_token().map(str::to_string);
        if token.as_deref().is_none_or(str::is_empty) {
            break;
        }
    }
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hive_objects_are_registered_from_every_input_shape_and_read_back_by_duckdb() {
    let env = env();
    let clean = env.config.clean_bucket.clone();
    declare(json!({
        "id": "reg.orders", "landing_prefix": "reg/orders/", "partition_columns": ["region"],
        "primary_key": ["order_id"],
        "schema": { "columns": [
            { "name": "order_id", "type": "int64", "nullable": false },
            { "name": "amount", "type": "double" },
            { "name": "region", "type": "string" } ] }
    }))
    .await;
    let regions = ["eu", "us", "eu/west", "ap south"];
    let mut keys = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        let escaped = region.replace('/', "%2F");
        let key = format!("reg.orders/region={escaped}/part-{i}.parquet");
        let data = parquet_from_sql(&format!(
            "SELECT ({i} * 100 + range)::BIGINT AS order_id, (range * 1.5)::DOUBLE AS amount \
             FROM range(25)"
        ));
        env.put(&clean, &key, data).await;
        keys.push(key);
    }
    // Not data: skipped, never quarantined.
    env.put(&clean, "reg.orders/region=eu/_SUCCESS", "").await;
    let reg = env.register();

    // Direct S3 notification: two objects of one table, one batch of partitions.
    let out = reg
        .handle(s3_event(
            &clean,
            &[&keys[0], &keys[1], "reg.orders/region=eu/_SUCCESS"],
        ))
        .await
        .expect("register");
    let t = &out["totals"];
    assert_eq!(
        (
            t["objects"].as_u64(),
            t["registered"].as_u64(),
            t["skipped"].as_u64()
        ),
        (Some(3), Some(2), Some(1)),
        "{out:#}"
    );
    assert_eq!(t["partitions_created"], 2, "{out:#}");
    // GetTable (absent) + CreateTable + one BatchCreatePartition.
    assert_eq!(t["glue_calls"], 3, "{out:#}");
    assert_eq!(out["tables"][0]["table_created"], true);

    // SQS (with S3's TestEvent and an unreadable message) and EventBridge shapes.
    let sqs = json!({ "Records": [
        { "messageId": "m1", "eventSource": "aws:sqs", "body": s3_event(&clean, &[&keys[2]]).to_string() },
        { "messageId": "m2", "eventSource": "aws:sqs", "body": json!({"Event": "s3:TestEvent"}).to_string() },
        { "messageId": "m3", "eventSource": "aws:sqs", "body": "not json" },
    ]});
    let out = reg.handle(sqs).await.unwrap();
    assert_eq!(
        out,
        json!({ "batchItemFailures": [{ "itemIdentifier": "m3" }] })
    );
    let eb = json!({ "detail-type": "Object Created", "source": "aws.s3",
        "detail": { "bucket": { "name": clean }, "object": { "key": keys[3] } } });
    let out = reg.handle(eb).await.unwrap();
    assert_eq!(out["totals"]["partitions_created"], 1, "{out:#}");

    let got = partitions("reg_orders").await;
    let values: Vec<&str> = got.iter().map(|(v, _, _)| v[0].as_str()).collect();
    assert_eq!(values, ["ap south", "eu", "eu/west", "us"]);
    for (v, loc, cols) in &got {
        assert_eq!(
            loc,
            &format!(
                "s3://{clean}/reg.orders/region={}/",
                v[0].replace('/', "%2F")
            )
        );
        assert_eq!(cols, &["order_id", "amount"]);
    }

    // Re-runs are harmless: a warm container sends nothing; a cold one finds them present.
    let all: Vec<&str> = keys.iter().map(String::as_str).collect();
    let out = reg.handle(s3_event(&clean, &all)).await.unwrap();
    assert_eq!(
        (
            out["totals"]["partitions_present"].as_u64(),
            out["totals"]["glue_calls"].as_u64()
        ),
        (Some(4), Some(0)),
        "{out:#}"
    );
    let out = env
        .register()
        .handle(json!({ "bucket": clean, "keys": all }))
        .await
        .unwrap();
    assert_eq!(
        (
            out["totals"]["partitions_created"].as_u64(),
            out["totals"]["partitions_present"].as_u64(),
            out["totals"]["partitions_failed"].as_u64()
        ),
        (Some(0), Some(4), Some(0)),
        "{out:#}"
    );

    // An independent reader over the files downloaded from the emulator, Hive partitioning on.
    let dir = env.download(&clean, &keys, "register-hive").await;
    let rows = duckdb(&format!(
        "SELECT region, count(*), sum(order_id), min(amount), max(amount) FROM read_parquet('{}/reg.orders/*/*.parquet', hive_partitioning = true) GROUP BY region ORDER BY region",
        dir.display()
    ));
    // DuckDB unescapes Hive values as the catalog holds them.
    let expected: Vec<Vec<Value>> = [("ap south", 3), ("eu", 0), ("eu/west", 2), ("us", 1)]
        .iter()
        .map(|(r, i)| {
            json!([r, 25, (0..25).map(|k| i * 100 + k).sum::<i64>(), 0.0, 36.0])
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(rows, expected);
    let duck_regions: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(duck_regions, values);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dms_date_folders_become_year_month_day_partitions_and_bad_paths_are_quarantined() {
    let env = env();
    let raw = env.config.raw_bucket.clone();
    // An AWS DMS S3 target writing Parquet in place into the raw bucket, with
    // DatePartitionEnabled (DatePartitionSequence YYYYMMDD, slashes).
    declare(json!({
        "id": "reg.dms_orders", "zone": "raw", "landing_prefix": "reg/dms_orders/",
        "source": { "format": "parquet" }, "layout": "dms-date",
        "zone_prefix": "dms/SALES/ORDERS/", "primary_key": ["order_id"]
    }))
    .await;
    let files = [
        ("2024/11/05/20241105-101500123.parquet", 10),
        ("2024/11/05/20241105-231502456.parquet", 5),
        ("2024/11/06/20241106-000001000.parquet", 7),
        ("2024/12/31/20241231-120000000.parquet", 3),
    ];
    let mut keys = Vec::new();
    for (i, (rel, n)) in files.iter().enumerate() {
        let key = format!("dms/SALES/ORDERS/{rel}");
        let data = parquet_from_sql(&format!(
            "SELECT 'U' AS Op, ({i} * 100 + range)::BIGINT AS order_id, 'x' || range AS note FROM range({n})"
        ));
        env.put(&raw, &key, data).await;
        keys.push(key);
    }
    let bad = "dms/SALES/ORDERS/2024/13/01/20241301-000000000.parquet";
    let bad_data = parquet_from_sql("SELECT 1::BIGINT AS order_id");
    env.put(&raw, bad, bad_data.clone()).await;
    let reg = env.register();

    // Step Functions task input listing partitions (every object under each folder).
    let out = reg
        .handle(json!({ "bucket": raw, "partitions": ["dms/SALES/ORDERS/2024/11/05/", "dms/SALES/ORDERS/2024/11/06"] }))
        .await
        .expect("register");
    assert_eq!(out["totals"]["registered"], 3, "{out:#}");
    assert_eq!(out["totals"]["partitions_created"], 2, "{out:#}");
    let out = reg.handle(s3_event(&raw, &[&keys[3], bad])).await.unwrap();
    assert_eq!(
        (
            out["totals"]["registered"].as_u64(),
            out["totals"]["quarantined"].as_u64()
        ),
        (Some(1), Some(1)),
        "{out:#}"
    );
    let q = &out["objects"][1];
    assert_eq!(q["status"], "quarantined");
    assert!(
        q["reason"].as_str().unwrap().contains("YYYY/MM/DD"),
        "{q:#}"
    );
    // Moved, not copied: gone from the zone, in quarantine with its report.
    assert!(!env.exists(&raw, bad).await);
    let copy = q["quarantine"][0].as_str().unwrap();
    assert_eq!(env.get(&env.config.quarantine_bucket, copy).await, bad_data);
    let report: Value = serde_json::from_slice(
        &env.get(
            &env.config.quarantine_bucket,
            q["quarantine"][1].as_str().unwrap(),
        )
        .await,
    )
    .unwrap();
    assert_eq!(report["source"]["key"], bad);
    assert_eq!(report["function"], "partition-register");
    assert_eq!(
        report["quarantined_object"],
        format!("s3://{}/{copy}", env.config.quarantine_bucket)
    );
    assert!(report["reason"].as_str().unwrap().contains("layout"));

    // The table: keys year/month/day as strings, partitions located at the date folders.
    let t = env
        .glue()
        .get_table()
        .database_name(&env.config.glue_database)
        .name("reg_dms_orders")
        .send()
        .await
        .unwrap();
    let t = t.table().unwrap();
    let keys_got: Vec<(&str, &str)> = t
        .partition_keys()
        .iter()
        .map(|c| (c.name(), c.r#type().unwrap()))
        .collect();
    assert_eq!(
        keys_got,
        [("year", "string"), ("month", "string"), ("day", "string")]
    );
    assert_eq!(
        t.storage_descriptor().unwrap().location(),
        Some(format!("s3://{raw}/dms/SALES/ORDERS/").as_str())
    );
    let got = partitions("reg_dms_orders").await;
    assert_eq!(
        got.iter()
            .map(|(v, l, _)| (v.join("-"), l.clone()))
            .collect::<Vec<_>>(),
        ["2024-11-05", "2024-11-06", "2024-12-31"]
            .iter()
            .map(|d| (
                d.to_string(),
                format!("s3://{raw}/dms/SALES/ORDERS/{}/", d.replace('-', "/"))
            ))
            .collect::<Vec<_>>()
    );
    // Each partition's location holds exactly the rows written there (DuckDB over the files).
    let dir = env.download(&raw, &keys, "register-dms").await;
    for (loc, want) in [("2024/11/05", 15), ("2024/11/06", 7), ("2024/12/31", 3)] {
        let rows = duckdb(&format!(
            "SELECT count(*) FROM read_parquet('{}/dms/SALES/ORDERS/{loc}/*.parquet')",
            dir.display()
        ));
        assert_eq!(rows, [[json!(want)]], "{loc}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_columns_evolve_the_table_and_its_partitions_and_conflicts_change_nothing() {
    let env = env();
    let clean = env.config.clean_bucket.clone();
    declare(json!({
        "id": "reg.events", "landing_prefix": "reg/events/", "partition_columns": ["day"],
        "primary_key": ["id"]
    }))
    .await;
    let put = |day: &str, sql: &str| {
        let key = format!("reg.events/day={day}/part-0.parquet");
        let data = parquet_from_sql(sql);
        async move {
            env.put(&env.config.clean_bucket, &key, data).await;
            key
        }
    };
    let reg = env.register();
    let k1 = put(
        "2024-01-01",
        "SELECT range::BIGINT AS id, 1::INT AS v FROM range(3)",
    )
    .await;
    let k2 = put(
        "2024-01-02",
        "SELECT range::BIGINT AS id, 2::INT AS v FROM range(3)",
    )
    .await;
    reg.handle(s3_event(&clean, &[&k1, &k2])).await.unwrap();
    assert_eq!(
        table_columns("reg_events").await,
        [("id".into(), "bigint".into()), ("v".into(), "int".into())]
    );

    // A file with a new nullable column and a widened type: the table and both existing
    // partitions take the new column list; the new partition has it too.
    let k3 = put(
        "2024-01-03",
        "SELECT range::BIGINT AS id, 3::BIGINT AS v, 'web' AS channel FROM range(3)",
    )
    .await;
    let out = env
        .register()
        .handle(s3_event(&clean, &[&k3]))
        .await
        .unwrap();
    let t = &out["tables"][0];
    assert_eq!(t["columns_added"], json!(["channel"]), "{out:#}");
    assert_eq!(t["columns_widened"], json!(["v: int -> bigint"]), "{out:#}");
    assert_eq!(t["partitions_updated"], 2, "{out:#}");
    let evolved: Vec<(String, String)> = vec![
        ("id".into(), "bigint".into()),
        ("v".into(), "bigint".into()),
        ("channel".into(), "string".into()),
    ];
    assert_eq!(table_columns("reg_events").await, evolved);
    let parts = partitions("reg_events").await;
    assert_eq!(parts.len(), 3);
    for (v, _, cols) in &parts {
        assert_eq!(cols, &["id", "v", "channel"], "partition {v:?}");
    }

    // Conflicts: a narrowed type, a changed type, a missing key column. Each file is quarantined
    // (moved, with a report) and the catalog is exactly as before.
    let before = partitions("reg_events").await;
    let conflicts = [
        (
            "2024-01-04",
            "SELECT range::INT AS id, 4::BIGINT AS v FROM range(3)",
            "id narrowed from bigint to int",
        ),
        (
            "2024-01-05",
            "SELECT range::BIGINT AS id, 'five' AS v FROM range(3)",
            "v changed type from bigint to string",
        ),
        (
            "2024-01-06",
            "SELECT 6::BIGINT AS v, 'app' AS channel FROM range(3)",
            "required column id is missing",
        ),
    ];
    for (day, sql, why) in conflicts {
        let key = put(day, sql).await;
        let out = env
            .register()
            .handle(s3_event(&clean, &[&key]))
            .await
            .unwrap();
        let o = &out["objects"][0];
        assert_eq!(o["status"], "quarantined", "{out:#}");
        assert!(o["reason"].as_str().unwrap().contains(why), "{out:#}");
        assert!(!env.exists(&clean, &key).await, "{key} left in the zone");
        let report: Value = serde_json::from_slice(
            &env.get(
                &env.config.quarantine_bucket,
                o["quarantine"][1].as_str().unwrap(),
            )
            .await,
        )
        .unwrap();
        assert!(report["reason"].as_str().unwrap().contains(why));
        assert_eq!(table_columns("reg_events").await, evolved, "after {day}");
        assert_eq!(partitions("reg_events").await, before, "after {day}");
    }

    // A file lacking a nullable column fits as it is.
    let k7 = put("2024-01-07", "SELECT 7::BIGINT AS id FROM range(1)").await;
    let out = env
        .register()
        .handle(s3_event(&clean, &[&k7]))
        .await
        .unwrap();
    assert_eq!(out["totals"]["partitions_created"], 1, "{out:#}");
    assert_eq!(table_columns("reg_events").await, evolved);
}

/// s3-landing applies the same rules inline to Parquet it passes through: a new column evolves
/// the table; a conflicting file is quarantined before anything is copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_parquet_pass_through_evolves_or_quarantines() {
    let env = env();
    let landing_bucket = env.config.landing_bucket.clone();
    declare(json!({
        "id": "reg.passthrough", "landing_prefix": "reg/passthrough/",
        "source": { "format": "parquet" }, "primary_key": ["id"]
    }))
    .await;
    let landing = env.landing();
    let land = async |name: &str, sql: &str| {
        let key = format!("reg/passthrough/{name}.parquet");
        env.put(&landing_bucket, &key, parquet_from_sql(sql)).await;
        landing
            .handle(s3_event(&landing_bucket, &[&key]))
            .await
            .expect("landing")["objects"][0]
            .clone()
    };
    let o = land("a", "SELECT range::BIGINT AS id, 1::INT AS v FROM range(4)").await;
    assert_eq!(o["status"], "copied", "{o:#}");
    let o = land(
        "b",
        "SELECT range::BIGINT AS id, 2::INT AS v, 'x' AS tag FROM range(4)",
    )
    .await;
    assert_eq!(o["status"], "copied", "{o:#}");
    assert_eq!(o["registration"]["columns_added"], json!(["tag"]), "{o:#}");
    let evolved = table_columns("reg_passthrough").await;
    assert_eq!(
        evolved.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["id", "v", "tag"]
    );
    let before = partitions("reg_passthrough").await;
    let o = land("c", "SELECT 'k' || range AS id, 3::INT AS v FROM range(4)").await;
    assert_eq!(o["status"], "quarantined", "{o:#}");
    assert!(
        o["reason"]
            .as_str()
            .unwrap()
            .contains("id changed type from bigint to string"),
        "{o:#}"
    );
    assert!(o["outputs"].as_array().unwrap().is_empty(), "{o:#}");
    let copied: Vec<String> = env
        .list(&env.config.clean_bucket, "reg.passthrough/")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(copied.len(), 2, "{copied:?}");
    assert!(copied.iter().all(|k| !k.contains("/c.parquet")));
    assert_eq!(table_columns("reg_passthrough").await, evolved);
    assert_eq!(partitions("reg_passthrough").await, before);
}
