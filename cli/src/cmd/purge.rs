//! `msk-dlq purge`: deletes dead letters (SQS), or moves the group past
//! them (Kafka).

use std::io::IsTerminal as _;

use anyhow::bail;
use msk_dlq::replay::purge;

use crate::dlq::DlqArgs;
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

pub async fn run(dlq: &DlqArgs, args: Args) -> anyhow::Result<()> {
    let filters = args.filters.filters();
    if dlq.kafka_topic.is_some() && !filters.is_empty() {
        bail!("Kafka records cannot be deleted one by one: purge of a Kafka DLQ takes no filters (it moves group {:?} past every dead letter)", dlq.group);
    }
    let mut source = dlq.open(false).await?;
    let plan = purge::plan(&mut source, &filters).await?;
    if plan.is_empty() {
        println!("nothing to purge in {}", source.name());
        return Ok(());
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to purge {} message(s) from {} without --yes",
                plan.len(),
                source.name()
            );
        }
        eprint!(
            "purge {} message(s) from {}? type 'purge' to confirm: ",
            plan.len(),
            source.name()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "purge" {
            bail!("not confirmed; nothing purged");
        }
    }
    // Read again so the receipts are fresh, then delete what was counted.
    let mut source = dlq.open(true).await?;
    let purged = purge::execute(&plan, &filters, &mut source).await?;
    println!("purged {purged} message(s) from {}", source.name());
    Ok(())
}
