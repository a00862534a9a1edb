import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AlertLog,
  createStreamHub,
  type StreamHub,
} from '../../../src/delivery/websocket/stream-hub.ts';
import { streamRoutes } from '../../../src/delivery/websocket/stream-routes.ts';
import { createStreamTokens } from '../../../src/delivery/websocket/stream-tokens.ts';
import { createApiKeyAuth } from '../../../src/http/auth.ts';
import { createHttpServer, type HttpServer } from '../../../src/http/http-server.ts';
import { createLogger } from '../../../src/logger.ts';
import type { Store } from '../../../src/store/store.ts';
import {
  type Backend,
  type Harness,
  makeAlert,
  postgresHarness,
  sleep,
  sqliteHarness,
} from '../../store/store-harness.ts';
import { openStream } from '../../support/stream-client.ts';
import { alertMessages } from './stream-harness.ts';

const staticKey = 'stream-hub-test-key-0123456789';
const headers = { authorization: `Bearer ${staticKey}` };

/**
 * The store's alert log with random delays before and after every read, so the hub's live
 * reads and the connections' backlog reads interleave every possible way: a backlog read
 * overtakes the tail, the tail overtakes it, both land between two commits.
 */
function jittery(log: Store['alerts'], maxMs: number): AlertLog {
  const pause = () => sleep(Math.random() * maxMs);
  return {
    async after(cursor, limit, scope) {
      await pause();
      const alerts = await log.after(cursor, limit, scope);
      await pause();
      return alerts;
    },
    headCursor: () => log.headCursor(),
    isCursorExpired: (cursor) => log.isCursorExpired(cursor),
  };
}

type Rig = { backend: Backend; hub: StreamHub; http: HttpServer; wsUrl: string };

async function startRig(harness: Harness): Promise<Rig> {
  const backend = await harness.create();
  const logger = createLogger('silent');
  const hub = createStreamHub({
    keys: backend.store.apiKeys,
    log: jittery(backend.store.alerts, 8),
    logger,
    heartbeatMs: 60_000,
    pollMs: 25,
    limits: {
      maxQueueBytes: 4 * 1024 ** 2,
      maxConnectionsPerKey: 100,
      maxMessageBytes: 4096,
      messagesPerSecond: 10,
    },
  });
  const secret = 'stream-hub-test-secret-0123456789';
  const http = await createHttpServer({
    logger,
    maxBodyBytes: 1024 ** 2,
    auth: createApiKeyAuth({ store: backend.store, secret, staticKey }),
    routes: [
      streamRoutes({
        hub,
        tokens: createStreamTokens({ secret, ttlMs: 60_000 }),
        keys: backend.store.apiKeys,
        heartbeatMs: 60_000,
      }),
    ],
  });
  await hub.start();
  await http.listen({ port: 0, host: '127.0.0.1' });
  const { port } = http.server.address() as AddressInfo;
  return { backend, hub, http, wsUrl: `ws://127.0.0.1:${port}/v1/stream` };
}

describe.each([sqliteHarness, postgresHarness])(
  'stream hub on $name: the seam between backlog and live',
  (harness) => {
    let rig: Rig | undefined;
    afterEach(async () => {
      await rig?.hub.close();
      await rig?.http.close();
      await rig?.backend.dispose();
      rig = undefined;
    });

    it('gives every resuming client the exact log while three writers commit concurrently', async () => {
      rig = await startRig(harness);
      const { backend, hub, wsUrl } = rig;
      const start = await backend.store.alerts.headCursor();
      // Writers as instances would be (three on PostgreSQL; SQLite has one process): half the
      // commits tell the hub (a local commit), the hub finds the others by polling.
      const writers =
        harness.name === 'postgres' ? [backend.store, backend.open(), backend.open()] : [backend.store];
      let isWriting = true;
      let committed = 0;
      const writing = writers.map(async (store, index) => {
        while (isWriting) {
          const severity = committed % 3 === 0 ? 'critical' : 'low';
          const { alerts } = await store.pipeline.commit({
            alerts: Array.from({ length: 1 + (committed % 4) }, () => makeAlert({ severity })),
            ledger: [],
            groupStates: [],
            jobs: [],
          });
          committed += alerts.length;
          if (index === 0 && Math.random() < 0.5) hub.committed(alerts);
          await sleep(Math.random() * 4);
        }
      });

      const streams: Awaited<ReturnType<typeof openStream>>[] = [];
      const critical: Awaited<ReturnType<typeof openStream>>[] = [];
      // Clients join at different points: each resumes from the start, so each crosses the seam
      // while the writers go on.
      for (let i = 0; i < 6; i++) {
        await sleep(60);
        streams.push(await openStream(`${wsUrl}?since=${start}`, { headers }));
        critical.push(await openStream(`${wsUrl}?since=${start}&minSeverity=critical`, { headers }));
      }
      // And one that keeps dropping and resuming from its last cursor.
      const sessions: ReturnType<typeof alertMessages>[] = [];
      let since = start;
      for (let i = 0; i < 30; i++) {
        const stream = await openStream(`${wsUrl}?since=${since}`, { headers });
        await sleep(10 + Math.random() * 40);
        stream.socket.terminate();
        await stream.waitForClose();
        const got = alertMessages(stream.messages);
        sessions.push(got);
        since = got.at(-1)?.cursor ?? since;
      }
      const last = await openStream(`${wsUrl}?since=${since}`, { headers });
      await sleep(200);
      isWriting = false;
      await Promise.all(writing);

      const expected = (await backend.store.alerts.after(start, 100_000)).map((alert) => alert.cursor);
      const expectedCritical = (await backend.store.alerts.after(start, 100_000))
        .filter((alert) => alert.severity === 'critical')
        .map((alert) => alert.cursor);
      expect(expected.length).toBe(committed);
      expect(committed).toBeGreaterThan(100);
      const has = (cursor: string | undefined) => (message: { type: string; [key: string]: unknown }) =>
        message.cursor === cursor;
      for (const stream of [...streams, last]) await stream.next(has(expected.at(-1)), 10_000);
      for (const stream of critical) await stream.next(has(expectedCritical.at(-1)), 10_000);
      await sleep(100);

      const cursorsOf = (messages: { type: string }[]) =>
        alertMessages(messages as never).map((m) => m.cursor);
      for (const stream of streams) expect(cursorsOf(stream.messages)).toEqual(expected);
      for (const stream of critical) expect(cursorsOf(stream.messages)).toEqual(expectedCritical);
      expect([...sessions.flat().map((m) => m.cursor), ...cursorsOf(last.messages)]).toEqual(expected);
      for (const stream of [...streams, ...critical, last]) await stream.close();
    });
  },
);
