//! The search API's handler against this binary's moto server, with 10,000 generated datasets
//! bulk-loaded once (records and index by `BatchWriteItem`) and more written through the real
//! write paths (declare, metadata updates, a landing commit). Requests are API Gateway events
//! (payload 2.0 built here, and the REST 1.0 and 2.0 fixtures of `events/`) given to
//! `SearchApi::handle`. Expected results come from an oracle computed from the generated
//! declarations, not from the index.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tributary::catalog::records::{self, RecordStore};
use tributary::catalog::{
    BusinessMetadata, Dataset, DatasetCatalog, Ledger, LedgerEntry, StatsDelta,
};
use tributary::config::ApiConfig;
use tributary::discovery::api::SearchApi;
use tributary::discovery::search;
use tributary::model::schema::{Column, ColumnType, TableSchema};
use tributary_aws::api_gateway::{api_request, lambda_response};
use tributary_aws::dynamo::{DdbMeter, DynamoItems, DynamoRecords, DynamoTable};
use tributary_aws::{GlueCatalog, S3Store};
use tributary_integration::watch::get_url;

use tributary_integration::{env, fixture};

const N: usize = 10_000;
const NAME_WORDS: &[&str] = &[
    "orders",
    "customers",
    "invoices",
    "payments",
    "shipments",
    "inventory",
    "clicks",
    "sessions",
    "ledger",
    "accounts",
    "refunds",
    "returns",
    "products",
    "prices",
    "campaigns",
    "leads",
    "tickets",
    "surveys",
    "devices",
    "sensors",
    "daily",
    "weekly",
    "monthly",
    "europe",
    "global",
];
const DESC_WORDS: &[&str] = &[
    "data",
    "database",
    "dataset",
    "records",
    "events",
    "from",
    "the",
    "warehouse",
    "export",
    "snapshot",
    "stream",
    "history",
    "current",
    "cleaned",
    "raw",
    "aggregated",
    "finance",
    "marketing",
    "operations",
    "team",
    "ordering",
    "weekly",
    "region",
    "country",
];
const TAGS: &[&str] = &[
    "finance",
    "sales",
    "marketing",
    "ops",
    "pii",
    "gold",
    "silver",
    "bronze",
    "ml",
    "kpi",
];
const OWNERS: &[&str] = &[
    "team-finance",
    "team-sales",
    "team-web",
    "team-ops",
    "team-ml",
    "team-hr",
    "team-data",
    "team-bi",
];
const ZONES: &[&str] = &["raw", "clean", "curated"];
const SENS: &[&str] = &["public", "internal", "confidential", "restricted"];
const GROUPS: &[&str] = &["g0", "g1", "g2", "g3", "g4", "g5"];
const COLUMNS: &[&str] = &[
    "order_id",
    "customer_id",
    "amount",
    "currency",
    "created_at",
    "updated_at",
    "country",
    "region",
    "sku",
    "quantity",
    "price",
    "session_id",
    "user_id",
    "event_type",
    "device_id",
    "reading",
    "status",
    "channel",
    "campaign_id",
    "email",
];

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next() % from.len()]
    }
    fn some<'a>(&mut self, from: &[&'a str], min: usize, max: usize) -> Vec<&'a str> {
        let n = min + self.next() % (max - min + 1);
        let mut out = Vec::new();
        while out.len() < n {
            let w = self.pick(from);
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }
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

/// The generated catalog: deterministic, with one dataset named exactly "Orders".
fn generated() -> Vec<Dataset> {
    let mut r = Lcg(7);
    let mut out = Vec::with_capacity(N);
    for i in 0..N {
        let words = r.some(NAME_WORDS, 2, 3);
        let name = words
            .iter()
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .unwrap()
                    .to_uppercase()
                    .chain(c)
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" ");
        let id = if i == 4242 {
            "exact.orders".to_string()
        } else {
            format!("gen{i:05}.{}", words[0])
        };
        let cols = r.some(COLUMNS, 3, 6);
        out.push(Dataset {
            id: id.clone(),
            zone: r.pick(ZONES).into(),
            landing_prefix: format!("{id}/"),
            schema: Some(schema(&cols)),
            business: BusinessMetadata {
                name: if i == 4242 { "Orders".into() } else { name },
                description: r.some(DESC_WORDS, 5, 10).join(" "),
                owner: r.pick(OWNERS).into(),
                steward: String::new(),
                tags: r.some(TAGS, 1, 3).iter().map(|s| s.to_string()).collect(),
                sensitivity: r.pick(SENS).into(),
                allowed_groups: if i == 4242 {
                    vec!["g0".into()]
                } else {
                    r.some(GROUPS, 1, 2).iter().map(|s| s.to_string()).collect()
                },
            },
            ..Default::default()
        });
    }
    out
}

static LOADED: OnceCell<Vec<Dataset>> = OnceCell::const_new();

/// Loads the generated catalog once per test binary.
async fn catalog() -> &'static [Dataset] {
    LOADED
        .get_or_init(|| async {
            let data = generated();
            let env = env();
            let start = std::time::Instant::now();
            let bulk: Vec<records::BulkRecord> = data
                .iter()
                .map(|d| records::BulkRecord {
                    dataset: d.clone(),
                    ..Default::default()
                })
                .collect();
            let table = DynamoTable::new(env.dynamodb.clone(), &env.config.catalog_table);
            let items = records::bulk_load(&table, &bulk, &records::now())
                .await
                .expect("bulk load");
            eprintln!(
                "bulk-loaded {} datasets ({items} items) in {:.1} s",
                data.len(),
                start.elapsed().as_secs_f64()
            );
            data
        })
        .await
}

type Api = SearchApi<DynamoRecords, DynamoItems, GlueCatalog, S3Store>;

/// The handler over fresh clients of this runtime, its DynamoDB client metered.
fn api() -> (Api, Arc<DdbMeter>) {
    let env = env();
    let meter = Arc::new(DdbMeter::default());
    let api_config = ApiConfig::from_lookup(|k| env.vars.get(k).cloned()).expect("api config");
    let dynamodb = meter.instrument(&env.dynamodb);
    let api = SearchApi::new(
        tributary_aws::dynamo::records(dynamodb.clone(), &env.config.catalog_table),
        tributary_aws::dynamo::items(dynamodb, &env.config.catalog_table),
        GlueCatalog::new(env.glue(), &env.config.glue_database),
        S3Store::new(env.s3.clone()),
        env.config.clone(),
        Arc::new(api_config),
    );
    (api, meter)
}

struct Call<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    groups: Option<&'a [&'a str]>,
    sub: &'a str,
    headers: Vec<(&'a str, String)>,
    body: Option<String>,
}

impl<'a> Call<'a> {
    fn get(path: &'a str, query: &'a str, groups: &'a [&'a str]) -> Self {
        Self {
            method: "GET",
            path,
            query,
            groups: Some(groups),
            sub: "tester",
            headers: vec![],
            body: None,
        }
    }

    /// The API Gateway HTTP API payload 2.0 event of this call.
    fn event(&self) -> Value {
        let mut headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        headers.insert("host".into(), json!("api.example.test"));
        let mut ctx = json!({
            "accountId": "123456789012", "apiId": "test", "domainName": "api.example.test",
            "http": { "method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                      "sourceIp": "127.0.0.1", "userAgent": "tests" },
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "",
            "timeEpoch": 0
        });
        if let Some(groups) = self.groups {
            ctx["authorizer"] = json!({ "jwt": { "claims": {
                "sub": self.sub,
                "cognito:groups": format!("[{}]", groups.join(" ")),
            }, "scopes": null } });
        }
        let mut e = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": self.path,
            "rawQueryString": self.query, "headers": headers, "requestContext": ctx,
            "isBase64Encoded": false,
        });
        if let Some(b) = &self.body {
            e["body"] = json!(b);
        }
        e
    }
}

/// Runs one event through the handler: (status, headers, JSON body).
async fn send(api: &Api, event: &Value) -> (u16, HashMap<String, String>, Value) {
    let req = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
    let resp = lambda_response(api.handle(api_request(req)).await);
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(json!(t)),
        _ => Value::Null,
    };
    (status, headers, body)
}

async fn call(api: &Api, c: &Call<'_>) -> (u16, HashMap<String, String>, Value) {
    send(api, &c.event()).await
}

/// What the oracle knows of a search: the matching visible ids and the facet counts.
fn oracle(
    data: &[Dataset],
    groups: &[&str],
    q: &str,
    filter: impl Fn(&Dataset) -> bool,
) -> (BTreeSet<String>, BTreeMap<String, u64>) {
    let terms = search::tokens(q);
    let mut ids = BTreeSet::new();
    let mut tags: BTreeMap<String, u64> = BTreeMap::new();
    for d in data {
        let b = &d.business;
        if !b
            .allowed_groups
            .iter()
            .any(|g| groups.contains(&g.as_str()))
            || !filter(d)
        {
            continue;
        }
        let mut text = vec![b.name.clone(), d.id.clone(), b.description.clone()];
        text.extend(b.tags.iter().cloned());
        text.extend(
            d.schema
                .iter()
                .flat_map(|s| s.columns.iter().map(|c| c.name.clone())),
        );
        let words: Vec<String> = text.iter().flat_map(|t| search::tokens(t)).collect();
        if terms
            .iter()
            .all(|t| words.iter().any(|w| w.starts_with(t.as_str())))
        {
            ids.insert(d.id.clone());
            for t in &b.tags {
                *tags.entry(t.clone()).or_default() += 1;
            }
        }
    }
    (ids, tags)
}

/// Every page of a search, following cursors; asserts at most 2 DynamoDB calls per page.
async fn all_pages(api: &Api, meter: &DdbMeter, query: &str, groups: &[&str]) -> Vec<Value> {
    let mut pages = vec![];
    let mut cursor: Option<String> = None;
    let (start, waited) = (std::time::Instant::now(), meter.wait());
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_string(),
        };
        let before = meter.calls();
        let (status, _, body) = call(api, &Call::get("/datasets", &q, groups)).await;
        assert_eq!(status, 200, "{body}");
        let calls = meter.calls() - before;
        assert!(calls <= 2, "a search page took {calls} DynamoDB calls");
        cursor = body["next_cursor"].as_str().map(str::to_string);
        pages.push(body);
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 1000, "paging does not end");
    }
    eprintln!(
        "{query}: {} pages in {:.2} s, {:.2} s of it waiting for DynamoDB",
        pages.len(),
        start.elapsed().as_secs_f64(),
        (meter.wait() - waited).as_secs_f64()
    );
    pages
}

fn ids_of(pages: &[Value]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().iter())
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranking_puts_the_exact_name_first_and_name_matches_before_the_rest() {
    let data = catalog().await;
    let (api, meter) = api();
    let groups = ["g0", "g1"];
    let pages = all_pages(&api, &meter, "q=orders&limit=50", &groups).await;
    let (want, _) = oracle(data, &groups, "orders", |_| true);
    let ids = ids_of(&pages);
    assert_eq!(ids.first().map(String::as_str), Some("exact.orders"));
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(pages[0]["total"].as_u64(), Some(want.len() as u64));
    // "weekly" is a name word and a description word: name matches first.
    let pages = all_pages(
        &api,
        &meter,
        "q=weekly&zone=raw&sensitivity=public&limit=50",
        &groups,
    )
    .await;
    let items: Vec<&Value> = pages
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap())
        .collect();
    let scores: Vec<u64> = items.iter().map(|i| i["score"].as_u64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "scores descend");
    // A word of the name (or id) outranks matches in tags, columns and description only.
    let strong = |i: &&Value| {
        i["matched"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "name" || m == "id")
    };
    let first_weak = items.iter().position(|i| !strong(i)).unwrap_or(items.len());
    assert!(
        items[first_weak..].iter().all(|i| !strong(i)),
        "name matches come first"
    );
    assert!(first_weak > 1 && first_weak < items.len(), "{first_weak}");
    // Prefix matches: "ord" also finds "ordering" and "order_id".
    let (status, _, body) = call(&api, &Call::get("/datasets", "q=ord&limit=5", &groups)).await;
    assert_eq!(status, 200);
    let (want, _) = oracle(data, &groups, "ord", |_| true);
    assert!(want.len() > ids.len());
    assert_eq!(body["total"].as_u64(), Some(want.len() as u64));
}

/// Which datasets a filter keeps, as the oracle decides.
type Predicate = Box<dyn Fn(&Dataset) -> bool>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_facets_match_the_oracle() {
    let data = catalog().await;
    let (api, _) = api();
    let cases: Vec<(&str, &str, Predicate)> = vec![
        ("", "", Box::new(|_| true)),
        ("weekly", "zone=clean", Box::new(|d| d.zone == "clean")),
        (
            "data",
            "tag=pii&tag=gold",
            Box::new(|d| {
                d.business.tags.iter().any(|t| t == "pii")
                    && d.business.tags.iter().any(|t| t == "gold")
            }),
        ),
        (
            "customer_id amount",
            "owner=team-ml&owner=team-bi",
            Box::new(|d| ["team-ml", "team-bi"].contains(&d.business.owner.as_str())),
        ),
        (
            "",
            "sensitivity=restricted&zone=raw",
            Box::new(|d| d.business.sensitivity == "restricted" && d.zone == "raw"),
        ),
    ];
    for groups in [&["g2"][..], &["g3", "g5"]] {
        for (q, filters, f) in &cases {
            let query = format!(
                "q={}&limit=3{}{filters}",
                q.replace(' ', "+"),
                if filters.is_empty() { "" } else { "&" }
            );
            let (status, _, body) = call(&api, &Call::get("/datasets", &query, groups)).await;
            assert_eq!(status, 200, "{query}: {body}");
            let (want, tags) = oracle(data, groups, q, f);
            assert_eq!(body["total"].as_u64(), Some(want.len() as u64), "{query}");
            assert!(!want.is_empty(), "{query} finds something");
            let mut expected: Vec<(String, u64)> = tags.into_iter().collect();
            expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let got: Vec<(String, u64)> = body["facets"]["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["value"].as_str().unwrap().to_string(),
                        f["count"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(got, expected, "{query}");
            let owners: u64 = body["facets"]["owners"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["count"].as_u64().unwrap())
                .sum();
            assert_eq!(owners, want.len() as u64, "{query}");
            for item in body["items"].as_array().unwrap() {
                assert!(
                    want.contains(item["id"].as_str().unwrap()),
                    "{query}: {item}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_visits_every_match_exactly_once_in_at_most_two_round_trips_a_page() {
    let data = catalog().await;
    let (api, meter) = api();
    let groups = ["g1", "g4"];
    let pages = all_pages(
        &api,
        &meter,
        "q=data&zone=curated&sensitivity=internal&limit=40",
        &groups,
    )
    .await;
    let ids = ids_of(&pages);
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "no match twice");
    let (want, _) = oracle(data, &groups, "data", |d| {
        d.zone == "curated" && d.business.sensitivity == "internal"
    });
    assert!(want.len() > 200, "{}", want.len());
    assert_eq!(unique, want);
    // A cursor continues only its own query.
    let cursor = pages[0]["next_cursor"].as_str().unwrap();
    let q = format!("q=data&zone=clean&cursor={cursor}");
    let (status, _, body) = call(&api, &Call::get("/datasets", &q, &groups)).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("cursor")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_checked_and_named() {
    catalog().await;
    let (api, _) = api();
    for (query, field, code) in [
        ("limit=0", "limit", "invalid_parameter"),
        ("limit=51", "limit", "invalid_parameter"),
        ("limit=x", "limit", "invalid_parameter"),
        ("zone=moon", "zone", "invalid_parameter"),
        ("sensitivity=secret", "sensitivity", "invalid_parameter"),
        ("cursor=abc", "cursor", "invalid_parameter"),
        ("q=a&q=b", "q", "invalid_parameter"),
        ("colour=red", "colour", "unknown_parameter"),
    ] {
        let (status, headers, body) = call(&api, &Call::get("/datasets", query, &["g0"])).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(
            (body["field"].as_str(), body["code"].as_str()),
            (Some(field), Some(code)),
            "{query}"
        );
    }
    let (status, _, body) = call(&api, &Call::get("/nowhere", "", &["g0"])).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let mut c = Call::get("/datasets", "", &["g0"]);
    c.method = "DELETE";
    let (status, headers, _) = call(&api, &c).await;
    assert_eq!((status, headers["allow"].as_str()), (405, "GET"));
    let (status, _, body) = call(&api, &Call::get("/health", "", &[])).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
}

/// A dataset of its own declared through the catalog port (the indexed write path).
async fn declare(id: &str, owner: &str, groups: &[&str], name: &str, cols: &[&str]) -> Dataset {
    let ds = Dataset {
        id: id.into(),
        zone: "clean".into(),
        landing_prefix: format!("{id}/"),
        schema: (!cols.is_empty()).then(|| schema(cols)),
        partition_columns: if cols.contains(&"region") {
            vec!["region".into()]
        } else {
            vec![]
        },
        business: BusinessMetadata {
            name: name.into(),
            description: format!("{name} for the tests"),
            owner: owner.into(),
            tags: vec!["fixture".into()],
            sensitivity: "internal".into(),
            allowed_groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    env().catalog().declare(&ds).await.expect("declare");
    ds
}

/// The stored index attributes of one dataset, against what a rebuild computes from its record.
async fn assert_index_matches_record(id: &str) {
    let env = env();
    let rec = tributary_aws::dynamo::records(env.dynamodb.clone(), &env.config.catalog_table)
        .load(id)
        .await
        .unwrap()
        .unwrap();
    let mut build = search::IndexBuild::new();
    build.add(&search::DatasetEntries::of(
        &rec.dataset,
        rec.recorded_schema.as_ref(),
        rec.head.version,
    ));
    let attr = search::cell_attr(id);
    let keys: Vec<search::ItemKey> = build
        .items
        .keys()
        .map(|(pk, sk)| search::ItemKey::new(pk, sk))
        .collect();
    let reader = tributary_aws::dynamo::items(env.dynamodb.clone(), &env.config.catalog_table);
    let mut stored = HashMap::new();
    for chunk in keys.chunks(100) {
        stored.extend(
            search::ItemReader::read_items(&reader, chunk)
                .await
                .unwrap(),
        );
    }
    for ((pk, sk), cells) in &build.items {
        let want = cells
            .get(&attr)
            .and_then(|lines| lines.get(id))
            .map(String::as_str);
        let got = stored
            .get(&search::ItemKey::new(pk, sk))
            .and_then(|i| i.get(&attr))
            .and_then(|v| v.as_s())
            .and_then(|cell| search::cell_entries(cell).find(|(i, _)| *i == id))
            .map(|(_, v)| v);
        assert_eq!(got, want, "{id} in {pk}/{sk}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_visibility_holds_on_every_route() {
    catalog().await;
    declare(
        "vis.secret",
        "vis-owner",
        &["vis-a"],
        "Zanzibar ledger",
        &["region", "amount"],
    )
    .await;
    let (api, _) = api();
    let manifest_body = json!({"datasets": [{"id": "vis.secret"}]}).to_string();
    let routes = |groups: Option<&'static [&'static str]>| {
        let base = |method, path| Call {
            method,
            path,
            query: "",
            groups,
            sub: "someone",
            headers: vec![("content-type", "application/json".to_string())],
            body: None,
        };
        vec![
            base("GET", "/datasets/vis.secret"),
            base("GET", "/datasets/vis.secret/schema"),
            base("GET", "/datasets/vis.secret/partitions"),
            Call {
                headers: vec![
                    ("content-type", "application/json".into()),
                    ("if-match", "\"1\"".into()),
                ],
                body: Some(r#"{"name":"Mine now"}"#.into()),
                ..base("PUT", "/datasets/vis.secret/metadata")
            },
            Call {
                body: Some(manifest_body.clone()),
                ..base("POST", "/manifests")
            },
        ]
    };
    for c in routes(Some(&["vis-b", "g0"])) {
        let (status, _, body) = call(&api, &c).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("dataset_not_found")),
            "{} {}",
            c.method,
            c.path
        );
    }
    for c in routes(None) {
        let (status, headers, body) = call(&api, &c).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("unauthenticated")),
            "{}",
            c.path
        );
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
    let (_, _, body) = call(
        &api,
        &Call::get("/datasets", "q=zanzibar", &["vis-b", "g0"]),
    )
    .await;
    assert_eq!(body["total"], 0, "not even counted: {body}");
    for groups in [&["vis-a"][..], &["lake-admins"]] {
        let (_, _, body) = call(&api, &Call::get("/datasets", "q=zanzibar", groups)).await;
        assert_eq!(body["items"][0]["id"], "vis.secret", "{groups:?}: {body}");
        for c in routes(Some(groups)).into_iter().take(3) {
            let mut c = c;
            c.groups = Some(groups);
            let (status, _, body) = call(&api, &c).await;
            assert_eq!(status, 200, "{} {groups:?}: {body}", c.path);
        }
    }
    // A member who is not the owner may read but not change the metadata.
    let c = routes(Some(&["vis-a"])).remove(3);
    let (status, _, body) = call(&api, &c).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_updates_are_validated_versioned_and_reindexed() {
    catalog().await;
    declare(
        "md.widgets",
        "md-owner",
        &["md"],
        "Quokka widgets",
        &["widget_id"],
    )
    .await;
    let (api, _) = api();
    let owner: &[&str] = &["md"];
    let put = |if_match: Option<&str>, body: &str| Call {
        method: "PUT",
        path: "/datasets/md.widgets/metadata",
        query: "",
        groups: Some(owner),
        sub: "md-owner",
        headers: [
            ("content-type", Some("application/json".to_string())),
            ("if-match", if_match.map(str::to_string)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect(),
        body: Some(body.to_string()),
    };
    let (status, headers, body) = call(
        &api,
        &Call {
            sub: "md-owner",
            ..Call::get("/datasets/md.widgets", "", owner)
        },
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(body["technical"]["columns"][0]["name"], "widget_id");
    let good = r#"{"name":"Wombat gadgets","description":"Gadgets","tags":["fixture","hardware"]}"#;
    for (c, status, code, field) in [
        (put(None, good), 428, "precondition_required", None),
        (put(Some("\"7\""), good), 412, "version_mismatch", None),
        (
            put(Some("\"1\""), r#"{"name":"x","colour":"red"}"#),
            400,
            "unknown_field",
            Some("colour"),
        ),
        (
            put(Some("\"1\""), r#"{"tags":["Bad Tag"]}"#),
            400,
            "invalid_parameter",
            Some("tags[0]"),
        ),
        (
            put(Some("\"1\""), r#"{"sensitivity":"secret"}"#),
            400,
            "invalid_parameter",
            Some("sensitivity"),
        ),
        (
            put(Some("\"1\""), r#"{"name": 5}"#),
            400,
            "invalid_body",
            Some("name"),
        ),
        (
            put(
                Some("\"1\""),
                &format!(r#"{{"description":"{}"}}"#, "x".repeat(70_000)),
            ),
            413,
            "body_too_large",
            None,
        ),
    ] {
        let (s, _, body) = call(&api, &c).await;
        assert_eq!(
            (s, body["code"].as_str(), body["field"].as_str()),
            (status, Some(code), field),
            "{body}"
        );
    }
    let (status, headers, body) = call(&api, &put(Some("\"1\""), good)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["etag"], "\"2\"");
    assert_eq!(body["business"]["name"], "Wombat gadgets");
    // The index follows: the new words find it, the old name no longer does.
    let (_, _, found) = call(
        &api,
        &Call::get("/datasets", "q=wombat&tag=hardware", owner),
    )
    .await;
    assert_eq!(found["items"][0]["id"], "md.widgets", "{found}");
    assert_eq!(found["items"][0]["version"], 2);
    let (_, _, gone) = call(&api, &Call::get("/datasets", "q=quokka", owner)).await;
    assert_eq!(gone["total"], 0, "{gone}");
    assert_index_matches_record("md.widgets").await;
    // The same If-Match again lost the race.
    let (status, _, _) = call(&api, &put(Some("\"1\""), good)).await;
    assert_eq!(status, 412);
    // A new declared schema is a new schema version; the old one stays listed.
    declare(
        "md.widgets",
        "md-owner",
        &["md"],
        "Wombat gadgets",
        &["widget_id", "colour"],
    )
    .await;
    let (_, _, body) = call(&api, &Call::get("/datasets/md.widgets/schema", "", owner)).await;
    let versions: Vec<u64> = body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2], "{body}");
    assert_eq!(body["versions"][1]["columns"][1]["name"], "colour");
    assert_index_matches_record("md.widgets").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_recorded_by_landing_is_indexed() {
    catalog().await;
    declare("inf.gauges", "inf-owner", &["inf"], "Gauges", &[]).await;
    let (api, _) = api();
    let (_, _, none) = call(&api, &Call::get("/datasets", "q=pressure_kpa", &["inf"])).await;
    assert_eq!(none["total"], 0);
    let entry = LedgerEntry {
        bucket: "landing".into(),
        key: "inf.gauges/a.csv".into(),
        version: "v1".into(),
        etag: "e".into(),
        dataset_id: Some("inf.gauges".into()),
        outcome: "converted".into(),
        rows_read: 3,
        rows_written: 3,
        rows_rejected: 0,
        bytes_written: 100,
        outputs: vec![],
        quarantine: vec![],
        processed_at: records::now(),
        sequence: None,
    };
    let delta = StatsDelta {
        dataset_id: "inf.gauges".into(),
        rows: 3,
        bytes: 100,
        files: 1,
        rows_rejected: 0,
        files_quarantined: 0,
        location: "s3://clean/inf.gauges/".into(),
        last_update: records::now(),
        schema: Some(schema(&["gauge_id", "pressure_kpa"])),
    };
    env()
        .catalog()
        .commit(&entry, Some(&delta))
        .await
        .expect("commit");
    let (_, _, found) = call(&api, &Call::get("/datasets", "q=pressure_kpa", &["inf"])).await;
    assert_eq!(found["items"][0]["id"], "inf.gauges", "{found}");
    assert_eq!(found["items"][0]["row_count"], 3);
    let (_, _, body) = call(
        &api,
        &Call::get("/datasets/inf.gauges/schema", "", &["inf"]),
    )
    .await;
    assert_eq!(body["versions"][0]["source"], "recorded", "{body}");
    assert_index_matches_record("inf.gauges").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_come_from_glue_in_pages() {
    catalog().await;
    let ds = declare(
        "pt.sales",
        "pt-owner",
        &["pt"],
        "Partitioned sales",
        &["amount", "region"],
    )
    .await;
    let env = env();
    let glue = env.glue();
    let def = tributary::tables::glue::TableDef::new(
        &ds,
        &env.config.clean_bucket,
        &schema(&["amount"]),
        &[("region".into(), ColumnType::String)],
    );
    let catalog = GlueCatalog::new(glue, &env.config.glue_database);
    use tributary::tables::glue::PartitionCatalog;
    catalog.create_table(&def).await.unwrap();
    let values: Vec<tributary::tables::glue::PartitionState> = ["apac", "emea", "us"]
        .iter()
        .map(|r| {
            let values = vec![r.to_string()];
            tributary::tables::glue::PartitionState {
                location: def.partition_location(&values),
                values,
            }
        })
        .collect();
    assert!(
        catalog
            .create_partitions(&def, &values)
            .await
            .unwrap()
            .is_empty()
    );
    let (api, _) = api();
    let mut seen = vec![];
    let mut query = "limit=2".to_string();
    loop {
        let (status, _, body) = call(
            &api,
            &Call::get("/datasets/pt.sales/partitions", &query, &["pt"]),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["partition_keys"], json!(["region"]));
        for p in body["items"].as_array().unwrap() {
            assert!(
                p["location"].as_str().unwrap().contains("pt.sales/region="),
                "{p}"
            );
            seen.push(p["values"]["region"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(c) => query = format!("limit=2&cursor={c}"),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["apac", "emea", "us"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_link_the_right_objects_and_the_links_expire() {
    catalog().await;
    declare(
        "mf.sales",
        "mf-owner",
        &["mf"],
        "Manifest sales",
        &["amount", "region"],
    )
    .await;
    let env = env();
    let bucket = &env.config.clean_bucket;
    let objects = [
        ("mf.sales/region=eu/a-00000.parquet", "eu-a"),
        ("mf.sales/region=eu/b-00000.parquet", "eu-b"),
        ("mf.sales/region=us/c-00000.parquet", "us-c"),
        ("mf.sales/region=eu/_SUCCESS", ""),
    ];
    for (key, body) in objects {
        env.put(bucket, key, body.as_bytes().to_vec()).await;
    }
    let (api, _) = api();
    let post = |groups: &'static [&'static str], body: Value| Call {
        method: "POST",
        path: "/manifests",
        query: "",
        groups: Some(groups),
        sub: "reader",
        headers: vec![("content-type", "application/json".into())],
        body: Some(body.to_string()),
    };
    for (body, field) in [
        (json!({"datasets": []}), "datasets"),
        (
            json!({"datasets": [{"id": "mf.sales", "partitions": {"colour": ["red"]}}]}),
            "datasets[0].partitions.colour",
        ),
        (
            json!({"datasets": [{"id": "mf.sales"}], "expires_in": 901}),
            "expires_in",
        ),
        (
            json!({"datasets": [{"id": "mf.sales", "extra": 1}]}),
            "datasets[0].extra",
        ),
    ] {
        let (status, _, out) = call(&api, &post(&["mf"], body)).await;
        assert_eq!((status, out["field"].as_str()), (400, Some(field)), "{out}");
    }
    let req = json!({"datasets": [{"id": "mf.sales", "partitions": {"region": ["eu"]}}], "expires_in": 3});
    let (status, headers, out) = call(&api, &post(&["mf"], req.clone())).await;
    assert_eq!(status, 201, "{out}");
    assert_eq!(out["object_count"], 2);
    assert_eq!(headers["location"], out["url"].as_str().unwrap());
    let (status, manifest) = get_url(out["url"].as_str().unwrap());
    assert_eq!(status, 200);
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(manifest["requested_by"], "reader");
    let listed = manifest["datasets"][0]["objects"]
        .as_array()
        .unwrap()
        .clone();
    let keys: Vec<&str> = listed.iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert_eq!(keys, [objects[0].0, objects[1].0]);
    for (o, (_, content)) in listed.iter().zip(objects) {
        let (status, body) = get_url(o["url"].as_str().unwrap());
        assert_eq!((status, body.as_slice()), (200, content.as_bytes()));
        assert_eq!(o["partition"], json!({"region": "eu"}));
    }
    // Every link is signed to expire after the requested 3 s (SigV4 X-Amz-Date + X-Amz-Expires;
    // moto neither checks signatures nor expiry, so the signed parameters are what is checked).
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(out["expires_at"].as_str().unwrap()).unwrap();
    for url in listed
        .iter()
        .map(|o| o["url"].as_str().unwrap())
        .chain([out["url"].as_str().unwrap()])
    {
        let param = |name: &str| {
            url.split(['?', '&'])
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} in {url}"))
                .to_string()
        };
        assert_eq!(param("X-Amz-Expires"), "3", "{url}");
        let signed = chrono::NaiveDateTime::parse_from_str(&param("X-Amz-Date"), "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        let end = signed + chrono::Duration::seconds(3);
        assert!(end == expires_at.with_timezone(&chrono::Utc), "{url}");
        assert!(
            (chrono::Utc::now() - signed).num_seconds().abs() < 120,
            "{url}"
        );
    }
    assert!(
        manifest["expires_at"] == out["expires_at"],
        "the manifest states when its links expire"
    );
    // Another group's dataset in the list: 404, and no manifest.
    let (status, _, out) = call(&api, &post(&["g0"], req)).await;
    assert_eq!(
        (status, out["code"].as_str()),
        (404, Some("dataset_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_fixtures_run_through_the_handler() {
    catalog().await;
    let env = env();
    for id in ["sales.orders", "web.clicks", "web.events"] {
        env.declare_sample(id).await;
    }
    let (api, _) = api();
    let (status, _, body) = send(&api, &fixture("api-search.json")).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["web.clicks", "web.events"]);
    let (status, headers, body) = send(&api, &fixture("api-get-dataset-rest.json")).await;
    assert_eq!(
        status, 200,
        "REST payload 1.0 with a stage in the path: {body}"
    );
    assert_eq!(body["id"], "web.events");
    let version = headers["etag"].trim_matches('"').to_string();
    let mut put = fixture("api-put-metadata.json");
    put["headers"]["if-match"] = json!(format!("\"{version}\""));
    let (status, _, body) = send(&api, &put).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["business"]["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("events"))
    );
    let (status, _, body) = send(&api, &fixture("api-manifest.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["datasets"][0]["id"], "sales.orders");
}
