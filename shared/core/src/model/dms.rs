//! AWS DMS's vocabulary as the pipeline records it: a file's phase (full load or CDC).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    FullLoad,
    Cdc,
}
