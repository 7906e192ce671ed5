//! Glue table registration, partition registration and schema evolution.

pub mod glue;
pub mod register;
