//! `msk-dlq-esm`: Lambda's Kafka event source mapping on a laptop.
//!
//! msk-dlq-esm --bootstrap 127.0.0.1:19092 --template template.yaml \
//!     --function ConsumerFunction --topic shop.orders-v1 --idle 10 -- target/debug/consumer

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, ValueEnum};
use msk_dlq_esm::template::{self, DestinationRef};
use msk_dlq_esm::{
    Destination, Esm, EsmSettings, EventShape, FunctionSpec, IdentifierKey, OnFailure, Redelivery,
    StartingPosition,
};

#[derive(Clone, Copy, ValueEnum)]
enum Start {
    TrimHorizon,
    Latest,
}

#[derive(Clone, Copy, ValueEnum)]
enum Redeliver {
    /// Per partition, from the lowest failed offset (AWS's rule for streams).
    FromLowestFailed,
    /// Only the records the function listed.
    ListedOnly,
}

#[derive(Clone, Copy, ValueEnum)]
enum IdKey {
    Partition,
    TopicPartition,
}

#[derive(Parser)]
#[command(name = "msk-dlq-esm", version, about)]
struct Args {
    /// The Kafka cluster to consume (loopback for local brokers).
    #[arg(long, env = "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS")]
    bootstrap: String,
    /// Read the mapping's settings from this SAM template ...
    #[arg(long, requires = "function")]
    template: Option<PathBuf>,
    /// ... from this function's MSK or SelfManagedKafka event.
    #[arg(long)]
    function: Option<String>,
    /// The event's name, when the function has several.
    #[arg(long)]
    event: Option<String>,
    /// `Topics` (repeat for several); overrides the template.
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// `ConsumerGroupId`.
    #[arg(long)]
    group: Option<String>,
    /// `StartingPosition`.
    #[arg(long, value_enum)]
    starting_position: Option<Start>,
    /// `BatchSize` (1 to 10000).
    #[arg(long)]
    batch_size: Option<usize>,
    /// `MaximumBatchingWindowInSeconds` (0 to 300).
    #[arg(long)]
    batching_window: Option<u64>,
    /// Without `FunctionResponseTypes: [ReportBatchItemFailures]`.
    #[arg(long)]
    no_partial_responses: bool,
    /// `MaximumRetryAttempts` (-1: infinite).
    #[arg(long, allow_hyphen_values = true)]
    max_retry_attempts: Option<String>,
    /// `MaximumRecordAgeInSeconds` (-1: no limit).
    #[arg(long, allow_hyphen_values = true)]
    max_record_age: Option<String>,
    /// `BisectBatchOnFunctionError`.
    #[arg(long)]
    bisect: Option<bool>,
    /// `DestinationConfig.OnFailure`: sqs:URL, sns:ARN, s3:BUCKET or kafka:TOPIC.
    #[arg(long)]
    on_failure: Option<String>,
    /// Where the template's SQS/SNS/S3 destinations are created locally.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:15000"
    )]
    aws_endpoint: String,
    /// The function's timeout in seconds (the invocation deadline).
    #[arg(long)]
    timeout: Option<u64>,
    /// Self-managed Kafka events (no eventSourceArn).
    #[arg(long)]
    self_managed: bool,
    /// Which records come back after a partial failure.
    #[arg(long, value_enum, default_value = "from-lowest-failed")]
    redelivery: Redeliver,
    /// The identifier key the function is expected to use (the other one is
    /// accepted with a warning).
    #[arg(long, value_enum, default_value = "partition")]
    identifier_key: IdKey,
    /// AWS_LAMBDA_FUNCTION_NAME.
    #[arg(long, default_value = "local-consumer")]
    name: String,
    /// Environment of the function, KEY=VALUE (repeat).
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Copy the function's logs to this output.
    #[arg(long)]
    verbose: bool,
    /// Stop after this many idle seconds (default: run until Ctrl-C).
    #[arg(long)]
    idle: Option<u64>,
    /// Stop after this many seconds in all.
    #[arg(long, default_value_t = 86_400)]
    max_seconds: u64,
    /// Emulate the mapping's schema registry: framed values reach the
    /// function without framing (SOURCE) or as JSON (JSON), with
    /// valueSchemaMetadata.
    #[arg(long, value_parser = ["SOURCE", "JSON"])]
    schema_record_format: Option<String>,
    /// With --schema-record-format: the schemas' type.
    #[arg(long, default_value = "AVRO", value_parser = ["AVRO", "PROTOBUF", "JSON"], requires = "schema_record_format")]
    schema_data_format: String,
    /// With --schema-record-format: validate keys too.
    #[arg(long, requires = "schema_record_format")]
    schema_validate_key: bool,
    /// Print the final accounting as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The function binary.
    binary: PathBuf,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(a: Args) -> anyhow::Result<()> {
    let mut s = EsmSettings::new(a.bootstrap.clone(), Vec::new());
    let mut template_destination = None;
    if let (Some(path), Some(function)) = (&a.template, &a.function) {
        let ev = template::apply(
            &path.display().to_string(),
            function,
            a.event.as_deref(),
            &mut s,
        )?;
        println!(
            "[esm] settings from {} {function}.Events.{}",
            path.display(),
            ev.name
        );
        template_destination = ev.on_failure;
    }
    if !a.topics.is_empty() {
        s.topics = a.topics.clone();
    }
    if let Some(g) = a.group {
        s.consumer_group = g;
    }
    if let Some(p) = a.starting_position {
        s.starting_position = match p {
            Start::TrimHorizon => StartingPosition::TrimHorizon,
            Start::Latest => StartingPosition::Latest,
        };
    }
    if let Some(n) = a.batch_size {
        s.batch_size = n;
    }
    if let Some(w) = a.batching_window {
        s.batching_window = Duration::from_secs(w);
    }
    if a.no_partial_responses {
        s.report_batch_item_failures = false;
    }
    if let Some(t) = &a.max_retry_attempts {
        s.max_retry_attempts = msk_dlq_esm::settings::unlimited("MaximumRetryAttempts", t)?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    }
    if let Some(t) = &a.max_record_age {
        s.max_record_age = msk_dlq_esm::settings::unlimited("MaximumRecordAgeInSeconds", t)?
            .map(Duration::from_secs);
    }
    if let Some(b) = a.bisect {
        s.bisect_on_error = b;
    }
    if let Some(t) = a.timeout {
        s.function_timeout = Duration::from_secs(t);
    }
    if a.self_managed {
        s.shape = EventShape::SelfManaged;
    }
    if let Some(f) = &a.schema_record_format {
        s.schema_registry = Some(msk_dlq_esm::SchemaRegistry {
            record_format: msk_dlq::schema::RecordFormat::parse(f)
                .ok_or_else(|| anyhow::anyhow!("--schema-record-format {f}: SOURCE or JSON"))?,
            data_format: a.schema_data_format.clone(),
            key: a.schema_validate_key,
            value: true,
        });
    }
    s.redelivery = match a.redelivery {
        Redeliver::FromLowestFailed => Redelivery::FromLowestFailed,
        Redeliver::ListedOnly => Redelivery::ListedOnly,
    };
    s.identifier_key = match a.identifier_key {
        IdKey::Partition => IdentifierKey::Partition,
        IdKey::TopicPartition => IdentifierKey::TopicPartition,
    };
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&a.aws_endpoint)
        .load()
        .await;
    s.on_failure = match (&a.on_failure, template_destination) {
        (Some(text), _) => Some(OnFailure::parse(text)?),
        (None, Some(d)) => Some(map_destination(&sdk, &d).await?),
        (None, None) => None,
    };
    s.validate()?;
    let destination = match &s.on_failure {
        Some(t) => Some(Destination::new(t.clone(), &sdk, &s.bootstrap_servers)?),
        None => None,
    };
    println!(
        "[esm] {} on {} group {}: BatchSize {}, window {}s, retries {}, max age {}, bisect {}, partial responses {}, on-failure {}, timeout {}s",
        s.topics.join(","),
        s.bootstrap_servers,
        s.consumer_group,
        s.batch_size,
        s.batching_window.as_secs(),
        s.max_retry_attempts.map_or("-1".to_owned(), |n| n.to_string()),
        s.max_record_age.map_or("-1".to_owned(), |d| format!("{}s", d.as_secs())),
        s.bisect_on_error,
        s.report_batch_item_failures,
        s.on_failure.as_ref().map_or("none".to_owned(), |d| format!("{d:?}")),
        s.function_timeout.as_secs(),
    );
    let spec = FunctionSpec {
        binary: a.binary.clone(),
        name: a.name.clone(),
        env: a.env.clone(),
        echo: a.verbose,
    };
    let mut esm = Esm::start(s, spec, destination).await?;
    let max = Duration::from_secs(a.max_seconds);
    match a.idle {
        Some(idle) => {
            esm.run_until_idle(Duration::from_secs(idle), max).await;
        }
        None => {
            esm.run_until(async {
                let _ = tokio::time::timeout(max, tokio::signal::ctrl_c()).await;
            })
            .await;
        }
    }
    for w in esm.warnings() {
        eprintln!("[esm] warning: {w}");
    }
    let committed = esm.committed();
    if a.json {
        let out = serde_json::json!({"stats": esm.stats, "committed": committed});
        println!("{out}");
    } else {
        println!("[esm] final accounting:\n{}", esm.stats);
        for (tp, offset) in &committed {
            println!("  committed {tp} up to {offset}");
        }
    }
    esm.stop().await;
    Ok(())
}

/// The template's destination resource, created on the local endpoint.
async fn map_destination(
    sdk: &aws_config::SdkConfig,
    d: &DestinationRef,
) -> anyhow::Result<OnFailure> {
    Ok(match d.kind.as_str() {
        "SQS" => {
            let url = aws_sdk_sqs::Client::new(sdk)
                .create_queue()
                .queue_name(&d.target)
                .send()
                .await
                .with_context(|| format!("cannot create the local queue {} for the template's on-failure destination", d.target))?
                .queue_url
                .unwrap_or_default();
            println!(
                "[esm] on-failure destination {} -> local queue {url}",
                d.target
            );
            OnFailure::Sqs(url)
        }
        "SNS" => {
            let arn = aws_sdk_sns::Client::new(sdk)
                .create_topic()
                .name(&d.target)
                .send()
                .await
                .with_context(|| format!("cannot create the local topic {}", d.target))?
                .topic_arn
                .unwrap_or_default();
            OnFailure::Sns(arn)
        }
        "S3" => {
            let bucket = d.target.to_lowercase();
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(true)
                    .build(),
            );
            let _ = s3.create_bucket().bucket(&bucket).send().await;
            OnFailure::S3(bucket)
        }
        "Kafka" => OnFailure::Kafka(d.target.clone()),
        other => {
            bail!("DestinationConfig.OnFailure.Type {other} is not one of SQS, SNS, S3, Kafka")
        }
    })
}
