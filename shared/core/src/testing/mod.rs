//! In-memory implementations of the storage, Glue and manifest ports, for fast tests of the
//! domain logic without an emulator (compiled for this crate's tests and, for other crates,
//! behind the `testing` feature).
//!
//! - [`MemStore`]: [`crate::storage::ObjectStore`] (buckets, versions, multipart uploads).
//! - [`MemGlue`]: [`crate::tables::glue::PartitionCatalog`] and [`crate::discovery::manifest::PartitionPages`].
//! - [`MemManifests`]: [`crate::discovery::manifest::ManifestStore`] over a [`MemStore`].
//!
//! Invariants:
//! - Each fake follows the real service where the domain relies on it (documented per type) and
//!   answers with the same [`AwsError`] codes, statuses and retryability the SDK adapters would,
//!   so error classification is exercised too.
//! - Clones share state: a test keeps a clone to inspect what the code under test did.
//! - Every call is counted, and faults are injected through a [`Faults`] switch per fake
//!   (`fail_nth`, `fail_every`, `heal`): no test edits the code under test.

mod faults;
mod mem_glue;
mod mem_manifest;
mod mem_store;

#[cfg(test)]
mod tests_landing;
#[cfg(test)]
mod tests_manifest;
#[cfg(test)]
mod tests_registrar;
#[cfg(test)]
mod tests_sink;
#[cfg(test)]
mod tests_store;
#[cfg(test)]
mod tests_table;

pub use faults::Faults;
pub use mem_glue::{GlueOp, MemGlue, MemPartition};
pub use mem_manifest::{ManifestOp, MemManifests, Presigned};
pub use mem_store::{MIN_PART_SIZE, MemStore, StoreOp};

use crate::error::AwsError;

/// A service error as the SDK adapters report it: `code: message`, retryable on 429 and 5xx
/// (the status rule of [`AwsError::service`], which the SDK adapters apply). Codes the adapters also retry at other statuses
/// (Glue's `ThrottlingException` is a 400) need `retryable` set on the result.
pub fn aws_error(operation: &str, code: &str, status: u16, message: &str) -> AwsError {
    AwsError {
        operation: operation.into(),
        code: Some(code.into()),
        status: Some(status),
        message: format!("{code}: {message}"),
        retryable: status == 429 || status >= 500,
    }
}

/// S3's throttling answer (`SlowDown`, 503): retryable.
pub fn slow_down(operation: &str) -> AwsError {
    aws_error(
        operation,
        "SlowDown",
        503,
        "Please reduce your request rate.",
    )
}

/// A permissions failure (`AccessDenied`, 403): fatal.
pub fn access_denied(operation: &str) -> AwsError {
    aws_error(operation, "AccessDenied", 403, "Access Denied")
}
