//! Lambda's on-failure destination: the documents it writes for records
//! that exhausted their retries, and writing them to the local stack.
//! SQS and SNS get metadata only (offset ranges per partition); S3 gets the
//! same plus the whole event as `payload`; a Kafka topic gets one record
//! per failed record, keyed like the original, with that record's event.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};

use crate::event::{event_json, Rec};
use crate::settings::{EventShape, OnFailure};

/// Why records went to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `MaximumRetryAttempts` used up.
    RetryAttemptsExhausted,
    /// Older than `MaximumRecordAgeInSeconds`.
    RecordAgeExceeded,
    /// A single record larger than the invocation payload limit.
    MaximumPayloadSizeExceeded,
}

impl Condition {
    /// Lambda's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::RecordAgeExceeded => "RecordAgeExceeded",
            Condition::MaximumPayloadSizeExceeded => "MaximumPayloadSizeExceeded",
        }
    }
}

/// Records that failed for good, with what the documents say about them.
#[derive(Debug, Clone)]
pub struct Failed<'a> {
    /// The records, in batch order.
    pub records: Vec<&'a Rec>,
    /// Why.
    pub condition: Condition,
    /// The last invocation's request id.
    pub request_id: String,
    /// The function's ARN.
    pub function_arn: String,
    /// Invocations of these records.
    pub invoke_count: u32,
    /// The function's error type, when it failed with one.
    pub function_error: Option<String>,
    /// The event's shape.
    pub shape: &'a EventShape,
    /// The cluster.
    pub bootstrap: &'a str,
}

fn rfc3339(ms: Option<i64>) -> String {
    let ms = ms.unwrap_or(0);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    rfc3339(Some(ms))
}

impl Failed<'_> {
    fn arn(&self) -> Value {
        match self.shape {
            EventShape::Msk { arn } => json!(arn),
            EventShape::SelfManaged => Value::Null,
        }
    }

    fn context(&self, batch_info: Value) -> Value {
        let response = if self.condition == Condition::MaximumPayloadSizeExceeded {
            Value::Null
        } else {
            json!({
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": self.function_error.clone().unwrap_or_else(|| "Unhandled".to_owned()),
            })
        };
        json!({
            "requestContext": {
                "requestId": self.request_id,
                "functionArn": self.function_arn,
                "condition": self.condition.as_str(),
                "approximateInvokeCount": self.invoke_count,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": now_rfc3339(),
            "KafkaBatchInfo": batch_info,
        })
    }

    /// The SQS/SNS document: offset ranges per partition, no records.
    pub fn metadata_document(&self) -> Value {
        let mut ranges: BTreeMap<String, (&Rec, &Rec)> = BTreeMap::new();
        for r in &self.records {
            let e = ranges.entry(r.partition_key()).or_insert((r, r));
            if r.offset < e.0.offset {
                e.0 = r;
            }
            if r.offset > e.1.offset {
                e.1 = r;
            }
        }
        let info: serde_json::Map<String, Value> = ranges
            .into_iter()
            .map(|(k, (first, last))| {
                (
                    k,
                    json!({
                        "firstRecordOffset": first.offset.to_string(),
                        "lastRecordOffset": last.offset.to_string(),
                        "firstRecordTimestamp": rfc3339(first.timestamp),
                        "lastRecordTimestamp": rfc3339(last.timestamp),
                    }),
                )
            })
            .collect();
        let payload = event_json(self.shape, self.bootstrap, &self.records);
        self.context(json!({
            "batchSize": self.records.len(),
            "eventSourceArn": self.arn(),
            "bootstrapServers": self.bootstrap,
            "payloadSize": payload.len(),
            "recordsInfo": info,
        }))
    }

    /// The S3 document: the metadata plus the whole event as a string.
    pub fn s3_document(&self) -> Value {
        let mut doc = self.metadata_document();
        doc["payload"] = json!(event_json(self.shape, self.bootstrap, &self.records));
        doc
    }

    /// The Kafka-topic documents: one per record, with its own event.
    pub fn kafka_documents(&self) -> Vec<(&Rec, Value)> {
        self.records
            .iter()
            .map(|r| {
                let payload = event_json(self.shape, self.bootstrap, &[r]);
                let mut doc = self.context(json!({
                    "batchSize": 1,
                    "eventSourceArn": self.arn(),
                    "bootstrapServers": self.bootstrap,
                    "payloadSize": payload.len(),
                    "recordInfo": {
                        "offset": r.offset.to_string(),
                        "timestamp": rfc3339(r.timestamp),
                    },
                }));
                doc["payload"] = serde_json::from_str(&payload).unwrap_or(Value::Null);
                (*r, doc)
            })
            .collect()
    }
}

/// A destination write that did not happen (the records stay unresolved and
/// are tried again).
#[derive(Debug, thiserror::Error)]
#[error("on-failure destination {destination}: {message}")]
pub struct DestinationError {
    /// Which destination.
    pub destination: String,
    /// What happened.
    pub message: String,
}

/// A connected on-failure destination.
pub struct Destination {
    target: OnFailure,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    s3: aws_sdk_s3::Client,
    kafka: Option<FutureProducer>,
    written: u64,
}

impl Destination {
    /// Connects to `target`: AWS endpoints from `sdk`, Kafka at `bootstrap`.
    pub fn new(
        target: OnFailure,
        sdk: &aws_config::SdkConfig,
        bootstrap: &str,
    ) -> Result<Self, DestinationError> {
        let kafka = match &target {
            OnFailure::Kafka(_) => Some(
                rdkafka::ClientConfig::new()
                    .set("bootstrap.servers", bootstrap)
                    .set("enable.idempotence", "true")
                    .set("acks", "all")
                    .create()
                    .map_err(|e| DestinationError {
                        destination: format!("{target:?}"),
                        message: e.to_string(),
                    })?,
            ),
            _ => None,
        };
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build();
        Ok(Self {
            target,
            sqs: aws_sdk_sqs::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            kafka,
            written: 0,
        })
    }

    /// The target.
    pub fn target(&self) -> &OnFailure {
        &self.target
    }

    /// Documents written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes the documents for `failed`; `Ok` once the destination took them.
    pub async fn deliver(&mut self, failed: &Failed<'_>) -> Result<(), DestinationError> {
        let err = |message: String| DestinationError {
            destination: format!("{:?}", self.target),
            message,
        };
        match &self.target {
            OnFailure::Sqs(url) => {
                self.sqs
                    .send_message()
                    .queue_url(url)
                    .message_body(failed.metadata_document().to_string())
                    .send()
                    .await
                    .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
                self.written += 1;
            }
            OnFailure::Sns(arn) => {
                self.sns
                    .publish()
                    .topic_arn(arn)
                    .message(failed.metadata_document().to_string())
                    .send()
                    .await
                    .map_err(|e| err(aws_sdk_sns::error::DisplayErrorContext(e).to_string()))?;
                self.written += 1;
            }
            OnFailure::S3(bucket) => {
                let first = failed
                    .records
                    .first()
                    .map(|r| (r.partition_key(), r.offset));
                let (pk, offset) = first.unwrap_or_default();
                let key = format!(
                    "aws/lambda/msk-dlq-esm/{pk}/{}-{offset}.json",
                    now_rfc3339().replace(':', ".")
                );
                self.s3
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(failed.s3_document().to_string().into_bytes().into())
                    .send()
                    .await
                    .map_err(|e| err(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
                self.written += 1;
            }
            OnFailure::Kafka(topic) => {
                let Some(producer) = &self.kafka else {
                    return Err(err("no producer".into()));
                };
                for (rec, doc) in failed.kafka_documents() {
                    let value = doc.to_string();
                    let mut record: FutureRecord<'_, [u8], str> =
                        FutureRecord::to(topic).payload(&value);
                    if let Some(k) = &rec.key {
                        record = record.key(k.as_slice());
                    }
                    producer
                        .send(record, Duration::from_secs(30))
                        .await
                        .map_err(|(e, _)| err(e.to_string()))?;
                    self.written += 1;
                }
            }
        }
        Ok(())
    }
}
