//! The example consumer Lambda: runs the orders demo handler over MSK
//! batches. Replace `OrdersHandler` with your own `RecordHandler`.

mod orders;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    msk_dlq::run(orders::OrdersHandler::from_env()?).await
}
