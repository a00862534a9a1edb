// Started before its topic exists, the service says so once, answers /readyz 503 naming the
// topic, and starts consuming (from the topic's beginning) once it appears; with
// TOCSIN_KAFKA_CREATE_TOPICS it creates the events and dead-letter topics itself.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import kafkajs from 'kafkajs';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalBroker } from '../../scripts/kafka-broker.ts';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createTopic, kafkaBrokers, kafkaClient, produce } from '../support/kafka.ts';
import { isAlertFor, openStream } from '../support/stream-client.ts';
import { authHeaders, repoRoot, seedEventPath, testApiKey } from '../support/test-app.ts';

const seedText = readFileSync(seedEventPath, 'utf8');
const seed = JSON.parse(seedText) as { id: string };

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** The app in this process with its log lines collected. */
async function startApp(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-kafka-topics-'));
  const lines: { level: number; msg: string; topics?: string[] }[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({
    PORT: '0',
    TOCSIN_DATA_DIR: dataDir,
    TOCSIN_RULES_DIR: join(repoRoot, 'rules'),
    TOCSIN_API_KEY: testApiKey,
    KAFKA_BROKERS: kafkaBrokers(),
    ...env,
  });
  const app = await buildApp(config, { logger: pino({ level: 'info' }, sink) });
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  cleanup.push(() => app.close());
  await app.start();
  return { app, url: app.url(), lines };
}

async function readiness(url: string) {
  const response = await fetch(`${url}/readyz`);
  return {
    status: response.status,
    body: (await response.json()) as { checks: Record<string, { error?: string }> },
  };
}

async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('missing Kafka topics', () => {
  it('waits for a missing events topic: one log line, /readyz 503 naming it, then consumes it from its start', async () => {
    const topic = `tocsin-test-${randomUUID()}`;
    const dlqTopic = await createTopic();
    const service = await startApp({
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_GROUP_ID: `${topic}-group`,
    });

    const notReady = await readiness(service.url);
    expect(notReady.status).toBe(503);
    expect(notReady.body.checks.kafka!.error).toBe(`Kafka topic ${topic} does not exist (waiting for it)`);
    const said = service.lines.filter((line) => line.msg.includes('does not exist'));
    expect(said).toEqual([
      expect.objectContaining({
        level: 40,
        topics: [topic],
        msg: `Kafka topic ${topic} does not exist: waiting for it (create it, or set TOCSIN_KAFKA_CREATE_TOPICS=true)`,
      }),
    ]);
    // The service did not create it (a consumer's metadata request would, on this broker).
    const admin = kafkaClient().admin();
    await admin.connect();
    cleanup.push(() => admin.disconnect());
    expect(await admin.listTopics()).not.toContain(topic);

    const stream = await openStream(`${service.app.url().replace(/^http/, 'ws')}/v1/stream`, {
      headers: authHeaders,
    });
    cleanup.push(() => stream.close());
    await createTopic(topic);
    // Produced before the service noticed the topic: KAFKA_START_FROM=latest would skip it.
    await produce(topic, [{ key: seed.id, value: seedText }]);
    await eventually(
      async () => ((await readiness(service.url)).status === 200 ? true : undefined),
      20_000,
      '/readyz 200',
    );
    const message = await stream.next(isAlertFor('rare-earth-export-controls', seed.id), 15_000);
    expect(message.alert).toMatchObject({ eventIds: [seed.id] });
    expect(service.lines.filter((line) => line.msg.includes('does not exist'))).toHaveLength(1);
  });

  it('TOCSIN_KAFKA_CREATE_TOPICS=true creates the events and dead-letter topics with the configured partitions', async () => {
    const topic = `tocsin-test-${randomUUID()}`;
    const dlqTopic = `${topic}.dlq`;
    const service = await startApp({
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_GROUP_ID: `${topic}-group`,
      TOCSIN_KAFKA_CREATE_TOPICS: 'true',
      TOCSIN_KAFKA_TOPIC_PARTITIONS: '2',
      TOCSIN_KAFKA_TOPIC_REPLICATION: '1',
    });
    expect((await readiness(service.url)).status).toBe(200);
    const admin = kafkaClient().admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic, dlqTopic] });
      expect(topics.map((found) => [found.name, found.partitions.length]).sort()).toEqual(
        [
          [topic, 2],
          [dlqTopic, 2],
        ].sort(),
      );
    } finally {
      await admin.disconnect();
    }
    expect(service.lines).toContainEqual(
      expect.objectContaining({ msg: 'created the missing Kafka topics' }),
    );
  });

  it('consumes while the dead-letter topic is missing on a broker that does not create topics (one warning, ready)', async () => {
    // A broker of its own, configured as managed clusters are: no topic is created on demand.
    const broker = await startLocalBroker({ settings: { 'auto.create.topics.enable': 'false' } });
    cleanup.push(() => broker.stop());
    const topic = `tocsin-test-${randomUUID()}`;
    const dlqTopic = `${topic}.dlq`;
    const client = new kafkajs.Kafka({ brokers: [broker.brokers], logLevel: kafkajs.logLevel.NOTHING });
    const admin = client.admin();
    await admin.connect();
    cleanup.push(() => admin.disconnect());
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    const producer = client.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    cleanup.push(() => producer.disconnect());
    await producer.send({ topic, messages: [{ key: seed.id, value: seedText }] });

    const service = await startApp({
      KAFKA_BROKERS: broker.brokers,
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_GROUP_ID: `${topic}-group`,
      KAFKA_START_FROM: 'earliest',
    });
    const alert = await eventually(
      async () => {
        const response = await fetch(`${service.url}/v1/alerts?ruleId=rare-earth-export-controls`, {
          headers: authHeaders,
        });
        const page = (await response.json()) as { items: { eventIds: string[] }[] };
        return page.items.find((item) => item.eventIds.includes(seed.id));
      },
      30_000,
      'the seed alert from a topic whose dead-letter topic is missing',
    );
    expect(alert).toBeDefined();
    expect((await readiness(service.url)).status).toBe(200);
    expect(await admin.listTopics()).not.toContain(dlqTopic);
    const warned = service.lines.filter((line) =>
      line.msg.includes(`Kafka topic ${dlqTopic} does not exist yet`),
    );
    expect(warned).toEqual([expect.objectContaining({ level: 40, topics: [dlqTopic] })]);
  });
});
