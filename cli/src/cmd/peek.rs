//! `msk-dlq peek`: shows dead letters without consuming them.

use msk_dlq::replay::inspect::{letters, schema_label, LetterView};

use crate::dlq::{read_all, DlqArgs};
use crate::filters::FilterArgs;

/// `peek` flags.
#[derive(clap::Args)]
pub struct Args {
    /// Dead letters to show at most.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    filters: FilterArgs,
}

pub async fn run(dlq: &DlqArgs, args: Args) -> anyhow::Result<()> {
    let filters = args.filters.filters();
    let mut source = dlq.open(false).await?;
    let items = read_all(&mut source, 1_000_000).await?;
    let (views, labels): (Vec<LetterView>, Vec<Option<String>>) = items
        .iter()
        .flat_map(|i| {
            letters(i)
                .iter()
                .filter(|l| filters.matches(l))
                .map(move |l| (LetterView::new(&i.id, l), schema_label(&l.schema)))
        })
        .take(args.limit)
        .unzip();
    if args.json {
        for v in &views {
            println!("{}", serde_json::to_string(v)?);
        }
        return Ok(());
    }
    println!(
        "{:<24} {:>4} {:>8} {:<18} {:<22} {:<24} {:>3} {:>7}  SCHEMA",
        "TOPIC", "PART", "OFFSET", "KIND", "ERROR", "FAILED AT", "RPL", "BYTES"
    );
    for (v, label) in views.iter().zip(labels) {
        println!(
            "{:<24} {:>4} {:>8} {:<18} {:<22} {:<24} {:>3} {:>7}  {}",
            v.topic.as_deref().unwrap_or("?"),
            v.partition.map_or("?".into(), |p| p.to_string()),
            v.offset.map_or("?".into(), |o| o.to_string()),
            v.kind.as_deref().unwrap_or("?"),
            v.error_type.as_deref().unwrap_or("?"),
            v.failed_at.as_deref().unwrap_or("?"),
            v.replay_count,
            v.value_bytes.map_or("null".into(), |b| b.to_string()),
            label.unwrap_or_else(|| "-".into()),
        );
    }
    let unreadable = items.iter().filter(|i| i.parsed.is_err()).count();
    if unreadable > 0 {
        println!("({unreadable} message(s) could not be read as dead letters; see `export`)");
    }
    Ok(())
}
