#![recursion_limit = "256"]
//! `msk-dlq`: inspect, count, replay, purge and export dead letters in an
//! SQS queue or a Kafka DLQ topic, locally or on AWS.

mod dev;

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use msk_dlq::config::{Reader, Vars};
use msk_dlq::inspect::{human_age, letters, LetterView, Stats};
use msk_dlq::kafka::{KafkaConnection, Security, SECURITY_CHOICES};
use msk_dlq::replay::{Filters, ReplaySettings};
use msk_dlq::replayer::{Replayer, ReplayerConfig};
use msk_dlq::reprocess::{parse_kind, parse_time, run_job};
use msk_dlq::sink::config::{SinkConfig, SinkKind};
use msk_dlq::source::{DlqItem, DlqSource};
use tokio::time::Instant;

#[derive(Parser)]
#[command(name = "msk-dlq", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    dlq: DlqArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Which DLQ: an SQS queue, or a Kafka topic (read as a consumer group).
#[derive(Args, Clone)]
struct DlqArgs {
    /// SQS DLQ queue URL.
    #[arg(long, global = true, env = "MSK_DLQ_SQS_QUEUE_URL")]
    sqs_queue_url: Option<String>,
    /// Kafka DLQ topic.
    #[arg(long, global = true, env = "MSK_DLQ_KAFKA_TOPIC")]
    kafka_topic: Option<String>,
    /// Kafka bootstrap servers (the DLQ topic's cluster, and the default
    /// replay target).
    #[arg(long, global = true, env = "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS")]
    bootstrap: Option<String>,
    /// Consumer group whose committed offsets mark what was handled.
    #[arg(long, global = true, default_value = "msk-dlq-reprocessor")]
    group: String,
    /// Kafka security: plaintext, tls, scram-sha-256, scram-sha-512, iam.
    #[arg(
        long,
        global = true,
        env = "MSK_DLQ_KAFKA_SECURITY",
        default_value = "plaintext"
    )]
    security: String,
    /// SCRAM user name.
    #[arg(long, global = true, env = "MSK_DLQ_KAFKA_SASL_USERNAME")]
    sasl_username: Option<String>,
    /// SCRAM password (prefer the environment variable).
    #[arg(
        long,
        global = true,
        env = "MSK_DLQ_KAFKA_SASL_PASSWORD",
        hide_env_values = true
    )]
    sasl_password: Option<String>,
    /// Log level of the tool itself.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
}

#[derive(Args, Clone, Default)]
struct FilterArgs {
    /// Only dead letters of this original topic.
    #[arg(long)]
    topic: Option<String>,
    /// Only this kind: permanent, malformed, retries-exhausted, too-old, manual.
    #[arg(long)]
    kind: Option<String>,
    /// Only this error type (e.g. InvalidOrder).
    #[arg(long)]
    error_type: Option<String>,
    /// Only dead letters that failed at or after this time (RFC 3339 or epoch ms).
    #[arg(long)]
    since: Option<String>,
    /// Only dead letters that failed before this time.
    #[arg(long)]
    until: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Counts by original topic, kind and error type; oldest and newest age; bytes.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Shows dead letters without consuming them.
    #[command(alias = "list")]
    Peek {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Replays dead letters to their original topic (or --target-topic).
    Replay {
        #[command(flatten)]
        filters: FilterArgs,
        /// Show what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replays per second at most (0.001 to 100000).
        #[arg(long, value_parser = parse_rate)]
        rate: Option<f64>,
        /// Dead letters to take at most.
        #[arg(long)]
        limit: Option<u64>,
        /// Replay here instead of the original topic.
        #[arg(long)]
        target_topic: Option<String>,
        /// Loop guard: dead letters replayed this often go to the parking lot.
        #[arg(long, default_value_t = 3)]
        max_replays: u32,
        /// Parking lot: a Kafka topic on the --bootstrap cluster ...
        #[arg(long)]
        parking_kafka_topic: Option<String>,
        /// ... or an SQS queue.
        #[arg(long)]
        parking_sqs_queue_url: Option<String>,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=604_800))]
        max_seconds: u64,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deletes dead letters (SQS), or skips them for the group (Kafka).
    Purge {
        #[command(flatten)]
        filters: FilterArgs,
        /// Confirm without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Writes dead letters as JSON lines (to stdout or --output), consuming none.
    Export {
        #[command(flatten)]
        filters: FilterArgs,
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Development helpers.
    #[command(subcommand)]
    Dev(dev::DevCmd),
}

#[tokio::main]
async fn main() {
    // Behave like other Unix tools when the reader goes away (`| head`).
    // SAFETY: called once at start-up before any other thread writes output.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.dlq.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Dev(cmd) => dev::run(cmd).await,
        Cmd::Stats { json } => stats(&cli.dlq, json).await,
        Cmd::Peek {
            limit,
            json,
            filters,
        } => peek(&cli.dlq, limit, json, &filters.parse()?).await,
        Cmd::Export { filters, output } => export(&cli.dlq, &filters.parse()?, output).await,
        Cmd::Purge { filters, yes } => purge(&cli.dlq, &filters.parse()?, yes).await,
        Cmd::Replay {
            filters,
            dry_run,
            rate,
            limit,
            target_topic,
            max_replays,
            parking_kafka_topic,
            parking_sqs_queue_url,
            max_seconds,
            json,
        } => {
            let parking = match (parking_kafka_topic, parking_sqs_queue_url) {
                (Some(t), None) => Parking::Kafka(t),
                (None, Some(u)) => Parking::Sqs(u),
                (None, None) => Parking::None,
                _ => bail!("give at most one of --parking-kafka-topic and --parking-sqs-queue-url"),
            };
            let opts = ReplayOpts {
                filters: filters.parse()?,
                dry_run,
                rate,
                limit,
                target_topic,
                max_replays,
                parking,
                max_seconds,
                json,
            };
            replay(&cli.dlq, opts).await
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.001..=100_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{s:?} is not a rate from 0.001 to 100000 per second"
        )),
    }
}

impl FilterArgs {
    fn parse(&self) -> anyhow::Result<Filters> {
        Ok(Filters {
            topic: self.topic.clone(),
            kind: self
                .kind
                .as_deref()
                .map(parse_kind)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("--kind")?,
            error_type: self.error_type.clone(),
            since_ms: self
                .since
                .as_deref()
                .map(parse_time)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("--since")?,
            until_ms: self
                .until
                .as_deref()
                .map(parse_time)
                .transpose()
                .map_err(anyhow::Error::msg)
                .context("--until")?,
        })
    }
}

impl DlqArgs {
    fn connection(&self) -> anyhow::Result<KafkaConnection> {
        let security = SECURITY_CHOICES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&self.security))
            .map(|(_, s)| *s)
            .with_context(|| format!("--security {:?}: expected one of plaintext, tls, scram-sha-256, scram-sha-512, iam", self.security))?;
        if matches!(security, Security::ScramSha256 | Security::ScramSha512)
            && (self.sasl_username.is_none() || self.sasl_password.is_none())
        {
            bail!(
                "--security {} needs --sasl-username and MSK_DLQ_KAFKA_SASL_PASSWORD",
                self.security
            );
        }
        let region = std::env::var("AWS_REGION")
            .ok()
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok());
        if security == Security::Iam && region.is_none() {
            bail!("--security iam needs AWS_REGION");
        }
        Ok(KafkaConnection {
            bootstrap_servers: self.bootstrap.clone(),
            security,
            sasl_username: self.sasl_username.clone(),
            sasl_password: self.sasl_password.clone(),
            ca_location: std::env::var("MSK_DLQ_KAFKA_CA_LOCATION").ok(),
            region,
        })
    }

    /// Opens the DLQ. `commit`: Kafka offsets move on acknowledgement.
    async fn open(&self, commit: bool) -> anyhow::Result<DlqSource> {
        match (&self.sqs_queue_url, &self.kafka_topic) {
            (Some(url), None) => {
                let sdk = msk_dlq::aws::sdk_config().await;
                Ok(DlqSource::sqs(msk_dlq::aws::sqs(&sdk), url.clone(), 120))
            }
            (None, Some(topic)) => Ok(DlqSource::kafka(&self.connection()?, topic, &self.group, commit)?),
            (Some(_), Some(_)) => bail!("give either --sqs-queue-url or --kafka-topic, not both"),
            (None, None) => bail!("no DLQ given: use --sqs-queue-url URL or --kafka-topic TOPIC --bootstrap HOST:PORT"),
        }
    }
}

/// Reads up to `max` messages, then returns them all to the DLQ.
async fn read_all(source: &mut DlqSource, max: usize) -> anyhow::Result<Vec<DlqItem>> {
    let mut items = Vec::new();
    while items.len() < max {
        let batch = source
            .read(10, Instant::now() + Duration::from_secs(60))
            .await?;
        if batch.is_empty() {
            break;
        }
        items.extend(batch);
    }
    let refs: Vec<&DlqItem> = items.iter().collect();
    source.settle(&[], &refs).await?;
    source.finish().await?;
    Ok(items)
}

async fn stats(dlq: &DlqArgs, json: bool) -> anyhow::Result<()> {
    let mut source = dlq.open(false).await?;
    let items = read_all(&mut source, 1_000_000).await?;
    let mut stats = Stats::default();
    for i in &items {
        stats.add(i);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    let now = msk_dlq::lambda::epoch_ms_now();
    println!("DLQ {}", source.name());
    println!(
        "  messages {}  dead letters {}  unreadable {}  fetch-back documents {}  bytes {}",
        stats.messages, stats.letters, stats.unreadable, stats.fetch_back_documents, stats.bytes
    );
    if let (Some(o), Some(n)) = (stats.oldest_ms, stats.newest_ms) {
        println!(
            "  oldest {} ago  newest {} ago",
            human_age(now - o),
            human_age(now - n)
        );
    }
    for (title, map) in [
        ("original topic", &stats.by_topic),
        ("kind", &stats.by_kind),
        ("error type", &stats.by_error_type),
    ] {
        println!("  by {title}:");
        for (k, v) in map {
            println!("    {v:>8}  {k}");
        }
    }
    Ok(())
}

async fn peek(dlq: &DlqArgs, limit: usize, json: bool, filters: &Filters) -> anyhow::Result<()> {
    let mut source = dlq.open(false).await?;
    let items = read_all(&mut source, 1_000_000).await?;
    let views: Vec<LetterView> = items
        .iter()
        .flat_map(|i| {
            letters(i)
                .iter()
                .filter(|l| filters.matches(l))
                .map(move |l| LetterView::new(&i.id, l))
        })
        .take(limit)
        .collect();
    if json {
        for v in &views {
            println!("{}", serde_json::to_string(v)?);
        }
        return Ok(());
    }
    println!(
        "{:<24} {:>4} {:>8} {:<18} {:<22} {:<24} {:>3} {:>7}",
        "TOPIC", "PART", "OFFSET", "KIND", "ERROR", "FAILED AT", "RPL", "BYTES"
    );
    for v in &views {
        println!(
            "{:<24} {:>4} {:>8} {:<18} {:<22} {:<24} {:>3} {:>7}",
            v.topic.as_deref().unwrap_or("?"),
            v.partition.map_or("?".into(), |p| p.to_string()),
            v.offset.map_or("?".into(), |o| o.to_string()),
            v.kind.as_deref().unwrap_or("?"),
            v.error_type.as_deref().unwrap_or("?"),
            v.failed_at.as_deref().unwrap_or("?"),
            v.replay_count,
            v.value_bytes.map_or("null".into(), |b| b.to_string()),
        );
    }
    let unreadable = items.iter().filter(|i| i.parsed.is_err()).count();
    if unreadable > 0 {
        println!("({unreadable} message(s) could not be read as dead letters; see `export`)");
    }
    Ok(())
}

async fn export(
    dlq: &DlqArgs,
    filters: &Filters,
    output: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let mut source = dlq.open(false).await?;
    let items = read_all(&mut source, usize::MAX).await?;
    let mut out: Box<dyn std::io::Write> = match &output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut n = 0;
    for i in &items {
        for l in letters(i).iter().filter(|l| filters.matches(l)) {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&LetterView::new(&i.id, l))?
            )?;
            n += 1;
        }
    }
    out.flush()?;
    eprintln!("exported {n} dead letter(s)");
    Ok(())
}

async fn purge(dlq: &DlqArgs, filters: &Filters, yes: bool) -> anyhow::Result<()> {
    if dlq.kafka_topic.is_some() && !filters.is_empty() {
        bail!("Kafka records cannot be deleted one by one: purge of a Kafka DLQ takes no filters (it moves group {:?} past every dead letter)", dlq.group);
    }
    let mut source = dlq.open(true).await?;
    let items = read_all(&mut source, usize::MAX).await?;
    let matching: Vec<&DlqItem> = items
        .iter()
        .filter(|i| {
            filters.is_empty()
                || (!letters(i).is_empty() && letters(i).iter().all(|l| filters.matches(l)))
        })
        .collect();
    if matching.is_empty() {
        println!("nothing to purge in {}", source.name());
        return Ok(());
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to purge {} message(s) from {} without --yes",
                matching.len(),
                source.name()
            );
        }
        eprint!(
            "purge {} message(s) from {}? type 'purge' to confirm: ",
            matching.len(),
            source.name()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "purge" {
            bail!("not confirmed; nothing purged");
        }
    }
    // Read again so the receipts are fresh, then delete what matches.
    let mut source = dlq.open(true).await?;
    let mut purged = 0;
    loop {
        let batch = source
            .read(10, Instant::now() + Duration::from_secs(60))
            .await?;
        if batch.is_empty() {
            break;
        }
        let (done, kept): (Vec<&DlqItem>, Vec<&DlqItem>) = batch.iter().partition(|i| {
            filters.is_empty()
                || (!letters(i).is_empty() && letters(i).iter().all(|l| filters.matches(l)))
        });
        purged += done.len();
        source.settle(&done, &kept).await?;
    }
    source.finish().await?;
    println!("purged {purged} message(s) from {}", source.name());
    Ok(())
}

enum Parking {
    None,
    Kafka(String),
    Sqs(String),
}

struct ReplayOpts {
    filters: Filters,
    dry_run: bool,
    rate: Option<f64>,
    limit: Option<u64>,
    target_topic: Option<String>,
    max_replays: u32,
    parking: Parking,
    max_seconds: u64,
    json: bool,
}

struct NoVars;

impl Vars for NoVars {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

async fn replay(dlq: &DlqArgs, o: ReplayOpts) -> anyhow::Result<()> {
    let connection = dlq.connection()?;
    let mut parking = SinkConfig::read(&mut Reader::new(&NoVars));
    parking.kafka = connection.clone();
    match &o.parking {
        Parking::None => {}
        Parking::Kafka(t) => {
            parking.primary = SinkKind::Kafka;
            parking.kafka_topic = Some(t.clone());
        }
        Parking::Sqs(u) => {
            parking.primary = SinkKind::Sqs;
            parking.sqs_queue_url = Some(u.clone());
        }
    }
    let parking = parking.build().await.map_err(anyhow::Error::msg)?;
    let claim = match std::env::var("MSK_DLQ_LARGE_PAYLOAD_BUCKET") {
        Ok(bucket) => Some(msk_dlq::sink::claim_check::ClaimCheck {
            client: msk_dlq::aws::s3(&msk_dlq::aws::sdk_config().await),
            bucket,
            prefix: String::new(),
        }),
        Err(_) => None,
    };
    let replayer = Replayer::new(
        ReplayerConfig {
            settings: ReplaySettings {
                target_topic: o.target_topic,
                max_replays: o.max_replays,
            },
            filters: o.filters,
            dry_run: o.dry_run,
            rate_per_sec: o.rate,
            connection,
            consumer_name: Arc::from("msk-dlq-cli"),
        },
        parking,
        claim,
        None,
    );
    let mut source = dlq.open(!o.dry_run).await?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    let deadline = Instant::now() + Duration::from_secs(o.max_seconds);
    let summary = run_job(&mut source, &replayer, o.limit, deadline, |s| {
        bar.set_message(format!(
            "{} replayed, {} parked, {} kept (failed {}, filtered {}, unreadable {})",
            s.replayed,
            s.parked,
            s.failed + s.filtered_out + s.unreadable + s.would_replay,
            s.failed,
            s.filtered_out,
            s.unreadable
        ));
    })
    .await?;
    bar.finish_and_clear();
    if o.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if o.dry_run {
        println!(
            "dry run: {} would be replayed, {} would be parked, {} filtered out, {} unreadable; nothing changed",
            summary.would_replay, summary.parked, summary.filtered_out, summary.unreadable
        );
    } else {
        println!(
            "replayed {}, parked {}, kept {} (failed {}, filtered out {}, unreadable {}); fetched back {}",
            summary.replayed,
            summary.parked,
            summary.failed + summary.filtered_out + summary.unreadable,
            summary.failed,
            summary.filtered_out,
            summary.unreadable,
            summary.fetched_back
        );
    }
    if summary.failed > 0 {
        bail!(
            "{} dead letter(s) could not be replayed and were kept",
            summary.failed
        );
    }
    Ok(())
}
