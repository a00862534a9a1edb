// Shared pieces of the pipeline tests (real broker, real database, the service as a child
// process): a seeded stream of events, the alerts it must give (computed in-process with the
// service's own pure code), Kafka helpers that take any client (the shared broker or a private
// one), the consumer-group lag, a fresh database per test, and the exact comparison of what the
// service stored with what was expected.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs, { type Admin, type Kafka as KafkaClient } from 'kafkajs';
import pg from 'pg';
import { expect } from 'vitest';
import type { Alert } from '../../src/alerts/alert.ts';
import { createAlertEngine } from '../../src/alerts/alert-engine.ts';
import { subscriptionWants } from '../../src/alerts/alert-routing.ts';
import { loadOrCreateSecret } from '../../src/http/api-keys.ts';
import { parseEvent } from '../../src/ingest/parse-event.ts';
import { loadRules } from '../../src/rules/load-rules.ts';
import { createRuleIndex } from '../../src/rules/rule-index.ts';
import { createStore } from '../../src/store/create-store.ts';
import { deliveryJobId } from '../../src/store/delivery-ids.ts';
import type { AlertStatus, DeliveryJob, Store, StoredAlert, Subscription } from '../../src/store/store.ts';
import { assertPostgresReachable, testDatabaseUrl } from '../store/store-harness.ts';
import { repoRoot } from '../support/test-app.ts';

const { Kafka, logLevel } = kafkajs;

export const pipelineRulesDir = join(repoRoot, 'test/fixtures/pipeline/rules');

// ─── A seeded stream ────────────────────────────────────────────────────────

/** mulberry32: a small, fast PRNG; the same seed gives the same stream on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type PoisonKind = 'not_json' | 'invalid_event' | 'too_large';

export type StreamMessage = {
  key: string;
  value: string | null;
  /** `event`: a valid event (`redelivery` when its id came before); else why it must be dead-lettered. */
  kind: 'event' | 'redelivery' | PoisonKind;
};

export type StreamOptions = {
  seed: number;
  /** Distinct valid events (default 5,000). */
  events?: number;
  /** Share of valid events sent a second time later in the stream (default 1 %). */
  redeliveryRate?: number;
  /** Share of poison messages among all messages (default 0). */
  poisonRate?: number;
  /** Size of a too-large poison message (set TOCSIN_MAX_BODY below it, above every valid event). */
  tooLargeBytes?: number;
};

const sources = ['Reuters', 'Nikkei', 'Lloyd’s List', 'Bloomberg', 'Caixin'];
const filler = [
  'markets',
  'ministers',
  'quarterly',
  'outlook',
  'shipping',
  'ports',
  'energy',
  'grid',
  'talks',
  'summit',
  'budget',
  'inflation',
  'currency',
  'harvest',
  'drought',
  'mining',
  'refinery',
  'logistics',
  'election',
  'freight',
];

/**
 * A deterministic stream: `events` small valid events (a known share match the fixture rules —
 * rare-earth export controls, sanctions near tankers, cyber incidents per source — with decoys
 * that almost match), event times about 40 s apart with jitter (so some arrive late), some
 * events redelivered, and poison messages spread through it when asked.
 */
export function generateStream(options: StreamOptions): StreamMessage[] {
  const random = seededRandom(options.seed);
  const count = options.events ?? 5_000;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const words = (n: number) => Array.from({ length: n }, () => pick(filler)).join(' ');
  const base = Date.parse('2026-01-05T00:00:00Z');

  const events: string[] = [];
  for (let i = 0; i < count; i++) {
    const titleParts = [words(3)];
    const summaryParts = [words(8)];
    if (random() < 0.07) summaryParts.push('New rare-earth export controls were announced today.');
    else if (random() < 0.04) summaryParts.push('Rare earth prices rose while export volumes held.');
    if (random() < 0.06) titleParts.push('sanctions hit two tankers');
    else if (random() < 0.03)
      titleParts.push('sanctions were debated by ministers for hours before tankers sailed');
    if (random() < 0.12) summaryParts.push('A cyberattack disrupted port systems.');
    const event = {
      id: `evt-${options.seed}-${String(i).padStart(5, '0')}`,
      publishedAt: new Date(base + i * 40_000 + Math.round((random() - 0.5) * 180_000)).toISOString(),
      title: titleParts.join(': '),
      summary: summaryParts.join(' '),
      source: { name: pick(sources) },
      category: random() < 0.1 ? 'opinion' : 'news',
      severity: 1 + Math.floor(random() * 5),
      regions: [pick(['East Asia', 'Europe', 'Middle East', 'North America'])],
    };
    events.push(JSON.stringify(event));
  }

  const messages: StreamMessage[] = [];
  const redeliveryRate = options.redeliveryRate ?? 0.01;
  for (const value of events) {
    const id = (JSON.parse(value) as { id: string }).id;
    messages.push({ key: id, value, kind: 'event' });
    if (random() < redeliveryRate && messages.length > 1) {
      // An event seen a little earlier comes again (a producer retry, a replayed upstream).
      const back = 1 + Math.floor(random() * Math.min(300, messages.length - 1));
      const earlier = messages[messages.length - 1 - back]!;
      if (earlier.kind === 'event') messages.push({ ...earlier, kind: 'redelivery' });
    }
  }

  const poisonRate = options.poisonRate ?? 0;
  if (poisonRate > 0) {
    const poisonCount = Math.round((messages.length * poisonRate) / (1 - poisonRate));
    const kinds: PoisonKind[] = ['not_json', 'invalid_event', 'too_large'];
    for (let n = 0; n < poisonCount; n++) {
      const kind = kinds[n % kinds.length]!;
      const at = Math.floor(random() * (messages.length + 1));
      messages.splice(at, 0, poison(kind, n, options));
    }
  }
  return messages;
}

function poison(kind: PoisonKind, n: number, options: StreamOptions): StreamMessage {
  const key = `poison-${options.seed}-${n}`;
  switch (kind) {
    case 'not_json':
      return { key, kind, value: n % 2 === 0 ? `{"id": "${key}", "title": ` : `not json at all #${n}` };
    case 'invalid_event':
      // Every other one has no value at all (a tombstone), the rest miss the required title.
      return n % 2 === 0
        ? { key, kind, value: JSON.stringify({ id: key, publishedAt: '2026-01-05T00:00:00Z' }) }
        : { key, kind, value: null };
    case 'too_large': {
      const size = options.tooLargeBytes ?? 8_192;
      const event = {
        id: key,
        publishedAt: '2026-01-05T00:00:00Z',
        title: 'cyber sanctions tankers',
        body: '',
      };
      event.body = 'x'.repeat(size - JSON.stringify(event).length);
      return { key, kind, value: JSON.stringify(event) };
    }
  }
}

// ─── What the service must store ────────────────────────────────────────────

export type AlertFacts = {
  id: string;
  ruleId: string;
  severity: Alert['severity'];
  tags: string[];
  group: string | null;
  eventIds: string[];
  status: AlertStatus;
};

export type JobFacts = { id: string; alertId: string; subscriptionId: string };

/**
 * The alerts of the stream in produced order, from the same pure code the service runs: the
 * fixture rules (`loadRules`), the rule index and the alert engine. Poison messages are skipped
 * (the service dead-letters them). No silences nor acknowledgements exist in these tests, so an
 * alert is `suppressed` exactly when the throttle suppressed it, else `active`.
 */
export async function expectedAlerts(messages: readonly StreamMessage[]): Promise<ExpectedRun> {
  const matcher = createRuleIndex(await loadRules(pipelineRulesDir));
  const engine = createAlertEngine(undefined, { trackChanges: false, dedupIds: true });
  const alerts: Alert[] = [];
  const before: number[] = [];
  for (const message of messages) {
    before.push(alerts.length);
    if (message.kind !== 'event' && message.kind !== 'redelivery') continue;
    const event = parseEvent(message.value!);
    alerts.push(...engine.process(event, matcher.match(event)));
  }
  before.push(alerts.length);
  const facts = alerts.map((alert) => ({
    id: alert.id,
    ruleId: alert.ruleId,
    severity: alert.severity,
    tags: alert.tags,
    group: alert.group,
    eventIds: alert.eventIds,
    status: (alert.suppressed ? 'suppressed' : 'active') as AlertStatus,
  }));
  if (new Set(facts.map((alert) => alert.id)).size !== facts.length) {
    throw new Error('the expected alerts repeat an id: the fixture stream or the engine is wrong');
  }
  return { alerts: facts, alertsBefore: (offset) => before[Math.max(0, Math.min(offset, messages.length))]! };
}

export type ExpectedRun = {
  /** In firing order. */
  alerts: AlertFacts[];
  /** How many alerts the messages before `offset` fire (the alerts a commit of `offset` covers). */
  alertsBefore(offset: number): number;
};

/** One job per (active alert, immediate subscription that wants it), with the id the outbox must use. */
export function expectedJobs(
  alerts: readonly AlertFacts[],
  subscriptions: readonly Subscription[],
): JobFacts[] {
  const byId = new Map(alerts.map((alert) => [alert.id, alert]));
  const jobs: JobFacts[] = [];
  for (const alert of byId.values()) {
    if (alert.status !== 'active') continue;
    for (const subscription of subscriptions) {
      if (subscription.mode !== 'immediate') continue;
      if (!subscriptionWants(subscription, alert as unknown as Alert)) continue;
      jobs.push({
        id: deliveryJobId(alert.id, subscription.id),
        alertId: alert.id,
        subscriptionId: subscription.id,
      });
    }
  }
  return jobs;
}

/**
 * A subscriber with two immediate webhook subscriptions to an endpoint nobody listens on: one
 * for every alert of severity low or more, one for the threshold rule only. Created in the
 * store before the service starts, so every batch routes to them.
 */
export async function createSubscriptions(store: Store): Promise<Subscription[]> {
  const subscriber = await store.subscribers.create({ name: 'Pipeline test desk', timeZone: 'UTC' });
  const endpoint = await store.endpoints.create({ url: 'http://127.0.0.1:9/tocsin-pipeline-test' });
  return [
    await store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
      mode: 'immediate',
      minSeverity: 'low',
    }),
    await store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
      mode: 'immediate',
      ruleIds: ['pipeline-cyber-burst'],
      minSeverity: 'info',
    }),
  ];
}

/** Every stored alert, in log order (the log is read to its end, 1,000 at a time). */
export async function storedAlerts(store: Store): Promise<StoredAlert[]> {
  const all: StoredAlert[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page = await store.alerts.after(cursor, 1_000);
    if (page.length === 0) return all;
    all.push(...page);
    cursor = page.at(-1)!.cursor;
  }
}

export async function storedJobs(store: Store): Promise<DeliveryJob[]> {
  const all: DeliveryJob[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await store.deliveries.list({ limit: 1_000, ...(cursor && { cursor }) });
    all.push(...page.items);
    if (!page.nextCursor) return all;
    cursor = page.nextCursor;
  }
}

/**
 * The exact comparison: every expected alert stored once, with its rule, group, event ids and
 * status, and nothing else; every expected delivery job once, with its stable id, and nothing
 * else. A failure lists what is missing, extra, stored twice or different (a few of each).
 */
export async function expectStoredExactly(
  store: Store,
  expected: readonly AlertFacts[],
  subscriptions: readonly Subscription[],
): Promise<{ alerts: number; jobs: number }> {
  const alerts = await storedAlerts(store);
  const jobs = await storedJobs(store);
  const alertReport = diff(
    expected,
    alerts.map((alert) => ({
      id: alert.id,
      ruleId: alert.ruleId,
      severity: alert.severity,
      tags: alert.tags,
      group: alert.group,
      eventIds: alert.eventIds,
      status: alert.status,
    })),
  );
  const jobReport = diff(
    expectedJobs(expected, subscriptions),
    jobs.map((job) => ({ id: job.id, alertId: job.alertId!, subscriptionId: job.subscriptionId })),
  );
  expect({ alerts: alertReport, jobs: jobReport }).toEqual({ alerts: cleanReport, jobs: cleanReport });
  // (rule, event ids) pairs are unique too: no alert was stored twice under another id.
  const pairs = new Set(
    alerts.map((alert) => `${alert.ruleId}\u0000${alert.group}\u0000${alert.eventIds.join(',')}`),
  );
  expect(pairs.size).toBe(alerts.length);
  return { alerts: alerts.length, jobs: jobs.length };
}

const cleanReport = { missing: 0, extra: 0, duplicated: 0, different: 0, examples: [] };

function diff<T extends { id: string }>(expected: readonly T[], actual: readonly T[]) {
  const want = new Map(expected.map((item) => [item.id, item]));
  const seen = new Map<string, number>();
  for (const item of actual) seen.set(item.id, (seen.get(item.id) ?? 0) + 1);
  const missing = expected.filter((item) => !seen.has(item.id));
  const extra = actual.filter((item) => !want.has(item.id));
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  const different = actual.filter((item) => {
    const wanted = want.get(item.id);
    return wanted !== undefined && JSON.stringify(canonical(wanted)) !== JSON.stringify(canonical(item));
  });
  return {
    missing: missing.length,
    extra: extra.length,
    duplicated: duplicated.length,
    different: different.length,
    examples: [
      ...missing.slice(0, 3).map((item) => ({ missing: item })),
      ...extra.slice(0, 3).map((item) => ({ extra: item })),
      ...duplicated.slice(0, 3).map((id) => ({ duplicated: id })),
      ...different.slice(0, 3).map((item) => ({ stored: item, expected: want.get(item.id) })),
    ],
  };
}

function canonical(value: object): [string, unknown][] {
  return Object.entries(value).sort(([a], [b]) => a.localeCompare(b));
}

// ─── Kafka, on any broker ───────────────────────────────────────────────────

export function kafkaFor(brokers: string): KafkaClient {
  return new Kafka({
    clientId: 'tocsin-pipeline-test',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 2_000 },
  });
}

export async function createTopicOn(
  kafka: KafkaClient,
  name = `tocsin-pipeline-${randomUUID()}`,
): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: name, numPartitions: 1, replicationFactor: 1 }],
    });
  } finally {
    await admin.disconnect();
  }
  return name;
}

/**
 * Produces `messages` in order on partition 0 with an idempotent producer (no duplicates, no
 * reordering on retries), `burst` at a time with `pauseMs` between bursts — the pace of a live
 * feed rather than a backlog. `stopWhen` runs after each acknowledged burst with how many are on
 * the topic; it may stop the feed early. Resolves with how many were produced.
 */
export async function produceStream(
  kafka: KafkaClient,
  topic: string,
  messages: readonly StreamMessage[],
  options: {
    burst?: number;
    pauseMs?: number;
    /** Checked after each burst: true stops producing (the rest is not sent). */
    stopWhen?: (produced: number) => boolean | Promise<boolean>;
  } = {},
): Promise<number> {
  const burst = options.burst ?? 250;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let start = 0; start < messages.length; start += burst) {
      await producer.send({
        topic,
        acks: -1,
        messages: messages.slice(start, start + burst).map((message) => ({
          key: message.key,
          value: message.value,
          partition: 0,
        })),
      });
      const produced = Math.min(start + burst, messages.length);
      if (await options.stopWhen?.(produced)) return produced;
      if (options.pauseMs && produced < messages.length) await sleep(options.pauseMs);
    }
    return messages.length;
  } finally {
    await producer.disconnect();
  }
}

/** Messages on the topic (end offset minus start offset, all partitions). */
export async function topicSize(kafka: KafkaClient, topic: string): Promise<number> {
  return withAdmin(kafka, async (admin) => {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  });
}

/** The group's committed offset on partition 0 (-1: nothing committed yet). */
export async function committedOffset(kafka: KafkaClient, groupId: string, topic: string): Promise<number> {
  return withAdmin(kafka, async (admin) => {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Number(entry?.partitions.find((p) => p.partition === 0)?.offset ?? -1);
  });
}

/** Uncommitted messages of the group on the topic: end offsets minus committed offsets. */
export async function consumerLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const committedOf = new Map(
    (committed.find((entry) => entry.topic === topic)?.partitions ?? []).map((p) => [
      p.partition,
      Number(p.offset),
    ]),
  );
  let lag = 0;
  for (const end of ends) {
    const at = committedOf.get(end.partition) ?? -1;
    lag += Number(end.high) - (at < 0 ? Number(end.low) : at);
  }
  return lag;
}

/**
 * Waits until the group has committed everything on the topic (lag 0). Errors while the broker
 * is away are retried until the deadline; the last lag or error is in the timeout message.
 */
export async function waitForZeroLag(
  kafka: KafkaClient,
  groupId: string,
  topic: string,
  options: { timeoutMs: number; expectedEnd?: number; describe?: () => string },
): Promise<number> {
  const started = Date.now();
  let last = 'not asked yet';
  let admin: Admin | undefined;
  try {
    while (Date.now() - started < options.timeoutMs) {
      try {
        if (!admin) {
          admin = kafka.admin();
          await admin.connect();
        }
        const lag = await consumerLag(admin, groupId, topic);
        last = `lag ${lag}`;
        if (lag === 0) {
          const size = options.expectedEnd === undefined ? undefined : await topicSize(kafka, topic);
          if (size === undefined || size === options.expectedEnd) return Date.now() - started;
          last = `lag 0 but the topic holds ${size} of ${options.expectedEnd} messages`;
        }
      } catch (error) {
        last = `error: ${(error as Error).message}`;
        await admin?.disconnect().catch(() => {});
        admin = undefined;
      }
      await sleep(250);
    }
  } finally {
    await admin?.disconnect().catch(() => {});
  }
  throw new Error(
    `group ${groupId} did not catch up with ${topic} within ${options.timeoutMs} ms (${last})` +
      (options.describe ? `\n${options.describe()}` : ''),
  );
}

export async function withAdmin<T>(kafka: KafkaClient, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

// ─── A fresh database per test ──────────────────────────────────────────────

export type TestDatabase = {
  kind: 'postgres' | 'sqlite';
  /** Variables that point the service at it (DATABASE_URL, or TOCSIN_DATA_DIR for SQLite). */
  env: Record<string, string>;
  /** PostgreSQL: the `application_name` of the service's connections (and only theirs). */
  serviceApplicationName?: string;
  /** A store of the test's own (its own connections), migrated. */
  store: Store;
  dispose(): Promise<void>;
};

/**
 * PostgreSQL: a fresh schema in TEST_DATABASE_URL; the service's URL selects it with
 * `options=-c search_path=…` and names its connections with a unique `application_name`, so a
 * test can terminate exactly those. SQLite: a fresh TOCSIN_DATA_DIR.
 */
export async function createTestDatabase(kind: 'postgres' | 'sqlite'): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dataDir = await mkdtemp(join(tmpdir(), 'tocsin-pipeline-'));
    // The service's secret file: endpoints this store writes are encrypted as the service reads them.
    const store = createStore({ dataDir, secret: await loadOrCreateSecret(dataDir) });
    await store.migrate();
    return {
      kind,
      env: { TOCSIN_DATA_DIR: dataDir },
      store,
      async dispose() {
        await store.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  await assertPostgresReachable();
  const schema = `tocsin_pipe_${randomBytes(6).toString('hex')}`;
  const urlFor = (applicationName: string) => {
    const url = new URL(testDatabaseUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    url.searchParams.set('application_name', applicationName);
    return url.toString();
  };
  await withPostgres((client) => client.query(`create schema "${schema}"`));
  const dataDir = await mkdtemp(join(tmpdir(), 'tocsin-pipeline-'));
  const store = createStore({
    databaseUrl: urlFor(`${schema}_test`),
    dataDir,
    secret: await loadOrCreateSecret(dataDir),
  });
  await store.migrate();
  return {
    kind,
    env: { DATABASE_URL: urlFor(`${schema}_svc`), TOCSIN_DATA_DIR: dataDir },
    serviceApplicationName: `${schema}_svc`,
    store,
    async dispose() {
      await store.close();
      await withPostgres((client) => client.query(`drop schema if exists "${schema}" cascade`));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function withPostgres<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: testDatabaseUrl,
    application_name: 'tocsin-pipeline-admin',
  });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

// ─── Following the service ──────────────────────────────────────────────────

/** Counts the alerts the service has committed, by tailing the store's alert log. */
export function alertCounter(store: Store) {
  let cursor: string | null = null;
  let count = 0;
  return {
    async poll(): Promise<number> {
      for (;;) {
        const page = await store.alerts.after(cursor, 1_000);
        if (page.length === 0) return count;
        count += page.length;
        cursor = page.at(-1)!.cursor;
      }
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
