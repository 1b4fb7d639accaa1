//! `msk-dlq replay`: replays dead letters to their original topic (or
//! `--target-topic`), parking what the loop guard stops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::ArgGroup;
use msk_dlq::replay::{run_job_until, AllowedTargets, ReplaySettings, ReplaySetup};
use msk_dlq::schema::WireMode;
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
    /// Replay here instead of the original topic (it must be allowed).
    #[arg(long)]
    target_topic: Option<String>,
    /// Topics replays may write to: names, prefixes ending in *, and
    /// @original (the letter's own topic, the default). Repeat or separate
    /// with commas.
    #[arg(
        long = "allow-target",
        env = "MSK_DLQ_REPLAY_ALLOWED_TARGETS",
        value_delimiter = ','
    )]
    allowed_targets: Vec<String>,
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
    /// How records that went through a schema registry are written back:
    /// re-framed from their schema id where that is exact, else fetched
    /// back from the source topic by offset (auto); or always one way.
    #[arg(long, value_enum, default_value_t = WireMode::Auto)]
    wire_format: WireMode,
    /// Replay dead letters from another cluster onto --bootstrap too
    /// (by default they are refused and kept).
    #[arg(long)]
    any_cluster: bool,
    #[command(flatten)]
    audit: crate::cmd::audit::AuditArgs,
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
    let mut settings = ReplaySettings::new(a.target_topic.clone(), a.max_replays);
    if !a.allowed_targets.is_empty() {
        settings.allowed_targets = AllowedTargets::parse(&a.allowed_targets.join(","))
            .map_err(|e| anyhow::anyhow!("--allow-target: {e}"))?;
    }
    if let Some(t) = &a.target_topic {
        if !settings.allowed_targets.allows(t, None) {
            bail!(
                "--target-topic {t} is not on the replay allow-list ({}); allow it with --allow-target {t}",
                settings.allowed_targets
            );
        }
    }
    let mut setup = ReplaySetup::default();
    setup.replayer.settings = settings;
    setup.replayer.filters = a.filters.filters();
    setup.replayer.dry_run = a.dry_run;
    setup.replayer.rate_per_sec = a.rate;
    setup.replayer.any_cluster = a.any_cluster;
    setup.replayer.wire_mode = a.wire_format;
    setup.replayer.consumer_name = Arc::from("msk-dlq-cli");
    setup.connection = connection;
    setup.parking = parking;
    setup.bucket = std::env::var("MSK_DLQ_LARGE_PAYLOAD_BUCKET").ok();
    setup.audit = Some(a.audit.target()?);
    let started_ms = msk_dlq::epoch_ms_now();
    let replayer = setup.build(None, None).await?;
    let mut source = dlq
        .open_with_visibility(!a.dry_run, a.visibility_timeout)
        .await?;
    // Who replays, once the DLQ is reachable (an invalid call asks no one).
    let audit_ctx = msk_dlq::replay::audit::AuditContext {
        who: crate::cmd::audit::caller().await,
        trigger: "cli".to_owned(),
        source: match (&dlq.sqs_queue_url, &dlq.kafka_topic) {
            (Some(url), _) => format!("sqs:{url}"),
            (_, Some(topic)) => format!("kafka:{topic}"),
            _ => String::new(),
        },
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(200));
    let deadline = Instant::now() + Duration::from_secs(a.max_seconds);
    // Ctrl-C pauses: the letter in flight is finished, the rest stays in
    // the DLQ untouched. A second Ctrl-C quits at once.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.store(true, std::sync::atomic::Ordering::SeqCst);
            eprintln!("\npausing after the dead letter in flight (Ctrl-C again to quit now)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let summary = run_job_until(&mut source, &replayer, a.limit, deadline, &stop, |s| {
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
    let audited = replayer.audit(&audit_ctx, started_ms, &summary).await;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if a.dry_run {
        println!(
            "dry run: {} would be replayed, {} would be parked, {} filtered out, {} unreadable; nothing changed",
            summary.would_replay, summary.parked, summary.filtered_out, summary.unreadable
        );
    } else {
        println!(
            "replayed {}, parked {}, kept {} (failed {}, filtered out {}, unreadable {}, refused {}); fetched back {}, re-framed {}",
            summary.replayed,
            summary.parked,
            summary.failed + summary.filtered_out + summary.unreadable + summary.refused,
            summary.failed,
            summary.filtered_out,
            summary.unreadable,
            summary.refused,
            summary.fetched_back,
            summary.reframed
        );
    }
    match audited {
        Ok(Some(at)) => eprintln!("audit record written to {at}"),
        Ok(None) => {}
        Err(e) => bail!("the replay ran, but its audit record was not written: {e}"),
    }
    if summary.paused {
        eprintln!(
            "paused: the dead letters not yet replayed are untouched in the DLQ; run the same command again to resume (what was replayed is acknowledged and will not be replayed again)"
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
