//! The fault matrix: the real consumer (and reprocessor) binaries driven by
//! the local event source mapping over many invocations, against tansu and
//! moto, while faults are injected into the handler, the DLQ endpoints
//! (a fault-injecting TCP proxy: reset, stall, HTTP 503), the Kafka DLQ
//! (librdkafka's mock cluster: produce errors, latency, broker down), the
//! deadline and the process itself. Afterwards every produced record is
//! accounted for: processed (the handler's ledger), dead-lettered (read back
//! from the DLQ) or named by Lambda's on-failure destination (then fetched
//! back and replayed): lost = 0, no healthy record dead-lettered, and the
//! duplicates counted.
//!
//! Sized for CI. `MSK_DLQ_FAULT_SCALE=10` multiplies the records;
//! `MSK_DLQ_FAULT_SEED` replays a run; `MSK_DLQ_FAULT_REPORT=file` collects
//! the figures.

mod common;

use std::time::Duration;

use common::ledger::{draw, order_id, produce_orders, Account, Plan, Produced, Workdir};
use common::proxy::{Fault, FaultProxy, ALL_FAULTS};
use common::stack::{self, create_queue, create_topic, unique};
use common::{env, run_replay_job, workspace_bin};
use msk_dlq::replay::parse::from_message_body;
use msk_dlq::replay::{Parsed, StoredValue};
use msk_dlq_esm::{Destination, Esm, EsmSettings, FunctionSpec, OnFailure, Stats};
use tokio::time::Instant;

const IDLE: Duration = Duration::from_secs(3);
const MAX: Duration = Duration::from_secs(240);

fn scale() -> usize {
    std::env::var("MSK_DLQ_FAULT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn rng(scenario: &str) -> fastrand::Rng {
    let seed = std::env::var("MSK_DLQ_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            scenario.bytes().fold(0xcbf29ce484222325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
            })
        });
    println!("{scenario}: seed {seed}");
    fastrand::Rng::with_seed(seed)
}

fn plans(rng: &mut fastrand::Rng, n: usize, mix: &[(Plan, u32)]) -> Vec<Plan> {
    (0..n).map(|_| draw(rng, mix)).collect()
}

fn consumer(dir: &Workdir, vars: &[(&str, &str)]) -> FunctionSpec {
    let ledger = dir.ledger().display().to_string();
    let flag = dir.fix_flag().display().to_string();
    let mut all = vec![
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("RUST_LOG", "warn"),
        ("MSK_DLQ_BACKOFF_BASE_MS", "10"),
        ("MSK_DLQ_BACKOFF_MAX_MS", "40"),
        ("MSK_DLQ_DEADLINE_MARGIN_MS", "600"),
        ("MSK_DLQ_METRICS", "false"),
        ("MSK_DLQ_SINK_RETRIES", "1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("ORDERS_LEDGER", ledger.as_str()),
        ("ORDERS_FIX_FLAG", flag.as_str()),
    ];
    all.extend_from_slice(vars);
    FunctionSpec {
        binary: workspace_bin("consumer"),
        name: "orders-consumer".into(),
        env: env(&all),
        echo: std::env::var_os("MSK_DLQ_FAULT_ECHO").is_some(),
    }
}

fn mapping(topic: &str, batch_size: usize) -> EsmSettings {
    let mut s = EsmSettings::new(stack::kafka(), vec![topic.to_owned()]);
    s.consumer_group = unique("faults-group");
    s.batch_size = batch_size;
    s.function_timeout = Duration::from_secs(3);
    s
}

/// Runs the mapping until idle, calling `between` before each round.
async fn drive(esm: &mut Esm, mut between: impl FnMut(&Esm)) -> Stats {
    let end = Instant::now() + MAX;
    let mut idle_since = Instant::now();
    while Instant::now() < end {
        between(esm);
        if esm.step().await {
            idle_since = Instant::now();
        } else if idle_since.elapsed() >= IDLE {
            break;
        }
    }
    esm.stats.clone()
}

/// Every message of an SQS queue, read once (left invisible for 5 minutes).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let r = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if r.messages().is_empty() {
            empty += 1;
        }
        out.extend(r.messages().iter().cloned());
    }
    out
}

/// Order ids of the dead letters in an SQS DLQ (claim-checked values read
/// from S3); the messages are deleted, so a later call reads only new ones.
async fn sqs_dlq_ids(sdk: &aws_config::SdkConfig, url: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let s3 = stack::s3(sdk);
    let mut ids = Vec::new();
    for m in drain(&sqs, url).await {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
        let Ok(Parsed::Letters(letters)) = from_message_body(m.body().unwrap_or_default()) else {
            panic!("unreadable DLQ message: {:?}", m.body());
        };
        for l in letters {
            let value = match l.value {
                StoredValue::Inline(v) => v,
                StoredValue::S3(loc) => {
                    let o = s3
                        .get_object()
                        .bucket(&loc.bucket)
                        .key(&loc.key)
                        .send()
                        .await
                        .unwrap();
                    Some(o.body.collect().await.unwrap().into_bytes().to_vec())
                }
            };
            ids.extend(order_id(value.as_deref()));
        }
    }
    ids
}

fn kafka_dlq_ids(bootstrap: &str, topic: &str, partitions: i32) -> Vec<String> {
    stack::consume_from(bootstrap, topic, partitions, 0, Duration::from_secs(10))
        .iter()
        .filter_map(|m| order_id(rdkafka::Message::payload(m)))
        .collect()
}

/// Order ids named by Lambda's on-failure documents in `url`; the
/// documents are made visible again for the reprocessor.
async fn on_failure_ids(
    sdk: &aws_config::SdkConfig,
    url: &str,
    produced: &Produced,
) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut ids = Vec::new();
    for m in drain(&sqs, url).await {
        let Ok(Parsed::FetchBack(ranges)) = from_message_body(m.body().unwrap_or_default()) else {
            panic!("unexpected on-failure document: {:?}", m.body());
        };
        for r in ranges {
            ids.extend(produced.in_range(r.partition, r.first_offset, r.last_offset));
        }
        sqs.change_message_visibility()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    ids
}

/// Deploys the fix, replays Lambda's on-failure documents with the real
/// reprocessor (fetch-back), and lets the mapping consume the replays.
async fn fix_and_replay(dir: &Workdir, esm: &mut Esm, on_failure: &str) -> serde_json::Value {
    dir.deploy_fix();
    let job = serde_json::json!({"replayJob": {"sqsQueueUrl": on_failure}});
    let summary = run_replay_job(&job, Duration::from_secs(120)).await;
    println!("reprocessor: {summary}");
    drive(esm, |_| {}).await;
    summary
}

/// A task that alternates `proxy` between a random fault (0.5 to 3 s, long
/// enough to outlast the SDK's retries) and passing (0.3 to 1 s).
fn flap(proxy: std::sync::Arc<FaultProxy>, seed: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = fastrand::Rng::with_seed(seed);
        loop {
            proxy.set(ALL_FAULTS[rng.usize(0..ALL_FAULTS.len())]);
            tokio::time::sleep(Duration::from_millis(rng.u64(500..3000))).await;
            proxy.set(Fault::Pass);
            tokio::time::sleep(Duration::from_millis(rng.u64(300..1000))).await;
        }
    })
}

/// Handler faults of every kind, an SQS DLQ, bounded retries with an SQS
/// on-failure destination; then the fix, fetch-back and replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_faults_with_an_sqs_dlq_then_fix_and_replay() {
    let name = "handler-faults";
    let mut rng = rng(name);
    let topic = unique("orders");
    create_topic(&topic, 3).await;
    let mix = [
        (Plan::Ok, 70),
        (Plan::Transient, 4),
        (Plan::Flaky, 5),
        (Plan::Outage, 4),
        (Plan::Manual, 3),
        (Plan::Invalid, 4),
        (Plan::Panic, 3),
        (Plan::Slow(30), 4),
        (Plan::Hang, 1),
        (Plan::Spin(4_000), 1),
        (Plan::Block(4_000), 1),
    ];
    let produced = produce_orders(&topic, 3, "h", &plans(&mut rng, 300 * scale(), &mix)).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq = create_queue(&sqs, &unique("dlq"), &[]).await;
    let on_failure = create_queue(&sqs, &unique("on-failure"), &[]).await;
    let dir = Workdir::new();
    let f = consumer(
        &dir,
        &[
            ("MSK_DLQ_SINK", "sqs"),
            ("MSK_DLQ_SQS_QUEUE_URL", &dlq),
            ("AWS_ENDPOINT_URL", &stack::aws_endpoint()),
        ],
    );
    let mut s = mapping(&topic, 50);
    s.max_retry_attempts = Some(2);
    s.on_failure = Some(OnFailure::Sqs(on_failure.clone()));
    let dest = Destination::new(s.on_failure.clone().unwrap(), &sdk, &s.bootstrap_servers).unwrap();
    let mut esm = Esm::start(s, f, Some(dest)).await.unwrap();
    esm.quiet();
    let stats = drive(&mut esm, |_| {}).await;

    let mut account = Account::new(name, &produced);
    account.processed(dir.processed());
    account.dead_lettered(sqs_dlq_ids(&sdk, &dlq).await);
    account.on_failure = on_failure_ids(&sdk, &on_failure, &produced)
        .await
        .into_iter()
        .collect();
    account.note("invocations", stats.invocations);
    account.check();
    assert!(
        !account.on_failure.is_empty(),
        "hangs and spins end in the on-failure destination"
    );

    // The fix ships: the on-failure records come back and are processed.
    let summary = fix_and_replay(&dir, &mut esm, &on_failure).await;
    esm.stop().await;
    account.processed(dir.processed());
    account.dead_lettered(sqs_dlq_ids(&sdk, &dlq).await);
    account.on_failure = on_failure_ids(&sdk, &on_failure, &produced)
        .await
        .into_iter()
        .collect();
    account.scenario = format!("{name}, after fix and replay");
    account.note("fetched back", summary["fetchedBack"].as_u64().unwrap_or(0));
    let f = account.check();
    assert_eq!(summary["failed"], 0, "{summary}");
    assert!(
        account.on_failure.is_empty(),
        "after the fix nothing is given up on"
    );
    assert_eq!(f.dead_lettered_twice, 0, "SQS sends each letter once here");
}

/// The SQS DLQ endpoint goes down, stalls and answers 503 at random while
/// records fail for good; retries are unbounded, so every record must end
/// processed or dead-lettered once the endpoint is healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_dlq_endpoint_that_resets_stalls_and_refuses() {
    let name = "sqs-dlq-flapping";
    let mut rng = rng(name);
    let topic = unique("orders");
    create_topic(&topic, 2).await;
    let mix = [
        (Plan::Ok, 45),
        (Plan::Slow(25), 30),
        (Plan::Invalid, 15),
        (Plan::Manual, 5),
        (Plan::Panic, 5),
    ];
    let produced = produce_orders(&topic, 2, "q", &plans(&mut rng, 200 * scale(), &mix)).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq = create_queue(&sqs, &unique("dlq"), &[]).await;
    let proxy = std::sync::Arc::new(
        FaultProxy::start(stack::aws_endpoint().trim_start_matches("http://")).await,
    );
    let dir = Workdir::new();
    let f = consumer(
        &dir,
        &[
            ("MSK_DLQ_SINK", "sqs"),
            ("MSK_DLQ_SQS_QUEUE_URL", &dlq),
            ("AWS_ENDPOINT_URL", &proxy.url),
        ],
    );
    let mut esm = Esm::start(mapping(&topic, 10), f, None).await.unwrap();
    esm.quiet();
    let flapping = flap(proxy.clone(), rng.u64(..));
    // Faults for a while, then a healthy endpoint until everything drains.
    let until = Instant::now() + Duration::from_secs(20);
    let mut stats = Stats::default();
    while Instant::now() < until {
        if !esm.step().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stats = esm.stats.clone();
    }
    flapping.abort();
    proxy.set(Fault::Pass);
    let stats_end = drive(&mut esm, |_| {}).await;
    esm.stop().await;

    let mut account = Account::new(name, &produced);
    account.processed(dir.processed());
    account.dead_lettered(sqs_dlq_ids(&sdk, &dlq).await);
    account.note("invocations", stats_end.invocations);
    account.note(
        "connections faulted",
        proxy.faulted.load(std::sync::atomic::Ordering::Relaxed),
    );
    account.note("partial batches under faults", stats.partial_batches);
    let f = account.check();
    assert!(
        proxy.faulted.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "faults were injected"
    );
    assert_eq!(
        f.processed_twice, 0,
        "ordered mode re-delivers only unprocessed records"
    );
    // Every poison record was dead-lettered in the end.
    let poison = account
        .produced
        .values()
        .filter(|p| p.may_dead_letter())
        .count();
    assert_eq!(account.dead_lettered.len(), poison);
}

/// A Kafka DLQ on librdkafka's mock cluster: retriable and refused Produce
/// errors, 800 ms round trips and the broker down, changed every round for
/// a while, then healthy until everything drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_dlq_with_produce_errors_latency_and_its_broker_down() {
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let name = "kafka-dlq-faults";
    let mut rng = rng(name);
    let topic = unique("orders");
    create_topic(&topic, 2).await;
    let mix = [
        (Plan::Ok, 50),
        (Plan::Slow(20), 20),
        (Plan::Invalid, 20),
        (Plan::Manual, 5),
        (Plan::Panic, 5),
    ];
    let produced = produce_orders(&topic, 2, "k", &plans(&mut rng, 200 * scale(), &mix)).await;
    let mock = MockCluster::new(1).unwrap();
    let dlq_cluster = mock.bootstrap_servers();
    mock.create_topic("orders-dlq", 2, 1).unwrap();
    let dir = Workdir::new();
    let f = consumer(
        &dir,
        &[
            ("MSK_DLQ_SINK", "kafka"),
            ("MSK_DLQ_KAFKA_TOPIC", "orders-dlq"),
            ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", &dlq_cluster),
        ],
    );
    let mut esm = Esm::start(mapping(&topic, 10), f, None).await.unwrap();
    esm.quiet();
    let mut rounds = 0u64;
    let mut injected = 0u64;
    let mut down = false;
    let stats = drive(&mut esm, |_| {
        rounds += 1;
        // Healthy again after 40 rounds.
        let pick = if rounds > 40 { 0 } else { rng.u32(0..6) };
        mock.clear_request_errors(RDKafkaApiKey::Produce);
        mock.broker_round_trip_time(1, Duration::ZERO).unwrap();
        if down && pick != 5 {
            mock.broker_up(1).unwrap();
            down = false;
        }
        injected += u64::from(pick > 1);
        match pick {
            2 => mock.request_errors(
                RDKafkaApiKey::Produce,
                &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 3],
            ),
            3 => mock.request_errors(
                RDKafkaApiKey::Produce,
                &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 5],
            ),
            4 => mock
                .broker_round_trip_time(1, Duration::from_millis(800))
                .unwrap(),
            5 if !down => {
                mock.broker_down(1).unwrap();
                down = true;
            }
            _ => {}
        }
    })
    .await;
    esm.stop().await;

    let mut account = Account::new(name, &produced);
    account.processed(dir.processed());
    account.dead_lettered(kafka_dlq_ids(&dlq_cluster, "orders-dlq", 2));
    account.note("invocations", stats.invocations);
    account.note("rounds with a fault", injected);
    account.note("partial batches", stats.partial_batches);
    let f = account.check();
    assert_eq!(f.processed_twice, 0);
    account.assert_every_poison_dead_lettered();
}

/// An SNS DLQ whose large letters are claim-checked to an S3 endpoint that
/// stalls, resets and refuses; SNS itself is healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_dlq_with_a_stalling_claim_check_store() {
    let name = "sns-dlq-s3-faults";
    let mut rng = rng(name);
    let topic = unique("orders");
    create_topic(&topic, 2).await;
    let mix = [
        (Plan::Ok, 60),
        (Plan::Slow(20), 15),
        (Plan::Invalid, 15),
        (Plan::BigInvalid(300_000), 10),
    ];
    let produced = produce_orders(&topic, 2, "s", &plans(&mut rng, 80 * scale(), &mix)).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let s3 = stack::s3(&sdk);
    let bucket = unique("claims").to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let subscriber = create_queue(&sqs, &unique("dlq-subscriber"), &[]).await;
    let sns_topic = sns.create_topic().name(unique("dlq")).send().await.unwrap();
    let sns_topic = sns_topic.topic_arn().unwrap().to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&subscriber)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe()
        .topic_arn(&sns_topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();
    let proxy = std::sync::Arc::new(
        FaultProxy::start(stack::aws_endpoint().trim_start_matches("http://")).await,
    );
    let dir = Workdir::new();
    let f = consumer(
        &dir,
        &[
            ("MSK_DLQ_SINK", "sns"),
            ("MSK_DLQ_SNS_TOPIC_ARN", &sns_topic),
            ("MSK_DLQ_LARGE_PAYLOAD_BUCKET", &bucket),
            ("AWS_ENDPOINT_URL", &stack::aws_endpoint()),
            ("AWS_ENDPOINT_URL_S3", &proxy.url),
        ],
    );
    let mut esm = Esm::start(mapping(&topic, 5), f, None).await.unwrap();
    esm.quiet();
    let flapping = flap(proxy.clone(), rng.u64(..));
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if !esm.step().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    flapping.abort();
    proxy.set(Fault::Pass);
    let stats = drive(&mut esm, |_| {}).await;
    esm.stop().await;

    let mut account = Account::new(name, &produced);
    account.processed(dir.processed());
    account.dead_lettered(sqs_dlq_ids(&sdk, &subscriber).await);
    account.note("invocations", stats.invocations);
    account.note(
        "connections faulted",
        proxy.faulted.load(std::sync::atomic::Ordering::Relaxed),
    );
    account.check();
    account.assert_every_poison_dead_lettered();
}

/// Deadlines that expire mid-batch (records slower than the function's
/// time) and mid-DLQ-write (the SQS endpoint stalls past the deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_mid_batch_and_mid_dlq_write() {
    let name = "deadlines";
    let mut rng = rng(name);
    let topic = unique("orders");
    create_topic(&topic, 1).await;
    let mix = [(Plan::Slow(350), 60), (Plan::Invalid, 30), (Plan::Ok, 10)];
    let produced = produce_orders(&topic, 1, "d", &plans(&mut rng, 40 * scale(), &mix)).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq = create_queue(&sqs, &unique("dlq"), &[]).await;
    let proxy = FaultProxy::start(stack::aws_endpoint().trim_start_matches("http://")).await;
    let dir = Workdir::new();
    let f = consumer(
        &dir,
        &[
            ("MSK_DLQ_SINK", "sqs"),
            ("MSK_DLQ_SQS_QUEUE_URL", &dlq),
            ("AWS_ENDPOINT_URL", &proxy.url),
        ],
    );
    let mut esm = Esm::start(mapping(&topic, 10), f, None).await.unwrap();
    esm.quiet();
    let mut rounds = 0u64;
    let stats = drive(&mut esm, |_| {
        rounds += 1;
        // Every other round of the first 16 the DLQ stalls for good.
        proxy.set(if rounds <= 16 && rounds % 2 == 0 {
            Fault::Stall
        } else {
            Fault::Pass
        });
    })
    .await;
    esm.stop().await;

    let mut account = Account::new(name, &produced);
    account.processed(dir.processed());
    account.dead_lettered(sqs_dlq_ids(&sdk, &dlq).await);
    account.note("invocations", stats.invocations);
    account.note("partial batches", stats.partial_batches);
    account.note(
        "connections stalled",
        proxy.faulted.load(std::sync::atomic::Ordering::Relaxed),
    );
    let f = account.check();
    assert!(stats.partial_batches > 0, "deadlines cut batches");
    assert_eq!(
        stats.failed_batches, 0,
        "the function always answered in time"
    );
    assert_eq!(f.processed_twice, 0);
}

/// The function process killed with SIGKILL at random moments, mid-batch;
/// records also crash it on purpose. Lambda retries (bounded, bisecting),
/// gives up to the on-failure destination; after the fix the reprocessor
/// fetches those back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_killed_mid_batch() {
    let name = "kills";
    let mut rng = rng(name);
    let topic = unique("orders");
    create_topic(&topic, 2).await;
    let mix = [
        (Plan::Ok, 55),
        (Plan::Slow(40), 30),
        (Plan::Invalid, 12),
        (Plan::Crash, 3),
    ];
    let produced = produce_orders(&topic, 2, "x", &plans(&mut rng, 150 * scale(), &mix)).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq = create_queue(&sqs, &unique("dlq"), &[]).await;
    let on_failure = create_queue(&sqs, &unique("on-failure"), &[]).await;
    let dir = Workdir::new();
    let f = consumer(
        &dir,
        &[
            ("MSK_DLQ_SINK", "sqs"),
            ("MSK_DLQ_SQS_QUEUE_URL", &dlq),
            ("AWS_ENDPOINT_URL", &stack::aws_endpoint()),
        ],
    );
    let mut s = mapping(&topic, 20);
    s.max_retry_attempts = Some(3);
    s.bisect_on_error = true;
    s.on_failure = Some(OnFailure::Sqs(on_failure.clone()));
    let dest = Destination::new(s.on_failure.clone().unwrap(), &sdk, &s.bootstrap_servers).unwrap();
    let mut esm = Esm::start(s, f, Some(dest)).await.unwrap();
    esm.quiet();
    let kills = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut rounds = 0;
    let stats = drive(&mut esm, |esm| {
        rounds += 1;
        let Some(pid) = esm.function_pid() else {
            return;
        };
        if rounds > 60 || !rng.bool() {
            return;
        }
        let delay = Duration::from_millis(rng.u64(20..1200));
        let kills = kills.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let killed = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .output()
                .is_ok_and(|o| o.status.success());
            if killed {
                kills.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    })
    .await;

    let mut account = Account::new(name, &produced);
    account.processed(dir.processed());
    account.dead_lettered(sqs_dlq_ids(&sdk, &dlq).await);
    account.on_failure = on_failure_ids(&sdk, &on_failure, &produced)
        .await
        .into_iter()
        .collect();
    account.note("invocations", stats.invocations);
    account.note("kills", kills.load(std::sync::atomic::Ordering::Relaxed));
    account.note("failed batches", stats.failed_batches);
    account.check();
    assert!(kills.load(std::sync::atomic::Ordering::Relaxed) > 0);

    let summary = fix_and_replay(&dir, &mut esm, &on_failure).await;
    esm.stop().await;
    account.processed(dir.processed());
    account.dead_lettered(sqs_dlq_ids(&sdk, &dlq).await);
    account.on_failure = on_failure_ids(&sdk, &on_failure, &produced)
        .await
        .into_iter()
        .collect();
    account.scenario = format!("{name}, after fix and replay");
    account.note("fetched back", summary["fetchedBack"].as_u64().unwrap_or(0));
    account.check();
    assert!(account.on_failure.is_empty(), "{summary}");
}

/// The smallest and the largest batches: one record per invocation, and
/// 10,000 records in one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_one_and_of_ten_thousand() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for (name, records, batch) in [
        ("batch-of-1", 30, 1),
        ("batch-of-10000", 10_000 * scale(), 10_000),
    ] {
        let mut rng = rng(name);
        let topic = unique("orders");
        create_topic(&topic, 1).await;
        let mix = [
            (Plan::Ok, 96),
            (Plan::Invalid, 2),
            (Plan::Manual, 1),
            (Plan::Flaky, 1),
        ];
        let produced = produce_orders(&topic, 1, name, &plans(&mut rng, records, &mix)).await;
        let dlq = create_queue(&sqs, &unique("dlq"), &[]).await;
        let dir = Workdir::new();
        let f = consumer(
            &dir,
            &[
                ("MSK_DLQ_SINK", "sqs"),
                ("MSK_DLQ_SQS_QUEUE_URL", &dlq),
                ("AWS_ENDPOINT_URL", &stack::aws_endpoint()),
                ("MSK_DLQ_ORDERING", "independent"),
                // Two vCPUs' time: a batch of megabytes is read in pieces
                // by two threads on a machine with two CPUs.
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3538"),
            ],
        );
        let mut s = mapping(&topic, batch);
        s.function_timeout = Duration::from_secs(30);
        s.batching_window = Duration::from_millis(500);
        let mut esm = Esm::start(s, f, None).await.unwrap();
        esm.quiet();
        let stats = drive(&mut esm, |_| {}).await;
        esm.stop().await;
        let mut account = Account::new(name, &produced);
        account.processed(dir.processed());
        account.dead_lettered(sqs_dlq_ids(&sdk, &dlq).await);
        account.note("invocations", stats.invocations);
        let f = account.check();
        assert_eq!((f.processed_twice, f.dead_lettered_twice), (0, 0));
        if batch == 1 {
            assert_eq!(
                stats.invocations as usize, records,
                "one record per invocation"
            );
        }
    }
}

/// A bad deploy: every record fails for good until the fix. The flood
/// guard dead-letters only what came before it tripped; the rest waits in
/// Lambda's retries and is processed once the fix is out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_deploy_is_held_back_by_the_flood_guard() {
    let name = "flood-guard";
    let topic = unique("orders");
    create_topic(&topic, 1).await;
    let produced = produce_orders(&topic, 1, "f", &vec![Plan::NeedsFix; 100 * scale()]).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let dlq = create_queue(&sqs, &unique("dlq"), &[]).await;
    let dir = Workdir::new();
    let f = consumer(
        &dir,
        &[
            ("MSK_DLQ_SINK", "sqs"),
            ("MSK_DLQ_SQS_QUEUE_URL", &dlq),
            ("AWS_ENDPOINT_URL", &stack::aws_endpoint()),
            ("MSK_DLQ_FLOOD_MAX_PERCENT", "50"),
            ("MSK_DLQ_FLOOD_MIN_RECORDS", "10"),
        ],
    );
    let mut esm = Esm::start(mapping(&topic, 20), f, None).await.unwrap();
    esm.quiet();
    // The bad deploy runs for a while: Lambda keeps retrying.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        if !esm.step().await {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let held_rounds = esm.stats.partial_batches;
    dir.deploy_fix();
    let stats = drive(&mut esm, |_| {}).await;
    esm.stop().await;

    let mut account = Account::new(name, &produced);
    account.processed(dir.processed());
    account.dead_lettered(sqs_dlq_ids(&sdk, &dlq).await);
    account.note("invocations", stats.invocations);
    account.note("invocations held back", held_rounds);
    account.check();
    assert_eq!(
        account.dead_lettered.len(),
        9,
        "only the records before the guard tripped"
    );
    assert_eq!(account.processed.len(), 100 * scale() - 9);
    assert!(held_rounds > 3);
}
