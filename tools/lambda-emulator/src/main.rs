//! `lambda-emulator`: run a Lambda function binary locally and invoke it
//! with event files, printing each response as one JSON line.
//!
//! lambda-emulator --event events/msk-mixed.json -- target/debug/consumer

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use lambda_emulator::{Function, Reply};

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Event JSON files, invoked in order.
    #[arg(long = "event", required = true)]
    events: Vec<PathBuf>,
    /// Function timeout per invocation, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Function name (AWS_LAMBDA_FUNCTION_NAME).
    #[arg(long, default_value = "local-function")]
    name: String,
    /// Print the function's own logs and metrics too.
    #[arg(long)]
    verbose: bool,
    /// The function binary.
    binary: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut function = Function::start(&args.binary, &args.name, &[], args.verbose).await?;
    let mut failed = false;
    for path in &args.events {
        let event = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read event file {}", path.display()))?;
        match function
            .invoke(&event, Duration::from_millis(args.timeout_ms))
            .await?
        {
            Reply::Response(body) => println!("{body}"),
            other => {
                failed = true;
                eprintln!("{}: {other:?}", path.display());
            }
        }
    }
    function.stop().await;
    if failed {
        anyhow::bail!("at least one invocation did not return a response");
    }
    Ok(())
}
