//! Tributary on AWS: the only crate that names the AWS SDK or the Lambda runtime.
//!
//! - [`s3`], [`dynamo`], [`glue`]: the S3, DynamoDB and Glue implementations of the domain's ports
//!   (`tributary::storage::ObjectStore`, `tributary::discovery::manifest::ManifestStore`,
//!   `tributary::catalog::table::ItemTable` (behind the catalog, ledger, records, search index and
//!   snapshot ledger), `tributary::tables::glue::PartitionCatalog`, `tributary::discovery::manifest::PartitionPages`);
//! - [`clients`]: the SDK clients, built once per container from the standard chain;
//! - [`faults`], [`calls`]: test-only SDK interceptors (fault injection, call recording for the
//!   IAM test), switched on by environment variables never set in a deployment;
//! - [`sdk`]: SDK errors reduced to the domain's `AwsError` (one classification for every service);
//! - [`lambda`]: errors as Lambda `Diagnostic`s (`errorType` = `Tributary.Retryable | BadInput | Fatal`);
//! - [`api_gateway`]: API Gateway requests (HTTP API payload 2.0, REST payload 1.0) to and from the API's
//!   gateway-neutral request and response;
//! - [`handlers`]: each function's wiring (configuration, clients, adapters) and its `run`;
//! - [`telemetry`]: JSON logs for CloudWatch.
//!
//! Functions in `functions/*` only call one `handlers::*::run`.

pub mod api_gateway;
pub mod calls;
pub mod clients;
pub mod dynamo;
pub mod faults;
pub mod glue;
pub mod handlers;
pub mod lambda;
pub mod s3;
pub mod sdk;
pub mod telemetry;

pub use clients::Clients;
pub use glue::GlueCatalog;
pub use s3::S3Store;
