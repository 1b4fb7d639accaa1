//! `msk-dlq audit`: lists the replay audit trail; and where the CLI writes
//! its own records, with the caller's identity.

use std::time::Duration;

use msk_dlq::replay::audit::{AuditLog, AuditRecord, AuditTarget};

/// Where the audit trail is (`replay` writes to it, `audit` reads it).
#[derive(clap::Args, Clone)]
pub struct AuditArgs {
    /// The audit log: a JSON lines file, kafka:<topic> (on --bootstrap) or
    /// s3://<bucket>/<prefix>. Default: ~/.local/state/msk-dlq/audit.jsonl.
    #[arg(long = "audit", env = "MSK_DLQ_AUDIT")]
    pub target: Option<String>,
}

impl AuditArgs {
    /// The target, or the default file.
    pub fn target(&self) -> anyhow::Result<AuditTarget> {
        match &self.target {
            Some(t) => AuditTarget::parse(t).map_err(|e| anyhow::anyhow!("--audit {t}: {e}")),
            None => {
                let base = std::env::var_os("XDG_STATE_HOME")
                    .map(std::path::PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME")
                            .map(|h| std::path::Path::new(&h).join(".local/state"))
                    })
                    .unwrap_or_else(|| std::path::PathBuf::from("."));
                Ok(AuditTarget::File(base.join("msk-dlq").join("audit.jsonl")))
            }
        }
    }
}

/// `audit` flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    log: AuditArgs,
    /// Show one record in full (its letters included).
    #[arg(long)]
    id: Option<String>,
    /// Print records as JSON lines.
    #[arg(long)]
    json: bool,
}

/// Who runs the CLI: the AWS identity when credentials resolve, and the
/// local user and host.
pub async fn caller() -> String {
    let local = format!(
        "{}@{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into())
    );
    let sdk = msk_dlq::aws::sdk_config().await;
    let sts = aws_sdk_sts::Client::new(&sdk);
    match tokio::time::timeout(Duration::from_secs(3), sts.get_caller_identity().send()).await {
        Ok(Ok(id)) => match id.arn() {
            Some(arn) => format!("{arn} ({local})"),
            None => local,
        },
        _ => local,
    }
}

pub async fn run(dlq: &crate::dlq::DlqArgs, a: Args) -> anyhow::Result<()> {
    let connection = dlq.connection()?;
    let pool = std::sync::Arc::new(msk_dlq::kafka::ProducerPool::new(connection.clone()));
    let log = AuditLog::open(a.log.target()?, pool, connection.bootstrap_servers.clone()).await;
    let records = log.read_all().await?;
    if let Some(id) = &a.id {
        let r = records
            .iter()
            .find(|r| &r.id == id)
            .ok_or_else(|| anyhow::anyhow!("no audit record {id} in {}", log.target()))?;
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    if a.json {
        for r in &records {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(());
    }
    println!(
        "{:<24} {:<24} {:<14} {:<40} {:<16} {:>8} {:>6} {:>6} {:>6}",
        "ID", "STARTED", "TRIGGER", "WHO", "TARGET", "REPLAYED", "PARKED", "KEPT", "FAILED"
    );
    for r in &records {
        println!("{}", line(r));
    }
    if records.is_empty() {
        println!("(no replays recorded in {})", log.target());
    }
    Ok(())
}

fn line(r: &AuditRecord) -> String {
    let s = &r.summary;
    let kept = s.failed + s.filtered_out + s.unreadable + s.refused + s.would_replay;
    format!(
        "{:<24} {:<24} {:<14} {:<40} {:<16} {:>8} {:>6} {:>6} {:>6}{}",
        r.id,
        r.started_at,
        r.trigger,
        r.who.chars().take(40).collect::<String>(),
        r.target,
        s.replayed,
        s.parked,
        kept,
        s.failed,
        if r.dry_run { "  (dry run)" } else { "" }
    )
}
