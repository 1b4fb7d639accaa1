#![recursion_limit = "256"]
//! `msk-dlq`: inspect, count, replay, purge and export dead letters in an
//! SQS queue or a Kafka DLQ topic, locally or on AWS.

mod cmd;
mod dlq;
mod filters;

use clap::{Parser, Subcommand};

use crate::dlq::DlqArgs;

#[derive(Parser)]
#[command(name = "msk-dlq", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    dlq: DlqArgs,
    /// Log level of the tool itself.
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Counts by original topic, kind and error type; oldest and newest age; bytes.
    Stats(cmd::stats::Args),
    /// Shows dead letters without consuming them.
    #[command(alias = "list")]
    Peek(cmd::peek::Args),
    /// Replays dead letters to their original topic (or --target-topic).
    Replay(cmd::replay::Args),
    /// Deletes dead letters (SQS), or skips them for the group (Kafka).
    Purge(cmd::purge::Args),
    /// Writes dead letters as JSON lines (to stdout or --output), consuming none;
    /// bytes that are not UTF-8 text are written as {"base64": ...}.
    Export(cmd::export::Args),
    /// Writes the dead letters of an export file into the DLQ, byte for byte.
    Import(cmd::import::Args),
    /// Lists the replay audit trail: who replayed what, when, where to.
    Audit(cmd::audit::Args),
}

#[tokio::main]
async fn main() {
    // Behave like other Unix tools when the reader goes away (`| head`).
    // SAFETY: called once at start-up before any other thread writes output.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
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
        Cmd::Stats(a) => cmd::stats::run(&cli.dlq, a).await,
        Cmd::Peek(a) => cmd::peek::run(&cli.dlq, a).await,
        Cmd::Export(a) => cmd::export::run(&cli.dlq, a).await,
        Cmd::Import(a) => cmd::import::run(&cli.dlq, a).await,
        Cmd::Audit(a) => cmd::audit::run(&cli.dlq, a).await,
        Cmd::Purge(a) => cmd::purge::run(&cli.dlq, a).await,
        Cmd::Replay(a) => cmd::replay::run(&cli.dlq, a).await,
    }
}
