//! Avro values from a schema registry: the writer schema named by Lambda's
//! schema metadata (`EventRecordFormat: SOURCE`) or by the registry framing
//! still on the value, fetched once per schema and kept while the function
//! is warm. Confluent ids go to the REST registry at
//! `SCHEMA_REGISTRY_URL`, Glue schema version ids to the Glue Schema
//! Registry. A value that does not decode is dead-lettered as
//! `DeserializationError` / `SchemaMismatch`; a registry that does not
//! answer makes the record retry.

use msk_dlq::schema::{AvroDecoder, ConfluentRegistry, GlueRegistry};
use msk_dlq::{HandlerError, KafkaRecord, RecordContext, RecordHandler};

#[derive(Debug, serde::Deserialize)]
struct Order {
    order_id: String,
    amount: f64,
}

struct Orders {
    avro: AvroDecoder<(ConfluentRegistry, GlueRegistry)>,
}

impl RecordHandler for Orders {
    async fn handle(&self, record: &KafkaRecord, _ctx: &RecordContext) -> Result<(), HandlerError> {
        let order: Order = self.avro.value(record).await?;
        if order.amount < 0.0 {
            return Err(HandlerError::permanent(
                "NegativeAmount",
                format!("order {} has amount {}", order.order_id, order.amount),
            ));
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    msk_dlq::lambda::init_tracing();
    let url = std::env::var("SCHEMA_REGISTRY_URL")
        .map_err(|_| "SCHEMA_REGISTRY_URL is not set: the Confluent-compatible registry's URL")?;
    let registries = (
        ConfluentRegistry::new(&url)?,
        GlueRegistry::from_env().await,
    );
    msk_dlq::run(Orders {
        avro: AvroDecoder::new(registries),
    })
    .await
}
