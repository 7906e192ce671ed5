//! [`ObjectStore`] over the AWS SDK's S3 client: the only place S3 API calls are made.
//!
//! Reads pin the ETag seen by `head` (`If-Match`), so an object overwritten mid-flight fails
//! loudly ([`StorageError::Changed`]) instead of mixing two versions.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use chrono::DateTime;
use std::time::{Duration, SystemTime};

use tributary::discovery::manifest::{ManifestError, ManifestStore, ObjectInfo};
use tributary::error::AwsError;
use tributary::storage::{ObjectBody, ObjectMeta, ObjectStore, StorageError};

/// [`ObjectStore`] over the AWS SDK's S3 client.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

fn aws<E>(
    op: &str,
    bucket: &str,
    key: &str,
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StorageError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    StorageError::Aws(crate::sdk::aws_error(
        format!("s3:{op} s3://{bucket}/{key}"),
        e,
    ))
}

impl ObjectStore for S3Store {
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(ObjectMeta {
                size: o.content_length().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                version_id: o.version_id().filter(|v| *v != "null").map(str::to_string),
                last_modified: o
                    .last_modified()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                // HEAD answers a bare 404 for a missing bucket too: ask the bucket.
                match self.client.head_bucket().bucket(bucket).send().await {
                    Ok(_) => Ok(None),
                    Err(b) if b.as_service_error().is_some_and(|s| s.is_not_found()) => {
                        Err(StorageError::NoSuchBucket {
                            bucket: bucket.into(),
                        })
                    }
                    Err(b) => Err(StorageError::Aws(crate::sdk::aws_error(
                        format!("s3:HeadBucket {bucket}"),
                        b,
                    ))),
                }
            }
            Err(e) => Err(aws("HeadObject", bucket, key, e)),
        }
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<ObjectBody, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_if_match(if_match.map(|e| format!("\"{e}\"")))
            .send()
            .await
            .map_err(|e| {
                let err = crate::sdk::aws_error(format!("s3:GetObject s3://{bucket}/{key}"), e);
                if err.is_code("PreconditionFailed") || err.status == Some(412) {
                    StorageError::Changed {
                        bucket: bucket.into(),
                        key: key.into(),
                        etag: if_match.unwrap_or_default().into(),
                    }
                } else {
                    StorageError::Aws(err)
                }
            })?;
        Ok(Box::pin(out.body.into_async_read()))
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        start: u64,
        end: u64,
    ) -> Result<Bytes, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{end}"))
            .send()
            .await
            .map_err(|e| aws("GetObject", bucket, key, e))?;
        let data = out.body.collect().await.map_err(|e| {
            StorageError::Aws(AwsError {
                operation: format!("s3:GetObject s3://{bucket}/{key}"),
                code: None,
                status: None,
                message: e.to_string(),
                retryable: true,
            })
        })?;
        Ok(data.into_bytes())
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| aws("PutObject", bucket, key, e))?;
        Ok(())
    }

    async fn copy(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
    ) -> Result<(), StorageError> {
        self.client
            .copy_object()
            .bucket(dst_bucket)
            .key(dst_key)
            .copy_source(format!("{src_bucket}/{}", encode_copy_source(src_key)))
            .send()
            .await
            .map_err(|e| aws("CopyObject", dst_bucket, dst_key, e))?;
        Ok(())
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| aws("DeleteObject", bucket, key, e))?;
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws("ListObjectsV2", bucket, prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(keys)
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<String, StorageError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| aws("CreateMultipartUpload", bucket, key, e))?;
        Ok(out.upload_id().unwrap_or_default().to_string())
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Result<String, StorageError> {
        let out = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| aws("UploadPart", bucket, key, e))?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }

    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), StorageError> {
        let parts = parts
            .into_iter()
            .map(|(n, etag)| CompletedPart::builder().part_number(n).e_tag(etag).build())
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws("CompleteMultipartUpload", bucket, key, e))?;
        Ok(())
    }

    async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StorageError> {
        self.client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| aws("AbortMultipartUpload", bucket, key, e))?;
        Ok(())
    }
}

/// Percent-encodes a key for the `x-amz-copy-source` header (keeps `/`).
fn encode_copy_source(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What manifests need of S3 (listing with sizes, the manifest itself, presigned links).
impl ManifestStore for S3Store {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, ManifestError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| {
                    crate::sdk::aws_error(format!("s3:ListObjectsV2 {bucket}/{prefix}"), e)
                })?;
            for o in page.contents() {
                out.push(ObjectInfo {
                    key: o.key().unwrap_or_default().to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                });
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    async fn put_json(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), ManifestError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| crate::sdk::aws_error(format!("s3:PutObject {bucket}/{key}"), e))?;
        Ok(())
    }

    async fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        signed_at: SystemTime,
        expires: Duration,
    ) -> Result<String, ManifestError> {
        let presign_err = |reason: String| ManifestError::Presign {
            bucket: bucket.into(),
            key: key.into(),
            reason,
        };
        let conf = aws_sdk_s3::presigning::PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(expires)
            .build()
            .map_err(|e| presign_err(e.to_string()))?;
        let req = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(conf)
            .await
            .map_err(|e| presign_err(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(req.uri().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_percent_encoded() {
        assert_eq!(encode_copy_source("a b/c+d%.csv"), "a%20b/c%2Bd%25.csv");
    }
}
