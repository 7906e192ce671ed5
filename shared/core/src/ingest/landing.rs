//! The S3 landing pipeline: one landed object in, typed Parquet in the clean zone out, the dataset's
//! record updated, and anything bad in quarantine with a report.
//!
//! Per object, in order:
//! 1. `HEAD` pins the version (version id, else ETag). A ledger hit means this version was
//!    already processed: the delivery is counted as a duplicate and nothing else happens.
//! 2. The key's longest declared landing prefix names the dataset; no match → the whole object is
//!    quarantined (`_unrouted/`).
//! 3. Empty objects, undecodable files and files with too many bad rows are quarantined whole.
//!    Parquet is validated (footer) and copied through. Text is converted by [`crate::ingest::convert`]
//!    streaming from `GetObject` (pinned with `If-Match`) to multipart uploads.
//! 4. Rejected rows and the JSON report ([`crate::storage::quarantine`]) are written to quarantine, then
//!    the ledger entry and the dataset stats are committed in one conditional transaction.
//!
//! Invariants: outputs are durable before the ledger records them; the landing object is never
//! modified or deleted; output names depend only on the source key, so a retry overwrites
//! identically; `rows_read = rows_written + rows_rejected` in every summary and report.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::io::SyncIoBridge;

pub use crate::catalog::SequenceSummary;
use crate::catalog::cache::TtlCache;
use crate::catalog::{
    CatalogError, CommitOutcome, Dataset, DatasetCatalog, Ledger, LedgerEntry, StatsDelta,
};
use crate::clock::{self, SharedClock};
use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::faults::KillPoint;
use crate::ingest::cdc::{self, CdcReport, CdcSpec, DmsFile};
use crate::ingest::convert::{
    self, ConvertError, ConvertReport, ConvertSpec, OutputFile, TextFormat,
};
use crate::model::events::{self, Delivery, EventError, ObjectRef};
pub use crate::model::paths::UNROUTED_PREFIX;
use crate::model::schema::{ColumnType, TableSchema};
use crate::storage::quarantine::{
    Function, Held, QuarantineReport, QuarantineWriter, ReportStatus, Source,
};
use crate::storage::read_parquet_footer;
use crate::storage::{DEFAULT_PART_SIZE, ObjectMeta, ObjectStore, S3SinkFactory, StorageError};
use crate::tables::glue::{GlueError, PartitionCatalog, RegisterSummary, Registrar, TableDef};

mod dms;
mod publish;

#[derive(Debug, thiserror::Error)]
pub enum LandingError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Glue(#[from] GlueError),
    #[error("s3://{bucket}/{key}: {source}")]
    Object {
        bucket: String,
        key: String,
        source: Box<LandingError>,
    },
    #[error("conversion task failed: {0}")]
    Task(String),
    /// A fault switch stopped the run ([`crate::faults`]).
    #[error("stopped at kill point {0} (fault injection)")]
    Killed(KillPoint),
    /// The event names a bucket this function does not read from (a mis-wired notification, or
    /// an attempt to make it read what its role can reach): refused before anything is read.
    #[error(
        "refused: the event names bucket {bucket:?}, but this function reads only {expected:?} \
         (nothing was read or recorded)"
    )]
    ForeignBucket { bucket: String, expected: String },
}

impl Classify for LandingError {
    fn kind(&self) -> ErrorKind {
        match self {
            LandingError::Event(_) => ErrorKind::BadInput,
            LandingError::Storage(e) => e.kind(),
            LandingError::Catalog(e) => e.kind(),
            LandingError::Convert(e) => e.kind(),
            LandingError::Glue(e) => e.kind(),
            LandingError::Object { source, .. } => source.kind(),
            LandingError::Task(_) => ErrorKind::Fatal,
            // As a crash: Lambda retries the event.
            LandingError::Killed(_) => ErrorKind::Retryable,
            LandingError::ForeignBucket { .. } => ErrorKind::BadInput,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Converted to Parquet (possibly with some rows quarantined).
    Converted,
    /// Parquet copied through unchanged.
    Copied,
    /// The whole object went to quarantine.
    Quarantined,
    /// This version was processed before: a recorded no-op.
    Duplicate,
    /// The object no longer exists (deleted before processing).
    Missing,
    /// A DMS file sequenced into the raw zone (possibly with some rows quarantined).
    Sequenced,
    /// Not this function's kind of dataset (cdc-sequencer given a non-DMS file): untouched.
    Skipped,
}

/// The per-object summary a Step Functions state can pass on. Counts reconcile:
/// `rows_read == rows_written + rows_rejected`.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectSummary {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
    pub status: Status,
    pub dataset: Option<String>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub bytes_written: u64,
    pub outputs: Vec<OutputFile>,
    /// Hive partition paths written (`dataset/k=v/...`).
    pub partitions: Vec<String>,
    /// Quarantine keys written (copied object, rejected rows, report).
    pub quarantine: Vec<String>,
    pub reason: Option<String>,
    /// DMS files: rows written by op, the `_seq` range and the file's phase.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<SequenceSummary>,
    /// The Glue table and partitions registered for the outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<RegisterSummary>,
    /// When the source object was created (its `Last-Modified`): the start of the end-to-end lag
    /// metric.
    #[serde(skip)]
    pub landed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The object's EMF line ([`crate::metrics`]): rows, bytes, quarantine, processing time and,
/// once its outputs are registered, the lag from the object's creation.
fn emit_metrics(s: &ObjectSummary, process_ms: u128) {
    use crate::metrics as m;
    m::emit(s.dataset.as_deref(), |e| {
        e.count(m::OBJECTS, 1)
            .count(m::ROWS_IN, s.rows_read)
            .count(m::ROWS_WRITTEN, s.rows_written)
            .count(m::ROWS_REJECTED, s.rows_rejected)
            .count(
                m::FILES_QUARANTINED,
                u64::from(s.status == Status::Quarantined),
            )
            .bytes(m::BYTES_WRITTEN, s.bytes_written)
            .millis("Process", process_ms);
        if let (Some(at), Some(_)) = (s.landed_at, &s.registration) {
            let lag = (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0;
            e.seconds(m::END_TO_END_LAG, lag);
        }
    });
}

impl ObjectSummary {
    fn new(obj: &ObjectRef, status: Status) -> Self {
        Self {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            version: None,
            status,
            dataset: None,
            rows_read: 0,
            rows_written: 0,
            rows_rejected: 0,
            bytes_written: 0,
            outputs: vec![],
            partitions: vec![],
            quarantine: vec![],
            reason: None,
            sequence: None,
            registration: None,
            landed_at: None,
        }
    }
}

/// Totals over an invocation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub objects: u64,
    pub converted: u64,
    pub copied: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    pub missing: u64,
    pub sequenced: u64,
    pub skipped: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
}

impl Totals {
    pub fn of(objects: &[ObjectSummary]) -> Self {
        let mut t = Totals::default();
        for o in objects {
            t.objects += 1;
            match o.status {
                Status::Converted => t.converted += 1,
                Status::Copied => t.copied += 1,
                Status::Quarantined => t.quarantined += 1,
                Status::Duplicate => t.duplicates += 1,
                Status::Missing => t.missing += 1,
                Status::Sequenced => t.sequenced += 1,
                Status::Skipped => t.skipped += 1,
            }
            t.rows_read += o.rows_read;
            t.rows_written += o.rows_written;
            t.rows_rejected += o.rows_rejected;
        }
        t
    }
}

/// A landing folder's dataset and its schema (declared, else recorded from its first file).
struct CachedDataset {
    dataset: Dataset,
    schema: Option<TableSchema>,
}

/// The landing handler, generic over its ports.
pub struct Landing<S, C, G> {
    store: S,
    catalog: C,
    registrar: Registrar<G>,
    config: Arc<Config>,
    dms_only: bool,
    /// Landing folder → its dataset, for [`crate::catalog::cache::DATASET_CACHE_TTL`].
    cache: TtlCache<CachedDataset>,
    clock: SharedClock,
    kill_at: Option<KillPoint>,
}

/// Sanitised file name plus a hash of the full source location: unique per source key, stable
/// across retries.
pub fn output_stem(bucket: &str, key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let digest = Sha256::digest(format!("{bucket}/{key}").as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", clean.chars().take(100).collect::<String>())
}

/// Format from the dataset declaration, else from the key's extension (after `.gz`), else `None`
/// (then sniffed from the content).
pub fn detect_format(ds: &Dataset, key: &str) -> Option<&'static str> {
    if let Some(f) = ds.source.format.as_deref() {
        return match f {
            "csv" | "dms-csv" => Some("csv"),
            "tsv" => Some("tsv"),
            "jsonl" | "json" | "ndjson" => Some("jsonl"),
            "parquet" | "dms-parquet" => Some("parquet"),
            _ => None,
        };
    }
    let lower = key.to_ascii_lowercase();
    let base = lower
        .strip_suffix(".gz")
        .or_else(|| lower.strip_suffix(".gzip"))
        .unwrap_or(&lower);
    match base.rsplit('.').next() {
        Some("csv") | Some("txt") => Some("csv"),
        Some("tsv") | Some("tab") => Some("tsv"),
        Some("jsonl") | Some("ndjson") | Some("json") => Some("jsonl"),
        Some("parquet") | Some("pq") => Some("parquet"),
        _ => None,
    }
}

impl<S, C, G> Landing<S, C, G>
where
    S: ObjectStore,
    C: DatasetCatalog + Ledger,
    G: PartitionCatalog,
{
    pub fn new(store: S, catalog: C, glue: G, config: Arc<Config>) -> Self {
        Self {
            store,
            catalog,
            registrar: Registrar::new(glue),
            config,
            dms_only: false,
            cache: TtlCache::datasets(clock::system()),
            clock: clock::system(),
            kill_at: None,
        }
    }

    /// Fault testing ([`crate::faults`]): stop every run at `point` as a crash would
    /// (`BeforeCommit`: outputs written, ledger not committed).
    pub fn with_kill_point(mut self, point: Option<KillPoint>) -> Self {
        self.kill_at = point;
        self
    }

    /// Reads time (reports, ledger, stats, cache expiry) from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.cache = self.cache.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// The cdc-sequencer's view: only DMS datasets are processed; other objects are `skipped`.
    pub fn dms_only(mut self) -> Self {
        self.dms_only = true;
        self
    }

    /// Entry point for any supported event: returns the invocation summary, or for SQS the
    /// `batchItemFailures` response (only messages whose processing failed are listed).
    pub async fn handle(&self, event: Value) -> Result<Value, LandingError> {
        self.handle_until(event, None).await
    }

    /// [`Self::handle`], stopping with a retryable error when `deadline` comes (the Lambda
    /// deadline less a margin): before an object is started, and while one is read.
    pub async fn handle_until(
        &self,
        event: Value,
        deadline: Option<Instant>,
    ) -> Result<Value, LandingError> {
        match events::parse(&event)? {
            Delivery::Objects(objects) => {
                // Every object's bucket is checked before any is processed.
                for obj in &objects {
                    self.check_bucket(obj)?;
                }
                let mut done = Vec::with_capacity(objects.len());
                for obj in &objects {
                    done.push(self.process_until(obj, deadline).await?);
                }
                Ok(json!({ "totals": Totals::of(&done), "objects": done }))
            }
            Delivery::Sqs(messages) => Ok(events::batch_item_failures(
                messages,
                async |objects: Vec<ObjectRef>| {
                    for obj in &objects {
                        self.check_bucket(obj)?;
                    }
                    for obj in &objects {
                        self.process_until(obj, deadline).await?;
                    }
                    Ok::<(), LandingError>(())
                },
            )
            .await),
        }
    }

    /// Only the landing bucket is read: an event for any other bucket (a foreign one, or a zone
    /// bucket of this deployment) is refused as bad input.
    fn check_bucket(&self, obj: &ObjectRef) -> Result<(), LandingError> {
        if obj.bucket == self.config.landing_bucket {
            return Ok(());
        }
        Err(LandingError::ForeignBucket {
            bucket: obj.bucket.clone(),
            expected: self.config.landing_bucket.clone(),
        })
    }

    /// Processes one object end to end (see the module docs for the order of steps). Refuses an
    /// object outside the landing bucket.
    pub async fn process(&self, obj: &ObjectRef) -> Result<ObjectSummary, LandingError> {
        self.process_until(obj, None).await
    }

    /// [`Self::process`] with a deadline (see [`Self::handle_until`]).
    pub async fn process_until(
        &self,
        obj: &ObjectRef,
        deadline: Option<Instant>,
    ) -> Result<ObjectSummary, LandingError> {
        self.check_bucket(obj)?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(LandingError::Convert(ConvertError::OutOfTime));
        }
        let span = tracing::info_span!("object", bucket = %obj.bucket, key = %obj.key);
        let _g = span.enter();
        let wrap = |e: LandingError| LandingError::Object {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            source: Box::new(e),
        };
        let started = Instant::now();
        let result = self.process_inner(obj, deadline).await.map_err(wrap);
        match &result {
            Ok(s) => {
                tracing::info!(status = ?s.status, rows_read = s.rows_read, rows_written = s.rows_written, rows_rejected = s.rows_rejected, "processed");
                emit_metrics(s, started.elapsed().as_millis());
            }
            Err(e) => tracing::error!(error = %e, kind = ?e.kind(), "failed"),
        }
        result
    }

    async fn process_inner(
        &self,
        obj: &ObjectRef,
        deadline: Option<Instant>,
    ) -> Result<ObjectSummary, LandingError> {
        let Some(meta) = self.store.head(&obj.bucket, &obj.key).await? else {
            return Ok(ObjectSummary::new(obj, Status::Missing));
        };
        let landed_at = meta.last_modified;
        let mut summary = Box::pin(self.process_object(obj, meta, deadline)).await?;
        summary.landed_at = landed_at;
        Ok(summary)
    }

    /// [`Self::process_inner`] once the object's `HEAD` answered.
    async fn process_object(
        &self,
        obj: &ObjectRef,
        meta: ObjectMeta,
        deadline: Option<Instant>,
    ) -> Result<ObjectSummary, LandingError> {
        let version = meta.version_id.clone().unwrap_or_else(|| meta.etag.clone());
        if self
            .catalog
            .lookup(&obj.bucket, &obj.key, &version)
            .await?
            .is_some()
        {
            self.catalog
                .record_duplicate(&obj.bucket, &obj.key, &version, &self.clock.now_rfc3339())
                .await?;
            let mut s = ObjectSummary::new(obj, Status::Duplicate);
            s.version = Some(version);
            s.reason = Some("this object version was already processed".into());
            return Ok(s);
        }

        let Some(cached) = self.dataset_for(&obj.key).await? else {
            let reason = "no dataset is declared for this key's prefix".to_string();
            return self
                .quarantine_whole(obj, &meta, &version, None, reason, None)
                .await;
        };
        let ds = &cached.dataset;
        if self.dms_only && !ds.is_dms() {
            let mut s = ObjectSummary::new(obj, Status::Skipped);
            s.version = Some(version);
            s.dataset = Some(ds.id.clone());
            s.reason = Some(format!(
                "dataset {} is not a DMS dataset (source.format {:?}); s3-landing converts it",
                ds.id, ds.source.format
            ));
            return Ok(s);
        }
        if meta.size == 0 {
            return self
                .quarantine_whole(
                    obj,
                    &meta,
                    &version,
                    Some(ds),
                    "the object is empty".into(),
                    None,
                )
                .await;
        }
        if ds.is_dms() {
            return self
                .sequence_dms(obj, &meta, &version, ds, cached.schema.clone(), deadline)
                .await;
        }
        let ingest_date = meta
            .last_modified
            .unwrap_or_else(|| self.clock.now())
            .format("%Y-%m-%d")
            .to_string();
        let format = match detect_format(ds, &obj.key) {
            Some(f) => f,
            None => self.sniff(obj, &meta).await?,
        };
        if format == "parquet" {
            return self
                .pass_parquet(obj, &meta, &version, &cached, &ingest_date)
                .await;
        }
        let text_format = match format {
            "tsv" => TextFormat::Tsv,
            "jsonl" => TextFormat::JsonLines,
            _ => TextFormat::Csv,
        };
        let mut static_partitions = Vec::new();
        if ds.partition_columns.is_empty() {
            static_partitions.push(("ingest_date".to_string(), ingest_date));
        }
        let spec = ConvertSpec {
            format: text_format,
            delimiter: ds
                .source
                .delimiter
                .as_deref()
                .and_then(|d| d.bytes().next()),
            header: ds.source.header.unwrap_or(true),
            schema: cached.schema.clone(),
            partition_columns: ds.partition_columns.clone(),
            static_partitions,
            output_prefix: ds.zone_prefix(),
            output_stem: output_stem(&obj.bucket, &obj.key),
            reject_key: QuarantineWriter::<S>::rejected_key(
                &quarantine_base(Some(ds), &obj.key),
                text_format_ext(text_format),
            ),
            tuning: self.config.landing.clone(),
            deadline,
        };

        let bucket = self.config.clean_bucket.clone();
        let converted = self
            .stream_through(obj, &meta, bucket, move |reader, outputs, rejects| {
                convert::convert(reader, &spec, &outputs, &rejects)
            })
            .await?;
        match converted {
            Ok(report) => {
                self.publish_converted(obj, &meta, &version, ds, report, None)
                    .await
            }
            Err(e) => self.quarantine_bad_file(obj, &meta, &version, ds, e).await,
        }
    }

    /// Streams the object (pinned to the ETag seen by `HEAD`) into `work` on a blocking thread,
    /// with multipart sinks writing outputs to `bucket` and rejected rows to quarantine.
    async fn stream_through<T, F>(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
        bucket: String,
        work: F,
    ) -> Result<Result<T, ConvertError>, LandingError>
    where
        T: Send + 'static,
        F: FnOnce(
                SyncIoBridge<crate::storage::ObjectBody>,
                S3SinkFactory<S>,
                S3SinkFactory<S>,
            ) -> Result<T, ConvertError>
            + Send
            + 'static,
    {
        let body = self
            .store
            .get(&obj.bucket, &obj.key, Some(&meta.etag))
            .await?;
        let handle = tokio::runtime::Handle::current();
        let sinks = |bucket: String| S3SinkFactory {
            store: self.store.clone(),
            handle: handle.clone(),
            bucket,
            part_size: DEFAULT_PART_SIZE,
        };
        let (outputs, rejects) = (sinks(bucket), sinks(self.config.quarantine_bucket.clone()));
        let reader = SyncIoBridge::new_with_handle(body, handle.clone());
        tokio::task::spawn_blocking(move || work(reader, outputs, rejects))
            .await
            .map_err(|e| LandingError::Task(e.to_string()))
    }

    /// A file the converter or sequencer gave up on: bad input is quarantined whole (with the
    /// rejection report so far); any other error is returned (retryable or fatal).
    async fn quarantine_bad_file(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
        version: &str,
        ds: &Dataset,
        e: ConvertError,
    ) -> Result<ObjectSummary, LandingError> {
        match e {
            ConvertError::Unreadable { .. }
            | ConvertError::TooManyRejects { .. }
            | ConvertError::TooLarge { .. }
            | ConvertError::SchemaDrift { .. } => {
                let reason = e.to_string();
                let report = match e {
                    ConvertError::TooManyRejects { report, .. } => Some(*report),
                    _ => None,
                };
                self.quarantine_whole(obj, meta, version, Some(ds), reason, report)
                    .await
            }
            e => Err(e.into()),
        }
    }

    /// Looks at the first bytes to tell Parquet / JSON lines / delimited apart (gzip is handled by
    /// the converter; gzip with an unknown extension is read as delimited text).
    async fn sniff(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
    ) -> Result<&'static str, LandingError> {
        let head = self
            .store
            .get_range(
                &obj.bucket,
                &obj.key,
                0,
                meta.size.min(64).saturating_sub(1),
            )
            .await?;
        Ok(if head.starts_with(b"PAR1") {
            "parquet"
        } else if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            "jsonl"
        } else {
            "csv"
        })
    }

    async fn dataset_for(&self, key: &str) -> Result<Option<Arc<CachedDataset>>, LandingError> {
        let dir = key.rsplit_once('/').map_or("", |(d, _)| d);
        if let Some(hit) = self.cache.get(dir) {
            return Ok(Some(hit));
        }
        let Some(dataset) = self.catalog.resolve(key).await? else {
            return Ok(None);
        };
        let schema = match &dataset.schema {
            Some(s) => Some(s.clone()),
            None => self.catalog.recorded_schema(&dataset.id).await?,
        };
        Ok(Some(
            self.cache.insert(dir, CachedDataset { dataset, schema }),
        ))
    }

    fn quarantine(&self) -> QuarantineWriter<'_, S> {
        QuarantineWriter::new(&self.store, &self.config.quarantine_bucket, &*self.clock)
    }

    /// A report on this object, by this function.
    fn report(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
        version: &str,
        ds: Option<&Dataset>,
        status: ReportStatus,
    ) -> QuarantineReport {
        let function = if self.dms_only {
            Function::CdcSequencer
        } else {
            Function::S3Landing
        };
        let source = Source {
            version: Some(version.to_string()),
            etag: Some(meta.etag.clone()),
            size: Some(meta.size),
            last_modified: meta.last_modified,
            ..Source::object(&obj.bucket, &obj.key)
        };
        let mut r = QuarantineReport::new(function, status, source);
        r.dataset = ds.map(|d| d.id.clone());
        r
    }

    /// The whole object goes to quarantine (`<dataset or _unrouted>/<key>`) with its report;
    /// with the converter's report when it gave up on too many bad rows.
    async fn quarantine_whole(
        &self,
        obj: &ObjectRef,
        meta: &ObjectMeta,
        version: &str,
        ds: Option<&Dataset>,
        reason: String,
        report: Option<ConvertReport>,
    ) -> Result<ObjectSummary, LandingError> {
        let (rows_read, rows_rejected) = report
            .as_ref()
            .map_or((0, 0), |r| (r.rows_read, r.rows_read));
        let mut q = self.report(obj, meta, version, ds, ReportStatus::Quarantined);
        if let Some(r) = &report {
            q = q.with_conversion(r);
        }
        (q.rows_read, q.rows_written, q.rows_rejected) = (rows_read, 0, rows_rejected);
        q.reason = Some(reason.clone());
        let held = Held::Object {
            bucket: &obj.bucket,
            key: &obj.key,
        };
        let keys = self
            .quarantine()
            .write(&quarantine_base(ds, &obj.key), held, q)
            .await?;
        let mut s = ObjectSummary::new(obj, Status::Quarantined);
        s.version = Some(version.to_string());
        s.dataset = ds.map(|d| d.id.clone());
        s.rows_read = rows_read;
        s.rows_rejected = rows_rejected;
        s.quarantine = keys;
        s.reason = Some(reason);
        let stats = ds.map(|d| StatsDelta {
            dataset_id: d.id.clone(),
            rows: 0,
            bytes: 0,
            files: 0,
            rows_rejected,
            files_quarantined: 1,
            location: self.location(d),
            last_update: self.clock.now_rfc3339(),
            schema: None,
        });
        self.commit(s, &meta.etag, stats).await
    }

    /// The bucket a dataset's landing output goes to: raw for DMS datasets, else clean.
    fn output_bucket(&self, ds: &Dataset) -> &str {
        if ds.is_dms() {
            &self.config.raw_bucket
        } else {
            &self.config.clean_bucket
        }
    }

    fn location(&self, ds: &Dataset) -> String {
        format!("s3://{}/{}", self.output_bucket(ds), ds.zone_prefix())
    }
}

/// A local file removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(suffix: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!("tributary-{}-{n}-{suffix}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Where an object's quarantined copy, rejected rows and report go: `<dataset>/<key>`, or
/// `_unrouted/<key>` when no dataset claims it.
fn quarantine_base(ds: Option<&Dataset>, key: &str) -> String {
    format!("{}/{key}", ds.map_or(UNROUTED_PREFIX, |d| d.path_name()))
}

fn text_format_ext(f: TextFormat) -> &'static str {
    match f {
        TextFormat::Tsv => "tsv",
        TextFormat::JsonLines => "jsonl",
        TextFormat::Csv | TextFormat::Parquet => "csv",
    }
}

fn partitions_of(ds: &Dataset, outputs: &[OutputFile]) -> Vec<String> {
    let mut parts: Vec<String> = outputs
        .iter()
        .map(|o| format!("{}{}", ds.zone_prefix(), o.partition))
        .collect();
    parts.dedup();
    parts
}

#[cfg(test)]
#[path = "landing_tests.rs"]
mod tests;
