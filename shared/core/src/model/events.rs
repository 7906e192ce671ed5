//! The event shapes that carry "an object was created" to Tributary, reduced to [`ObjectRef`]s.
//!
//! Accepted: S3 notifications delivered directly, S3 notifications wrapped in SQS messages
//! (answered with `batchItemFailures`), EventBridge `Object Created` events, and a Step Functions
//! task input `{"bucket": "...", "key": "..."}`.
//!
//! S3 notification keys are URL-encoded (`+` for space, `%XX` for other bytes) and are decoded
//! here; EventBridge and task-input keys are plain.

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

/// One object to process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
}

/// What an invocation carried.
#[derive(Debug)]
pub enum Delivery {
    /// Direct S3 notification(s), EventBridge or task input.
    Objects(Vec<ObjectRef>),
    /// SQS messages, each holding S3 notification records (or an error for an unreadable body).
    Sqs(Vec<SqsMessage>),
}

#[derive(Debug)]
pub struct SqsMessage {
    pub message_id: String,
    pub objects: Result<Vec<ObjectRef>, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("unrecognised event: {0}")]
    Unrecognised(String),
    #[error("malformed {kind} event: {reason}")]
    Malformed { kind: &'static str, reason: String },
}

/// Answers an SQS batch the way Lambda's partial-batch contract wants: `process` runs each
/// readable message's objects; a message that is unreadable or whose processing failed is listed
/// in `batchItemFailures` (left for retry and the DLQ), every other message is deleted.
pub async fn batch_item_failures<F, E>(messages: Vec<SqsMessage>, mut process: F) -> Value
where
    F: AsyncFnMut(Vec<ObjectRef>) -> Result<(), E>,
    E: std::fmt::Display + crate::error::Classify,
{
    let mut failures = Vec::new();
    for m in messages {
        let ok = match m.objects {
            Err(reason) => {
                tracing::error!(message_id = %m.message_id, %reason, "unreadable SQS message; left for retry/DLQ");
                false
            }
            Ok(objects) => match process(objects).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(message_id = %m.message_id, error = %e, kind = ?e.kind(), "message failed");
                    false
                }
            },
        };
        if !ok {
            failures.push(serde_json::json!({ "itemIdentifier": m.message_id }));
        }
    }
    serde_json::json!({ "batchItemFailures": failures })
}

/// Decodes an S3 notification key: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub fn decode_s3_key(raw: &str) -> Result<String, String> {
    decode_escapes(&raw.replace('+', " ")).map_err(|e| format!("{e} in key {raw:?}"))
}

/// Decodes `%XX` escapes strictly (the `percent-encoding` crate passes malformed escapes through;
/// here every `%` must start two hex digits) and requires UTF-8. `+` is left as it is. The error
/// names the first bad escape.
pub fn decode_escapes(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    if let Some(i) = (0..b.len()).find(|&i| {
        b[i] == b'%'
            && !(b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
    }) {
        return Err(if b.len() > i + 2 {
            format!("bad escape {}", String::from_utf8_lossy(&b[i..i + 3]))
        } else {
            "truncated escape".to_string()
        });
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "not UTF-8 once decoded".to_string())
}

/// Reads the object records of an S3 notification. Parsed leniently (only the fields used are
/// required), because producers and emulators omit optional parts such as `userIdentity`.
fn from_s3_records(ev: &Value) -> Result<Vec<ObjectRef>, String> {
    let records = ev
        .get("Records")
        .and_then(Value::as_array)
        .ok_or("no Records array")?;
    records
        .iter()
        .filter(|r| str_at(r, &["eventName"]).is_none_or(|n| n.starts_with("ObjectCreated")))
        .map(|r| {
            let bucket =
                str_at(r, &["s3", "bucket", "name"]).ok_or("record without s3.bucket.name")?;
            let raw = str_at(r, &["s3", "object", "key"]).ok_or("record without s3.object.key")?;
            Ok(ObjectRef {
                bucket: bucket.to_string(),
                key: decode_s3_key(raw)?,
                version_id: str_at(r, &["s3", "object", "versionId"])
                    .filter(|v| !v.is_empty() && *v != "null")
                    .map(str::to_string),
                etag: str_at(r, &["s3", "object", "eTag"])
                    .map(|e| e.trim_matches('"').to_string())
                    .filter(|e| !e.is_empty()),
            })
        })
        .collect()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, p| v.get(p))
        .and_then(Value::as_str)
}

/// Classifies and decodes an invocation payload. An object named by an empty bucket or key is
/// malformed (bad input), whichever shape carried it: no S3 object has an empty key.
pub fn parse(event: &Value) -> Result<Delivery, EventError> {
    let delivery = parse_shape(event)?;
    if let Delivery::Objects(objects) = &delivery
        && let Some(o) = objects
            .iter()
            .find(|o| o.bucket.is_empty() || o.key.is_empty())
    {
        return Err(EventError::Malformed {
            kind: "object reference",
            reason: format!(
                "empty {} (bucket {:?}, key {:?})",
                if o.bucket.is_empty() { "bucket" } else { "key" },
                o.bucket,
                o.key
            ),
        });
    }
    Ok(delivery)
}

fn parse_shape(event: &Value) -> Result<Delivery, EventError> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str);
        return match source {
            Some("aws:sqs") => {
                let sqs: SqsEvent =
                    serde_json::from_value(event.clone()).map_err(|e| EventError::Malformed {
                        kind: "SQS",
                        reason: e.to_string(),
                    })?;
                Ok(Delivery::Sqs(
                    sqs.records
                        .into_iter()
                        .map(|m| SqsMessage {
                            message_id: m.message_id.unwrap_or_default(),
                            objects: parse_sqs_body(m.body.as_deref().unwrap_or_default()),
                        })
                        .collect(),
                ))
            }
            Some("aws:s3") | None if !records.is_empty() || source.is_some() => {
                from_s3_records(event)
                    .map(Delivery::Objects)
                    .map_err(|reason| EventError::Malformed { kind: "S3", reason })
            }
            Some(other) => Err(EventError::Unrecognised(format!("records from {other}"))),
            None => Ok(Delivery::Objects(vec![])),
        };
    }
    if event.get("detail-type").and_then(Value::as_str) == Some("Object Created") {
        let detail = event.get("detail").ok_or(EventError::Malformed {
            kind: "EventBridge",
            reason: "no detail".into(),
        })?;
        let bucket = str_at(detail, &["bucket", "name"]);
        let key = str_at(detail, &["object", "key"]);
        return match (bucket, key) {
            (Some(b), Some(k)) => Ok(Delivery::Objects(vec![ObjectRef {
                bucket: b.into(),
                key: k.into(),
                version_id: str_at(detail, &["object", "version-id"]).map(str::to_string),
                etag: str_at(detail, &["object", "etag"]).map(str::to_string),
            }])),
            _ => Err(EventError::Malformed {
                kind: "EventBridge",
                reason: "detail.bucket.name and detail.object.key are required".into(),
            }),
        };
    }
    if let (Some(b), Some(k)) = (str_at(event, &["bucket"]), str_at(event, &["key"])) {
        // Objects are read at their current version; a replay of an older one would silently
        // process the latest instead, so asking for one is refused.
        if event.get("version_id").is_some() {
            return Err(EventError::Malformed {
                kind: "task input",
                reason: "version_id is not supported: the object's current version is processed; \
                         restore the old version (copy it over the key) and replay without version_id"
                    .into(),
            });
        }
        return Ok(Delivery::Objects(vec![ObjectRef {
            bucket: b.into(),
            key: k.into(),
            version_id: None,
            etag: None,
        }]));
    }
    Err(EventError::Unrecognised(
        "expected S3, SQS, EventBridge Object Created or {bucket, key}".into(),
    ))
}

/// An SQS body holds an S3 notification; S3's `s3:TestEvent` holds no object and is skipped.
fn parse_sqs_body(body: &str) -> Result<Vec<ObjectRef>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("body is not JSON: {e}"))?;
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(vec![]);
    }
    // S3 → SNS → SQS wraps the notification once more.
    if let Some(inner) = v.get("Message").and_then(Value::as_str) {
        return parse_sqs_body(inner);
    }
    from_s3_records(&v).map_err(|e| format!("body is not an S3 notification: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_input_refuses_a_version_id() {
        let ok = parse(&serde_json::json!({ "bucket": "b", "key": "k" })).unwrap();
        assert!(matches!(ok, Delivery::Objects(o) if o[0].version_id.is_none()));
        let err = parse(&serde_json::json!({ "bucket": "b", "key": "k", "version_id": "3" }))
            .unwrap_err();
        assert!(
            err.to_string().contains("version_id is not supported"),
            "{err}"
        );
    }

    #[test]
    fn decodes_keys() {
        assert_eq!(decode_s3_key("a+b%2Bc%C3%A9.csv").unwrap(), "a b+cé.csv");
        assert!(decode_s3_key("bad%zz").is_err());
        assert!(decode_s3_key("bad%4").is_err());
        assert!(decode_s3_key("%FF").is_err());
        assert!(decode_s3_key("bad%+1").is_err());
        assert!(decode_s3_key("%e9%").is_err());
        assert_eq!(decode_s3_key("plain/key.csv").unwrap(), "plain/key.csv");
        assert_eq!(decode_escapes("a+b%2f%E2%82%AC").unwrap(), "a+b/€");
        assert_eq!(decode_escapes("x%4").unwrap_err(), "truncated escape");
        assert_eq!(decode_escapes("x%zz1").unwrap_err(), "bad escape %zz");
    }

    #[test]
    fn empty_bucket_or_key_is_malformed() {
        for event in [
            serde_json::json!({"bucket": "b", "key": ""}),
            serde_json::json!({"bucket": "", "key": "k.csv"}),
            serde_json::json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "b"}, "object": {"key": ""}}}]}),
        ] {
            let err = parse(&event).unwrap_err();
            assert!(
                matches!(err, EventError::Malformed { .. }) && err.to_string().contains("empty"),
                "{err}"
            );
        }
        assert!(parse(&serde_json::json!({"bucket": "b", "key": "k.csv"})).is_ok());
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        )
        .unwrap()
    }

    #[test]
    fn fixtures_parse() {
        let Delivery::Objects(o) = parse(&fixture("s3-put.json")).unwrap() else {
            panic!("direct")
        };
        assert_eq!(o[0].key, "sales/orders/2024/orders 2024-01-15.csv");
        let Delivery::Sqs(m) = parse(&fixture("sqs-s3-put.json")).unwrap() else {
            panic!("sqs")
        };
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].objects.as_ref().unwrap()[0].key,
            "hr/employees/employees.csv"
        );
        assert!(m[1].objects.as_ref().unwrap().is_empty(), "test event");
        let Delivery::Objects(o) = parse(&fixture("eventbridge-object-created.json")).unwrap()
        else {
            panic!("eb")
        };
        assert_eq!(o[0].key, "web/clicks/clicks-2024-01-15.jsonl.gz");
        let Delivery::Objects(o) = parse(&serde_json::json!({"bucket":"b","key":"k"})).unwrap()
        else {
            panic!("task")
        };
        assert_eq!(o[0].bucket, "b");
        assert!(parse(&serde_json::json!({"hello": 1})).is_err());
    }
}
