//! The invocation body in Lambda's own form, read without a general JSON
//! parser. Lambda writes every Kafka event the same way: an object of
//! source fields and `records`, each record with the same eight fields,
//! strings without escapes, integers without fraction or exponent. This
//! reader takes exactly that (any field order, any whitespace) and gives
//! `None` for anything else, which the serde decoders then read: schema
//! metadata, unknown fields, escapes, duplicates, a number serde would
//! judge. A base64 text ends at the first quote (an escape or control
//! character in it fails the base64 check that follows), so the bulk of
//! the body is crossed by `memchr` and checked by SIMD. Nothing recurses.
//! Whatever it takes decodes to the batch the exact decoder gives (tested
//! against it). A large body is read by several threads at once (`split`).

mod split;

use std::ops::Range;

use bytes::Bytes;

pub(crate) use split::Readers;
use split::Split;

use super::fast::{left_in_body, Header, State};
use super::headers::header_byte;
use super::Batch;
use crate::record::{compact, shared_topic, timestamp_type, Payload, RecordParts, StoreBuilder};

/// The batch, when the invocation body is in Lambda's form. The body need
/// not have been checked for UTF-8: every byte this takes is ASCII or in a
/// string it checks.
pub(super) fn decode(body: &Bytes, readers: Option<Readers<'_>>) -> Option<Batch> {
    // Texts are kept by their place in the body, after any byte-order mark.
    let base = if body.starts_with("\u{feff}".as_bytes()) {
        3
    } else {
        0
    };
    let split = match readers {
        Some(r) => Split::spawn(
            r.spawn,
            body,
            base,
            &split::starts(body.get(base..)?, r.threads),
        ),
        None => Split::none(),
    };
    read(body, base, split)
}

/// The event read from the start, stopping where `split`'s pieces begin.
fn read(body: &Bytes, base: usize, mut split: Split) -> Option<Batch> {
    let json = body.get(base..)?;
    let mut state = State::new(json.len(), Some(body));
    let mut r = Reader { text: json, at: 0 };
    let header = event(&mut r, &mut state, base, &mut split)?;
    if r.peek().is_some() {
        return None;
    }
    split.finish(header, state, body)
}

/// A position in the text; every read moves past what it took, or fails.
struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// The next byte after whitespace, not taken.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.text.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// Takes `b`, after whitespace.
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.at += 1)
    }

    /// Takes `end` if it comes next (after whitespace).
    fn close(&mut self, end: u8) -> Option<bool> {
        let closed = self.peek()? == end;
        if closed {
            self.at += 1;
        }
        Some(closed)
    }

    /// After an element: `true` for a `,`, `false` for `end`.
    fn more(&mut self, end: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.at += 1;
                Some(true)
            }
            b if b == end => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// `null`, or what `read` takes.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        self.peek()?;
        if self.text.get(self.at..)?.starts_with(b"null") {
            self.at += 4;
            return Some(None);
        }
        read(self).map(Some)
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let s = self.text.get(start..)?;
        let len = s
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if s.get(len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        std::str::from_utf8(s.get(..len)?).ok()
    }

    /// Takes the string `text` (no quote, escape or control character in
    /// it) if it comes next.
    fn likely(&mut self, text: &str) -> Option<bool> {
        self.peek()?;
        let start = self.at + 1;
        let end = start + text.len();
        let s = self.text;
        let found = s.get(self.at) == Some(&b'"')
            && s.get(start..end) == Some(text.as_bytes())
            && s.get(end) == Some(&b'"');
        if found {
            self.at = end + 1;
        }
        Some(found)
    }

    /// [`Self::string`], quicker when it is `likely`.
    fn string_like<'l>(&mut self, likely: &'l str) -> Option<&'l str>
    where
        'a: 'l,
    {
        if self.likely(likely)? {
            return Some(likely);
        }
        self.string()
    }

    /// The bytes of a string up to its first quote; the caller checks them.
    fn raw_string(&mut self) -> Option<Range<usize>> {
        self.eat(b'"')?;
        let start = self.at;
        let len = memchr::memchr(b'"', self.text.get(start..)?)?;
        self.at = start + len + 1;
        Some(start..start + len)
    }

    /// Digits without a leading zero, sign, fraction or exponent.
    fn natural(&mut self) -> Option<u64> {
        let s = self.text;
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(&b) = s.get(self.at).filter(|b| b.is_ascii_digit()) {
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && s.get(start) == Some(&b'0');
        let float = matches!(s.get(self.at), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !float).then_some(n)
    }

    /// An integer; `-0` is left to serde.
    fn integer(&mut self) -> Option<i64> {
        if self.peek()? == b'-' {
            self.at += 1;
            let n = i64::try_from(self.natural()?).ok()?;
            return (n != 0).then_some(-n);
        }
        i64::try_from(self.natural()?).ok()
    }

    /// An integer that is not negative.
    fn unsigned<T: TryFrom<u64>>(&mut self) -> Option<T> {
        self.peek()?;
        T::try_from(self.natural()?).ok()
    }
}

/// Sets a field met for the first time; a repeated one is for serde.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.is_none().then(|| *slot = Some(value))
}

/// The event object, its records read into `state`.
fn event(r: &mut Reader<'_>, state: &mut State, base: usize, split: &mut Split) -> Option<Header> {
    r.eat(b'{')?;
    let (mut source, mut arn, mut servers) = (None, None, None);
    let mut records = false;
    if !r.close(b'}')? {
        loop {
            let key = r.string()?;
            r.eat(b':')?;
            match key {
                "eventSource" => once(&mut source, r.nullable(Reader::string)?)?,
                "eventSourceArn" => once(&mut arn, r.nullable(Reader::string)?)?,
                "bootstrapServers" => once(&mut servers, r.nullable(Reader::string)?)?,
                "records" if !records => {
                    partitions(r, state, base, split)?;
                    records = true;
                }
                _ => return None,
            }
            if !r.more(b'}')? {
                break;
            }
        }
    }
    let owned = |s: Option<Option<&str>>| s.flatten().map(str::to_owned);
    Some(Header {
        event_source: owned(source),
        event_source_arn: owned(arn),
        bootstrap_servers: owned(servers),
        records,
    })
}

/// The `records` object: `<topic>-<partition>` keys and their lists. Where
/// the reader comes to the start of `split`'s first piece, the pieces read
/// the rest and the reader goes on after the object.
fn partitions(r: &mut Reader<'_>, state: &mut State, base: usize, split: &mut Split) -> Option<()> {
    r.eat(b'{')?;
    if r.close(b'}')? {
        return Some(());
    }
    if let Keyed::Stopped(index) = keyed(r, state, base, split.stop)? {
        r.at = split.join(index)?;
    }
    Some(())
}

/// How a run of `records` ended: at the end of its list or object, or at
/// `stop`, the start of a record.
enum Listed {
    Closed,
    Stopped,
}

/// How a run of keys and lists ended: at the `records` object's end, or at
/// `stop`, in the partition at this index.
enum Keyed {
    Closed,
    Stopped(usize),
}

/// `<key>: [records]` pairs up to the end of the `records` object, or up to
/// `stop`.
fn keyed(r: &mut Reader<'_>, state: &mut State, base: usize, stop: Option<usize>) -> Option<Keyed> {
    loop {
        let key = r.string()?;
        r.eat(b':')?;
        let index = state.partition(key);
        r.eat(b'[')?;
        if !r.close(b']')? {
            let into = &mut state.partitions.get_mut(index)?.records;
            if let Listed::Stopped =
                list(r, &mut state.out.buf, &mut state.records, into, base, stop)?
            {
                return Some(Keyed::Stopped(index));
            }
        }
        if !r.more(b'}')? {
            return Some(Keyed::Closed);
        }
    }
}

/// A partition's records, from a record's start to the list's end or to
/// `stop`; their store indexes appended to `into`.
fn list(
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    store: &mut StoreBuilder,
    into: &mut Vec<usize>,
    base: usize,
    stop: Option<usize>,
) -> Option<Listed> {
    // The records of a partition share one topic name.
    let mut topic = None;
    loop {
        into.push(record(r, out, store, &mut topic, base)?);
        if !r.more(b']')? {
            return Some(Listed::Closed);
        }
        if Some(r.at) == stop {
            return Some(Listed::Stopped);
        }
    }
}

/// One record, stored; its index in the store.
fn record(
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    store: &mut StoreBuilder,
    shared: &mut Option<std::sync::Arc<str>>,
    base: usize,
) -> Option<usize> {
    r.eat(b'{')?;
    let mut topic = None;
    let mut partition: Option<i32> = None;
    let mut offset: Option<i64> = None;
    let mut timestamp = None;
    let mut kind = None;
    let mut key = None;
    let mut value = None;
    let mut headers = None;
    if r.close(b'}')? {
        return None;
    }
    // Lambda writes the fields in this order, and most of a partition's
    // records have the previous one's topic.
    const ORDER: [&str; 8] = [
        "topic",
        "partition",
        "offset",
        "timestamp",
        "timestampType",
        "key",
        "value",
        "headers",
    ];
    let last_topic = shared.as_deref();
    let mut next = ORDER.iter();
    loop {
        let field = r.string_like(next.next().unwrap_or(&""))?;
        r.eat(b':')?;
        match field {
            // `None`: the previous record's.
            "topic" => once(
                &mut topic,
                match last_topic {
                    Some(last) if r.likely(last)? => None,
                    _ => Some(r.string()?),
                },
            )?,
            "partition" => once(&mut partition, r.unsigned()?)?,
            "offset" => once(&mut offset, r.unsigned()?)?,
            "timestamp" => once(&mut timestamp, r.nullable(Reader::integer)?)?,
            "timestampType" => once(&mut kind, r.nullable(|r| r.string_like("CREATE_TIME"))?)?,
            "key" => once(&mut key, payload(r, store, base)?)?,
            "value" => once(&mut value, payload(r, store, base)?)?,
            "headers" => once(&mut headers, r.nullable(|r| header_list(r, out))?)?,
            _ => return None,
        }
        if !r.more(b'}')? {
            break;
        }
    }
    Some(store.push(RecordParts {
        topic: match topic? {
            Some(name) => shared_topic(shared, name),
            None => shared.clone()?,
        },
        partition: partition?,
        offset: offset?,
        timestamp: timestamp.flatten(),
        timestamp_type: kind.flatten().map(timestamp_type),
        key: key.flatten(),
        value: value.flatten(),
        headers: headers.flatten().unwrap_or(0..0),
        key_schema: None,
        value_schema: None,
    }))
}

/// A canonical base64 key or value, or null: left in the body.
fn payload(r: &mut Reader<'_>, store: &mut StoreBuilder, base: usize) -> Option<Option<Payload>> {
    r.nullable(|r| {
        let text = r.raw_string()?;
        let bytes = r.text.get(text.clone())?;
        left_in_body(store, bytes, base + text.start..base + text.end)
    })
}

/// `headers`: `{name: [bytes]}` objects, appended to `out` in the form of
/// [`compact`], as the serde decoders write them.
fn header_list(r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<Range<usize>> {
    r.eat(b'[')?;
    let start = out.len();
    if r.close(b']')? {
        return Some(start..start);
    }
    loop {
        r.eat(b'{')?;
        if !r.close(b'}')? {
            loop {
                let name = r.string()?;
                r.eat(b':')?;
                let at = compact::push_name(out, name)?;
                r.eat(b'[')?;
                if !r.close(b']')? {
                    loop {
                        out.push(header_byte(r.integer()?)?);
                        if !r.more(b']')? {
                            break;
                        }
                    }
                }
                compact::finish_value(out, at)?;
                if !r.more(b'}')? {
                    break;
                }
            }
        }
        if !r.more(b']')? {
            return Some(start..out.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::decode_exact;

    fn scan(json: &str) -> Option<super::Batch> {
        super::decode(&bytes::Bytes::from(json.to_owned()), None)
    }

    fn event(record: &str) -> String {
        format!(r#"{{"eventSource":"aws:kafka","records":{{"t-0":[{record}]}}}}"#)
    }

    #[test]
    fn takes_lambdas_form() {
        let json = event(
            r#"{"topic":"t","partition":0,"offset":15,"timestamp":1545084650987,"timestampType":"CREATE_TIME","key":"a2V5","value":"dmFsdWU=","headers":[{"h":[104,-1,255]}]}"#,
        );
        let batch = scan(&json).expect("Lambda's form");
        assert_eq!(batch, decode_exact(&json).expect("a Kafka event"));
    }

    /// Each of these is left to the serde decoders, which judge it.
    #[test]
    fn leaves_what_serde_must_judge() {
        let base = r#""topic":"t","partition":0"#;
        for fields in [
            r#""offset":-0"#,
            r#""offset":1e3"#,
            r#""offset":1.0"#,
            r#""offset":-1"#,
            r#""offset":99999999999999999999"#,
            r#""offset":9223372036854775808"#,
            r#""offset":"1""#,
            r#""offset":1,"offset":2"#,
            r#""offset":1,"other":null"#,
            r#""offset":1,"value":"a2V5\/""#,
            r#""offset":1,"value":"a2V""#,
            r#""offset":1,"value":"a2V5\"a""#,
            r#""offset":1,"headers":[{"h":[256]}]"#,
            r#""offset":1,"headers":[{"h":[-0]}]"#,
            r#""offset":1,"headers":{}"#,
            r#""offset":1,"timestampType":"CREATE\u005fTIME""#,
        ] {
            let json = event(&format!("{{{base},{fields}}}"));
            assert!(scan(&json).is_none(), "{json}");
            assert!(decode_exact(&json).is_ok(), "{json}");
        }
        for json in [
            "",
            "{",
            "[]",
            r#"{"records":{}} x"#,
            r#"{"records":{},"records":{}}"#,
            r#"{"records":{"t-0":[{}]}}"#,
            r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":01}]}}"#,
            r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":1,"key":nul}]}}"#,
            r#"{"records":{"t-0":[[]]}}"#,
            r#"{"records":{"t-0":[{"topic":"t","partition":0,"offset":1}"#,
        ] {
            assert!(scan(json).is_none(), "{json}");
        }
    }

    #[test]
    fn takes_nulls_and_whitespace() {
        let json = event(
            " {\n \"topic\" : \"t\" ,\"partition\":2147483647,\"offset\":9223372036854775807,\r\n\t\"timestamp\":null,\"timestampType\":null,\"key\":null,\"value\":null,\"headers\":null } ",
        );
        let batch = scan(&json).expect("Lambda's form");
        assert_eq!(batch, decode_exact(&json).expect("a Kafka event"));
        let json = event(
            r#"{"topic":"t","partition":0,"offset":0,"timestamp":-5,"headers":[{},{"a":[],"b":[1]}]}"#,
        );
        assert_eq!(
            scan(&json).expect("Lambda's form"),
            decode_exact(&json).expect("an event")
        );
    }

    /// Bytes that are not UTF-8 are not taken (the UTF-8 check then names
    /// them); a byte-order mark is skipped.
    #[test]
    fn checks_utf8_and_skips_a_byte_order_mark() {
        let good = event(r#"{"topic":"tö","partition":0,"offset":1,"headers":[{"é":[1]}]}"#);
        for (at, bad) in [("tö", b"t\xF6"), ("é", b"\xE9\x00")] {
            let i = good.find(at).expect("in the event");
            let mut body = good.as_bytes().to_vec();
            body.splice(i..i + at.len(), bad.iter().copied());
            assert!(super::decode(&bytes::Bytes::from(body.clone()), None).is_none());
            assert!(crate::event::decode_event_body(&bytes::Bytes::from(body)).is_err());
        }
        let batch = scan(&format!("\u{feff}{good}")).expect("Lambda's form");
        assert_eq!(batch, decode_exact(&good).expect("a Kafka event"));
    }

    /// An event in Lambda's form with a little of everything: two
    /// partitions, headers, nulls, a missing key.
    const SAMPLE: &str = concat!(
        r#"{"eventSource":"aws:kafka","eventSourceArn":"arn:x","bootstrapServers":"b:9092","records":{"#,
        r#""t-0":[{"topic":"t","partition":0,"offset":7,"timestamp":1700000000000,"timestampType":"CREATE_TIME","key":"a2V5","value":"dmFsdWU=","headers":[{"h":[104,-1,255]}]},"#,
        r#"{"topic":"t","partition":0,"offset":8,"timestamp":null,"timestampType":"LOG_APPEND_TIME","value":null,"headers":[]}],"#,
        r#""u-1":[{"topic":"u","partition":1,"offset":0,"timestamp":-1,"timestampType":null,"key":"","value":"eA==","headers":null}]}}"#,
    );

    proptest::proptest! {
        // About one mutated event in twenty is still taken.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// Bytes of JSON's own alphabet inserted, replaced or removed
        /// anywhere: whatever the reader still takes, the exact decoder
        /// decodes the same way.
        #[test]
        fn takes_nothing_the_exact_decoder_reads_otherwise(
            edits in proptest::collection::vec(
                (
                    proptest::prelude::any::<proptest::sample::Index>(),
                    proptest::sample::select(b"\"{}[],:\\ 0159-.eEnulx+/=A\xC3\xA9\x00".to_vec()),
                    0..3u8,
                ),
                1..4,
            )
        ) {
            let mut body = SAMPLE.as_bytes().to_vec();
            for (at, byte, op) in edits {
                let i = at.index(body.len());
                match op {
                    0 => body[i] = byte,
                    1 => body.insert(i, byte),
                    _ => {
                        body.remove(i);
                    }
                }
            }
            if let Some(batch) = super::decode(&bytes::Bytes::from(body.clone()), None) {
                let text = std::str::from_utf8(&body).expect("taken, so UTF-8");
                let exact = decode_exact(text).expect("taken, so a Kafka event");
                proptest::prop_assert_eq!(batch, exact, "{}", text);
            }
        }
    }

    #[test]
    fn takes_the_sample() {
        assert_eq!(
            scan(SAMPLE).expect("Lambda's form"),
            decode_exact(SAMPLE).expect("an event")
        );
    }
}
