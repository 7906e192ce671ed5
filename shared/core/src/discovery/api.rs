//! The search API behind API Gateway (HTTP API payload 2.0; REST payload 1.0 also accepted):
//! routing, the caller's identity, parameters and bodies, and `application/problem+json` errors.
//! `api/openapi.yaml` describes every route, parameter, response and error.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /health` | `{"status":"ok"}` (no authentication) |
//! | `GET /datasets` | ranked search (`crate::discovery::search`): `q`, `tag`, `owner`, `zone`, `sensitivity`, `limit`, `cursor` |
//! | `GET /datasets/{id}` | the record: technical and business metadata, stats; `ETag` is its version |
//! | `GET /datasets/{id}/schema` | every schema version |
//! | `GET /datasets/{id}/partitions` | Glue partitions, paged (`limit`, `cursor`) |
//! | `PUT /datasets/{id}/metadata` | business metadata, `If-Match` required (owner or admin) |
//! | `POST /manifests` | a manifest of presigned links, as a presigned link (`crate::discovery::manifest`) |
//!
//! Invariants:
//! - Identity comes only from the authorizer's claims in the request context (API Gateway's JWT
//!   authorizer verified the token). No claims: 401. A dataset the caller may not see answers
//!   exactly like one that does not exist (404 `dataset_not_found`) on every route, manifests
//!   included; search never counts it.
//! - Every error is `application/problem+json` with a stable `code`; a bad parameter or body
//!   field is named in `field`. Unknown query parameters and body fields are rejected; bodies over
//!   [`MAX_BODY_BYTES`] answer 413.
//! - A search page costs at most 2 DynamoDB round trips (see `crate::discovery::search`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;

use http::{HeaderMap, HeaderValue, Method, Response, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalog::keys;
use crate::catalog::records::{self, DatasetRecord, RecordError, RecordStore};
use crate::catalog::{BusinessMetadata, Dataset};
use crate::clock::{self, SharedClock};
use crate::config::{ApiConfig, Config};
use crate::discovery::manifest::{self, ManifestError, ManifestStore, PartitionPages, Selection};
use crate::discovery::search::{
    self, Caller, Cursor, DEFAULT_LIMIT, ItemKey, MAX_LIMIT, MAX_TERM_BUCKETS, Query, SearchError,
};
use crate::error::{Classify, ErrorKind};

mod request;
pub use request::*;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest `q`.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most datasets in one manifest request.
pub const MAX_MANIFEST_DATASETS: usize = 50;
/// Default and largest page of partitions.
pub const DEFAULT_PARTITION_LIMIT: usize = 100;
pub const MAX_PARTITION_LIMIT: usize = 1000;
/// Sensitivity levels, least to most sensitive.
pub const SENSITIVITIES: [&str; 4] = ["public", "internal", "confidential", "restricted"];
/// Zones a dataset may live in.
pub const ZONES: [&str; 3] = ["raw", "clean", "curated"];

/// An error answer: RFC 9457 problem details with a stable `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
}

impl Problem {
    pub fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
        }
    }

    /// 400 naming the offending parameter or body field.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(400, "invalid_parameter", detail)
        }
    }

    fn title(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            412 => "Precondition Failed",
            413 => "Content Too Large",
            415 => "Unsupported Media Type",
            422 => "Unprocessable Content",
            428 => "Precondition Required",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    pub fn response(&self) -> ApiResponse {
        let mut body = json!({
            "type": format!("urn:tributary:problem:{}", self.code),
            "title": self.title(),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        let mut r = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, "application/problem+json")
            .body(body.to_string())
            .expect("valid response");
        if self.status == 401 {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }

    fn not_found(id: &str) -> Self {
        Self::new(404, "dataset_not_found", format!("no dataset {id:?}"))
    }

    /// A failure of a dependency: 503 when a retry may succeed, else 500 (logged either way).
    fn internal(err: &(impl Classify + std::fmt::Display)) -> Self {
        tracing::error!(error = %err, "request failed");
        if err.kind() == ErrorKind::Retryable {
            Self::new(503, "unavailable", "a dependency is busy; retry later")
        } else {
            Self::new(500, "internal", "internal error")
        }
    }
}

impl From<SearchError> for Problem {
    fn from(e: SearchError) -> Self {
        Self::internal(&e)
    }
}
impl From<RecordError> for Problem {
    fn from(e: RecordError) -> Self {
        Self::internal(&e)
    }
}
impl From<crate::tables::glue::GlueError> for Problem {
    fn from(e: crate::tables::glue::GlueError) -> Self {
        Self::internal(&e)
    }
}
impl From<ManifestError> for Problem {
    fn from(e: ManifestError) -> Self {
        match e {
            ManifestError::TooLarge { max } => Self::new(
                422,
                "manifest_too_large",
                format!("the manifest would list more than {max} objects; filter by partition"),
            ),
            e => Self::internal(&e),
        }
    }
}

/// The search API over its ports.
pub struct SearchApi<R, I, P, M> {
    pub records: R,
    pub items: I,
    pub partitions: P,
    pub manifests: M,
    pub config: Arc<Config>,
    pub api: Arc<ApiConfig>,
    /// Record update times, manifest times and link signing.
    pub clock: SharedClock,
}

impl<R, I, P, M> SearchApi<R, I, P, M> {
    pub fn new(
        records: R,
        items: I,
        partitions: P,
        manifests: M,
        config: Arc<Config>,
        api: Arc<ApiConfig>,
    ) -> Self {
        Self {
            records,
            items,
            partitions,
            manifests,
            config,
            api,
            clock: clock::system(),
        }
    }
}

enum Route {
    Health,
    Search,
    Dataset(String),
    Schema(String),
    Partitions(String),
    Metadata(String),
    Manifests,
}

/// The route of a path (stage prefix tolerated) and the methods it allows.
fn route(path: &str) -> Result<(Route, &'static [&'static str]), Problem> {
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() > 1 && !["datasets", "manifests", "health"].contains(&segs[0]) {
        segs.remove(0); // a REST API stage
    }
    let not_found = || Problem::new(404, "not_found", format!("no route {path:?}"));
    let id = |s: &str| {
        percent_decode(s)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Problem::invalid("id", "the dataset id is not validly escaped"))
    };
    Ok(match segs.as_slice() {
        ["health"] => (Route::Health, &["GET"]),
        ["datasets"] => (Route::Search, &["GET"]),
        ["datasets", d] => (Route::Dataset(id(d)?), &["GET"]),
        ["datasets", d, "schema"] => (Route::Schema(id(d)?), &["GET"]),
        ["datasets", d, "partitions"] => (Route::Partitions(id(d)?), &["GET"]),
        ["datasets", d, "metadata"] => (Route::Metadata(id(d)?), &["PUT"]),
        ["manifests"] => (Route::Manifests, &["POST"]),
        _ => return Err(not_found()),
    })
}

impl<R, I, P, M> SearchApi<R, I, P, M> {
    /// Reads time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
}

impl<R, I, P, M> SearchApi<R, I, P, M>
where
    R: RecordStore,
    I: search::ItemReader,
    P: PartitionPages,
    M: ManifestStore,
{
    /// Answers one request; never fails (errors are problem responses).
    pub async fn handle(&self, req: ApiRequest) -> ApiResponse {
        let answer = self.dispatch(&req).await;
        let resp = answer.unwrap_or_else(|p| p.response());
        tracing::info!(
            method = %req.method,
            path = req.path,
            status = resp.status().as_u16(),
            "request"
        );
        resp
    }

    async fn dispatch(&self, req: &ApiRequest) -> Answer {
        let (route, methods) = route(&req.path)?;
        let method = req.method.as_str();
        if !methods.contains(&method) {
            let mut r = Problem::new(
                405,
                "method_not_allowed",
                format!("{method} is not allowed here; use {}", methods.join(", ")),
            )
            .response();
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_str(&methods.join(", ")).expect("ascii"),
            );
            return Ok(r);
        }
        if let Route::Health = route {
            Params::only(req, &[])?;
            return Ok(json_response(200, &json!({ "status": "ok" })));
        }
        let claims = req.claims.clone().ok_or_else(|| {
            Problem::new(
                401,
                "unauthenticated",
                "no verified identity in the request",
            )
        })?;
        let caller = caller(&claims, &self.api);
        match route {
            Route::Health => unreachable!("answered above"),
            Route::Search => self.search(req, &caller).await,
            Route::Dataset(id) => {
                Params::only(req, &[])?;
                let rec = self.visible(&id, &caller).await?;
                Ok(with_etag(
                    json_response(200, &detail(&rec, &self.config)),
                    &rec,
                ))
            }
            Route::Schema(id) => {
                Params::only(req, &[])?;
                let rec = self.visible(&id, &caller).await?;
                Ok(json_response(200, &schema_versions(&rec)))
            }
            Route::Partitions(id) => self.partitions(req, &id, &caller).await,
            Route::Metadata(id) => self.update_metadata(req, &id, &caller).await,
            Route::Manifests => self.manifest(req, &caller, &claims).await,
        }
    }

    /// The record of a dataset the caller may see; otherwise 404, as if it did not exist.
    async fn visible(&self, id: &str, caller: &Caller) -> Result<DatasetRecord, Problem> {
        match self.records.load(id).await? {
            Some(rec)
                if caller.can_see(
                    &rec.dataset.business.owner,
                    &rec.dataset.business.allowed_groups,
                ) =>
            {
                Ok(rec)
            }
            _ => Err(Problem::not_found(id)),
        }
    }

    async fn search(&self, req: &ApiRequest, caller: &Caller) -> Answer {
        let p = Params::only(
            req,
            &[
                "q",
                "tag",
                "owner",
                "zone",
                "sensitivity",
                "limit",
                "cursor",
            ],
        )?;
        let q = p.one("q")?.unwrap_or_default().to_string();
        if q.chars().count() > MAX_QUERY_CHARS || q.chars().any(char::is_control) {
            return Err(Problem::invalid(
                "q",
                format!("q must be at most {MAX_QUERY_CHARS} printable characters"),
            ));
        }
        let mut query = Query {
            q,
            tags: p.all("tag"),
            owners: p.all("owner"),
            zones: p.all("zone"),
            sensitivities: p.all("sensitivity"),
            limit: p.limit(DEFAULT_LIMIT, MAX_LIMIT)?,
            cursor: None,
        };
        check_values("tag", &query.tags, None)?;
        check_values("owner", &query.owners, None)?;
        check_values("zone", &query.zones, Some(&ZONES))?;
        check_values("sensitivity", &query.sensitivities, Some(&SENSITIVITIES))?;
        if query.term_buckets() > MAX_TERM_BUCKETS {
            return Err(Problem::invalid("q", "q has too many distinct words"));
        }
        if let Some(c) = p.one("cursor")? {
            let c = Cursor::decode(c)
                .filter(|c| c.h == query.fingerprint())
                .ok_or_else(|| {
                    Problem::invalid("cursor", "cursor is not a cursor of this query")
                })?;
            query.cursor = Some(c);
        }
        // Round trip 1: the index.
        let index = self.items.read_items(&query.index_keys()).await?;
        let ranked = search::rank(&query, caller, &index)?;
        // Round trip 2: the page's records.
        let keys: Vec<ItemKey> = ranked
            .hits
            .iter()
            .flat_map(|h| [keys::declaration(&h.id), keys::stats(&h.id)])
            .collect();
        let cards = self.items.read_items(&keys).await?;
        let mut items = Vec::new();
        for h in &ranked.hits {
            let found: Vec<_> = [keys::declaration(&h.id), keys::stats(&h.id)]
                .iter()
                .filter_map(|k| cards.get(k).cloned())
                .collect();
            // A record deleted between the two reads is left out of the page.
            let Some(rec) = records::record_from_items(&h.id, &found)? else {
                continue;
            };
            let b = &rec.dataset.business;
            items.push(json!({
                "id": h.id,
                "name": b.name,
                "description": b.description,
                "owner": b.owner,
                "zone": rec.dataset.zone,
                "tags": b.tags,
                "sensitivity": b.sensitivity,
                "score": h.score,
                "matched": h.matched,
                "version": rec.head.version,
                "updated_at": rec.updated_at,
                "row_count": rec.stats.row_count,
                "byte_count": rec.stats.byte_count,
            }));
        }
        Ok(json_response(
            200,
            &json!({
                "items": items,
                "total": ranked.total,
                "facets": ranked.facets,
                "next_cursor": ranked.next.map(|c| c.encode()),
            }),
        ))
    }

    async fn partitions(&self, req: &ApiRequest, id: &str, caller: &Caller) -> Answer {
        let p = Params::only(req, &["limit", "cursor"])?;
        let limit = p.limit(DEFAULT_PARTITION_LIMIT, MAX_PARTITION_LIMIT)?;
        let token =
            match p.one("cursor")? {
                None => None,
                Some(c) => Some(decode_token(c).ok_or_else(|| {
                    Problem::invalid("cursor", "cursor is not a partition cursor")
                })?),
            };
        let rec = self.visible(id, caller).await?;
        let table = crate::tables::glue::table_name(&rec.dataset.id);
        let page = self
            .partitions
            .page(&table, token, limit as i32)
            .await
            .map_err(|e| match &e {
                crate::tables::glue::GlueError::Aws(a) if a.is_code("InvalidInputException") => {
                    Problem::invalid("cursor", "cursor is no longer valid")
                }
                _ => Problem::from(e),
            })?;
        let (keys, items, next) = match page {
            None => (partition_keys(&rec.dataset), vec![], None),
            Some(page) => {
                let items = page
                    .partitions
                    .iter()
                    .map(|(values, location)| {
                        let v: BTreeMap<&String, &String> = page.keys.iter().zip(values).collect();
                        json!({ "values": v, "location": location })
                    })
                    .collect();
                (page.keys, items, page.next.as_deref().map(encode_token))
            }
        };
        Ok(json_response(
            200,
            &json!({
                "id": rec.dataset.id,
                "table": format!("{}.{}", self.config.glue_database, table),
                "partition_keys": keys,
                "items": items,
                "next_cursor": next,
            }),
        ))
    }

    async fn update_metadata(&self, req: &ApiRequest, id: &str, caller: &Caller) -> Answer {
        Params::only(req, &[])?;
        let if_match = req
            .headers
            .get(header::IF_MATCH)
            .map(|v| v.to_str().unwrap_or_default().trim().to_string());
        let update: MetadataUpdate = json_body(req)?;
        update.validate()?;
        let rec = self.visible(id, caller).await?;
        if !(caller.admin || caller.owns(&rec.dataset.business.owner)) {
            return Err(Problem::new(
                403,
                "forbidden",
                "only the dataset's owner or an admin may change its metadata",
            ));
        }
        let Some(if_match) = if_match else {
            return Err(Problem::new(
                428,
                "precondition_required",
                "send If-Match with the dataset's ETag (its version)",
            ));
        };
        let matches = if_match == "*"
            || if_match.split(',').any(|t| {
                t.trim().trim_start_matches("W/").trim_matches('"') == rec.head.version.to_string()
            });
        if !matches {
            return Err(Problem::new(
                412,
                "version_mismatch",
                format!(
                    "the dataset is at version {}; read it again and retry",
                    rec.head.version
                ),
            ));
        }
        let mut ds = rec.dataset.clone();
        update.apply(&mut ds.business);
        let now = self.clock.now_rfc3339();
        match self
            .records
            .write(
                &ds,
                rec.recorded_schema.as_ref(),
                &rec.head,
                records::WriteScope::Record,
                &now,
            )
            .await
        {
            Ok(_) => {}
            Err(RecordError::VersionConflict { .. }) => {
                return Err(Problem::new(
                    412,
                    "version_mismatch",
                    "the dataset changed meanwhile; read it again and retry",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let rec = self
            .records
            .load(id)
            .await?
            .ok_or_else(|| Problem::not_found(id))?;
        Ok(with_etag(
            json_response(200, &detail(&rec, &self.config)),
            &rec,
        ))
    }

    async fn manifest(
        &self,
        req: &ApiRequest,
        caller: &Caller,
        claims: &HashMap<String, Value>,
    ) -> Answer {
        Params::only(req, &[])?;
        let body: ManifestRequest = json_body(req)?;
        if body.datasets.is_empty() || body.datasets.len() > MAX_MANIFEST_DATASETS {
            return Err(Problem::invalid(
                "datasets",
                format!("datasets must list 1 to {MAX_MANIFEST_DATASETS} datasets"),
            ));
        }
        let expires_in = self.expires_in(&body)?;
        let selections = self.selections(&body, caller).await?;
        let expires = Duration::from_secs(expires_in);
        // Every link is signed at the same second, so they all expire at `expires_at`.
        let now = self
            .clock
            .now()
            .with_nanosecond(0)
            .expect("0 ns is a valid time");
        let signed_at: std::time::SystemTime = now.into();
        let datasets = manifest::collect(
            &self.manifests,
            &selections,
            signed_at,
            expires,
            self.api.manifest_max_objects,
        )
        .await?;
        let created_at = self.clock.now_rfc3339();
        let expires_at = (now + chrono::Duration::seconds(expires_in as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let requested_by = ["sub", "username", "cognito:username", "email"]
            .iter()
            .find_map(|k| claims.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        // 32 hex digits, as the manifest's key and id.
        let manifest_id = uuid::Uuid::new_v4().simple().to_string();
        let object_count = datasets.iter().map(|d| d.object_count).sum();
        let summary: Vec<Value> = datasets
            .iter()
            .map(|d| json!({ "id": d.id, "object_count": d.object_count, "byte_count": d.byte_count }))
            .collect();
        let doc = manifest::Manifest {
            manifest_id: manifest_id.clone(),
            created_at: created_at.clone(),
            expires_at: expires_at.clone(),
            requested_by,
            object_count,
            datasets,
        };
        let key = format!("manifests/{}/{manifest_id}.json", &created_at[..10]);
        let bucket = &self.api.manifest_bucket;
        self.manifests
            .put_json(
                bucket,
                &key,
                serde_json::to_vec(&doc).expect("manifests serialise"),
            )
            .await?;
        let url = self
            .manifests
            .presign_get(bucket, &key, signed_at, expires)
            .await?;
        let mut r = json_response(
            201,
            &json!({
                "manifest_id": manifest_id,
                "url": url,
                "expires_at": expires_at,
                "object_count": object_count,
                "datasets": summary,
            }),
        );
        r.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&url).unwrap_or(HeaderValue::from_static("")),
        );
        Ok(r)
    }

    /// The links' lifetime: as asked, within 1 s and the configured maximum (the default).
    fn expires_in(&self, body: &ManifestRequest) -> Result<u64, Problem> {
        let max_expiry = self.api.manifest_expiry_seconds;
        match body.expires_in {
            None => Ok(max_expiry),
            Some(s) if (1..=max_expiry).contains(&s) => Ok(s),
            Some(_) => Err(Problem::invalid(
                "expires_in",
                format!("expires_in must be from 1 to {max_expiry} seconds"),
            )),
        }
    }

    /// The request's selections, each of a dataset the caller may see, with valid partition
    /// filters and a zone that has a bucket.
    async fn selections(
        &self,
        body: &ManifestRequest,
        caller: &Caller,
    ) -> Result<Vec<Selection>, Problem> {
        let mut selections = Vec::new();
        for (i, item) in body.datasets.iter().enumerate() {
            if body.datasets[..i]
                .iter()
                .any(|o| o.id == item.id && o.partitions == item.partitions)
            {
                return Err(Problem::invalid(
                    format!("datasets[{i}]"),
                    "the same selection is listed twice",
                ));
            }
            if item.id.is_empty() || item.id.len() > 256 {
                return Err(Problem::invalid(
                    format!("datasets[{i}].id"),
                    "id must be 1 to 256 characters",
                ));
            }
            let rec = self.visible(&item.id, caller).await?;
            let keys = partition_keys(&rec.dataset);
            for (k, values) in &item.partitions {
                if !keys.contains(k) {
                    return Err(Problem::invalid(
                        format!("datasets[{i}].partitions.{k}"),
                        format!(
                            "{k} is not a partition key of {} (keys: {})",
                            item.id,
                            keys.join(", ")
                        ),
                    ));
                }
                if values.is_empty() {
                    return Err(Problem::invalid(
                        format!("datasets[{i}].partitions.{k}"),
                        "list at least one value",
                    ));
                }
            }
            let Some(bucket) = zone_bucket(&self.config, &rec.dataset.zone) else {
                return Err(Problem::new(
                    422,
                    "unsupported_zone",
                    format!(
                        "{} lives in zone {:?}, which has no bucket",
                        item.id, rec.dataset.zone
                    ),
                ));
            };
            selections.push(Selection {
                dataset: rec.dataset,
                bucket: bucket.to_string(),
                partitions: item.partitions.clone(),
            });
        }
        Ok(selections)
    }
}

fn zone_bucket<'a>(config: &'a Config, zone: &str) -> Option<&'a str> {
    match zone {
        "raw" => Some(&config.raw_bucket),
        "clean" => Some(&config.clean_bucket),
        "curated" => Some(&config.curated_bucket),
        _ => None,
    }
}

fn with_etag(mut r: ApiResponse, rec: &DatasetRecord) -> ApiResponse {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", rec.head.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// `GET /datasets/{id}`: technical and business metadata.
pub fn detail(rec: &DatasetRecord, config: &Config) -> Value {
    let ds = &rec.dataset;
    let location = zone_bucket(config, &ds.zone).map(|b| format!("s3://{b}/{}", ds.zone_prefix()));
    json!({
        "id": ds.id,
        "version": rec.head.version,
        "updated_at": rec.updated_at,
        "technical": {
            "zone": ds.zone,
            "location": location,
            "landing_prefix": ds.landing_prefix,
            "format": ds.source.format,
            "layout": match ds.layout.date_keys() { None => "hive", Some(k) if k.len() == 3 => "dms-date", Some(_) => "dms-date-hour" },
            "partition_keys": partition_keys(ds),
            "primary_key": ds.primary_key,
            "schema_version": rec.head.schema_version,
            "columns": rec.effective_schema().map(|s| &s.columns),
            "glue_table": crate::tables::glue::table_name(&ds.id),
        },
        "business": ds.business,
        "stats": rec.stats,
    })
}

/// `GET /datasets/{id}/schema`: every version, oldest first.
pub fn schema_versions(rec: &DatasetRecord) -> Value {
    let mut versions: Vec<Value> = rec
        .schemas
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "source": v.source,
                "recorded_at": v.recorded_at,
                "columns": v.schema.columns,
            })
        })
        .collect();
    if versions.is_empty()
        && let Some(s) = rec.effective_schema()
    {
        // A record written before schema versions were kept: its schema in force.
        versions.push(json!({
            "version": 0,
            "source": if rec.dataset.schema.is_some() { "declared" } else { "recorded" },
            "recorded_at": rec.updated_at,
            "columns": s.columns,
        }));
    }
    json!({
        "id": rec.dataset.id,
        "current_version": rec.head.schema_version,
        "versions": versions,
    })
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
