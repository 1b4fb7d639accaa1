//! Configuration in code instead of environment variables: independent
//! records, five attempts, an SQS dead-letter queue, the SDK configured by
//! the program, and a closure as the handler. The environment still fills
//! in what code leaves out (`from_env`).

use std::time::Duration;

use msk_dlq::consumer::RetryPolicy;
use msk_dlq::sink::{SinkConfig, SinkKind};
use msk_dlq::{handler_fn, ConsumerBuilder, ConsumerSettings, HandlerError, PartitionOrder};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    msk_dlq::lambda::init_tracing();

    let mut settings = ConsumerSettings::default();
    settings.order = PartitionOrder::Independent;
    settings.retry = RetryPolicy::new(5, Duration::from_millis(200), Duration::from_secs(3));

    let mut sink = SinkConfig::default();
    sink.primary = SinkKind::Sqs;
    sink.sqs_queue_url = Some("https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq".into());

    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;

    let handler = handler_fn(|record, _ctx| async move {
        match record.value() {
            Some(v) if v.starts_with(b"{") => Ok(()),
            Some(_) => Err(HandlerError::permanent(
                "NotJson",
                "value is not a JSON object",
            )),
            None => Ok(()),
        }
    });

    let consumer = ConsumerBuilder::new(handler)
        .settings(settings)
        .sink_config(sink)
        .sdk_config(sdk)
        .from_env()
        .build()
        .await?;
    // The consumer is a `tower::Service`: add layers here if you need them.
    lambda_runtime::run(consumer).await
}
