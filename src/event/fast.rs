//! The common case in one pass: an event whose records all have Lambda's
//! shape. Strings are borrowed from the input; headers, and keys and values
//! that cannot stay where they are, are written into one buffer the batch's
//! records share. Given the invocation body, canonical base64 keys and
//! values are only checked: the first one a handler reads decodes them all
//! from the body. Anything else (a record that is not well formed, a field of the
//! wrong type, an event that is not a Kafka event) gives `None`, and the
//! exact decoder, which keeps a bad record's JSON as received, decodes the
//! event instead. Both give the same batch for well-formed events (tested
//! against each other).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::assembly::Assembly;
use super::headers::HeadersSeed;
use super::shape::Text;
use super::Batch;
use crate::codec::decode_b64_append;
use crate::record::{
    shared_topic, timestamp_type as timestamp_type_of, Payload, RecordParts, SchemaMetadata,
    StoreBuilder,
};

/// The batch, when every record of `json` decodes in the common case.
/// `body`, when given, holds `json`: base64 texts borrowed from it are left
/// there.
pub(super) fn decode(json: &str, body: Option<&Bytes>) -> Option<Batch> {
    let mut state = State::new(json.len(), body);
    let mut de = serde_json::Deserializer::from_str(json);
    let header = EventSeed(&mut state).deserialize(&mut de).ok()?;
    de.end().ok()?;
    finish(header, state, body)
}

/// A batch being read: its records, their partitions, and the buffer of
/// what was decoded.
pub(super) struct State {
    pub(super) out: Out,
    // Records are stored as they are read; `finish` gives the store its
    // frozen buffers and the partitions their records.
    pub(super) records: StoreBuilder,
    pub(super) partitions: Vec<Partition>,
}

impl State {
    /// An empty batch for an event of `len` bytes, held in `body` when that
    /// is given.
    pub(super) fn new(len: usize, body: Option<&Bytes>) -> Self {
        // Decoded keys and values are 3/4 of their text and headers about
        // as long as theirs: a buffer the size of the event hardly ever
        // grows, and the pages the records leave empty are never touched.
        State {
            out: Out {
                // Left in the body, keys and values need no room here.
                buf: Vec::with_capacity(if body.is_some() { 0 } else { len }),
                body: body.map(|b| BodyRange {
                    start: b.as_ptr() as usize,
                    len: b.len(),
                }),
            },
            records: StoreBuilder::default(),
            partitions: Vec::new(),
        }
    }

    /// The index of the partition `key`, added if new: a key met again
    /// continues its partition, as in the exact decoder.
    pub(super) fn partition(&mut self, key: &str) -> usize {
        match self.partitions.iter().position(|p| *p.key == *key) {
            Some(i) => i,
            None => {
                self.partitions.push(Partition {
                    key: Arc::from(key),
                    records: Vec::new(),
                });
                self.partitions.len() - 1
            }
        }
    }
}

/// A partition key and the store indexes of its records, in order.
pub(super) struct Partition {
    pub(super) key: Arc<str>,
    pub(super) records: Vec<usize>,
}

/// Where decoded bytes go, and the body base64 texts may stay in.
pub(super) struct Out {
    pub(super) buf: Vec<u8>,
    body: Option<BodyRange>,
}

/// The body's place in memory: a text borrowed from it is found by its
/// address (no pointer is dereferenced).
#[derive(Clone, Copy)]
struct BodyRange {
    start: usize,
    len: usize,
}

impl BodyRange {
    /// Where `text` lies in the body, if it does.
    fn of(self, text: &str) -> Option<Range<usize>> {
        let start = (text.as_ptr() as usize).checked_sub(self.start)?;
        let end = start.checked_add(text.len())?;
        (end <= self.len).then_some(start..end)
    }
}

/// What the event says besides its records.
#[derive(Default)]
pub(super) struct Header {
    pub(super) event_source: Option<String>,
    pub(super) event_source_arn: Option<String>,
    pub(super) bootstrap_servers: Option<String>,
    pub(super) records: bool,
}

/// The batch of a fully read event.
pub(super) fn finish(header: Header, state: State, body: Option<&Bytes>) -> Option<Batch> {
    let mut assembly = Assembly::default();
    assembly.add(state, body, None)?;
    assembly.batch(header)
}

/// The event object, its records read into the state.
struct EventSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Header;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Header, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kafka event object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Header, M::Error> {
        let mut header = Header::default();
        while let Some(Text(key)) = m.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "eventSource" => header.event_source = m.next_value()?,
                "eventSourceArn" => header.event_source_arn = m.next_value()?,
                "bootstrapServers" => header.bootstrap_servers = m.next_value()?,
                // A second `records` object: the exact decoder's business.
                "records" if header.records => return Err(M::Error::custom("")),
                "records" => {
                    m.next_value_seed(RecordsSeed(&mut *self.0))?;
                    header.records = true;
                }
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(header)
    }
}

/// The `records` object: `<topic>-<partition>` keys and their lists.
struct RecordsSeed<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of <topic>-<partition> keys")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<(), M::Error> {
        let state = self.0;
        while let Some(Text(key)) = m.next_key::<Text<'de>>()? {
            let index = state.partition(&key);
            m.next_value_seed(PartitionSeed {
                out: &mut state.out,
                store: &mut state.records,
                records: &mut state.partitions[index].records,
            })?;
        }
        Ok(())
    }
}

/// One partition's list of records.
struct PartitionSeed<'s> {
    out: &'s mut Out,
    store: &'s mut StoreBuilder,
    records: &'s mut Vec<usize>,
}

impl<'de> DeserializeSeed<'de> for PartitionSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PartitionSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<(), S::Error> {
        // The records of a partition share one topic name.
        let mut topic: Option<Arc<str>> = None;
        // Each record goes straight into the store: a record is a few
        // hundred bytes, and handing it back through the parser would copy
        // it once more.
        while let Some(index) = s.next_element_seed(RecordSeed {
            out: &mut *self.out,
            store: &mut *self.store,
            topic: &mut topic,
        })? {
            self.records.push(index);
        }
        Ok(())
    }
}

/// One record, in Lambda's shape or not at all.
struct RecordSeed<'s> {
    out: &'s mut Out,
    store: &'s mut StoreBuilder,
    topic: &'s mut Option<Arc<str>>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = usize;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_map(self)
    }
}

/// Sets a field met for the first time; a repeated field is not Lambda's
/// shape (the exact decoder calls the record malformed).
fn once<T, E: serde::de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    match slot {
        Some(_) => Err(E::custom("")),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kafka record object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<usize, M::Error> {
        let out = self.out;
        let mut topic: Option<Cow<'de, str>> = None;
        let mut partition: Option<i32> = None;
        let mut offset: Option<i64> = None;
        let mut timestamp: Option<Option<i64>> = None;
        let mut timestamp_type: Option<Option<Text<'de>>> = None;
        let mut key: Option<Option<Payload>> = None;
        let mut value: Option<Option<Payload>> = None;
        let mut headers: Option<Range<usize>> = None;
        let mut key_schema: Option<Option<SchemaMetadata>> = None;
        let mut value_schema: Option<Option<SchemaMetadata>> = None;
        while let Some(Text(field)) = m.next_key::<Text<'de>>()? {
            match field.as_ref() {
                "topic" => once(&mut topic, m.next_value::<Text<'de>>()?.0)?,
                "partition" => once(&mut partition, m.next_value()?)?,
                "offset" => once(&mut offset, m.next_value()?)?,
                "timestamp" => once(&mut timestamp, m.next_value()?)?,
                "timestampType" => once(&mut timestamp_type, m.next_value()?)?,
                "key" => once(&mut key, base64_field(&mut m, out, self.store)?)?,
                "value" => once(&mut value, base64_field(&mut m, out, self.store)?)?,
                "headers" => once(
                    &mut headers,
                    m.next_value_seed(OptionalHeaders { out: &mut out.buf })?,
                )?,
                "keySchemaMetadata" => once(&mut key_schema, m.next_value()?)?,
                "valueSchemaMetadata" => once(&mut value_schema, m.next_value()?)?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        let (Some(topic), Some(partition), Some(offset)) = (topic, partition, offset) else {
            return Err(M::Error::custom(""));
        };
        if partition < 0 || offset < 0 {
            return Err(M::Error::custom(""));
        }
        Ok(self.store.push(RecordParts {
            topic: shared_topic(self.topic, &topic),
            partition,
            offset,
            timestamp: timestamp.flatten(),
            timestamp_type: timestamp_type.flatten().map(|Text(t)| timestamp_type_of(t)),
            key: key.flatten(),
            value: value.flatten(),
            headers: headers.unwrap_or(0..0),
            key_schema: key_schema.flatten().map(Box::new),
            value_schema: value_schema.flatten().map(Box::new),
        }))
    }
}

/// A base64 key or value (or null): left in the body when it is canonical
/// base64 borrowed from it, otherwise decoded into the buffer.
fn base64_field<'de, M: MapAccess<'de>>(
    m: &mut M,
    out: &mut Out,
    store: &mut StoreBuilder,
) -> Result<Option<Payload>, M::Error> {
    let Some(Text(text)) = m.next_value::<Option<Text<'de>>>()? else {
        return Ok(None);
    };
    // A text with escapes (`\/`) is a copy, not the body's.
    if let (Cow::Borrowed(t), Some(body)) = (&text, out.body) {
        if let Some(payload) = body
            .of(t)
            .and_then(|at| left_in_body(store, t.as_bytes(), at))
        {
            return Ok(Some(payload));
        }
    }
    decode_b64_append("", &text, &mut out.buf)
        .map(|r| Some(Payload::Decoded(r)))
        .map_err(|_| M::Error::custom(""))
}

/// `text`, found at `at` in the body, left there when it is canonical
/// base64: checked, not decoded.
pub(super) fn left_in_body(
    store: &mut StoreBuilder,
    text: &[u8],
    at: Range<usize>,
) -> Option<Payload> {
    let b64 = base64_simd::STANDARD;
    b64.check(text).ok()?;
    let len = b64.decoded_length(text).ok()?;
    Some(store.base64(at, len))
}

/// `headers`, or null for none.
struct OptionalHeaders<'o> {
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for OptionalHeaders<'_> {
    type Value = Range<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Range<usize>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptionalHeaders<'_> {
    type Value = Range<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of headers or null")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Range<usize>, E> {
        Ok(0..0)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Range<usize>, D::Error> {
        HeadersSeed { out: self.out }.deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::wire::decode_exact;
    use crate::codec::encode_b64;

    /// One way a record can leave Lambda's shape (or not).
    #[derive(Debug, Clone, Copy)]
    enum Fault {
        None,
        BadBase64,
        NegativeOffset,
        MissingTopic,
        DuplicateField,
        OffsetAsFloat,
        OffsetAsString,
        HeaderByteOutOfRange,
        HeadersNotAList,
        NotAnObject,
        AnArray,
        BadMetadata,
    }

    fn fault() -> impl Strategy<Value = Fault> {
        prop_oneof![
            8 => Just(Fault::None),
            1 => prop::sample::select(vec![
                Fault::BadBase64,
                Fault::NegativeOffset,
                Fault::MissingTopic,
                Fault::DuplicateField,
                Fault::OffsetAsFloat,
                Fault::OffsetAsString,
                Fault::HeaderByteOutOfRange,
                Fault::HeadersNotAList,
                Fault::NotAnObject,
                Fault::AnArray,
                Fault::BadMetadata,
            ]),
        ]
    }

    #[derive(Debug, Clone)]
    struct Spec {
        partition: usize,
        key: Option<Vec<u8>>,
        value: Option<Option<Vec<u8>>>,
        headers: Option<Vec<(String, Vec<i16>)>>,
        timestamp: Option<Option<i64>>,
        timestamp_type: Option<String>,
        metadata: bool,
        escaped: bool,
        extra: bool,
        fault: Fault,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            0..3usize,
            prop::option::of(prop::collection::vec(any::<u8>(), 0..12)),
            prop::option::of(prop::option::of(prop::collection::vec(any::<u8>(), 0..40))),
            prop::option::of(prop::collection::vec(
                (
                    "[a-z\\\\\"é-]{0,6}",
                    prop::collection::vec(-128i16..=255, 0..6),
                ),
                0..3,
            )),
            prop::option::of(prop::option::of(-2i64..2_000_000_000_000)),
            prop::sample::select(vec!["", "CREATE_TIME", "LOG_APPEND_TIME", "OTHER"]),
            (any::<bool>(), any::<bool>(), any::<bool>(), fault()),
        )
            .prop_map(
                |(
                    partition,
                    key,
                    value,
                    headers,
                    timestamp,
                    tt,
                    (metadata, escaped, extra, fault),
                )| Spec {
                    partition,
                    key,
                    value,
                    headers,
                    timestamp,
                    timestamp_type: (!tt.is_empty()).then(|| tt.to_owned()),
                    metadata,
                    escaped,
                    extra,
                    fault,
                },
            )
    }

    fn b64(bytes: &[u8], escaped: bool) -> String {
        let text = encode_b64(bytes);
        // Some JSON writers escape `/`.
        if escaped {
            text.replace('/', "\\/")
        } else {
            text
        }
    }

    fn record_json(s: &Spec, offset: usize) -> String {
        use Fault as F;
        match s.fault {
            F::NotAnObject => return "42".to_owned(),
            F::AnArray => return format!("[\"t\",{},{offset}]", s.partition),
            _ => {}
        }
        let mut fields = Vec::new();
        if !matches!(s.fault, F::MissingTopic) {
            fields.push(format!(
                "\"topic\":\"{}\"",
                if s.escaped { "t\\u002d1" } else { "t-1" }
            ));
        }
        fields.push(format!("\"partition\":{}", s.partition));
        fields.push(match s.fault {
            F::NegativeOffset => "\"offset\":-1".to_owned(),
            F::OffsetAsFloat => format!("\"offset\":{offset}.5"),
            F::OffsetAsString => format!("\"offset\":\"{offset}\""),
            _ => format!("\"offset\":{offset}"),
        });
        if matches!(s.fault, F::DuplicateField) {
            fields.push("\"partition\":1".to_owned());
        }
        match s.timestamp {
            Some(Some(ts)) => fields.push(format!("\"timestamp\":{ts}")),
            Some(None) => fields.push("\"timestamp\":null".to_owned()),
            None => {}
        }
        if let Some(tt) = &s.timestamp_type {
            fields.push(format!("\"timestampType\":\"{tt}\""));
        }
        if let Some(k) = &s.key {
            fields.push(format!("\"key\":\"{}\"", b64(k, s.escaped)));
        }
        match &s.value {
            _ if matches!(s.fault, F::BadBase64) => {
                fields.push("\"value\":\"*not base64*\"".to_owned())
            }
            Some(Some(v)) => fields.push(format!("\"value\":\"{}\"", b64(v, s.escaped))),
            Some(None) => fields.push("\"value\":null".to_owned()),
            None => {}
        }
        match &s.headers {
            _ if matches!(s.fault, F::HeadersNotAList) => fields.push("\"headers\":{}".to_owned()),
            list if list.is_some() || matches!(s.fault, F::HeaderByteOutOfRange) => {
                let mut items: Vec<String> = list
                    .iter()
                    .flatten()
                    .map(|(name, bytes)| {
                        let bytes: Vec<String> = bytes.iter().map(i16::to_string).collect();
                        format!(
                            "{{{}:[{}]}}",
                            serde_json::to_string(name).unwrap(),
                            bytes.join(",")
                        )
                    })
                    .collect();
                if matches!(s.fault, F::HeaderByteOutOfRange) {
                    items.push("{\"x\":[1,256]}".to_owned());
                }
                fields.push(format!("\"headers\":[{}]", items.join(",")));
            }
            _ => {}
        }
        if s.metadata {
            fields.push(
                "\"valueSchemaMetadata\":{\"dataFormat\":\"AVRO\",\"schemaId\":\"1\"}".to_owned(),
            );
        }
        if matches!(s.fault, F::BadMetadata) {
            fields.push("\"keySchemaMetadata\":{\"schemaId\":7}".to_owned());
        }
        if s.extra {
            fields.push("\"extra\":{\"nested\":[1,{\"a\":null}]}".to_owned());
        }
        format!("{{{}}}", fields.join(","))
    }

    fn event_json(specs: &[Spec]) -> String {
        let mut lists: Vec<Vec<String>> = vec![Vec::new(); 3];
        for (i, s) in specs.iter().enumerate() {
            lists[s.partition].push(record_json(s, i));
        }
        let records: Vec<String> = lists
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(p, l)| format!("\"t-1-{p}\":[{}]", l.join(",")))
            .collect();
        format!(
            "{{\"eventSource\":\"aws:kafka\",\"eventSourceArn\":\"arn:x\",\"records\":{{{}}}}}",
            records.join(",")
        )
    }

    proptest! {
        /// Whatever the fast decoder accepts, it decodes as the exact one
        /// does; it accepts every event without a fault; an event with one
        /// is left to the exact decoder, which keeps the bad record.
        #[test]
        fn agrees_with_the_exact_decoder(specs in prop::collection::vec(spec(), 0..12)) {
            let json = event_json(&specs);
            let exact = decode_exact(&json).expect("a Kafka event");
            let faults = specs.iter().filter(|s| !matches!(s.fault, Fault::None)).count();
            let malformed = exact
                .entries()
                .filter(|e| matches!(e.entry, super::super::Entry::Malformed(_)))
                .count();
            prop_assert_eq!(malformed, faults, "{}", json);
            // Decoded eagerly, and with keys and values left in the body.
            let body = bytes::Bytes::from(json.clone());
            let in_body = std::str::from_utf8(&body).expect("UTF-8");
            for decoded in [super::decode(&json, None), super::decode(in_body, Some(&body))] {
                match decoded {
                    Some(fast) => {
                        prop_assert_eq!(faults, 0, "{}", json);
                        prop_assert_eq!(&fast, &exact);
                    }
                    None => prop_assert!(faults > 0, "a well-formed event left the fast path: {}", json),
                }
            }
            // The reader of Lambda's form takes every event without a fault,
            // escapes, unknown fields or schema metadata, with or without
            // whitespace, and decodes it as the exact decoder does.
            let plain = faults == 0
                && specs.iter().all(|s| {
                    !s.escaped
                        && !s.extra
                        && !s.metadata
                        && s.headers.iter().flatten().all(|(n, _)| !n.contains(['\\', '"']))
                });
            let spaced = json.replace(',', " ,\n").replace("\":", "\" :\t");
            for text in [json.clone(), spaced] {
                let exact = decode_exact(&text).expect("a Kafka event");
                match super::super::scan::decode(&bytes::Bytes::from(text.clone()), None) {
                    Some(scanned) => prop_assert_eq!(&scanned, &exact),
                    None => prop_assert!(!plain, "a plain event left the reader: {}", text),
                }
            }
        }
    }
}
