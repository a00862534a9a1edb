// A Tocsin cluster for tests: N instances of the real service as child processes on one
// PostgreSQL schema and one consumer group, a source topic with several partitions, a real
// webhook receiver, and the expectations `tocsin match` gives for the stream.
import { randomUUID } from 'node:crypto';
import type { Kafka as KafkaClient } from 'kafkajs';
import { expect } from 'vitest';
import type { StoredAlert, Subscription } from '../../src/store/store.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../delivery/webhook/webhook-receiver.ts';
import {
  type AlertFacts,
  createTestDatabase,
  expectedAlerts,
  kafkaFor,
  pipelineRulesDir,
  type StreamMessage,
  sleep,
  storedAlerts,
  storedJobs,
  type TestDatabase,
  waitForZeroLag,
} from '../pipeline/pipeline-harness.ts';
import type { Cleanup } from '../pipeline/pipeline-run.ts';
import { kafkaBrokers } from '../support/kafka.ts';
import { type ServiceProcess, startService } from '../support/service-process.ts';

/** The fixture rules (test/fixtures/pipeline/rules): plain, throttled, threshold. */
export const plainRule = 'pipeline-rare-earth-exports';
export const throttledRule = 'pipeline-tanker-sanctions';
export const thresholdRule = 'pipeline-cyber-burst';
const thresholdCount = 3;
const thresholdWithinMs = 60 * 60_000;
const throttleMs = 30 * 60_000;

/** Short enough that a frozen instance loses its partitions quickly; the broker's minimum is 6 s. */
export const sessionTimeoutMs = 6_000;

export type Cluster = {
  kafka: KafkaClient;
  topic: string;
  groupId: string;
  database: TestDatabase;
  receiver: WebhookReceiver;
  subscriptions: Subscription[];
  instances: ServiceProcess[];
  expected: AlertFacts[];
  /** Starts one more instance on the same configuration. */
  addInstance(): Promise<ServiceProcess>;
  /** Produces the stream one message at a time, `pauseMs` apart; `at(n)` runs after the n-th. */
  produce(options: { pauseMs: number; at?: Record<number, () => Promise<void>> }): Promise<void>;
  /** Waits until the source group and the owners group have committed everything. */
  waitForAllConsumed(timeoutMs: number): Promise<void>;
  context(): string;
};

export async function startCluster(
  cleanup: Cleanup,
  options: { messages: readonly StreamMessage[]; instances: number; partitions: number },
): Promise<Cluster> {
  const { messages } = options;
  const { alerts: expected } = await expectedAlerts(messages);
  const kafka = kafkaFor(kafkaBrokers());
  const topic = `tocsin-cluster-${randomUUID()}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: options.partitions, replicationFactor: 1 }],
    });
  } finally {
    await admin.disconnect();
  }
  const groupId = `${topic}-group`;
  const database = await createTestDatabase('postgres');
  cleanup.push(() => database.dispose());
  const receiver = await startWebhookReceiver();
  cleanup.push(() => receiver.close());
  const subscriber = await database.store.subscribers.create({ name: 'Cluster test desk', timeZone: 'UTC' });
  const endpoint = await database.store.endpoints.create({ url: receiver.url });
  const subscriptions = [
    await database.store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
      mode: 'immediate',
      minSeverity: 'low',
    }),
  ];
  const env = {
    KAFKA_BROKERS: kafkaBrokers(),
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: groupId,
    KAFKA_DLQ_TOPIC: `${topic}.dlq`,
    KAFKA_START_FROM: 'earliest',
    KAFKA_SESSION_TIMEOUT_MS: String(sessionTimeoutMs),
    TOCSIN_RULES_DIR: pipelineRulesDir,
    TOCSIN_WEBHOOK_ALLOWLIST: '127.0.0.1',
    ...database.env,
  };
  const instances: ServiceProcess[] = [];
  const addInstance = async () => {
    const service = await startService(env, { healthTimeoutMs: 60_000 });
    instances.push(service);
    cleanup.push(() => service.kill());
    return service;
  };
  await Promise.all(Array.from({ length: options.instances }, addInstance));
  const context = () =>
    instances
      .map((service, i) => `instance ${i}:\n${service.output().split('\n').slice(-30).join('\n')}`)
      .join('\n');

  return {
    kafka,
    topic,
    groupId,
    database,
    receiver,
    subscriptions,
    instances,
    expected,
    addInstance,
    context,
    async produce({ pauseMs, at = {} }) {
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      try {
        for (let i = 0; i < messages.length; i++) {
          const message = messages[i]!;
          // Keyed by event id: the default partitioner spreads a group's events over partitions.
          await producer.send({ topic, acks: -1, messages: [{ key: message.key, value: message.value }] });
          await at[i + 1]?.();
          await sleep(pauseMs);
        }
      } finally {
        await producer.disconnect();
      }
    },
    async waitForAllConsumed(timeoutMs) {
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
    },
  };
}

/** The alerts as the exact comparison sees them: rule, group, event ids, status. */
export function factsOf(alerts: readonly (StoredAlert | AlertFacts)[]) {
  return alerts
    .map((alert) => ({
      id: alert.id,
      ruleId: alert.ruleId,
      group: alert.group,
      eventIds: alert.eventIds,
      suppressed: alert.status === 'suppressed',
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * What must hold whatever the faults (kill -9, rebalance, a frozen instance): plain alerts
 * exactly as expected; no alert or delivery twice; no event counted twice in one threshold
 * group; every threshold alert holds `count` distinct events of its group within the window;
 * the throttled rule alerted once per matching event, its delivered (active) alerts at least
 * the throttle apart; no job for an alert that is not active.
 */
export async function expectClusterInvariants(cluster: Cluster, messages: readonly StreamMessage[]) {
  const { store } = cluster.database;
  const alerts = await storedAlerts(store);
  const jobs = await storedJobs(store);
  const events = new Map<string, { publishedAt: string; source: { name: string } }>();
  for (const message of messages) {
    if (message.value === null || (message.kind !== 'event' && message.kind !== 'redelivery')) continue;
    const event = JSON.parse(message.value) as { id: string; publishedAt: string; source: { name: string } };
    events.set(event.id, event);
  }

  expect(new Set(alerts.map((alert) => alert.id)).size).toBe(alerts.length);
  const triples = alerts.map(
    (alert) => `${alert.ruleId}\u0000${alert.group}\u0000${alert.eventIds.join(',')}`,
  );
  expect(new Set(triples).size).toBe(alerts.length);

  const only = (ruleId: string, list: readonly (StoredAlert | AlertFacts)[]) =>
    factsOf(list.filter((alert) => alert.ruleId === ruleId));
  expect(only(plainRule, alerts)).toEqual(only(plainRule, cluster.expected));

  const counted = new Map<string, Set<string>>();
  for (const alert of alerts.filter((a) => a.ruleId === thresholdRule)) {
    expect(new Set(alert.eventIds).size).toBe(thresholdCount);
    const times = alert.eventIds.map((id) => Date.parse(events.get(id)!.publishedAt));
    expect(Math.max(...times) - Math.min(...times)).toBeLessThanOrEqual(thresholdWithinMs);
    for (const id of alert.eventIds) expect(events.get(id)!.source.name).toBe(alert.group);
    const seen = counted.get(alert.group!) ?? new Set<string>();
    for (const id of alert.eventIds) {
      expect(seen.has(id), `${id} counted twice in group ${alert.group}`).toBe(false);
      seen.add(id);
    }
    counted.set(alert.group!, seen);
  }
  // Almost all of the expected threshold alerts exist (a fault may regroup a few of them).
  const expectedThreshold = cluster.expected.filter((a) => a.ruleId === thresholdRule).length;
  expect(alerts.filter((a) => a.ruleId === thresholdRule).length).toBeGreaterThanOrEqual(
    Math.floor(expectedThreshold * 0.8),
  );

  const throttled = alerts.filter((a) => a.ruleId === throttledRule);
  expect(throttled.map((a) => a.eventIds[0]).sort()).toEqual(
    cluster.expected
      .filter((a) => a.ruleId === throttledRule)
      .map((a) => a.eventIds[0])
      .sort(),
  );
  const activeTimes = throttled
    .filter((a) => a.status === 'active')
    .map((a) => Date.parse(a.eventTime))
    .sort((a, b) => a - b);
  for (let i = 1; i < activeTimes.length; i++) {
    expect(activeTimes[i]! - activeTimes[i - 1]!).toBeGreaterThanOrEqual(throttleMs);
  }

  const byId = new Map(alerts.map((alert) => [alert.id, alert]));
  for (const job of jobs) expect(byId.get(job.alertId!)?.status).toBe('active');
  const active = alerts.filter((alert) => alert.status === 'active');
  expect(jobs.length).toBe(active.length * cluster.subscriptions.length);
  return { alerts, jobs };
}

/** No instance logged a deadlock (PostgreSQL 40P01) or a store retry. */
export function expectNoDeadlocks(cluster: Cluster) {
  for (const service of cluster.instances) {
    expect(service.output()).not.toMatch(/deadlock|40P01/i);
  }
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe?: () => string,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${describe ? `\n${describe()}` : ''}`);
}
