//! Claim check for dead letters too large for SQS/SNS: the value goes to S3,
//! the envelope keeps all metadata plus the value's location.

use aws_sdk_s3::primitives::ByteStream;

use crate::envelope::{DeadLetter, ValueLocation};

#[derive(Debug, Clone)]
pub struct ClaimCheck {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub prefix: String,
}

impl ClaimCheck {
    /// Object key: stable per record and replay generation, so a retried
    /// write overwrites instead of piling up.
    pub fn object_key(&self, letter: &DeadLetter) -> String {
        format!(
            "{}{}/{}/{}-{}.bin",
            self.prefix,
            letter.source_ref(),
            letter.group_id(),
            letter.record_ref(),
            letter.replay_count
        )
    }

    pub async fn store(&self, letter: &DeadLetter, value: &[u8]) -> Result<ValueLocation, String> {
        let key = self.object_key(letter);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(value.to_vec()))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot store large dead letter in s3://{}/{key}: {}",
                    self.bucket,
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        Ok(ValueLocation {
            bucket: self.bucket.clone(),
            key,
            size: value.len() as u64,
        })
    }

    pub async fn fetch(&self, location: &ValueLocation) -> Result<Vec<u8>, String> {
        let out = self
            .client
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read s3://{}/{}: {}",
                    location.bucket,
                    location.key,
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        let bytes = out.body.collect().await.map_err(|e| e.to_string())?;
        Ok(bytes.into_bytes().to_vec())
    }
}
