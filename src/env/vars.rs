//! Every environment variable msk-dlq reads.

/// `dlq.consumer` of the letters written (default: the function name).
pub const VAR_CONSUMER_NAME: &str = "MSK_DLQ_CONSUMER_NAME";
/// `ordered` or `independent`.
pub const VAR_ORDERING: &str = "MSK_DLQ_ORDERING";
/// Partitions handled at once.
pub const VAR_PARTITION_CONCURRENCY: &str = "MSK_DLQ_PARTITION_CONCURRENCY";
/// Attempts per record per invocation.
pub const VAR_MAX_ATTEMPTS: &str = "MSK_DLQ_MAX_ATTEMPTS";
/// Backoff base, ms.
pub const VAR_BACKOFF_BASE_MS: &str = "MSK_DLQ_BACKOFF_BASE_MS";
/// Backoff cap, ms.
pub const VAR_BACKOFF_MAX_MS: &str = "MSK_DLQ_BACKOFF_MAX_MS";
/// Upper bound of one handler call, ms (0: none).
pub const VAR_ATTEMPT_TIMEOUT_MS: &str = "MSK_DLQ_ATTEMPT_TIMEOUT_MS";
/// No attempt runs past `deadline - margin`, ms.
pub const VAR_DEADLINE_MARGIN_MS: &str = "MSK_DLQ_DEADLINE_MARGIN_MS";
/// `dead-letter` or `redeliver`.
pub const VAR_ON_EXHAUSTED: &str = "MSK_DLQ_ON_EXHAUSTED";
/// Older records are dead-lettered `too-old` (0: no limit).
pub const VAR_MAX_RECORD_AGE_S: &str = "MSK_DLQ_MAX_RECORD_AGE_SECONDS";
/// Flood guard: hold poison records once more than this percentage of an
/// invocation's records were poison (0: off).
pub const VAR_FLOOD_MAX_PERCENT: &str = "MSK_DLQ_FLOOD_MAX_PERCENT";
/// Flood guard: the share counts from this many records on.
pub const VAR_FLOOD_MIN_RECORDS: &str = "MSK_DLQ_FLOOD_MIN_RECORDS";
/// Flood guard: hold poison records after this many in a row (0: off).
pub const VAR_FLOOD_MAX_RUN: &str = "MSK_DLQ_FLOOD_MAX_RUN";
/// Consecutive transient failures that open the breaker (0: off).
pub const VAR_BREAKER_THRESHOLD: &str = "MSK_DLQ_BREAKER_THRESHOLD";
/// Breaker open time before a probe, ms.
pub const VAR_BREAKER_COOLDOWN_MS: &str = "MSK_DLQ_BREAKER_COOLDOWN_MS";
/// `partition` or `topic-partition`: the identifier key of the response.
pub const VAR_IDENTIFIER_KEY: &str = "MSK_DLQ_RESPONSE_IDENTIFIER_KEY";
/// CloudWatch namespace of the EMF metrics.
pub const VAR_METRICS_NAMESPACE: &str = "MSK_DLQ_METRICS_NAMESPACE";
/// Whether EMF metrics are written.
pub const VAR_METRICS: &str = "MSK_DLQ_METRICS";
/// Set by Lambda: the function's name.
pub const VAR_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// `none`, `kafka`, `sqs` or `sns`.
pub const VAR_SINK: &str = "MSK_DLQ_SINK";
/// A second sink for what the first does not confirm.
pub const VAR_FALLBACK_SINK: &str = "MSK_DLQ_FALLBACK_SINK";
/// The Kafka DLQ topic.
pub const VAR_KAFKA_TOPIC: &str = "MSK_DLQ_KAFKA_TOPIC";
/// `same-modulo` or `key`.
pub const VAR_KAFKA_PARTITIONING: &str = "MSK_DLQ_KAFKA_PARTITIONING";
/// The SQS DLQ queue URL.
pub const VAR_SQS_QUEUE_URL: &str = "MSK_DLQ_SQS_QUEUE_URL";
/// The SNS DLQ topic ARN.
pub const VAR_SNS_TOPIC_ARN: &str = "MSK_DLQ_SNS_TOPIC_ARN";
/// The claim-check bucket.
pub const VAR_BUCKET: &str = "MSK_DLQ_LARGE_PAYLOAD_BUCKET";
/// The claim-check key prefix.
pub const VAR_BUCKET_PREFIX: &str = "MSK_DLQ_LARGE_PAYLOAD_PREFIX";
/// A lower SQS/SNS size limit.
pub const VAR_MAX_MESSAGE_BYTES: &str = "MSK_DLQ_MAX_MESSAGE_BYTES";
/// Further tries of entries SQS/SNS failed on their side.
pub const VAR_SINK_RETRIES: &str = "MSK_DLQ_SINK_RETRIES";

/// Brokers for DLQ writes and replays (default: the event's).
pub const VAR_BOOTSTRAP: &str = "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS";
/// `plaintext`, `tls`, `scram-sha-256`, `scram-sha-512` or `iam`.
pub const VAR_SECURITY: &str = "MSK_DLQ_KAFKA_SECURITY";
/// SCRAM user name.
pub const VAR_SASL_USERNAME: &str = "MSK_DLQ_KAFKA_SASL_USERNAME";
/// SCRAM password.
pub const VAR_SASL_PASSWORD: &str = "MSK_DLQ_KAFKA_SASL_PASSWORD";
/// CA bundle for TLS.
pub const VAR_CA_LOCATION: &str = "MSK_DLQ_KAFKA_CA_LOCATION";
/// The region (MSK IAM tokens).
pub const VAR_REGION: &str = "AWS_REGION";
/// The region, second choice.
pub const VAR_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";

/// The event source mapping's `EventRecordFormat` (`SOURCE` or `JSON`)
/// when it validates records against a schema registry; kept on dead
/// letters so a replay can restore the wire format.
pub const VAR_SCHEMA_RECORD_FORMAT: &str = "MSK_DLQ_SCHEMA_RECORD_FORMAT";
/// How a replay writes records that went through a schema registry:
/// `auto`, `reframe`, `fetch-back` or `as-received`.
pub const VAR_REPLAY_WIRE_FORMAT: &str = "MSK_DLQ_REPLAY_WIRE_FORMAT";
/// Replay to this topic instead of the original.
pub const VAR_TARGET_TOPIC: &str = "MSK_DLQ_REPLAY_TARGET_TOPIC";
/// Loop guard: replays before a letter is parked.
pub const VAR_MAX_REPLAYS: &str = "MSK_DLQ_MAX_REPLAYS";
/// Replays per second (0: unlimited).
pub const VAR_RATE: &str = "MSK_DLQ_REPLAY_RATE";
/// Change nothing; count what would happen.
pub const VAR_DRY_RUN: &str = "MSK_DLQ_REPLAY_DRY_RUN";
/// Topics replays may write to (comma-separated; `@original`, names,
/// `prefix*`).
pub const VAR_REPLAY_ALLOWED_TARGETS: &str = "MSK_DLQ_REPLAY_ALLOWED_TARGETS";
/// Where replay audit records go: `kafka:<topic>`, `s3://<bucket>/<prefix>`
/// or a file path.
pub const VAR_AUDIT: &str = "MSK_DLQ_AUDIT";
/// Replay letters naming another cluster onto this one too.
pub const VAR_REPLAY_ANY_CLUSTER: &str = "MSK_DLQ_REPLAY_ANY_CLUSTER";
/// Replay only this original topic.
pub const VAR_FILTER_TOPIC: &str = "MSK_DLQ_REPLAY_FILTER_TOPIC";
/// Replay only this kind.
pub const VAR_FILTER_KIND: &str = "MSK_DLQ_REPLAY_FILTER_KIND";
/// Replay only this error type.
pub const VAR_FILTER_ERROR_TYPE: &str = "MSK_DLQ_REPLAY_FILTER_ERROR_TYPE";
/// Replay only letters that failed at or after this time.
pub const VAR_FILTER_SINCE: &str = "MSK_DLQ_REPLAY_FILTER_SINCE";
/// Replay only letters that failed before this time.
pub const VAR_FILTER_UNTIL: &str = "MSK_DLQ_REPLAY_FILTER_UNTIL";
/// The parking lot: `none`, `kafka`, `sqs` or `sns`.
pub const VAR_PARKING_SINK: &str = "MSK_DLQ_PARKING_SINK";
/// The parking-lot Kafka topic.
pub const VAR_PARKING_KAFKA_TOPIC: &str = "MSK_DLQ_PARKING_KAFKA_TOPIC";
/// The parking-lot queue.
pub const VAR_PARKING_SQS_QUEUE_URL: &str = "MSK_DLQ_PARKING_SQS_QUEUE_URL";
/// The parking-lot SNS topic.
pub const VAR_PARKING_SNS_TOPIC_ARN: &str = "MSK_DLQ_PARKING_SNS_TOPIC_ARN";
