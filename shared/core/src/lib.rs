//! Tributary's domain library. Every Lambda in `functions/` is a thin `main.rs` around a handler
//! defined here; the logic is generic over narrow ports ([`storage::ObjectStore`],
//! [`catalog::DatasetCatalog`], [`catalog::Ledger`]) implemented for the AWS SDK clients.

pub mod aws;
pub mod catalog;
pub mod compaction;
pub mod config;
pub mod discovery;
pub mod error;
pub mod format;
pub mod ids;
pub mod ingest;
pub mod model;
pub mod storage;
pub mod stream;
pub mod tables;
pub mod telemetry;
