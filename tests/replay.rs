//! Issue-level checks of the reprocessor and the operator CLI, end to end on
//! the local stack: dead-letter, inspect, replay, loop guard, fetch-back,
//! foreign DLQ formats, and the reprocessor binary behind a Runtime API.

mod common;

use std::time::Duration;

use common::stack::{
    self, consume, create_queue, create_topic, ensure_topic, event_of, header, headers_of, produce,
    unique,
};
use common::{env, read_event, workspace_bin};
use lambda_emulator::{Function, Reply};
use rdkafka::Message as _;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(30);
/// Local credentials, and the CLI's audit records in a scratch file.
fn aws_env() -> Vec<(String, String)> {
    let audit = std::env::temp_dir().join("msk-dlq-tests-audit.jsonl");
    let mut v = common::env(&[
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]);
    v.push(("MSK_DLQ_AUDIT".into(), audit.display().to_string()));
    v
}

/// The mixed sample event, its topic renamed to `topic`.
/// The sample event, as if it came from `topic` on the local cluster.
fn mixed_event_for(topic: &str) -> String {
    let mut event: Value = serde_json::from_str(&read_event("msk-mixed.json")).unwrap();
    event["bootstrapServers"] = Value::String(stack::kafka());
    event.to_string().replace("shop.orders-v1", topic)
}

async fn run_consumer(event: &str, vars: &[(&str, &str)]) -> String {
    let mut f = common::start_consumer(vars).await;
    let reply = f.invoke(event, TIMEOUT).await.unwrap();
    f.stop().await;
    match reply {
        Reply::Response(body) => body,
        other => panic!("consumer did not answer: {other:?}"),
    }
}

/// Runs the CLI; returns stdout, panicking with stderr on failure.
async fn cli(args: &[&str]) -> String {
    let out = tokio::process::Command::new(workspace_bin("msk-dlq"))
        .args(args)
        .envs(aws_env())
        .env("AWS_ENDPOINT_URL", stack::aws_endpoint())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "msk-dlq {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test]
async fn kafka_dlq_stats_replay_and_loop_guard() {
    let src = unique("orders");
    let dlq = unique("orders-dlq");
    let park = unique("orders-parking");
    create_topic(&src, 3).await;
    create_topic(&dlq, 3).await;
    create_topic(&park, 1).await;
    let kafka = stack::kafka();
    let sink = [
        ("MSK_DLQ_SINK", "kafka"),
        ("MSK_DLQ_KAFKA_TOPIC", dlq.as_str()),
        ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", kafka.as_str()),
    ];
    let resp = run_consumer(&mixed_event_for(&src), &sink).await;
    assert_eq!(resp, r#"{"batchItemFailures":[]}"#);

    let base = ["--kafka-topic", dlq.as_str(), "--bootstrap", kafka.as_str()];
    let stats = json(&cli(&[&base[..], &["stats", "--json"]].concat()).await);
    assert_eq!(stats["letters"], 5);
    assert_eq!(stats["byKind"]["permanent"], 3);
    assert_eq!(stats["byKind"]["retries-exhausted"], 1);
    assert_eq!(stats["byTopic"][&src], 5);

    let summary = json(&cli(&[&base[..], &["replay", "--json"]].concat()).await);
    assert_eq!(summary["replayed"], 5, "{summary}");

    // Back on the source topic: original key, value, headers and partition,
    // with dlq.replay-count = 1.
    let original = common::read_event("msk-mixed.json");
    let batch = msk_dlq::decode_event(&original).unwrap();
    let replayed = consume(&src, 3, 5);
    assert_eq!(replayed.len(), 5);
    for m in &replayed {
        let h = headers_of(m);
        assert_eq!(header(&h, "dlq.replay-count"), Some("1"));
        let orig = batch
            .entries()
            .find_map(|e| match &e.entry {
                msk_dlq::event::Entry::Record(r)
                    if r.value() == m.payload() && r.key() == m.key() =>
                {
                    Some(r.clone())
                }
                _ => None,
            })
            .expect("replayed record matches an original one byte for byte");
        assert_eq!(m.partition(), orig.partition());
        let user: Vec<(String, Vec<u8>)> = h
            .iter()
            .filter(|(k, _)| !k.starts_with("dlq."))
            .cloned()
            .collect();
        let want: Vec<(String, Vec<u8>)> = orig
            .headers()
            .iter()
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect();
        assert_eq!(user, want);
    }
    // The group moved past them: nothing left.
    let stats = json(&cli(&[&base[..], &["stats", "--json"]].concat()).await);
    assert_eq!(stats["letters"], 0);

    // They fail again (replay-count 1 travels along), and with a maximum of
    // one replay the loop guard parks them.
    let again = event_of(&replayed, &kafka);
    run_consumer(&again, &sink).await;
    let summary = json(
        &cli(&[
            &base[..],
            &[
                "replay",
                "--json",
                "--max-replays",
                "1",
                "--parking-kafka-topic",
                park.as_str(),
            ],
        ]
        .concat())
        .await,
    );
    assert_eq!(
        (summary["parked"].as_u64(), summary["replayed"].as_u64()),
        (Some(5), Some(0)),
        "{summary}"
    );
    let parked = consume(&park, 1, 5);
    assert_eq!(parked.len(), 5);
    for m in &parked {
        let h = headers_of(m);
        assert_eq!(header(&h, "dlq.replay-count"), Some("1"));
        assert_eq!(header(&h, "dlq.error.type"), Some("Parked"));
        assert_eq!(header(&h, "dlq.original.topic"), Some(src.as_str()));
    }
    assert_eq!(
        stack::consume_within(&src, 3, 6, Duration::from_secs(3)).len(),
        5,
        "nothing more replayed to the source"
    );
}

#[tokio::test]
async fn sqs_replay_deletes_only_confirmed_replays() {
    let src = unique("orders");
    create_topic(&src, 3).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("orders-dlq"), &[]).await;
    let endpoint = stack::aws_endpoint();
    let vars = [
        ("MSK_DLQ_SINK", "sqs"),
        ("MSK_DLQ_SQS_QUEUE_URL", url.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("MSK_DLQ_ORDERING", "independent"),
    ];
    run_consumer(&mixed_event_for(&src), &vars).await;
    let kafka = stack::kafka();
    let base = [
        "--sqs-queue-url",
        url.as_str(),
        "--bootstrap",
        kafka.as_str(),
    ];

    let dry = json(
        &cli(&[
            &base[..],
            &["replay", "--json", "--dry-run", "--kind", "permanent"],
        ]
        .concat())
        .await,
    );
    assert_eq!(dry["wouldReplay"], 3, "{dry}");
    assert_eq!(
        json(&cli(&[&base[..], &["stats", "--json"]].concat()).await)["letters"],
        5,
        "dry run changed nothing"
    );

    let summary =
        json(&cli(&[&base[..], &["replay", "--json", "--kind", "permanent"]].concat()).await);
    assert_eq!(
        (
            summary["replayed"].as_u64(),
            summary["filteredOut"].as_u64()
        ),
        (Some(3), Some(2)),
        "{summary}"
    );
    let stats = json(&cli(&[&base[..], &["stats", "--json"]].concat()).await);
    assert_eq!(stats["letters"], 2);
    assert_eq!(stats["byKind"]["manual"], 1);
    assert_eq!(stats["byKind"]["retries-exhausted"], 1);
    assert_eq!(consume(&src, 3, 3).len(), 3);

    // Export and peek see the rest without consuming it.
    let exported = cli(&[&base[..], &["export"]].concat()).await;
    assert_eq!(exported.lines().count(), 2);
    let peeked = cli(&[&base[..], &["peek", "--json"]].concat()).await;
    assert_eq!(peeked.lines().count(), 2);

    // Purge needs confirmation, then empties the queue.
    let refused = tokio::process::Command::new(workspace_bin("msk-dlq"))
        .args([&base[..], &["purge"]].concat())
        .envs(aws_env())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("without --yes"));
    cli(&[&base[..], &["purge", "--yes", "--kind", "manual"]].concat()).await;
    assert_eq!(
        json(&cli(&[&base[..], &["stats", "--json"]].concat()).await)["letters"],
        1
    );
    cli(&[&base[..], &["purge", "--yes"]].concat()).await;
    assert_eq!(
        json(&cli(&[&base[..], &["stats", "--json"]].concat()).await)["messages"],
        0
    );
}

#[tokio::test]
async fn lambda_on_failure_document_is_fetched_back_by_offset_range() {
    let src = unique("orders");
    create_topic(&src, 1).await;
    let values: Vec<String> = (0..5)
        .map(|i| format!("{{\"order_id\":\"fb-{i}\",\"amount\":1}}"))
        .collect();
    let records: Vec<_> = values
        .iter()
        .map(|v| {
            (
                0,
                Some(&b"k"[..]),
                Some(v.as_bytes()),
                vec![("trace", &b"t"[..])],
            )
        })
        .collect();
    produce(&src, &records).await;

    let kafka = stack::kafka();
    let doc = read_event("lambda-on-failure-sqs.json")
        .replace("\"orders-0\"", &format!("\"{src}-0\""))
        .replace(
            "b-1.orders-cluster.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
            &kafka,
        );
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("lambda-dlq"), &[]).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body(&doc)
        .send()
        .await
        .unwrap();

    let stats = json(&cli(&["--sqs-queue-url", &url, "stats", "--json"]).await);
    assert_eq!(stats["fetchBackDocuments"], 1);
    let summary = json(&cli(&["--sqs-queue-url", &url, "replay", "--json"]).await);
    assert_eq!(
        (
            summary["fetchedBack"].as_u64(),
            summary["replayed"].as_u64()
        ),
        (Some(3), Some(3)),
        "{summary}"
    );

    let all = consume(&src, 1, 8);
    assert_eq!(all.len(), 8);
    let replayed: Vec<&[u8]> = all[5..].iter().map(|m| m.payload().unwrap()).collect();
    assert_eq!(
        replayed,
        vec![
            values[1].as_bytes(),
            values[2].as_bytes(),
            values[3].as_bytes()
        ]
    );
    assert_eq!(header(&headers_of(&all[5]), "dlq.replay-count"), Some("1"));
    assert_eq!(header(&headers_of(&all[5]), "trace"), Some("t"));
    assert!(
        stack::receive_within(&sqs, &url, 1, Duration::from_secs(2))
            .await
            .is_empty(),
        "document deleted after confirmed replays"
    );
}

#[tokio::test]
async fn spring_and_connect_dead_letters_replay_where_their_headers_say() {
    let spring_src = unique("spring-src");
    let connect_src = unique("connect-src");
    let dlq = unique("foreign-dlq");
    create_topic(&spring_src, 2).await;
    create_topic(&connect_src, 1).await;
    create_topic(&dlq, 1).await;
    let p = 1i32.to_be_bytes();
    let o = 42i64.to_be_bytes();
    produce(
        &dlq,
        &[
            (
                0,
                Some(&b"sk"[..]),
                Some(&b"spring-value"[..]),
                vec![
                    ("app", &b"a"[..]),
                    ("kafka_dlt-original-topic", spring_src.as_bytes()),
                    ("kafka_dlt-original-partition", &p[..]),
                    ("kafka_dlt-original-offset", &o[..]),
                    (
                        "kafka_dlt-exception-fqcn",
                        &b"java.lang.IllegalStateException"[..],
                    ),
                ],
            ),
            (
                0,
                None,
                Some(&b"connect-value"[..]),
                vec![
                    ("__connect.errors.topic", connect_src.as_bytes()),
                    ("__connect.errors.partition", &b"0"[..]),
                    ("__connect.errors.offset", &b"7"[..]),
                    (
                        "__connect.errors.exception.class.name",
                        &b"org.apache.kafka.connect.errors.DataException"[..],
                    ),
                ],
            ),
        ],
    )
    .await;
    let kafka = stack::kafka();
    let event = event_of(&consume(&dlq, 1, 2), &kafka);
    let vars = env(&[("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", kafka.as_str())]);
    let mut f = Function::start(
        &workspace_bin("reprocessor"),
        "orders-reprocessor",
        &vars,
        false,
    )
    .await
    .unwrap();
    let reply = f.invoke(&event, TIMEOUT).await.unwrap();
    assert_eq!(
        reply,
        Reply::Response(r#"{"batchItemFailures":[]}"#.into()),
        "{:?}",
        f.stderr_lines()
    );
    f.stop().await;

    let spring = consume(&spring_src, 2, 1);
    assert_eq!(spring[0].payload(), Some(&b"spring-value"[..]));
    assert_eq!(spring[0].partition(), 1);
    let h = headers_of(&spring[0]);
    assert_eq!(
        h,
        vec![
            ("app".into(), b"a".to_vec()),
            ("dlq.replay-count".into(), b"1".to_vec())
        ]
    );
    let connect = consume(&connect_src, 1, 1);
    assert_eq!(connect[0].payload(), Some(&b"connect-value"[..]));
}

#[tokio::test]
async fn reprocessor_binary_answers_sqs_and_msk_sample_events() {
    ensure_topic("shop.orders-v1", 3).await;
    let park = unique("parking");
    create_topic(&park, 1).await;
    let kafka = stack::kafka();
    let vars = env(&[
        ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", kafka.as_str()),
        ("MSK_DLQ_PARKING_SINK", "kafka"),
        ("MSK_DLQ_PARKING_KAFKA_TOPIC", park.as_str()),
        // The sample letters name an MSK cluster; they replay onto ours.
        ("MSK_DLQ_REPLAY_ANY_CLUSTER", "true"),
    ]);
    let mut f = Function::start(
        &workspace_bin("reprocessor"),
        "orders-reprocessor",
        &vars,
        false,
    )
    .await
    .unwrap();

    // SQS: our envelope and an SNS-wrapped one replay; the unreadable
    // message is the only failure, so only it stays in the queue.
    let reply = f
        .invoke(&read_event("sqs-dlq.json"), TIMEOUT)
        .await
        .unwrap();
    let Reply::Response(body) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        json(&body),
        json(
            r#"{"batchItemFailures":[{"itemIdentifier":"059f36b4-87a3-44ab-83d2-661975060003"}]}"#
        )
    );

    // MSK trigger on the DLQ topic: one replays, one (replayed 3 times
    // already) is parked.
    let reply = f
        .invoke(&read_event("msk-dlq-topic.json"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        reply,
        Reply::Response(r#"{"batchItemFailures":[]}"#.into()),
        "{:?}",
        f.stderr_lines()
    );
    let parked = consume(&park, 1, 1);
    assert_eq!(
        header(&headers_of(&parked[0]), "dlq.replay-count"),
        Some("3")
    );

    // A direct replay job with a bad filter names the problem.
    let reply = f
        .invoke(
            r#"{"replayJob":{"sqsQueueUrl":"http://127.0.0.1:1/q","kind":"sometimes"}}"#,
            TIMEOUT,
        )
        .await
        .unwrap();
    let Reply::Error { message, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(message.contains("unknown kind \"sometimes\""), "{message}");
    f.stop().await;
}

#[tokio::test]
async fn cli_errors_name_what_is_wrong() {
    let run = |args: Vec<&'static str>| async move {
        let out = tokio::process::Command::new(workspace_bin("msk-dlq"))
            .args(&args)
            .envs(aws_env())
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(vec![
        "--sqs-queue-url",
        "http://127.0.0.1:1/000000000000/q",
        "peek",
        "--kind",
        "sometimes",
    ])
    .await;
    assert!(
        e.contains("--kind") && e.contains("unknown kind \"sometimes\""),
        "{e}"
    );
    let e = run(vec!["stats"]).await;
    assert!(e.contains("no DLQ given"), "{e}");
    let e = run(vec!["--kafka-topic", "t", "stats"]).await;
    assert!(e.contains("no bootstrap servers given"), "{e}");
    let e = run(vec![
        "--sqs-queue-url",
        "http://127.0.0.1:1/000000000000/q",
        "--kafka-topic",
        "t",
        "stats",
    ])
    .await;
    assert!(e.contains("not both"), "{e}");
    let e = run(vec![
        "--kafka-topic",
        "t",
        "--bootstrap",
        "127.0.0.1:29999",
        "--security",
        "scram-sha-512",
        "stats",
    ])
    .await;
    assert!(e.contains("needs --sasl-username"), "{e}");
    let e = run(vec![
        "--kafka-topic",
        "t",
        "--bootstrap",
        "127.0.0.1:1",
        "purge",
        "--kind",
        "manual",
        "--yes",
    ])
    .await;
    assert!(e.contains("purge of a Kafka DLQ takes no filters"), "{e}");
}

// Loss paths found in review (each failed before its fix).

/// Our own Kafka DLQ record for `value` from `topic` partition 0.
fn dlq_record<'a>(topic: &'a str, offset: &'a str, value: &'a [u8]) -> stack::TestRecord<'a> {
    (
        0,
        None,
        Some(value),
        vec![
            ("dlq.original.topic", topic.as_bytes()),
            ("dlq.original.partition", b"0"),
            ("dlq.original.offset", offset.as_bytes()),
            ("dlq.kind", b"permanent"),
            ("dlq.error.type", b"InvalidOrder"),
            ("dlq.replay-count", b"0"),
        ],
    )
}

#[tokio::test]
async fn lp03_a_document_from_another_cluster_is_kept_not_read_from_ours() {
    let src = unique("orders");
    create_topic(&src, 1).await;
    let values: Vec<String> = (0..5)
        .map(|i| format!("{{\"order_id\":\"x-{i}\"}}"))
        .collect();
    let records: Vec<_> = values
        .iter()
        .map(|v| (0, None, Some(v.as_bytes()), vec![]))
        .collect();
    produce(&src, &records).await;
    // The document names another cluster; the replayer is configured for ours.
    let doc = read_event("lambda-on-failure-sqs.json")
        .replace("\"orders-0\"", &format!("\"{src}-0\""))
        .replace(
            "b-1.orders-cluster.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
            "b-1.other-cluster.example.com:9098",
        );
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("lambda-dlq"), &[]).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body(&doc)
        .send()
        .await
        .unwrap();
    let kafka = stack::kafka();
    let out = tokio::process::Command::new(workspace_bin("msk-dlq"))
        .args([
            "--sqs-queue-url",
            &url,
            "--bootstrap",
            &kafka,
            "replay",
            "--json",
        ])
        .envs(aws_env())
        .env("AWS_ENDPOINT_URL", stack::aws_endpoint())
        .output()
        .await
        .unwrap();
    let summary = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(summary["replayed"], 0, "{summary}");
    assert_eq!(summary["fetchedBack"], 0, "{summary}");
    assert!(
        !stack::receive_within(&sqs, &url, 1, Duration::from_secs(3))
            .await
            .is_empty(),
        "the document stays in the DLQ"
    );
    assert_eq!(
        consume(&src, 1, 5).len(),
        5,
        "nothing replayed into our topic"
    );
}

/// Kafka keeps a commit's metadata (up to `offset.metadata.max.bytes`); the
/// reader lists there the letters it acknowledged past a kept one. tansu
/// drops commit metadata, so this runs on librdkafka's mock cluster, which
/// keeps it as Kafka does; the CLI talks to it over loopback TCP.
#[tokio::test]
async fn lp11_a_filtered_replay_does_not_replay_the_same_letters_again() {
    use rdkafka::mocking::MockCluster;
    let mock = MockCluster::new(1).unwrap();
    let kafka = mock.bootstrap_servers();
    let dlq = unique("orders-dlq");
    let kept_topic = unique("kept");
    let src = unique("orders");
    mock.create_topic(&dlq, 1, 1).unwrap();
    mock.create_topic(&src, 1, 1).unwrap();
    stack::produce_to(
        &kafka,
        &dlq,
        &[
            dlq_record(&kept_topic, "1", b"{\"order_id\":\"k\"}"),
            dlq_record(&src, "2", b"{\"order_id\":\"a\"}"),
            dlq_record(&src, "3", b"{\"order_id\":\"b\"}"),
        ],
        None,
    )
    .await;
    let args = [
        "--kafka-topic",
        &dlq,
        "--bootstrap",
        &kafka,
        "replay",
        "--topic",
        &src,
        "--json",
    ];
    let first = json(&cli(&args).await);
    assert_eq!(first["replayed"], 2, "{first}");
    let second = json(&cli(&args).await);
    assert_eq!(second["replayed"], 0, "{second}");
    let on_src = stack::consume_from(&kafka, &src, 1, 2, Duration::from_secs(10));
    assert_eq!(on_src.len(), 2, "each letter replayed once");
    // The filtered-out letter is still there for another run.
    let stats = json(
        &cli(&[
            "--kafka-topic",
            &dlq,
            "--bootstrap",
            &kafka,
            "stats",
            "--json",
        ])
        .await,
    );
    assert_eq!(stats["letters"], 1, "{stats}");
}

#[tokio::test]
async fn lp12_letters_being_replayed_stay_invisible_to_other_readers() {
    let src = unique("orders");
    create_topic(&src, 3).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    // Five dead letters, replayed at one per second with a 2-second
    // visibility: the run lasts longer than the visibility.
    let consumer_out = run_consumer(
        &mixed_event_for(&src),
        &[
            ("MSK_DLQ_SINK", "sqs"),
            ("MSK_DLQ_SQS_QUEUE_URL", &url),
            ("AWS_ENDPOINT_URL", &stack::aws_endpoint()),
        ],
    )
    .await;
    assert_eq!(
        json(&consumer_out)["batchItemFailures"],
        Value::Array(vec![])
    );
    let kafka = stack::kafka();
    let replay = tokio::process::Command::new(workspace_bin("msk-dlq"))
        .args([
            "--sqs-queue-url",
            &url,
            "--bootstrap",
            &kafka,
            "replay",
            "--rate",
            "1",
            "--visibility-timeout",
            "2",
            "--json",
        ])
        .envs(aws_env())
        .env("AWS_ENDPOINT_URL", stack::aws_endpoint())
        .output();
    let watcher = async {
        tokio::time::sleep(Duration::from_millis(3500)).await;
        stack::receive_within(&sqs, &url, 1, Duration::from_secs(1))
            .await
            .len()
    };
    let (out, seen) = tokio::join!(replay, watcher);
    let out = out.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        seen, 0,
        "a letter in flight became visible to another reader"
    );
    assert_eq!(json(&String::from_utf8_lossy(&out.stdout))["replayed"], 5);
}

#[tokio::test]
async fn lp04_purge_deletes_only_what_it_counted() {
    use msk_dlq::replay::{purge, DlqReader, Filters};
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    for body in ["{\"a\":1}", "{\"a\":2}"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let filters = Filters::default();
    let mut reader = DlqReader::sqs(sqs.clone(), url.clone(), 30);
    let plan = purge::plan(&mut reader, &filters).await.unwrap();
    assert_eq!(plan.len(), 2);
    // Arrives after the operator saw the count.
    sqs.send_message()
        .queue_url(&url)
        .message_body("{\"a\":3}")
        .send()
        .await
        .unwrap();
    let mut reader = DlqReader::sqs(sqs.clone(), url.clone(), 30);
    assert_eq!(
        purge::execute(&plan, &filters, &mut reader).await.unwrap(),
        2
    );
    let left = stack::receive_within(&sqs, &url, 1, Duration::from_secs(3)).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body(), Some("{\"a\":3}"));
}
