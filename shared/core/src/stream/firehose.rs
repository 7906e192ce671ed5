//! The Kinesis Data Firehose data-transformation contract (`firehose-transform`).
//!
//! Firehose hands the function a batch of records (`recordId`, base64 `data`, arrival time; with a
//! Kinesis stream as source also `kinesisRecordMetadata`) and expects every record back with a
//! `result` and base64 `data`. Per record ([`crate::stream::record`] does the checking):
//!
//! | verdict | `result` | `data` | `metadata.partitionKeys` |
//! | --- | --- | --- | --- |
//! | accepted | `Ok` | the normalised JSON line (ends in `\n`) | `dataset`, `year`, `month`, `day`, `hour` |
//! | a drop filter matched | `Dropped` | empty | none |
//! | invalid (bad base64, not JSON, schema violation, too large, empty) | `ProcessingFailed` | the original data, verbatim | none |
//!
//! Firehose delivers `ProcessingFailed` records to the destination's error prefix
//! (`processing-failed/`), so nothing is lost; their reasons are logged (the first
//! [`MAX_LOGGED_FAILURES`] one per line, all of them counted by category in the batch summary).
//!
//! Invariants:
//! - **The contract**: every input `recordId` comes back exactly once, in input order, with one of
//!   the three results and valid base64 `data` (the original data is echoed only when it is
//!   base64).
//! - **Size guard**: the response never exceeds [`MAX_RESPONSE_BYTES`] (Lambda's 6 MB response
//!   limit). Each record's response entry is sized exactly before it is written ([`entry_len`]);
//!   the minimal entry of every record (result `ProcessingFailed`, empty data) is reserved up
//!   front, and a record whose full entry no longer fits is answered with that minimal entry and
//!   the reason `response_size_limit`, instead of the whole batch failing. A batch whose minimal
//!   entries alone cannot fit (impossible for an event Lambda accepted, which is itself at most
//!   6 MB) fails as [`FirehoseError::BatchTooLarge`].
//! - **Deterministic**: the response depends only on the event, the schema and the settings.
//!
//! Performance: a batch is up to 6 MB of JSON, so the handler takes the request body as raw JSON,
//! reads it without copying the records ([`FirehoseEvent`] borrows `recordId` and `data`), and
//! writes the response text itself, base64-encoding each record straight into it, into one buffer
//! of the limit's size. [`transform_raw`] is the whole handler body (the benchmark calls it).
//!
//! The event type mirrors `aws_lambda_events`' `KinesisFirehoseEvent` (and uses its
//! `KinesisFirehoseRecordMetadata`), except that `data` stays base64 text until the record is
//! checked: that crate decodes every record while deserialising, so one bad record would fail the
//! whole batch. A contract test reads our responses with its `KinesisFirehoseResponse`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use aws_lambda_events::event::firehose::KinesisFirehoseRecordMetadata;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::catalog::DatasetCatalog;
use crate::config::StreamConfig;
use crate::error::{Classify, ErrorKind};
use crate::format::jsonrec;
use crate::stream::record::{
    HourKey, MAX_RECORD_BYTES, RecordSpec, Reject, Scratch, SpecCache, StreamError, Verdict,
};

/// Lambda's limit on a synchronous invocation's response: 6 MB.
pub const MAX_RESPONSE_BYTES: usize = 6_291_456;
/// Failed records logged one per line in an invocation (all are counted in the summary).
pub const MAX_LOGGED_FAILURES: usize = 100;

/// The transformation invocation's payload; record ids and data are borrowed from the request
/// body (copied only if they contain JSON escapes, which base64 never does).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEvent<'a> {
    #[serde(default)]
    pub invocation_id: Option<String>,
    #[serde(default)]
    pub delivery_stream_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_kinesis_stream_arn: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(borrow)]
    pub records: Vec<FirehoseRecord<'a>>,
}

/// One record as Firehose sends it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord<'a> {
    #[serde(borrow)]
    pub record_id: Cow<'a, str>,
    /// When Firehose received the record, in milliseconds since the epoch.
    pub approximate_arrival_timestamp: i64,
    /// The record, base64-encoded (decoded per record, so a bad one fails alone).
    #[serde(borrow)]
    pub data: Cow<'a, str>,
    /// Present when the delivery stream reads a Kinesis data stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_record_metadata: Option<KinesisFirehoseRecordMetadata>,
}

impl FirehoseRecord<'_> {
    /// The fallback event time, in µs: when the record entered the Kinesis stream if it came
    /// through one (closest to when it was produced), else when Firehose received it.
    pub fn arrival_us(&self) -> i64 {
        match &self.kinesis_record_metadata {
            Some(m) => m.approximate_arrival_timestamp.timestamp_micros(),
            None => self.approximate_arrival_timestamp.saturating_mul(1000),
        }
    }
}

/// A record's transformation result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecordResult {
    Ok,
    Dropped,
    ProcessingFailed,
}

impl RecordResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordResult::Ok => "Ok",
            RecordResult::Dropped => "Dropped",
            RecordResult::ProcessingFailed => "ProcessingFailed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FirehoseError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("not a Firehose transformation event: {0}")]
    Event(String),
    #[error(
        "a batch of {records} records cannot be answered within {max} bytes even with every record \
         ProcessingFailed and empty (that needs {needed} bytes)"
    )]
    BatchTooLarge {
        records: usize,
        needed: usize,
        max: usize,
    },
}

impl Classify for FirehoseError {
    fn kind(&self) -> ErrorKind {
        match self {
            FirehoseError::Stream(e) => e.kind(),
            FirehoseError::Event(_) | FirehoseError::BatchTooLarge { .. } => ErrorKind::BadInput,
        }
    }
}

/// What one batch came to. Counts reconcile: `records == ok + dropped + failed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TransformReport {
    pub dataset: String,
    pub records: u64,
    pub ok: u64,
    pub dropped: u64,
    pub failed: u64,
    /// Failed records by category (`invalid_base64`, `invalid_json`, `missing_field`,
    /// `wrong_type`, `too_large`, `empty`, `response_size_limit`, ...).
    pub failed_by_reason: BTreeMap<&'static str, u64>,
    /// Accepted records partitioned by their own time field / by their arrival time.
    pub time_from_field: u64,
    pub time_from_arrival: u64,
    /// Decoded bytes in, and normalised bytes out for `Ok` records.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Size of the response.
    pub response_bytes: u64,
    /// The first [`MAX_LOGGED_FAILURES`] failures: record id and why.
    #[serde(skip)]
    pub failures: Vec<(String, Reject)>,
}

impl TransformReport {
    fn fail(&mut self, record_id: &str, reject: Reject) {
        let Reject { category, reason } = reject;
        self.fail_with(record_id, category, || reason);
    }

    fn fail_with(
        &mut self,
        record_id: &str,
        category: &'static str,
        reason: impl FnOnce() -> String,
    ) {
        self.failed += 1;
        *self.failed_by_reason.entry(category).or_default() += 1;
        if self.failures.len() < MAX_LOGGED_FAILURES {
            self.failures
                .push((record_id.to_string(), Reject::new(category, reason())));
        }
    }
}

// The fixed parts of a response entry, in the order they are written.
const ENTRY_ID: &str = "{\"recordId\":";
const ENTRY_RESULT: &str = ",\"result\":\"";
const ENTRY_DATA: &str = "\",\"data\":\"";
const ENTRY_END: &str = "\"}";
const META_DATASET: &str = ",\"metadata\":{\"partitionKeys\":{\"dataset\":";
const META_REST: &str = ",\"year\":\"\",\"month\":\"\",\"day\":\"\",\"hour\":\"\"}}";
const ENVELOPE_OPEN: &str = "{\"records\":[";
const ENVELOPE_CLOSE: &str = "]}";

/// The size of a response entry: an id whose JSON string is `id_len` bytes, `data_len` bytes of
/// base64 and, for `Ok` records, metadata of `meta_len` bytes ([`meta_len`]).
pub fn entry_len(id_len: usize, result: RecordResult, data_len: usize, meta_len: usize) -> usize {
    ENTRY_ID.len()
        + id_len
        + ENTRY_RESULT.len()
        + result.as_str().len()
        + ENTRY_DATA.len()
        + data_len
        + ENTRY_END.len()
        + meta_len
}

/// The size of an entry's metadata, for a dataset whose JSON string is `dataset_len` bytes.
pub fn meta_len(dataset_len: usize, hour: &HourKey) -> usize {
    META_DATASET.len() + dataset_len + META_REST.len() + hour.year_len() + 6
}

/// Writes one response entry (the exact layout [`entry_len`] measures). `plain_id`: the id needs
/// no JSON escapes.
fn write_entry(
    out: &mut String,
    (id, plain_id): (&str, bool),
    result: RecordResult,
    data: &dyn Fn(&mut String),
    meta: Option<(&str, &HourKey)>,
) {
    out.push_str(ENTRY_ID);
    if plain_id {
        out.push('"');
        out.push_str(id);
        out.push('"');
    } else {
        jsonrec::push_str(out, id);
    }
    out.push_str(ENTRY_RESULT);
    out.push_str(result.as_str());
    out.push_str(ENTRY_DATA);
    data(out);
    out.push('"');
    if let Some((dataset_json, hour)) = meta {
        out.push_str(META_DATASET);
        out.push_str(dataset_json);
        let mut digits = [0u8; 10];
        match hour.fixed_digits(&mut digits) {
            Some(d) => {
                // One template, digits patched in place: this runs for every `Ok` record.
                const TEMPLATE: &[u8; 52] =
                    b",\"year\":\"YYYY\",\"month\":\"MM\",\"day\":\"DD\",\"hour\":\"HH\"}}";
                let mut buf = *TEMPLATE;
                let d = d.as_bytes();
                buf[9..13].copy_from_slice(&d[..4]);
                buf[24..26].copy_from_slice(&d[4..6]);
                buf[35..37].copy_from_slice(&d[6..8]);
                buf[47..49].copy_from_slice(&d[8..10]);
                out.push_str(std::str::from_utf8(&buf).expect("ASCII"));
            }
            None => {
                for (key, value) in crate::stream::record::PARTITION_KEYS
                    .iter()
                    .zip(hour.values())
                {
                    out.push_str(",\"");
                    out.push_str(key);
                    out.push_str("\":\"");
                    out.push_str(&value);
                    out.push('"');
                }
                out.push_str("}}");
            }
        }
    }
    out.push('}');
}

/// A JSON string's text.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    jsonrec::push_str(&mut out, s);
    out
}

/// Decodes a record's data and checks it against the spec; for an accepted record, `line` holds
/// its normalised JSON.
fn check_record(
    spec: &RecordSpec,
    rec: &FirehoseRecord<'_>,
    scratch: &mut Scratch,
    decoded: &mut Vec<u8>,
    line: &mut Vec<u8>,
    report: &mut TransformReport,
) -> Verdict {
    decoded.clear();
    line.clear();
    if base64_simd::STANDARD.estimated_decoded_length(rec.data.len()) > MAX_RECORD_BYTES + 3 {
        return Verdict::Failed(Reject::new(
            "too_large",
            format!(
                "record is about {} bytes; the limit is {MAX_RECORD_BYTES} (Firehose's record size limit)",
                rec.data.len() / 4 * 3
            ),
        ));
    }
    if base64_simd::STANDARD
        .decode_append(rec.data.as_bytes(), decoded)
        .is_err()
    {
        return Verdict::Failed(Reject::new("invalid_base64", "data is not valid base64"));
    }
    report.bytes_in += decoded.len() as u64;
    let (verdict, checked) = spec.check(decoded, rec.arrival_us(), scratch);
    if matches!(verdict, Verdict::Accepted { .. }) {
        spec.write_json(&checked, line);
    }
    scratch.give_back(checked);
    verdict
}

/// The response being written: one buffer that never grows past the limit, and `headroom`, what
/// it may still grow by beyond every remaining record's minimal entry. Each method writes one
/// entry and returns its exact size.
struct ResponseWriter {
    out: String,
    headroom: i64,
    max_response: usize,
    dataset_json: String,
    report: TransformReport,
}

/// One record's entry: its id (with whether it needs no JSON escapes), the length of the id's
/// JSON string, and the size of its minimal (`ProcessingFailed`, no data) entry.
struct EntryId<'a> {
    id: (&'a str, bool),
    id_len: usize,
    min: i64,
}

impl ResponseWriter {
    fn minimal(&mut self, e: &EntryId<'_>) -> usize {
        write_entry(
            &mut self.out,
            e.id,
            RecordResult::ProcessingFailed,
            &|_| {},
            None,
        );
        e.min as usize
    }

    fn accepted(
        &mut self,
        e: &EntryId<'_>,
        record_id: &str,
        line: &[u8],
        event_us: i64,
        from_field: bool,
    ) -> usize {
        let hour = HourKey::of(event_us);
        let encoded = base64_simd::STANDARD.encoded_length(line.len());
        let len = entry_len(
            e.id_len,
            RecordResult::Ok,
            encoded,
            meta_len(self.dataset_json.len(), &hour),
        ) as i64;
        if len - e.min > self.headroom {
            // Built only for the failures that are logged: a full batch can have thousands.
            let max_response = self.max_response;
            self.report.fail_with(record_id, "response_size_limit", || {
                format!(
                    "the transformed record does not fit in the response \
                         ({max_response} bytes at most)"
                )
            });
            return self.minimal(e);
        }
        self.headroom -= len - e.min;
        self.report.ok += 1;
        self.report.bytes_out += line.len() as u64;
        if from_field {
            self.report.time_from_field += 1;
        } else {
            self.report.time_from_arrival += 1;
        }
        let data = |out: &mut String| base64_simd::STANDARD.encode_append(line, out);
        write_entry(
            &mut self.out,
            e.id,
            RecordResult::Ok,
            &data,
            Some((&self.dataset_json, &hour)),
        );
        len as usize
    }

    fn dropped(&mut self, e: &EntryId<'_>) -> usize {
        let len = entry_len(e.id_len, RecordResult::Dropped, 0, 0) as i64;
        self.headroom -= len - e.min; // smaller than the reserve: always fits
        self.report.dropped += 1;
        write_entry(&mut self.out, e.id, RecordResult::Dropped, &|_| {}, None);
        len as usize
    }

    fn failed(&mut self, e: &EntryId<'_>, rec: &FirehoseRecord<'_>, mut reject: Reject) -> usize {
        // Echo the original data when it fits and is base64 (Firehose also keeps it as
        // `rawData`); `data` must be base64 whatever the input was.
        let echo = rec.data.len() as i64 <= self.headroom
            && reject.category != "invalid_base64"
            && (reject.category != "too_large"
                || base64_simd::STANDARD.check(rec.data.as_bytes()).is_ok());
        let size = if echo {
            self.headroom -= rec.data.len() as i64;
            let data = |out: &mut String| out.push_str(&rec.data);
            write_entry(
                &mut self.out,
                e.id,
                RecordResult::ProcessingFailed,
                &data,
                None,
            );
            e.min as usize + rec.data.len()
        } else {
            if reject.category != "invalid_base64" {
                reject
                    .reason
                    .push_str(" (its data is not echoed: it would not fit in the response)");
            }
            self.minimal(e)
        };
        self.report.fail(&rec.record_id, reject);
        size
    }
}

/// Transforms one batch (see the module docs); returns the response's JSON text.
pub fn transform(
    spec: &RecordSpec,
    event: &FirehoseEvent<'_>,
    max_response: usize,
) -> Result<(String, TransformReport), FirehoseError> {
    let n = event.records.len();
    let id_lens: Vec<usize> = event
        .records
        .iter()
        .map(|r| jsonrec::str_len(&r.record_id))
        .collect();
    let min_entry = |i: usize| entry_len(id_lens[i], RecordResult::ProcessingFailed, 0, 0) as i64;
    let envelope = ENVELOPE_OPEN.len() + ENVELOPE_CLOSE.len() + n.saturating_sub(1);
    let reserved: usize = (0..n).map(|i| min_entry(i) as usize).sum();
    if envelope + reserved > max_response {
        return Err(FirehoseError::BatchTooLarge {
            records: n,
            needed: envelope + reserved,
            max: max_response,
        });
    }
    let mut w = ResponseWriter {
        out: String::with_capacity(max_response),
        headroom: (max_response - envelope - reserved) as i64,
        max_response,
        dataset_json: json_str(spec.dataset()),
        report: TransformReport {
            dataset: spec.dataset().to_string(),
            records: n as u64,
            ..Default::default()
        },
    };
    w.out.push_str(ENVELOPE_OPEN);
    let mut scratch = Scratch::default();
    let mut decoded: Vec<u8> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for (i, rec) in event.records.iter().enumerate() {
        if i > 0 {
            w.out.push(',');
        }
        let before = w.out.len();
        let e = EntryId {
            id: (
                rec.record_id.as_ref(),
                id_lens[i] == rec.record_id.len() + 2,
            ),
            id_len: id_lens[i],
            min: min_entry(i),
        };
        let verdict = check_record(
            spec,
            rec,
            &mut scratch,
            &mut decoded,
            &mut line,
            &mut w.report,
        );
        let expected = match verdict {
            Verdict::Accepted {
                event_us,
                from_field,
            } => w.accepted(&e, &rec.record_id, &line, event_us, from_field),
            Verdict::Dropped { .. } => w.dropped(&e),
            Verdict::Failed(reject) => w.failed(&e, rec, reject),
        };
        // The size the entry must come to (checked in debug builds, i.e. by every test).
        debug_assert_eq!(w.out.len() - before, expected, "entry sizes are exact");
    }
    w.out.push_str(ENVELOPE_CLOSE);
    debug_assert!(
        w.out.len() <= max_response,
        "{} > {max_response}",
        w.out.len()
    );
    w.report.response_bytes = w.out.len() as u64;
    Ok((w.out, w.report))
}

/// The handler body: the request body in, the response out, both raw JSON (see the module docs).
pub fn transform_raw(
    spec: &RecordSpec,
    body: &RawValue,
    max_response: usize,
) -> Result<(Box<RawValue>, TransformReport), FirehoseError> {
    let event: FirehoseEvent<'_> =
        serde_json::from_str(body.get()).map_err(|e| FirehoseError::Event(e.to_string()))?;
    let (json, report) = transform(spec, &event, max_response)?;
    let response = RawValue::from_string(json)
        .map_err(|e| FirehoseError::Event(format!("the response is not JSON (a bug): {e}")))?;
    Ok((response, report))
}

impl TransformReport {
    /// One structured summary line, plus one line per logged failure.
    pub fn log(&self) {
        for (id, r) in &self.failures {
            tracing::warn!(record_id = %id, category = r.category, reason = %r.reason, "record ProcessingFailed");
        }
        tracing::info!(
            dataset = %self.dataset,
            records = self.records,
            ok = self.ok,
            dropped = self.dropped,
            failed = self.failed,
            failed_by_reason = %serde_json::to_string(&self.failed_by_reason).unwrap_or_default(),
            time_from_field = self.time_from_field,
            time_from_arrival = self.time_from_arrival,
            bytes_in = self.bytes_in,
            bytes_out = self.bytes_out,
            response_bytes = self.response_bytes,
            "firehose batch transformed"
        );
    }
}

/// The firehose-transform handler: the dataset's spec (cached per warm container) and
/// [`transform_raw`].
pub struct FirehoseTransform<C> {
    catalog: C,
    specs: SpecCache,
}

impl<C: DatasetCatalog> FirehoseTransform<C> {
    pub fn new(catalog: C, stream: StreamConfig) -> Self {
        Self {
            catalog,
            specs: SpecCache::new(stream),
        }
    }

    /// Transforms one invocation's batch (the request body as raw JSON); logs its summary.
    pub async fn handle(&self, body: &RawValue) -> Result<Box<RawValue>, FirehoseError> {
        // Boxed: with the spec cache's loader inside, the handler's future nests deeper than the
        // compiler's layout query depth allows (`functions/firehose-transform` fails to build).
        let compiled = Box::pin(self.specs.get(&self.catalog)).await?;
        let started = std::time::Instant::now();
        let (response, report) = transform_raw(&compiled.spec, body, MAX_RESPONSE_BYTES)?;
        report.log();
        let transform_ms = started.elapsed().as_millis();
        crate::metrics::emit(Some(&report.dataset), |e| {
            use crate::metrics as m;
            e.count(m::ROWS_IN, report.records)
                .count(m::ROWS_WRITTEN, report.ok)
                .count(m::ROWS_REJECTED, report.failed)
                .count(m::ROWS_DROPPED, report.dropped)
                .bytes(m::BYTES_IN, report.bytes_in)
                .bytes(m::BYTES_WRITTEN, report.bytes_out)
                .millis("Transform", transform_ms);
        });
        Ok(response)
    }
}

#[cfg(test)]
#[path = "firehose_tests.rs"]
mod tests;
