//! `msk-dlq replay`: replays dead letters to their original topic (or
//! `--target-topic`), parking what the loop guard stops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::ArgGroup;
use msk_dlq::replay::{run_job, ReplaySettings, ReplaySetup};
use msk_dlq::sink::{SinkConfig, SinkKind};
use tokio::time::Instant;

use crate::dlq::DlqArgs;
use crate::filters::FilterArgs;

/// `replay` flags.
#[derive(clap::Args)]
#[command(group(ArgGroup::new("parking").multiple(false)))]
pub struct Args {
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
    #[arg(long, group = "parking")]
    parking_kafka_topic: Option<String>,
    /// ... or an SQS queue.
    #[arg(long, group = "parking")]
    parking_sqs_queue_url: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    max_seconds: u64,
    /// How long an SQS message being replayed stays hidden from other
    /// readers, in seconds (extended while the replay runs).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(i32).range(1..=43_200))]
    visibility_timeout: i32,
    /// Replay dead letters from another cluster onto --bootstrap too
    /// (by default they are refused and kept).
    #[arg(long)]
    any_cluster: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.001..=100_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{s:?} is not a rate from 0.001 to 100000 per second"
        )),
    }
}

pub async fn run(dlq: &DlqArgs, a: Args) -> anyhow::Result<()> {
    let connection = dlq.connection()?;
    let mut parking = SinkConfig::default();
    parking.kafka = connection.clone();
    if let Some(t) = a.parking_kafka_topic {
        parking.primary = SinkKind::Kafka;
        parking.kafka_topic = Some(t);
    } else if let Some(u) = a.parking_sqs_queue_url {
        parking.primary = SinkKind::Sqs;
        parking.sqs_queue_url = Some(u);
    }
    let mut setup = ReplaySetup::default();
    setup.replayer.settings = ReplaySettings::new(a.target_topic, a.max_replays);
    setup.replayer.filters = a.filters.filters();
    setup.replayer.dry_run = a.dry_run;
    setup.replayer.rate_per_sec = a.rate;
    setup.replayer.any_cluster = a.any_cluster;
    setup.replayer.consumer_name = Arc::from("msk-dlq-cli");
    setup.connection = connection;
    setup.parking = parking;
    setup.bucket = std::env::var("MSK_DLQ_LARGE_PAYLOAD_BUCKET").ok();
    let replayer = setup.build(None, None).await?;
    let mut source = dlq
        .open_with_visibility(!a.dry_run, a.visibility_timeout)
        .await?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    let deadline = Instant::now() + Duration::from_secs(a.max_seconds);
    let summary = run_job(&mut source, &replayer, a.limit, deadline, |s| {
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
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if a.dry_run {
        println!(
            "dry run: {} would be replayed, {} would be parked, {} filtered out, {} unreadable; nothing changed",
            summary.would_replay, summary.parked, summary.filtered_out, summary.unreadable
        );
    } else {
        println!(
            "replayed {}, parked {}, kept {} (failed {}, filtered out {}, unreadable {}, other cluster {}); fetched back {}",
            summary.replayed,
            summary.parked,
            summary.failed + summary.filtered_out + summary.unreadable + summary.refused,
            summary.failed,
            summary.filtered_out,
            summary.unreadable,
            summary.refused,
            summary.fetched_back
        );
    }
    if summary.failed + summary.refused > 0 {
        bail!(
            "{} dead letter(s) could not be replayed and were kept",
            summary.failed + summary.refused
        );
    }
    Ok(())
}
