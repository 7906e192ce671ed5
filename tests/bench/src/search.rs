//! `search`: the search API's handler over a moto server holding 10,000 generated datasets.
//!
//! Starts its own moto server (`scripts/local_aws.py up`, stopped at the end), bulk-loads the
//! datasets (records and index), then sends 1,000 mixed requests through `SearchApi::handle` as
//! API Gateway HTTP API events: single words, prefixes, two and three words, filters without
//! words, and next pages through cursors, for callers of different groups. The DynamoDB client is
//! metered (an SDK interceptor): each request's calls, and the time spent waiting for the
//! emulator, which is subtracted to give the handler's own time. Last line:
//!
//! `RESULT search p50_ms=<n> p99_ms=<n> ddb_calls_per_page=<max>`

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tributary::catalog::records::{self, BulkRecord};
use tributary::catalog::{BusinessMetadata, Dataset};
use tributary::config::{ApiConfig, Config};
use tributary::discovery::api::SearchApi;
use tributary::model::schema::{Column, ColumnType, TableSchema};
use tributary_aws::api_gateway::{api_request, lambda_response};
use tributary_aws::dynamo::{DdbMeter, DynamoTable};
use tributary_aws::{GlueCatalog, S3Store};

const DATASETS: usize = 10_000;
const REQUESTS: usize = 1_000;

const SUBJECTS: &[&str] = &[
    "orders",
    "customers",
    "invoices",
    "payments",
    "shipments",
    "inventory",
    "clickstream",
    "sessions",
    "ledger",
    "accounts",
    "refunds",
    "products",
    "pricing",
    "campaigns",
    "leads",
    "tickets",
    "surveys",
    "devices",
    "telemetry",
    "employees",
];
const QUALIFIERS: &[&str] = &[
    "daily", "hourly", "monthly", "europe", "americas", "asia", "global", "staging", "archive",
    "latest",
];
const PROSE: &[&str] = &[
    "exported",
    "from",
    "the",
    "operational",
    "database",
    "nightly",
    "deduplicated",
    "records",
    "events",
    "joined",
    "with",
    "reference",
    "data",
    "for",
    "reporting",
    "forecasting",
    "audit",
];
const FIELDS: &[&str] = &[
    "id",
    "customer_id",
    "order_id",
    "amount",
    "currency",
    "country",
    "created_at",
    "updated_at",
    "status",
    "sku",
    "quantity",
    "email",
    "device_id",
    "reading",
    "campaign_id",
    "region",
];
const LABELS: &[&str] = &[
    "finance",
    "sales",
    "marketing",
    "ops",
    "pii",
    "gold",
    "silver",
    "ml",
];
const TEAMS: &[&str] = &[
    "finance", "sales", "web", "ops", "ml", "hr", "platform", "bi",
];
const GROUPS: &[&str] = &["analysts", "finance", "sales", "web", "ops", "ml"];

/// xorshift64*: deterministic inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize
    }
    fn of<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.next() % list.len()]
    }
    /// Between `min` and `max` distinct entries of `list`.
    fn distinct<'a>(&mut self, list: &[&'a str], min: usize, max: usize) -> Vec<&'a str> {
        let n = min + self.next() % (max - min + 1);
        let mut v: Vec<&str> = Vec::with_capacity(n);
        while v.len() < n.min(list.len()) {
            let x = self.of(list);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v
    }
}

fn dataset(rng: &mut Rng, i: usize) -> Dataset {
    let subject = rng.of(SUBJECTS);
    let qualifier = rng.of(QUALIFIERS);
    let id = format!("{}.{subject}_{qualifier}_{i}", rng.of(TEAMS));
    let columns = rng
        .distinct(FIELDS, 3, 8)
        .into_iter()
        .map(|c| Column {
            name: c.to_string(),
            ty: ColumnType::String,
            nullable: true,
        })
        .collect();
    let words = 4 + rng.next() % 8;
    Dataset {
        id: id.clone(),
        zone: ["raw", "clean", "curated"][rng.next() % 3].into(),
        landing_prefix: format!("{id}/"),
        schema: Some(TableSchema { columns }),
        business: BusinessMetadata {
            name: format!("{subject} {qualifier}"),
            description: (0..words)
                .map(|_| rng.of(PROSE))
                .collect::<Vec<_>>()
                .join(" "),
            owner: format!("team-{}", rng.of(TEAMS)),
            tags: rng
                .distinct(LABELS, 1, 3)
                .into_iter()
                .map(String::from)
                .collect(),
            sensitivity: ["public", "internal", "confidential", "restricted"][rng.next() % 4]
                .into(),
            allowed_groups: rng
                .distinct(GROUPS, 1, 2)
                .into_iter()
                .map(String::from)
                .collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The query string of the `n`th request (before any cursor).
fn query(rng: &mut Rng, n: usize) -> String {
    let limit = [10, 20, 50][rng.next() % 3];
    let q = match n % 6 {
        0 => rng.of(SUBJECTS).to_string(),
        1 => rng.of(SUBJECTS)[..3].to_string(),
        2 => format!("{} {}", rng.of(SUBJECTS), rng.of(QUALIFIERS)),
        3 => format!(
            "{} {} {}",
            rng.of(PROSE),
            rng.of(FIELDS),
            rng.of(QUALIFIERS)
        ),
        4 => String::new(),
        _ => rng.of(FIELDS).to_string(),
    };
    let mut parts = vec![format!("limit={limit}")];
    if !q.is_empty() {
        parts.push(format!("q={}", q.replace(' ', "+")));
    }
    if n.is_multiple_of(4) || q.is_empty() {
        parts.push(format!("tag={}", rng.of(LABELS)));
    }
    if n.is_multiple_of(5) {
        parts.push(format!(
            "zone={}",
            ["raw", "clean", "curated"][rng.next() % 3]
        ));
    }
    if n.is_multiple_of(7) {
        parts.push(format!("owner=team-{}", rng.of(TEAMS)));
    }
    parts.join("&")
}

fn event(query: &str, groups: &[&str]) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/datasets",
        "rawQueryString": query, "headers": { "host": "bench" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "bench",
            "http": { "method": "GET", "path": "/datasets", "protocol": "HTTP/1.1",
                      "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "requestId": "bench", "routeKey": "$default", "stage": "$default", "time": "",
            "timeEpoch": 0,
            "authorizer": { "jwt": { "claims": {
                "sub": "bench", "cognito:groups": format!("[{}]", groups.join(" "))
            }, "scopes": null } }
        },
        "isBase64Encoded": false
    })
}

/// A moto server for the run, stopped on drop.
struct Moto {
    dir: PathBuf,
    python: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = Command::new(&self.python)
            .arg(super::repo_root().join("scripts/local_aws.py"))
            .args(["down", "--state-dir"])
            .arg(&self.dir)
            .status();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run() {
    let python = super::venv_python();
    let dir = super::work_dir("search").join("moto");
    let _ = std::fs::remove_dir_all(&dir);
    let moto = Moto {
        dir: dir.clone(),
        python: python.clone(),
    };
    let out = Command::new(&moto.python)
        .arg(super::repo_root().join("scripts/local_aws.py"))
        .args(["up", "--state-dir"])
        .arg(&dir)
        .output()
        .expect("local_aws.py up");
    assert!(
        out.status.success(),
        "local_aws.py up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vars: HashMap<String, String> = std::fs::read_to_string(dir.join("env"))
        .expect("env file")
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
        .collect();
    for (k, v) in &vars {
        // SAFETY: single-threaded at this point; the SDK reads these when the runtime starts.
        unsafe { std::env::set_var(k, v) };
    }
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ] {
        if std::env::var_os(k).is_none() {
            unsafe { std::env::set_var(k, v) };
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench(vars));
    drop(moto);
}

async fn bench(vars: HashMap<String, String>) {
    let config = Arc::new(Config::from_lookup(|k| vars.get(k).cloned()).expect("config"));
    let api_config = Arc::new(ApiConfig::from_lookup(|k| vars.get(k).cloned()).expect("api"));
    let sdk = tributary_aws::clients::load_sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let datasets: Vec<BulkRecord> = (0..DATASETS)
        .map(|i| BulkRecord {
            dataset: dataset(&mut rng, i),
            ..Default::default()
        })
        .collect();
    let t = Instant::now();
    let table = DynamoTable::new(dynamodb.clone(), &config.catalog_table);
    let items = records::bulk_load(&table, &datasets, &records::now())
        .await
        .expect("bulk load");
    println!(
        "loaded {DATASETS} datasets into moto ({items} items, BatchWriteItem) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let meter = Arc::new(DdbMeter::default());
    let metered = meter.instrument(&dynamodb);
    let api = SearchApi::new(
        tributary_aws::dynamo::records(metered.clone(), &config.catalog_table),
        tributary_aws::dynamo::items(metered, &config.catalog_table),
        GlueCatalog::new(aws_sdk_glue::Client::new(&sdk), &config.glue_database),
        S3Store::new(tributary_aws::clients::s3_client(&sdk)),
        config,
        api_config,
    );
    // Warm-up: connections, first allocations.
    for _ in 0..5 {
        let req = lambda_http::request::from_str(&event("q=orders", &["analysts"]).to_string())
            .expect("event");
        lambda_response(api.handle(api_request(req)).await);
    }

    let mut total_ms = Vec::with_capacity(REQUESTS);
    let mut own_ms = Vec::with_capacity(REQUESTS);
    let mut max_calls = 0u64;
    let mut matches = 0u64;
    let mut cursor: Option<(String, Vec<&str>)> = None;
    let started = Instant::now();
    for n in 0..REQUESTS {
        // A third of the requests whose previous page had more continue with its cursor.
        let (q, groups) = match cursor.take() {
            Some((q, groups)) if n % 3 == 0 => (q, groups),
            _ => (query(&mut rng, n), rng.distinct(GROUPS, 1, 2)),
        };
        let req = lambda_http::request::from_str(&event(&q, &groups).to_string()).expect("event");
        let (calls0, wait0) = (meter.calls(), meter.wait());
        let t = Instant::now();
        let resp = lambda_response(api.handle(api_request(req)).await);
        let elapsed = t.elapsed();
        let calls = meter.calls() - calls0;
        let wait = meter.wait() - wait0;
        assert_eq!(resp.status(), 200, "{q}: {:?}", resp.body());
        let body: Value = match resp.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).expect("JSON"),
            other => panic!("unexpected body {other:?}"),
        };
        matches += body["total"].as_u64().unwrap_or(0);
        if let Some(c) = body["next_cursor"].as_str() {
            let base: Vec<&str> = q.split('&').filter(|p| !p.starts_with("cursor=")).collect();
            cursor = Some((format!("{}&cursor={c}", base.join("&")), groups));
        }
        max_calls = max_calls.max(calls);
        total_ms.push(elapsed.as_secs_f64() * 1e3);
        own_ms.push(elapsed.saturating_sub(wait).as_secs_f64() * 1e3);
    }
    let wall = started.elapsed().as_secs_f64();
    total_ms.sort_by(f64::total_cmp);
    own_ms.sort_by(f64::total_cmp);
    println!(
        "{REQUESTS} requests in {wall:.1} s ({:.0} matches per request on average)",
        matches as f64 / REQUESTS as f64
    );
    println!(
        "handler time including the emulator: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&total_ms, 0.5),
        percentile(&total_ms, 0.99)
    );
    println!(
        "handler time excluding the emulator (waiting for DynamoDB subtracted): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&own_ms, 0.5),
        percentile(&own_ms, 0.99)
    );
    println!("most DynamoDB calls for one page: {max_calls}");
    println!(
        "RESULT search p50_ms={:.2} p99_ms={:.2} ddb_calls_per_page={max_calls}",
        percentile(&total_ms, 0.5),
        percentile(&total_ms, 0.99)
    );
}
