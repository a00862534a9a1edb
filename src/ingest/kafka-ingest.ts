import kafkajs, {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import type { Config } from '../config.ts';
import { isAppError } from '../errors.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import {
  type CommitListener,
  type EventProcessor,
  type MatchSink,
  overBudgetReason,
} from './event-processor.ts';
import type { IntelEvent } from './event-schema.ts';
import { createKafkaClient, describeKafkaFailure } from './kafka-client.ts';
import { createTopicCheck, ensureMatchesTopic } from './kafka-topics.ts';
import { createMatchOwners } from './match-owners.ts';
import { parseEvent } from './parse-event.ts';

const { Partitioners } = kafkajs;

type KafkaConfig = NonNullable<Config['kafka']>;

/** Why a message was dead-lettered; the `tocsin-reason` header carries the full text. */
type RejectReason = 'not_json' | 'invalid_event' | 'too_large' | 'match_budget';

/** How many valid events are evaluated together before their offsets are resolved. */
const chunkSize = 200;

/** How often a missing topic is looked for again. */
const topicRetryMs = 2_000;

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
  /** What the owners of the matches topic commit to and notify (match-owners.ts). */
  owners: { store: Store; listeners: CommitListener[]; ackQuietMs: number };
}) {
  const log = deps.logger.child({ component: 'kafka-ingest' });
  const client = createKafkaClient(deps.kafka, deps.logger);
  const owners = createMatchOwners({
    client,
    topic: deps.kafka.matchesTopic,
    groupId: `${deps.kafka.groupId}.state`,
    sessionTimeoutMs: deps.kafka.sessionTimeoutMs,
    ...deps.owners,
    metrics: deps.metrics,
    logger: deps.logger,
  });
  let sink: MatchSink | undefined;
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;
  let admin: Admin | undefined;
  /** Topics not found at the last look; consuming starts once none is missing. */
  let missingTopics: string[] = [];
  let waiting: { timer: NodeJS.Timeout | undefined; done: Promise<void> } | undefined;
  let closed = false;

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
    let pending: { event: IntelEvent; message: KafkaMessage }[] = [];

    const flush = async () => {
      if (pending.length === 0) return;
      const { overBudget } = await deps.processor.process(
        pending.map((item) => item.event),
        'kafka',
        {
          partition: `${batch.topic}/${batch.partition}`,
          offsets: pending.map((item) => Number(item.message.offset)),
        },
      );
      // Dead-lettered before the offsets are resolved: a crash in between replays them.
      for (const { index, budgetMs } of overBudget) {
        const { message } = pending[index]!;
        await deadLetter(message, origin, 'match_budget', overBudgetReason(budgetMs));
      }
      resolveOffset(pending.at(-1)!.message.offset);
      pending = [];
      await heartbeat();
    };

    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      deps.metrics.eventsReceived.inc({ source: 'kafka' });
      const value = message.value;
      const rejection = judge(value, deps.maxMessageBytes);
      if ('event' in rejection) {
        pending.push({ event: rejection.event, message });
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

  /**
   * Joins the group and consumes; `fromBeginning` for a topic that appeared after the start. The
   * matches topic is made first (the source topic's partition count) and its owners started, so
   * the first stateful match has somewhere to go.
   */
  async function consume(fromBeginning: boolean): Promise<void> {
    await ensureMatchesTopic({
      admin: admin!,
      source: deps.kafka.topic,
      matches: deps.kafka.matchesTopic,
      replicationFactor: deps.kafka.createTopics?.replicationFactor,
      logger: deps.logger,
    });
    await owners.start();
    await consumer!.connect();
    await consumer!.subscribe({ topic: deps.kafka.topic, fromBeginning });
    await consumer!.run({ eachBatchAutoResolve: false, autoCommit: true, eachBatch });
    log.info({ topic: deps.kafka.topic, groupId: deps.kafka.groupId }, 'consuming');
  }

  /**
   * Looks for the missing topics every topicRetryMs until they exist, then consumes. A group that
   * has no committed offset reads such a topic from its beginning: every message in it is newer
   * than this start, so `latest` would only lose the first ones.
   */
  function waitForTopics(topics: ReturnType<typeof createTopicCheck>): void {
    let lastProblem = '';
    const state: { timer: NodeJS.Timeout | undefined; done: Promise<void> } = {
      timer: undefined,
      done: Promise.resolve(),
    };
    const attempt = async () => {
      state.timer = undefined;
      try {
        missingTopics = await topics.missing();
        if (missingTopics.length === 0) {
          if (closed) return;
          log.info({ topic: deps.kafka.topic }, 'the Kafka topics exist now');
          await consume(true);
          return;
        }
      } catch (error) {
        const problem = describeKafkaFailure(error, deps.kafka).message;
        if (problem !== lastProblem)
          log.warn({ topics: missingTopics }, `looking for the Kafka topics: ${problem}`);
        lastProblem = problem;
      }
      if (!closed) state.timer = setTimeout(() => (state.done = attempt()), topicRetryMs);
    };
    state.timer = setTimeout(() => (state.done = attempt()), topicRetryMs);
    waiting = state;
  }

  return {
    /** Where the source path produces stateful matches (the matches topic); usable after `start`. */
    matchSink: {
      send(records) {
        if (!sink) throw new Error('Kafka client not started');
        return sink.send(records);
      },
    } satisfies MatchSink,

    /** Partitions of the matches topic this instance owns now. */
    ownedPartitions: () => owners.owned(),

    /**
     * Connects (a wrong password or an untrusted certificate fails here, saying which) and
     * consumes; when a needed topic is missing it logs that once, resolves, and keeps looking.
     */
    async start(): Promise<void> {
      if (deps.kafka.sasl?.mechanism === 'plain' && !deps.kafka.ssl) {
        log.warn('KAFKA_SASL_MECHANISM=plain without KAFKA_SSL sends the password in clear text');
      }
      producer = client.producer({
        allowAutoTopicCreation: true,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      sink = owners.sink(producer);
      admin = client.admin();
      consumer = client.consumer({
        groupId: deps.kafka.groupId,
        sessionTimeout: deps.kafka.sessionTimeoutMs,
        heartbeatInterval: Math.max(500, Math.floor(deps.kafka.sessionTimeoutMs / 10)),
        rebalanceTimeout: Math.max(deps.kafka.sessionTimeoutMs, 10_000),
        maxBytesPerPartition: Math.max(1024 * 1024, deps.maxMessageBytes + 64 * 1024),
        maxBytes: Math.max(10 * 1024 * 1024, deps.maxMessageBytes * 2),
        allowAutoTopicCreation: false,
      });
      const topics = createTopicCheck({
        admin,
        consumed: [deps.kafka.topic],
        produced: [deps.kafka.dlqTopic],
        create: deps.kafka.createTopics,
        logger: deps.logger,
      });
      try {
        await Promise.all([admin.connect(), producer.connect()]);
        missingTopics = await topics.missing();
      } catch (error) {
        throw describeKafkaFailure(error, deps.kafka);
      }
      if (missingTopics.length === 0) {
        await consume(deps.kafka.startFrom === 'earliest');
        return;
      }
      log.warn(
        { topics: missingTopics },
        `Kafka topic ${missingTopics.join(', ')} does not exist: waiting for it (create it, or set TOCSIN_KAFKA_CREATE_TOPICS=true)`,
      );
      waitForTopics(topics);
    },

    /** Readiness: the needed topics exist and the cluster answers a metadata request. */
    async check(): Promise<void> {
      if (!admin) throw new Error('Kafka client not started');
      if (missingTopics.length > 0) {
        throw new Error(`Kafka topic ${missingTopics.join(', ')} does not exist (waiting for it)`);
      }
      try {
        await admin.describeCluster();
      } catch (error) {
        throw describeKafkaFailure(error, deps.kafka);
      }
    },

    /** Stops fetching, lets the batch in flight finish and commit, then disconnects. */
    async close(): Promise<void> {
      closed = true;
      if (waiting) {
        clearTimeout(waiting.timer);
        await waiting.done;
      }
      await consumer?.disconnect();
      await owners.close();
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
