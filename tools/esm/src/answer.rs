//! What the function's answer means for the batch.

use std::collections::BTreeSet;

use lambda_emulator::Reply;
use serde_json::Value;

use crate::settings::IdentifierKey;

/// The answer, as the event source mapping reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Empty or null `batchItemFailures` (or no partial responses at all):
    /// the batch is done.
    Success,
    /// These records (partition key, offset) failed; the rest succeeded.
    Partial(BTreeSet<(String, i64)>),
    /// The whole batch failed: a function error, a crash, a time-out, an
    /// answer that names a record not in the event, or one that cannot be
    /// read.
    BatchFailed(String),
}

/// Reads `reply` to a batch whose records are `in_batch`.
/// `warnings` receives what a user should know (the other identifier key).
pub fn read(
    reply: &Reply,
    report_failures: bool,
    expected_key: IdentifierKey,
    in_batch: &BTreeSet<(String, i64)>,
    warnings: &mut Vec<String>,
) -> Answer {
    let body = match reply {
        Reply::Response(body) => body,
        Reply::Error {
            error_type,
            message,
        } => return Answer::BatchFailed(format!("function error {error_type}: {message}")),
        Reply::InitError(e) => return Answer::BatchFailed(format!("init error: {e}")),
        Reply::Exited(e) => {
            // The emulator appends the process's stderr; the status is enough here.
            let status = e.split("; stderr:").next().unwrap_or(e);
            return Answer::BatchFailed(format!("function process exited: {status}"));
        }
        Reply::TimedOut => return Answer::BatchFailed("function timed out".to_owned()),
    };
    if !report_failures {
        // Without ReportBatchItemFailures any answer is success.
        return Answer::Success;
    }
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Answer::BatchFailed(format!("answer is not JSON: {e}")),
    };
    let failures = match v.get("batchItemFailures") {
        None | Some(Value::Null) => return Answer::Success,
        Some(Value::Array(a)) if a.is_empty() => return Answer::Success,
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Answer::BatchFailed(format!("batchItemFailures is not a list: {other}"))
        }
    };
    let mut failed = BTreeSet::new();
    for f in failures {
        let id = &f["itemIdentifier"];
        let (partition, key) = match (id.get("partition"), id.get("topic-partition")) {
            (Some(p), _) => (p, IdentifierKey::Partition),
            (None, Some(p)) => (p, IdentifierKey::TopicPartition),
            (None, None) => {
                return Answer::BatchFailed(format!("item identifier without a partition: {id}"))
            }
        };
        if key != expected_key {
            let w = format!(
                "the function names partitions with \"{}\", not \"{}\"; Lambda's own documentation is inconsistent about the key",
                key.as_str(),
                expected_key.as_str()
            );
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        let offset = id["offset"]
            .as_i64()
            .or_else(|| id["offset"].as_str().and_then(|s| s.parse().ok()));
        let (Some(partition), Some(offset)) = (partition.as_str(), offset) else {
            return Answer::BatchFailed(format!(
                "item identifier is not a partition and an offset: {id}"
            ));
        };
        let item = (partition.to_owned(), offset);
        if !in_batch.contains(&item) {
            // AWS: an identifier that is not in the event fails the batch.
            return Answer::BatchFailed(format!(
                "the answer names {partition}@{offset}, which is not in the batch"
            ));
        }
        failed.insert(item);
    }
    Answer::Partial(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> BTreeSet<(String, i64)> {
        [("t-0".to_owned(), 1), ("t-0".to_owned(), 2)]
            .into_iter()
            .collect()
    }

    fn ok(body: &str) -> Reply {
        Reply::Response(body.to_owned())
    }

    #[test]
    fn answers_are_read_as_lambda_does() {
        let mut w = Vec::new();
        let k = IdentifierKey::Partition;
        for empty in [
            r#"{"batchItemFailures":[]}"#,
            r#"{"batchItemFailures":null}"#,
            "{}",
            "null",
        ] {
            assert_eq!(
                read(&ok(empty), true, k, &batch(), &mut w),
                Answer::Success,
                "{empty}"
            );
        }
        let partial = read(
            &ok(r#"{"batchItemFailures":[{"itemIdentifier":{"partition":"t-0","offset":2}}]}"#),
            true,
            k,
            &batch(),
            &mut w,
        );
        assert_eq!(
            partial,
            Answer::Partial([("t-0".to_owned(), 2)].into_iter().collect())
        );
        assert!(w.is_empty());
        let other_key = read(
            &ok(
                r#"{"batchItemFailures":[{"itemIdentifier":{"topic-partition":"t-0","offset":"1"}}]}"#,
            ),
            true,
            k,
            &batch(),
            &mut w,
        );
        assert!(matches!(other_key, Answer::Partial(_)));
        assert_eq!(w.len(), 1, "the other key is accepted with a warning");
        assert!(matches!(
            read(
                &ok(r#"{"batchItemFailures":[{"itemIdentifier":{"partition":"t-9","offset":2}}]}"#),
                true,
                k,
                &batch(),
                &mut w
            ),
            Answer::BatchFailed(_)
        ));
        assert!(matches!(
            read(&Reply::TimedOut, true, k, &batch(), &mut w),
            Answer::BatchFailed(_)
        ));
        assert_eq!(
            read(&ok("whatever"), false, k, &batch(), &mut w),
            Answer::Success
        );
    }
}
