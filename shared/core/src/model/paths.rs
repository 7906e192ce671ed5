//! Object key and folder naming shared by every stage: Hive partition values (escaped as Hive
//! escapes them), the quarantine folder of unrouted objects, and the `snapshot=<id>` folders of
//! curated snapshots. Writers and readers of paths use these, so a path written by one stage is
//! read back the same by every other.

/// Hive's name for a NULL or empty partition value.
pub const HIVE_DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Quarantine prefix for objects no dataset claims.
pub const UNROUTED_PREFIX: &str = "_unrouted";

/// Path segment that introduces a snapshot folder.
pub const SNAPSHOT_SEGMENT: &str = "snapshot=";

/// Escapes a partition value as Hive does (`/`, `=`, `%`, control and a few other characters
/// become `%XX`); empty values become [`HIVE_DEFAULT_PARTITION`].
pub fn escape_partition_value(v: &str) -> String {
    if v.is_empty() {
        return HIVE_DEFAULT_PARTITION.to_string();
    }
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        let special = matches!(
            ch,
            '"' | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\x7f'
                | '{'
                | '['
                | ']'
                | '^'
        ) || (ch as u32) < 0x20;
        if special {
            out.push_str(&format!("%{:02X}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// The snapshot id of a key or location holding a `snapshot=<id>` segment.
pub fn snapshot_of_key(key: &str) -> Option<&str> {
    key.split('/')
        .find_map(|seg| seg.strip_prefix(SNAPSHOT_SEGMENT))
        .filter(|s| !s.is_empty())
}
