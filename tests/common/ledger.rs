//! Accounting for the fault matrix and the soak: orders with a planned
//! behaviour produced to a real topic, and where each one ended: processed
//! (the demo handler's own ledger), dead-lettered (read back from the DLQ),
//! or named by Lambda's on-failure documents. Lost = produced minus all
//! three; duplicates are counted by kind.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};

use super::stack;

/// What the demo handler is asked to do with an order (`simulate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Plan {
    Ok,
    Transient,
    Flaky,
    Outage,
    Manual,
    Invalid,
    Panic,
    Crash,
    Slow(u64),
    Hang,
    Spin(u64),
    Block(u64),
    /// Fails for good until the fix is deployed (a bad deploy).
    NeedsFix,
    /// Fails for good; its value is about this many bytes.
    BigInvalid(usize),
}

impl Plan {
    fn value(self, id: &str) -> Vec<u8> {
        let mut v = json!({"order_id": id, "amount": 10.5});
        let (simulate, ms) = match self {
            Plan::Ok => (None, None),
            Plan::Transient => (Some("transient"), None),
            Plan::Flaky => (Some("flaky"), None),
            Plan::Outage => (Some("outage"), None),
            Plan::Manual => (Some("dlq"), None),
            Plan::Invalid => {
                v["amount"] = json!(-1);
                (None, None)
            }
            Plan::Panic => (Some("panic"), None),
            Plan::Crash => (Some("crash"), None),
            Plan::Slow(ms) => (Some("slow"), Some(ms)),
            Plan::Hang => (Some("hang"), None),
            Plan::Spin(ms) => (Some("spin"), Some(ms)),
            Plan::Block(ms) => (Some("block"), Some(ms)),
            Plan::NeedsFix => (Some("needs-fix"), None),
            Plan::BigInvalid(n) => {
                v["amount"] = json!(-1);
                v["padding"] = json!("x".repeat(n));
                (None, None)
            }
        };
        if let Some(s) = simulate {
            v["simulate"] = json!(s);
        }
        if let Some(ms) = ms {
            v["ms"] = json!(ms);
        }
        serde_json::to_vec(&v).unwrap()
    }

    /// Whether a correct consumer may dead-letter it: only records that
    /// fail for good or are given up on. A healthy record in the DLQ is a
    /// wrong outcome (a deadline taken for a failure, say).
    pub fn may_dead_letter(self) -> bool {
        matches!(
            self,
            Plan::Transient
                | Plan::Manual
                | Plan::Invalid
                | Plan::Panic
                | Plan::NeedsFix
                | Plan::BigInvalid(_)
        )
    }
}

/// Draws plans by weight.
pub fn draw(rng: &mut fastrand::Rng, mix: &[(Plan, u32)]) -> Plan {
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    let mut pick = rng.u32(0..total);
    for (p, w) in mix {
        if pick < *w {
            return *p;
        }
        pick -= w;
    }
    mix[0].0
}

/// Orders on a topic: id → (partition, offset, plan).
#[derive(Debug, Default)]
pub struct Produced {
    pub orders: BTreeMap<String, (i32, i64, Plan)>,
}

impl Produced {
    /// Ids whose (partition, offset) lies in the range.
    pub fn in_range(&self, partition: i32, first: i64, last: i64) -> Vec<String> {
        self.orders
            .iter()
            .filter(|(_, (p, o, _))| *p == partition && (first..=last).contains(o))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Produces `plans` round-robin over `partitions`, waiting for each
/// delivery; ids are `<prefix>-<n>`.
pub async fn produce_orders(
    topic: &str,
    partitions: i32,
    prefix: &str,
    plans: &[Plan],
) -> Produced {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", stack::kafka())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        // One record per batch: tansu cannot fetch from inside a batch.
        .set("batch.num.messages", "1")
        .set("message.max.bytes", "10000000")
        .create()
        .unwrap();
    let mut out = Produced::default();
    for (chunk_no, chunk) in plans.chunks(500).enumerate() {
        let sends = chunk.iter().enumerate().map(|(i, plan)| {
            let n = chunk_no * 500 + i;
            let id = format!("{prefix}-{n}");
            let value = plan.value(&id);
            let partition = (n as i32) % partitions;
            let producer = &producer;
            async move {
                let key = id.clone();
                let r = FutureRecord::to(topic)
                    .partition(partition)
                    .key(key.as_bytes())
                    .payload(&value);
                let d = producer.send(r, Duration::from_secs(30)).await.unwrap();
                (id, (d.partition, d.offset, *plan))
            }
        });
        out.orders.extend(futures::future::join_all(sends).await);
    }
    out
}

/// A scratch directory for the demo handler's ledger and fix flag.
pub struct Workdir(pub PathBuf);

impl Workdir {
    pub fn new() -> Self {
        let d = std::env::temp_dir().join(stack::unique("faults"));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
    pub fn ledger(&self) -> PathBuf {
        self.0.join("ledger")
    }
    pub fn fix_flag(&self) -> PathBuf {
        self.0.join("fixed")
    }
    pub fn deploy_fix(&self) {
        std::fs::write(self.fix_flag(), b"").unwrap();
    }
    /// Every order id the handler processed, once per time.
    pub fn processed(&self) -> Vec<String> {
        std::fs::read_to_string(self.ledger())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').next().map(str::to_owned))
            .collect()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The order id in a record value, if it is one of ours.
pub fn order_id(value: Option<&[u8]>) -> Option<String> {
    let v: Value = serde_json::from_slice(value?).ok()?;
    v.get("order_id")?.as_str().map(str::to_owned)
}

/// Where every order ended.
#[derive(Debug, Default)]
pub struct Account {
    pub scenario: String,
    pub produced: BTreeMap<String, Plan>,
    pub processed: BTreeMap<String, u32>,
    pub dead_lettered: BTreeMap<String, u32>,
    pub on_failure: BTreeSet<String>,
    /// Invocations, faults injected, ... for the report.
    pub notes: Vec<(String, u64)>,
}

/// The figures of one scenario.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub lost: Vec<String>,
    pub wrongly_dead_lettered: Vec<String>,
    pub processed_twice: usize,
    pub dead_lettered_twice: usize,
    pub processed_and_dead_lettered: usize,
}

impl Account {
    pub fn new(scenario: &str, produced: &Produced) -> Self {
        Self {
            scenario: scenario.to_owned(),
            produced: produced
                .orders
                .iter()
                .map(|(id, (_, _, p))| (id.clone(), *p))
                .collect(),
            ..Self::default()
        }
    }

    pub fn processed(&mut self, ids: impl IntoIterator<Item = String>) {
        self.processed.clear();
        for id in ids {
            *self.processed.entry(id).or_default() += 1;
        }
    }

    /// Adds dead letters read (and removed) from the DLQ.
    pub fn dead_lettered(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            *self.dead_lettered.entry(id).or_default() += 1;
        }
    }

    pub fn note(&mut self, what: &str, n: u64) {
        self.notes.push((what.to_owned(), n));
    }

    pub fn figures(&self) -> Figures {
        let mut f = Figures::default();
        for (id, plan) in &self.produced {
            let p = self.processed.get(id).copied().unwrap_or(0);
            let d = self.dead_lettered.get(id).copied().unwrap_or(0);
            if p == 0 && d == 0 && !self.on_failure.contains(id) {
                f.lost.push(id.clone());
            }
            if d > 0 && !plan.may_dead_letter() {
                f.wrongly_dead_lettered.push(format!("{id} ({plan:?})"));
            }
            f.processed_twice += usize::from(p > 1);
            f.dead_lettered_twice += usize::from(d > 1);
            f.processed_and_dead_lettered += usize::from(p > 0 && d > 0);
        }
        f
    }

    /// One report line; appended to `$MSK_DLQ_FAULT_REPORT` when set.
    pub fn report(&self, f: &Figures) -> String {
        let mut line = format!(
            "{}: {} records; processed {}, dead-lettered {}, on-failure {}; lost {}; duplicates: processed twice {}, dead-lettered twice {}, both {}",
            self.scenario,
            self.produced.len(),
            self.processed.len(),
            self.dead_lettered.len(),
            self.on_failure.len(),
            f.lost.len(),
            f.processed_twice,
            f.dead_lettered_twice,
            f.processed_and_dead_lettered,
        );
        for (what, n) in &self.notes {
            let _ = write!(line, "; {what} {n}");
        }
        append_to_fault_report(&line);
        line
    }

    /// Asserts nothing was lost and no healthy record was dead-lettered;
    /// returns the figures for scenario-specific checks.
    pub fn check(&self) -> Figures {
        let f = self.figures();
        let line = self.report(&f);
        println!("{line}");
        assert!(f.lost.is_empty(), "{line}\nlost: {:?}", f.lost);
        assert!(
            f.wrongly_dead_lettered.is_empty(),
            "{line}\nhealthy records dead-lettered: {:?}",
            f.wrongly_dead_lettered
        );
        f
    }

    /// Asserts every record produced to fail for good reached the DLQ.
    pub fn assert_every_poison_dead_lettered(&self) {
        let poison = self
            .produced
            .values()
            .filter(|p| p.may_dead_letter())
            .count();
        assert_eq!(
            self.dead_lettered.len(),
            poison,
            "every poison record dead-lettered"
        );
    }
}

/// Appends a figures line to the report `make test` prints at the end
/// (`MSK_DLQ_FAULT_REPORT`), when one is asked for.
pub fn append_to_fault_report(line: &str) {
    if let Ok(path) = std::env::var("MSK_DLQ_FAULT_REPORT") {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}
