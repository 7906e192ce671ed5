//! The data model: dataset declarations, schemas and column types, partition paths, events naming objects.

pub mod events;
pub mod schema;
