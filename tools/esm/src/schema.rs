//! The mapping's schema registry (`SchemaRegistryConfig`), emulated from
//! the framing on the topic: a framed key or value reaches the function
//! without its framing (`SOURCE`) or as JSON (`JSON`), with
//! `keySchemaMetadata` / `valueSchemaMetadata` naming format and schema id.
//! The emulator reads the schema id from the framing and does not ask the
//! registry; it converts only JSON Schema payloads to JSON (they already
//! are), so `JSON` with Avro or Protobuf is refused at start.

use msk_dlq::schema::{Framing, RecordFormat};

use crate::settings::SettingsError;

/// `SchemaRegistryConfig`, as far as the emulator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRegistry {
    /// `EventRecordFormat`.
    pub record_format: RecordFormat,
    /// The schemas' type: `AVRO`, `PROTOBUF` or `JSON`.
    pub data_format: String,
    /// `SchemaValidationConfigs` has `KEY`.
    pub key: bool,
    /// `SchemaValidationConfigs` has `VALUE`.
    pub value: bool,
}

/// What a registry hands the function for one key or value: the bytes and
/// `(dataFormat, schemaId)` when framing was found.
pub type Delivered = (Option<Vec<u8>>, Option<(String, String)>);

impl SchemaRegistry {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !["AVRO", "PROTOBUF", "JSON"].contains(&self.data_format.as_str()) {
            return Err(SettingsError::Invalid {
                setting: "schema data format",
                value: self.data_format.clone(),
                expected: "AVRO, PROTOBUF or JSON",
            });
        }
        if self.record_format == RecordFormat::Json && self.data_format != "JSON" {
            return Err(SettingsError::Invalid {
                setting: "SchemaRegistryConfig.EventRecordFormat",
                value: format!("JSON with {} schemas", self.data_format),
                expected: "SOURCE (the emulator converts only JSON Schema payloads to JSON)",
            });
        }
        if !self.key && !self.value {
            return Err(SettingsError::Missing("SchemaValidationConfigs"));
        }
        Ok(())
    }

    /// What the function receives for a key (`is_key`) or value `bytes`.
    pub fn deliver(&self, bytes: Option<Vec<u8>>, is_key: bool) -> Delivered {
        if (is_key && !self.key) || (!is_key && !self.value) {
            return (bytes, None);
        }
        let Some(b) = bytes else {
            return (None, None);
        };
        // Lambda removes the magic byte and id (Confluent) or the header
        // (Glue) only: Protobuf message indexes stay with the payload.
        match Framing::sniff(&b, false) {
            Some((framing, payload)) => (
                Some(payload.to_vec()),
                Some((self.data_format.clone(), framing.schema_id().to_string())),
            ),
            None => (Some(b), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msk_dlq::schema::SchemaId;

    #[test]
    fn framing_is_removed_and_named() {
        let r = SchemaRegistry {
            record_format: RecordFormat::Source,
            data_format: "AVRO".into(),
            key: false,
            value: true,
        };
        let framed = Framing::for_schema(SchemaId::Confluent(7), false).frame(b"\x02a");
        assert_eq!(
            r.deliver(Some(framed.clone()), false),
            (Some(b"\x02a".to_vec()), Some(("AVRO".into(), "7".into())))
        );
        assert_eq!(r.deliver(Some(framed.clone()), true), (Some(framed), None));
        let pb = SchemaRegistry {
            data_format: "PROTOBUF".into(),
            ..r.clone()
        };
        let framed = Framing::for_schema(SchemaId::Confluent(7), true).frame(b"\x08\x01");
        assert_eq!(
            pb.deliver(Some(framed), false).0,
            Some(b"\x00\x08\x01".to_vec()),
            "message indexes stay"
        );
        assert_eq!(
            r.deliver(Some(b"{}".to_vec()), false),
            (Some(b"{}".to_vec()), None)
        );
        let json_avro = SchemaRegistry {
            record_format: RecordFormat::Json,
            ..r
        };
        assert!(json_avro.validate().is_err());
    }
}
