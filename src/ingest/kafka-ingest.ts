import type { Admin, Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Config } from '../config.ts';
import { isAppError } from '../errors.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Logger } from '../logger.ts';
import type { EventProcessor } from './event-processor.ts';
import type { IntelEvent } from './event-schema.ts';
import { createKafkaClient } from './kafka-client.ts';
import { parseEvent } from './parse-event.ts';

type KafkaConfig = NonNullable<Config['kafka']>;

/** Why a message was dead-lettered; the `tocsin-reason` header carries the full text. */
type RejectReason = 'not_json' | 'invalid_event' | 'too_large';

/** How many valid events are evaluated together before their offsets are resolved. */
const chunkSize = 200;

/**
 * Consumes `KAFKA_TOPIC` in the consumer group `KAFKA_GROUP_ID`.
 *
 * Ordering invariant: offsets are resolved only after everything before them is done —
 * the valid events evaluated and their alerts accepted by the sink, the bad ones written to
 * the dead-letter topic — so a committed offset never covers unfinished work, and a crash
 * replays from the last commit. A bad message never blocks its partition: it is
 * dead-lettered with its reason and consumption goes on.
 */
export function createKafkaIngest(deps: {
  kafka: KafkaConfig;
  maxMessageBytes: number;
  processor: EventProcessor;
  metrics: Metrics;
  logger: Logger;
}) {
  const log = deps.logger.child({ component: 'kafka-ingest' });
  const client = createKafkaClient(deps.kafka, deps.logger);
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let admin: Admin | undefined;

  async function deadLetter(
    message: KafkaMessage,
    origin: { topic: string; partition: number },
    reason: RejectReason,
    detail: string,
  ) {
    await producer!.send({
      topic: deps.kafka.dlqTopic,
      messages: [
        {
          key: message.key,
          value: message.value,
          headers: {
            ...message.headers,
            'tocsin-reason': `${reason}: ${detail}`,
            'tocsin-origin-topic': origin.topic,
            'tocsin-origin-partition': String(origin.partition),
            'tocsin-origin-offset': message.offset,
          },
        },
      ],
    });
    deps.metrics.deadLettered.inc({ reason });
    deps.metrics.eventsRejected.inc({ source: 'kafka', reason });
    log.warn({ ...origin, offset: message.offset, reason, detail }, 'message dead-lettered');
  }

  async function eachBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const origin = { topic: batch.topic, partition: batch.partition };
    let pending: { event: IntelEvent; offset: string }[] = [];

    const flush = async () => {
      if (pending.length === 0) return;
      await deps.processor.process(
        pending.map((item) => item.event),
        'kafka',
      );
      resolveOffset(pending.at(-1)!.offset);
      pending = [];
      await heartbeat();
    };

    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      deps.metrics.eventsReceived.inc({ source: 'kafka' });
      const value = message.value;
      const rejection = judge(value, deps.maxMessageBytes);
      if ('event' in rejection) {
        pending.push({ event: rejection.event, offset: message.offset });
        if (pending.length >= chunkSize) await flush();
        continue;
      }
      await flush();
      await deadLetter(message, origin, rejection.reason, rejection.detail);
      resolveOffset(message.offset);
    }
    await flush();
    deps.metrics.consumerLag.set(
      { topic: batch.topic, partition: String(batch.partition) },
      Number(batch.offsetLag()),
    );
  }

  return {
    async start(): Promise<void> {
      producer = client.producer({ allowAutoTopicCreation: true });
      admin = client.admin();
      consumer = client.consumer({
        groupId: deps.kafka.groupId,
        maxBytesPerPartition: Math.max(1024 * 1024, deps.maxMessageBytes + 64 * 1024),
        maxBytes: Math.max(10 * 1024 * 1024, deps.maxMessageBytes * 2),
      });
      await Promise.all([producer.connect(), admin.connect(), consumer.connect()]);
      await consumer.subscribe({
        topic: deps.kafka.topic,
        fromBeginning: deps.kafka.startFrom === 'earliest',
      });
      await consumer.run({ eachBatchAutoResolve: false, autoCommit: true, eachBatch });
      log.info({ topic: deps.kafka.topic, groupId: deps.kafka.groupId }, 'consuming');
    },

    /** Readiness: the cluster answers a metadata request. */
    async check(): Promise<void> {
      if (!admin) throw new Error('Kafka client not started');
      await admin.describeCluster();
    },

    /** Stops fetching, lets the batch in flight finish and commit, then disconnects. */
    async close(): Promise<void> {
      await consumer?.disconnect();
      await producer?.disconnect();
      await admin?.disconnect();
    },
  };
}

export type KafkaIngest = ReturnType<typeof createKafkaIngest>;

function judge(
  value: Buffer | null,
  maxBytes: number,
): { event: IntelEvent } | { reason: RejectReason; detail: string } {
  if (value === null) return { reason: 'invalid_event', detail: 'the message has no value' };
  if (value.length > maxBytes) {
    return {
      reason: 'too_large',
      detail: `the message is ${value.length} bytes, over TOCSIN_MAX_BODY (${maxBytes})`,
    };
  }
  try {
    return { event: parseEvent(value.toString('utf8')) };
  } catch (error) {
    if (!isAppError(error, 'TOCSIN_INVALID_EVENT')) throw error;
    return {
      reason: error.message.startsWith('not JSON') ? 'not_json' : 'invalid_event',
      detail: error.message,
    };
  }
}
