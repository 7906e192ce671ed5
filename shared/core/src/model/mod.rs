//! The data model: dataset declarations, schemas and column types, partition paths, events naming objects.

pub mod dms;
pub mod events;
pub mod paths;
pub mod schema;
