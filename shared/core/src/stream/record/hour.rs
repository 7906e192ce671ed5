//! Partitions and compiled specs: the hour an event belongs to ([`HourKey`], its Hive path) and
//! the TTL cache of each dataset's compiled [`RecordSpec`] ([`SpecCache`]).

use super::*;

/// The hour an event belongs to: its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourKey {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
}

impl HourKey {
    pub fn of(us: i64) -> Self {
        let (year, month, day) = civil_from_days(us.div_euclid(MICROS_PER_DAY));
        let hour = (us.rem_euclid(MICROS_PER_DAY) / 3_600_000_000) as u32;
        Self {
            year,
            month,
            day,
            hour,
        }
    }

    /// `YYYYMMDDHH` in `buf` for years 0 to 9999 (else `None`), without allocating.
    pub fn fixed_digits<'b>(&self, buf: &'b mut [u8; 10]) -> Option<&'b str> {
        if !(0..=9999).contains(&self.year) {
            return None;
        }
        let mut put = |at: usize, v: u32, width: usize| {
            let mut v = v;
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, self.year as u32, 4);
        put(4, self.month, 2);
        put(6, self.day, 2);
        put(8, self.hour, 2);
        std::str::from_utf8(buf).ok()
    }

    /// The length of the year's text (4 for years 0 to 9999).
    pub fn year_len(&self) -> usize {
        if (0..=9999).contains(&self.year) {
            4
        } else {
            self.year.to_string().len()
        }
    }

    /// The partition values in [`PARTITION_KEYS`] order: `2024`, `01`, `15`, `10`.
    pub fn values(&self) -> [String; 4] {
        [
            format!("{:04}", self.year),
            format!("{:02}", self.month),
            format!("{:02}", self.day),
            format!("{:02}", self.hour),
        ]
    }

    /// `year=2024/month=01/day=15/hour=10`.
    pub fn path(&self) -> String {
        PARTITION_KEYS
            .iter()
            .zip(self.values())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// A dataset's compiled spec, as the stream functions use it.
#[derive(Debug)]
pub struct Compiled {
    pub dataset: Dataset,
    pub schema: TableSchema,
    pub spec: RecordSpec,
}

/// The stream's dataset and compiled spec, cached per warm container for
/// [`crate::catalog::cache::DATASET_CACHE_TTL`] (declarations change rarely; a new one is picked up
/// within a minute).
pub struct SpecCache {
    cfg: StreamConfig,
    max_record_bytes: usize,
    /// Keyed by the dataset id (one entry).
    cached: TtlCache<Compiled>,
}

impl SpecCache {
    pub fn new(cfg: StreamConfig) -> Self {
        Self {
            cfg,
            max_record_bytes: MAX_RECORD_BYTES,
            cached: TtlCache::datasets(clock::system()),
        }
    }

    /// Measures the cache's TTL on `clock` (emptying the cache).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.cached = self.cached.with_clock(clock);
        self
    }

    /// Compiles specs with another record size limit ([`RecordSpec::with_max_record_bytes`]).
    pub fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max;
        self
    }

    pub fn config(&self) -> &StreamConfig {
        &self.cfg
    }

    /// The dataset's compiled spec: cached, or read from the catalog (declared schema, else the
    /// schema recorded from its first file).
    pub async fn get<C: DatasetCatalog>(&self, catalog: &C) -> Result<Arc<Compiled>, StreamError> {
        let id = &self.cfg.dataset;
        self.cached
            .get_or_try_load(id, || self.compile(catalog))
            .await
    }

    pub(super) async fn compile<C: DatasetCatalog>(
        &self,
        catalog: &C,
    ) -> Result<Compiled, StreamError> {
        let id = &self.cfg.dataset;
        let dataset = catalog
            .get(id)
            .await?
            .ok_or_else(|| StreamError::UnknownDataset(id.clone()))?;
        let schema = match &dataset.schema {
            Some(s) => s.clone(),
            None => catalog
                .recorded_schema(id)
                .await?
                .ok_or_else(|| StreamError::Spec {
                    id: id.clone(),
                    reason: "declares no schema and none is recorded yet; stream records are \
                             validated against one"
                        .into(),
                })?,
        };
        let spec = RecordSpec::new(&dataset, &schema, &self.cfg)?
            .with_max_record_bytes(self.max_record_bytes);
        Ok(Compiled {
            dataset,
            schema,
            spec,
        })
    }
}
