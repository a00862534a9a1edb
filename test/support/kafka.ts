// Helpers for tests against the run's real Kafka broker (started by test/global-setup.ts).
import { randomUUID } from 'node:crypto';
import kafkajs, { type CompressionTypes, type IHeaders, type Kafka as KafkaClient } from 'kafkajs';
import { inject } from 'vitest';

const { Kafka, logLevel, Partitioners } = kafkajs;

/** The broker list, in the format of KAFKA_BROKERS. */
export function kafkaBrokers(): string {
  const brokers = inject('kafkaBrokers');
  if (!brokers) throw new Error('no Kafka broker: run the tests through vitest.config.ts (its globalSetup)');
  return brokers;
}

let client: KafkaClient | undefined;

/** One kafkajs client per test worker, silent: failures reach the tests as rejections. */
export function kafkaClient(): KafkaClient {
  client ??= new Kafka({
    clientId: 'tocsin-test',
    brokers: kafkaBrokers().split(','),
    logLevel: logLevel.NOTHING,
  });
  return client;
}

export type TopicOptions = {
  partitions?: number;
  /** Topic configs, e.g. `{ 'compression.type': 'lz4' }`. */
  config?: Record<string, string>;
};

/** Creates a topic (a fresh `tocsin-test-<random>` one unless named) and waits for its leaders. */
export async function createTopic(name?: string, options: TopicOptions = {}): Promise<string> {
  const topic = name ?? `tocsin-test-${randomUUID()}`;
  const admin = kafkaClient().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: options.partitions ?? 1,
          replicationFactor: 1,
          configEntries: Object.entries(options.config ?? {}).map(([configName, value]) => ({
            name: configName,
            value,
          })),
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
  return topic;
}

export type TestMessage =
  | string
  | {
      key?: string | Buffer | null;
      value: string | Buffer | null;
      headers?: IHeaders;
      partition?: number;
    };

/** Produces messages in order (strings are values without a key), waiting for every acknowledgement. */
export async function produce(
  topic: string,
  messages: TestMessage[],
  options: { compression?: CompressionTypes } = {},
): Promise<void> {
  const producer = kafkaClient().producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      compression: options.compression,
      messages: messages.map((message) => (typeof message === 'string' ? { value: message } : message)),
    });
  } finally {
    await producer.disconnect();
  }
}

export type ConsumedMessage = {
  key: string | null;
  value: string | null;
  /** Header values as UTF-8 strings (the last one when a header repeats). */
  headers: Record<string, string>;
  partition: number;
  offset: string;
  timestamp: string;
  rawKey: Buffer | null;
  rawValue: Buffer | null;
};

/**
 * Reads a topic from the beginning with a fresh consumer group until `count` messages arrived,
 * and returns them in arrival order (offset order within a partition). Rejects after `timeoutMs`
 * with how many arrived, or at once when the consumer fails (e.g. a batch it cannot decompress).
 */
export async function consumeAll(
  topic: string,
  count: number,
  timeoutMs = 15_000,
): Promise<ConsumedMessage[]> {
  const consumer = kafkaClient().consumer({ groupId: `tocsin-test-${randomUUID()}` });
  const received: ConsumedMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`consumeAll(${topic}): ${received.length} of ${count} messages in ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      // A crash kafkajs recovers from (it restarts the consumer) is not a failure.
      consumer.on(consumer.events.CRASH, (event) => {
        if (!event.payload.restart) reject(event.payload.error);
      });
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            if (received.length >= count) return;
            received.push({
              key: message.key?.toString('utf8') ?? null,
              value: message.value?.toString('utf8') ?? null,
              headers: decodeHeaders(message.headers),
              partition,
              offset: message.offset,
              timestamp: message.timestamp,
              rawKey: message.key ?? null,
              rawValue: message.value ?? null,
            });
            if (received.length >= count) resolve();
          },
        })
        .catch(reject);
    });
    return received;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value.at(-1) : value;
    if (last !== undefined) decoded[name] = last.toString();
  }
  return decoded;
}
