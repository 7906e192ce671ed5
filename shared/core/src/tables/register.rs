//! The partition-register handler: Parquet objects created in a zone bucket (raw, clean, curated)
//! become queryable through the Glue Data Catalog within seconds, with no crawler.
//!
//! Input: S3 notifications (direct, in SQS messages answered with `batchItemFailures`, or as
//! EventBridge `Object Created`), or a Step Functions task input:
//! `{"bucket": B, "key": K}`, `{"bucket": B, "keys": [K, ...]}` or
//! `{"bucket": B, "partitions": ["<zone prefix><partition path>/", ...]}` (every Parquet object under
//! each partition folder is read).
//!
//! Per object:
//! 1. The bucket names the zone; keys that are not Parquet data (`_SUCCESS`, `.tmp`, reports)
//!    are `skipped`. An event for a bucket that is not a zone is refused whole
//!    (`Tributary.BadInput`) before anything is read.
//! 2. The dataset is the one whose `zone_prefix` is the longest prefix of the key, else the one
//!    whose id is the key's first segment (Tributary's own writers); none → `skipped`.
//! 3. The partition comes from the folders between the zone prefix and the file name, per the
//!    dataset's layout ([`glue::partition_from_path`]): Hive `k=v/` or DMS `YYYY/MM/DD[/HH]/`.
//! 4. The Parquet footer (ranged GETs) gives the file's columns, which must fit the table
//!    ([`glue::evolve`]): new nullable columns and widened types evolve the table and its
//!    partitions; anything else is a schema conflict.
//! 5. Objects whose path, footer or schema is bad are **moved to quarantine** (copied with a JSON
//!    report beside them ([`crate::storage::quarantine`]), then deleted from the zone) and nothing in the
//!    catalog changes for them.
//!
//! Then, per table, the partitions of the good objects are registered in one
//! [`Registrar::register_partitions`] pass (at most 100 per `BatchCreatePartition`).
//!
//! Invariants: registration is idempotent (re-deliveries and re-runs find partitions present);
//! per-partition failures other than "already exists" are reported and fail the invocation (or
//! the SQS message), never swallowed; `objects = registered + quarantined + skipped + missing`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::catalog::cache::TtlCache;
use crate::catalog::{CatalogError, Dataset, DatasetCatalog, Layout};
use crate::clock::{self, SharedClock};
use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::model::events::{self, Delivery, EventError, ObjectRef};
use crate::model::schema::TableSchema;
use crate::storage::quarantine::{
    FileColumn, Function, Held, QuarantineReport, QuarantineWriter, ReportStatus, Source,
};
use crate::storage::read_parquet_footer;
use crate::storage::{ObjectStore, StorageError};
use crate::tables::glue::{
    self, GlueError, PartitionCatalog, RegisterSummary, Registrar, TableDef,
};

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Glue(#[from] GlueError),
    #[error("s3://{bucket}/{key}: {source}")]
    Object {
        bucket: String,
        key: String,
        source: Box<RegisterError>,
    },
    /// Not one of this deployment's zone buckets: refused before anything is read.
    #[error(
        "refused: bucket {bucket:?} is not a raw, clean or curated zone bucket of this deployment \
         (nothing was read or registered)"
    )]
    ForeignBucket { bucket: String },
}

impl Classify for RegisterError {
    fn kind(&self) -> ErrorKind {
        match self {
            RegisterError::Event(_) => ErrorKind::BadInput,
            RegisterError::Storage(e) => e.kind(),
            RegisterError::Catalog(e) => e.kind(),
            RegisterError::Glue(e) => e.kind(),
            RegisterError::Object { source, .. } => source.kind(),
            RegisterError::ForeignBucket { .. } => ErrorKind::BadInput,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegStatus {
    /// Its partition is registered (created now or already present).
    Registered,
    /// Moved to quarantine with a report (bad path, bad footer, schema conflict).
    Quarantined,
    /// Not a data object of a dataset (reason given); untouched.
    Skipped,
    /// Gone before it could be read.
    Missing,
}

/// One object's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RegObject {
    pub bucket: String,
    pub key: String,
    pub status: RegStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Partition values by key, in key order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partition: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<String>,
    /// The object's creation (`Last-Modified`): the start of the end-to-end lag metric.
    #[serde(skip)]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl RegObject {
    fn new(obj: &ObjectRef, status: RegStatus) -> Self {
        Self {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            status,
            dataset: None,
            table: None,
            partition: vec![],
            location: None,
            reason: None,
            quarantine: vec![],
            created_at: None,
        }
    }
}

/// One object's EMF line ([`crate::metrics`]): its outcome, the batch's registration time and,
/// once registered, the lag from the object's creation.
fn emit_metrics(r: &RegObject, register_ms: u128) {
    use crate::metrics as m;
    m::emit(r.dataset.as_deref(), |e| {
        e.count(m::OBJECTS, 1)
            .count(
                m::FILES_QUARANTINED,
                u64::from(r.status == RegStatus::Quarantined),
            )
            .millis("Register", register_ms);
        if let (RegStatus::Registered, Some(at)) = (&r.status, r.created_at) {
            let lag = (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0;
            e.seconds(m::END_TO_END_LAG, lag);
        }
    });
}

/// Totals over a batch; `objects = registered + quarantined + skipped + missing`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RegTotals {
    pub objects: u64,
    pub registered: u64,
    pub quarantined: u64,
    pub skipped: u64,
    pub missing: u64,
    pub partitions_created: u64,
    pub partitions_present: u64,
    pub partitions_failed: u64,
    pub glue_calls: u64,
}

/// The outcome of a batch: totals, one summary per table, one entry per object.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub totals: RegTotals,
    pub tables: Vec<RegisterSummary>,
    pub objects: Vec<RegObject>,
}

/// An object ready to register.
struct Ready {
    index: usize,
    def: TableDef,
    values: Vec<String>,
}

/// The partition-register handler, generic over its ports.
pub struct PartitionRegister<S, C, G> {
    store: S,
    catalog: C,
    registrar: Registrar<G>,
    config: Arc<Config>,
    /// `<zone>:<key folder>` → the dataset owning it (or none), for
    /// [`crate::catalog::cache::DATASET_CACHE_TTL`].
    cache: TtlCache<Option<Dataset>>,
    clock: SharedClock,
}

impl<S, C, G> PartitionRegister<S, C, G>
where
    S: ObjectStore,
    C: DatasetCatalog,
    G: PartitionCatalog,
{
    pub fn new(store: S, catalog: C, glue: G, config: Arc<Config>) -> Self {
        Self {
            store,
            catalog,
            registrar: Registrar::new(glue),
            config,
            cache: TtlCache::datasets(clock::system()),
            clock: clock::system(),
        }
    }

    /// Reads time (reports, cache expiry) from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.cache = self.cache.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// Entry point for any supported event (see the module docs). Returns the batch summary, or
    /// for SQS the `batchItemFailures` response. Partitions that failed to register fail the
    /// invocation (or their SQS message) with a retryable or fatal error.
    pub async fn handle(&self, event: Value) -> Result<Value, RegisterError> {
        let delivery = match self.task_input(&event).await? {
            Some(objects) => Delivery::Objects(objects),
            None => events::parse(&event)?,
        };
        match delivery {
            Delivery::Objects(objects) => {
                // Boxed: the per-object futures nest deeply (S3, DynamoDB and Glue calls).
                let summary = Box::pin(self.register_objects(&objects)).await?;
                Ok(serde_json::to_value(summary).expect("summaries serialise"))
            }
            Delivery::Sqs(messages) => Ok(events::batch_item_failures(
                messages,
                async |objects: Vec<ObjectRef>| {
                    Box::pin(self.register_objects(&objects)).await.map(drop)
                },
            )
            .await),
        }
    }

    /// The Step Functions task inputs that list keys or partitions; `None` for other events.
    async fn task_input(&self, event: &Value) -> Result<Option<Vec<ObjectRef>>, RegisterError> {
        let Some(bucket) = event.get("bucket").and_then(Value::as_str) else {
            return Ok(None);
        };
        self.check_bucket(bucket)?;
        let strings = |field: &str| -> Result<Option<Vec<String>>, RegisterError> {
            match event.get(field) {
                None => Ok(None),
                Some(v) => v
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|x| x.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .map(Some)
                    .ok_or_else(|| {
                        EventError::Malformed {
                            kind: "task input",
                            reason: format!("{field} must be an array of strings"),
                        }
                        .into()
                    }),
            }
        };
        let object = |key: String| ObjectRef {
            bucket: bucket.to_string(),
            key,
            version_id: None,
            etag: None,
        };
        if let Some(keys) = strings("keys")? {
            return Ok(Some(keys.into_iter().map(object).collect()));
        }
        if let Some(partitions) = strings("partitions")? {
            let mut objects = Vec::new();
            for p in partitions {
                let prefix = if p.ends_with('/') { p } else { format!("{p}/") };
                let keys = self.store.list(bucket, &prefix).await?;
                if keys.is_empty() {
                    return Err(EventError::Malformed {
                        kind: "task input",
                        reason: format!("partition s3://{bucket}/{prefix} holds no objects"),
                    }
                    .into());
                }
                objects.extend(keys.into_iter().map(object));
            }
            return Ok(Some(objects));
        }
        Ok(None)
    }

    /// Only the zone buckets are read: any other bucket is refused as bad input.
    fn check_bucket(&self, bucket: &str) -> Result<(), RegisterError> {
        match self.zone_of(bucket) {
            Some(_) => Ok(()),
            None => Err(RegisterError::ForeignBucket {
                bucket: bucket.into(),
            }),
        }
    }

    fn zone_of(&self, bucket: &str) -> Option<&'static str> {
        let c = &self.config;
        if bucket == c.raw_bucket {
            Some("raw")
        } else if bucket == c.clean_bucket {
            Some("clean")
        } else if bucket == c.curated_bucket {
            Some("curated")
        } else {
            None
        }
    }

    async fn dataset_for(&self, zone: &str, key: &str) -> Result<Option<Dataset>, CatalogError> {
        let folder = key.rsplit_once('/').map_or("", |(d, _)| d);
        let cache_key = format!("{zone}:{folder}");
        let ds = self
            .cache
            .get_or_try_load(&cache_key, || self.catalog.resolve_zone(zone, key))
            .await?;
        Ok((*ds).clone())
    }

    /// Registers the partitions of `objects` (see the module docs).
    pub async fn register_objects(
        &self,
        objects: &[ObjectRef],
    ) -> Result<BatchSummary, RegisterError> {
        for obj in objects {
            self.check_bucket(&obj.bucket)?;
        }
        let started = std::time::Instant::now();
        let mut results = Vec::with_capacity(objects.len());
        let mut ready: BTreeMap<String, Vec<Ready>> = BTreeMap::new();
        for (index, obj) in objects.iter().enumerate() {
            let wrap = |e: RegisterError| RegisterError::Object {
                bucket: obj.bucket.clone(),
                key: obj.key.clone(),
                source: Box::new(e),
            };
            match self.prepare(obj).await.map_err(wrap)? {
                Ok((def, values, r)) => {
                    results.push(r);
                    ready
                        .entry(def.name.clone())
                        .or_default()
                        .push(Ready { index, def, values });
                }
                Err(r) => results.push(r),
            }
        }
        let mut tables = Vec::new();
        let mut failed = Vec::new();
        for (name, group) in ready {
            let mut summary = RegisterSummary {
                table: name.clone(),
                ..Default::default()
            };
            // Each file's schema is checked on its own: one file's conflict quarantines it alone.
            let mut table: Option<TableDef> = None;
            let mut partitions = Vec::new();
            for item in group {
                let obj = &objects[item.index];
                match self.registrar.ensure_table(&item.def, &mut summary).await {
                    Ok(effective) => {
                        results[item.index].location =
                            Some(effective.partition_location(&item.values));
                        partitions.push(item.values);
                        table = Some(effective);
                    }
                    Err(GlueError::Incompatible { table: t, reason }) => {
                        let reason = format!("schema conflict with Glue table {t}: {reason}");
                        let ds = results[item.index].dataset.clone().unwrap_or_default();
                        results[item.index] = self.quarantine(obj, &ds, reason, &item.def).await?;
                    }
                    Err(e) => {
                        return Err(RegisterError::Object {
                            bucket: obj.bucket.clone(),
                            key: obj.key.clone(),
                            source: Box::new(e.into()),
                        });
                    }
                }
            }
            if let Some(table) = table {
                self.registrar
                    .register_partitions(&table, &partitions, &mut summary)
                    .await?;
            }
            if !summary.partitions_failed.is_empty() {
                failed.push(GlueError::Partitions {
                    table: name,
                    failures: summary.partitions_failed.clone(),
                });
            }
            tables.push(summary);
        }
        let mut totals = RegTotals::default();
        let register_ms = started.elapsed().as_millis();
        for r in &results {
            emit_metrics(r, register_ms);
            totals.objects += 1;
            match r.status {
                RegStatus::Registered => totals.registered += 1,
                RegStatus::Quarantined => totals.quarantined += 1,
                RegStatus::Skipped => totals.skipped += 1,
                RegStatus::Missing => totals.missing += 1,
            }
        }
        for t in &tables {
            totals.partitions_created += t.partitions_created;
            totals.partitions_present += t.partitions_present;
            totals.partitions_failed += t.partitions_failed.len() as u64;
            totals.glue_calls += t.glue_calls;
        }
        let summary = BatchSummary {
            totals,
            tables,
            objects: results,
        };
        tracing::info!(totals = ?summary.totals, "partition registration");
        if let Some(e) = failed.into_iter().next() {
            // Reported, not swallowed: the summary is in the log; the error drives the retry.
            tracing::error!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "partitions failed");
            return Err(e.into());
        }
        Ok(summary)
    }

    /// Steps 1-4 of the module docs for one object: `Ok(Ok)` ready to register, `Ok(Err)` a
    /// final outcome (skipped, missing, quarantined).
    #[allow(clippy::type_complexity)]
    async fn prepare(
        &self,
        obj: &ObjectRef,
    ) -> Result<Result<(TableDef, Vec<String>, RegObject), RegObject>, RegisterError> {
        let skip = |reason: String| {
            let mut r = RegObject::new(obj, RegStatus::Skipped);
            r.reason = Some(reason);
            r
        };
        let Some(zone) = self.zone_of(&obj.bucket) else {
            return Err(RegisterError::ForeignBucket {
                bucket: obj.bucket.clone(),
            });
        };
        if !glue::is_data_object(&obj.key) {
            return Ok(Err(skip("not a Parquet data object".into())));
        }
        if zone == "curated" && crate::model::paths::snapshot_of_key(&obj.key).is_some() {
            return Ok(Err(skip(
                "a compacted snapshot: the compactor publishes it to the catalog".into(),
            )));
        }
        let Some(ds) = self.dataset_for(zone, &obj.key).await? else {
            return Ok(Err(skip(format!(
                "no dataset owns this key in the {zone} zone"
            ))));
        };
        let Some(meta) = self.store.head(&obj.bucket, &obj.key).await? else {
            return Ok(Err(RegObject::new(obj, RegStatus::Missing)));
        };
        let prefix = ds.zone_prefix();
        let rel = obj.key.strip_prefix(&prefix).unwrap_or(&obj.key);
        let empty_def =
            || TableDef::new(&ds, &obj.bucket, &TableSchema::default(), &[]).with_layout(ds.layout);
        let part = match glue::partition_from_path(ds.layout, rel) {
            Ok(p) => p,
            Err(reason) => {
                let reason = format!("path does not match the dataset's layout: {reason}");
                return Ok(Err(self
                    .quarantine(obj, &ds.id, reason, &empty_def())
                    .await?));
            }
        };
        if ds.layout == Layout::Hive
            && !ds.partition_columns.is_empty()
            && part.keys != ds.partition_columns
        {
            let reason = format!(
                "path partition keys {:?} differ from the dataset's partition_columns {:?}",
                part.keys, ds.partition_columns
            );
            return Ok(Err(self
                .quarantine(obj, &ds.id, reason, &empty_def())
                .await?));
        }
        let footer = match read_parquet_footer(&self.store, obj, &meta).await? {
            Ok(f) => f,
            Err(reason) => {
                return Ok(Err(self
                    .quarantine(obj, &ds.id, reason, &empty_def())
                    .await?));
            }
        };
        let keys = glue::partition_key_types(&ds, &part.keys);
        let file_schema = footer.schema.without(&part.keys);
        let def = TableDef::new(&ds, &obj.bucket, &file_schema, &keys).with_layout(ds.layout);
        let mut r = RegObject::new(obj, RegStatus::Registered);
        r.created_at = meta.last_modified;
        r.dataset = Some(ds.id.clone());
        r.table = Some(def.name.clone());
        r.partition = part.keys.into_iter().zip(part.values.clone()).collect();
        Ok(Ok((def, part.values, r)))
    }

    /// Moves a zone object to quarantine (`<dataset>/<zone bucket>/<key>`) with a report beside
    /// it: copy and report first, then delete, so a crash leaves the object where it was.
    async fn quarantine(
        &self,
        obj: &ObjectRef,
        dataset: &str,
        reason: String,
        def: &TableDef,
    ) -> Result<RegObject, RegisterError> {
        let owner = if dataset.is_empty() {
            crate::model::paths::UNROUTED_PREFIX
        } else {
            dataset
        };
        let base = format!("{owner}/{}/{}", obj.bucket, obj.key);
        let mut report = QuarantineReport::new(
            Function::PartitionRegister,
            ReportStatus::Quarantined,
            Source::object(&obj.bucket, &obj.key),
        );
        report.dataset = (!dataset.is_empty()).then(|| dataset.to_string());
        report.table = Some(def.name.clone());
        report.reason = Some(reason.clone());
        report.file_columns = def
            .columns
            .iter()
            .map(|(name, ty)| FileColumn {
                name: name.clone(),
                ty: ty.clone(),
            })
            .collect();
        let held = Held::Object {
            bucket: &obj.bucket,
            key: &obj.key,
        };
        let keys = QuarantineWriter::new(&self.store, &self.config.quarantine_bucket, &*self.clock)
            .write(&base, held, report)
            .await?;
        self.store.delete(&obj.bucket, &obj.key).await?;
        tracing::warn!(bucket = %obj.bucket, key = %obj.key, %reason, "quarantined");
        let mut r = RegObject::new(obj, RegStatus::Quarantined);
        r.dataset = (!dataset.is_empty()).then(|| dataset.to_string());
        r.table = Some(def.name.clone());
        r.reason = Some(reason);
        r.quarantine = keys;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::glue::{evolve, partition_from_path};

    #[test]
    fn data_objects() {
        assert!(glue::is_data_object("a/k=1/part-0.parquet"));
        assert!(!glue::is_data_object("a/k=1/_SUCCESS"));
        assert!(!glue::is_data_object("a/k=1/.part-0.parquet.tmp"));
        assert!(!glue::is_data_object("a/k=1/x.report.json"));
        assert!(!glue::is_data_object("a/_compaction/tombstones/x.parquet"));
    }

    #[test]
    fn hive_and_dms_paths() {
        let p =
            partition_from_path(Layout::Hive, "region=eu%2Fwest/day=2024-01-15/f.parquet").unwrap();
        assert_eq!(p.keys, ["region", "day"]);
        assert_eq!(p.values, ["eu/west", "2024-01-15"]);
        let p =
            partition_from_path(Layout::Hive, "k=__HIVE_DEFAULT_PARTITION__/a+b.parquet").unwrap();
        assert_eq!(p.values, [""]);
        assert_eq!(
            partition_from_path(Layout::Hive, "f.parquet").unwrap().keys,
            Vec::<String>::new()
        );
        assert!(partition_from_path(Layout::Hive, "2024/f.parquet").is_err());
        let p = partition_from_path(Layout::DmsDate, "2024/11/05/20241105-1015.parquet").unwrap();
        assert_eq!(p.keys, ["year", "month", "day"]);
        assert_eq!(p.values, ["2024", "11", "05"]);
        let p = partition_from_path(Layout::DmsDateHour, "2024/11/05/23/x.parquet").unwrap();
        assert_eq!(p.values, ["2024", "11", "05", "23"]);
        for bad in [
            "2024/11/x.parquet",
            "2024/11/05/07/x.parquet",
            "2024/13/05/x.parquet",
            "2023/02/29/x.parquet",
            "24/11/05/x.parquet",
            "2024/1/05/x.parquet",
        ] {
            let e = partition_from_path(Layout::DmsDate, bad).unwrap_err();
            assert!(e.contains("YYYY/MM/DD"), "{bad}: {e}");
        }
        assert!(partition_from_path(Layout::DmsDateHour, "2024/11/05/24/x.parquet").is_err());
        assert!(partition_from_path(Layout::DmsDateHour, "2024/11/05/x.parquet").is_err());
    }

    fn def(cols: &[(&str, &str)], required: &[&str]) -> TableDef {
        let ds = Dataset {
            id: "t".into(),
            ..Default::default()
        };
        let mut d = TableDef::new(&ds, "b", &TableSchema::default(), &[]);
        d.columns = cols
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        d.partition_keys = vec![("day".into(), "date".into())];
        d.required = required.iter().map(|s| s.to_string()).collect();
        d
    }

    #[test]
    fn evolution_rules() {
        let cur = vec![
            ("id".to_string(), "bigint".to_string()),
            ("amount".to_string(), "int".to_string()),
            ("note".to_string(), "string".to_string()),
        ];
        // Same columns, or fewer nullable ones: nothing to do.
        assert_eq!(evolve(&cur, &def(&[("id", "bigint")], &["id"])), Ok(None));
        // A new nullable column and a widened type.
        let ev = evolve(
            &cur,
            &def(
                &[
                    ("ID", "bigint"),
                    ("amount", "bigint"),
                    ("channel", "string"),
                ],
                &["id"],
            ),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ev.added, ["channel"]);
        assert_eq!(ev.widened, ["amount: int -> bigint"]);
        assert_eq!(
            ev.columns
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            ["id", "amount", "note", "channel"]
        );
        assert_eq!(ev.columns[1].1, "bigint");
        // Incompatible: narrowed, changed, required missing, new required, key clash.
        let e = evolve(&cur, &def(&[("id", "int")], &[])).unwrap_err();
        assert!(e.contains("narrowed from bigint to int"), "{e}");
        let e = evolve(&cur, &def(&[("note", "double")], &[])).unwrap_err();
        assert!(e.contains("changed type"), "{e}");
        let e = evolve(&cur, &def(&[("amount", "int")], &["id"])).unwrap_err();
        assert!(e.contains("required column id is missing"), "{e}");
        let e = evolve(&cur, &def(&[("id", "bigint"), ("x", "int")], &["id", "x"])).unwrap_err();
        assert!(e.contains("new column x is required"), "{e}");
        let e = evolve(&cur, &def(&[("day", "date")], &[])).unwrap_err();
        assert!(e.contains("partition key"), "{e}");
    }
}
