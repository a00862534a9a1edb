// The graceful drain of the service process, in the order a load balancer and Kafka need it
// (src/http/http-drain.ts, app.ts close()): on SIGTERM /readyz answers 503 while every route
// still serves; after TOCSIN_DRAIN_DELAY_MS new connections are refused, and by the time the
// consumer has left its group they already are; a webhook delivery in flight finishes and is
// recorded; only then do the WebSocket streams close (1001), and the process exits 0.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite-store.ts';
import { createTopic, kafkaBrokers, kafkaClient, produce } from '../support/kafka.ts';
import { startService, testApiKey } from '../support/service-process.ts';
import { isAlertFor, openStream } from '../support/stream-client.ts';
import { seedEventPath } from '../support/test-app.ts';

/** A webhook receiver that holds every request until `release()`. */
async function startHoldingReceiver() {
  const held: ServerResponse[] = [];
  let releasedAt: number | undefined;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (releasedAt !== undefined) response.writeHead(204).end();
      else held.push(response);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    held: () => held.length,
    release() {
      releasedAt = Date.now();
      for (const response of held.splice(0)) response.writeHead(204).end();
      return releasedAt;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The status of a request on a new connection, or the connection error's code. */
async function statusOf(url: string, headers: Record<string, string> = {}): Promise<number | string> {
  try {
    const response = await fetch(url, { headers: { ...headers, connection: 'close' } });
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code ?? String(error);
  }
}

describe('graceful drain of the service process', () => {
  let receiver: Awaited<ReturnType<typeof startHoldingReceiver>>;
  let dataDir: string;
  beforeAll(async () => {
    receiver = await startHoldingReceiver();
    dataDir = await mkdtemp(join(tmpdir(), 'tocsin-drain-'));
  });
  afterAll(async () => {
    receiver?.release();
    await receiver?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers /readyz 503 first, refuses new connections before the consumer leaves, finishes the delivery in flight, then closes the streams', async () => {
    const topic = await createTopic();
    const groupId = `${topic}-group`;
    const secret = `drain-secret-${randomBytes(8).toString('hex')}`;
    const service = await startService({
      KAFKA_BROKERS: kafkaBrokers(),
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: await createTopic(),
      KAFKA_GROUP_ID: groupId,
      KAFKA_START_FROM: 'earliest',
      TOCSIN_DATA_DIR: dataDir,
      TOCSIN_SECRET: secret,
      TOCSIN_WEBHOOK_ALLOWLIST: '127.0.0.1',
      TOCSIN_WEBHOOK_TIMEOUT_MS: '120000',
      TOCSIN_DRAIN_DELAY_MS: '4000',
      TOCSIN_SHUTDOWN_TIMEOUT_MS: '120000',
      LOG_LEVEL: 'info',
    });
    const auth = { authorization: `Bearer ${testApiKey}` };
    const api = async (method: string, path: string, body: unknown) => {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await response.json()) as { id: string };
    };
    const admin = kafkaClient().admin();
    await admin.connect();
    try {
      const endpoint = await api('POST', '/v1/webhooks', { url: receiver.url });
      const subscriber = await api('POST', '/v1/subscribers', { name: 'Desk' });
      await api('POST', '/v1/subscriptions', {
        subscriberId: subscriber.id,
        channel: 'webhook',
        endpointId: endpoint.id,
        ruleIds: ['rare-earth-export-controls'],
      });
      const stream = await openStream(`${service.url.replace(/^http/, 'ws')}/v1/stream`, { headers: auth });
      const seedText = readFileSync(seedEventPath, 'utf8');
      const seed = JSON.parse(seedText) as { id: string };
      await produce(topic, [{ key: seed.id, value: seedText }]);
      await stream.next(isAlertFor('rare-earth-export-controls', seed.id), 30_000);
      // The delivery is in flight: the receiver holds it.
      await until('the webhook delivery to arrive', async () => (receiver.held() > 0 ? true : undefined));
      const members = async () => (await admin.describeGroups([groupId])).groups[0]?.members.length ?? 0;
      expect(await members()).toBe(1);

      const exited = service.stop(120_000);
      // 1. Draining: /readyz says so while the API still serves, on new connections.
      const draining = await until('/readyz 503', async () => {
        const response = await fetch(`${service.url}/readyz`, { headers: { connection: 'close' } });
        const body = (await response.json()) as { draining?: boolean };
        return response.status === 503 ? body : undefined;
      });
      expect(draining).toMatchObject({ ready: false, draining: true });
      expect(await statusOf(`${service.url}/v1/alerts`, auth)).toBe(200);
      expect(await members()).toBe(1);

      // 2. The consumer leaves its group only after HTTP stopped taking connections.
      await until('the consumer to leave its group', async () =>
        (await members()) === 0 ? true : undefined,
      );
      expect(await statusOf(`${service.url}/healthz`)).toBe('ECONNREFUSED');

      // 3. The delivery in flight is still held; the stream stays open and the process runs.
      expect(receiver.held()).toBe(1);
      expect(stream.closed()).toBeUndefined();
      expect(service.running()).toBe(true);
      const releasedAt = receiver.release();
      const closed = await stream.waitForClose(60_000);
      const closedAt = Date.now();
      expect(closed).toMatchObject({ code: 1001 });
      expect(closedAt).toBeGreaterThanOrEqual(releasedAt);
      expect(await exited).toBe(0);
    } finally {
      await admin.disconnect();
      if (service.running()) await service.kill();
    }

    // The delivery finished and was recorded before the store closed.
    const store = createSqliteStore({ filename: join(dataDir, 'tocsin.db'), secret });
    try {
      await store.migrate();
      const jobs = await store.deliveries.list({ status: 'sent' });
      expect(jobs.items.map((job) => job.channel)).toEqual(['webhook']);
    } finally {
      await store.close();
    }
  });
});
