//! Demo handler for an `orders` topic that shows every path a record can
//! take. The value must be a JSON object with a string `order_id` and a
//! number `amount >= 0`; otherwise the record is `permanent` (`InvalidOrder`).
//! A `simulate` field picks a path on purpose:
//! - `"transient"`: always fails transiently (retried, then exhausted);
//! - `"flaky"`: fails the first attempt of an invocation, then succeeds;
//! - `"dlq"`: asks for `manual` dead-lettering;
//! - `"panic"`: panics (caught; the record fails as `permanent`).
//!
//! Tombstones (null value) are deletions and count as processed.

use msk_dlq::{HandlerError, KafkaRecord, RecordContext, RecordHandler};
use serde_json::Value;

/// The demo handler.
pub struct OrdersHandler;

impl RecordHandler for OrdersHandler {
    async fn handle(&self, record: &KafkaRecord, ctx: &RecordContext) -> Result<(), HandlerError> {
        let Some(value) = record.value() else {
            return Ok(());
        };
        let order: Value = serde_json::from_slice(value).map_err(|e| {
            HandlerError::permanent("InvalidOrder", format!("value is not JSON: {e}"))
        })?;
        let Some(fields) = order.as_object() else {
            return Err(HandlerError::permanent(
                "InvalidOrder",
                "value is not a JSON object",
            ));
        };
        match fields.get("simulate").and_then(Value::as_str) {
            Some("transient") => {
                return Err(HandlerError::transient(
                    "InventoryUnavailable",
                    "inventory service did not answer (simulated)",
                ))
            }
            Some("flaky") if ctx.attempt == 1 => {
                return Err(HandlerError::transient(
                    "InventoryTimeout",
                    "first attempt timed out (simulated)",
                ))
            }
            Some("dlq") => {
                return Err(HandlerError::dead_letter(
                    "ManualReview",
                    "order held for manual review",
                ))
            }
            Some("panic") => panic!("simulated handler bug"),
            _ => {}
        }
        match fields.get("order_id") {
            Some(Value::String(id)) if !id.is_empty() => {}
            _ => {
                return Err(HandlerError::permanent(
                    "InvalidOrder",
                    "order_id must be a non-empty string",
                ))
            }
        }
        match fields.get("amount").and_then(Value::as_f64) {
            Some(a) if a >= 0.0 => Ok(()),
            _ => Err(HandlerError::permanent(
                "InvalidOrder",
                "amount must be a number >= 0",
            )),
        }
    }
}
