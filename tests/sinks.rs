//! The dead-letter sinks against the real local stack (tansu or another
//! Kafka-protocol broker, moto for SQS/SNS/S3), and under injected faults.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::read_event;
use common::stack::{
    self, consume, create_queue, create_topic, header, headers_of, receive, unique,
};
use msk_dlq::event::Entry;
use msk_dlq::headers::{
    KIND as H_KIND, ORIGINAL_OFFSET as H_OFFSET, ORIGINAL_PARTITION as H_PARTITION,
    ORIGINAL_TIMESTAMP as H_TIMESTAMP, ORIGINAL_TOPIC as H_TOPIC, REPLAY_COUNT as H_REPLAY_COUNT,
    SOURCE as H_SOURCE,
};
use msk_dlq::kafka::{KafkaConnection, ProducerPool};
use msk_dlq::letter::{DeadLetter, DeadRecord, Envelope};
use msk_dlq::sink::{
    send_by_deadline, BatchedSink, DeadLetterSink, FallbackSink, KafkaSink, LargeValueStore,
    Partitioning, S3ClaimCheck, SinkError, SnsTransport, SqsTransport, SQS_MAX_BYTES,
};
use msk_dlq::{decode_event, DlqKind};
use rdkafka::Message as _;
use tokio::time::Instant;

/// Dead letters for every decoded record of the mixed sample event.
fn letters(bootstrap: Option<String>) -> Vec<DeadLetter> {
    let batch = decode_event(&read_event("msk-mixed.json")).unwrap();
    let mut source = (*batch.source).clone();
    source.bootstrap_servers = bootstrap;
    let source = Arc::new(source);
    batch
        .entries()
        .filter_map(|e| match &e.entry {
            Entry::Record(r) => Some(
                DeadLetter::new(
                    source.clone(),
                    DeadRecord::Decoded(r.clone()),
                    DlqKind::Permanent,
                    "InvalidOrder",
                    format!("record {} failed", r.offset()),
                )
                .with_attempts(1)
                .with_failed_at_ms(1_795_320_000_000)
                .with_consumer(Arc::from("orders-consumer"))
                .with_replay_count(0),
            ),
            Entry::Malformed(_) => None,
        })
        .collect()
}

fn soon(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

fn sqs_sink(
    sdk: &aws_config::SdkConfig,
    url: &str,
    max: usize,
    claim: Option<Arc<dyn LargeValueStore>>,
) -> BatchedSink<SqsTransport> {
    BatchedSink {
        transport: SqsTransport {
            client: aws_sdk_sqs::Client::new(sdk),
            queue_url: url.to_owned(),
        },
        max_message_bytes: max,
        claim_check: claim,
        retries: 1,
    }
}

#[tokio::test]
async fn kafka_sink_keeps_bytes_and_adds_contract_headers() {
    let topic = unique("dlq");
    create_topic(&topic, 2).await;
    let sink = KafkaSink::new(
        topic.clone(),
        Some(stack::kafka()),
        Arc::new(ProducerPool::new(KafkaConnection::default())),
        Partitioning::SameModulo,
    )
    .unwrap();
    let letters = letters(None);
    let results = send_by_deadline(&sink, &letters, soon(20)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let got = consume(&topic, 2, letters.len());
    assert_eq!(got.len(), letters.len());
    for l in &letters {
        let DeadRecord::Decoded(orig) = &l.record else {
            unreachable!()
        };
        let m = got
            .iter()
            .find(|m| header(&headers_of(m), H_OFFSET) == Some(orig.offset().to_string().as_str()))
            .unwrap_or_else(|| panic!("offset {} missing", orig.offset()));
        assert_eq!(m.key(), orig.key(), "key bytes");
        assert_eq!(m.payload(), orig.value(), "value bytes (null stays null)");
        assert_eq!(
            m.partition(),
            orig.partition() % 2,
            "partition modulo DLQ partitions"
        );
        let h = headers_of(m);
        // Original headers first, in order, byte for byte.
        for (i, oh) in orig.headers().iter().enumerate() {
            assert_eq!(h[i], (oh.name.clone(), oh.value.clone()));
        }
        assert_eq!(header(&h, H_TOPIC), Some("shop.orders-v1"));
        assert_eq!(
            header(&h, H_PARTITION),
            Some(orig.partition().to_string().as_str())
        );
        assert_eq!(
            header(&h, H_TIMESTAMP),
            Some(orig.timestamp().unwrap().to_string().as_str())
        );
        assert_eq!(header(&h, H_KIND), Some("permanent"));
        assert_eq!(header(&h, H_REPLAY_COUNT), Some("0"));
        assert!(header(&h, H_SOURCE).unwrap().starts_with("arn:aws:kafka:"));
    }
    // Per-partition order survives.
    let p0: Vec<i64> = got
        .iter()
        .filter(|m| header(&headers_of(m), H_PARTITION) == Some("0"))
        .map(|m| header(&headers_of(m), H_OFFSET).unwrap().parse().unwrap())
        .collect();
    assert_eq!(p0, vec![10, 11, 12, 13]);
}

#[tokio::test]
async fn kafka_sink_uses_the_events_bootstrap_servers_by_default() {
    let topic = unique("dlq");
    create_topic(&topic, 1).await;
    let pool = Arc::new(ProducerPool::new(KafkaConnection::default()));
    let sink = KafkaSink::new(topic.clone(), None, pool, Partitioning::SameModulo).unwrap();
    let letters = letters(Some(stack::kafka()));
    let results = send_by_deadline(&sink, &letters[..2], soon(20)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(consume(&topic, 1, 2).len(), 2);
}

#[tokio::test]
async fn kafka_sink_reports_each_letter_failed_when_the_broker_is_unreachable() {
    let sink = KafkaSink::new(
        "dlq",
        Some("127.0.0.1:1".to_string()),
        Arc::new(ProducerPool::new(KafkaConnection::default())),
        Partitioning::ByKey,
    )
    .unwrap();
    let letters = letters(None);
    let deadline = soon(3);
    let results = send_by_deadline(&sink, &letters, deadline).await;
    assert!(
        Instant::now() <= deadline + Duration::from_millis(200),
        "returned by the deadline"
    );
    assert_eq!(results.len(), letters.len());
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(SinkError::DeadlineExceeded { .. }))),
        "{results:?}"
    );
}

#[tokio::test]
async fn kafka_sink_survives_retriable_produce_errors_and_fails_on_refused_requests() {
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("dlq", 2, 1).unwrap();
    let sink = KafkaSink::new(
        "dlq",
        Some(mock.bootstrap_servers()),
        Arc::new(ProducerPool::new(KafkaConnection::default())),
        Partitioning::SameModulo,
    )
    .unwrap();
    let letters = letters(None);

    // Retriable: the idempotent producer retries and the letters are confirmed.
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    let results = send_by_deadline(&sink, &letters[..3], soon(20)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    // Refused for good (not retriable): every letter in the request is
    // reported failed.
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 20],
    );
    let results = send_by_deadline(&sink, &letters[3..4], soon(10)).await;
    assert!(
        matches!(results[0], Err(SinkError::Rejected { .. })),
        "{results:?}"
    );
}

#[tokio::test]
async fn sqs_sink_envelopes_parse_back_with_attributes() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    let sink = sqs_sink(&sdk, &url, SQS_MAX_BYTES, None);
    let letters = letters(None);
    let results = send_by_deadline(&sink, &letters, soon(20)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let msgs = receive(&sqs, &url, letters.len()).await;
    assert_eq!(msgs.len(), letters.len(), "11 letters in two batches");
    for m in &msgs {
        let env = Envelope::from_json(m.body().unwrap()).unwrap();
        let l = letters
            .iter()
            .find(|l| l.offset() == env.source.offset)
            .unwrap();
        assert_eq!(env, l.envelope(), "envelope round-trips");
        let DeadRecord::Decoded(orig) = &l.record else {
            unreachable!()
        };
        assert_eq!(env.value_bytes().unwrap().as_deref(), orig.value());
        assert_eq!(env.key_bytes().unwrap().as_deref(), orig.key());
        let attrs = m.message_attributes().unwrap();
        assert_eq!(attrs["dlq.kind"].string_value(), Some("permanent"));
        assert_eq!(
            attrs["dlq.original.topic"].string_value(),
            Some("shop.orders-v1")
        );
    }
}

#[tokio::test]
async fn sqs_fifo_queue_gets_group_and_dedup_ids() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("{}.fifo", unique("dlq"));
    let url = create_queue(&sqs, &name, &[("FifoQueue", "true")]).await;
    let sink = sqs_sink(&sdk, &url, SQS_MAX_BYTES, None);
    let letters = letters(None);
    let results = send_by_deadline(&sink, &letters[..4], soon(20)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The same letters again are duplicates within the dedup window.
    let again = send_by_deadline(&sink, &letters[..4], soon(20)).await;
    assert!(again.iter().all(Result::is_ok));
    let mut msgs = receive(&sqs, &url, 4).await;
    msgs.extend(stack::receive_within(&sqs, &url, 1, Duration::from_secs(2)).await);
    assert_eq!(msgs.len(), 4, "duplicates dropped by dedup id");
    for m in &msgs {
        let attrs = m.attributes().unwrap();
        use aws_sdk_sqs::types::MessageSystemAttributeName as A;
        assert_eq!(attrs[&A::MessageGroupId], "shop.orders-v1-0");
        assert_eq!(attrs[&A::MessageDeduplicationId].len(), 64);
    }
}

#[tokio::test]
async fn sns_sink_publishes_envelopes_to_subscribers() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic_arn = sns
        .create_topic()
        .name(unique("dlq"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let url = create_queue(&sqs, &unique("dlq-sub"), &[]).await;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let sink = BatchedSink {
        transport: SnsTransport {
            client: sns.clone(),
            topic_arn,
        },
        max_message_bytes: 262_144,
        claim_check: None,
        retries: 1,
    };
    let letters = letters(None);
    let results = send_by_deadline(&sink, &letters, soon(20)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let msgs = receive(&sqs, &url, letters.len()).await;
    assert_eq!(msgs.len(), letters.len());
    for m in &msgs {
        let env = Envelope::from_json(m.body().unwrap()).unwrap();
        let l = letters
            .iter()
            .find(|l| l.offset() == env.source.offset)
            .unwrap();
        assert_eq!(env, l.envelope());
    }
}

#[tokio::test]
async fn large_dead_letters_are_claim_checked_through_s3() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let s3 = stack::s3(&sdk);
    let bucket = unique("dlq-large");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    let claim: Arc<dyn LargeValueStore> = Arc::new(S3ClaimCheck::new(
        s3.clone(),
        bucket.clone(),
        "dead-letters/",
    ));
    let mut big = letters(None).remove(0);
    let DeadRecord::Decoded(r) = &big.record else {
        unreachable!()
    };
    let r = r
        .to_builder()
        .value(Some(
            (0..20_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
        ))
        .build();
    big.record = DeadRecord::Decoded(r.clone());

    // Without a bucket: reported failed, never truncated.
    let no_bucket = sqs_sink(&sdk, &url, 4_096, None);
    let res = send_by_deadline(&no_bucket, std::slice::from_ref(&big), soon(10)).await;
    assert!(
        matches!(res[0], Err(SinkError::TooLarge { limit: 4_096, .. })),
        "{res:?}"
    );

    let sink = sqs_sink(&sdk, &url, 4_096, Some(claim.clone()));
    let res = send_by_deadline(&sink, std::slice::from_ref(&big), soon(10)).await;
    assert!(res[0].is_ok(), "{res:?}");
    let msgs = receive(&sqs, &url, 1).await;
    let env = Envelope::from_json(msgs[0].body().unwrap()).unwrap();
    assert_eq!(env.value, None);
    let loc = env.value_location.clone().expect("claim check location");
    assert_eq!(loc.bucket, bucket);
    assert_eq!(
        claim.fetch(&loc).await.unwrap(),
        r.value().unwrap(),
        "value round-trips through S3"
    );
    assert_eq!(env.source.offset, Some(10));
}

#[tokio::test]
async fn s3_down_fails_the_large_letter_but_not_the_small_ones() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    let down = stack::sdk_at("http://127.0.0.1:1").await;
    let claim: Arc<dyn LargeValueStore> =
        Arc::new(S3ClaimCheck::new(stack::s3(&down), "missing", ""));
    let mut letters = letters(None);
    let DeadRecord::Decoded(r) = &letters[0].record else {
        unreachable!()
    };
    let r = r.to_builder().value(Some(vec![b'x'; 10_000])).build();
    letters[0].record = DeadRecord::Decoded(r);
    let sink = sqs_sink(&sdk, &url, 4_096, Some(claim));
    let res = send_by_deadline(&sink, &letters[..3], soon(15)).await;
    assert!(
        matches!(res[0], Err(SinkError::Unavailable { sink: "s3", .. })),
        "{res:?}"
    );
    assert!(res[1].is_ok() && res[2].is_ok(), "{res:?}");
}

#[tokio::test]
async fn sqs_endpoint_down_reports_every_letter_failed() {
    let sdk = stack::sdk().await;
    let sink = sqs_sink(
        &sdk,
        "http://127.0.0.1:1/000000000000/nowhere",
        SQS_MAX_BYTES,
        None,
    );
    let down = stack::sdk_at("http://127.0.0.1:1").await;
    let sink = BatchedSink {
        transport: SqsTransport {
            client: aws_sdk_sqs::Client::new(&down),
            queue_url: sink.transport.queue_url,
        },
        ..sink
    };
    let letters = letters(None);
    let res = send_by_deadline(&sink, &letters, soon(10)).await;
    assert_eq!(res.len(), letters.len());
    assert!(res.iter().all(Result::is_err), "{res:?}");
}

#[tokio::test]
async fn a_sink_that_never_answers_is_cut_at_the_deadline() {
    // A TCP peer that accepts and then says nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let silent = stack::sdk_at(format!("http://{addr}")).await;
    let sink = sqs_sink(
        &silent,
        &format!("http://{addr}/000000000000/q"),
        SQS_MAX_BYTES,
        None,
    );
    let letters = letters(None);
    let deadline = soon(2);
    let res = send_by_deadline(&sink, &letters, deadline).await;
    assert!(Instant::now() <= deadline + Duration::from_millis(200));
    assert!(
        res.iter()
            .all(|r| matches!(r, Err(SinkError::DeadlineExceeded { .. }))),
        "{res:?}"
    );
}

#[tokio::test]
async fn fallback_sink_takes_over_when_the_primary_fails() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("dlq-fallback"), &[]).await;
    let primary: Arc<dyn DeadLetterSink> = Arc::new(
        KafkaSink::new(
            "dlq",
            Some("127.0.0.1:1".to_string()),
            Arc::new(ProducerPool::new(KafkaConnection::default())),
            Partitioning::ByKey,
        )
        .unwrap(),
    );
    let fallback: Arc<dyn DeadLetterSink> = Arc::new(sqs_sink(&sdk, &url, SQS_MAX_BYTES, None));
    let sink = FallbackSink::new(primary, fallback);
    let letters = letters(None);
    let deadline = soon(6);
    let res = send_by_deadline(&sink, &letters[..3], deadline).await;
    assert!(Instant::now() <= deadline);
    assert!(
        res.iter().all(|r| matches!(r, Ok(c) if c.sink == "sqs")),
        "{res:?}"
    );
    assert_eq!(receive(&sqs, &url, 3).await.len(), 3);
}

#[tokio::test]
async fn lp07_a_producer_in_a_fatal_state_is_replaced() {
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::Producer as _;
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("dlq", 1, 1).unwrap();
    let bootstrap = mock.bootstrap_servers();
    let pool = Arc::new(ProducerPool::new(KafkaConnection::default()));
    let sink = KafkaSink::new(
        "dlq",
        Some(bootstrap.clone()),
        pool.clone(),
        Partitioning::ByKey,
    )
    .unwrap();
    let letters = letters(None);
    let first = send_by_deadline(&sink, &letters[..1], soon(10)).await;
    assert!(first[0].is_ok(), "{first:?}");
    // An idempotent producer's fatal error (e.g. a fenced producer id):
    // librdkafka fails every later write of that producer.
    let producer = pool.get(&bootstrap).unwrap();
    let reason = std::ffi::CString::new("injected by the test").unwrap();
    // SAFETY: a live client handle and a NUL-terminated reason.
    unsafe {
        rdkafka::bindings::rd_kafka_test_fatal_error(
            producer.client().native_ptr(),
            rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
            reason.as_ptr(),
        );
    }
    drop(producer);
    let later = send_by_deadline(&sink, &letters[1..3], soon(10)).await;
    assert!(later.iter().all(Result::is_ok), "{later:?}");
}

#[tokio::test]
async fn lp16_sqs_itself_refusing_a_batch_fails_only_its_letters() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // SQS refuses messages over 1 KiB; the sink's own limit is higher, so
    // the big letter reaches SQS alone in its own batch and SQS refuses it.
    let url = create_queue(&sqs, &unique("dlq"), &[("MaximumMessageSize", "1024")]).await;
    let mut letters = letters(None);
    letters[1].error_message = "e".repeat(1000);
    let sink = sqs_sink(&sdk, &url, 2_000, None);
    let res = send_by_deadline(&sink, &letters[..4], soon(15)).await;
    assert!(
        matches!(
            &res[1],
            Err(SinkError::Unavailable { sink: "sqs", .. }
                | SinkError::Rejected { sink: "sqs", .. })
        ),
        "refused by SQS, not by the sink's own limit: {res:?}"
    );
    assert!(
        res[0].is_ok() && res[2].is_ok() && res[3].is_ok(),
        "{res:?}"
    );
    assert_eq!(receive(&sqs, &url, 3).await.len(), 3);
}

#[tokio::test]
async fn a_producer_refusing_on_cached_state_is_replaced() {
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("dlq", 1, 1).unwrap();
    let pool =
        ProducerPool::new(KafkaConnection::default()).with_renew_refusing_after(Duration::ZERO);
    let sink = KafkaSink::new(
        "dlq",
        Some(mock.bootstrap_servers()),
        Arc::new(pool),
        Partitioning::ByKey,
    )
    .unwrap();
    let letters = letters(None);
    // Denied once (an ACL not yet granted): librdkafka then refuses every
    // record of the topic until its next metadata refresh, minutes later.
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
    );
    let denied = send_by_deadline(&sink, &letters[..1], soon(10)).await;
    assert!(denied[0].is_err(), "{denied:?}");
    // The ACL is fixed: the next letters go out on a new producer.
    mock.clear_request_errors(RDKafkaApiKey::Produce);
    let later = send_by_deadline(&sink, &letters[1..3], soon(10)).await;
    assert!(later.iter().all(Result::is_ok), "{later:?}");
}
