#!/usr/bin/env python3
"""Writes the sample events in events/. Run from the repository root."""
import base64
import json

ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/orders-cluster/6f1b2c3d-1111-2222-3333-444455556666-1"
BOOT = "b-1.orders-cluster.abc123.c2.kafka.us-east-1.amazonaws.com:9098,b-2.orders-cluster.abc123.c2.kafka.us-east-1.amazonaws.com:9098"
TS = 1545084650987


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def java_bytes(s):
    return [b - 256 if b > 127 else b for b in s.encode()]


def record(topic, partition, offset, value, key=None, headers=None, ts_type="CREATE_TIME"):
    r = {"topic": topic, "partition": partition, "offset": offset,
         "timestamp": TS + offset, "timestampType": ts_type}
    if key is not None:
        r["key"] = b64(key)
    r["value"] = None if value is None else b64(json.dumps(value) if not isinstance(value, (str, bytes)) else value)
    r["headers"] = [{k: java_bytes(v)} for k, v in (headers or [])]
    return r


def event(records, self_managed=False):
    by = {}
    for r in records:
        by.setdefault(f"{r['topic']}-{r['partition']}", []).append(r)
    e = {"eventSource": "SelfManagedKafka" if self_managed else "aws:kafka"}
    if not self_managed:
        e["eventSourceArn"] = ARN
    e["bootstrapServers"] = BOOT if not self_managed else "kafka-1.internal:9092,kafka-2.internal:9092"
    e["records"] = by
    return e


def order(i, amount=10.5, **extra):
    return {"order_id": f"o-{i}", "amount": amount, **extra}


def write(name, ev):
    with open(f"events/{name}", "w") as f:
        json.dump(ev, f, indent=2)
        f.write("\n")


write("msk-basic.json", event([
    record("orders", 0, 100, order(100), key="customer-1", headers=[("trace-id", "t-100")]),
    record("orders", 0, 101, order(101), key="customer-2"),
    record("orders", 0, 102, order(102, amount=0), key="customer-1"),
]))

write("self-managed.json", event([
    record("orders", 0, 7, order(7), key="customer-7"),
    record("orders", 1, 8, order(8), key="customer-8"),
], self_managed=True))

# Every demo path, over three partitions of a topic whose name has '-' and '.'.
T = "shop.orders-v1"
write("msk-mixed.json", event([
    record(T, 0, 10, order(10), key="c-1", headers=[("trace-id", "t-10")]),
    record(T, 0, 11, order(11, simulate="flaky"), key="c-1"),
    record(T, 0, 12, {"order_id": "o-12", "amount": -5}, key="c-1", headers=[("trace-id", "t-12"), ("origin", "web")]),
    record(T, 0, 13, order(13), key="c-1"),
    record(T, 1, 20, order(20, simulate="transient"), key="c-2", headers=[("trace-id", "t-20")]),
    record(T, 1, 21, order(21, simulate="dlq"), key="c-2"),
    record(T, 1, 22, order(22), key="c-2"),
    record(T, 2, 30, order(30, simulate="panic"), key="c-3"),
    record(T, 2, 31, None, key="c-3"),
    record(T, 2, 32, "not json at all", key=None, headers=[("città", "Zürich ✓")]),
    record(T, 2, 33, order(33)),
]))

write("msk-headers-tombstones.json", event([
    record("orders", 0, 1, order(1), key="k", headers=[("city", "Zürich"), ("emoji", "✓"), ("raw", "\u00ff")]),
    record("orders", 0, 2, None, key="k"),
    record("orders", 0, 3, order(3)),
    {"topic": "orders", "partition": 0, "offset": 4, "timestamp": TS, "timestampType": "LOG_APPEND_TIME",
     "value": b64(json.dumps(order(4)))},
    record("orders", 0, 5, order(5), key="k", headers=[("empty", "")]),
]))

mal = event([
    record("orders", 3, 40, order(40), key="k"),
    record("orders", 3, 41, order(41), key="k"),
    record("orders", 3, 42, order(42), key="k"),
])
mal["records"]["orders-3"][1]["value"] = "%%% not base64 %%%"
mal["records"]["orders-3"][2] = {"topic": "orders", "partition": 3, "timestamp": TS, "value": b64("{}")}
write("msk-malformed.json", mal)

write("not-kafka.json", {"Records": [{"eventSource": "aws:sqs", "messageId": "1", "body": "hello"}]})


# Dead letters as the reprocessor receives them.
def envelope(rec, kind, etype, message, replay_count=0):
    return {
        "version": 1,
        "source": {"eventSource": "aws:kafka", "eventSourceArn": ARN, "bootstrapServers": BOOT,
                   "topic": rec["topic"], "partition": rec["partition"], "offset": rec["offset"],
                   "timestamp": rec["timestamp"], "timestampType": rec["timestampType"]},
        "key": rec.get("key"), "value": rec.get("value"),
        "headers": [{"name": k, "value": b64(bytes(b % 256 for b in v))} for h in rec["headers"] for k, v in h.items()],
        "error": {"kind": kind, "type": etype, "message": message},
        "attempts": 1, "failedAt": "2026-11-22T04:00:00.000Z", "consumer": "orders-consumer",
        "replayCount": replay_count,
    }


def sqs_message(i, body, attrs):
    return {
        "messageId": f"059f36b4-87a3-44ab-83d2-66197506{i:04d}", "receiptHandle": f"AQEB{i}",
        "body": body, "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795320000000",
                                     "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1795320000001"},
        "messageAttributes": {k: {"stringValue": v, "dataType": "String", "stringListValues": [], "binaryListValues": []}
                              for k, v in attrs.items()},
        "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders-dlq", "awsRegion": "us-east-1",
    }


bad = record(T, 0, 12, {"order_id": "o-12", "amount": -5}, key="c-1", headers=[("trace-id", "t-12"), ("città", "Zürich")])
manual = record(T, 1, 21, order(21), key="c-2")
env_bad = envelope(bad, "permanent", "InvalidOrder", "amount must be a number >= 0")
env_manual = envelope(manual, "manual", "ManualReview", "order held for manual review")
sns_wrapped = {"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
               "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders-dlq", "Message": json.dumps(env_manual),
               "Timestamp": "2026-11-22T04:00:00.000Z", "SignatureVersion": "1"}
write("sqs-dlq.json", {"Records": [
    sqs_message(1, json.dumps(env_bad), {"dlq.kind": "permanent", "dlq.original.topic": T}),
    sqs_message(2, json.dumps(sns_wrapped), {}),
    sqs_message(3, "this is not a dead letter", {}),
]})


def dlq_record(rec, offset, kind, etype, replay_count=0):
    extra = [("dlq.original.topic", rec["topic"]), ("dlq.original.partition", str(rec["partition"])),
             ("dlq.original.offset", str(rec["offset"])), ("dlq.original.timestamp", str(rec["timestamp"])),
             ("dlq.original.timestamp-type", rec["timestampType"]), ("dlq.source", ARN),
             ("dlq.consumer", "orders-consumer"), ("dlq.kind", kind), ("dlq.error.type", etype),
             ("dlq.error.message", "sample"), ("dlq.attempts", "1"),
             ("dlq.failed-at", "2026-11-22T04:00:00.000Z"), ("dlq.replay-count", str(replay_count))]
    r = dict(rec)
    r["topic"], r["partition"], r["offset"] = "orders-dlq", rec["partition"] % 3, offset
    r["headers"] = rec["headers"] + [{k: java_bytes(v)} for k, v in extra]
    return r


write("msk-dlq-topic.json", {
    "eventSource": "aws:kafka", "eventSourceArn": ARN, "bootstrapServers": BOOT,
    "records": {"orders-dlq-0": [dlq_record(bad, 0, "permanent", "InvalidOrder")],
                "orders-dlq-1": [dlq_record(manual, 0, "manual", "ManualReview", replay_count=3)]},
})
