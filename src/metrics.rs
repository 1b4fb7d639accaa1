//! CloudWatch Embedded Metric Format (EMF): metrics written as JSON lines to
//! the function log, turned into metrics by CloudWatch with no API call on
//! the hot path.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::consumer::{BatchReport, FailReason, MetricsSettings, Outcome};
use crate::letter::DlqKind;

/// A metric's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// A count.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// EMF's limit of values per metric in one document.
pub const MAX_VALUES: usize = 100;

/// One EMF document: a set of dimensions and metric values.
#[derive(Debug, Clone, Default)]
pub struct MetricSet {
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, Unit, Vec<f64>)>,
}

impl MetricSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a dimension.
    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a count.
    pub fn count(&mut self, name: &str, n: u64) -> &mut Self {
        self.metrics
            .push((name.to_owned(), Unit::Count, vec![n as f64]));
        self
    }

    /// Adds millisecond values (none: nothing added).
    pub fn millis(&mut self, name: &str, values: Vec<f64>) -> &mut Self {
        if !values.is_empty() {
            self.metrics
                .push((name.to_owned(), Unit::Milliseconds, values));
        }
        self
    }

    /// Adds a value in seconds.
    pub fn seconds(&mut self, name: &str, value: f64) -> &mut Self {
        self.metrics
            .push((name.to_owned(), Unit::Seconds, vec![value]));
        self
    }

    /// Whether no metric was added.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The EMF JSON line.
    pub fn render(&self, namespace: &str, timestamp_ms: i64) -> String {
        let mut root = Map::new();
        let dims: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let defs: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [dims],
                    "Metrics": defs,
                }]
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for (name, _, values) in &self.metrics {
            let v = match values.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            root.insert(name.clone(), v);
        }
        Value::Object(root).to_string()
    }
}

/// Metric name of a dead-letter kind, e.g. `DeadLetteredRetriesExhausted`.
pub fn dead_lettered_metric(kind: DlqKind) -> &'static str {
    match kind {
        DlqKind::Permanent => "DeadLetteredPermanent",
        DlqKind::Malformed => "DeadLetteredMalformed",
        DlqKind::RetriesExhausted => "DeadLetteredRetriesExhausted",
        DlqKind::TooOld => "DeadLetteredTooOld",
        DlqKind::Manual => "DeadLetteredManual",
    }
}

#[derive(Default)]
struct TopicCounts {
    processed: u64,
    dead_lettered: u64,
    by_kind: BTreeMap<DlqKind, u64>,
    failed: u64,
    dlq_write_failures: u64,
    retries: u64,
}

/// The EMF lines for one consumer invocation: one per topic (dimensions
/// FunctionName, Topic) and one for the function (FunctionName).
pub fn consumer_metrics(
    report: &BatchReport,
    cfg: &MetricsSettings,
    timestamp_ms: i64,
) -> Vec<String> {
    let mut topics: BTreeMap<&str, TopicCounts> = BTreeMap::new();
    for r in &report.records {
        let t = topics
            .entry(r.topic.as_deref().unwrap_or("unknown"))
            .or_default();
        t.retries += u64::from(r.attempts.saturating_sub(1));
        match r.outcome {
            Outcome::Processed => t.processed += 1,
            Outcome::DeadLettered(kind) => {
                t.dead_lettered += 1;
                *t.by_kind.entry(kind).or_default() += 1;
            }
            Outcome::Failed(reason) => {
                t.failed += 1;
                if reason == FailReason::DlqWriteFailed {
                    t.dlq_write_failures += 1;
                }
            }
        }
    }
    let mut lines = Vec::with_capacity(topics.len() + 1);
    for (topic, c) in &topics {
        let mut set = MetricSet::new()
            .dimension("FunctionName", &cfg.function_name)
            .dimension("Topic", topic);
        set.count("RecordsProcessed", c.processed)
            .count("RecordsDeadLettered", c.dead_lettered)
            .count("RecordsFailed", c.failed)
            .count("DlqWriteFailures", c.dlq_write_failures)
            .count("Retries", c.retries);
        for kind in DlqKind::ALL {
            set.count(
                dead_lettered_metric(kind),
                c.by_kind.get(&kind).copied().unwrap_or(0),
            );
        }
        lines.push(set.render(&cfg.namespace, timestamp_ms));
    }
    // EMF takes at most 100 values per metric and document: latencies go
    // out in documents of 100.
    let latencies: Vec<f64> = report
        .dlq_latencies
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    let mut chunks = latencies.chunks(MAX_VALUES);
    let mut set = MetricSet::new().dimension("FunctionName", &cfg.function_name);
    set.count("Records", report.records.len() as u64)
        .count("DlqWrites", u64::from(report.dlq_writes))
        .count("DlqWriteFailures", u64::from(report.dlq_write_failures))
        .count("BreakerOpen", u64::from(report.breaker_opened))
        .count(
            "FloodGuardHeld",
            report.count(|o| o == Outcome::Failed(FailReason::FloodGuard)) as u64,
        )
        .millis(
            "DlqWriteLatency",
            chunks.next().unwrap_or_default().to_vec(),
        );
    lines.push(set.render(&cfg.namespace, timestamp_ms));
    for chunk in chunks {
        let mut set = MetricSet::new().dimension("FunctionName", &cfg.function_name);
        set.millis("DlqWriteLatency", chunk.to_vec());
        lines.push(set.render(&cfg.namespace, timestamp_ms));
    }
    lines
}

/// The EMF line for one reprocessor invocation or replay job.
#[cfg(feature = "replay")]
pub fn reprocessor_metrics(
    s: &crate::replay::ReplaySummary,
    cfg: &MetricsSettings,
    timestamp_ms: i64,
) -> String {
    let mut set = MetricSet::new().dimension("FunctionName", &cfg.function_name);
    set.count("Replayed", s.replayed)
        .count("Parked", s.parked)
        .count("ReplayFailed", s.failed + s.unreadable)
        .count("FetchedBack", s.fetched_back)
        .count("FetchBackGone", s.fetch_back_gone)
        .count("FilteredOut", s.filtered_out)
        .count("Refused", s.refused);
    if let Some(oldest) = s.oldest_fetch_back_ms {
        // Lambda's on-failure documents name offsets that expire with the
        // topic's retention: the age says how much time is left.
        set.seconds(
            "OldestFetchBackAge",
            (timestamp_ms.saturating_sub(oldest)).max(0) as f64 / 1000.0,
        );
    }
    set.render(&cfg.namespace, timestamp_ms)
}

/// Writes EMF lines to stdout, where Lambda forwards them to CloudWatch Logs.
pub fn emit(lines: &[String]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::consumer_metrics;
    use crate::consumer::{BatchReport, FailReason, MetricsSettings, Outcome, RecordReport};
    use crate::letter::DlqKind;
    use crate::record::RecordId;

    /// Topics in runs, one met again, one under two names of the same text,
    /// and none: each topic's line counts what a count per record gives.
    #[test]
    fn a_topic_met_in_several_runs_is_counted_once_whole() {
        let (a, b, b2) = (
            Arc::<str>::from("a"),
            Arc::<str>::from("b"),
            Arc::<str>::from("b"),
        );
        let outcomes = [
            Outcome::Processed,
            Outcome::DeadLettered(DlqKind::Permanent),
            Outcome::Failed(FailReason::DlqWriteFailed),
            Outcome::Failed(FailReason::Redeliver),
        ];
        let topics = [
            Some(&a),
            Some(&a),
            Some(&b),
            Some(&a),
            None,
            Some(&b2),
            Some(&b),
            None,
        ];
        let records: Vec<RecordReport> = (0..40)
            .map(|i| RecordReport {
                id: RecordId {
                    partition_key: Arc::from("p-0"),
                    offset: Some(i),
                },
                topic: topics[(i / 3) as usize % topics.len()].cloned(),
                outcome: outcomes[(i % 7) as usize % outcomes.len()],
                attempts: (i % 3) as u32 + 1,
                error_type: None,
            })
            .collect();
        let mut expected: BTreeMap<String, [u64; 5]> = BTreeMap::new();
        for r in &records {
            let name = r.topic.as_deref().unwrap_or("unknown").to_owned();
            let e = expected.entry(name).or_default();
            e[0] += u64::from(r.outcome == Outcome::Processed);
            e[1] += u64::from(matches!(r.outcome, Outcome::DeadLettered(_)));
            e[2] += u64::from(r.outcome.is_failed());
            e[3] += u64::from(r.outcome == Outcome::Failed(FailReason::DlqWriteFailed));
            e[4] += u64::from(r.attempts - 1);
        }
        let report = BatchReport {
            records,
            ..BatchReport::default()
        };
        let lines = consumer_metrics(&report, &MetricsSettings::default(), 0);
        assert_eq!(lines.len(), expected.len() + 1);
        for (line, (topic, e)) in lines.iter().zip(&expected) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["Topic"], **topic);
            let got = [
                "RecordsProcessed",
                "RecordsDeadLettered",
                "RecordsFailed",
                "DlqWriteFailures",
                "Retries",
            ]
            .map(|m| v[m].as_f64().unwrap() as u64);
            assert_eq!(got, *e, "{topic}");
        }
    }
}
