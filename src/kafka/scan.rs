//! Reading a whole small topic (the replay audit log) without a consumer
//! group: every partition from its start to its end at the time of reading.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::{KafkaConnection, KafkaContext};

/// The values of every record of `topic`, as text, partition by partition.
pub fn read_topic(connection: &KafkaConnection, topic: &str) -> Result<Vec<String>, String> {
    let bootstrap = connection
        .bootstrap_servers
        .clone()
        .ok_or("no bootstrap servers")?;
    let mut cfg = connection.client_config(&bootstrap);
    cfg.set("group.id", "msk-dlq-scan")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true");
    let consumer: BaseConsumer<KafkaContext> = cfg
        .create_with_context(connection.context())
        .map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(10);
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| format!("metadata: {e}"))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut at_end = BTreeSet::new();
    let started = Instant::now();
    // The end is the fetch's end-of-partition signal, not a listed offset.
    while at_end.len() < partitions.len() && started.elapsed() < Duration::from_secs(30) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => {}
        }
    }
    Ok(out)
}
