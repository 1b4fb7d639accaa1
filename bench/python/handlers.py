"""Powertools for AWS Lambda (Python) Kafka batch handlers for the benchmark.

Both go through BatchProcessor(event_type=EventType.Kafka) and
process_partial_response, as the Powertools docs show for Kafka/MSK.

    noop_handler: record_handler does nothing
    json_handler: record_handler json.loads each record's (base64) value
"""
import json

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord

processor = BatchProcessor(event_type=EventType.Kafka)


def noop_record(record: KafkaEventRecord) -> None:
    pass


def json_record(record: KafkaEventRecord) -> None:
    json.loads(record.decoded_value)


def noop_handler(event, context):
    return process_partial_response(
        event=event, record_handler=noop_record, processor=processor, context=context
    )


def json_handler(event, context):
    return process_partial_response(
        event=event, record_handler=json_record, processor=processor, context=context
    )
