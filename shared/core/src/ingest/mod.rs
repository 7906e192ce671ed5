//! Landing: text and Parquet files validated and converted (clean zone), DMS files sequenced (raw zone).

pub mod cast;
pub mod cdc;
pub mod convert;
pub mod landing;
pub mod textengine;
