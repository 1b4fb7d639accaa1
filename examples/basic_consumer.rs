//! The smallest consumer: a handler, configured from the environment
//! (`MSK_DLQ_SINK=sqs MSK_DLQ_SQS_QUEUE_URL=...`), run as a Lambda.
//!
//! Build for Lambda: `cargo lambda build --release --example basic_consumer`.

use msk_dlq::{HandlerError, KafkaRecord, RecordContext, RecordHandler};

struct Orders;

impl RecordHandler for Orders {
    async fn handle(&self, record: &KafkaRecord, ctx: &RecordContext) -> Result<(), HandlerError> {
        // A tombstone (null value) is a deletion: nothing to do.
        let Some(value) = record.value() else {
            return Ok(());
        };
        let order: serde_json::Value = serde_json::from_slice(value)
            // Retrying cannot fix bad JSON: dead-letter it as `permanent`.
            .map_err(|e| HandlerError::permanent("InvalidOrder", e.to_string()).with_source(e))?;
        if order.get("order_id").is_none() {
            return Err(HandlerError::permanent("InvalidOrder", "no order_id"));
        }
        tracing::debug!(
            attempt = ctx.attempt,
            offset = record.offset(),
            "order accepted"
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    msk_dlq::run(Orders).await
}
