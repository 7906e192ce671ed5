//! The Kinesis Data Streams consumer (`stream-ingest`): a batch of one shard's records becomes
//! Parquet micro-batches in the raw zone, one object per event-time hour, registered in Glue.
//!
//! Per invocation:
//! 1. Every record is decoded and checked ([`crate::stream::record`]): accepted records are grouped by
//!    (shard, event hour); dropped ones (a filter matched) are counted; bad ones are grouped for
//!    quarantine.
//! 2. Each group is written, in the order of its first record:
//!    - data: `s3://<raw>/<dataset>/year=YYYY/month=MM/day=DD/hour=HH/<stream>-<shard>-<first seq>.parquet`
//!      with the system columns `_op` (`I`), `_seq`, `_source_file` (`kinesis:<stream>/<shard>`),
//!      `_commit_ts` (the record's arrival in the stream) before the dataset's columns; the footer
//!      carries `tributary.seq_min`, `tributary.seq_max` and `tributary.source_file`;
//!    - quarantine: `s3://<quarantine>/<dataset>/kinesis/<stream>/<shard>/<first seq>.rejected.jsonl`
//!      (each bad record: sequence number, partition key, arrival, category, reason and its data,
//!      base64) and the JSON report beside it (`.report.json`, [`crate::storage::quarantine`]).
//! 3. New hour partitions are registered in the Glue table of the dataset's raw zone.
//!
//! `_seq` is the record's sequence number zero-padded to [`SEQ_DIGITS`] digits, `-`, and the
//! shard's number zero-padded to 20 digits: fixed width, so its byte order is the shard's record
//! order, and unique across shards.
//!
//! Invariants:
//! - **Only the failed record and those after it are retried**: when a write or a registration
//!   fails with a retryable error, the group's first record becomes the cut-off; groups already
//!   written are rewritten with only the records before it, nothing after it is written, and the
//!   response lists the cut-off record and every later one in `batchItemFailures` (Lambda resumes
//!   from the lowest). A non-retryable error fails the invocation (Lambda retries the batch).
//! - **Idempotent**: object names depend only on the stream, the shard, the hour and the group's
//!   first sequence number. A retry starts at the cut-off record, so a group re-written by it has
//!   the same first record and overwrites the same object; records are never written twice.
//!   (This holds for a `ParallelizationFactor` of 1, Lambda's default, where batches of a shard are
//!   consecutive.)
//! - **Counts reconcile**: `records = written + dropped + quarantined + retried` in every summary.
//! - **Bad data loses nothing**: it is quarantined with its reason and original bytes; it is not
//!   retried (retrying cannot make it valid).
//!
//! The event type ([`KinesisBatch`]) mirrors `aws_lambda_events`' `KinesisEvent` (and uses its
//! `Base64Data`; the response is its `KinesisEventResponse`) except for the arrival time: that
//! crate (1.2) turns the seconds into text and reads the fraction's digits as milliseconds
//! whatever their number, so `1705312800.9` (or `.900`, which a float prints as `.9`) becomes
//! `.009` s. [`KinesisPayload::approximate_arrival_timestamp`] is read exactly, to the millisecond.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::streams::KinesisEventResponse;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

use crate::catalog::{Dataset, DatasetCatalog};
use crate::clock::{self, SharedClock};
use crate::config::{Config, StreamConfig};
use crate::error::{Classify, ErrorKind};
use crate::faults::KillPoint;
use crate::format::raw::{
    META_SEQ_MAX, META_SEQ_MIN, META_SOURCE, raw_schema, raw_writer_properties,
};
use crate::model::schema::{Cell, ColumnBuilder, ColumnType, TableSchema};
use crate::storage::quarantine::MAX_REPORTED_REJECTIONS;
use crate::storage::quarantine::{
    Function, Held, QuarantineReport, QuarantineWriter, Rejection, ReportStatus, Source,
};
use crate::storage::{ObjectStore, StorageError};
use crate::stream::record::{
    Compiled, HourKey, PARTITION_KEYS, RecordSpec, Reject, Scratch, SpecCache, StreamError, Verdict,
};
use crate::tables::glue::{GlueError, PartitionCatalog, RegisterSummary, Registrar, TableDef};

/// Digits of a Kinesis sequence number (at most 129: `0|[1-9][0-9]{0,128}`).
pub const SEQ_DIGITS: usize = 129;
/// Digits of the shard number in `_seq`.
pub const SHARD_DIGITS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Glue(#[from] GlueError),
    #[error("encoding Parquet for {key} failed: {reason}")]
    Parquet { key: String, reason: String },
    #[error("malformed Kinesis event: {0}")]
    Event(String),
    /// A fault switch stopped the run ([`crate::faults`]).
    #[error("stopped at kill point {0} (fault injection)")]
    Killed(KillPoint),
}

impl Classify for IngestError {
    fn kind(&self) -> ErrorKind {
        match self {
            IngestError::Stream(e) => e.kind(),
            IngestError::Storage(e) => e.kind(),
            IngestError::Glue(e) => e.kind(),
            IngestError::Parquet { .. } => ErrorKind::Fatal,
            IngestError::Event(_) => ErrorKind::BadInput,
            // As a crash: Lambda retries the batch.
            IngestError::Killed(_) => ErrorKind::Retryable,
        }
    }
}

/// A Kinesis Data Streams event as Lambda delivers it (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct KinesisBatch {
    #[serde(rename = "Records")]
    pub records: Vec<KinesisBatchRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisBatchRecord {
    /// `shardId-NNNNNNNNNNNN:<sequence number>`.
    #[serde(default, rename = "eventID")]
    pub event_id: Option<String>,
    /// `arn:aws:kinesis:<region>:<account>:stream/<name>`.
    #[serde(default, rename = "eventSourceARN")]
    pub event_source_arn: Option<String>,
    #[serde(default)]
    pub event_source: Option<String>,
    #[serde(default)]
    pub aws_region: Option<String>,
    pub kinesis: KinesisPayload,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisPayload {
    /// When the stream accepted the record, in µs since the epoch (seconds with a millisecond
    /// fraction on the wire).
    #[serde(
        deserialize_with = "seconds_to_micros",
        serialize_with = "micros_to_seconds"
    )]
    pub approximate_arrival_timestamp: i64,
    pub data: Base64Data,
    #[serde(default)]
    pub partition_key: String,
    pub sequence_number: String,
}

/// Epoch seconds (a number, or a numeric string) to µs, rounded to the millisecond Kinesis has.
fn seconds_to_micros<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(f64),
        Text(String),
    }
    let secs = match Seconds::deserialize(d)? {
        Seconds::Number(v) => v,
        Seconds::Text(t) => t.trim().parse().map_err(serde::de::Error::custom)?,
    };
    if !secs.is_finite() || secs.abs() > 1e13 {
        return Err(serde::de::Error::custom(format!(
            "approximateArrivalTimestamp {secs} is not epoch seconds"
        )));
    }
    Ok((secs * 1000.0).round() as i64 * 1000)
}

fn micros_to_seconds<S: Serializer>(us: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*us as f64 / 1e6)
}

/// One Parquet object written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamOutput {
    pub key: String,
    /// `year=2024/month=01/day=15/hour=10`.
    pub partition: String,
    pub rows: u64,
    pub bytes: u64,
    pub seq_first: String,
    pub seq_last: String,
}

/// What one invocation did. Counts reconcile:
/// `records == written + dropped + quarantined + retried`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub dataset: String,
    pub records: u64,
    pub written: u64,
    pub dropped: u64,
    pub quarantined: u64,
    /// Records listed in `batchItemFailures` (the cut-off record and every later one).
    pub retried: u64,
    pub rejections_by_reason: BTreeMap<&'static str, u64>,
    pub outputs: Vec<StreamOutput>,
    /// Quarantine keys written (rejected records and their reports).
    pub quarantine: Vec<String>,
    pub registration: Option<RegisterSummary>,
    /// Sequence numbers for Lambda to retry.
    pub batch_item_failures: Vec<String>,
    /// The retryable error that cut the batch short, if any.
    pub failure: Option<String>,
}

/// A record's identity in its stream.
struct Item {
    stream: String,
    shard: String,
    seq: String,
    partition_key: String,
    arrival_us: i64,
    verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum GroupKey {
    Data {
        stream: String,
        shard: String,
        hour: HourKey,
    },
    Quarantine {
        stream: String,
        shard: String,
    },
}

struct Group {
    key: GroupKey,
    /// Record indices, ascending.
    members: Vec<usize>,
}

/// Keeps S3 key segments to a safe alphabet (stream names and shard ids already are).
fn segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `_seq` of a record: sequence number (zero-padded to [`SEQ_DIGITS`]), `-`, shard number.
pub fn stream_seq(seq: &str, shard: &str) -> Result<String, String> {
    if seq.is_empty() || seq.len() > SEQ_DIGITS || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "sequence number {seq:?} is not 1 to {SEQ_DIGITS} digits"
        ));
    }
    let digits: String = shard
        .rsplit('-')
        .next()
        .filter(|d| {
            !d.is_empty() && d.len() <= SHARD_DIGITS && d.bytes().all(|b| b.is_ascii_digit())
        })
        .ok_or_else(|| {
            format!("shard id {shard:?} does not end in its number (shardId-NNNNNNNNNNNN)")
        })?
        .to_string();
    Ok(format!(
        "{seq:0>width$}-{digits:0>shards$}",
        width = SEQ_DIGITS,
        shards = SHARD_DIGITS
    ))
}

/// The stream-ingest handler, generic over its ports.
pub struct StreamIngest<S, C, G> {
    store: S,
    catalog: C,
    registrar: Registrar<G>,
    config: Arc<Config>,
    specs: SpecCache,
    clock: SharedClock,
    kill_at: Option<KillPoint>,
}

impl<S, C, G> StreamIngest<S, C, G>
where
    S: ObjectStore,
    C: DatasetCatalog,
    G: PartitionCatalog,
{
    pub fn new(store: S, catalog: C, glue: G, config: Arc<Config>, stream: StreamConfig) -> Self {
        Self {
            store,
            catalog,
            registrar: Registrar::new(glue),
            config,
            // Kinesis records are not bound by Firehose's record limit: what Lambda delivered fits.
            specs: SpecCache::new(stream).with_max_record_bytes(usize::MAX),
            clock: clock::system(),
            kill_at: None,
        }
    }

    /// Fault testing ([`crate::faults`]): stop every batch at `point` as a crash would
    /// (`BeforeCommit`: every group written, nothing registered, no response).
    pub fn with_kill_point(mut self, point: Option<KillPoint>) -> Self {
        self.kill_at = point;
        self
    }

    /// Reads time (reports, the spec cache's expiry) from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.specs = self.specs.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// Entry point: the response Lambda's event source mapping reads (`batchItemFailures`).
    pub async fn handle(&self, event: KinesisBatch) -> Result<KinesisEventResponse, IngestError> {
        let started = std::time::Instant::now();
        let summary = self.ingest(event).await?;
        summary.emit_metrics(started.elapsed().as_millis());
        let mut response = KinesisEventResponse::default();
        response.set_failures(summary.batch_item_failures.iter().cloned());
        Ok(response)
    }

    /// Ingests one batch and returns its summary (also logged).
    pub async fn ingest(&self, event: KinesisBatch) -> Result<IngestSummary, IngestError> {
        // Boxed: with the spec cache's loader inside, the handler's future nests deeper than the
        // compiler's layout query depth allows (`functions/stream-ingest` fails to build).
        let compiled = Box::pin(self.specs.get(&self.catalog)).await?;
        let spec = &compiled.spec;
        let mut scratch = Scratch::default();
        let mut items = Vec::with_capacity(event.records.len());
        for r in &event.records {
            items.push(item_of(spec, r, &mut scratch)?);
        }
        let groups = group(&items);
        let mut summary = IngestSummary {
            dataset: compiled.dataset.id.clone(),
            records: items.len() as u64,
            ..Default::default()
        };
        let mut cutoff = items.len();
        // Records each group has written so far, and its outputs.
        let mut written: HashMap<usize, (usize, Vec<String>)> = HashMap::new();
        let mut outputs: HashMap<usize, StreamOutput> = HashMap::new();
        let mut registration: Option<RegisterSummary> = None;
        loop {
            let mut failed: Option<(usize, IngestError)> = None;
            for (gi, g) in groups.iter().enumerate() {
                let upto = g.members.partition_point(|&i| i < cutoff);
                if upto == 0 || written.get(&gi).is_some_and(|(n, _)| *n == upto) {
                    continue;
                }
                let members = &g.members[..upto];
                let result = match &g.key {
                    GroupKey::Data { .. } => self
                        .write_data(&compiled, &g.key, members, &event, &items, &mut scratch)
                        .await
                        .map(|o| {
                            let key = o.key.clone();
                            outputs.insert(gi, o);
                            vec![key]
                        }),
                    GroupKey::Quarantine { .. } => {
                        self.write_quarantine(&compiled.dataset, &g.key, members, &event, &items)
                            .await
                    }
                };
                match result {
                    Ok(keys) => {
                        written.insert(gi, (upto, keys));
                    }
                    Err(e) if e.is_retryable() => {
                        failed = Some((g.members[0], e));
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if failed.is_none() && self.kill_at == Some(KillPoint::BeforeCommit) {
                tracing::warn!("fault injection: stopping after the writes, before registration");
                return Err(IngestError::Killed(KillPoint::BeforeCommit));
            }
            if failed.is_none() {
                let hours: Vec<(usize, [String; 4])> = groups
                    .iter()
                    .enumerate()
                    .filter(|(gi, _)| outputs.contains_key(gi))
                    .filter(|(_, g)| g.members[0] < cutoff)
                    .filter_map(|(_, g)| match &g.key {
                        GroupKey::Data { hour, .. } => Some((g.members[0], hour.values())),
                        GroupKey::Quarantine { .. } => None,
                    })
                    .collect();
                if !hours.is_empty() {
                    match self.register(&compiled, &hours).await {
                        Ok(r) => registration = Some(r),
                        Err(e) if e.is_retryable() => {
                            let first = hours.iter().map(|(i, _)| *i).min().unwrap_or(0);
                            failed = Some((first, e));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            match failed {
                None => break,
                Some((at, e)) => {
                    tracing::warn!(
                        error = %e,
                        kind = ?e.kind(),
                        sequence_number = %items[at].seq,
                        "write failed; this record and the later ones are left for Lambda to retry"
                    );
                    summary.failure = Some(e.to_string());
                    cutoff = at;
                }
            }
        }

        summary.tally(&items, cutoff);
        for (gi, g) in groups.iter().enumerate() {
            if g.members[0] >= cutoff {
                continue;
            }
            if let Some(o) = outputs.get(&gi) {
                summary.outputs.push(o.clone());
            } else if let Some((_, keys)) = written.get(&gi) {
                summary.quarantine.extend(keys.iter().cloned());
            }
        }
        summary.registration = registration;
        summary.log();
        Ok(summary)
    }

    /// Encodes and puts one data group (records `members`, all accepted, one shard and hour).
    async fn write_data(
        &self,
        compiled: &Compiled,
        key: &GroupKey,
        members: &[usize],
        event: &KinesisBatch,
        items: &[Item],
        scratch: &mut Scratch,
    ) -> Result<StreamOutput, IngestError> {
        let GroupKey::Data {
            stream,
            shard,
            hour,
        } = key
        else {
            unreachable!("a data group")
        };
        let first = &items[members[0]];
        let object = format!(
            "{}/{}/{}-{}-{}.parquet",
            compiled.dataset.path_name(),
            hour.path(),
            segment(stream),
            segment(shard),
            first.seq
        );
        let schema = raw_schema(&compiled.schema, &[]);
        let arrow = schema.arrow();
        let mut builders: Vec<ColumnBuilder> = schema
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c.ty, members.len()))
            .collect();
        let source = format!("kinesis:{stream}/{shard}");
        let (mut seq_min, mut seq_max) = (String::new(), String::new());
        for &i in members {
            let item = &items[i];
            let seq = stream_seq(&item.seq, &item.shard).map_err(IngestError::Event)?;
            let (verdict, rec) =
                compiled
                    .spec
                    .check(&event.records[i].kinesis.data.0, item.arrival_us, scratch);
            debug_assert!(matches!(verdict, Verdict::Accepted { .. }));
            builders[0].append(&Cell::Str("I"));
            builders[1].append(&Cell::Str(&seq));
            builders[2].append(&Cell::Str(&source));
            builders[3].append(&Cell::Ts(item.arrival_us));
            for (ci, b) in builders[4..].iter_mut().enumerate() {
                b.append(&compiled.spec.cell(&rec, ci));
            }
            scratch.give_back(rec);
            if seq_min.is_empty() || seq < seq_min {
                seq_min = seq.clone();
            }
            if seq > seq_max {
                seq_max = seq;
            }
        }
        let parquet_err = |e: String| IngestError::Parquet {
            key: object.clone(),
            reason: e,
        };
        let batch = RecordBatch::try_new(
            arrow.clone(),
            builders.iter_mut().map(ColumnBuilder::finish).collect(),
        )
        .map_err(|e| parquet_err(e.to_string()))?;
        let props = raw_writer_properties(
            self.config.landing.row_group_rows,
            &arrow,
            &compiled.dataset.primary_key,
        );
        let mut writer = ArrowWriter::try_new(Vec::new(), arrow, Some(props))
            .map_err(|e| parquet_err(e.to_string()))?;
        writer
            .write(&batch)
            .map_err(|e| parquet_err(e.to_string()))?;
        writer.append_key_value_metadata(KeyValue::new(META_SEQ_MIN.into(), seq_min.clone()));
        writer.append_key_value_metadata(KeyValue::new(META_SEQ_MAX.into(), seq_max.clone()));
        writer.append_key_value_metadata(KeyValue::new(META_SOURCE.into(), source.clone()));
        let body = writer
            .into_inner()
            .map_err(|e| parquet_err(e.to_string()))?;
        let bytes = body.len() as u64;
        self.store
            .put(
                &self.config.raw_bucket,
                &object,
                Bytes::from(body),
                "application/vnd.apache.parquet",
            )
            .await?;
        Ok(StreamOutput {
            key: object,
            partition: hour.path(),
            rows: members.len() as u64,
            bytes,
            seq_first: seq_min,
            seq_last: seq_max,
        })
    }

    /// Puts the rejected records of one shard (verbatim, base64, with reasons) and their report.
    async fn write_quarantine(
        &self,
        ds: &Dataset,
        key: &GroupKey,
        members: &[usize],
        event: &KinesisBatch,
        items: &[Item],
    ) -> Result<Vec<String>, IngestError> {
        let GroupKey::Quarantine { stream, shard } = key else {
            unreachable!("a quarantine group")
        };
        let stem = format!(
            "{}/kinesis/{}/{}/{}",
            ds.path_name(),
            segment(stream),
            segment(shard),
            items[members[0]].seq
        );
        let mut lines = Vec::new();
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        let mut rejections = Vec::new();
        for &i in members {
            let item = &items[i];
            let Verdict::Failed(Reject { category, reason }) = &item.verdict else {
                unreachable!("quarantined records failed")
            };
            *by_reason.entry(category.to_string()).or_default() += 1;
            let arrival =
                chrono::DateTime::from_timestamp_micros(item.arrival_us).map(clock::rfc3339_millis);
            serde_json::to_writer(
                &mut lines,
                &json!({
                    "sequenceNumber": item.seq,
                    "partitionKey": item.partition_key,
                    "approximateArrivalTimestamp": arrival,
                    "category": category,
                    "reason": reason,
                    "data": base64_simd::STANDARD.encode_to_string(&event.records[i].kinesis.data.0),
                }),
            )
            .expect("JSON values serialise");
            lines.push(b'\n');
            if rejections.len() < MAX_REPORTED_REJECTIONS {
                rejections.push(Rejection {
                    line: None,
                    sequence_number: Some(item.seq.clone()),
                    category: Some(category.to_string()),
                    reason: reason.clone(),
                });
            }
        }
        let last = &items[*members.last().expect("a group has members")];
        let source = Source {
            stream: Some(stream.clone()),
            shard: Some(shard.clone()),
            event_source_arn: event.records[members[0]].event_source_arn.clone(),
            first_sequence_number: Some(items[members[0]].seq.clone()),
            last_sequence_number: Some(last.seq.clone()),
            ..Source::default()
        };
        let mut report =
            QuarantineReport::new(Function::StreamIngest, ReportStatus::Quarantined, source);
        report.dataset = Some(ds.id.clone());
        report.reason = Some(format!("{} record(s) failed validation", members.len()));
        report.rows_read = members.len() as u64;
        report.rows_rejected = members.len() as u64;
        report.rejections_by_reason = by_reason;
        report.rejections = rejections;
        let held = Held::Rows {
            ext: "jsonl",
            body: Bytes::from(lines),
            content_type: "application/x-ndjson",
        };
        let writer =
            QuarantineWriter::new(&self.store, &self.config.quarantine_bucket, &*self.clock);
        Ok(writer.write(&stem, held, report).await?)
    }

    /// Creates the dataset's raw-zone table if needed and registers the hours written.
    async fn register(
        &self,
        compiled: &Compiled,
        hours: &[(usize, [String; 4])],
    ) -> Result<RegisterSummary, IngestError> {
        let keys: Vec<(String, ColumnType)> = PARTITION_KEYS
            .iter()
            .map(|k| (k.to_string(), ColumnType::String))
            .collect();
        let file_schema: TableSchema = raw_schema(&compiled.schema, &[]);
        let def = TableDef::new(
            &compiled.dataset,
            &self.config.raw_bucket,
            &file_schema,
            &keys,
        );
        let partitions: Vec<Vec<String>> = hours.iter().map(|(_, v)| v.to_vec()).collect();
        Ok(self.registrar.register_all(&def, &partitions).await?)
    }
}

/// One Kinesis record as an item of the batch: its shard, sequence number, stream and verdict.
fn item_of(
    spec: &RecordSpec,
    r: &KinesisBatchRecord,
    scratch: &mut Scratch,
) -> Result<Item, IngestError> {
    let (shard, seq) = match r.event_id.as_deref().and_then(|id| id.split_once(':')) {
        Some((shard, _)) => (shard.to_string(), r.kinesis.sequence_number.clone()),
        None => {
            return Err(IngestError::Event(format!(
                "record {} has no eventID of the form shardId-NNNNNNNNNNNN:<sequence number>",
                r.kinesis.sequence_number
            )));
        }
    };
    stream_seq(&seq, &shard).map_err(IngestError::Event)?;
    let stream = r
        .event_source_arn
        .as_deref()
        .and_then(|arn| arn.rsplit_once(":stream/"))
        .map(|(_, name)| name.to_string())
        .ok_or_else(|| {
            IngestError::Event(format!(
                "record {seq} has no eventSourceARN of the form arn:...:stream/<name>"
            ))
        })?;
    let arrival_us = r.kinesis.approximate_arrival_timestamp;
    let (verdict, checked) = spec.check(&r.kinesis.data.0, arrival_us, scratch);
    scratch.give_back(checked);
    Ok(Item {
        stream,
        shard,
        seq,
        partition_key: r.kinesis.partition_key.clone(),
        arrival_us,
        verdict,
    })
}

impl IngestSummary {
    /// The batch's EMF line ([`crate::metrics`]).
    pub fn emit_metrics(&self, ingest_ms: u128) {
        use crate::metrics as m;
        m::emit(Some(&self.dataset), |e| {
            e.count(m::ROWS_IN, self.records)
                .count(m::ROWS_WRITTEN, self.written)
                .count(m::ROWS_REJECTED, self.quarantined)
                .count(m::ROWS_DROPPED, self.dropped)
                .count(m::RECORDS_RETRIED, self.retried)
                .bytes(m::BYTES_WRITTEN, self.outputs.iter().map(|o| o.bytes).sum())
                .millis("Ingest", ingest_ms);
        });
    }

    /// Counts the records before `cutoff` by verdict; the rest are left for Lambda to retry.
    fn tally(&mut self, items: &[Item], cutoff: usize) {
        for (i, item) in items.iter().enumerate() {
            if i >= cutoff {
                self.retried += 1;
                self.batch_item_failures.push(item.seq.clone());
                continue;
            }
            match &item.verdict {
                Verdict::Accepted { .. } => self.written += 1,
                Verdict::Dropped { .. } => self.dropped += 1,
                Verdict::Failed(r) => {
                    self.quarantined += 1;
                    *self.rejections_by_reason.entry(r.category).or_default() += 1;
                }
            }
        }
    }

    fn log(&self) {
        tracing::info!(
            dataset = %self.dataset,
            records = self.records,
            written = self.written,
            dropped = self.dropped,
            quarantined = self.quarantined,
            retried = self.retried,
            rejections_by_reason = %serde_json::to_string(&self.rejections_by_reason).unwrap_or_default(),
            outputs = %serde_json::to_string(&self.outputs.iter().map(|o| &o.key).collect::<Vec<_>>()).unwrap_or_default(),
            quarantine = %serde_json::to_string(&self.quarantine).unwrap_or_default(),
            batch_item_failures = self.batch_item_failures.len(),
            "kinesis batch ingested"
        );
    }
}

/// Groups records by (shard, hour) for data and by shard for quarantine, ordered by first record.
fn group(items: &[Item]) -> Vec<Group> {
    let mut index: HashMap<GroupKey, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = match &item.verdict {
            Verdict::Accepted { event_us, .. } => GroupKey::Data {
                stream: item.stream.clone(),
                shard: item.shard.clone(),
                hour: HourKey::of(*event_us),
            },
            Verdict::Failed(_) => GroupKey::Quarantine {
                stream: item.stream.clone(),
                shard: item.shard.clone(),
            },
            Verdict::Dropped { .. } => continue,
        };
        let gi = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Group {
                key,
                members: Vec::new(),
            });
            groups.len() - 1
        });
        groups[gi].members.push(i);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::kinesis::KinesisEvent;

    #[test]
    fn fixture_reads_like_the_aws_type_with_exact_arrival_times() {
        let raw = std::fs::read(format!(
            "{}/../../events/kinesis-stream.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let ours: KinesisBatch = serde_json::from_slice(&raw).unwrap();
        let aws: KinesisEvent = serde_json::from_slice(&raw).unwrap();
        assert_eq!(ours.records.len(), aws.records.len());
        for (o, a) in ours.records.iter().zip(&aws.records) {
            assert_eq!(o.event_id, a.event_id);
            assert_eq!(o.event_source_arn, a.event_source_arn);
            assert_eq!(o.kinesis.sequence_number, a.kinesis.sequence_number);
            assert_eq!(o.kinesis.partition_key, a.kinesis.partition_key);
            assert_eq!(o.kinesis.data, a.kinesis.data);
        }
        // 1705312800.9, .1, .25 and .75 seconds after 2024-01-15T10:00:00Z, to the millisecond.
        let arrivals: Vec<i64> = ours
            .records
            .iter()
            .map(|r| r.kinesis.approximate_arrival_timestamp)
            .collect();
        assert_eq!(
            arrivals[..2],
            [1_705_312_800_900_000, 1_705_312_802_100_000]
        );
        assert_eq!(arrivals[3], 1_705_312_861_250_000);
        let one = |v: &str| {
            serde_json::from_str::<KinesisPayload>(&format!(
                "{{\"approximateArrivalTimestamp\":{v},\"data\":\"\",\"sequenceNumber\":\"1\"}}"
            ))
            .map(|p| p.approximate_arrival_timestamp)
        };
        assert_eq!(one("1545084650.987").unwrap(), 1_545_084_650_987_000);
        assert_eq!(one("1545084650.900").unwrap(), 1_545_084_650_900_000);
        assert_eq!(one("1545084650").unwrap(), 1_545_084_650_000_000);
        assert_eq!(one("\"1545084650.5\"").unwrap(), 1_545_084_650_500_000);
        assert!(one("1e300").is_err());
        let back: KinesisBatch =
            serde_json::from_slice(&serde_json::to_vec(&ours).unwrap()).unwrap();
        assert_eq!(back, ours);
    }

    #[test]
    fn seq_is_fixed_width_and_orders_like_the_sequence_number() {
        let a = stream_seq(
            "49590338271490256608559692538361571095921575989136588898",
            "shardId-000000000001",
        )
        .unwrap();
        let b = stream_seq(
            "49590338271490256608559692538361571095921575989136588899",
            "shardId-000000000001",
        )
        .unwrap();
        let c = stream_seq("5", "shardId-000000000000").unwrap();
        assert_eq!(a.len(), SEQ_DIGITS + 1 + SHARD_DIGITS);
        assert_eq!(c.len(), a.len());
        assert!(c < a && a < b);
        assert!(a.ends_with("-00000000000000000001"));
        assert!(stream_seq("12a", "shardId-0").is_err());
        assert!(stream_seq("1", "shard").is_err());
        assert!(stream_seq(&"9".repeat(130), "shardId-1").is_err());
    }
}
