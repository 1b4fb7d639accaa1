//! What a dead letter remembers of its record's schema, and how a replay
//! gets the record back into the bytes the topic's consumers expect. Pure.

use serde::{Deserialize, Serialize};

use super::framing::{Framing, SchemaId};
use crate::record::SchemaMetadata;

/// How the event source mapping delivers records validated against a
/// registry (its `SchemaRegistryConfig.EventRecordFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// The payload as serialized, with the registry framing removed.
    Source,
    /// The payload converted to JSON.
    Json,
}

impl RecordFormat {
    /// `SOURCE` or `JSON`, as the mapping names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "SOURCE",
            Self::Json => "JSON",
        }
    }

    /// Reads `SOURCE` or `JSON` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "SOURCE" => Some(Self::Source),
            "JSON" => Some(Self::Json),
            _ => None,
        }
    }
}

/// What a dead letter keeps of its record's schema: Lambda's metadata of
/// key and value, and the mapping's record format when the consumer knew
/// it. As JSON (the envelope's `source`, exported letters): `keySchema`,
/// `valueSchema`, `recordFormat`, each left out when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SchemaFacts {
    /// The key's `keySchemaMetadata`.
    #[serde(rename = "keySchema", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SchemaMetadata>,
    /// The value's `valueSchemaMetadata`.
    #[serde(
        rename = "valueSchema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<SchemaMetadata>,
    /// How Lambda delivered them.
    #[serde(
        rename = "recordFormat",
        default,
        skip_serializing_if = "Option::is_none",
        with = "record_format_text"
    )]
    pub record_format: Option<RecordFormat>,
}

/// `SOURCE` / `JSON` as text; other text reads as unknown, never as an error.
mod record_format_text {
    use super::RecordFormat;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        f: &Option<RecordFormat>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match f {
            Some(f) => s.serialize_str(f.as_str()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<RecordFormat>, D::Error> {
        Ok(Option::<String>::deserialize(d)?
            .as_deref()
            .and_then(RecordFormat::parse))
    }
}

impl SchemaFacts {
    /// Facts from the parts.
    pub fn new(
        key: Option<SchemaMetadata>,
        value: Option<SchemaMetadata>,
        record_format: Option<RecordFormat>,
    ) -> Self {
        Self {
            key,
            value,
            record_format,
        }
    }

    /// Whether a registry was involved at all.
    pub fn has_registry(&self) -> bool {
        self.key.is_some() || self.value.is_some()
    }
}

/// How a replay writes records that went through a schema registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum WireMode {
    /// Re-frame where that restores the bytes exactly, else fetch back.
    #[default]
    Auto,
    /// Re-frame from the schema id; a letter that cannot be re-framed is
    /// refused and kept.
    Reframe,
    /// Read the original bytes back from the source topic by offset.
    FetchBack,
    /// Write the bytes as the letter holds them.
    AsReceived,
}

impl WireMode {
    /// The name a setting uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Reframe => "reframe",
            Self::FetchBack => "fetch-back",
            Self::AsReceived => "as-received",
        }
    }

    /// Reads [`WireMode::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Auto, Self::Reframe, Self::FetchBack, Self::AsReceived]
            .into_iter()
            .find(|m| m.as_str() == text.trim())
    }
}

/// What a replay does to restore a letter's wire bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WirePlan {
    /// Write key and value as the letter holds them.
    AsStored,
    /// Put registry framing back in front of the key and/or the value.
    Reframe {
        /// The key's framing, when it had a schema.
        key: Option<Framing>,
        /// The value's framing, when it had a schema.
        value: Option<Framing>,
    },
    /// Read key and value back from the source topic by offset.
    FetchBack,
    /// Keep the letter: its bytes cannot be restored.
    Refuse {
        /// Why.
        reason: String,
    },
}

impl WirePlan {
    /// Applies a [`WirePlan::Reframe`] to key and value; other plans leave
    /// them alone.
    pub fn reframe(&self, key: &mut Option<Vec<u8>>, value: &mut Option<Vec<u8>>) {
        if let Self::Reframe { key: kf, value: vf } = self {
            for (framing, bytes) in [(kf, key), (vf, value)] {
                if let (Some(f), Some(b)) = (framing, bytes.as_mut()) {
                    *b = f.frame(b);
                }
            }
        }
    }
}

/// A part's framing, and whether re-framing gives back the exact bytes.
fn reframing(
    part: &str,
    m: &SchemaMetadata,
    format: Option<RecordFormat>,
) -> Result<(Framing, bool), String> {
    match format {
        None => {
            return Err(format!(
                "the {part} went through a schema registry but the consumer did not record the mapping's EventRecordFormat (set MSK_DLQ_SCHEMA_RECORD_FORMAT)"
            ))
        }
        Some(RecordFormat::Json) => {
            return Err(format!(
                "Lambda converted the {part} to JSON (EventRecordFormat JSON); only fetch-back restores the original bytes"
            ))
        }
        Some(RecordFormat::Source) => {}
    }
    let id = m
        .schema_id
        .as_deref()
        .ok_or_else(|| format!("the {part}'s schema metadata has no schema id"))?;
    let id = SchemaId::parse(id).map_err(|e| format!("the {part}'s {e}"))?;
    // SOURCE removes only the magic byte and id (Confluent) or the header
    // (Glue): a Protobuf payload keeps its message indexes, so the header
    // alone restores every format exactly.
    Ok((Framing::for_schema(id, false), true))
}

/// Decides how a letter with `facts` is written back under `mode`.
pub fn wire_plan(facts: &SchemaFacts, mode: WireMode) -> WirePlan {
    if !facts.has_registry() || mode == WireMode::AsReceived {
        return WirePlan::AsStored;
    }
    if mode == WireMode::FetchBack {
        return WirePlan::FetchBack;
    }
    let part = |name: &str, m: &Option<SchemaMetadata>| {
        m.as_ref()
            .map(|m| reframing(name, m, facts.record_format))
            .transpose()
    };
    match (part("key", &facts.key), part("value", &facts.value)) {
        (Ok(k), Ok(v)) => {
            let exact = k.as_ref().is_none_or(|x| x.1) && v.as_ref().is_none_or(|x| x.1);
            if mode == WireMode::Auto && !exact {
                return WirePlan::FetchBack;
            }
            WirePlan::Reframe {
                key: k.map(|x| x.0),
                value: v.map(|x| x.0),
            }
        }
        (Err(reason), _) | (_, Err(reason)) => {
            if mode == WireMode::Auto {
                WirePlan::FetchBack
            } else {
                WirePlan::Refuse { reason }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLUE_ID: &str = "b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63";

    fn facts(format: Option<RecordFormat>, data: &str, id: &str) -> SchemaFacts {
        SchemaFacts::new(None, Some(SchemaMetadata::new(data, id)), format)
    }

    #[test]
    fn no_registry_is_written_as_stored() {
        assert_eq!(
            wire_plan(&SchemaFacts::default(), WireMode::Auto),
            WirePlan::AsStored
        );
        assert_eq!(
            wire_plan(&SchemaFacts::default(), WireMode::FetchBack),
            WirePlan::AsStored
        );
    }

    #[test]
    fn source_records_are_reframed_when_exact() {
        let src = Some(RecordFormat::Source);
        for (data, id) in [
            ("AVRO", "7"),
            ("JSON", "7"),
            ("AVRO", GLUE_ID),
            ("PROTOBUF", GLUE_ID),
            ("PROTOBUF", "7"),
        ] {
            let plan = wire_plan(&facts(src, data, id), WireMode::Auto);
            assert!(
                matches!(
                    plan,
                    WirePlan::Reframe {
                        key: None,
                        value: Some(_)
                    }
                ),
                "{data} {id}: {plan:?}"
            );
        }
        let mut value = Some(b"payload".to_vec());
        wire_plan(&facts(src, "AVRO", "7"), WireMode::Auto).reframe(&mut None, &mut value);
        assert_eq!(value.unwrap(), [&[0, 0, 0, 0, 7][..], b"payload"].concat());
        // Confluent Protobuf as delivered: message indexes `[0]`, message.
        let mut pb = Some(vec![0, 0x08, 0x01]);
        wire_plan(&facts(src, "PROTOBUF", "7"), WireMode::Auto).reframe(&mut None, &mut pb);
        assert_eq!(pb.unwrap(), [0, 0, 0, 0, 7, 0, 0x08, 0x01]);
    }

    #[test]
    fn what_reframing_cannot_restore_is_fetched_back_or_refused() {
        let json = facts(Some(RecordFormat::Json), "AVRO", "7");
        assert_eq!(wire_plan(&json, WireMode::Auto), WirePlan::FetchBack);
        match wire_plan(&json, WireMode::Reframe) {
            WirePlan::Refuse { reason } => {
                assert!(reason.contains("converted the value to JSON"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        match wire_plan(&facts(None, "AVRO", "7"), WireMode::Reframe) {
            WirePlan::Refuse { reason } => {
                assert!(reason.contains("MSK_DLQ_SCHEMA_RECORD_FORMAT"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        match wire_plan(
            &facts(Some(RecordFormat::Source), "AVRO", "orders"),
            WireMode::Reframe,
        ) {
            WirePlan::Refuse { reason } => {
                assert!(reason.contains("neither a Confluent"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(wire_plan(&json, WireMode::AsReceived), WirePlan::AsStored);
    }

    #[test]
    fn names_round_trip() {
        for m in [
            WireMode::Auto,
            WireMode::Reframe,
            WireMode::FetchBack,
            WireMode::AsReceived,
        ] {
            assert_eq!(WireMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(RecordFormat::parse("source"), Some(RecordFormat::Source));
        assert_eq!(RecordFormat::parse("AVRO"), None);
    }
}
