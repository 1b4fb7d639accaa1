//! Access to the local stack started by `make test` / `make up`: a real
//! Kafka-protocol broker and a real SQS/SNS/S3 endpoint on loopback.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::{Message, TopicPartitionList};

pub fn kafka() -> String {
    std::env::var("MSK_DLQ_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

pub fn aws_endpoint() -> String {
    std::env::var("MSK_DLQ_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:15000".into())
}

fn require(addr: &str, what: &str) {
    let a = addr.trim_start_matches("http://");
    if std::net::TcpStream::connect_timeout(&a.parse().unwrap(), Duration::from_secs(2)).is_err() {
        panic!("{what} is not reachable at {addr}: start the local stack with `make up` (or run `make test`)");
    }
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn sdk() -> SdkConfig {
    let endpoint = aws_endpoint();
    require(&endpoint, "the SQS/SNS/S3 endpoint (moto)");
    sdk_at(endpoint).await
}

/// SDK settings for any endpoint (also unreachable or silent ones).
pub async fn sdk_at(endpoint: impl Into<String>) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await
}

pub fn s3(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(true)
            .build(),
    )
}

pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str, attrs: &[(&str, &str)]) -> String {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::from(*k), *v);
    }
    req.send().await.unwrap().queue_url().unwrap().to_owned()
}

/// Receives until `n` messages arrived (or 15s passed), deleting none.
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    n: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    receive_within(sqs, url, n, Duration::from_secs(15)).await
}

pub async fn receive_within(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    n: usize,
    wait: Duration,
) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    while out.len() < n && start.elapsed() < wait {
        let r = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .visibility_timeout(300)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        out.extend(r.messages().iter().cloned());
    }
    out
}

pub async fn create_topic(name: &str, partitions: i32) {
    if let Err(e) = try_create_topic(name, partitions).await {
        panic!("create topic {name}: {e}");
    }
}

/// Creates the topic unless it exists.
pub async fn ensure_topic(name: &str, partitions: i32) {
    match try_create_topic(name, partitions).await {
        Ok(()) | Err(rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists) => {}
        Err(e) => panic!("create topic {name}: {e}"),
    }
}

async fn try_create_topic(
    name: &str,
    partitions: i32,
) -> Result<(), rdkafka::types::RDKafkaErrorCode> {
    let bootstrap = kafka();
    require(&bootstrap, "the Kafka broker");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let res = admin
        .create_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    for r in res {
        r.map_err(|(_, e)| e)?;
    }
    Ok(())
}

/// Reads every partition of `topic` from the start until `n` records came.
/// Every record of the topic, waiting up to 20 s for at least `n`; more
/// than `n` are returned too, so a duplicate is never hidden.
pub fn consume(topic: &str, partitions: i32, n: usize) -> Vec<OwnedMessage> {
    consume_within(topic, partitions, n, Duration::from_secs(20))
}

/// Every record of the topic, read to the end of each partition, waiting
/// up to `wait` until there are at least `n`.
pub fn consume_within(topic: &str, partitions: i32, n: usize, wait: Duration) -> Vec<OwnedMessage> {
    consume_from(&kafka(), topic, partitions, n, wait)
}

/// [`consume_within`] on the cluster at `bootstrap`.
pub fn consume_from(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    n: usize,
    wait: Duration,
) -> Vec<OwnedMessage> {
    // The end is the one each fetch reports (partition EOF), not the listed
    // watermark: tansu lists a multi-record batch's end too low.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("test-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut at_end = std::collections::BTreeSet::new();
    let start = std::time::Instant::now();
    while start.elapsed() < wait {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                out.push(m.detach());
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
                if out.len() >= n && at_end.len() == partitions as usize {
                    break;
                }
            }
            _ => {}
        }
    }
    out
}

pub fn headers_of(m: &OwnedMessage) -> Vec<(String, Vec<u8>)> {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn header<'a>(h: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| std::str::from_utf8(v).unwrap())
}

/// partition, key, value, headers
pub type TestRecord<'a> = (
    i32,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    Vec<(&'a str, &'a [u8])>,
);

/// Produces records and waits for each delivery.
pub async fn produce(topic: &str, records: &[TestRecord<'_>]) {
    produce_at(topic, records, None).await
}

/// Produces records with this create time (epoch ms; `None`: now).
pub async fn produce_at(topic: &str, records: &[TestRecord<'_>], timestamp: Option<i64>) {
    produce_to(&kafka(), topic, records, timestamp).await
}

/// [`produce_at`] on the cluster at `bootstrap`.
pub async fn produce_to(
    bootstrap: &str,
    topic: &str,
    records: &[TestRecord<'_>],
    timestamp: Option<i64>,
) {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        // One record per batch: tansu 0.6 cannot fetch from an offset inside
        // a multi-record batch, and lists such a batch's end too low.
        .set("batch.num.messages", "1")
        .create()
        .unwrap();
    for (partition, key, value, headers) in records {
        let mut h = OwnedHeaders::new();
        for (k, v) in headers {
            h = h.insert(Header {
                key: k,
                value: Some(*v),
            });
        }
        let mut r: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).partition(*partition).headers(h);
        if let Some(ts) = timestamp {
            r = r.timestamp(ts);
        }
        if let Some(k) = key {
            r = r.key(*k);
        }
        if let Some(v) = value {
            r = r.payload(*v);
        }
        producer.send(r, Duration::from_secs(10)).await.unwrap();
    }
}

/// The MSK event Lambda would send for these records.
pub fn event_of(messages: &[OwnedMessage], bootstrap: &str) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let records = messages.iter().map(|m| {
        let headers: Vec<serde_json::Value> = headers_of(m)
            .into_iter()
            .map(|(k, v)| serde_json::json!({ k: v.iter().map(|&b| b as i8).collect::<Vec<i8>>() }))
            .collect();
        serde_json::json!({
            "topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
            "timestamp": m.timestamp().to_millis().unwrap_or(0), "timestampType": "CREATE_TIME",
            "key": m.key().map(b64), "value": m.payload().map(b64), "headers": headers,
        })
    });
    super::msk_event(
        records,
        "arn:aws:kafka:us-east-1:123456789012:cluster/local/1",
        bootstrap,
    )
}
