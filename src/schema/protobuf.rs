//! Protobuf keys and values for handlers, into `prost` messages. The
//! message type is the handler's, so no schema is fetched: whatever stands
//! before the message is removed and the rest decoded. On the topic that is
//! Confluent framing with its message indexes, or Glue's header and message
//! index; under `EventRecordFormat: SOURCE` Lambda has removed the magic
//! byte and id (or Glue's header) but left the message indexes. A raw
//! Protobuf message never starts with `0x00` or `0x03` (field number 0 is
//! invalid), so framing on the topic is recognised without a guess.

use super::value::{converted_or, part_bytes, payload, ValueError};
use crate::record::KafkaRecord;

fn decode<M: prost::Message + Default>(
    record: &KafkaRecord,
    part: &'static str,
) -> Result<M, ValueError> {
    let (bytes, meta) = part_bytes(record, part)?;
    payload(part, bytes, meta, true)
        .and_then(|p| {
            M::decode(&*p.bytes).map_err(|source| ValueError::Deserialization {
                part,
                format: "PROTOBUF",
                source: source.into(),
            })
        })
        .map_err(|e| converted_or(part, bytes, meta, e))
}

impl KafkaRecord {
    /// The value decoded as Protobuf message `M`; registry framing in
    /// front of it is removed. With `EventRecordFormat: JSON` the mapping
    /// converted the value to JSON: read it with
    /// [`KafkaRecord::value_json`].
    pub fn value_protobuf<M: prost::Message + Default>(&self) -> Result<M, ValueError> {
        decode(self, "value")
    }

    /// The key, as [`KafkaRecord::value_protobuf`] reads the value.
    pub fn key_protobuf<M: prost::Message + Default>(&self) -> Result<M, ValueError> {
        decode(self, "key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SchemaMetadata;
    use crate::schema::{Framing, SchemaId};

    #[derive(Clone, PartialEq, prost::Message)]
    struct Order {
        #[prost(uint32, tag = "1")]
        id: u32,
        #[prost(string, tag = "2")]
        item: String,
    }

    fn rec(value: Vec<u8>, meta: Option<SchemaMetadata>) -> KafkaRecord {
        KafkaRecord::builder("orders", 0, 1)
            .value(Some(value))
            .value_schema(meta)
            .build()
    }

    #[test]
    fn every_framing_decodes_to_the_message() {
        let want = Order {
            id: 7,
            item: "tea".into(),
        };
        let raw = prost::Message::encode_to_vec(&want);
        let nested = Framing::Confluent {
            schema_id: 4,
            message_indexes: Some(vec![1, 0]),
        };
        let glue = SchemaId::parse("b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63").unwrap();
        // Glue's Protobuf payload: a message index, then the message.
        let glue_payload = [&[1u8][..], &raw].concat();
        for bytes in [
            raw.clone(),
            Framing::for_schema(SchemaId::Confluent(4), true).frame(&raw),
            nested.frame(&raw),
            Framing::for_schema(glue, false).frame(&glue_payload),
        ] {
            assert_eq!(rec(bytes, None).value_protobuf::<Order>().unwrap(), want);
        }
        // SOURCE: header gone, message indexes (Confluent) or index (Glue)
        // still in front, as Lambda delivers them.
        let meta = |id: &str| Some(SchemaMetadata::new("PROTOBUF", id));
        for (bytes, id) in [
            ([&[0u8][..], &raw].concat(), "4"),
            ([&[4u8, 2, 0][..], &raw].concat(), "4"),
            (glue_payload, "b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63"),
        ] {
            assert_eq!(
                rec(bytes, meta(id)).value_protobuf::<Order>().unwrap(),
                want
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panic(bytes: Vec<u8>, meta: bool) {
            let meta = meta.then(|| SchemaMetadata::new("PROTOBUF", "4"));
            let _ = rec(bytes, meta).value_protobuf::<Order>();
        }
    }

    #[test]
    fn bad_bytes_and_json_conversions_are_named() {
        let e = rec(vec![0x0a, 0x05, b'x'], None)
            .value_protobuf::<Order>()
            .unwrap_err();
        assert_eq!(e.error_type(), "DeserializationError");
        let converted = rec(
            br#"{"id":7,"item":"tea"}"#.to_vec(),
            Some(SchemaMetadata::new("PROTOBUF", "4")),
        );
        assert!(matches!(
            converted.value_protobuf::<Order>(),
            Err(ValueError::ConvertedToJson { part: "value" })
        ));
    }
}
