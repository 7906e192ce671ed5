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
        let compiled = self.specs.get(&self.catalog).await?;
        let (response, report) = transform_raw(&compiled.spec, body, MAX_RESPONSE_BYTES)?;
        report.log();
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::record::tests::spec;
    use aws_lambda_events::event::firehose::{KinesisFirehoseEvent, KinesisFirehoseResponse};
    use proptest::prelude::*;
    use serde::Deserialize;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn b64(s: &[u8]) -> String {
        base64_simd::STANDARD.encode_to_string(s)
    }

    fn unb64(s: &str) -> Vec<u8> {
        base64_simd::STANDARD.decode_to_vec(s).expect("base64 data")
    }

    /// A response as Firehose reads it.
    #[derive(Debug, Deserialize)]
    struct Response {
        records: Vec<ResponseRecord>,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct ResponseRecord {
        record_id: String,
        result: RecordResult,
        data: String,
        metadata: Option<Metadata>,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Metadata {
        partition_keys: BTreeMap<String, String>,
    }

    fn record(id: &str, data: &str) -> FirehoseRecord<'static> {
        FirehoseRecord {
            record_id: id.to_string().into(),
            approximate_arrival_timestamp: 1_705_312_800_000,
            data: data.to_string().into(),
            kinesis_record_metadata: None,
        }
    }

    fn event(records: Vec<FirehoseRecord<'static>>) -> FirehoseEvent<'static> {
        FirehoseEvent {
            records,
            ..Default::default()
        }
    }

    /// Transforms; checks the contract invariants every response must meet.
    fn run(ev: FirehoseEvent<'_>, max: usize) -> (Response, TransformReport, Vec<u8>) {
        let ids: Vec<String> = ev.records.iter().map(|r| r.record_id.to_string()).collect();
        let (json, report) = transform(&spec(), &ev, max).unwrap();
        let body = json.into_bytes();
        assert!(body.len() <= max, "{} > {max}", body.len());
        assert_eq!(
            report.response_bytes as usize,
            body.len(),
            "exact size accounting"
        );
        let resp: Response = serde_json::from_slice(&body).unwrap();
        let got: Vec<&str> = resp.records.iter().map(|r| r.record_id.as_str()).collect();
        assert_eq!(got, ids, "every recordId once, in order");
        assert_eq!(report.records, report.ok + report.dropped + report.failed);
        // What Firehose reads: the AWS crate's response type parses it, with the same content.
        // (That type requires `metadata`, which Firehose does not: add an empty one where absent.)
        let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for r in value["records"].as_array_mut().unwrap() {
            if r.get("metadata").is_none() {
                r["metadata"] = serde_json::json!({ "partitionKeys": {} });
            }
        }
        let aws: KinesisFirehoseResponse = serde_json::from_value(value).unwrap();
        for (a, ours) in aws.records.iter().zip(&resp.records) {
            assert_eq!(a.record_id.as_deref(), Some(ours.record_id.as_str()));
            assert_eq!(a.result.as_deref(), Some(ours.result.as_str()));
            assert_eq!(a.data.0, unb64(&ours.data));
            assert_eq!(
                a.metadata.partition_keys.is_empty(),
                ours.metadata.is_none()
            );
        }
        (resp, report, body)
    }

    fn keys(r: &ResponseRecord) -> Vec<String> {
        let pk = &r.metadata.as_ref().expect("partition keys").partition_keys;
        assert_eq!(pk.len(), 5, "{pk:?}");
        ["dataset", "year", "month", "day", "hour"]
            .iter()
            .map(|k| pk[*k].clone())
            .collect()
    }

    #[test]
    fn direct_put_fixture_follows_the_contract() {
        let raw = fixture("firehose-direct-put.json");
        // The fixture is a genuine Firehose event: the AWS crate's own type reads it.
        let aws: KinesisFirehoseEvent = serde_json::from_slice(&raw).unwrap();
        let ev: FirehoseEvent = serde_json::from_slice(&raw).unwrap();
        assert_eq!(aws.records.len(), ev.records.len());
        assert!(
            ev.records
                .iter()
                .all(|r| matches!(r.data, Cow::Borrowed(_))),
            "record data is read without copies"
        );
        let originals: Vec<String> = ev.records.iter().map(|r| r.data.to_string()).collect();
        // The handler's path, raw JSON in and out, gives the same response.
        let body = RawValue::from_string(String::from_utf8(raw.clone()).unwrap()).unwrap();
        let (raw_out, _) = transform_raw(&spec(), &body, MAX_RESPONSE_BYTES).unwrap();
        assert_eq!(
            raw_out.get(),
            transform(&spec(), &ev, MAX_RESPONSE_BYTES).unwrap().0
        );
        let (resp, report, _) = run(ev, MAX_RESPONSE_BYTES);
        let results: Vec<&str> = resp.records.iter().map(|r| r.result.as_str()).collect();
        assert_eq!(
            results,
            [
                "Ok",
                "Ok",
                "Ok",
                "Dropped",
                "ProcessingFailed",
                "ProcessingFailed",
                "ProcessingFailed",
                "ProcessingFailed",
                "Ok"
            ]
        );
        let reasons: BTreeMap<&str, u64> = [
            ("empty", 1),
            ("invalid_json", 1),
            ("missing_field", 1),
            ("wrong_type", 1),
        ]
        .into();
        assert_eq!(report.failed_by_reason, reasons);
        assert_eq!(
            report
                .failures
                .iter()
                .map(|(_, r)| r.reason.as_str())
                .collect::<Vec<_>>()[1..],
            [
                "missing required field user_id",
                "field duration_ms: string \"1200\" is not a valid bigint",
                "record is empty",
            ]
        );
        // Ok: normalised JSON lines; the event hour from the record's own `ts`.
        let lines: Vec<String> = [0, 1, 2, 8]
            .iter()
            .map(|&i| String::from_utf8(unb64(&resp.records[i].data)).unwrap())
            .collect();
        for l in &lines {
            assert!(l.ends_with("}\n") && l.matches('\n').count() == 1, "{l:?}");
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        assert!(
            lines[0].contains("\"ts\":\"2024-01-15T10:00:00.120000Z\""),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("\"user_id\":\"u-1842\",\"ts\":\"2024-01-15T10:00:02Z\""),
            "renamed and converted to UTC: {}",
            lines[1]
        );
        assert!(lines[2].contains("\"ts\":\"2024-01-15T10:59:59Z\",\"revenue\":49.95"));
        assert_eq!(
            keys(&resp.records[0]),
            ["web.events", "2024", "01", "15", "10"]
        );
        assert_eq!(
            keys(&resp.records[1]),
            ["web.events", "2024", "01", "15", "10"]
        );
        assert_eq!(
            keys(&resp.records[2]),
            ["web.events", "2024", "01", "15", "10"]
        );
        assert_eq!(
            keys(&resp.records[8]),
            ["web.events", "2024", "01", "15", "11"]
        );
        assert_eq!(report.time_from_field, 4);
        // Dropped: empty data; ProcessingFailed: the original data, verbatim.
        assert_eq!(resp.records[3].data, "");
        for (r, original) in resp.records.iter().zip(&originals).skip(4).take(4) {
            assert_eq!(&r.data, original);
            assert!(r.metadata.is_none());
        }
    }

    #[test]
    fn kinesis_source_fixture_uses_the_stream_arrival_time() {
        let raw = fixture("firehose-kinesis-source.json");
        let aws: KinesisFirehoseEvent = serde_json::from_slice(&raw).unwrap();
        assert!(aws.source_kinesis_stream_arn.is_some());
        let ev: FirehoseEvent = serde_json::from_slice(&raw).unwrap();
        let meta = ev.records[0].kinesis_record_metadata.as_ref().unwrap();
        assert_eq!(meta.shard_id.as_deref(), Some("shardId-000000000003"));
        assert_eq!(
            ev.records[0].arrival_us(),
            meta.approximate_arrival_timestamp.timestamp_micros()
        );
        assert_ne!(
            ev.records[0].arrival_us(),
            ev.records[0].approximate_arrival_timestamp * 1000
        );
        let (resp, report, _) = run(ev, MAX_RESPONSE_BYTES);
        let results: Vec<&str> = resp.records.iter().map(|r| r.result.as_str()).collect();
        assert_eq!(results, ["Ok", "Ok", "Dropped", "ProcessingFailed", "Ok"]);
        assert_eq!(report.failed_by_reason, [("missing_field", 1)].into());
        assert_eq!(
            keys(&resp.records[4]),
            ["web.events", "2024", "01", "15", "11"]
        );
    }

    #[test]
    fn arrival_time_partitions_records_without_a_time_field() {
        let (ds, mut schema) = crate::stream::record::tests::web_events();
        schema.columns.iter_mut().for_each(|c| c.nullable = true);
        let spec =
            RecordSpec::new(&ds, &schema, &crate::stream::record::tests::stream_config()).unwrap();
        let mut r = record("r1", &b64(b"{\"event_id\":\"e1\"}"));
        r.approximate_arrival_timestamp = 1_705_330_800_000; // 15:00Z
        let (json, report) = transform(&spec, &event(vec![r]), MAX_RESPONSE_BYTES).unwrap();
        let resp: Response = serde_json::from_str(&json).unwrap();
        assert_eq!(keys(&resp.records[0])[4], "15");
        assert_eq!((report.time_from_field, report.time_from_arrival), (0, 1));
    }

    #[test]
    fn ok_data_round_trips_through_base64() {
        let canonical = "{\"event_id\":\"e1\",\"event_type\":\"click\",\"user_id\":\"u\\\"1\",\"ts\":\"2024-01-15T10:00:00Z\",\"ctx\":{\"a\":[1,2.50,null]}}";
        let (resp, _, _) = run(
            event(vec![record("r1", &b64(canonical.as_bytes()))]),
            MAX_RESPONSE_BYTES,
        );
        assert_eq!(resp.records[0].result, RecordResult::Ok);
        assert_eq!(
            unb64(&resp.records[0].data),
            format!("{canonical}\n").as_bytes()
        );
    }

    #[test]
    fn bad_input_gets_processing_failed_with_its_reason() {
        let good = b"{\"event_id\":\"e1\",\"event_type\":\"click\",\"user_id\":\"u1\",\"ts\":\"2024-01-15T10:00:00Z\"}";
        let oversized = b64(format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES)).as_bytes());
        let cases: Vec<(&str, String, &str, &str)> = vec![
            ("base64", "eyJldmVudF9pZCI6!!".into(), "invalid_base64", "data is not valid base64"),
            ("base64-length", "eyJ".into(), "invalid_base64", "data is not valid base64"),
            ("json", b64(b"{\"event_id\":\"e1\","), "invalid_json", "record is invalid JSON"),
            ("not-object", b64(b"[1]"), "not_an_object", "a JSON array, not an object"),
            (
                "missing",
                b64(b"{\"event_id\":\"e1\",\"event_type\":\"click\",\"ts\":\"2024-01-15T10:00:00Z\"}"),
                "missing_field",
                "missing required field user_id",
            ),
            (
                "type",
                b64(b"{\"event_id\":\"e1\",\"event_type\":\"click\",\"user_id\":7,\"ts\":\"2024-01-15T10:00:00Z\",\"revenue\":\"9.99\"}"),
                "wrong_type",
                "field revenue: string \"9.99\" is not a valid double",
            ),
            ("oversized", oversized.clone(), "too_large", "the limit is 1024000"),
            ("empty", String::new(), "empty", "record is empty"),
            ("utf8", b64(b"{\"event_id\":\"\xc3\x28\"}"), "invalid_utf8", "not UTF-8"),
        ];
        let mut records: Vec<FirehoseRecord> = cases
            .iter()
            .map(|(id, data, _, _)| record(id, data))
            .collect();
        records.push(record("good", &b64(good)));
        let (resp, report, _) = run(event(records), MAX_RESPONSE_BYTES);
        for (i, (id, data, category, reason)) in cases.iter().enumerate() {
            let r = &resp.records[i];
            assert_eq!(r.result, RecordResult::ProcessingFailed, "{id}");
            if *category == "invalid_base64" {
                assert_eq!(r.data, "", "{id}: data must be base64, so it is not echoed");
            } else {
                assert_eq!(&r.data, data, "{id}: the original data is echoed");
            }
            let (fid, rej) = &report.failures[i];
            assert_eq!(fid, id);
            assert_eq!(rej.category, *category, "{id}: {}", rej.reason);
            assert!(rej.reason.contains(reason), "{id}: {}", rej.reason);
        }
        assert_eq!(resp.records.last().unwrap().result, RecordResult::Ok);
        assert_eq!(report.failed, cases.len() as u64);
    }

    /// A batch of small records as large as Lambda accepts (6 MB): Ok records grow by their
    /// partition keys, so the tail no longer fits and is answered ProcessingFailed.
    #[test]
    fn six_mb_of_small_records_stays_under_the_response_limit() {
        let mut records = Vec::new();
        let mut size = 0;
        let mut i = 0;
        while size < MAX_RESPONSE_BYTES - 400 {
            let data = b64(format!(
                "{{\"event_id\":\"e{i}\",\"event_type\":\"click\",\"user_id\":\"u{}\",\"ts\":\"2024-01-15T{:02}:00:00Z\"}}",
                i % 97,
                i % 24
            ).as_bytes());
            let r = record(
                &format!("4954698668313554428650745793632162567570019247115678{i:04}"),
                &data,
            );
            size += serde_json::to_vec(&r).unwrap().len() + 1;
            records.push(r);
            i += 1;
        }
        let input = serde_json::to_vec(&event(records.clone())).unwrap();
        assert!(input.len() <= MAX_RESPONSE_BYTES && input.len() > MAX_RESPONSE_BYTES - 1000);
        let (resp, report, body) = run(event(records), MAX_RESPONSE_BYTES);
        assert!(report.ok > 10_000, "{report:?}");
        let overflow = report
            .failed_by_reason
            .get("response_size_limit")
            .copied()
            .unwrap_or(0);
        assert!(overflow > 0, "the guard was exercised: {report:?}");
        assert_eq!(report.failed, overflow);
        assert!(
            body.len() > MAX_RESPONSE_BYTES - 500,
            "headroom used up: {}",
            body.len()
        );
        for r in &resp.records {
            match r.result {
                RecordResult::Ok => assert!(r.metadata.is_some()),
                _ => assert!(r.data.is_empty() && r.metadata.is_none()),
            }
        }
    }

    #[test]
    fn one_oversized_record_is_failed_without_its_data() {
        let huge = b64(&vec![b'x'; 7 << 20]);
        let (resp, report, body) = run(event(vec![record("big", &huge)]), MAX_RESPONSE_BYTES);
        assert_eq!(resp.records[0].result, RecordResult::ProcessingFailed);
        assert_eq!(resp.records[0].data, "", "9 MB of base64 cannot be echoed");
        assert_eq!(report.failed_by_reason, [("too_large", 1)].into());
        assert!(report.failures[0].1.reason.contains("not echoed"));
        assert!(body.len() < 200);
    }

    #[test]
    fn a_batch_that_cannot_be_answered_is_an_error() {
        let records = (0..100).map(|i| record(&format!("id-{i}"), "")).collect();
        let err = transform(&spec(), &event(records), 1000).unwrap_err();
        assert!(
            matches!(err, FirehoseError::BatchTooLarge { records: 100, .. }),
            "{err}"
        );
        assert_eq!(err.kind(), ErrorKind::BadInput);
    }

    proptest! {
        /// Written entries are exactly as long as measured, and read back as written, for any
        /// id, dataset name, data and hour, whatever needs escaping.
        #[test]
        fn entries_are_measured_exactly(
            id in "\\PC{0,20}|[\"\\\\\u{0}-\u{1f}a]{0,8}",
            ds in "[a-z.\"\\\\\u{1}é]{1,12}",
            data_len in 0usize..64,
            us in -10_000_000_000_000_000i64..300_000_000_000_000_000,
            result in prop::sample::select(vec![RecordResult::Ok, RecordResult::Dropped, RecordResult::ProcessingFailed]),
        ) {
            let hour = HourKey::of(us);
            let ds_json = json_str(&ds);
            let data = "A".repeat(data_len);
            let meta = (result == RecordResult::Ok).then_some((ds_json.as_str(), &hour));
            let mut out = String::new();
            let plain = jsonrec::str_len(&id) == id.len() + 2;
            write_entry(&mut out, (&id, plain), result, &|o: &mut String| o.push_str(&data), meta);
            let meta_bytes = meta.map_or(0, |_| meta_len(jsonrec::str_len(&ds), &hour));
            prop_assert_eq!(out.len(), entry_len(jsonrec::str_len(&id), result, data_len, meta_bytes));
            let back: ResponseRecord = serde_json::from_str(&out).unwrap();
            prop_assert_eq!(&back.record_id, &id);
            prop_assert_eq!(back.result, result);
            prop_assert_eq!(&back.data, &data);
            if let Some(m) = back.metadata {
                let [y, mo, d, h] = hour.values();
                prop_assert_eq!(m.partition_keys, BTreeMap::from([
                    ("dataset".to_string(), ds.clone()), ("year".into(), y), ("month".into(), mo),
                    ("day".into(), d), ("hour".into(), h),
                ]));
            }
        }
    }
}
