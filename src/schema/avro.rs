//! Avro keys and values for handlers. The writer schema is the one Lambda's
//! schema metadata or the registry framing names, fetched from a
//! [`SchemaRegistry`] once per id and kept while the function stays warm;
//! a reader schema, when set, resolves schema evolution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use apache_avro::types::Value;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use super::framing::SchemaId;
use super::registry::{RegistryError, SchemaRegistry};
use super::value::{converted_or, part_bytes, payload, ValueError, MAX_INFLATED_BYTES};
use crate::record::KafkaRecord;

const FORMAT: &str = "AVRO";

/// A schema given in code that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("the {what} is not a valid Avro schema: {source}")]
pub struct AvroSchemaError {
    what: &'static str,
    #[source]
    source: apache_avro::Error,
}

type Slot = Arc<OnceCell<Arc<Schema>>>;

/// Decodes Avro keys and values; build one at start-up and share it, so
/// writer schemas are fetched once per warm container.
pub struct AvroDecoder<R> {
    registry: R,
    reader: Option<Schema>,
    default_writer: Option<Arc<Schema>>,
    // One cell per id: concurrent records of a new schema wait for one
    // fetch; a failed fetch leaves the cell empty for the next record.
    writers: Mutex<HashMap<SchemaId, Slot>>,
}

impl<R: SchemaRegistry> AvroDecoder<R> {
    /// A decoder fetching writer schemas from `registry`. It bounds what
    /// one datum may allocate to [`MAX_INFLATED_BYTES`] (apache-avro's
    /// process-wide limit, set by its first caller), so a crafted length
    /// cannot exhaust the function's memory.
    pub fn new(registry: R) -> Self {
        let limit = usize::try_from(MAX_INFLATED_BYTES).unwrap_or(usize::MAX);
        apache_avro::util::max_allocation_bytes(limit);
        Self {
            registry,
            reader: None,
            default_writer: None,
            writers: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves every value to this reader schema (Avro schema evolution:
    /// fields added with defaults, fields removed, promotions).
    pub fn reader_schema(mut self, json: &str) -> Result<Self, AvroSchemaError> {
        self.reader = Some(parse("reader schema", json)?);
        Ok(self)
    }

    /// The writer schema of payloads that name none (raw Avro, no
    /// registry framing, no schema metadata).
    pub fn default_writer_schema(mut self, json: &str) -> Result<Self, AvroSchemaError> {
        self.default_writer = Some(Arc::new(parse("default writer schema", json)?));
        Ok(self)
    }

    /// How many writer schemas are cached.
    pub fn cached_schemas(&self) -> usize {
        self.slots().values().filter(|c| c.initialized()).count()
    }

    /// The record's value deserialized into `T`.
    pub async fn value<T: DeserializeOwned>(&self, record: &KafkaRecord) -> Result<T, ValueError> {
        let v = self.decode(record, "value").await?;
        typed("value", &v)
    }

    /// The record's key deserialized into `T`.
    pub async fn key<T: DeserializeOwned>(&self, record: &KafkaRecord) -> Result<T, ValueError> {
        let v = self.decode(record, "key").await?;
        typed("key", &v)
    }

    /// The record's value as an Avro [`Value`], for handlers without a
    /// type of their own.
    pub async fn value_generic(&self, record: &KafkaRecord) -> Result<Value, ValueError> {
        self.decode(record, "value").await
    }

    async fn decode(&self, record: &KafkaRecord, part: &'static str) -> Result<Value, ValueError> {
        let (bytes, meta) = part_bytes(record, part)?;
        let p = payload(part, bytes, meta, false)?;
        let writer = match p.schema_id {
            Some(id) => self
                .writer(id)
                .await
                .map_err(|source| ValueError::Registry { part, source })?,
            None => self
                .default_writer
                .clone()
                .ok_or(ValueError::NoSchema { part })?,
        };
        let value =
            datum(part, &writer, &p.bytes).map_err(|e| converted_or(part, bytes, meta, e))?;
        match &self.reader {
            Some(reader) => value
                .resolve(reader)
                .map_err(|source| ValueError::SchemaMismatch {
                    part,
                    format: FORMAT,
                    source: source.into(),
                }),
            None => Ok(value),
        }
    }

    async fn writer(&self, id: SchemaId) -> Result<Arc<Schema>, RegistryError> {
        let slot = self.slots().entry(id).or_default().clone();
        slot.get_or_try_init(|| async {
            let s = self.registry.schema(id).await?;
            if !s.data_format.eq_ignore_ascii_case(FORMAT) {
                return Err(RegistryError::Invalid {
                    id,
                    reason: format!("it is a {} schema, not Avro", s.data_format),
                });
            }
            Schema::parse_str(&s.definition)
                .map(Arc::new)
                .map_err(|e| RegistryError::Invalid {
                    id,
                    reason: e.to_string(),
                })
        })
        .await
        .cloned()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<SchemaId, Slot>> {
        // The map holds no invariant a panicking holder could break.
        self.writers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One datum written with `writer`, every byte of it: a datum that leaves
/// bytes unread was written with another schema.
fn datum(part: &'static str, writer: &Schema, bytes: &[u8]) -> Result<Value, ValueError> {
    let deser = |source: Box<dyn std::error::Error + Send + Sync>| ValueError::Deserialization {
        part,
        format: FORMAT,
        source,
    };
    let mut rest = bytes;
    let value = apache_avro::reader::datum::GenericDatumReader::builder(writer)
        .build()
        .and_then(|r| r.read_value(&mut rest))
        .map_err(|e| deser(e.into()))?;
    if !rest.is_empty() {
        return Err(deser(
            format!("{} bytes left after the datum", rest.len()).into(),
        ));
    }
    Ok(value)
}

fn parse(what: &'static str, json: &str) -> Result<Schema, AvroSchemaError> {
    Schema::parse_str(json).map_err(|source| AvroSchemaError { what, source })
}

fn typed<T: DeserializeOwned>(part: &'static str, v: &Value) -> Result<T, ValueError> {
    apache_avro::from_value(v).map_err(|source| ValueError::SchemaMismatch {
        part,
        format: FORMAT,
        source: source.into(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::record::SchemaMetadata;
    use crate::schema::{Framing, RegisteredSchema, StaticRegistry};

    const V1: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"int"}]}"#;
    const V2: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"int"},{"name":"item","type":"string","default":"none"}]}"#;
    const GLUE_ID: &str = "b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63";

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Order {
        id: i32,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct OrderV2 {
        id: i32,
        item: String,
    }

    /// Counts calls and fails the first `failures` of them.
    struct Flaky {
        inner: StaticRegistry,
        calls: AtomicUsize,
        failures: usize,
    }

    impl SchemaRegistry for Flaky {
        async fn schema(&self, id: SchemaId) -> Result<RegisteredSchema, RegistryError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if n < self.failures {
                return Err(RegistryError::Unavailable {
                    id,
                    source: "throttled".into(),
                });
            }
            self.inner.schema(id).await
        }
    }

    fn registry(failures: usize) -> Flaky {
        Flaky {
            inner: StaticRegistry::new()
                .with(SchemaId::Confluent(7), RegisteredSchema::new("AVRO", V1))
                .with(
                    SchemaId::parse(GLUE_ID).unwrap(),
                    RegisteredSchema::new("AVRO", V1),
                )
                .with(SchemaId::Confluent(8), RegisteredSchema::new("JSON", "{}")),
            calls: AtomicUsize::new(0),
            failures,
        }
    }

    fn datum(id: i32) -> Vec<u8> {
        let schema = Schema::parse_str(V1).unwrap();
        let v = Value::Record(vec![("id".into(), Value::Int(id))]);
        apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .unwrap()
            .write_value_to_vec(v)
            .unwrap()
    }

    fn rec(value: Vec<u8>, meta: Option<SchemaMetadata>) -> KafkaRecord {
        KafkaRecord::builder("orders", 0, 1)
            .value(Some(value))
            .value_schema(meta)
            .build()
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panic(bytes: Vec<u8>, framed: bool) {
            const WIDE: &str = r#"{"type":"record","name":"W","fields":[
                {"name":"a","type":{"type":"array","items":"null"}},
                {"name":"m","type":{"type":"map","values":"string"}},
                {"name":"b","type":"bytes"},
                {"name":"u","type":["null","string","double"]}]}"#;
            let d = AvroDecoder::new(StaticRegistry::new().with(
                SchemaId::Confluent(1),
                RegisteredSchema::new("AVRO", WIDE),
            ))
            .default_writer_schema(WIDE)
            .unwrap();
            let value = if framed {
                Framing::for_schema(SchemaId::Confluent(1), false).frame(&bytes)
            } else {
                bytes
            };
            let _ = futures::executor::block_on(d.value_generic(&rec(value, None)));
        }
    }

    #[tokio::test]
    async fn every_framing_finds_its_writer_schema_once() {
        let d = AvroDecoder::new(registry(0));
        let glue = SchemaId::parse(GLUE_ID).unwrap();
        let mut zlib = flate2::write::ZlibEncoder::new(
            Framing::Glue {
                schema_version_id: uuid::Uuid::parse_str(GLUE_ID).unwrap(),
                compression: crate::schema::GLUE_COMPRESSION_ZLIB,
            }
            .frame(&[]),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut zlib, &datum(3)).unwrap();
        let records = [
            rec(
                Framing::for_schema(SchemaId::Confluent(7), false).frame(&datum(1)),
                None,
            ),
            rec(datum(2), Some(SchemaMetadata::new("AVRO", "7"))),
            rec(Framing::for_schema(glue, false).frame(&datum(3)), None),
            rec(zlib.finish().unwrap(), None),
            rec(datum(4), Some(SchemaMetadata::new("AVRO", GLUE_ID))),
        ];
        let decoded = futures::future::join_all(records.iter().map(|r| d.value::<Order>(r))).await;
        let ids: Vec<i32> = decoded.into_iter().map(|o| o.unwrap().id).collect();
        assert_eq!(ids, [1, 2, 3, 3, 4]);
        // Concurrent records of one schema share one fetch.
        assert_eq!(d.registry.calls.load(Ordering::SeqCst), 2);
        assert_eq!(d.cached_schemas(), 2);
    }

    #[tokio::test]
    async fn a_registry_outage_is_retried_and_not_cached() {
        let d = AvroDecoder::new(registry(1));
        let r = rec(datum(5), Some(SchemaMetadata::new("AVRO", "7")));
        let e = d.value::<Order>(&r).await.unwrap_err();
        assert_eq!(
            (e.is_transient(), e.error_type()),
            (true, "SchemaRegistryUnavailable")
        );
        assert_eq!(d.value::<Order>(&r).await.unwrap(), Order { id: 5 });
    }

    #[tokio::test]
    async fn missing_and_foreign_schemas_are_permanent() {
        let d = AvroDecoder::new(registry(0));
        let missing = rec(datum(1), Some(SchemaMetadata::new("AVRO", "9")));
        let e = d.value::<Order>(&missing).await.unwrap_err();
        assert_eq!(
            (e.is_transient(), e.error_type()),
            (false, "SchemaNotFound")
        );
        let json_schema = rec(datum(1), Some(SchemaMetadata::new("AVRO", "8")));
        let e = d.value::<Order>(&json_schema).await.unwrap_err();
        assert!(e.to_string().contains("JSON schema, not Avro"), "{e}");
        assert!(matches!(
            d.value::<Order>(&rec(datum(1), None)).await,
            Err(ValueError::NoSchema { part: "value" })
        ));
    }

    #[tokio::test]
    async fn reader_schemas_resolve_evolution_and_defaults_cover_raw_avro() {
        let d = AvroDecoder::new(StaticRegistry::new())
            .reader_schema(V2)
            .unwrap()
            .default_writer_schema(V1)
            .unwrap();
        assert_eq!(
            d.value::<OrderV2>(&rec(datum(6), None)).await.unwrap(),
            OrderV2 {
                id: 6,
                item: "none".into()
            }
        );
        assert!(AvroDecoder::new(StaticRegistry::new())
            .reader_schema("{")
            .is_err());
    }

    #[tokio::test]
    async fn bad_bytes_wrong_types_and_json_conversions_are_named() {
        let d = AvroDecoder::new(registry(0));
        let meta = || Some(SchemaMetadata::new("AVRO", "7"));
        let mut long = datum(1);
        long.push(0);
        let e = d.value::<Order>(&rec(long, meta())).await.unwrap_err();
        assert!(e.to_string().contains("1 bytes left"), "{e}");
        assert_eq!(e.error_type(), "DeserializationError");
        let e = d
            .value::<Order>(&rec(br#"{"id":1}"#.to_vec(), meta()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ValueError::ConvertedToJson { part: "value" }),
            "{e}"
        );
        let e = d
            .value::<OrderV2>(&rec(datum(1), meta()))
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "SchemaMismatch");
        let generic = d.value_generic(&rec(datum(2), meta())).await.unwrap();
        assert_eq!(generic, Value::Record(vec![("id".into(), Value::Int(2))]));
    }
}
