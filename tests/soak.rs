//! Soak: thousands of invocations of one warm consumer process, with random
//! handler faults and an SQS DLQ endpoint that resets and refuses at
//! random. Resident memory must stay flat after warm-up, file descriptors
//! (sockets included) must not leak, and every record is accounted for:
//! processed, dead-lettered or reported failed.
//!
//! `MSK_DLQ_SOAK_INVOCATIONS` (default 2000) sets the length;
//! `MSK_DLQ_FAULT_REPORT=file` collects the figures and the memory curve.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use common::ledger::{append_to_fault_report, draw, order_id, Plan, Workdir};
use common::proxy::{Fault, FaultProxy};
use common::stack::{self, create_queue, unique};
use common::{env, workspace_bin};
use lambda_emulator::{Function, Reply};
use msk_dlq::replay::parse::from_message_body;
use msk_dlq::replay::{Parsed, StoredValue};
use serde_json::{json, Value};

const RECORDS_PER_EVENT: usize = 20;

fn invocations() -> usize {
    std::env::var("MSK_DLQ_SOAK_INVOCATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

/// Resident memory (KiB) and open file descriptors of `pid`.
fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    (rss, fds)
}

fn event(n: usize, rng: &mut fastrand::Rng, ids: &mut Vec<String>) -> String {
    let mix = [
        (Plan::Ok, 80),
        (Plan::Invalid, 6),
        (Plan::Panic, 3),
        (Plan::Transient, 3),
        (Plan::Flaky, 4),
        (Plan::Manual, 2),
        (Plan::Slow(2), 2),
    ];
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut partitions = serde_json::Map::new();
    for p in 0..2 {
        let records: Vec<Value> = (0..RECORDS_PER_EVENT / 2)
            .map(|i| {
                let offset = (n * RECORDS_PER_EVENT / 2 + i) as i64;
                let id = format!("soak-{p}-{offset}");
                let value = plan_value(&id, draw(rng, &mix));
                ids.push(id.clone());
                json!({
                    "topic": "orders", "partition": p, "offset": offset,
                    "timestamp": 1_795_320_000_000i64 + offset, "timestampType": "CREATE_TIME",
                    "key": b64(id.as_bytes()), "value": b64(&value), "headers": [],
                })
            })
            .collect();
        partitions.insert(format!("orders-{p}"), Value::Array(records));
    }
    json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/soak/00000000-0000-0000-0000-000000000000-1",
        "bootstrapServers": "127.0.0.1:9",
        "records": partitions,
    })
    .to_string()
}

fn plan_value(id: &str, plan: Plan) -> Vec<u8> {
    let mut v = json!({"order_id": id, "amount": 1.5});
    match plan {
        Plan::Invalid => v["amount"] = json!(-1),
        Plan::Panic => v["simulate"] = json!("panic"),
        Plan::Transient => v["simulate"] = json!("transient"),
        Plan::Flaky => v["simulate"] = json!("flaky"),
        Plan::Manual => v["simulate"] = json!("dlq"),
        Plan::Slow(ms) => {
            v["simulate"] = json!("slow");
            v["ms"] = json!(ms);
        }
        _ => {}
    }
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_warm_invocations_leak_nothing() {
    let total = invocations();
    let mut rng = fastrand::Rng::with_seed(
        std::env::var("MSK_DLQ_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7),
    );
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq = create_queue(&sqs, &unique("soak-dlq"), &[]).await;
    let proxy = FaultProxy::start(stack::aws_endpoint().trim_start_matches("http://")).await;
    let dir = Workdir::new();
    let ledger = dir.ledger().display().to_string();
    let mut f = Function::start(
        &workspace_bin("consumer"),
        "orders-consumer",
        &env(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("RUST_LOG", "error"),
            ("MSK_DLQ_BACKOFF_BASE_MS", "1"),
            ("MSK_DLQ_BACKOFF_MAX_MS", "2"),
            ("MSK_DLQ_METRICS", "false"),
            ("MSK_DLQ_SINK", "sqs"),
            ("MSK_DLQ_SQS_QUEUE_URL", &dlq),
            ("MSK_DLQ_SINK_RETRIES", "0"),
            // Letters of an invocation go out together, in one SQS call.
            ("MSK_DLQ_ORDERING", "independent"),
            ("AWS_ENDPOINT_URL", &proxy.url),
            // The sink's own retries only: a fault costs milliseconds, not
            // the SDK's backoff.
            ("AWS_MAX_ATTEMPTS", "1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("ORDERS_LEDGER", &ledger),
        ]),
        false,
    )
    .await
    .unwrap();
    f.wait_ready(Duration::from_secs(30)).await.unwrap();
    let pid = f.pid().unwrap();

    let mut ids = Vec::new();
    let mut dead: BTreeSet<String> = BTreeSet::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut curve = Vec::new();
    let mut faults = 0;
    for n in 0..total {
        // A fault for one invocation in ten: the DLQ endpoint resets or refuses.
        let fault = match rng.u32(0..20) {
            0 => Fault::Reset,
            1 => Fault::Unavailable,
            _ => Fault::Pass,
        };
        faults += usize::from(fault != Fault::Pass);
        proxy.set(fault);
        let first = ids.len();
        let ev = event(n, &mut rng, &mut ids);
        let reply = f.invoke(&ev, Duration::from_secs(5)).await.unwrap();
        let Reply::Response(body) = reply else {
            panic!("invocation {n}: {reply:?}\n{}", f.stderr_lines().join("\n"))
        };
        let body: Value = serde_json::from_str(&body).unwrap();
        for item in body["batchItemFailures"].as_array().unwrap() {
            let id = &item["itemIdentifier"];
            let p = id["partition"]
                .as_str()
                .unwrap()
                .trim_start_matches("orders-");
            failed.insert(format!("soak-{p}-{}", id["offset"]));
        }
        assert!(ids.len() - first == RECORDS_PER_EVENT);
        if n % (total / 20).max(1) == 0 || n == total - 1 {
            curve.push((n, usage(pid)));
        }
        // Keep moto's queue short: it slows down as a queue grows.
        if n % 100 == 99 {
            drain_dlq(&sqs, &dlq, &mut dead).await;
        }
    }
    proxy.set(Fault::Pass);
    f.stop().await;

    // Where every record ended.
    let processed: BTreeSet<String> = dir.processed().into_iter().collect();
    drain_dlq(&sqs, &dlq, &mut dead).await;
    let lost: Vec<&String> = ids
        .iter()
        .filter(|id| !processed.contains(*id) && !dead.contains(*id) && !failed.contains(*id))
        .collect();

    let (warm_rss, warm_fds) = curve[curve.len() / 5].1;
    let max_rss = curve.iter().map(|(_, (r, _))| *r).max().unwrap_or(0);
    let (_, last_fds) = curve.last().unwrap().1;
    let line = format!(
        "soak: {total} invocations of one process, {} records, {faults} invocations with a DLQ fault; processed {}, dead-lettered {}, reported failed {}; lost {}; RSS after warm-up {} KiB, max {} KiB; fds {warm_fds} -> {last_fds}; curve (invocation: KiB/fds) {}",
        ids.len(),
        processed.len(),
        dead.len(),
        failed.len(),
        lost.len(),
        warm_rss,
        max_rss,
        curve
            .iter()
            .map(|(n, (r, f))| format!("{n}:{r}/{f}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{line}");
    append_to_fault_report(&line);
    assert!(lost.is_empty(), "{line}\nlost: {lost:?}");
    assert!(
        max_rss <= warm_rss + 16 * 1024,
        "resident memory grew by more than 16 MiB after warm-up: {line}"
    );
    assert!(last_fds <= warm_fds + 8, "file descriptors leak: {line}");
}

/// Reads and deletes every dead letter in the DLQ, adding their order ids.
async fn drain_dlq(sqs: &aws_sdk_sqs::Client, dlq: &str, dead: &mut BTreeSet<String>) {
    loop {
        let r = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if r.messages().is_empty() {
            return;
        }
        for m in r.messages() {
            if let Ok(Parsed::Letters(letters)) = from_message_body(m.body().unwrap_or_default()) {
                for l in letters {
                    if let StoredValue::Inline(v) = l.value {
                        dead.extend(order_id(v.as_deref()));
                    }
                }
            }
            sqs.delete_message()
                .queue_url(dlq)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}
