//! AWS SDK clients from the standard credential chain. A local endpoint is
//! picked up from `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_SQS` ...), which
//! the SDK reads itself; S3 then needs path-style addressing.

use aws_config::{BehaviorVersion, SdkConfig};

/// The SDK settings from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client; path-style addressing when a local endpoint is set.
#[cfg(feature = "s3")]
pub fn s3(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    let local = std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let conf = aws_sdk_s3::config::Builder::from(cfg)
        .force_path_style(local)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
