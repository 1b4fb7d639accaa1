//! `bench-compare`: serve the same Lambda event again and again, through one
//! Lambda Runtime API, to any function process, and measure it.
//!
//!   bench-compare --event events/msk-10000x300.json --warmup 5 --iterations 50 \
//!       --name python-noop -- python/run-python.sh handlers.noop_handler
//!   bench-compare --compare results.jsonl --baseline rust-consumer
//!
//! Per invocation: from the instant the server hands the event out on
//! `/invocation/next` to the instant it has received the `/response` body.
//! Init: from just before the process is spawned to its first
//! `/invocation/next`. Peak RSS: the sum of VmHWM over the process and its
//! descendants, sampled after every invocation.

mod backend;
mod compare;
mod rss;
mod server;

use backend::{truncate, Backend};
use lambda_emulator::{collect_lines, Lines};

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ServerKind {
    /// This crate's Runtime API: times hand-out on /next to /response.
    Lean,
    /// The project's lambda_emulator::RuntimeApi: times enqueue to reply
    /// (includes the event copy and the function's gap between its
    /// /response and its next /next); no init time.
    Emulator,
}

#[derive(Parser)]
#[command(version, about, trailing_var_arg = true)]
struct Args {
    /// The event JSON file served on every invocation.
    #[arg(long, required_unless_present = "compare")]
    event: Option<PathBuf>,
    /// Invocations before measuring.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Measured invocations.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// Label of the result line.
    #[arg(long = "name")]
    name: Option<String>,
    /// Round of the result line: `--compare` pairs each row with the
    /// baseline's row of the same round and reports the median ratio.
    #[arg(long)]
    round: Option<u32>,
    /// Extra environment for the function, K=V (repeatable; overrides the defaults).
    #[arg(long = "env", value_parser = parse_kv)]
    env: Vec<(String, String)>,
    /// Function timeout (Lambda-Runtime-Deadline-Ms = hand-out + this).
    #[arg(long, default_value_t = 60_000)]
    timeout_ms: u64,
    /// AWS_LAMBDA_FUNCTION_MEMORY_SIZE: by default a function with two
    /// vCPUs' time (1,769 MB each), as the two CPUs the function shares
    /// with the server here.
    #[arg(long, default_value_t = 3538)]
    memory_mb: u32,
    /// AWS_LAMBDA_FUNCTION_NAME.
    #[arg(long, default_value = "bench-function")]
    function_name: String,
    /// Which Runtime API serves the function.
    #[arg(long, value_enum, default_value = "lean")]
    server: ServerKind,
    /// Accept responses whose batchItemFailures is not empty (by default a
    /// benchmark whose handler fails records is an error).
    #[arg(long)]
    allow_failures: bool,
    /// Add every measured invocation time to the result line (samples_ms).
    #[arg(long)]
    samples: bool,
    /// Copy the function's stdout/stderr to ours.
    #[arg(long)]
    verbose: bool,
    /// Append the result line to this file as well as printing it.
    #[arg(long)]
    append: Option<PathBuf>,
    /// Turn result lines (JSONL files) into a markdown table instead of running.
    #[arg(long, num_args = 1..)]
    compare: Vec<PathBuf>,
    /// Label whose rows are the 1x of the ratios (default: the first line's).
    #[arg(long)]
    baseline: Option<String>,
    /// With `--compare`: also how many times slower label A is than B
    /// (median time, round by round), as `A/B` (repeatable).
    #[arg(long = "pair")]
    pairs: Vec<String>,
    /// The function command and its arguments (after `--`).
    cmd: Vec<String>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected K=V, got {s:?}"))
}

const KEEP_LINES: usize = 200;

fn tail(lines: &Lines) -> String {
    lines
        .lock()
        .map(|l| l.iter().cloned().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

fn count_records(v: &Value) -> u64 {
    if let Some(m) = v.get("records").and_then(Value::as_object) {
        return m
            .values()
            .map(|a| a.as_array().map_or(0, |a| a.len() as u64))
            .sum();
    }
    v.get("Records")
        .and_then(Value::as_array)
        .map_or(0, |a| a.len() as u64)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn kill_group(pgid: i32) {
    // The function runs in its own process group; end it and anything it forked.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

async fn run(args: Args) -> anyhow::Result<Value> {
    let event_path = args.event.clone().context("--event is required")?;
    if args.cmd.is_empty() {
        bail!("no function command given (put it after --)");
    }
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let raw = std::fs::read(&event_path)
        .with_context(|| format!("cannot read event file {}", event_path.display()))?;
    let parsed: Value = serde_json::from_slice(&raw)
        .with_context(|| format!("{} is not JSON", event_path.display()))?;
    let records = count_records(&parsed);
    drop(parsed);
    let event_bytes = raw.len();
    let event_str = match args.server {
        ServerKind::Emulator => String::from_utf8(raw.clone()).context("event is not UTF-8")?,
        ServerKind::Lean => String::new(),
    };
    let event = Bytes::from(raw);
    let label = args.name.clone().unwrap_or_else(|| args.cmd.join(" "));
    let timeout = Duration::from_millis(args.timeout_ms);

    let mut backend = match args.server {
        ServerKind::Lean => Backend::Lean(server::LeanApi::start(&args.function_name).await?),
        ServerKind::Emulator => {
            Backend::Emulator(lambda_emulator::RuntimeApi::start(&args.function_name).await?)
        }
    };
    let mut init_error = backend.init_error();

    let fname = &args.function_name;
    let mut cmd = tokio::process::Command::new(&args.cmd[0]);
    cmd.args(&args.cmd[1..])
        .env("AWS_LAMBDA_RUNTIME_API", backend.endpoint())
        .env("AWS_LAMBDA_FUNCTION_NAME", fname)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            args.memory_mb.to_string(),
        )
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{fname}"))
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2024/01/01/[$LATEST]00000000000000000000000000000000",
        )
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        // Keep AWS SDKs off the instance metadata service (non-loopback).
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TZ", ":UTC")
        .envs(args.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);

    let spawned_at = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", args.cmd[0]))?;
    let pid = child.id().context("child has no pid")? as i32;
    let stdout: Lines = Arc::default();
    let stderr: Lines = Arc::default();
    if let Some(o) = child.stdout.take() {
        collect_lines(o, stdout.clone(), Some(KEEP_LINES), args.verbose, false);
    }
    if let Some(e) = child.stderr.take() {
        collect_lines(e, stderr.clone(), Some(KEEP_LINES), args.verbose, true);
    }

    let mut tracker = rss::Tracker::default();
    let mut times = Vec::with_capacity(args.iterations);
    let total = args.warmup + args.iterations;
    let mut cpu_start = if args.warmup == 0 {
        rss::tree_cpu_ns(pid)
    } else {
        0
    };
    let mut cpu_end = 0;
    let result: anyhow::Result<()> = async {
        for i in 0..total {
            let fut = backend.invoke(&event, &event_str, timeout, args.allow_failures);
            let d = tokio::select! {
                r = fut => r.with_context(|| format!("invocation {}", i + 1))?,
                e = &mut init_error => bail!("the function reported an init error: {}", truncate(&e)),
                s = child.wait() => {
                    let s = s?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    bail!("the function exited ({s}) during invocation {}", i + 1)
                }
                _ = tokio::time::sleep(timeout + Duration::from_secs(2)) => {
                    bail!("invocation {} timed out after {} ms", i + 1, args.timeout_ms)
                }
            };
            if i >= args.warmup {
                times.push(d);
            }
            tracker.sample(pid);
            if i + 1 == args.warmup {
                cpu_start = rss::tree_cpu_ns(pid);
            }
        }
        Ok(())
    }
    .await;
    tracker.sample(pid);
    if result.is_ok() {
        cpu_end = rss::tree_cpu_ns(pid);
    }
    kill_group(pid);
    let _ = child.wait().await;
    if let Err(e) = result {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let err_tail = tail(&stderr);
        let out_tail = tail(&stdout);
        return Err(anyhow!(
            "{e:#}\nfunction: {}\n--- function stderr (last {KEEP_LINES} lines at most) ---\n{err_tail}\n--- function stdout (last {KEEP_LINES} lines at most) ---\n{out_tail}",
            args.cmd.join(" ")
        ));
    }

    let init_ms = backend
        .first_next()
        .map(|t| round3(ms(t.duration_since(spawned_at))));
    let mut sorted: Vec<f64> = times.iter().map(|d| ms(*d)).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let p90 = sorted[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1];
    let mut out = json!({
        "label": label,
        "round": args.round,
        "event": Path::new(&event_path).file_name().map(|f| f.to_string_lossy().into_owned()),
        "event_bytes": event_bytes,
        "records": records,
        "init_ms": init_ms,
        "median_ms": round3(median),
        "min_ms": round3(sorted[0]),
        "p90_ms": round3(p90),
        "max_ms": round3(sorted[n - 1]),
        "peak_rss_kb": tracker.total_kb(),
        // Mean CPU time (all threads of the process tree) per measured
        // invocation cycle, including work done between /response and /next.
        "cpu_ms": round3(cpu_end.saturating_sub(cpu_start) as f64 / 1e6 / n as f64),
        "processes": tracker.processes(),
        "invocations": n,
        "warmup": args.warmup,
        // The 1-minute load average when the run ended: other work on the
        // machine skews the figures (2 cores), so keep it with them.
        "loadavg_1m": std::fs::read_to_string("/proc/loadavg").ok()
            .and_then(|l| l.split_whitespace().next().and_then(|x| x.parse::<f64>().ok())),
        "server": match args.server { ServerKind::Lean => "lean", ServerKind::Emulator => "emulator" },
        "memory_mb": args.memory_mb,
    });
    if args.samples {
        out["samples_ms"] = json!(times.iter().map(|d| round3(ms(*d))).collect::<Vec<_>>());
    }
    Ok(out)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.compare.is_empty() {
        return match compare::table(&args.compare, args.baseline.as_deref(), &args.pairs) {
            Ok(t) => {
                print!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bench-compare: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let append = args.append.clone();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-compare: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(v) => {
            let line = v.to_string();
            println!("{line}");
            if let Some(p) = append {
                use std::io::Write as _;
                let r = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .and_then(|mut f| writeln!(f, "{line}"));
                if let Err(e) = r {
                    eprintln!("bench-compare: cannot append to {}: {e}", p.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-compare: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}
