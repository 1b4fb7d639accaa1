//! AWS SDK clients from the standard credential chain. A local endpoint is
//! picked up from `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_SQS` ...), which
//! the SDK reads itself; S3 then needs path-style addressing.
//!
//! TLS is the SDK's default (rustls on aws-lc-rs) with the `tls-aws-lc`
//! feature, or rustls on ring with `tls-ring`.

use aws_config::{BehaviorVersion, SdkConfig};

// Without either, the SDK clients would have no HTTPS client and fail on
// their first call; the Kafka sink's IAM signer brings the SDK's default.
#[cfg(all(
    any(
        feature = "sqs",
        feature = "sns",
        feature = "s3",
        feature = "registry-glue"
    ),
    not(any(feature = "tls-aws-lc", feature = "tls-ring", feature = "kafka"))
))]
compile_error!(
    "msk-dlq: the AWS clients need TLS: enable the `tls-aws-lc` (the SDK's default) or the `tls-ring` feature"
);

/// The SDK settings from the environment.
pub async fn sdk_config() -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    // Also used by the credential chain's own calls (STS, SSO). Unlike the
    // SDK's default client, this one takes no proxy from the environment.
    #[cfg(feature = "tls-ring")]
    let loader = loader.http_client(
        aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https(),
    );
    loader.load().await
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
