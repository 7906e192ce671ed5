//! Every item key of Tributary's two tables, built here and nowhere else.
//!
//! Both tables have a string partition key `pk` and sort key `sk` (`crate::catalog::table::PK`, `SK`).
//!
//! | table | pk | sk | item (written by) |
//! | --- | --- | --- | --- |
//! | catalog | `dataset#<id>` | `declaration` | the dataset's record: `doc`, `version`, `ix`, ... (`crate::catalog::records`) |
//! | catalog | `dataset#<id>` | `stats` | counts, location, recorded schema (`crate::catalog`, landing commits) |
//! | catalog | `dataset#<id>` | `schema#<NNNNNN>` | one schema version (`crate::catalog::records`) |
//! | catalog | `route#<landing prefix>` | `route` | `dataset_id` (`crate::catalog::records`) |
//! | catalog | `zroute#<zone>#<zone prefix>` | `route` | `dataset_id`, for a declared `zone_prefix` (`crate::catalog::records`) |
//! | catalog | `search#docs` | `s<shard>` | digest cells of the search index (`discovery::search`) |
//! | catalog | `search#t<NN>` | `s<shard>` | posting cells of term bucket `NN` (`discovery::search`) |
//! | catalog | `compaction#<id>` | `snapshot` | the published snapshot record (`compaction`) |
//! | catalog | `compaction#<id>` | `lease` | the compaction lease: `owner`, `expires_ms` (`compaction`) |
//! | ledger | `object#<bucket>/<key>` | `<version id or ETag>` | one processed object (`crate::catalog`) |
//!
//! Invariant: a key's text is a function of its arguments only (no hashing here; shards and
//! buckets are computed by `catalog::index`), and the prefixes never overlap, so a partition key
//! names its kind of item.

use crate::catalog::table::Key;

/// Partition key prefix of a dataset's record items.
pub const DATASET_PREFIX: &str = "dataset#";
/// Sort key of a dataset's declaration.
pub const DECLARATION_SK: &str = "declaration";
/// Sort key of a dataset's stats.
pub const STATS_SK: &str = "stats";
/// Sort key prefix of a dataset's schema versions.
pub const SCHEMA_SK_PREFIX: &str = "schema#";
/// Partition key prefix of a landing-prefix route.
pub const ROUTE_PREFIX: &str = "route#";
/// Partition key prefix of a zone-prefix route.
pub const ZONE_ROUTE_PREFIX: &str = "zroute#";
/// Sort key of every route item.
pub const ROUTE_SK: &str = "route";
/// Partition key prefix of a ledger entry.
pub const OBJECT_PREFIX: &str = "object#";
/// Partition key prefix of a table's compaction items.
pub const COMPACTION_PREFIX: &str = "compaction#";
/// Sort key of a table's published snapshot record.
pub const SNAPSHOT_SK: &str = "snapshot";
/// Sort key of a table's compaction lease.
pub const LEASE_SK: &str = "lease";
/// Partition key of the search index's digest items.
pub const DOCS_PK: &str = "search#docs";
/// Partition key prefix of the search index's term bucket items.
pub const TERM_PREFIX: &str = "search#t";

pub fn dataset_pk(id: &str) -> String {
    format!("{DATASET_PREFIX}{id}")
}

/// The dataset id of a record's partition key.
pub fn dataset_id_of(pk: &str) -> Option<&str> {
    pk.strip_prefix(DATASET_PREFIX)
}

pub fn declaration(id: &str) -> Key {
    Key::new(dataset_pk(id), DECLARATION_SK)
}

pub fn stats(id: &str) -> Key {
    Key::new(dataset_pk(id), STATS_SK)
}

pub fn schema_sk(version: u64) -> String {
    format!("{SCHEMA_SK_PREFIX}{version:06}")
}

pub fn schema_version(id: &str, version: u64) -> Key {
    Key::new(dataset_pk(id), schema_sk(version))
}

pub fn route_pk(landing_prefix: &str) -> String {
    format!("{ROUTE_PREFIX}{landing_prefix}")
}

pub fn zone_route_pk(zone: &str, zone_prefix: &str) -> String {
    format!("{ZONE_ROUTE_PREFIX}{zone}#{zone_prefix}")
}

/// The route item of a landing prefix.
pub fn route(landing_prefix: &str) -> Key {
    Key::new(route_pk(landing_prefix), ROUTE_SK)
}

/// The route item of a zone prefix in `zone`.
pub fn zone_route(zone: &str, zone_prefix: &str) -> Key {
    Key::new(zone_route_pk(zone, zone_prefix), ROUTE_SK)
}

pub fn ledger_pk(bucket: &str, key: &str) -> String {
    format!("{OBJECT_PREFIX}{bucket}/{key}")
}

/// The ledger entry of one version of an object.
pub fn ledger_entry(bucket: &str, key: &str, version: &str) -> Key {
    Key::new(ledger_pk(bucket, key), version)
}

pub fn compaction_pk(dataset: &str) -> String {
    format!("{COMPACTION_PREFIX}{dataset}")
}

pub fn snapshot(dataset: &str) -> Key {
    Key::new(compaction_pk(dataset), SNAPSHOT_SK)
}

pub fn lease(dataset: &str) -> Key {
    Key::new(compaction_pk(dataset), LEASE_SK)
}

pub fn term_pk(bucket: u32) -> String {
    format!("{TERM_PREFIX}{bucket:02}")
}

pub fn shard_sk(shard: u32) -> String {
    format!("s{shard}")
}

/// The digest item of a shard.
pub fn docs(shard: u32) -> Key {
    Key::new(DOCS_PK, shard_sk(shard))
}

/// The item of term bucket `bucket` in a shard.
pub fn terms(bucket: u32, shard: u32) -> Key {
    Key::new(term_pk(bucket), shard_sk(shard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_documented_text() {
        assert_eq!(declaration("hr.x"), Key::new("dataset#hr.x", "declaration"));
        assert_eq!(stats("hr.x").sk, "stats");
        assert_eq!(schema_version("hr.x", 7).sk, "schema#000007");
        assert_eq!(route("hr/x/"), Key::new("route#hr/x/", "route"));
        assert_eq!(
            zone_route("raw", "dms/hr/"),
            Key::new("zroute#raw#dms/hr/", "route")
        );
        assert_eq!(
            ledger_entry("b", "k/1.csv", "v1"),
            Key::new("object#b/k/1.csv", "v1")
        );
        assert_eq!(snapshot("t"), Key::new("compaction#t", "snapshot"));
        assert_eq!(lease("t"), Key::new("compaction#t", "lease"));
        assert_eq!(docs(3), Key::new("search#docs", "s3"));
        assert_eq!(terms(7, 2), Key::new("search#t07", "s2"));
        assert_eq!(dataset_id_of(&dataset_pk("a.b")), Some("a.b"));
        assert_eq!(dataset_id_of("route#a/"), None);
    }
}
