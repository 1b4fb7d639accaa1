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
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

/// Reads every partition of `topic` from the start until `n` records came.
pub fn consume(topic: &str, partitions: i32, n: usize) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka())
        .set("group.id", unique("test-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    while out.len() < n && start.elapsed() < Duration::from_secs(20) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(m.detach());
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
