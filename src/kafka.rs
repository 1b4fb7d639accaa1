//! Kafka client settings shared by the DLQ producer, the reprocessor and the
//! operator CLI: bootstrap servers and connection security.

use std::error::Error;
use std::fmt;

use rdkafka::client::OAuthToken;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerContext;
use rdkafka::ClientContext;

use crate::config::{ConfigError, Reader};

pub const VAR_BOOTSTRAP: &str = "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS";
pub const VAR_SECURITY: &str = "MSK_DLQ_KAFKA_SECURITY";
pub const VAR_SASL_USERNAME: &str = "MSK_DLQ_KAFKA_SASL_USERNAME";
pub const VAR_SASL_PASSWORD: &str = "MSK_DLQ_KAFKA_SASL_PASSWORD";
pub const VAR_CA_LOCATION: &str = "MSK_DLQ_KAFKA_CA_LOCATION";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plaintext,
    Tls,
    ScramSha256,
    ScramSha512,
    /// MSK IAM: SASL/OAUTHBEARER with a SigV4-signed token.
    Iam,
}

pub const SECURITY_CHOICES: &[(&str, Security)] = &[
    ("plaintext", Security::Plaintext),
    ("tls", Security::Tls),
    ("scram-sha-256", Security::ScramSha256),
    ("scram-sha-512", Security::ScramSha512),
    ("iam", Security::Iam),
];

/// How to reach a cluster. The password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    /// `None`: use the event's `bootstrapServers`.
    pub bootstrap_servers: Option<String>,
    pub security: Security,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<String>,
    pub ca_location: Option<String>,
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
            .finish()
    }
}

impl KafkaConnection {
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

    pub fn read(r: &mut Reader<'_>) -> Self {
        let security = r.choice(VAR_SECURITY, Security::Plaintext, SECURITY_CHOICES);
        let mut c = Self {
            bootstrap_servers: r.string(VAR_BOOTSTRAP),
            security,
            sasl_username: None,
            sasl_password: None,
            ca_location: r.string(VAR_CA_LOCATION),
            region: r
                .string("AWS_REGION")
                .or_else(|| r.string("AWS_DEFAULT_REGION")),
        };
        if matches!(security, Security::ScramSha256 | Security::ScramSha512) {
            let because = format!("{VAR_SECURITY} is a SCRAM mechanism");
            c.sasl_username = r.required(VAR_SASL_USERNAME, &because);
            c.sasl_password = r.required(VAR_SASL_PASSWORD, &because);
        }
        if security == Security::Iam && c.region.is_none() {
            r.errors.push(ConfigError::Missing {
                var: "AWS_REGION",
                because: format!("{VAR_SECURITY}=iam (the token is signed for a region)"),
            });
        }
        c
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
pub fn headers_of<M: rdkafka::Message>(m: &M) -> Vec<crate::event::Header> {
    use rdkafka::message::Headers as _;
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| crate::event::Header {
                    name: h.key.to_owned(),
                    value: h.value.unwrap_or_default().to_vec(),
                })
                .collect()
        })
        .unwrap_or_default()
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

    #[test]
    fn scram_and_iam_need_their_settings() {
        let vars = [(VAR_SECURITY, "scram-sha-512")];
        let mut r = Reader::new(&vars);
        KafkaConnection::read(&mut r);
        let text: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.starts_with("MSK_DLQ_KAFKA_SASL_USERNAME is required")),
            "{text:?}"
        );
        let vars = [(VAR_SECURITY, "iam")];
        let mut r = Reader::new(&vars);
        KafkaConnection::read(&mut r);
        assert!(r
            .errors
            .iter()
            .any(|e| e.to_string().starts_with("AWS_REGION is required")));
    }
}
