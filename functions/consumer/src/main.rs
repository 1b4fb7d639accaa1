//! The example consumer Lambda: runs the orders demo handler over MSK
//! batches. Replace `OrdersHandler` with your own `RecordHandler`.

mod orders;

// A batch allocates and frees tens of thousands of small buffers; mimalloc
// does that in a fraction of glibc's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    msk_dlq::run(orders::OrdersHandler::from_env()?).await
}
