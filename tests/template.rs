//! Safety properties of the SAM template, checked on the parsed YAML.

use serde_yaml::Value;

fn template() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
        .collect()
}

fn functions(t: &Value) -> Vec<(String, &Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect()
}

/// Strips a CloudFormation short-form tag (`!Ref X`) to its value.
fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match untag(v) {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// Every IAM statement of the functions' inline policies, conditional
/// ones included.
fn statements(f: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for policy in f["Properties"]["Policies"].as_sequence().unwrap() {
        for s in policy["Statement"].as_sequence().unwrap() {
            match s {
                Value::Tagged(t) => out.push(&t.value.as_sequence().unwrap()[1]),
                other => out.push(other),
            }
        }
    }
    out
}

#[test]
fn consumer_event_source_is_safe_by_construction() {
    let t = template();
    let consumer = &t["Resources"]["ConsumerFunction"];
    let msk = &consumer["Properties"]["Events"]["Orders"];
    assert_eq!(msk["Type"], "MSK");
    let p = &msk["Properties"];
    assert_eq!(
        strings(&p["FunctionResponseTypes"]),
        vec!["ReportBatchItemFailures"]
    );
    assert_eq!(p["BisectBatchOnFunctionError"], Value::Bool(true));
    assert!(p["ProvisionedPollerConfig"]["MinimumPollers"]
        .as_u64()
        .is_some());
    // Retries bounded: a parameter that cannot be -1 (infinite).
    let param = untag(&p["MaximumRetryAttempts"]).as_str().unwrap();
    let param = &t["Parameters"][param];
    assert!(param["MinValue"].as_i64().unwrap() >= 0);
    assert!(param["MaxValue"].as_i64().unwrap() <= 10_000);
    // Lambda's own on-failure destination behind ours.
    let on_failure = &p["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert!(!matches!(on_failure["Destination"], Value::Null));
}

#[test]
fn functions_are_rust_on_al2023() {
    let t = template();
    let fs = functions(&t);
    assert_eq!(fs.len(), 2);
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(t["Globals"]["Function"]["Handler"], "bootstrap");
    for (name, f) in fs {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        assert!(
            f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .is_some(),
            "{name}"
        );
    }
}

#[test]
fn no_wildcard_resource_on_data_plane_permissions() {
    let t = template();
    for (name, f) in functions(&t) {
        for s in statements(f) {
            let resources = strings(&s["Resource"]);
            let actions = strings(&s["Action"]);
            if resources.iter().any(|r| r == "*") {
                // Only EC2 networking, whose Describe calls have no
                // resource-level permissions, may use "*".
                assert!(
                    actions.iter().all(|a| a.starts_with("ec2:")),
                    "{name}: {actions:?} on *"
                );
            }
            for a in &actions {
                assert!(
                    !a.ends_with(":*") && a != "*",
                    "{name}: action wildcard {a}"
                );
            }
        }
    }
}

#[test]
fn dead_letter_storage_is_encrypted_and_outlives_the_source() {
    let t = template();
    for (name, r) in resources(&t) {
        match r["Type"].as_str().unwrap() {
            "AWS::SQS::Queue" => {
                let p = &r["Properties"];
                assert!(
                    p["SqsManagedSseEnabled"] == Value::Bool(true)
                        || !matches!(p["KmsMasterKeyId"], Value::Null),
                    "{name}"
                );
                // MSK keeps 7 days by default; dead letters must stay longer.
                assert!(
                    p["MessageRetentionPeriod"].as_u64().unwrap() > 7 * 86_400,
                    "{name}"
                );
            }
            "AWS::SNS::Topic" => assert!(
                !matches!(r["Properties"]["KmsMasterKeyId"], Value::Null),
                "{name}"
            ),
            "AWS::S3::Bucket" => {
                let p = &r["Properties"];
                assert!(!matches!(p["BucketEncryption"], Value::Null), "{name}");
                assert_eq!(
                    p["PublicAccessBlockConfiguration"]["BlockPublicAcls"],
                    Value::Bool(true)
                );
            }
            _ => {}
        }
    }
}

#[test]
fn alarms_cover_dlq_growth_write_failures_breaker_and_parking() {
    let t = template();
    let metrics: Vec<String> = resources(&t)
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(_, r)| r["Properties"]["MetricName"].as_str().unwrap().to_owned())
        .collect();
    for m in [
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "DlqWriteFailures",
        "BreakerOpen",
        "RecordsDeadLettered",
        "FloodGuardHeld",
        "OldestFetchBackAge",
    ] {
        assert!(metrics.iter().any(|x| x == m), "no alarm on {m}");
    }
    assert!(resources(&t)
        .iter()
        .any(|(_, r)| r["Type"] == "AWS::CloudWatch::Dashboard"));
}

#[test]
fn reprocessor_triggers_report_partial_failures() {
    let t = template();
    let events = t["Resources"]["ReprocessorFunction"]["Properties"]["Events"]
        .as_mapping()
        .unwrap();
    assert_eq!(events.len(), 2);
    for (_, e) in events {
        assert_eq!(
            strings(&e["Properties"]["FunctionResponseTypes"]),
            vec!["ReportBatchItemFailures"]
        );
    }
}

#[test]
fn lp02_every_msk_trigger_with_bounded_retries_has_a_destination_and_provisioned_pollers() {
    let t = template();
    for (name, f) in functions(&t) {
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (ev, e) in events {
            if e["Type"] != "MSK" && e["Type"] != "SelfManagedKafka" {
                continue;
            }
            let p = &e["Properties"];
            let ev = ev.as_str().unwrap();
            assert!(
                p["ProvisionedPollerConfig"].is_mapping(),
                "{name}.{ev}: Kafka retry controls need provisioned pollers"
            );
            if !p["MaximumRetryAttempts"].is_null() {
                assert!(
                    p["DestinationConfig"]["OnFailure"]["Destination"].is_mapping()
                        || p["DestinationConfig"]["OnFailure"]["Destination"].is_string()
                        || matches!(p["DestinationConfig"]["OnFailure"]["Destination"], Value::Tagged(_)),
                    "{name}.{ev}: records out of retries would be discarded without an on-failure destination"
                );
            }
        }
    }
}

#[test]
fn lp07_idempotent_writes_are_granted_on_the_cluster() {
    let t = template();
    for (name, f) in functions(&t) {
        for s in statements(f) {
            if strings(&s["Action"])
                .iter()
                .any(|a| a == "kafka-cluster:WriteDataIdempotently")
            {
                // A cluster action: a topic ARN as its resource grants nothing.
                let r = serde_yaml::to_string(&s["Resource"]).unwrap();
                assert!(
                    r.contains("ClusterArn") && !r.contains(":topic/"),
                    "{name}: WriteDataIdempotently must name the cluster ARN, not {r}"
                );
            }
        }
    }
}

/// Each MSK trigger as (mapping logical id SAM generates, its properties).
fn msk_mappings(t: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (name, f) in functions(t) {
        for (event, e) in f["Properties"]["Events"].as_mapping().unwrap() {
            if e["Type"] == "MSK" {
                out.push((
                    format!("{name}{}", event.as_str().unwrap()),
                    &e["Properties"],
                ));
            }
        }
    }
    out
}

#[test]
fn every_msk_mapping_publishes_lambdas_metrics_and_its_drop_paths_alarm() {
    let t = template();
    let mappings = msk_mappings(&t);
    assert_eq!(mappings.len(), 2, "the consumer's and the reprocessor's");
    let alarms: Vec<(String, String)> = resources(&t)
        .into_iter()
        .filter(|(_, r)| {
            r["Type"] == "AWS::CloudWatch::Alarm" && r["Properties"]["Namespace"] == "AWS/Lambda"
        })
        .map(|(_, r)| {
            let dims = r["Properties"]["Dimensions"].as_sequence().unwrap();
            assert_eq!(dims.len(), 1);
            assert_eq!(dims[0]["Name"], "EventSourceMappingUUID");
            let mapping = strings(&dims[0]["Value"]).concat();
            (
                r["Properties"]["MetricName"].as_str().unwrap().to_owned(),
                mapping,
            )
        })
        .collect();
    for (mapping, props) in &mappings {
        let metrics = strings(&props["MetricsConfig"]["Metrics"]);
        assert_eq!(
            metrics,
            ["EventCount", "ErrorCount", "KafkaMetrics"],
            "{mapping}"
        );
        for m in [
            "DroppedEventCount",
            "OnFailureDestinationDeliveryErrorCount",
            "CommitErrorCount",
        ] {
            assert!(
                alarms.contains(&(m.to_owned(), mapping.clone())),
                "no {m} alarm on {mapping}: {alarms:?}"
            );
        }
    }
    for m in ["SchemaRegistryErrorCount", "MaxOffsetLag"] {
        assert!(
            alarms.contains(&(m.to_owned(), "ConsumerFunctionOrders".to_owned())),
            "no {m} alarm"
        );
    }
    // Every alarm names a mapping that exists.
    let names: Vec<&String> = mappings.iter().map(|(n, _)| n).collect();
    assert!(alarms.iter().all(|(_, m)| names.contains(&m)), "{alarms:?}");
}

/// The IAM action each AWS SDK operation the code may call needs.
const SDK_ACTIONS: &[(&str, &str)] = &[
    ("send_message_batch", "sqs:SendMessage"),
    ("send_message", "sqs:SendMessage"),
    ("receive_message", "sqs:ReceiveMessage"),
    ("delete_message_batch", "sqs:DeleteMessage"),
    ("delete_message", "sqs:DeleteMessage"),
    (
        "change_message_visibility_batch",
        "sqs:ChangeMessageVisibility",
    ),
    ("change_message_visibility", "sqs:ChangeMessageVisibility"),
    ("get_queue_attributes", "sqs:GetQueueAttributes"),
    ("get_queue_url", "sqs:GetQueueUrl"),
    ("purge_queue", "sqs:PurgeQueue"),
    ("publish_batch", "sns:Publish"),
    ("publish", "sns:Publish"),
    (
        "list_subscriptions_by_topic",
        "sns:ListSubscriptionsByTopic",
    ),
    ("get_topic_attributes", "sns:GetTopicAttributes"),
    ("put_object", "s3:PutObject"),
    ("get_object", "s3:GetObject"),
    ("head_object", "s3:GetObject"),
    ("delete_object", "s3:DeleteObject"),
    ("list_objects_v2", "s3:ListBucket"),
    ("get_caller_identity", "sts:GetCallerIdentity"),
];

/// The code each function runs.
fn code_of(function: &str) -> &'static [&'static str] {
    match function {
        "ConsumerFunction" => &[
            "src/sink",
            "src/lambda/consumer.rs",
            "src/consumer",
            "src/kafka",
            "src/aws.rs",
        ],
        "ReprocessorFunction" => &[
            "src/replay",
            "src/sink",
            "src/lambda/reprocessor.rs",
            "src/kafka",
            "src/aws.rs",
        ],
        other => panic!("unknown function {other}"),
    }
}

fn rust_sources(path: &std::path::Path, out: &mut Vec<String>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            rust_sources(&e.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|x| x == "rs") {
        let text = std::fs::read_to_string(path).unwrap();
        // Unit tests do not run in Lambda.
        out.push(
            text.split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
    }
}

/// The actions the function's own SDK calls need, and those Lambda needs
/// for it: its event source mappings, its VPC attachment, rdkafka's
/// cluster actions, and KMS for an encrypted SNS topic.
fn needed_actions(function: &str) -> std::collections::BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    for p in code_of(function) {
        rust_sources(&root.join(p), &mut texts);
    }
    let code = texts.concat();
    let mut needed: std::collections::BTreeSet<String> = SDK_ACTIONS
        .iter()
        .filter(|(op, _)| code.contains(&format!(".{op}()")))
        .map(|(_, a)| (*a).to_owned())
        .collect();
    let lambda_needs = [
        // Kafka event source mappings (MSK, IAM auth).
        "kafka:DescribeCluster",
        "kafka:DescribeClusterV2",
        "kafka:GetBootstrapBrokers",
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeClusterDynamicConfiguration",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:ReadData",
        "kafka-cluster:AlterGroup",
        "kafka-cluster:DescribeGroup",
        // The VPC attachment.
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
        // SCRAM secrets for the mappings, and a registry's credentials.
        "secretsmanager:GetSecretValue",
        // The mapping's Glue schema registry validation.
        "glue:GetRegistry",
        "glue:GetSchemaVersion",
        // The idempotent producer (rdkafka) and what it writes.
        "kafka-cluster:WriteData",
        "kafka-cluster:WriteDataIdempotently",
    ];
    needed.extend(lambda_needs.iter().map(|s| (*s).to_owned()));
    if needed.contains("sns:Publish") {
        needed.extend(["kms:GenerateDataKey".to_owned(), "kms:Decrypt".to_owned()]);
    }
    if function == "ReprocessorFunction" {
        // The SQS event source mapping on the DLQ queue.
        needed.extend(
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ]
            .map(String::from),
        );
    }
    needed
}

/// Actions without resource-level permissions: `*` is the only resource.
const RESOURCE_STAR_ONLY: &[&str] = &[
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
];

#[test]
fn iam_grants_only_what_the_code_calls_on_named_resources() {
    let t = template();
    for (name, f) in functions(&t) {
        let needed = needed_actions(&name);
        for s in statements(f) {
            let actions = strings(&s["Action"]);
            for a in &actions {
                assert!(
                    needed.contains(a),
                    "{name} grants {a}, which neither its code nor Lambda calls for it ({:?})",
                    s["Sid"]
                );
                assert!(!a.ends_with('*'), "{name}: wildcard action {a}");
            }
            if strings(&s["Resource"]).iter().any(|r| r == "*") {
                for a in &actions {
                    assert!(
                        RESOURCE_STAR_ONLY.contains(&a.as_str()),
                        "{name}: {a} on every resource; it supports resource-level permissions"
                    );
                }
            }
        }
    }
}

#[test]
fn what_each_function_calls_is_granted() {
    // What each function calls in the deployed configuration (SQS DLQ with
    // claim checks, an SQS parking lot, the S3 audit trail).
    let calls: &[(&str, &[&str])] = &[
        (
            "ConsumerFunction",
            &[
                "sqs:SendMessage",
                "s3:PutObject",
                "kafka-cluster:WriteData",
                "kafka-cluster:WriteDataIdempotently",
                "sns:Publish",
                "sns:ListSubscriptionsByTopic",
            ],
        ),
        (
            "ReprocessorFunction",
            &[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:SendMessage",
                "s3:GetObject",
                "s3:PutObject",
                "kafka-cluster:ReadData",
                "kafka-cluster:WriteData",
                "kafka-cluster:WriteDataIdempotently",
            ],
        ),
    ];
    let t = template();
    for (name, f) in functions(&t) {
        let granted: std::collections::BTreeSet<String> = statements(f)
            .iter()
            .flat_map(|s| strings(&s["Action"]))
            .collect();
        let (_, wanted) = calls.iter().find(|(n, _)| *n == name).unwrap();
        for a in *wanted {
            assert!(
                granted.contains(*a),
                "{name} calls {a} but is not granted it"
            );
            assert!(
                needed_actions(&name).contains(*a),
                "{a} is not among {name}'s code's calls"
            );
        }
    }
}

#[test]
fn schema_registry_is_optional_and_the_consumer_knows_the_record_format() {
    let t = template();
    let consumer = &t["Resources"]["ConsumerFunction"]["Properties"];
    let event = &consumer["Events"]["Orders"]["Properties"];
    let cfg = &event["SchemaRegistryConfig"];
    // !If [HasSchemaRegistry, {...}, !Ref AWS::NoValue]: nothing without a URI.
    let branches = untag(cfg);
    let text = serde_yaml::to_string(branches).unwrap();
    assert!(text.contains("HasSchemaRegistry"), "{text}");
    assert!(text.contains("SchemaRegistryURI"), "{text}");
    assert!(text.contains("EventRecordFormat"), "{text}");
    let env = serde_yaml::to_string(
        &consumer["Environment"]["Variables"]["MSK_DLQ_SCHEMA_RECORD_FORMAT"],
    )
    .unwrap();
    assert!(
        env.contains("SchemaRecordFormat"),
        "dead letters must learn the mapping's EventRecordFormat: {env}"
    );
    let params = &t["Parameters"];
    assert_eq!(params["SchemaRegistryUri"]["Default"].as_str(), Some(""));
    let reprocessor =
        serde_yaml::to_string(&t["Resources"]["ReprocessorFunction"]["Properties"]["Environment"])
            .unwrap();
    assert!(
        reprocessor.contains("MSK_DLQ_REPLAY_WIRE_FORMAT"),
        "{reprocessor}"
    );
}
