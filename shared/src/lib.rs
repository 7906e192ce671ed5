//! Tributary's domain library. Every Lambda in `functions/` is a thin `main.rs` around a handler
//! defined here; the logic is generic over narrow ports ([`storage::ObjectStore`],
//! [`catalog::DatasetCatalog`], [`catalog::Ledger`]) implemented for the AWS SDK clients.

pub mod api;
pub mod aws;
pub mod catalog;
pub mod cdc;
pub mod compact;
pub mod compactor;
pub mod config;
pub mod convert;
pub mod error;
pub mod events;
pub mod firehose;
pub mod glue;
pub mod ids;
pub mod jsonrec;
pub mod kinesis;
pub mod landing;
pub mod manifest;
pub mod records;
pub mod register;
pub mod schema;
pub mod search;
pub mod storage;
pub mod stream;
pub mod telemetry;
