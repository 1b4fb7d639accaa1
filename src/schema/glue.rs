//! The AWS Glue Schema Registry, through the AWS SDK: `GetSchemaVersion`
//! by the schema version id Glue's framing and Lambda's metadata carry.

use aws_sdk_glue::error::SdkError;
use aws_sdk_glue::operation::get_schema_version::GetSchemaVersionError;

use super::framing::SchemaId;
use super::registry::{RegisteredSchema, RegistryError, SchemaRegistry};

/// A client of the AWS Glue Schema Registry.
#[derive(Debug, Clone)]
pub struct GlueRegistry {
    client: aws_sdk_glue::Client,
}

impl GlueRegistry {
    /// A registry client over `client`.
    pub fn new(client: aws_sdk_glue::Client) -> Self {
        Self { client }
    }

    /// A client from the standard credential chain and region (and
    /// `AWS_ENDPOINT_URL` for a local endpoint).
    pub async fn from_env() -> Self {
        Self::new(aws_sdk_glue::Client::new(&crate::aws::sdk_config().await))
    }
}

impl SchemaRegistry for GlueRegistry {
    async fn schema(&self, id: SchemaId) -> Result<RegisteredSchema, RegistryError> {
        let SchemaId::Glue(version) = id else {
            return Err(RegistryError::NotConfigured { id });
        };
        let out = self
            .client
            .get_schema_version()
            .schema_version_id(version.hyphenated().to_string())
            .send()
            .await
            .map_err(|e| classify(id, e))?;
        match (out.data_format(), out.schema_definition()) {
            (Some(format), Some(definition)) => {
                Ok(RegisteredSchema::new(format.as_str(), definition))
            }
            _ => Err(RegistryError::Invalid {
                id,
                reason: "the answer has no data format or no definition".to_owned(),
            }),
        }
    }
}

fn classify(id: SchemaId, e: SdkError<GetSchemaVersionError>) -> RegistryError {
    match e.as_service_error() {
        Some(s) if s.is_entity_not_found_exception() => RegistryError::NotFound { id },
        Some(s) if s.is_invalid_input_exception() => RegistryError::Invalid {
            id,
            reason: s.to_string(),
        },
        // Access denied stays retryable: a policy fix makes it pass, and
        // dead-lettering every record meanwhile would be worse.
        _ => RegistryError::Unavailable {
            id,
            source: Box::new(e),
        },
    }
}
