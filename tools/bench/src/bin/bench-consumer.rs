//! The consumer the side-by-side benchmark runs: the library with a handler
//! chosen by `BENCH_HANDLER`: `noop` (does nothing) or `json` (parses each
//! value as JSON, as the Powertools handlers do).

use msk_dlq::{HandlerError, KafkaRecord, RecordContext, RecordHandler};

struct Bench {
    json: bool,
}

impl RecordHandler for Bench {
    async fn handle(&self, record: &KafkaRecord, _: &RecordContext) -> Result<(), HandlerError> {
        if self.json {
            serde_json::from_slice::<serde_json::Value>(record.value().unwrap_or(b"null"))
                .map_err(|e| HandlerError::permanent("NotJson", e.to_string()))?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let json = std::env::var("BENCH_HANDLER").is_ok_and(|h| h == "json");
    msk_dlq::run(Bench { json }).await
}
