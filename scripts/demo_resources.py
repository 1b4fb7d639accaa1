#!/usr/bin/env python3
"""Creates the demo's SQS queues, SNS topic and S3 bucket on the local AWS
endpoint (moto), idempotently, and prints their addresses as shell variables."""
import json
import os

import boto3

endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:15000")
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
sqs = boto3.client("sqs", **kw)
sns = boto3.client("sns", **kw)
s3 = boto3.client("s3", **kw)

dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
fifo = sqs.create_queue(QueueName="orders-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
parking = sqs.create_queue(QueueName="orders-parking-lot")["QueueUrl"]
# Lambda's on-failure destination: the template's DeadLetterQueue resource.
on_failure = sqs.create_queue(QueueName="DeadLetterQueue")["QueueUrl"]
sns_queue = sqs.create_queue(QueueName="orders-dlq-from-sns")["QueueUrl"]
topic = sns.create_topic(Name="orders-dlq")["TopicArn"]
queue_arn = sqs.get_queue_attributes(QueueUrl=sns_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
if not any(s["Endpoint"] == queue_arn for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]):
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
s3.create_bucket(Bucket="orders-dlq-large")

print(f"export DEMO_SQS_DLQ_URL={json.dumps(dlq)}")
print(f"export DEMO_SQS_FIFO_DLQ_URL={json.dumps(fifo)}")
print(f"export DEMO_SQS_PARKING_URL={json.dumps(parking)}")
print(f"export DEMO_ON_FAILURE_URL={json.dumps(on_failure)}")
print(f"export DEMO_SNS_DLQ_ARN={json.dumps(topic)}")
print(f"export DEMO_SNS_SUBSCRIBER_URL={json.dumps(sns_queue)}")
print("export DEMO_BUCKET=orders-dlq-large")
