//! A Confluent-compatible registry's REST API (Confluent Platform and
//! Cloud, Redpanda, Karapace, Apicurio's compatibility API):
//! `GET /schemas/ids/{id}`.

use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{header, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::framing::SchemaId;
use super::registry::{RegisteredSchema, RegistryError, SchemaRegistry};

// A schema is kilobytes; a bound keeps a wrong URL from filling memory.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
const ACCEPT: &str = "application/vnd.schemaregistry.v1+json, application/json";

/// A registry URL or setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfluentConfigError {
    /// Not an http(s) URL.
    #[error("schema registry URL {url:?} is not an http:// or https:// URL")]
    Url {
        /// The URL given.
        url: String,
    },
    /// The machine's trusted certificates cannot be read.
    #[error("cannot load the trusted root certificates for the schema registry: {0}")]
    Roots(#[source] std::io::Error),
}

/// A client of a Confluent-compatible schema registry.
#[derive(Clone)]
pub struct ConfluentRegistry {
    base: String,
    authorization: Option<String>,
    timeout: Duration,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for ConfluentRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credentials stay out of logs.
        f.debug_struct("ConfluentRegistry")
            .field("base", &self.base)
            .field("authenticated", &self.authorization.is_some())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    schema: String,
    // Absent for Avro, the registry's first format.
    #[serde(default)]
    schema_type: Option<String>,
}

impl ConfluentRegistry {
    /// A client of the registry at `url` (`https://registry:8081`).
    pub fn new(url: &str) -> Result<Self, ConfluentConfigError> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let ok = base
            .parse::<Uri>()
            .ok()
            .filter(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
        if ok.is_none() {
            return Err(ConfluentConfigError::Url {
                url: url.to_owned(),
            });
        }
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(ConfluentConfigError::Roots)?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base,
            authorization: None,
            timeout: Duration::from_secs(5),
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends HTTP basic credentials (Confluent Cloud: API key and secret).
    #[must_use]
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    /// How long one request may take (5 s unless set).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn get(
        &self,
        id: u32,
    ) -> Result<(StatusCode, Bytes), Box<dyn std::error::Error + Send + Sync>> {
        let mut req =
            Request::get(format!("{}/schemas/ids/{id}", self.base)).header(header::ACCEPT, ACCEPT);
        if let Some(auth) = &self.authorization {
            req = req.header(header::AUTHORIZATION, auth);
        }
        let req = req.body(Empty::new())?;
        let call = async {
            let res = self.client.request(req).await?;
            let status = res.status();
            let body = Limited::new(res.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body.to_bytes()))
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))?
    }
}

impl SchemaRegistry for ConfluentRegistry {
    async fn schema(&self, id: SchemaId) -> Result<RegisteredSchema, RegistryError> {
        let SchemaId::Confluent(n) = id else {
            return Err(RegistryError::NotConfigured { id });
        };
        let (status, body) = self
            .get(n)
            .await
            .map_err(|source| RegistryError::Unavailable { id, source })?;
        match status {
            StatusCode::OK => {
                let a: Answer =
                    serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
                        id,
                        reason: format!("the answer is not a schema: {e}"),
                    })?;
                Ok(RegisteredSchema::new(
                    a.schema_type.unwrap_or_else(|| "AVRO".to_owned()),
                    a.schema,
                ))
            }
            StatusCode::NOT_FOUND => Err(RegistryError::NotFound { id }),
            // Throttling, server errors and refused credentials may all
            // pass once someone acts: retry rather than dead-letter.
            other => Err(RegistryError::Unavailable {
                id,
                source: format!(
                    "HTTP {other}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                )
                .into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_credentials_kept_out_of_debug() {
        assert!(matches!(
            ConfluentRegistry::new("registry:8081"),
            Err(ConfluentConfigError::Url { .. })
        ));
        let r = ConfluentRegistry::new("http://127.0.0.1:8081/")
            .unwrap()
            .basic_auth("key", "secret");
        assert_eq!(r.base, "http://127.0.0.1:8081");
        assert!(!format!("{r:?}").contains("secret"));
    }
}
