//! Call recording through an SDK interceptor: every S3, DynamoDB and Glue operation a function
//! makes, written as the IAM requests it needs (action and resource ARN), so a test can evaluate
//! them against the function's role policy from template.yaml (tests/integration/tests/iam.rs).
//!
//! `TRIBUTARY_CALL_LOG=<file>` appends one JSON line per IAM request:
//! `{"function","service","operation","action","resource"}`. `function` is
//! `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda and by `cargo lambda watch`), else the binary's name.
//!
//! Invariants:
//! - One operation is recorded once, whatever its retries: the first attempt marks the operation
//!   in its config bag and later attempts see the mark.
//! - The recorded action is the IAM action, not the API name: `HeadObject` is `s3:GetObject`, a
//!   versioned read `s3:GetObjectVersion`, `CopyObject` both `s3:GetObject` on the source and
//!   `s3:PutObject` on the target, `TransactWriteItems` one `dynamodb:PutItem | UpdateItem |
//!   DeleteItem | ConditionCheckItem` per item, a Glue table operation one request per catalog,
//!   database and table ARN (what IAM authorises).
//! - Resource ARNs use [`RECORDED_ACCOUNT`] (the emulator's account; the IAM test expands the
//!   template with the same) and the client's region.
//! - Recording never fails an operation: a write error is logged once and the call goes on. It
//!   reads the request before signing and before the fault injector ([`crate::faults`]) can
//!   rewrite it, so both switches may be on at once.
//! - Unset, the interceptor is not installed at all.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

/// The recording switch: a file to append JSON lines to. Unset in every deployment.
pub const CALL_LOG: &str = "TRIBUTARY_CALL_LOG";
/// Set by Lambda (and `cargo lambda watch`): the function's name in each record.
pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
/// The account in recorded ARNs: the emulator's (moto's default account).
pub const RECORDED_ACCOUNT: &str = "123456789012";

/// One IAM request an SDK call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamRequest {
    pub action: String,
    pub resource: String,
}

/// Marks an operation already recorded (its later attempts are retries).
#[derive(Debug, Clone, Copy)]
struct Recorded;

impl Storable for Recorded {
    type Storer = StoreReplace<Self>;
}

/// The interceptor. Clones share the file and the error latch.
#[derive(Debug, Clone)]
pub struct CallRecorder {
    path: PathBuf,
    function: String,
    region: String,
    warned: Arc<AtomicBool>,
}

impl CallRecorder {
    pub fn new(path: impl Into<PathBuf>, function: &str, region: &str) -> Self {
        Self {
            path: path.into(),
            function: function.into(),
            region: region.into(),
            warned: Arc::default(),
        }
    }

    /// The recorder [`CALL_LOG`] asks for, if it is set.
    pub fn from_env(region: &str) -> Option<Self> {
        let path = std::env::var_os(CALL_LOG).filter(|p| !p.is_empty())?;
        let function = std::env::var(AWS_LAMBDA_FUNCTION_NAME)
            .ok()
            .filter(|f| !f.is_empty())
            .or_else(|| {
                std::env::current_exe()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            })
            .unwrap_or_else(|| "unknown".into());
        Some(Self::new(path, &function, region))
    }

    fn append(&self, service: &str, operation: &str, requests: &[IamRequest]) {
        let mut text = String::new();
        for r in requests {
            let line = json!({
                "function": self.function,
                "service": service,
                "operation": operation,
                "action": r.action,
                "resource": r.resource,
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "call log not written");
        }
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "TributaryCallRecorder"
    }

    // Before signing, after the endpoint is set: installed before the fault injector (see
    // `Clients::from_env`), the recorder sees each request before a fault rewrites it.
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Recorded>().is_some() {
            return Ok(());
        }
        cfg.interceptor_state().store_put(Recorded);
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let service = meta.service().to_ascii_lowercase();
        let operation = meta.name().to_string();
        let requests = iam_requests(
            &service,
            &operation,
            context.request(),
            &self.region,
            RECORDED_ACCOUNT,
        );
        self.append(&service, &operation, &requests);
        Ok(())
    }
}

/// The IAM requests behind one SDK request.
pub fn iam_requests(
    service: &str,
    operation: &str,
    request: &HttpRequest,
    region: &str,
    account: &str,
) -> Vec<IamRequest> {
    let body = request
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .unwrap_or(Value::Null);
    match service {
        "s3" => s3_requests(operation, request),
        "dynamodb" => dynamodb_requests(operation, &body, region, account),
        "glue" => glue_requests(operation, &body, region, account),
        other => vec![IamRequest {
            action: format!("{other}:{operation}"),
            resource: "unknown".into(),
        }],
    }
}

fn req(action: &str, resource: String) -> IamRequest {
    IamRequest {
        action: action.into(),
        resource,
    }
}

/// (bucket, key) of a path-style (`/bucket/key`) or virtual-host (`bucket.s3....`) S3 URI.
fn s3_target(uri: &str) -> (String, Option<String>) {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, r)| r);
    let (host, rest) = after_scheme.split_at(after_scheme.find('/').unwrap_or(after_scheme.len()));
    let path = rest.split('?').next().unwrap_or("");
    let path = path.strip_prefix('/').unwrap_or(path);
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let virtual_bucket = host
        .split_once(".s3.")
        .or_else(|| host.split_once(".s3-"))
        .map(|(b, _)| b.to_string());
    let (bucket, key) = match virtual_bucket {
        Some(b) => (b, path.to_string()),
        None => match path.split_once('/') {
            Some((b, k)) => (b.to_string(), k.to_string()),
            None => (path.to_string(), String::new()),
        },
    };
    let key = (!key.is_empty()).then(|| decode(&key));
    (decode(&bucket), key)
}

fn query_has(uri: &str, name: &str) -> bool {
    uri.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    })
}

fn s3_requests(operation: &str, request: &HttpRequest) -> Vec<IamRequest> {
    let uri = request.uri();
    let (bucket, key) = s3_target(uri);
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let object_arn = format!("arn:aws:s3:::{bucket}/{}", key.clone().unwrap_or_default());
    let versioned = query_has(uri, "versionId");
    match operation {
        "GetObject" | "HeadObject" => vec![req(
            if versioned {
                "s3:GetObjectVersion"
            } else {
                "s3:GetObject"
            },
            object_arn,
        )],
        "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
            vec![req("s3:PutObject", object_arn)]
        }
        "CopyObject" | "UploadPartCopy" => {
            let source = request
                .headers()
                .get("x-amz-copy-source")
                .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                .unwrap_or_default();
            let (source, source_versioned) = match source.split_once("?versionId=") {
                Some((s, _)) => (s.to_string(), true),
                None => (source, false),
            };
            vec![
                req(
                    if source_versioned {
                        "s3:GetObjectVersion"
                    } else {
                        "s3:GetObject"
                    },
                    format!("arn:aws:s3:::{}", source.trim_start_matches('/')),
                ),
                req("s3:PutObject", object_arn),
            ]
        }
        "AbortMultipartUpload" => vec![req("s3:AbortMultipartUpload", object_arn)],
        "DeleteObject" => vec![req(
            if versioned {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            },
            object_arn,
        )],
        "DeleteObjects" => {
            let xml = request
                .body()
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            xml.split("<Key>")
                .skip(1)
                .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k))
                .map(|k| req("s3:DeleteObject", format!("{bucket_arn}/{k}")))
                .collect()
        }
        "ListObjectsV2" | "ListObjects" | "HeadBucket" => vec![req("s3:ListBucket", bucket_arn)],
        "ListObjectVersions" => vec![req("s3:ListBucketVersions", bucket_arn)],
        "ListMultipartUploads" => vec![req("s3:ListBucketMultipartUploads", bucket_arn)],
        "ListParts" => vec![req("s3:ListMultipartUploadParts", object_arn)],
        other => vec![req(
            &format!("s3:{other}"),
            if key.is_some() {
                object_arn
            } else {
                bucket_arn
            },
        )],
    }
}

fn dynamodb_requests(
    operation: &str,
    body: &Value,
    region: &str,
    account: &str,
) -> Vec<IamRequest> {
    let table = |name: &str| format!("arn:aws:dynamodb:{region}:{account}:table/{name}");
    let name_of = |v: &Value| v["TableName"].as_str().unwrap_or("").to_string();
    match operation {
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, inner) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "dynamodb:PutItem",
                    "Update" => "dynamodb:UpdateItem",
                    "Delete" => "dynamodb:DeleteItem",
                    "ConditionCheck" => "dynamodb:ConditionCheckItem",
                    "Get" => "dynamodb:GetItem",
                    _ => return None,
                };
                Some(req(action, table(&name_of(inner))))
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| req(&format!("dynamodb:{operation}"), table(name)))
            .collect(),
        "Query" | "Scan" => {
            let mut arn = table(&name_of(body));
            if let Some(index) = body["IndexName"].as_str() {
                arn = format!("{arn}/index/{index}");
            }
            vec![req(&format!("dynamodb:{operation}"), arn)]
        }
        other => vec![req(&format!("dynamodb:{other}"), table(&name_of(body)))],
    }
}

fn glue_requests(operation: &str, body: &Value, region: &str, account: &str) -> Vec<IamRequest> {
    let base = format!("arn:aws:glue:{region}:{account}");
    let action = format!("glue:{operation}");
    let database = body["DatabaseName"]
        .as_str()
        .or_else(|| body["DatabaseInput"]["Name"].as_str())
        .or_else(|| {
            (operation == "GetDatabase")
                .then(|| body["Name"].as_str())
                .flatten()
        });
    let table = body["TableName"]
        .as_str()
        .or_else(|| body["TableInput"]["Name"].as_str())
        .or_else(|| {
            (operation != "GetDatabase")
                .then(|| body["Name"].as_str())
                .flatten()
        })
        .map(str::to_string)
        .or_else(|| (operation == "GetTables").then(|| "*".to_string()));
    let mut out = vec![req(&action, format!("{base}:catalog"))];
    if let Some(db) = database {
        out.push(req(&action, format!("{base}:database/{db}")));
        if let Some(t) = table {
            out.push(req(&action, format!("{base}:table/{db}/{t}")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;

    fn request(method: &str, uri: &str, body: &str) -> HttpRequest {
        let mut r = HttpRequest::new(SdkBody::from(body.to_string()));
        r.set_method(method).unwrap();
        r.set_uri(uri).unwrap();
        r
    }

    fn pairs(v: Vec<IamRequest>) -> Vec<(String, String)> {
        v.into_iter().map(|r| (r.action, r.resource)).collect()
    }

    fn p(a: &str, r: &str) -> (String, String) {
        (a.into(), r.into())
    }

    #[test]
    fn s3_requests_name_the_object_and_the_iam_action() {
        let r = request(
            "HEAD",
            "http://127.0.0.1:5000/raw/a%20b/c.csv?x-id=HeadObject",
            "",
        );
        assert_eq!(
            pairs(iam_requests("s3", "HeadObject", &r, "eu-west-1", "1")),
            [p("s3:GetObject", "arn:aws:s3:::raw/a b/c.csv")]
        );
        let r = request(
            "GET",
            "https://raw.s3.eu-west-1.amazonaws.com/k.csv?versionId=3",
            "",
        );
        assert_eq!(
            pairs(iam_requests("s3", "GetObject", &r, "eu-west-1", "1")),
            [p("s3:GetObjectVersion", "arn:aws:s3:::raw/k.csv")]
        );
        let r = request("GET", "http://127.0.0.1:5000/raw?list-type=2&prefix=a/", "");
        assert_eq!(
            pairs(iam_requests("s3", "ListObjectsV2", &r, "eu-west-1", "1")),
            [p("s3:ListBucket", "arn:aws:s3:::raw")]
        );
        let mut r = request("PUT", "http://127.0.0.1:5000/cur/t/x.parquet", "");
        r.headers_mut()
            .insert("x-amz-copy-source", "raw/a%20b.parquet");
        assert_eq!(
            pairs(iam_requests("s3", "CopyObject", &r, "eu-west-1", "1")),
            [
                p("s3:GetObject", "arn:aws:s3:::raw/a b.parquet"),
                p("s3:PutObject", "arn:aws:s3:::cur/t/x.parquet")
            ]
        );
    }

    #[test]
    fn dynamodb_transactions_are_one_request_per_item_and_queries_name_the_index() {
        let body = r#"{"TransactItems":[{"Put":{"TableName":"cat"}},{"ConditionCheck":{"TableName":"led"}}]}"#;
        let r = request("POST", "http://127.0.0.1:5000/", body);
        assert_eq!(
            pairs(iam_requests("dynamodb", "TransactWriteItems", &r, "r", "1")),
            [
                p("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/cat"),
                p(
                    "dynamodb:ConditionCheckItem",
                    "arn:aws:dynamodb:r:1:table/led"
                )
            ]
        );
        let r = request("POST", "/", r#"{"TableName":"cat","IndexName":"gsi1"}"#);
        assert_eq!(
            pairs(iam_requests("dynamodb", "Query", &r, "r", "1")),
            [p(
                "dynamodb:Query",
                "arn:aws:dynamodb:r:1:table/cat/index/gsi1"
            )]
        );
    }

    #[test]
    fn glue_table_operations_name_catalog_database_and_table() {
        let r = request("POST", "/", r#"{"DatabaseName":"lake","Name":"t"}"#);
        assert_eq!(
            pairs(iam_requests("glue", "GetTable", &r, "r", "1")),
            [
                p("glue:GetTable", "arn:aws:glue:r:1:catalog"),
                p("glue:GetTable", "arn:aws:glue:r:1:database/lake"),
                p("glue:GetTable", "arn:aws:glue:r:1:table/lake/t")
            ]
        );
        let r = request(
            "POST",
            "/",
            r#"{"DatabaseName":"lake","TableInput":{"Name":"u"}}"#,
        );
        assert_eq!(
            pairs(iam_requests("glue", "CreateTable", &r, "r", "1"))[2],
            p("glue:CreateTable", "arn:aws:glue:r:1:table/lake/u")
        );
    }
}
