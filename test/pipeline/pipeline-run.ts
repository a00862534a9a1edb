// The setup every pipeline test starts from: the alerts its stream must give, a fresh topic and
// DLQ topic with their consumer group, a fresh database with the webhook subscriptions, and the
// service as a child process consuming the topic from the start with the fixture rules.
import type { Kafka as KafkaClient } from 'kafkajs';
import { afterEach } from 'vitest';
import type { Subscription } from '../../src/store/store.ts';
import { kafkaBrokers } from '../support/kafka.ts';
import { type ServiceProcess, startService } from '../support/service-process.ts';
import {
  type AlertFacts,
  createSubscriptions,
  createTestDatabase,
  createTopicOn,
  expectedAlerts,
  expectStoredExactly,
  kafkaFor,
  pipelineRulesDir,
  type StreamMessage,
  type TestDatabase,
  waitForZeroLag,
} from './pipeline-harness.ts';

export type Cleanup = (() => Promise<unknown>)[];

/** Steps pushed on the returned list run after each test, last pushed first; their failures are ignored. */
export function cleanupAfterEach(): Cleanup {
  const cleanup: Cleanup = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  });
  return cleanup;
}

export type PipelineRun = {
  /** The alerts `messages` must give, in firing order. */
  expected: AlertFacts[];
  /** How many alerts the messages before `offset` fire (the alerts a commit of `offset` covers). */
  alertsBefore(offset: number): number;
  kafka: KafkaClient;
  topic: string;
  dlqTopic: string;
  groupId: string;
  database: TestDatabase;
  subscriptions: Subscription[];
  service: ServiceProcess;
  /** The service's recent output (and `describe`'s text, if given), for failure messages. */
  context(): string;
  /** Waits until the group has committed every message of the stream (and the topic holds them all). */
  waitForAllConsumed(timeoutMs: number): Promise<number>;
  /** The exact comparison of what the service stored with `expected` (see expectStoredExactly). */
  expectStoredExactly(): Promise<{ alerts: number; jobs: number }>;
};

/**
 * Computes the expected alerts of `messages`, creates the topics (on `brokers`, the run's shared
 * broker unless given) and a fresh `store` database with its subscriptions, and starts the
 * service on them with `env` added. The database and the service go on `cleanup`, in that order,
 * so the service is killed before its database is disposed.
 */
export async function startPipelineRun(
  cleanup: Cleanup,
  options: {
    messages: readonly StreamMessage[];
    store: 'postgres' | 'sqlite';
    brokers?: string;
    env?: Record<string, string>;
    describe?: () => string;
  },
): Promise<PipelineRun> {
  const { messages } = options;
  const { alerts: expected, alertsBefore } = await expectedAlerts(messages);
  const brokers = options.brokers ?? kafkaBrokers();

  const kafka = kafkaFor(brokers);
  const topic = await createTopicOn(kafka);
  const dlqTopic = await createTopicOn(kafka);
  const groupId = `${topic}-group`;
  const database = await createTestDatabase(options.store);
  cleanup.push(() => database.dispose());
  const subscriptions = await createSubscriptions(database.store);

  const service = await startService({
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: groupId,
    KAFKA_DLQ_TOPIC: dlqTopic,
    KAFKA_START_FROM: 'earliest',
    TOCSIN_RULES_DIR: pipelineRulesDir,
    ...options.env,
    ...database.env,
  });
  cleanup.push(() => service.kill());
  const context = () =>
    `service output:\n${service.output().split('\n').slice(-60).join('\n')}` +
    (options.describe ? `\n${options.describe()}` : '');

  return {
    expected,
    alertsBefore,
    kafka,
    topic,
    dlqTopic,
    groupId,
    database,
    subscriptions,
    service,
    context,
    // The source group first, then the owners of the stateful matches it produced.
    waitForAllConsumed: async (timeoutMs) => {
      const started = Date.now();
      await waitForZeroLag(kafka, groupId, topic, {
        timeoutMs,
        expectedEnd: messages.length,
        describe: context,
      });
      await waitForZeroLag(kafka, `${groupId}.state`, `${topic}.matches`, {
        timeoutMs: Math.max(5_000, timeoutMs - (Date.now() - started)),
        describe: context,
      });
      return Date.now() - started;
    },
    expectStoredExactly: async () => {
      try {
        return await expectStoredExactly(database.store, expected, subscriptions);
      } catch (error) {
        // What the service warned about says why (a dead-lettered event, a fenced owner, …).
        (error as Error).message += `\nthe service's warnings and errors:\n${warningsOf(service.output())}`;
        throw error;
      }
    },
  };
}

/** The service's log lines at warn level or above (pino's numeric levels), the last 40. */
function warningsOf(output: string): string {
  const lines = output.split('\n').filter((line) => {
    const level = /"level":(\d+)/.exec(line)?.[1];
    return level !== undefined && Number(level) >= 40;
  });
  return lines.length === 0 ? '(none)' : lines.slice(-40).join('\n');
}
