//! Reads the event source mapping of a function from a SAM template: the
//! function's `MSK` (or `SelfManagedKafka`) event, its `Timeout`, and the
//! `!Ref` parameters they use (their defaults).

use std::time::Duration;

use serde_yaml::Value;

use crate::settings::{unlimited, EsmSettings, EventShape, SettingsError, StartingPosition};

/// Why the template could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file could not be read or parsed.
    #[error("cannot read template {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The function or its event is not there.
    #[error("template has no {0}")]
    NotFound(String),
    /// A value that cannot be resolved locally.
    #[error("{field} of {event}: {message}")]
    Value {
        /// The event.
        event: String,
        /// The property.
        field: String,
        /// Why.
        message: String,
    },
    /// A setting Lambda would refuse.
    #[error(transparent)]
    Setting(#[from] SettingsError),
}

/// The on-failure destination as the template names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRef {
    /// `SQS`, `SNS`, `S3` or `Kafka`.
    pub kind: String,
    /// The template resource (logical id) or, for Kafka, the topic.
    pub target: String,
}

/// What the template says beyond the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateEvent {
    /// The event's name under the function's `Events`.
    pub name: String,
    /// The on-failure destination, unmapped.
    pub on_failure: Option<DestinationRef>,
}

struct Resolver<'a> {
    template: &'a Value,
    event: String,
}

impl Resolver<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> TemplateError {
        TemplateError::Value {
            event: self.event.clone(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// A scalar, or a `!Ref` to a parameter with a default.
    fn scalar(&self, field: &str, v: &Value) -> Result<String, TemplateError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Tagged(t) if t.tag == "!Ref" => {
                let name = t
                    .value
                    .as_str()
                    .ok_or_else(|| self.err(field, "!Ref without a name"))?;
                let default = &self.template["Parameters"][name]["Default"];
                if default.is_null() {
                    return Err(self.err(field, format!("!Ref {name} is not a parameter with a default; pass the value as a flag")));
                }
                self.scalar(field, default)
            }
            other => Err(self.err(
                field,
                format!("cannot resolve {other:?} locally; pass the value as a flag"),
            )),
        }
    }

    fn number(&self, field: &str, v: &Value) -> Result<String, TemplateError> {
        self.scalar(field, v)
    }
}

/// Fills `settings` from `function`'s Kafka event in the template at `path`
/// (`event` picks one when the function has several).
pub fn apply(
    path: &str,
    function: &str,
    event: Option<&str>,
    settings: &mut EsmSettings,
) -> Result<TemplateEvent, TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let template: Value = serde_yaml::from_str(&text).map_err(|e| TemplateError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let f = &template["Resources"][function];
    if f.is_null() {
        return Err(TemplateError::NotFound(format!("resource {function}")));
    }
    let events = f["Properties"]["Events"]
        .as_mapping()
        .ok_or_else(|| TemplateError::NotFound(format!("Events on {function}")))?;
    let (name, ev) = events
        .iter()
        .filter(|(_, e)| matches!(e["Type"].as_str(), Some("MSK" | "SelfManagedKafka")))
        .find(|(n, _)| event.is_none_or(|want| n.as_str() == Some(want)))
        .ok_or_else(|| {
            TemplateError::NotFound(format!(
                "MSK or SelfManagedKafka event{} on {function}",
                event.map(|e| format!(" {e}")).unwrap_or_default()
            ))
        })?;
    let name = name.as_str().unwrap_or_default().to_owned();
    let r = Resolver {
        template: &template,
        event: format!("{function}.Events.{name}"),
    };
    let p = &ev["Properties"];

    if let Some(topics) = p["Topics"].as_sequence() {
        settings.topics = topics
            .iter()
            .map(|t| r.scalar("Topics", t))
            .collect::<Result<_, _>>()?;
    }
    if !p["ConsumerGroupId"].is_null() {
        settings.consumer_group = r.scalar("ConsumerGroupId", &p["ConsumerGroupId"])?;
    }
    if !p["StartingPosition"].is_null() {
        settings.starting_position = match r
            .scalar("StartingPosition", &p["StartingPosition"])?
            .as_str()
        {
            "TRIM_HORIZON" => StartingPosition::TrimHorizon,
            "LATEST" => StartingPosition::Latest,
            other => {
                return Err(r.err(
                    "StartingPosition",
                    format!("{other} (the emulator knows TRIM_HORIZON and LATEST)"),
                ))
            }
        };
    }
    let int = |field: &'static str, v: &Value| -> Result<Option<i64>, TemplateError> {
        if v.is_null() {
            return Ok(None);
        }
        let text = r.number(field, v)?;
        text.parse::<i64>()
            .map(Some)
            .map_err(|_| r.err(field, format!("{text} is not an integer")))
    };
    if let Some(n) = int("BatchSize", &p["BatchSize"])? {
        settings.batch_size = usize::try_from(n).unwrap_or(0);
    }
    if let Some(n) = int(
        "MaximumBatchingWindowInSeconds",
        &p["MaximumBatchingWindowInSeconds"],
    )? {
        settings.batching_window = Duration::from_secs(u64::try_from(n).unwrap_or(u64::MAX));
    }
    if !p["MaximumRetryAttempts"].is_null() {
        let text = r.number("MaximumRetryAttempts", &p["MaximumRetryAttempts"])?;
        settings.max_retry_attempts =
            unlimited("MaximumRetryAttempts", &text)?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    }
    if !p["MaximumRecordAgeInSeconds"].is_null() {
        let text = r.number("MaximumRecordAgeInSeconds", &p["MaximumRecordAgeInSeconds"])?;
        settings.max_record_age =
            unlimited("MaximumRecordAgeInSeconds", &text)?.map(Duration::from_secs);
    }
    if !p["BisectBatchOnFunctionError"].is_null() {
        settings.bisect_on_error = r.scalar(
            "BisectBatchOnFunctionError",
            &p["BisectBatchOnFunctionError"],
        )? == "true";
    }
    settings.report_batch_item_failures =
        p["FunctionResponseTypes"]
            .as_sequence()
            .is_some_and(|types| {
                types
                    .iter()
                    .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
            });
    if ev["Type"].as_str() == Some("SelfManagedKafka") {
        settings.shape = EventShape::SelfManaged;
    } else if let Ok(arn) = r.scalar("Stream", &p["Stream"]) {
        settings.shape = EventShape::Msk { arn };
    }
    let timeout = if f["Properties"]["Timeout"].is_null() {
        &template["Globals"]["Function"]["Timeout"]
    } else {
        &f["Properties"]["Timeout"]
    };
    if !timeout.is_null() {
        let secs = r.number("Timeout", timeout)?;
        settings.function_timeout = Duration::from_secs(
            secs.parse()
                .map_err(|_| r.err("Timeout", format!("{secs} is not a number of seconds")))?,
        );
    }
    let on_failure = &p["DestinationConfig"]["OnFailure"];
    let on_failure = if on_failure.is_null() {
        None
    } else {
        let kind = r.scalar("DestinationConfig.OnFailure.Type", &on_failure["Type"])?;
        let dest = &on_failure["Destination"];
        let target = match dest {
            Value::Tagged(t) if t.tag == "!GetAtt" => t
                .value
                .as_str()
                .and_then(|s| s.split('.').next())
                .map(str::to_owned)
                .ok_or_else(|| {
                    r.err(
                        "DestinationConfig.OnFailure.Destination",
                        "!GetAtt without a resource",
                    )
                })?,
            Value::Tagged(t)
                if t.tag == "!Ref"
                    && template["Resources"][t.value.as_str().unwrap_or_default()].is_mapping() =>
            {
                t.value.as_str().unwrap_or_default().to_owned()
            }
            other => {
                let text = r.scalar("DestinationConfig.OnFailure.Destination", other)?;
                text.strip_prefix("kafka://")
                    .map(str::to_owned)
                    .unwrap_or(text)
            }
        };
        Some(DestinationRef { kind, target })
    };
    Ok(TemplateEvent { name, on_failure })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_template_maps_to_settings() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let mut s = EsmSettings::new("127.0.0.1:1", vec![]);
        let ev = apply(path, "ConsumerFunction", None, &mut s).unwrap();
        assert_eq!(ev.name, "Orders");
        assert_eq!(s.topics, vec!["orders".to_owned()]);
        assert_eq!(s.consumer_group, "orders-consumer");
        assert_eq!(s.batch_size, 100);
        assert!(s.report_batch_item_failures);
        assert!(s.bisect_on_error);
        assert_eq!(s.max_retry_attempts, Some(3));
        assert_eq!(s.function_timeout, Duration::from_secs(120));
        assert_eq!(
            ev.on_failure,
            Some(DestinationRef {
                kind: "SQS".into(),
                target: "DeadLetterQueue".into()
            })
        );
        assert!(apply(path, "NoSuchFunction", None, &mut s).is_err());
    }
}
