//! Demo handler for an `orders` topic that shows every path a record can
//! take. The value must be a JSON object with a string `order_id` and a
//! number `amount >= 0`; otherwise the record is `permanent` (`InvalidOrder`).
//! A `simulate` field picks a path on purpose:
//! - `"transient"`: always fails transiently (retried, then exhausted);
//! - `"flaky"`: fails the first attempt of an invocation, then succeeds;
//! - `"outage"`: fails transiently the first two times this warm process
//!   sees the order, then succeeds (a dependency that comes back);
//! - `"dlq"`: asks for `manual` dead-lettering;
//! - `"panic"`: panics (caught; the record fails as `permanent`);
//! - `"needs-fix"`: fails `permanent` (`NotSupportedYet`) until the fix is
//!   deployed;
//! - `"crash"`: kills the process (a function error Lambda retries) until
//!   the fix is deployed;
//! - `"slow"`: takes `ms` milliseconds (awaiting), then succeeds;
//! - `"hang"`: never finishes until the fix is deployed;
//! - `"spin"`: keeps its thread busy computing for `ms` milliseconds, then
//!   succeeds, until the fix is deployed (then it is quick);
//! - `"block"`: blocks its thread for `ms` milliseconds (a synchronous call
//!   in async code), then succeeds, until the fix is deployed.
//!
//! "The fix is deployed" when the file named by `ORDERS_FIX_FLAG` exists,
//! so a demo can flip it while the function runs. With `ORDERS_LEDGER` set,
//! each processed order is appended to that file as
//! `order_id topic partition offset`, the handler's own account of what it
//! processed. Tombstones (null value) are deletions and count as processed.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Mutex;

use msk_dlq::{HandlerError, KafkaRecord, RecordContext, RecordHandler};
use serde_json::Value;

/// The demo handler.
#[derive(Default)]
pub struct OrdersHandler {
    fix_flag: Option<std::path::PathBuf>,
    ledger: Option<Mutex<std::fs::File>>,
    seen: Mutex<HashMap<String, u32>>,
}

impl OrdersHandler {
    /// Reads `ORDERS_FIX_FLAG` and `ORDERS_LEDGER`.
    pub fn from_env() -> std::io::Result<Self> {
        let ledger = match std::env::var_os("ORDERS_LEDGER") {
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
            None => None,
        };
        Ok(Self {
            fix_flag: std::env::var_os("ORDERS_FIX_FLAG").map(Into::into),
            ledger,
            seen: Mutex::new(HashMap::new()),
        })
    }

    fn fixed(&self) -> bool {
        self.fix_flag.as_ref().is_some_and(|p| p.exists())
    }

    fn record_processed(&self, id: &str, record: &KafkaRecord) -> Result<(), HandlerError> {
        let Some(ledger) = &self.ledger else {
            return Ok(());
        };
        let mut f = ledger
            .lock()
            .map_err(|_| HandlerError::transient("LedgerUnavailable", "ledger lock poisoned"))?;
        writeln!(
            f,
            "{id} {} {} {}",
            record.topic(),
            record.partition(),
            record.offset()
        )
        .map_err(|e| HandlerError::transient("LedgerUnavailable", e.to_string()))
    }

    fn times_seen(&self, id: &str) -> u32 {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let n = seen.entry(id.to_owned()).or_insert(0);
        *n += 1;
        *n
    }
}

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
        let id = match fields.get("order_id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => {
                return Err(HandlerError::permanent(
                    "InvalidOrder",
                    "order_id must be a non-empty string",
                ))
            }
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
            Some("outage") if self.times_seen(&id) <= 2 => {
                return Err(HandlerError::transient(
                    "InventoryOutage",
                    "inventory service is down (simulated)",
                ))
            }
            Some("dlq") => {
                return Err(HandlerError::dead_letter(
                    "ManualReview",
                    "order held for manual review",
                ))
            }
            Some("panic") => panic!("simulated handler bug"),
            Some("needs-fix") if !self.fixed() => {
                return Err(HandlerError::permanent(
                    "NotSupportedYet",
                    "this order type needs the next release",
                ))
            }
            Some("crash") if !self.fixed() => {
                eprintln!("simulated crash on order {id}");
                std::process::abort();
            }
            Some("slow") => tokio::time::sleep(millis(fields)).await,
            Some("hang") if !self.fixed() => std::future::pending::<()>().await,
            Some("spin") if !self.fixed() => {
                let until = std::time::Instant::now() + millis(fields);
                let mut x: u64 = 1;
                while std::time::Instant::now() < until {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            Some("block") if !self.fixed() => std::thread::sleep(millis(fields)),
            _ => {}
        }
        match fields.get("amount").and_then(Value::as_f64) {
            Some(a) if a >= 0.0 => self.record_processed(&id, record),
            _ => Err(HandlerError::permanent(
                "InvalidOrder",
                "amount must be a number >= 0",
            )),
        }
    }
}

/// The `ms` field (default 1000).
fn millis(fields: &serde_json::Map<String, Value>) -> std::time::Duration {
    std::time::Duration::from_millis(fields.get("ms").and_then(Value::as_u64).unwrap_or(1000))
}
