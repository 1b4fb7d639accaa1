//! Where writer schemas come from: a registry client behind a small trait
//! (Confluent-compatible REST, AWS Glue, or schemas bundled with the
//! function), so decoders are tested without servers.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;

use super::framing::SchemaId;

/// A schema as its registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredSchema {
    /// `AVRO`, `PROTOBUF` or `JSON` (Confluent's `JSON` is JSON Schema).
    pub data_format: String,
    /// The schema text.
    pub definition: String,
}

impl RegisteredSchema {
    /// A schema of `data_format` with text `definition`.
    pub fn new(data_format: impl Into<String>, definition: impl Into<String>) -> Self {
        Self {
            data_format: data_format.into(),
            definition: definition.into(),
        }
    }
}

/// A schema that cannot be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry answered that it has no such schema: retrying will not
    /// help (Lambda calls this `SCHEMA_NOT_FOUND`).
    #[error("schema {id} is not in the {} registry", id.registry())]
    NotFound {
        /// The id asked for.
        id: SchemaId,
    },
    /// No client for this kind of id (a Glue id with only a Confluent
    /// registry configured, say).
    #[error("schema {id} is a {} schema id, and no {} registry is configured", id.registry(), id.registry())]
    NotConfigured {
        /// The id asked for.
        id: SchemaId,
    },
    /// The registry did not answer, or answered with an error that may
    /// pass (throttling, a 5xx, a network fault): worth retrying.
    #[error("the {} registry did not serve schema {id}: {source}", id.registry())]
    Unavailable {
        /// The id asked for.
        id: SchemaId,
        /// What went wrong.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The registry's answer is not a schema this crate reads.
    #[error("the {} registry's schema {id} cannot be used: {reason}", id.registry())]
    Invalid {
        /// The id asked for.
        id: SchemaId,
        /// Why.
        reason: String,
    },
}

impl RegistryError {
    /// True when retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// A client of a schema registry.
pub trait SchemaRegistry: Send + Sync {
    /// The schema registered under `id`.
    fn schema(
        &self,
        id: SchemaId,
    ) -> impl Future<Output = Result<RegisteredSchema, RegistryError>> + Send;
}

impl<R: SchemaRegistry> SchemaRegistry for &R {
    fn schema(
        &self,
        id: SchemaId,
    ) -> impl Future<Output = Result<RegisteredSchema, RegistryError>> + Send {
        (**self).schema(id)
    }
}

/// Two registries, the second asked when the first has no client for the
/// id's kind: `(confluent, glue)` serves both kinds of id.
impl<A: SchemaRegistry, B: SchemaRegistry> SchemaRegistry for (A, B) {
    async fn schema(&self, id: SchemaId) -> Result<RegisteredSchema, RegistryError> {
        match self.0.schema(id).await {
            Err(RegistryError::NotConfigured { .. }) => self.1.schema(id).await,
            other => other,
        }
    }
}

/// Schemas known in advance: bundled with the function (no registry call
/// at all), or recorded for tests.
#[derive(Debug, Clone, Default)]
pub struct StaticRegistry {
    schemas: HashMap<SchemaId, RegisteredSchema>,
}

impl StaticRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `schema` under `id`.
    #[must_use]
    pub fn with(mut self, id: SchemaId, schema: RegisteredSchema) -> Self {
        self.schemas.insert(id, schema);
        self
    }
}

impl SchemaRegistry for StaticRegistry {
    async fn schema(&self, id: SchemaId) -> Result<RegisteredSchema, RegistryError> {
        self.schemas
            .get(&id)
            .cloned()
            .ok_or(RegistryError::NotFound { id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry of one kind only, as the REST and Glue clients are.
    struct OnlyGlue(StaticRegistry);

    impl SchemaRegistry for OnlyGlue {
        async fn schema(&self, id: SchemaId) -> Result<RegisteredSchema, RegistryError> {
            match id {
                SchemaId::Glue(_) => self.0.schema(id).await,
                SchemaId::Confluent(_) => Err(RegistryError::NotConfigured { id }),
            }
        }
    }

    #[tokio::test]
    async fn a_pair_asks_the_second_for_ids_the_first_cannot_serve() {
        let glue_id = SchemaId::parse("b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63").unwrap();
        let both = (
            OnlyGlue(StaticRegistry::new().with(glue_id, RegisteredSchema::new("AVRO", "\"int\""))),
            StaticRegistry::new().with(SchemaId::Confluent(3), RegisteredSchema::new("JSON", "{}")),
        );
        assert_eq!(both.schema(glue_id).await.unwrap().data_format, "AVRO");
        assert_eq!(
            both.schema(SchemaId::Confluent(3))
                .await
                .unwrap()
                .data_format,
            "JSON"
        );
        let missing = both.schema(SchemaId::Confluent(4)).await.unwrap_err();
        assert!(!missing.is_transient());
        assert_eq!(
            missing.to_string(),
            "schema 4 is not in the Confluent registry"
        );
    }
}
