//! `msk-dlq export`: dead letters as JSON lines, consuming none.

use std::io::Write as _;

use anyhow::Context as _;
use msk_dlq::replay::inspect::{letters, LetterView};

use crate::dlq::{read_all, DlqArgs};
use crate::filters::FilterArgs;

/// `export` flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    filters: FilterArgs,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<std::path::PathBuf>,
}

pub async fn run(dlq: &DlqArgs, args: Args) -> anyhow::Result<()> {
    let filters = args.filters.filters();
    let mut source = dlq.open(false).await?;
    let items = read_all(&mut source, usize::MAX).await?;
    let mut out: Box<dyn std::io::Write> = match &args.output {
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
