//! Finding and fetching data: the search query engine, the HTTP API, manifests of presigned links.

pub mod api;
pub mod manifest;
pub mod search;
