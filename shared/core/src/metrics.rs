//! CloudWatch metrics in the embedded metric format (EMF): one JSON line on stdout per unit of
//! work (a landed object, a registered object, a Kinesis or Firehose batch, a compaction run, an
//! API request), which CloudWatch Logs turns into metrics without any API call.
//!
//! Invariants:
//! - Namespace [`NAMESPACE`]; every line carries the dimension sets `[Function]` and, when the
//!   work belongs to a dataset, `[Function, Dataset]`; the metric names are the constants below.
//! - Nothing is written until [`configure`] names the function (the Lambda wiring does, once per
//!   container, unless `TRIBUTARY_METRICS=off`): libraries and tests print nothing.
//! - A line is written whole, with one `write` of the stdout lock, so lines never interleave.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every Tributary metric.
pub const NAMESPACE: &str = "Tributary";

/// Objects handled (landed, sequenced, registered), whatever their outcome.
pub const OBJECTS: &str = "Objects";
/// Rows (or stream records) read.
pub const ROWS_IN: &str = "RowsIn";
/// Rows written to a zone.
pub const ROWS_WRITTEN: &str = "RowsWritten";
/// Rows (or records) rejected to quarantine (or answered `ProcessingFailed`).
pub const ROWS_REJECTED: &str = "RowsRejected";
/// Records dropped by a drop filter.
pub const ROWS_DROPPED: &str = "RowsDropped";
/// Whole files moved to quarantine.
pub const FILES_QUARANTINED: &str = "FilesQuarantined";
/// Bytes read from the source (objects, records).
pub const BYTES_IN: &str = "BytesIn";
/// Bytes written to a zone.
pub const BYTES_WRITTEN: &str = "BytesWritten";
/// Glue partitions created.
pub const PARTITIONS_CREATED: &str = "PartitionsCreated";
/// Seconds from the source object's creation (or the record's arrival) to its registration.
pub const END_TO_END_LAG: &str = "EndToEndLagSeconds";
/// Stream records Lambda is asked to retry.
pub const RECORDS_RETRIED: &str = "RecordsRetried";
/// Compaction runs that succeeded (published or unchanged); the compaction-lag alarm's metric.
pub const COMPACTIONS_SUCCEEDED: &str = "CompactionsSucceeded";
/// API requests answered, and those answered with a 5xx.
pub const REQUESTS: &str = "Requests";
pub const SERVER_ERRORS: &str = "ServerErrors";
/// Phase durations: `<Phase>Ms` (`ProcessMs`, `RegisterMs`, `IngestMs`, `TransformMs`,
/// `CompactMs`, `RequestMs`).
pub fn phase_ms(phase: &str) -> String {
    format!("{phase}Ms")
}

/// CloudWatch units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One EMF document: the values of one unit of work.
#[derive(Debug, Clone, PartialEq)]
pub struct Emf {
    function: String,
    dataset: Option<String>,
    timestamp_ms: i64,
    values: Vec<(String, Unit, f64)>,
}

impl Emf {
    pub fn new(function: &str, dataset: Option<&str>, timestamp_ms: i64) -> Self {
        Self {
            function: function.into(),
            dataset: dataset.filter(|d| !d.is_empty()).map(str::to_string),
            timestamp_ms,
            values: Vec::new(),
        }
    }

    /// Adds a value (a later value of the same name replaces it).
    pub fn put(&mut self, name: &str, unit: Unit, value: f64) -> &mut Self {
        self.values.retain(|(n, _, _)| n != name);
        self.values.push((name.to_string(), unit, value));
        self
    }

    pub fn count(&mut self, name: &str, value: u64) -> &mut Self {
        self.put(name, Unit::Count, value as f64)
    }

    pub fn bytes(&mut self, name: &str, value: u64) -> &mut Self {
        self.put(name, Unit::Bytes, value as f64)
    }

    pub fn millis(&mut self, phase: &str, value: u128) -> &mut Self {
        self.put(&phase_ms(phase), Unit::Milliseconds, value as f64)
    }

    pub fn seconds(&mut self, name: &str, value: f64) -> &mut Self {
        self.put(name, Unit::Seconds, value)
    }

    /// The EMF document (see the module docs).
    pub fn to_json(&self) -> Value {
        let mut dimensions = vec![json!(["Function"])];
        if self.dataset.is_some() {
            dimensions.push(json!(["Function", "Dataset"]));
        }
        let definitions: Vec<Value> = self
            .values
            .iter()
            .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit.as_str() }))
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": dimensions,
                    "Metrics": definitions,
                }],
            }),
        );
        doc.insert("Function".into(), json!(self.function));
        if let Some(d) = &self.dataset {
            doc.insert("Dataset".into(), json!(d));
        }
        for (name, _, value) in &self.values {
            doc.insert(name.clone(), json!(value));
        }
        Value::Object(doc)
    }
}

/// The function metrics are written for; unset, nothing is written.
static FUNCTION: OnceLock<String> = OnceLock::new();

/// Turns emission on for `function` (once per process; later calls are ignored).
pub fn configure(function: &str) {
    let _ = FUNCTION.set(function.to_string());
}

/// Writes one EMF line for `dataset`, filled by `fill`, if emission is on.
pub fn emit(dataset: Option<&str>, fill: impl FnOnce(&mut Emf)) {
    let Some(function) = FUNCTION.get() else {
        return;
    };
    let mut emf = Emf::new(function, dataset, chrono::Utc::now().timestamp_millis());
    fill(&mut emf);
    let mut line = emf.to_json().to_string();
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_has_the_namespace_dimension_sets_and_values() {
        let mut e = Emf::new("s3-landing", Some("sales.orders"), 1_700_000_000_000);
        e.count(ROWS_IN, 30)
            .count(ROWS_WRITTEN, 29)
            .bytes(BYTES_WRITTEN, 4096)
            .millis("Process", 12)
            .seconds(END_TO_END_LAG, 1.5)
            .count(ROWS_IN, 31);
        assert_eq!(
            e.to_json(),
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Tributary",
                        "Dimensions": [["Function"], ["Function", "Dataset"]],
                        "Metrics": [
                            { "Name": "RowsWritten", "Unit": "Count" },
                            { "Name": "BytesWritten", "Unit": "Bytes" },
                            { "Name": "ProcessMs", "Unit": "Milliseconds" },
                            { "Name": "EndToEndLagSeconds", "Unit": "Seconds" },
                            { "Name": "RowsIn", "Unit": "Count" },
                        ],
                    }],
                },
                "Function": "s3-landing",
                "Dataset": "sales.orders",
                "RowsWritten": 29.0,
                "BytesWritten": 4096.0,
                "ProcessMs": 12.0,
                "EndToEndLagSeconds": 1.5,
                "RowsIn": 31.0,
            })
        );
    }

    #[test]
    fn without_a_dataset_only_the_function_dimension_is_declared() {
        let mut e = Emf::new("search-api", None, 1);
        e.count(REQUESTS, 1);
        let doc = e.to_json();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"]])
        );
        assert!(doc.get("Dataset").is_none());
        assert_eq!(Emf::new("f", Some(""), 1).to_json().get("Dataset"), None);
    }
}
