//! Quarantine: what a function refuses goes to the quarantine bucket with one JSON report beside
//! it, in one shape ([`QuarantineReport`]) whichever function wrote it: s3-landing and
//! cdc-sequencer (whole files, or the rejected rows of a converted file), partition-register
//! (zone objects it moves out) and stream-ingest (rejected Kinesis records).
//!
//! Layout: every quarantined item has a base key `<base>` (chosen by the function, starting with
//! the dataset id or `_unrouted`):
//! - `<base>`: a copy of the whole object, when a whole object is quarantined;
//! - `<base>.rejected.<ext>`: the rejected rows or records ([`QuarantineWriter::rejected_key`]);
//! - `<base>.report.json`: the report ([`QuarantineWriter::report_key`]).
//!
//! Invariants: the report is written last, after what it describes is durable, so a report never
//! points at a missing object; the report names what it describes (`quarantined_object`,
//! `rejected_rows`) as `s3://` URLs; in every report `rows_read = rows_written + rows_rejected`;
//! at most [`MAX_REPORTED_REJECTIONS`] sample rejections are listed; `created_at` comes from the
//! writer's clock.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::storage::{ObjectStore, StorageError};

/// Row rejections kept verbatim in a report (all are counted).
pub const MAX_REPORTED_REJECTIONS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowRejection {
    pub line: u64,
    pub reason: String,
}

/// The function that wrote a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    S3Landing,
    CdcSequencer,
    PartitionRegister,
    StreamIngest,
}

/// What happened to the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// The whole object (or every record described) is in quarantine; nothing was published.
    Quarantined,
    /// The file was converted; the rejected rows are in quarantine.
    Converted,
    /// The DMS file was sequenced; the rejected rows are in quarantine.
    Sequenced,
}

/// Where the quarantined data came from. S3 sources give `bucket`, `key` and, when known,
/// `version`, `etag`, `size`, `last_modified`; Kinesis sources give `stream`, `shard`,
/// `event_source_arn` and the sequence numbers of the first and last record. Fields that do not
/// apply are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_sequence_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sequence_number: Option<String>,
}

impl Source {
    /// An S3 object by bucket and key.
    pub fn object(bucket: &str, key: &str) -> Self {
        Self {
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            ..Self::default()
        }
    }
}

/// One sample rejection: the file's line (files) or the record's sequence number (streams), its
/// category when known, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub reason: String,
}

impl From<&RowRejection> for Rejection {
    fn from(r: &RowRejection) -> Self {
        Self {
            line: Some(r.line),
            sequence_number: None,
            category: None,
            reason: r.reason.clone(),
        }
    }
}

/// A file column as the table would have taken it (name, Glue type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

/// The report beside everything in quarantine. Every field is always present (`null`, `0` or
/// empty when it does not apply), except the inapplicable parts of `source` and of each
/// rejection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineReport {
    pub function: Function,
    pub dataset: Option<String>,
    /// The Glue table the data was meant for (partition-register).
    pub table: Option<String>,
    pub source: Source,
    pub status: ReportStatus,
    pub reason: Option<String>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    /// `s3://` URL of the copy of the whole object.
    pub quarantined_object: Option<String>,
    /// `s3://` URL of the rejected rows or records.
    pub rejected_rows: Option<String>,
    pub rejections_by_reason: BTreeMap<String, u64>,
    /// The first [`MAX_REPORTED_REJECTIONS`] rejections.
    pub rejections: Vec<Rejection>,
    /// The file's columns, when its schema is why it was refused (partition-register).
    pub file_columns: Vec<FileColumn>,
    pub warnings: Vec<String>,
    /// `s3://` URLs of what was published from the source.
    pub outputs: Vec<String>,
    /// When the report was written (RFC 3339 UTC, milliseconds).
    pub created_at: String,
}

impl QuarantineReport {
    /// A report with no counts, rejections or locations yet.
    pub fn new(function: Function, status: ReportStatus, source: Source) -> Self {
        Self {
            function,
            dataset: None,
            table: None,
            source,
            status,
            reason: None,
            rows_read: 0,
            rows_written: 0,
            rows_rejected: 0,
            quarantined_object: None,
            rejected_rows: None,
            rejections_by_reason: BTreeMap::new(),
            rejections: Vec::new(),
            file_columns: Vec::new(),
            warnings: Vec::new(),
            outputs: Vec::new(),
            created_at: String::new(),
        }
    }
}

/// What a report describes, put beside it.
pub enum Held<'a> {
    /// A whole object, copied (server-side) to the base key.
    Object { bucket: &'a str, key: &'a str },
    /// Rejected rows or records, put at `<base>.rejected.<ext>`.
    Rows {
        ext: &'a str,
        body: Bytes,
        content_type: &'a str,
    },
    /// Rejected rows a streaming sink has already written, at this key.
    RowsWritten(&'a str),
    /// Nothing: the report alone (e.g. warnings about a converted file).
    Nothing,
}

/// Writes quarantined data and its report to the quarantine bucket.
pub struct QuarantineWriter<'a, S> {
    store: &'a S,
    bucket: &'a str,
    clock: &'a dyn Clock,
}

impl<'a, S: ObjectStore> QuarantineWriter<'a, S> {
    pub fn new(store: &'a S, bucket: &'a str, clock: &'a dyn Clock) -> Self {
        Self {
            store,
            bucket,
            clock,
        }
    }

    /// The key of the report of `base`.
    pub fn report_key(base: &str) -> String {
        format!("{base}.report.json")
    }

    /// The key of the rejected rows of `base`, with the extension of their format.
    pub fn rejected_key(base: &str, ext: &str) -> String {
        format!("{base}.rejected.{ext}")
    }

    /// `s3://<quarantine bucket>/<key>`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Puts what `held` names, then `report` (its location fields and `created_at` filled in)
    /// at `<base>.report.json`. Returns the keys written or named, the report's last.
    pub async fn write(
        &self,
        base: &str,
        held: Held<'_>,
        mut report: QuarantineReport,
    ) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::with_capacity(2);
        match held {
            Held::Object { bucket, key } => {
                self.store.copy(bucket, key, self.bucket, base).await?;
                report.quarantined_object = Some(self.url(base));
                keys.push(base.to_string());
            }
            Held::Rows {
                ext,
                body,
                content_type,
            } => {
                let key = Self::rejected_key(base, ext);
                self.store
                    .put(self.bucket, &key, body, content_type)
                    .await?;
                report.rejected_rows = Some(self.url(&key));
                keys.push(key);
            }
            Held::RowsWritten(key) => {
                report.rejected_rows = Some(self.url(key));
                keys.push(key.to_string());
            }
            Held::Nothing => {}
        }
        report.created_at = self.clock.now_rfc3339();
        let report_key = Self::report_key(base);
        let body = Bytes::from(serde_json::to_vec_pretty(&report).expect("reports serialise"));
        self.store
            .put(self.bucket, &report_key, body, "application/json")
            .await?;
        keys.push(report_key);
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shape_is_stable() {
        let mut r = QuarantineReport::new(
            Function::S3Landing,
            ReportStatus::Quarantined,
            Source::object("landing", "hr/a.csv"),
        );
        r.dataset = Some("hr.employees".into());
        r.reason = Some("the object is empty".into());
        let v = serde_json::to_value(&r).unwrap();
        let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "created_at",
                "dataset",
                "file_columns",
                "function",
                "outputs",
                "quarantined_object",
                "reason",
                "rejected_rows",
                "rejections",
                "rejections_by_reason",
                "rows_read",
                "rows_rejected",
                "rows_written",
                "source",
                "status",
                "table",
                "warnings",
            ]
        );
        assert_eq!(v["function"], "s3-landing");
        assert_eq!(v["status"], "quarantined");
        assert_eq!(
            v["source"],
            json!({ "bucket": "landing", "key": "hr/a.csv" })
        );
        let back: QuarantineReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn keys_sit_beside_the_base() {
        assert_eq!(
            QuarantineWriter::<crate::testing::MemStore>::report_key("d/k.csv"),
            "d/k.csv.report.json"
        );
        assert_eq!(
            QuarantineWriter::<crate::testing::MemStore>::rejected_key("d/k.csv", "jsonl"),
            "d/k.csv.rejected.jsonl"
        );
    }
}
