//! Partition registration against the emulator's Glue Data Catalog.

use tributary::catalog::Dataset;
use tributary::model::schema::{Column, ColumnType, TableSchema};
use tributary::tables::glue::{
    PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, Registrar, TableDef,
};
use tributary_aws::GlueCatalog;
use tributary_integration::env;

fn glue() -> aws_sdk_glue::Client {
    env().glue()
}

fn def(id: &str) -> TableDef {
    let ds = Dataset {
        id: id.into(),
        ..Default::default()
    };
    let schema = TableSchema {
        columns: vec![
            Column {
                name: "order_id".into(),
                ty: ColumnType::Int64,
                nullable: false,
            },
            Column {
                name: "amount".into(),
                ty: ColumnType::Double,
                nullable: true,
            },
        ],
    };
    TableDef::new(
        &ds,
        &env().config.clean_bucket,
        &schema,
        &[
            ("region".into(), ColumnType::String),
            ("day".into(), ColumnType::Date),
        ],
    )
}

async fn partitions(
    client: &aws_sdk_glue::Client,
    table: &str,
) -> Vec<aws_sdk_glue::types::Partition> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .get_partitions()
            .database_name(&env().config.glue_database)
            .table_name(table)
            .set_next_token(token)
            .send()
            .await
            .expect("GetPartitions");
        all.extend(out.partitions().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return all;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_registered_in_batches_of_100_and_reruns_are_harmless() {
    let env = env();
    let client = glue();
    let def = def("glue.orders");
    let wanted: Vec<Vec<String>> = (0..250)
        .map(|i| {
            vec![
                ["eu", "us", "ap/south"][i % 3].to_string(),
                format!("2024-01-{:02}", i / 3 % 28 + 1),
            ]
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let wanted: Vec<Vec<String>> = wanted
        .into_iter()
        .chain((0..250).map(|i| {
            vec![
                "xx".to_string(),
                format!("2023-{:02}-{:02}", i / 28 % 12 + 1, i % 28 + 1),
            ]
        }))
        .take(250)
        .collect();
    assert_eq!(wanted.len(), 250);

    let registrar = Registrar::new(GlueCatalog::new(client.clone(), &env.config.glue_database));
    let s = registrar.register(&def, &wanted).await.expect("register");
    assert!(s.table_created);
    // GetTable (absent) + CreateTable + 3 BatchCreatePartition calls of at most 100.
    assert_eq!(
        (s.partitions_created, s.partitions_present, s.glue_calls),
        (250, 0, 5),
        "{s:?}"
    );
    assert!(s.partitions_failed.is_empty());
    let got = partitions(&client, &def.name).await;
    assert_eq!(got.len(), 250);

    // Warm container: nothing is sent again.
    let s = registrar.register(&def, &wanted[..10]).await.unwrap();
    assert_eq!((s.partitions_present, s.glue_calls), (10, 0), "{s:?}");

    // Cold container (or a concurrent one): already-present partitions count as success.
    let cold = Registrar::new(GlueCatalog::new(client.clone(), &env.config.glue_database));
    let s = cold.register(&def, &wanted).await.unwrap();
    assert!(!s.table_created);
    // GetTable (present, same columns) + 3 BatchCreatePartition calls.
    assert_eq!(
        (s.partitions_created, s.partitions_present, s.glue_calls),
        (0, 250, 4),
        "{s:?}"
    );
    assert!(s.partitions_failed.is_empty(), "{s:?}");
    assert_eq!(partitions(&client, &def.name).await.len(), 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_and_partitions_are_what_athena_expects() {
    let env = env();
    let client = glue();
    let def = def("glue.athena");
    let registrar = Registrar::new(GlueCatalog::new(client.clone(), &env.config.glue_database));
    registrar
        .register(&def, &[vec!["eu/west".into(), "2024-01-15".into()]])
        .await
        .unwrap();
    let table = client
        .get_table()
        .database_name(&env.config.glue_database)
        .name("glue_athena")
        .send()
        .await
        .unwrap();
    let t = table.table().unwrap();
    assert_eq!(t.table_type(), Some("EXTERNAL_TABLE"));
    assert_eq!(
        t.parameters()
            .unwrap()
            .get("classification")
            .map(String::as_str),
        Some("parquet")
    );
    let sd = t.storage_descriptor().unwrap();
    assert_eq!(
        sd.location(),
        Some(format!("s3://{}/glue.athena/", env.config.clean_bucket).as_str())
    );
    assert_eq!(sd.input_format(), Some(PARQUET_INPUT_FORMAT));
    assert_eq!(sd.output_format(), Some(PARQUET_OUTPUT_FORMAT));
    assert_eq!(
        sd.serde_info().unwrap().serialization_library(),
        Some(PARQUET_SERDE)
    );
    let cols: Vec<(&str, &str)> = sd
        .columns()
        .iter()
        .map(|c| (c.name(), c.r#type().unwrap()))
        .collect();
    assert_eq!(cols, [("order_id", "bigint"), ("amount", "double")]);
    let keys: Vec<(&str, &str)> = t
        .partition_keys()
        .iter()
        .map(|c| (c.name(), c.r#type().unwrap()))
        .collect();
    assert_eq!(keys, [("region", "string"), ("day", "date")]);

    let parts = partitions(&client, "glue_athena").await;
    assert_eq!(parts.len(), 1);
    let p = &parts[0];
    assert_eq!(p.values(), ["eu/west", "2024-01-15"]);
    let psd = p.storage_descriptor().unwrap();
    assert_eq!(
        psd.location(),
        Some(
            format!(
                "s3://{}/glue.athena/region=eu%2Fwest/day=2024-01-15/",
                env.config.clean_bucket
            )
            .as_str()
        )
    );
    assert_eq!(
        psd.serde_info().unwrap().serialization_library(),
        Some(PARQUET_SERDE)
    );
    assert_eq!(psd.columns().len(), 2);
}

/// Landing hands its partitions to the registrar: a landed file is queryable through the catalog
/// with no crawler, and an independent reader sees the same rows and partition values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landed_and_sequenced_files_are_registered_without_a_crawler() {
    let env = env();
    let client = glue();
    env.declare_variant("sales.orders", "glue.landed", "glue-landed/")
        .await;
    env.land_sample_as(
        "sales/orders/2024/orders 2024-01-15.csv",
        "glue-landed/orders.csv",
    )
    .await;
    let out = env
        .landing()
        .handle(serde_json::json!({ "bucket": env.config.landing_bucket, "key": "glue-landed/orders.csv" }))
        .await
        .unwrap();
    let o = &out["objects"][0];
    assert_eq!(o["status"], "converted", "{o:#}");
    let reg = &o["registration"];
    assert_eq!(reg["table"], "glue_landed");
    let written: Vec<String> = o["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap().to_string())
        .collect();
    let parts = partitions(&client, "glue_landed").await;
    assert_eq!(
        parts.len() as u64,
        reg["partitions_created"].as_u64().unwrap()
    );
    assert_eq!(parts.len(), o["partitions"].as_array().unwrap().len());

    // DuckDB over the files under the registered partition locations, Hive partitioning on.
    let dir = env
        .download(&env.config.clean_bucket, &written, "glue-landed")
        .await;
    let mut total = 0i64;
    for p in &parts {
        let loc = p.storage_descriptor().unwrap().location().unwrap();
        let prefix = loc
            .strip_prefix(&format!("s3://{}/", env.config.clean_bucket))
            .unwrap();
        let rows = tributary_integration::duckdb(&format!(
            "SELECT count(*), min(region) FROM read_parquet('{}/{prefix}*.parquet', hive_partitioning = true)",
            dir.display()
        ));
        assert_eq!(rows[0][1], serde_json::json!(p.values()[0]), "{loc}");
        total += rows[0][0].as_i64().unwrap();
    }
    assert_eq!(total as u64, o["rows_written"].as_u64().unwrap());

    // DMS files: the raw-zone table, partitioned by the declared DEPARTMENT_ID (bigint).
    env.declare_variant("hr.employees_cdc", "glue.cdc", "glue-dms/HR/EMPLOYEES/")
        .await;
    env.land_sample_as(
        "dms/HR/EMPLOYEES/LOAD00000001.csv",
        "glue-dms/HR/EMPLOYEES/LOAD00000001.csv",
    )
    .await;
    let out = env
        .landing()
        .handle(serde_json::json!({ "bucket": env.config.landing_bucket, "key": "glue-dms/HR/EMPLOYEES/LOAD00000001.csv" }))
        .await
        .unwrap();
    assert_eq!(out["objects"][0]["status"], "sequenced", "{out:#}");
    let t = client
        .get_table()
        .database_name(&env.config.glue_database)
        .name("glue_cdc")
        .send()
        .await
        .unwrap();
    let t = t.table().unwrap();
    let keys: Vec<(&str, &str)> = t
        .partition_keys()
        .iter()
        .map(|c| (c.name(), c.r#type().unwrap()))
        .collect();
    assert_eq!(keys, [("department_id", "bigint")]);
    let cols: Vec<&str> = t
        .storage_descriptor()
        .unwrap()
        .columns()
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(&cols[..4], ["_op", "_seq", "_source_file", "_commit_ts"]);
    let parts = partitions(&client, "glue_cdc").await;
    let mut values: Vec<String> = parts.iter().map(|p| p.values()[0].clone()).collect();
    values.sort();
    assert_eq!(values, ["100", "60", "90"]);
    // Partition locations are the objects' real (case-sensitive) prefixes.
    for p in &parts {
        let loc = p.storage_descriptor().unwrap().location().unwrap();
        let prefix = loc
            .strip_prefix(&format!("s3://{}/", env.config.raw_bucket))
            .unwrap();
        assert!(
            !env.list(&env.config.raw_bucket, prefix).await.is_empty(),
            "no objects under {loc}"
        );
    }
}
