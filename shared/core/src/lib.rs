//! Tributary's domain: every handler's logic, generic over narrow ports ([`storage::ObjectStore`],
//! [`catalog::DatasetCatalog`], [`catalog::Ledger`], [`tables::glue::PartitionCatalog`], ...).
//! The ports' AWS implementations and the wiring of each Lambda live in `tributary-aws`.
//!
//! Folders follow the pipeline, and depend downward only (the architecture test checks it):
//! `model`, `format` → `storage`, `catalog` → `tables` → the stages `ingest`, `stream`,
//! `compaction`, `discovery` (which do not use each other).

pub mod catalog;
pub mod clock;
pub mod compaction;
pub mod config;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod format;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod storage;
pub mod stream;
pub mod tables;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
