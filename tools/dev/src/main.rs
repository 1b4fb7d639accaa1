//! `msk-dlq-dev`: developer helpers for the local stack, kept out of the
//! operator CLI: an embedded Kafka (librdkafka's mock cluster) when no
//! broker is installed, topic creation, tailing a topic, and synthetic
//! events.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;

#[derive(Parser)]
#[command(name = "msk-dlq-dev", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: DevCmd,
}

#[derive(Subcommand)]
enum DevCmd {
    /// Runs librdkafka's in-process mock cluster, reachable for bootstrap at
    /// 127.0.0.1:PORT, until stopped.
    MockKafka {
        #[arg(long, default_value_t = 19092)]
        port: u16,
        /// Topics to create, as NAME:PARTITIONS.
        #[arg(long = "topic")]
        topics: Vec<String>,
    },
    /// Prints the records of a topic with their headers (all partitions,
    /// from the beginning, without a consumer group).
    Tail {
        topic: String,
        #[arg(long, env = "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS")]
        bootstrap: String,
        /// Stop after this many records.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Writes a synthetic MSK event (e.g. 10,000 records, about 6 MB) to stdout.
    GenEvent {
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        #[arg(long, default_value_t = 8)]
        partitions: usize,
        #[arg(long, default_value_t = 300)]
        value_bytes: usize,
        #[arg(long, default_value = "orders")]
        topic: String,
    },
    /// Produces JSON lines from a file (or stdin): each line
    /// `{"partition": 0, "key": "c-1", "value": {...} | "text" | null,
    /// "headers": {"name": "value"}}`; waits for every delivery.
    Produce {
        topic: String,
        /// JSON lines; `-` for stdin.
        #[arg(long, default_value = "-")]
        file: String,
        #[arg(long, env = "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS")]
        bootstrap: String,
    },
    /// Reads event or dead-letter files as the functions would and says what
    /// is in each: records and malformed ones of a Kafka event, or the dead
    /// letters of a DLQ message body; else the error the function would give.
    Decode { files: Vec<std::path::PathBuf> },
    /// Creates a topic (no error if it exists).
    CreateTopic {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, env = "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS")]
        bootstrap: String,
    },
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Cli::parse().cmd).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cmd: DevCmd) -> anyhow::Result<()> {
    match cmd {
        DevCmd::MockKafka { port, topics } => mock_kafka(port, &topics).await,
        DevCmd::CreateTopic {
            name,
            partitions,
            bootstrap,
        } => create_topic(&bootstrap, &name, partitions).await,
        DevCmd::GenEvent {
            records,
            partitions,
            value_bytes,
            topic,
        } => {
            println!(
                "{}",
                msk_dlq::testing::synthetic_event(&topic, records, partitions, value_bytes)
            );
            Ok(())
        }
        DevCmd::Tail {
            topic,
            bootstrap,
            limit,
        } => tokio::task::block_in_place(|| tail(&bootstrap, &topic, limit)),
        DevCmd::Produce {
            topic,
            file,
            bootstrap,
        } => produce(&bootstrap, &topic, &file).await,
        DevCmd::Decode { files } => decode(&files),
    }
}

fn decode(files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    use msk_dlq::replay::{parse::from_message_body, Parsed};
    let mut bad = 0;
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let verdict = match msk_dlq::decode_event(&text) {
            Ok(batch) => {
                let entries: Vec<_> = batch.entries().collect();
                let malformed: Vec<String> = entries
                    .iter()
                    .filter_map(|e| match &e.entry {
                        msk_dlq::event::Entry::Malformed(m) => {
                            Some(format!("\n  malformed {}: {}", e.id, m.reason))
                        }
                        msk_dlq::event::Entry::Record(_) => None,
                    })
                    .collect();
                format!(
                    "Kafka event from {}: {} record(s) in {} partition(s), {} malformed{}",
                    batch.source.label(),
                    entries.len(),
                    batch.partitions.len(),
                    malformed.len(),
                    malformed.concat()
                )
            }
            Err(event_error) => match from_message_body(&text) {
                Ok(Parsed::Letters(l)) => format!("dead-letter message: {} letter(s)", l.len()),
                Ok(Parsed::FetchBack(r)) => {
                    format!(
                        "on-failure document: {} offset range(s) to fetch back",
                        r.len()
                    )
                }
                Err(e) => {
                    bad += 1;
                    format!("not readable: as an event: {event_error}; as a dead letter: {e}")
                }
            },
        };
        println!("{}: {verdict}", f.display());
    }
    if bad > 0 {
        anyhow::bail!("{bad} file(s) not readable");
    }
    Ok(())
}

async fn mock_kafka(port: u16, topics: &[String]) -> anyhow::Result<()> {
    let cluster = MockCluster::new(1).context("cannot start the mock cluster")?;
    for t in topics {
        let (name, parts) = t.rsplit_once(':').unwrap_or((t, "1"));
        let parts: i32 = parts
            .parse()
            .with_context(|| format!("--topic {t}: partitions must be a number"))?;
        cluster.create_topic(name, parts, 1)?;
    }
    let target = cluster.bootstrap_servers();
    // Clients bootstrap through the fixed port; metadata then points them
    // at the mock broker's own loopback port.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    println!("mock Kafka ready: bootstrap 127.0.0.1:{port} (broker {target})");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (mut inbound, _) = accepted?;
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(cluster);
    Ok(())
}

async fn produce(bootstrap: &str, topic: &str, file: &str) -> anyhow::Result<()> {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
    };
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()?;
    let mut n = 0;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {}: not JSON", i + 1))?;
        let value = match &v["value"] {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone().into_bytes()),
            other => Some(other.to_string().into_bytes()),
        };
        let key = v["key"].as_str().map(|k| k.as_bytes().to_vec());
        let mut headers = OwnedHeaders::new();
        if let Some(map) = v["headers"].as_object() {
            for (name, value) in map {
                headers = headers.insert(Header {
                    key: name,
                    value: Some(value.as_str().unwrap_or_default()),
                });
            }
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
        if let Some(p) = v["partition"].as_i64() {
            record = record.partition(i32::try_from(p).context("partition out of range")?);
        }
        if let Some(k) = &key {
            record = record.key(k);
        }
        if let Some(v) = &value {
            record = record.payload(v);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| anyhow::anyhow!("line {}: not confirmed: {e}", i + 1))?;
        n += 1;
    }
    println!("produced {n} record(s) to {topic}");
    Ok(())
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let res = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for r in res {
        match r {
            Ok(_) => println!("created topic {name} ({partitions} partitions)"),
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {
                println!("topic {name} exists")
            }
            Err((t, e)) => anyhow::bail!("cannot create topic {t}: {e}"),
        }
    }
    Ok(())
}

fn tail(bootstrap: &str, topic: &str, limit: usize) -> anyhow::Result<()> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::message::Headers as _;
    use rdkafka::Message as _;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "msk-dlq-tail")
        .set("enable.auto.commit", "false")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let parts = md
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut remaining = 0;
    for p in 0..parts as i32 {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        remaining += (high - low).max(0) as usize;
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Offset(low))?;
    }
    consumer.assign(&tpl)?;
    let mut shown = 0;
    let started = std::time::Instant::now();
    while shown < remaining.min(limit) && started.elapsed() < Duration::from_secs(15) {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        let text = |b: Option<&[u8]>| {
            b.map_or("null".to_owned(), |b| {
                String::from_utf8_lossy(b).into_owned()
            })
        };
        let headers: Vec<String> = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| format!("{}={}", h.key, text(h.value)))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{}/{}@{} key={} value={}",
            topic,
            m.partition(),
            m.offset(),
            text(m.key()),
            text(m.payload())
        );
        if !headers.is_empty() {
            println!("    headers: {}", headers.join(", "));
        }
        shown += 1;
    }
    println!("({shown} of {remaining} record(s) shown)");
    Ok(())
}
