//! Streaming ingest: record checks and normalisation, the Firehose transformation, the Kinesis consumer.

pub mod firehose;
pub mod kinesis;
pub mod record;
