//! Records as Lambda sends them, and the invocation event around them:
//! base64 keys and values, headers as signed Java bytes, exact integer
//! timestamps, records grouped under `<topic>-<partition>` keys.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;

use crate::settings::EventShape;

/// One consumed record, with its JSON for the event computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp, epoch ms.
    pub timestamp: Option<i64>,
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    pub timestamp_type: &'static str,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// `keySchemaMetadata`: data format and schema id.
    pub key_schema: Option<(String, String)>,
    /// `valueSchemaMetadata`: data format and schema id.
    pub value_schema: Option<(String, String)>,
    json: String,
}

/// What a [`Rec`] is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecParts {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp, epoch ms.
    pub timestamp: Option<i64>,
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    pub timestamp_type: &'static str,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// `keySchemaMetadata`: data format and schema id.
    pub key_schema: Option<(String, String)>,
    /// `valueSchemaMetadata`: data format and schema id.
    pub value_schema: Option<(String, String)>,
}

impl Rec {
    /// A record; its event JSON is built now.
    pub fn new(p: RecParts) -> Self {
        let mut r = Self {
            topic: p.topic,
            partition: p.partition,
            offset: p.offset,
            timestamp: p.timestamp,
            timestamp_type: p.timestamp_type,
            key: p.key,
            value: p.value,
            headers: p.headers,
            key_schema: p.key_schema,
            value_schema: p.value_schema,
            json: String::new(),
        };
        r.json = r.to_json();
        r
    }

    /// `<topic>-<partition>`.
    pub fn partition_key(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }

    /// The record's JSON in an event.
    pub fn json(&self) -> &str {
        &self.json
    }

    fn to_json(&self) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut s = String::with_capacity(128 + self.value.as_ref().map_or(0, |v| v.len() * 4 / 3));
        let _ = write!(
            s,
            r#"{{"topic":{},"partition":{},"offset":{}"#,
            quote(&self.topic),
            self.partition,
            self.offset
        );
        if let Some(ts) = self.timestamp {
            let _ = write!(s, r#","timestamp":{ts}"#);
        }
        let _ = write!(s, r#","timestampType":"{}""#, self.timestamp_type);
        // A null key is absent, as Lambda sends it; a tombstone's value too.
        if let Some(k) = &self.key {
            let _ = write!(s, r#","key":"{}""#, b64(k));
        }
        if let Some(v) = &self.value {
            let _ = write!(s, r#","value":"{}""#, b64(v));
        }
        for (name, meta) in [
            ("keySchemaMetadata", &self.key_schema),
            ("valueSchemaMetadata", &self.value_schema),
        ] {
            if let Some((format, id)) = meta {
                let _ = write!(
                    s,
                    r#","{name}":{{"dataFormat":{},"schemaId":{}}}"#,
                    quote(format),
                    quote(id)
                );
            }
        }
        s.push_str(r#","headers":["#);
        for (i, (name, value)) in self.headers.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let bytes: Vec<String> = value.iter().map(|&b| (b as i8).to_string()).collect();
            let _ = write!(s, "{{{}:[{}]}}", quote(name), bytes.join(","));
        }
        s.push_str("]}");
        s
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The JSON around records, without them: its size for payload accounting.
pub fn envelope_size(shape: &EventShape, bootstrap: &str) -> usize {
    event_json(shape, bootstrap, &[]).len()
}

/// The size a record adds to an event (its JSON and a separator, plus a new
/// partition key when it is the first of its partition).
pub fn record_cost(rec: &Rec, new_partition: bool) -> usize {
    rec.json().len()
        + 1
        + if new_partition {
            rec.partition_key().len() + 6
        } else {
            0
        }
}

/// The invocation event for `records` (in order).
pub fn event_json(shape: &EventShape, bootstrap: &str, records: &[&Rec]) -> String {
    let mut by_key: BTreeMap<String, Vec<&Rec>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in records {
        let k = r.partition_key();
        if !by_key.contains_key(&k) {
            order.push(k.clone());
        }
        by_key.entry(k).or_default().push(r);
    }
    let mut s =
        String::with_capacity(records.iter().map(|r| r.json().len() + 1).sum::<usize>() + 256);
    match shape {
        EventShape::Msk { arn } => {
            let _ = write!(
                s,
                r#"{{"eventSource":"aws:kafka","eventSourceArn":{},"bootstrapServers":{},"records":{{"#,
                quote(arn),
                quote(bootstrap)
            );
        }
        EventShape::SelfManaged => {
            let _ = write!(
                s,
                r#"{{"eventSource":"SelfManagedKafka","bootstrapServers":{},"records":{{"#,
                quote(bootstrap)
            );
        }
    }
    for (i, k) in order.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}:[", quote(k));
        for (j, r) in by_key[k].iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            s.push_str(r.json());
        }
        s.push(']');
    }
    s.push_str("}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_look_like_lambdas() {
        let r = Rec::new(RecParts {
            topic: "shop.orders-v1".into(),
            partition: 2,
            offset: 42,
            timestamp: Some(1_545_084_650_987),
            timestamp_type: "CREATE_TIME",
            key: None,
            value: Some(b"{}".to_vec()),
            headers: vec![("city".into(), "Zü".as_bytes().to_vec())],
            key_schema: None,
            value_schema: Some(("AVRO".into(), "7".into())),
        });
        let ev = event_json(&EventShape::SelfManaged, "b:9092", &[&r]);
        let v: serde_json::Value = serde_json::from_str(&ev).unwrap();
        let rec = &v["records"]["shop.orders-v1-2"][0];
        assert_eq!(rec["timestamp"], 1_545_084_650_987i64);
        assert!(rec.get("key").is_none(), "a null key is absent");
        assert_eq!(rec["value"], "e30=");
        assert_eq!(rec["headers"][0]["city"], serde_json::json!([90, -61, -68]));
        assert_eq!(v["eventSource"], "SelfManagedKafka");
        assert_eq!(
            rec["valueSchemaMetadata"],
            serde_json::json!({"dataFormat": "AVRO", "schemaId": "7"})
        );
        assert!(rec.get("keySchemaMetadata").is_none());
        let size = envelope_size(&EventShape::SelfManaged, "b:9092") + record_cost(&r, true);
        assert!(size >= ev.len(), "{size} < {}", ev.len());
    }
}
