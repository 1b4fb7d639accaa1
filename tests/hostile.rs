//! Hostile input: a corpus of nasty events, DLQ message bodies and DLQ topic
//! records kept in `tests/corpus/` (each with the outcome it must have), and
//! property tests that throw random and mutated input at every decoder.
//! Nothing may panic; what cannot be read gets an error naming the problem.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use msk_dlq::event::Entry;
use msk_dlq::replay::parse::{from_kafka, from_message_body};
use msk_dlq::replay::{ParseError, Parsed};
use msk_dlq::{decode_event, decode_event_body, Header};
use proptest::prelude::*;
use serde_json::Value;

/// `decode_event` of `text`, checked against decoding it as an invocation
/// body (keys and values left in base64 until read): both give the same
/// batch or the same error.
fn decode(text: &str) -> Result<msk_dlq::event::Batch, msk_dlq::event::EventError> {
    let eager = decode_event(text);
    let lazy = decode_event_body(&bytes::Bytes::copy_from_slice(text.as_bytes()));
    match (&eager, &lazy) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{text}"),
        _ => panic!("the body decoder disagrees on {text}: {eager:?} / {lazy:?}"),
    }
    eager
}

fn corpus(dir: &str) -> (PathBuf, Vec<(String, String)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let expected = std::fs::read_to_string(root.join("expected.txt")).unwrap();
    let cases: Vec<(String, String)> = expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, want) = l.split_once(' ').unwrap();
            (name.to_owned(), want.to_owned())
        })
        .collect();
    // Every file has an expectation, and every expectation a file.
    let mut files: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut named: Vec<String> = cases.iter().map(|(n, _)| n.clone()).collect();
    named.sort();
    assert_eq!(files, named, "{dir}: files and expected.txt differ");
    (root, cases)
}

fn b64(text: &Value) -> Option<Vec<u8>> {
    text.as_str()
        .map(|t| base64::engine::general_purpose::STANDARD.decode(t).unwrap())
}

/// `letters 2`, `fetch-back 1`, `damaged <text>`, `unknown <text>`.
fn verdict(parsed: &Result<Parsed, ParseError>) -> (String, String) {
    match parsed {
        Ok(Parsed::Letters(l)) => ("letters".into(), l.len().to_string()),
        Ok(Parsed::FetchBack(r)) => ("fetch-back".into(), r.len().to_string()),
        Err(e @ ParseError::Damaged(_)) => ("damaged".into(), e.to_string()),
        Err(e) => ("unknown".into(), e.to_string()),
    }
}

fn check_parse(name: &str, want: &str, got: &Result<Parsed, ParseError>, bad: &mut Vec<String>) {
    let (kind, detail) = verdict(got);
    let (want_kind, want_detail) = want.split_once(' ').unwrap_or((want, ""));
    let ok = kind == want_kind
        && match kind.as_str() {
            "letters" | "fetch-back" => detail == want_detail,
            _ => detail.contains(want_detail),
        };
    if !ok {
        bad.push(format!("{name}: want {want}, got {kind} {detail}"));
    }
}

#[test]
fn corpus_events_decode_as_expected() {
    let (root, cases) = corpus("events");
    let mut bad = Vec::new();
    for (name, want) in &cases {
        let text = std::fs::read_to_string(root.join(format!("{name}.json"))).unwrap();
        let got = match decode(&text) {
            Ok(batch) => {
                let entries: Vec<_> = batch.entries().collect();
                let malformed = entries
                    .iter()
                    .filter(|e| matches!(e.entry, Entry::Malformed(_)))
                    .count();
                format!("ok {} {malformed}", entries.len())
            }
            Err(e) => format!("error {e}"),
        };
        let ok = match want.strip_prefix("error ") {
            Some(text) => got.starts_with("error ") && got.contains(text),
            None => &got == want,
        };
        if !ok {
            bad.push(format!("{name}: want {want}, got {got}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn corpus_dlq_bodies_parse_as_expected() {
    let (root, cases) = corpus("bodies");
    let mut bad = Vec::new();
    for (name, want) in &cases {
        let text = std::fs::read_to_string(root.join(format!("{name}.json"))).unwrap();
        check_parse(name, want, &from_message_body(&text), &mut bad);
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn corpus_dlq_topic_records_parse_as_expected() {
    let (root, cases) = corpus("kafka");
    let mut bad = Vec::new();
    for (name, want) in &cases {
        let text = std::fs::read_to_string(root.join(format!("{name}.json"))).unwrap();
        let r: Value = serde_json::from_str(&text).unwrap();
        let headers: Vec<Header> = r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Header::new(h[0].as_str().unwrap(), b64(&h[1]).unwrap_or_default()))
            .collect();
        let (key, value) = (b64(&r["key"]), b64(&r["value"]));
        check_parse(
            name,
            want,
            &from_kafka(key.as_deref(), value.as_deref(), &headers),
            &mut bad,
        );
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Valid inputs to mutate.
fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        "events/msk-mixed.json",
        "events/msk-headers-tombstones.json",
        "events/self-managed.json",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(root.join(p)).unwrap())
    .collect()
}

fn body_seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<String> = [
        "envelope",
        "sns-notification",
        "lambda-sqs-document",
        "lambda-s3-document-payload-object",
    ]
    .iter()
    .map(|n| std::fs::read_to_string(root.join(format!("tests/corpus/bodies/{n}.json"))).unwrap())
    .collect();
    out.push(std::fs::read_to_string(root.join("events/lambda-on-failure-sqs.json")).unwrap());
    out
}

/// A byte-level edit: replace, insert or delete one byte at a position.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let interesting = prop_oneof![
        any::<u8>(),
        Just(b'"'),
        Just(b'{'),
        Just(b']'),
        Just(b','),
        Just(b'-'),
        Just(b'9'),
        Just(b'='),
        Just(0xff),
    ];
    let edit = (any::<usize>(), interesting).prop_flat_map(|(at, b)| {
        prop_oneof![
            Just(Edit::Set(at, b)),
            Just(Edit::Insert(at, b)),
            Just(Edit::Delete(at)),
        ]
    });
    proptest::collection::vec(edit, 1..8)
}

fn mutate(seed: &str, edits: &[Edit]) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for e in edits {
        let n = bytes.len().max(1);
        match *e {
            Edit::Set(at, b) if !bytes.is_empty() => bytes[at % n] = b,
            Edit::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
            Edit::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at % n);
            }
            _ => {}
        }
    }
    // The runtime hands the function text; invalid UTF-8 is refused before.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        "[A-Za-z0-9+/=]{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer to a value inside `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// `seed` with the value at one of its pointers replaced by `with`.
fn replace_one(seed: &str, pick: usize, with: Value) -> String {
    let mut v: Value = serde_json::from_str(seed).unwrap();
    let mut all = Vec::new();
    pointers(&v, String::new(), &mut all);
    let at = &all[pick % all.len()];
    if let Some(slot) = v.pointer_mut(at) {
        *slot = with;
    }
    v.to_string()
}

/// When an event decodes, every record in it is accounted for: decoded or
/// malformed, never dropped.
fn records_in(text: &str) -> Option<usize> {
    let v: Value = serde_json::from_str(msk_dlq::codec::strip_bom(text)).ok()?;
    Some(
        v.get("records")?
            .as_object()?
            .values()
            .map(|l| l.as_array().map_or(0, Vec::len))
            .sum(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_decoded_or_refused(text in ".{0,300}") {
        let _ = decode(&text);
        let _ = from_message_body(&text);
    }

    #[test]
    fn mutated_events_are_decoded_or_refused(seed in 0..3usize, e in edits()) {
        let text = mutate(&seeds()[seed], &e);
        if let Ok(batch) = decode(&text) {
            if let Some(n) = records_in(&text) {
                prop_assert_eq!(batch.entries().count(), n, "a record was dropped");
            }
        }
    }

    #[test]
    fn events_with_any_value_anywhere_are_decoded_or_refused(
        seed in 0..3usize, pick in any::<usize>(), with in json_value()
    ) {
        let text = replace_one(&seeds()[seed], pick, with);
        if let Ok(batch) = decode(&text) {
            if let Some(n) = records_in(&text) {
                prop_assert_eq!(batch.entries().count(), n, "a record was dropped");
            }
        }
    }

    #[test]
    fn mutated_dlq_bodies_are_parsed_or_refused(seed in 0..5usize, e in edits()) {
        let _ = from_message_body(&mutate(&body_seeds()[seed], &e));
    }

    #[test]
    fn dlq_bodies_with_any_value_anywhere_are_parsed_or_refused(
        seed in 0..5usize, pick in any::<usize>(), with in json_value()
    ) {
        let _ = from_message_body(&replace_one(&body_seeds()[seed], pick, with));
    }

    #[test]
    fn dlq_topic_records_with_any_headers_are_parsed_or_refused(
        headers in proptest::collection::vec(
            (
                prop_oneof![
                    Just("dlq.original.topic"), Just("dlq.original.partition"),
                    Just("dlq.original.offset"), Just("dlq.original.timestamp"),
                    Just("dlq.kind"), Just("dlq.replay-count"), Just("dlq.failed-at"),
                    Just("kafka_dlt-original-topic"), Just("kafka_dlt-original-partition"),
                    Just("kafka_dlt-original-offset"), Just("kafka_dlt-original-timestamp"),
                    Just("__connect.errors.topic"), Just("__connect.errors.partition"),
                    Just("__connect.errors.offset"), Just("other"),
                ],
                proptest::collection::vec(any::<u8>(), 0..12),
            ),
            0..10,
        ),
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
    ) {
        let headers: Vec<Header> = headers.into_iter().map(|(n, v)| Header::new(n, v)).collect();
        let _ = from_kafka(key.as_deref(), value.as_deref(), &headers);
    }
}

/// One record with these bytes, as Lambda would send it.
fn event_with(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(String, Vec<u8>)]) -> String {
    let enc = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let headers: Vec<Value> = headers
        .iter()
        .map(|(k, v)| serde_json::json!({ k.as_str(): v.iter().map(|&b| b as i8).collect::<Vec<i8>>() }))
        .collect();
    serde_json::json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": "b-1.example:9092",
        "records": {"t-3": [{
            "topic": "t", "partition": 3, "offset": 9, "timestamp": 1795320000000i64,
            "timestampType": "CREATE_TIME", "key": key.map(enc), "value": value.map(enc),
            "headers": headers,
        }]}
    })
    .to_string()
}

fn letter_of(event: &str) -> msk_dlq::DeadLetter {
    let batch = decode_event(event).unwrap();
    let entry = batch.entries().next().unwrap();
    let Entry::Record(r) = &entry.entry else {
        panic!("malformed: {entry:?}")
    };
    msk_dlq::DeadLetter::new(
        batch.source.clone(),
        msk_dlq::letter::DeadRecord::Decoded(r.clone()),
        msk_dlq::DlqKind::Permanent,
        "E",
        "m",
    )
}

fn only_letter(parsed: Result<Parsed, ParseError>) -> msk_dlq::replay::StoredDeadLetter {
    match parsed {
        Ok(Parsed::Letters(mut l)) if l.len() == 1 => l.remove(0),
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever the bytes, a dead letter read back from its SQS/SNS envelope
    /// or from its Kafka DLQ record has the original key, value and headers.
    #[test]
    fn dead_letters_keep_every_byte(
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..32)),
        value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..256)),
        headers in proptest::collection::vec(("[a-z.\\-]{1,8}", proptest::collection::vec(any::<u8>(), 0..16)), 0..5),
    ) {
        let headers: Vec<(String, Vec<u8>)> =
            headers.into_iter().filter(|(k, _)| !k.starts_with("dlq.")).collect();
        let letter = letter_of(&event_with(key.as_deref(), value.as_deref(), &headers));
        let want_headers: Vec<Header> = headers.iter().map(|(k, v)| Header::new(k.clone(), v.clone())).collect();

        let from_sqs = only_letter(from_message_body(&letter.envelope().to_json().unwrap()));
        prop_assert_eq!(&from_sqs.key, &key);
        prop_assert_eq!(&from_sqs.value, &msk_dlq::replay::StoredValue::Inline(value.clone()));
        prop_assert_eq!(&from_sqs.headers, &want_headers);
        prop_assert_eq!((from_sqs.partition, from_sqs.offset), (Some(3), Some(9)));

        let from_kafka_dlq = only_letter(from_kafka(key.as_deref(), value.as_deref(), &letter.kafka_headers()));
        prop_assert_eq!(&from_kafka_dlq.headers, &want_headers);
        prop_assert_eq!((from_kafka_dlq.partition, from_kafka_dlq.offset), (Some(3), Some(9)));
    }
}
