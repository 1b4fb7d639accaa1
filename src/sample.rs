//! Synthetic Kafka events for tests and benchmarks, shaped like Lambda's.

use std::fmt::Write as _;

use crate::event::encode_b64;

/// An MSK event with `records` records spread round-robin over `partitions`
/// partitions of `topic`, each value a JSON order padded to `value_bytes`.
/// 10,000 records of 300 bytes make an event of about 6 MB (base64 and JSON add about 100%).
pub fn synthetic_event(
    topic: &str,
    records: usize,
    partitions: usize,
    value_bytes: usize,
) -> String {
    let partitions = partitions.max(1);
    let mut per_partition: Vec<String> = vec![String::new(); partitions];
    for i in 0..records {
        let p = i % partitions;
        let offset = i / partitions;
        let mut value = format!(r#"{{"order_id":"o-{i}","amount":{}.5,"pad":""#, i % 1000);
        let pad = value_bytes.saturating_sub(value.len() + 2);
        value.extend(std::iter::repeat_n('x', pad));
        value.push_str("\"}");
        let entries = &mut per_partition[p];
        if !entries.is_empty() {
            entries.push(',');
        }
        let _ = write!(
            entries,
            r#"{{"topic":"{topic}","partition":{p},"offset":{offset},"timestamp":{ts},"timestampType":"CREATE_TIME","key":"{key}","value":"{value}","headers":[{{"trace-id":[116,45,{h}]}}]}}"#,
            ts = 1_700_000_000_000i64 + i as i64,
            key = encode_b64(format!("customer-{}", i % 97).as_bytes()),
            value = encode_b64(value.as_bytes()),
            h = 48 + (i % 10),
        );
    }
    let mut out = String::from(
        r#"{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/bench/1","bootstrapServers":"b-1:9092","records":{"#,
    );
    for (p, entries) in per_partition.iter().enumerate() {
        if p > 0 {
            out.push(',');
        }
        let _ = write!(out, r#""{topic}-{p}":[{entries}]"#);
    }
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_event_decodes_completely() {
        let ev = synthetic_event("orders", 10_000, 8, 300);
        assert!(ev.len() > 5_500_000 && ev.len() < 6_500_000, "{}", ev.len());
        let batch = crate::decode_event(&ev).unwrap();
        assert_eq!(batch.len(), 10_000);
        assert!(batch
            .entries()
            .all(|e| matches!(e.entry, crate::event::Entry::Record(_))));
    }
}
