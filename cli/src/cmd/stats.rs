//! `msk-dlq stats`: counts by original topic, kind and error type.

use msk_dlq::replay::inspect::{human_age, Stats};

use crate::dlq::{read_all, DlqArgs};

/// `stats` flags.
#[derive(clap::Args)]
pub struct Args {
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(dlq: &DlqArgs, args: Args) -> anyhow::Result<()> {
    let mut source = dlq.open(false).await?;
    let items = read_all(&mut source, 1_000_000).await?;
    let mut stats = Stats::default();
    for i in &items {
        stats.add(i);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    let now = msk_dlq::epoch_ms_now();
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
    if let Some(o) = stats.oldest_fetch_back_ms {
        println!(
            "  oldest on-failure document {} ago: replay it before the source topic's retention drops its offsets",
            human_age(now - o)
        );
    }
    for (title, map) in [
        ("original topic", &stats.by_topic),
        ("kind", &stats.by_kind),
        ("error type", &stats.by_error_type),
        ("value schema (format, id, record format)", &stats.by_schema),
    ] {
        if map.is_empty() && title.starts_with("value schema") {
            continue;
        }
        println!("  by {title}:");
        for (k, v) in map {
            println!("    {v:>8}  {k}");
        }
    }
    Ok(())
}
