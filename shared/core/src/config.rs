//! Configuration: every environment variable Tributary reads, as a documented constant.
//!
//! Invariants:
//! - Configuration is read **once**, at cold start, by [`Config::from_env`]; handlers receive it
//!   by reference and never touch the environment again.
//! - A missing or malformed variable fails with the variable's name, so a mis-deployed function
//!   dies at init with a message that says what to fix.
//! - Nothing here names a region, account or endpoint: `AWS_ENDPOINT_URL`, `AWS_REGION` and the
//!   credentials are read by aws-config (see `tributary_aws::clients`).

use std::env;

/// Landing zone bucket: files as producers deliver them. Never modified by Tributary.
pub const LANDING_BUCKET: &str = "TRIBUTARY_LANDING_BUCKET";
/// Raw zone bucket: sequenced Parquet with system columns (CDC sequencer, stream ingest).
pub const RAW_BUCKET: &str = "TRIBUTARY_RAW_BUCKET";
/// Clean zone bucket: validated, typed Parquet under Hive partitions (s3-landing).
pub const CLEAN_BUCKET: &str = "TRIBUTARY_CLEAN_BUCKET";
/// Curated zone bucket: published compacted snapshots.
pub const CURATED_BUCKET: &str = "TRIBUTARY_CURATED_BUCKET";
/// Quarantine bucket: rejected files and rows, each with a JSON report beside it.
pub const QUARANTINE_BUCKET: &str = "TRIBUTARY_QUARANTINE_BUCKET";
/// DynamoDB table holding dataset declarations, stats and landing-prefix routes (`pk`, `sk`).
pub const CATALOG_TABLE: &str = "TRIBUTARY_CATALOG_TABLE";
/// DynamoDB table holding the processing ledger: one item per processed source object (`pk`, `sk`).
pub const LEDGER_TABLE: &str = "TRIBUTARY_LEDGER_TABLE";
/// Glue Data Catalog database the lake's tables are registered in.
pub const GLUE_DATABASE: &str = "TRIBUTARY_GLUE_DATABASE";
/// Landing: largest tolerated share of rejected rows (0.0..=1.0, default 0.5). Above it the whole
/// file is quarantined and nothing is published; at or below it good rows land and the rejected
/// rows are quarantined.
pub const MAX_REJECT_RATIO: &str = "TRIBUTARY_MAX_REJECT_RATIO";
/// Landing: rows per Parquet row group (default 131072).
pub const ROW_GROUP_ROWS: &str = "TRIBUTARY_ROW_GROUP_ROWS";
/// Landing: rows sampled from the head of a file to infer its schema when the dataset declares
/// none (default 10000).
pub const INFER_SAMPLE_ROWS: &str = "TRIBUTARY_INFER_SAMPLE_ROWS";
/// Landing and CDC: largest decompressed size of one gzip object, in MiB (default 10240). A file
/// that expands past it is quarantined whole (`decompressed size exceeds ...`), nothing published.
pub const MAX_DECOMPRESSED_MIB: &str = "TRIBUTARY_MAX_DECOMPRESSED_MIB";
/// Landing and CDC: largest compression ratio of a gzip object (decompressed bytes per compressed
/// byte, default 200), checked once 64 MiB have been decompressed; a file past it (a gzip bomb) is
/// quarantined whole.
pub const MAX_COMPRESSION_RATIO: &str = "TRIBUTARY_MAX_COMPRESSION_RATIO";
/// Every function: seconds before the Lambda deadline at which work stops with a retryable error
/// (default 10), so no invocation is killed mid-write.
pub const DEADLINE_MARGIN_SECONDS: &str = "TRIBUTARY_DEADLINE_MARGIN_SECONDS";
/// Fault testing only: stop every run at this point as a crash would (`before_commit` for
/// s3-landing, cdc-sequencer and stream-ingest; `after_files`, `after_swap`, `after_record`,
/// `during_retire` for the compactor; see `crate::faults`). Unset in every deployment.
pub const KILL_POINT: &str = "TRIBUTARY_KILL_POINT";

/// Stream functions (firehose-transform, stream-ingest): id of the dataset whose declared (or
/// recorded) schema the stream's records are validated against; required by those two functions.
pub const STREAM_DATASET: &str = "TRIBUTARY_STREAM_DATASET";
/// Stream functions: the record field holding the event's own time, which picks the
/// year/month/day/hour partition (default: the schema's first `timestamp` column). Records
/// without it (missing or null) fall back to their arrival time.
pub const STREAM_TIME_FIELD: &str = "TRIBUTARY_STREAM_TIME_FIELD";
/// Stream functions: field renames applied before validation, `from=to` pairs separated by
/// commas (e.g. `userId=user_id,eventType=event_type`).
pub const STREAM_RENAMES: &str = "TRIBUTARY_STREAM_RENAMES";
/// Stream functions: filters that drop records (Firehose `Dropped`), `field=value` pairs separated
/// by commas; a record matching any pair is dropped (e.g. `event_type=heartbeat`). `value` matches
/// a JSON string's content or another value's JSON text (`true`, `1`, `null`). Field names are
/// the renamed ones.
pub const STREAM_DROP_IF: &str = "TRIBUTARY_STREAM_DROP_IF";

/// Compactor: bytes of input rows (MiB) buffered before a sorted run spills to local disk
/// (default 256). Keep it at about a quarter of the function's memory.
pub const COMPACT_MEMORY_MIB: &str = "TRIBUTARY_COMPACT_MEMORY_MIB";
/// Compactor: a snapshot file is closed once it reaches this many MiB (default 128).
pub const COMPACT_TARGET_FILE_MIB: &str = "TRIBUTARY_COMPACT_TARGET_FILE_MIB";
/// Compactor: rows per Parquet row group of a snapshot file (default 131072).
pub const COMPACT_ROW_GROUP_ROWS: &str = "TRIBUTARY_COMPACT_ROW_GROUP_ROWS";
/// Compactor: seconds a table's compaction lease lasts (default 960). It must exceed the
/// function's timeout (at most 900 s), so a holder is always dead before its lease expires.
pub const COMPACT_LEASE_SECONDS: &str = "TRIBUTARY_COMPACT_LEASE_SECONDS";
/// Compactor: seconds a superseded snapshot (and a consumed delta) is kept after the newer
/// snapshot is published, for readers still planning on the old one (default 3600).
pub const COMPACT_GRACE_SECONDS: &str = "TRIBUTARY_COMPACT_GRACE_SECONDS";
/// Compactor: local directory for downloaded inputs and spilled runs (default the system temp
/// directory, `/tmp` on Lambda).
pub const COMPACT_SPILL_DIR: &str = "TRIBUTARY_COMPACT_SPILL_DIR";

// ---------------------------------------------------------------- search API (search-api)

/// Search API: bucket the manifests of `POST /manifests` are written to (required by search-api).
pub const MANIFEST_BUCKET: &str = "TRIBUTARY_MANIFEST_BUCKET";
/// Search API: lifetime in seconds of the presigned links in and to a manifest: the default and
/// the largest a request may ask for (1..=900, default 900).
pub const MANIFEST_EXPIRY_SECONDS: &str = "TRIBUTARY_MANIFEST_EXPIRY_SECONDS";
/// Search API: most data objects one manifest may list (default 10000).
pub const MANIFEST_MAX_OBJECTS: &str = "TRIBUTARY_MANIFEST_MAX_OBJECTS";
/// Search API: the JWT claim listing the caller's groups (default `cognito:groups`). Its value
/// may be a JSON array, API Gateway's flattened `[a b]`, or a comma- or space-separated list.
pub const API_GROUPS_CLAIM: &str = "TRIBUTARY_API_GROUPS_CLAIM";
/// Search API: groups whose members see every dataset and may update any dataset's metadata,
/// comma-separated (default `lake-admins`).
pub const API_ADMIN_GROUPS: &str = "TRIBUTARY_API_ADMIN_GROUPS";

/// What search-api reads on top of [`Config`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub manifest_bucket: String,
    pub manifest_expiry_seconds: u64,
    pub manifest_max_objects: usize,
    pub groups_claim: String,
    pub admin_groups: Vec<String>,
}

impl ApiConfig {
    /// Reads the search API's settings from the process environment (call once, at cold start).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the search API's settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let manifest_bucket = match lookup(MANIFEST_BUCKET) {
            Some(v) if !v.trim().is_empty() => v.trim().to_string(),
            _ => return Err(ConfigError::Missing(MANIFEST_BUCKET)),
        };
        let manifest_expiry_seconds: u64 = parse_or(&lookup, MANIFEST_EXPIRY_SECONDS, 900)?;
        if !(1..=900).contains(&manifest_expiry_seconds) {
            return Err(ConfigError::Invalid {
                name: MANIFEST_EXPIRY_SECONDS,
                value: manifest_expiry_seconds.to_string(),
                reason: "must be between 1 and 900 (15 minutes)".into(),
            });
        }
        let manifest_max_objects: usize = parse_or(&lookup, MANIFEST_MAX_OBJECTS, 10_000)?;
        if manifest_max_objects == 0 {
            return Err(ConfigError::Invalid {
                name: MANIFEST_MAX_OBJECTS,
                value: "0".into(),
                reason: "must be positive".into(),
            });
        }
        let groups_claim = lookup(API_GROUPS_CLAIM)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "cognito:groups".into());
        let admin_groups = lookup(API_ADMIN_GROUPS)
            .unwrap_or_else(|| "lake-admins".into())
            .split(',')
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        Ok(Self {
            manifest_bucket,
            manifest_expiry_seconds,
            manifest_max_objects,
            groups_claim,
            admin_groups,
        })
    }
}

/// Error reading configuration: always names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// The deployment's resources: what every function needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub landing_bucket: String,
    pub raw_bucket: String,
    pub clean_bucket: String,
    pub curated_bucket: String,
    pub quarantine_bucket: String,
    pub catalog_table: String,
    pub ledger_table: String,
    pub glue_database: String,
    pub landing: LandingTuning,
}

/// Knobs of the landing conversion; defaults suit a 1 GiB Lambda.
#[derive(Debug, Clone, PartialEq)]
pub struct LandingTuning {
    pub max_reject_ratio: f64,
    pub row_group_rows: usize,
    pub infer_sample_rows: usize,
    /// Largest decompressed size of one object, in bytes ([`MAX_DECOMPRESSED_MIB`]).
    pub max_decompressed_bytes: u64,
    /// Largest decompressed/compressed ratio ([`MAX_COMPRESSION_RATIO`]).
    pub max_compression_ratio: f64,
}

impl Default for LandingTuning {
    fn default() -> Self {
        Self {
            max_reject_ratio: 0.5,
            row_group_rows: 131_072,
            infer_sample_rows: 10_000,
            max_decompressed_bytes: 10 << 30,
            max_compression_ratio: 200.0,
        }
    }
}

impl Config {
    /// Reads the whole configuration from the process environment (call once, at cold start).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not mutate the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| -> Result<String, ConfigError> {
            match lookup(name) {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(ConfigError::Missing(name)),
            }
        };
        let defaults = LandingTuning::default();
        let max_reject_ratio = parse_or(&lookup, MAX_REJECT_RATIO, defaults.max_reject_ratio)?;
        if !(0.0..=1.0).contains(&max_reject_ratio) {
            return Err(ConfigError::Invalid {
                name: MAX_REJECT_RATIO,
                value: max_reject_ratio.to_string(),
                reason: "must be between 0 and 1".into(),
            });
        }
        let row_group_rows = parse_or(&lookup, ROW_GROUP_ROWS, defaults.row_group_rows)?;
        if row_group_rows == 0 {
            return Err(ConfigError::Invalid {
                name: ROW_GROUP_ROWS,
                value: "0".into(),
                reason: "must be positive".into(),
            });
        }
        Ok(Self {
            landing_bucket: required(LANDING_BUCKET)?,
            raw_bucket: required(RAW_BUCKET)?,
            clean_bucket: required(CLEAN_BUCKET)?,
            curated_bucket: required(CURATED_BUCKET)?,
            quarantine_bucket: required(QUARANTINE_BUCKET)?,
            catalog_table: required(CATALOG_TABLE)?,
            ledger_table: required(LEDGER_TABLE)?,
            glue_database: required(GLUE_DATABASE)?,
            landing: LandingTuning {
                max_reject_ratio,
                row_group_rows,
                infer_sample_rows: parse_or(
                    &lookup,
                    INFER_SAMPLE_ROWS,
                    defaults.infer_sample_rows,
                )?,
                max_decompressed_bytes: positive(
                    &lookup,
                    MAX_DECOMPRESSED_MIB,
                    defaults.max_decompressed_bytes >> 20,
                )? << 20,
                max_compression_ratio: {
                    let r = parse_or(
                        &lookup,
                        MAX_COMPRESSION_RATIO,
                        defaults.max_compression_ratio,
                    )?;
                    if !(r.is_finite() && r >= 1.0) {
                        return Err(ConfigError::Invalid {
                            name: MAX_COMPRESSION_RATIO,
                            value: r.to_string(),
                            reason: "must be a number of at least 1".into(),
                        });
                    }
                    r
                },
            },
        })
    }
}

/// What the two stream functions read on top of [`Config`]: the dataset and how its records are
/// normalised (see [`STREAM_DATASET`], [`STREAM_TIME_FIELD`], [`STREAM_RENAMES`], [`STREAM_DROP_IF`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamConfig {
    pub dataset: String,
    /// `None`: the schema's first `timestamp` column.
    pub time_field: Option<String>,
    /// `(from, to)`, applied to record keys before anything else.
    pub renames: Vec<(String, String)>,
    /// `(field, value)`: a record whose `field` holds `value` is dropped.
    pub drop_if: Vec<(String, String)>,
}

impl StreamConfig {
    /// Reads the stream settings from the process environment (call once, at cold start).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the stream settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let dataset = match lookup(STREAM_DATASET) {
            Some(v) if !v.trim().is_empty() => v.trim().to_string(),
            _ => return Err(ConfigError::Missing(STREAM_DATASET)),
        };
        let time_field = lookup(STREAM_TIME_FIELD)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let renames = pairs(&lookup, STREAM_RENAMES)?;
        let mut sources = std::collections::HashSet::new();
        let mut targets = std::collections::HashSet::new();
        for (from, to) in &renames {
            if from == to || !sources.insert(from.as_str()) || !targets.insert(to.as_str()) {
                return Err(ConfigError::Invalid {
                    name: STREAM_RENAMES,
                    value: lookup(STREAM_RENAMES).unwrap_or_default(),
                    reason: format!(
                        "{from}={to}: each source and each target may appear once, and differ"
                    ),
                });
            }
        }
        Ok(Self {
            dataset,
            time_field,
            renames,
            drop_if: pairs(&lookup, STREAM_DROP_IF)?,
        })
    }
}

/// The compactor's knobs (see [`COMPACT_MEMORY_MIB`] and the constants after it).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionTuning {
    pub memory_budget: usize,
    pub target_file_bytes: u64,
    pub row_group_rows: usize,
    pub lease_ttl: std::time::Duration,
    pub grace: std::time::Duration,
    pub spill_dir: std::path::PathBuf,
}

impl Default for CompactionTuning {
    fn default() -> Self {
        Self {
            memory_budget: 256 << 20,
            target_file_bytes: 128 << 20,
            row_group_rows: 131_072,
            lease_ttl: std::time::Duration::from_secs(960),
            grace: std::time::Duration::from_secs(3600),
            spill_dir: env::temp_dir(),
        }
    }
}

impl CompactionTuning {
    /// Reads the compactor's settings from the process environment (call once, at cold start).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the compactor's settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let positive = |name: &'static str, default: u64| positive(&lookup, name, default);
        Ok(Self {
            memory_budget: (positive(COMPACT_MEMORY_MIB, 256)? as usize) << 20,
            target_file_bytes: positive(COMPACT_TARGET_FILE_MIB, 128)? << 20,
            row_group_rows: positive(COMPACT_ROW_GROUP_ROWS, d.row_group_rows as u64)? as usize,
            lease_ttl: std::time::Duration::from_secs(positive(COMPACT_LEASE_SECONDS, 960)?),
            grace: std::time::Duration::from_secs(parse_or(&lookup, COMPACT_GRACE_SECONDS, 3600)?),
            spill_dir: lookup(COMPACT_SPILL_DIR)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map_or(d.spill_dir, Into::into),
        })
    }
}

/// `a=b,c=d` into pairs; empty or unset is no pairs; a pair without `=` or with an empty name is
/// an error naming the variable.
fn pairs(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(raw) = lookup(name) else {
        return Ok(vec![]);
    };
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(ConfigError::Invalid {
                name,
                value: raw.clone(),
                reason: format!("{p:?} is not a name=value pair"),
            }),
        })
        .collect()
}

/// A positive integer variable, or `default` when unset.
fn positive(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    let v = parse_or(lookup, name, default)?;
    if v == 0 {
        return Err(ConfigError::Invalid {
            name,
            value: "0".into(),
            reason: "must be positive".into(),
        });
    }
    Ok(v)
}

/// [`KILL_POINT`], read once by each function's wiring: `None` when unset.
pub fn kill_point(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::faults::KillPoint>, ConfigError> {
    match lookup(KILL_POINT) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => crate::faults::KillPoint::parse(&v)
            .map(Some)
            .ok_or_else(|| ConfigError::Invalid {
                name: KILL_POINT,
                value: v,
                reason:
                    "expected before_commit, after_files, after_swap, after_record or during_retire"
                        .into(),
            }),
    }
}

/// [`DEADLINE_MARGIN_SECONDS`], read once by each function's wiring.
pub fn deadline_margin(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<std::time::Duration, ConfigError> {
    parse_or(&lookup, DEADLINE_MARGIN_SECONDS, 10u64).map(std::time::Duration::from_secs)
}

fn parse_or<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match lookup(name) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            value: v,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn full() -> HashMap<&'static str, String> {
        [
            LANDING_BUCKET,
            RAW_BUCKET,
            CLEAN_BUCKET,
            CURATED_BUCKET,
            QUARANTINE_BUCKET,
            CATALOG_TABLE,
            LEDGER_TABLE,
            GLUE_DATABASE,
        ]
        .into_iter()
        .map(|k| (k, format!("v-{k}")))
        .collect()
    }

    #[test]
    fn reads_every_variable_and_defaults_tuning() {
        let env = full();
        let cfg = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(cfg.clean_bucket, "v-TRIBUTARY_CLEAN_BUCKET");
        assert_eq!(cfg.landing, LandingTuning::default());
    }

    #[test]
    fn missing_variable_is_named() {
        let mut env = full();
        env.remove(LEDGER_TABLE);
        let err = Config::from_lookup(|k| env.get(k).cloned()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TRIBUTARY_LEDGER_TABLE is not set"
        );
    }

    #[test]
    fn stream_settings_parse_and_name_bad_variables() {
        let mut env: HashMap<&'static str, String> = HashMap::new();
        let read = |env: &HashMap<&'static str, String>| {
            StreamConfig::from_lookup(|k| env.get(k).cloned())
        };
        assert_eq!(
            read(&env).unwrap_err().to_string(),
            "environment variable TRIBUTARY_STREAM_DATASET is not set"
        );
        env.insert(STREAM_DATASET, " web.events ".into());
        assert_eq!(
            read(&env).unwrap(),
            StreamConfig {
                dataset: "web.events".into(),
                ..Default::default()
            }
        );
        env.insert(STREAM_TIME_FIELD, "ts".into());
        env.insert(
            STREAM_RENAMES,
            "userId=user_id, eventType = event_type".into(),
        );
        env.insert(STREAM_DROP_IF, "event_type=heartbeat,ping=true,".into());
        let cfg = read(&env).unwrap();
        assert_eq!(cfg.time_field.as_deref(), Some("ts"));
        assert_eq!(
            cfg.renames,
            vec![
                ("userId".to_string(), "user_id".to_string()),
                ("eventType".to_string(), "event_type".to_string())
            ]
        );
        assert_eq!(cfg.drop_if[1], ("ping".to_string(), "true".to_string()));
        env.insert(STREAM_DROP_IF, "heartbeat".into());
        assert!(read(&env).unwrap_err().to_string().contains(STREAM_DROP_IF));
        env.remove(STREAM_DROP_IF);
        for bad in ["a=x,b=x", "a=x,a=y", "a=a"] {
            env.insert(STREAM_RENAMES, bad.into());
            assert!(
                read(&env).unwrap_err().to_string().contains(STREAM_RENAMES),
                "{bad}"
            );
        }
    }

    #[test]
    fn api_settings_default_and_name_bad_variables() {
        let mut env: HashMap<&'static str, String> = HashMap::new();
        let read =
            |env: &HashMap<&'static str, String>| ApiConfig::from_lookup(|k| env.get(k).cloned());
        assert!(
            read(&env)
                .unwrap_err()
                .to_string()
                .contains(MANIFEST_BUCKET)
        );
        env.insert(MANIFEST_BUCKET, "m".into());
        let cfg = read(&env).unwrap();
        assert_eq!(
            (cfg.manifest_expiry_seconds, cfg.groups_claim.as_str()),
            (900, "cognito:groups")
        );
        assert_eq!(cfg.admin_groups, vec!["lake-admins".to_string()]);
        env.insert(MANIFEST_EXPIRY_SECONDS, "901".into());
        assert!(
            read(&env)
                .unwrap_err()
                .to_string()
                .contains(MANIFEST_EXPIRY_SECONDS)
        );
        env.insert(MANIFEST_EXPIRY_SECONDS, "60".into());
        env.insert(API_ADMIN_GROUPS, "a, b".into());
        let cfg = read(&env).unwrap();
        assert_eq!(cfg.manifest_expiry_seconds, 60);
        assert_eq!(cfg.admin_groups, vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn invalid_tuning_is_named() {
        let mut env = full();
        env.insert(MAX_REJECT_RATIO, "1.5".into());
        let err = Config::from_lookup(|k| env.get(k).cloned()).unwrap_err();
        assert!(
            err.to_string().contains("TRIBUTARY_MAX_REJECT_RATIO"),
            "{err}"
        );
        env.insert(MAX_REJECT_RATIO, "lots".into());
        let err = Config::from_lookup(|k| env.get(k).cloned()).unwrap_err();
        assert!(
            err.to_string().contains("TRIBUTARY_MAX_REJECT_RATIO"),
            "{err}"
        );
    }
}
