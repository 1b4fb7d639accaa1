//! `msk-dlq purge`: deletes dead letters (SQS), or moves the group past
//! them (Kafka).

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::bail;
use msk_dlq::replay::inspect::letters;
use msk_dlq::replay::{DlqItem, Filters};
use tokio::time::Instant;

use crate::dlq::{read_all, DlqArgs};
use crate::filters::FilterArgs;

/// `purge` flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    filters: FilterArgs,
    /// Confirm without asking.
    #[arg(long)]
    yes: bool,
}

fn selected(filters: &Filters, item: &DlqItem) -> bool {
    filters.is_empty()
        || (!letters(item).is_empty() && letters(item).iter().all(|l| filters.matches(l)))
}

pub async fn run(dlq: &DlqArgs, args: Args) -> anyhow::Result<()> {
    let filters = args.filters.filters();
    if dlq.kafka_topic.is_some() && !filters.is_empty() {
        bail!("Kafka records cannot be deleted one by one: purge of a Kafka DLQ takes no filters (it moves group {:?} past every dead letter)", dlq.group);
    }
    let mut source = dlq.open(true).await?;
    let items = read_all(&mut source, usize::MAX).await?;
    let matching: Vec<&DlqItem> = items.iter().filter(|i| selected(&filters, i)).collect();
    if matching.is_empty() {
        println!("nothing to purge in {}", source.name());
        return Ok(());
    }
    if !args.yes {
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
        let (done, kept): (Vec<&DlqItem>, Vec<&DlqItem>) =
            batch.iter().partition(|i| selected(&filters, i));
        purged += done.len();
        source.settle(&done, &kept).await?;
    }
    source.finish().await?;
    println!("purged {purged} message(s) from {}", source.name());
    Ok(())
}
