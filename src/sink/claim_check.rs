//! Claim check for dead letters too large for SQS/SNS: the value goes to S3,
//! the envelope keeps all metadata plus the value's location.

use aws_sdk_s3::primitives::ByteStream;

use super::{BoxFuture, LargeValueStore, SinkError};
use crate::letter::{DeadLetter, ValueLocation};

const NAME: &str = "s3";

/// Large values in an S3 bucket under a prefix.
#[derive(Debug, Clone)]
pub struct S3ClaimCheck {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3ClaimCheck {
    /// Values go to `s3://bucket/prefix...`.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }
}

impl LargeValueStore for S3ClaimCheck {
    fn store<'a>(
        &'a self,
        letter: &'a DeadLetter,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<ValueLocation, SinkError>> {
        Box::pin(async move {
            let key = letter.claim_check_key(&self.prefix);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .body(ByteStream::from(value.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    let text = format!(
                        "cannot store large dead letter in s3://{}/{key}: {}",
                        self.bucket,
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    );
                    SinkError::unavailable_because(NAME, text, e)
                })?;
            Ok(ValueLocation {
                bucket: self.bucket.clone(),
                key,
                size: value.len() as u64,
            })
        })
    }

    fn fetch<'a>(
        &'a self,
        location: &'a ValueLocation,
    ) -> BoxFuture<'a, Result<Vec<u8>, SinkError>> {
        Box::pin(async move {
            let context = || format!("cannot read s3://{}/{}", location.bucket, location.key);
            let out = self
                .client
                .get_object()
                .bucket(&location.bucket)
                .key(&location.key)
                .send()
                .await
                .map_err(|e| {
                    let text = format!(
                        "{}: {}",
                        context(),
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    );
                    SinkError::unavailable_because(NAME, text, e)
                })?;
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| SinkError::unavailable_because(NAME, context(), e))?;
            Ok(bytes.into_bytes().to_vec())
        })
    }
}
