// Powertools for AWS Lambda (TypeScript) Kafka handlers for the benchmark.
//
// @aws-lambda-powertools/batch 2.35.0 (latest) has no Kafka event type
// (EventType: SQS, KinesisDataStreams, DynamoDBStreams only). Its Kafka
// support is @aws-lambda-powertools/kafka's kafkaConsumer, which turns the
// MSK event's records into lazily deserialized records. These handlers use
// it and collect failures the way Powertools Python's Kafka BatchProcessor
// reports them ({itemIdentifier: {partition: "<topic>-<partition>", offset}}).
import { kafkaConsumer } from '@aws-lambda-powertools/kafka';

const settle = (records, recordHandler) => {
  const batchItemFailures = [];
  for (const record of records) {
    try {
      recordHandler(record);
    } catch {
      batchItemFailures.push({
        itemIdentifier: { partition: `${record.topic}-${record.partition}`, offset: record.offset },
      });
    }
  }
  return { batchItemFailures };
};

// noop: records pass through kafkaConsumer; the record handler touches nothing.
export const noop = kafkaConsumer(async (event) => settle(event.records, () => {}));

// json: value deserialized by kafkaConsumer's JSON deserializer (base64
// decode + JSON.parse on access to record.value).
export const json = kafkaConsumer(
  async (event) =>
    settle(event.records, (record) => {
      if (record.value === undefined) throw new Error('no value');
    }),
  { value: { type: 'json' } },
);
