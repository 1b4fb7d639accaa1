//! A dead-letter sink of your own: one method, one result per letter. Only
//! an `Ok` counts as dead-lettered; an error reports the record failed, so
//! Lambda re-delivers it and nothing is lost.

use std::sync::Mutex;

use msk_dlq::letter::DeadLetter;
use msk_dlq::sink::{BoxFuture, Confirmation, DeadLetterSink, SinkError, SinkResult};
use msk_dlq::{ConsumerBuilder, HandlerError, KafkaRecord, RecordContext, RecordHandler};
use tokio::time::Instant;

/// Keeps dead letters as JSON lines in a file (a stand-in for a database).
struct JsonLinesFile {
    path: std::path::PathBuf,
    lock: Mutex<()>,
}

impl DeadLetterSink for JsonLinesFile {
    fn name(&self) -> &'static str {
        "jsonl-file"
    }

    fn send<'a>(&'a self, letter: &'a DeadLetter, _deadline: Instant) -> BoxFuture<'a, SinkResult> {
        Box::pin(async move {
            use std::io::Write as _;
            let line = letter
                .envelope()
                .to_json()
                .map_err(|e| SinkError::unavailable_because("jsonl-file", "cannot serialize", e))?;
            let _guard = self
                .lock
                .lock()
                .map_err(|_| SinkError::unavailable("jsonl-file", "lock poisoned"))?;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| SinkError::unavailable_because("jsonl-file", "cannot open", e))?;
            // Durable before confirmed: write, then sync.
            writeln!(f, "{line}")
                .and_then(|()| f.sync_data())
                .map_err(|e| SinkError::unavailable_because("jsonl-file", "cannot write", e))?;
            Ok(Confirmation::new(
                "jsonl-file",
                self.path.display().to_string(),
            ))
        })
    }
}

struct RejectEverything;

impl RecordHandler for RejectEverything {
    async fn handle(&self, _: &KafkaRecord, _: &RecordContext) -> Result<(), HandlerError> {
        Err(HandlerError::dead_letter(
            "Demo",
            "every record goes to the sink",
        ))
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    msk_dlq::lambda::init_tracing();
    let consumer = ConsumerBuilder::new(RejectEverything)
        .sink(JsonLinesFile {
            path: "/tmp/dead-letters.jsonl".into(),
            lock: Mutex::new(()),
        })
        .from_env()
        .build()
        .await?;
    lambda_runtime::run(consumer).await
}
