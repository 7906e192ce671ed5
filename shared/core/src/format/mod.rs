//! File and record formats independent of any stage: strict JSON records, Parquet settings.

pub mod datetime;
pub mod jsonrec;
pub mod parquet;
pub mod raw;
