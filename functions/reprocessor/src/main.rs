//! The reprocessor Lambda. Triggered by the SQS DLQ, an MSK event source on
//! the Kafka DLQ topic, or invoked directly with a `{"replayJob": ...}`.
//! To repair records before replay, pass a `msk_dlq::replay::Repair`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    msk_dlq::run_reprocessor(None).await
}
