//! Kafka clients shared by the DLQ sink, the replayer and the operator CLI:
//! connection security, the client context (MSK IAM tokens, librdkafka's
//! logs), one producer pool with confirmed sends, and header conversion.

mod producer;
mod scan;

pub use scan::read_topic;

pub use producer::{
    is_fatal, send_confirmed, Delivered, OutRecord, ProduceError, Producer, ProducerPool,
};

use std::error::Error;
use std::fmt;

use rdkafka::client::OAuthToken;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerContext;
use rdkafka::message::OwnedHeaders;
use rdkafka::ClientContext;

use crate::record::Header;

/// How a client authenticates and encrypts its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Security {
    /// No TLS, no authentication (local brokers).
    #[default]
    Plaintext,
    /// TLS, no authentication.
    Tls,
    /// SASL/SCRAM-SHA-256 over TLS.
    #[cfg_attr(feature = "clap", value(name = "scram-sha-256"))]
    ScramSha256,
    /// SASL/SCRAM-SHA-512 over TLS (MSK's SCRAM).
    #[cfg_attr(feature = "clap", value(name = "scram-sha-512"))]
    ScramSha512,
    /// MSK IAM: SASL/OAUTHBEARER with a SigV4-signed token.
    Iam,
}

impl Security {
    /// Every mode, in a stable order.
    pub const ALL: [Security; 5] = [
        Security::Plaintext,
        Security::Tls,
        Security::ScramSha256,
        Security::ScramSha512,
        Security::Iam,
    ];

    /// The configuration name, e.g. `scram-sha-512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Plaintext => "plaintext",
            Security::Tls => "tls",
            Security::ScramSha256 => "scram-sha-256",
            Security::ScramSha512 => "scram-sha-512",
            Security::Iam => "iam",
        }
    }

    /// Whether it needs a SCRAM user name and password.
    pub fn is_scram(self) -> bool {
        matches!(self, Security::ScramSha256 | Security::ScramSha512)
    }
}

/// A security name that is not one of [`Security::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Kafka security {0:?}: expected one of plaintext, tls, scram-sha-256, scram-sha-512, iam")]
pub struct UnknownSecurity(pub String);

impl std::str::FromStr for Security {
    type Err = UnknownSecurity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Security::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownSecurity(s.to_owned()))
    }
}

/// How to reach a cluster. The password is never printed.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KafkaConnection {
    /// `None`: use the event's `bootstrapServers`.
    pub bootstrap_servers: Option<String>,
    /// Authentication and encryption.
    pub security: Security,
    /// SCRAM user name.
    pub sasl_username: Option<String>,
    /// SCRAM password.
    pub sasl_password: Option<String>,
    /// CA bundle for TLS; `None`: the system's.
    pub ca_location: Option<String>,
    /// The region MSK IAM tokens are signed for.
    pub region: Option<String>,
}

impl fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("security", &self.security)
            .field("sasl_username", &self.sasl_username)
            .field(
                "sasl_password",
                &self.sasl_password.as_ref().map(|_| "<redacted>"),
            )
            .field("ca_location", &self.ca_location)
            .field("region", &self.region)
            .finish()
    }
}

impl Default for KafkaConnection {
    /// Plaintext, cluster taken from each event.
    fn default() -> Self {
        Self {
            bootstrap_servers: None,
            security: Security::Plaintext,
            sasl_username: None,
            sasl_password: None,
            ca_location: None,
            region: None,
        }
    }
}

impl KafkaConnection {
    /// A plaintext connection to `bootstrap`.
    pub fn plaintext(bootstrap: &str) -> Self {
        Self {
            bootstrap_servers: Some(bootstrap.to_owned()),
            security: Security::Plaintext,
            sasl_username: None,
            sasl_password: None,
            ca_location: None,
            region: None,
        }
    }

    /// librdkafka settings for this connection to `bootstrap`.
    pub fn client_config(&self, bootstrap: &str) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", bootstrap);
        let protocol = match self.security {
            Security::Plaintext => "plaintext",
            Security::Tls => "ssl",
            Security::ScramSha256 | Security::ScramSha512 | Security::Iam => "sasl_ssl",
        };
        cfg.set("security.protocol", protocol);
        match self.security {
            Security::ScramSha256 | Security::ScramSha512 => {
                let mech = if self.security == Security::ScramSha256 {
                    "SCRAM-SHA-256"
                } else {
                    "SCRAM-SHA-512"
                };
                cfg.set("sasl.mechanism", mech);
                cfg.set(
                    "sasl.username",
                    self.sasl_username.as_deref().unwrap_or_default(),
                );
                cfg.set(
                    "sasl.password",
                    self.sasl_password.as_deref().unwrap_or_default(),
                );
            }
            Security::Iam => {
                cfg.set("sasl.mechanism", "OAUTHBEARER");
            }
            Security::Plaintext | Security::Tls => {}
        }
        if let Some(ca) = &self.ca_location {
            cfg.set("ssl.ca.location", ca);
        }
        cfg
    }

    /// The client context for this connection.
    pub fn context(&self) -> KafkaContext {
        KafkaContext {
            iam_region: (self.security == Security::Iam)
                .then(|| self.region.clone().unwrap_or_default()),
        }
    }
}

/// Client context: supplies MSK IAM tokens when IAM auth is on, and sends
/// librdkafka's logs to `tracing`.
#[derive(Debug, Clone, Default)]
pub struct KafkaContext {
    iam_region: Option<String>,
}

impl ClientContext for KafkaContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(facility = fac, "librdkafka: {log_message}")
            }
            L::Warning => tracing::warn!(facility = fac, "librdkafka: {log_message}"),
            L::Notice | L::Info => tracing::info!(facility = fac, "librdkafka: {log_message}"),
            L::Debug => tracing::debug!(facility = fac, "librdkafka: {log_message}"),
        }
    }

    fn generate_oauth_token(&self, _config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        let Some(region) = self.iam_region.clone() else {
            return Err("OAUTHBEARER token requested but MSK IAM auth is not configured".into());
        };
        // librdkafka calls this from its own thread; sign on a short-lived
        // runtime of our own so this works whatever thread we are on.
        let signed = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(aws_msk_iam_sasl_signer::generate_auth_token(
                aws_config::Region::new(region),
            ))
            .map_err(|e| -> Box<dyn Error + Send + Sync> { e.to_string().into() })
        })
        .join()
        .map_err(|_| "MSK IAM token signer panicked")?;
        let (token, lifetime_ms) =
            signed.map_err(|e| format!("MSK IAM token could not be signed: {e}"))?;
        Ok(OAuthToken {
            token,
            principal_name: String::new(),
            lifetime_ms,
        })
    }
}

impl ConsumerContext for KafkaContext {}

/// A Kafka message's headers, in order, as owned bytes (null values empty).
pub fn headers_of<M: rdkafka::Message>(m: &M) -> Vec<Header> {
    use rdkafka::message::Headers as _;
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| Header::new(h.key, h.value.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Headers for a message to produce, in order.
pub fn owned_headers(headers: &[Header]) -> OwnedHeaders {
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for h in headers {
        owned = owned.insert(rdkafka::message::Header {
            key: &h.name,
            value: Some(&h.value),
        });
    }
    owned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(security: Security) -> KafkaConnection {
        KafkaConnection {
            bootstrap_servers: None,
            security,
            sasl_username: Some("user".into()),
            sasl_password: Some("s3cret".into()),
            ca_location: None,
            region: Some("us-east-1".into()),
        }
    }

    #[test]
    fn security_modes_map_to_librdkafka_settings() {
        let c = conn(Security::ScramSha512).client_config("b:9096");
        assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(c.get("sasl.username"), Some("user"));
        let c = conn(Security::Iam).client_config("b:9098");
        assert_eq!(c.get("sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(c.get("sasl.password"), None);
        assert_eq!(
            conn(Security::Tls)
                .client_config("b:9094")
                .get("security.protocol"),
            Some("ssl")
        );
        assert_eq!(
            conn(Security::Plaintext)
                .client_config("b:9092")
                .get("security.protocol"),
            Some("plaintext")
        );
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let text = format!("{:?}", conn(Security::ScramSha256));
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
