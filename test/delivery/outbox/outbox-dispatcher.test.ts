import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryChannel, SendResult } from '../../../src/delivery/outbox/channel.ts';
import {
  createOutboxDispatcher,
  type OutboxDispatcher,
  type OutboxDispatcherOptions,
} from '../../../src/delivery/outbox/outbox-dispatcher.ts';
import { createOutboxMetrics } from '../../../src/delivery/outbox/outbox-metrics.ts';
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from '../../../src/delivery/outbox/retry-schedule.ts';
import { AppError } from '../../../src/errors.ts';
import { deliveryJobId } from '../../../src/store/delivery-ids.ts';
import type { Channel, Store } from '../../../src/store/store.ts';
import {
  assertPostgresReachable,
  type Backend,
  type Harness,
  makeAlert,
  postgresHarness,
  settledWithin,
  sleep,
  sqliteHarness,
} from '../../store/store-harness.ts';

// ─── A real HTTP receiver and a tiny channel that POSTs jobs to it ─────────────

type Reply = { status: number; headers?: Record<string, string>; delayMs?: number } | 'hang';
type ReceivedRequest = { jobId: string; attempt: number; at: number };

/**
 * A webhook receiver on 127.0.0.1:0. `reply(jobId, n)` decides the answer to the n-th request
 * (1-based) for a job; 'hang' never answers (until the test ends).
 */
async function startReceiver() {
  const requests: ReceivedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  let active = 0;
  let maxActive = 0;
  const receiver = {
    requests,
    reply: (_jobId: string, _n: number): Reply => ({ status: 200 }),
    url: '',
    maxConcurrent: () => maxActive,
    of: (jobId: string) => requests.filter((request) => request.jobId === jobId),
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { id: string; attempts: number };
      const jobId = request.headers['webhook-id'] as string;
      expect(body.id).toBe(jobId);
      requests.push({ jobId, attempt: body.attempts, at: performance.now() });
      active += 1;
      maxActive = Math.max(maxActive, active);
      const reply = receiver.reply(jobId, receiver.of(jobId).length);
      if (reply === 'hang') {
        hanging.add(response);
        response.on('close', () => {
          active -= 1;
          hanging.delete(response);
        });
        return;
      }
      setTimeout(() => {
        active -= 1;
        response.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
        response.end(`status ${reply.status}`);
      }, reply.delayMs ?? 0);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** 2xx ok; 429 and 5xx retry (with Retry-After in seconds); other statuses fail. */
function httpTestChannel(url: string, onSend?: () => void): DeliveryChannel {
  return {
    name: 'webhook',
    async send(job, signal): Promise<SendResult> {
      onSend?.();
      const started = performance.now();
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'webhook-id': job.id },
        body: JSON.stringify({ id: job.id, attempts: job.attempts }),
        signal,
      });
      const text = await response.text();
      const common = {
        statusCode: response.status,
        durationMs: performance.now() - started,
        responseSnippet: text,
      };
      if (response.ok) return { kind: 'ok', ...common };
      const error = `HTTP ${response.status}`;
      if (response.status === 429 || response.status >= 500) {
        const retryAfter = Number(response.headers.get('retry-after'));
        return {
          kind: 'retry',
          error,
          ...common,
          ...(Number.isFinite(retryAfter) && retryAfter > 0 && { retryAfterMs: retryAfter * 1000 }),
        };
      }
      return { kind: 'fail', error, ...common };
    },
  };
}

// ─── Helpers ─────────────────────────────────────────────────────────────────

const silentLogger = { info() {}, warn() {}, error() {} };

async function subscribe(store: Store, channel: Channel = 'webhook') {
  const subscriber = await store.subscribers.create({ name: 'Desk', email: 'desk@example.com' });
  const endpoint =
    channel === 'webhook' ? await store.endpoints.create({ url: 'http://127.0.0.1/hook' }) : null;
  const subscription = await store.subscriptions.create({
    subscriberId: subscriber.id,
    channel,
    endpointId: endpoint?.id ?? null,
  });
  return { subscription, endpointId: endpoint?.id ?? null };
}

/** Commits `count` alerts with one delivery job each, as the pipeline does; returns the job ids. */
async function commitJobs(store: Store, count: number, channel: Channel = 'webhook'): Promise<string[]> {
  const { subscription, endpointId } = await subscribe(store, channel);
  const alerts = Array.from({ length: count }, () => makeAlert());
  await store.pipeline.commit({
    alerts,
    ledger: [],
    groupStates: [],
    jobs: alerts.map((alert) => ({
      alertId: alert.id,
      subscriptionId: subscription.id,
      channel,
      endpointId,
    })),
  });
  return alerts.map((alert) => deliveryJobId(alert.id, subscription.id));
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const gaps = (requests: ReceivedRequest[]) =>
  requests.slice(1).map((request, i) => request.at - requests[i]!.at);

// ─── The suite, against both stores ──────────────────────────────────────────

describe.each([sqliteHarness, postgresHarness])(
  'outbox dispatcher on the $name store',
  (harness: Harness) => {
    let backend: Backend;
    let store: Store;
    let receiver: Receiver;
    let dispatchers: OutboxDispatcher[];

    const dispatcher = (options: Partial<OutboxDispatcherOptions> = {}) => {
      const created = createOutboxDispatcher({
        store,
        channels: [httpTestChannel(receiver.url)],
        logger: silentLogger,
        schedule: parseRetrySchedule(DEFAULT_RETRY_SCHEDULE),
        pollMs: 20,
        ...options,
      });
      dispatchers.push(created);
      return created;
    };
    const statusOf = async (id: string) => (await store.deliveries.get(id))?.status;

    beforeAll(async () => {
      if (harness.name === 'postgres') await assertPostgresReachable();
    });
    beforeEach(async () => {
      backend = await harness.create();
      store = backend.store;
      receiver = await startReceiver();
      dispatchers = [];
    });
    afterEach(async () => {
      await Promise.all(dispatchers.map((d) => d.close()));
      await receiver?.close();
      await backend?.dispose();
    });

    it('retries a receiver that fails twice, with backoff, and sends the job once', async () => {
      const registry = new Registry();
      const metrics = createOutboxMetrics(registry, { deliveries: store.deliveries });
      // A long poll: wake() sends the new job and the retry timers send the retries, not the poll.
      const outbox = dispatcher({
        schedule: parseRetrySchedule('0s,200ms,400ms,400ms'),
        pollMs: 10_000,
        metrics,
      });
      receiver.reply = (_id, n) => (n <= 2 ? { status: 503 } : { status: 200 });
      await outbox.start();
      const [id] = await commitJobs(store, 1);
      outbox.wake();

      await waitFor('the job to be sent', async () => (await statusOf(id!)) === 'sent');
      await sleep(500);
      const seen = receiver.of(id!);
      expect(seen.map((request) => request.attempt)).toEqual([1, 2, 3]);
      expect(receiver.requests).toHaveLength(3); // the same job id each time, and nothing else
      const [first, second] = gaps(seen);
      expect(first).toBeGreaterThanOrEqual(200 * 0.8);
      expect(second).toBeGreaterThanOrEqual(400 * 0.8);

      const job = await store.deliveries.get(id!);
      expect(job).toMatchObject({ status: 'sent', attempts: 3, leaseUntil: null });
      const attempts = await store.attempts.list({ jobId: id! });
      expect(attempts.map((a) => [a.statusCode, a.error, a.responseSnippet])).toEqual([
        [200, null, 'status 200'],
        [503, 'HTTP 503', 'status 503'],
        [503, 'HTTP 503', 'status 503'],
      ]);
      const attemptGaps = attempts.map((a) => Date.parse(a.at)).reverse();
      expect(attemptGaps[1]! - attemptGaps[0]!).toBeGreaterThanOrEqual(150);
      expect(attemptGaps[2]! - attemptGaps[1]!).toBeGreaterThanOrEqual(300);

      const counts = (await metrics.attempts.get()).values.map((v) => [v.labels.outcome, v.value]);
      expect(Object.fromEntries(counts)).toEqual({ retried: 2, sent: 1 });
      expect(await registry.getSingleMetricAsString('tocsin_outbox_jobs')).toContain(
        'tocsin_outbox_jobs{status="sent"} 1',
      );
    });

    it('dead-letters a job that always fails, lists it, and replays it successfully', async () => {
      const outbox = dispatcher({ schedule: parseRetrySchedule('0s,50ms,50ms') });
      receiver.reply = () => ({ status: 500 });
      await outbox.start();
      const [id] = await commitJobs(store, 1);
      outbox.wake();

      await waitFor('the job to be dead', async () => (await statusOf(id!)) === 'dead');
      expect(receiver.of(id!)).toHaveLength(3);
      const dead = await store.deliveries.list({ status: 'dead' });
      expect(dead.items.map((job) => job.id)).toEqual([id]);
      expect(dead.items[0]).toMatchObject({
        attempts: 3,
        lastError: 'retries exhausted after 3 attempts: HTTP 500',
      });
      await sleep(200);
      expect(receiver.requests).toHaveLength(3);

      receiver.reply = () => ({ status: 204 });
      expect(await store.deliveries.replay(id!, new Date())).toMatchObject({
        status: 'pending',
        attempts: 0,
      });
      outbox.wake();
      await waitFor('the replayed job to be sent', async () => (await statusOf(id!)) === 'sent');
      expect(receiver.of(id!).map((request) => request.attempt)).toEqual([1, 2, 3, 1]);
      expect((await store.deliveries.list({ status: 'dead' })).items).toEqual([]);
      expect((await store.attempts.list({ jobId: id! })).map((a) => a.statusCode)).toEqual([
        204, 500, 500, 500,
      ]);
    });

    it('honours Retry-After when it asks for more than the schedule', async () => {
      const outbox = dispatcher({ schedule: parseRetrySchedule('0s,50ms,50ms') });
      receiver.reply = (_id, n) =>
        n === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 };
      await outbox.start();
      const [id] = await commitJobs(store, 1);
      outbox.wake();

      await waitFor('the 429', () => receiver.of(id!).length === 1);
      await waitFor('the job to be retried', async () => (await statusOf(id!)) === 'pending');
      const pending = await store.deliveries.get(id!);
      expect(Date.parse(pending!.nextAttemptAt) - Date.now()).toBeGreaterThan(800);
      expect(pending!.lastError).toBe('HTTP 429');

      await waitFor('the job to be sent', async () => (await statusOf(id!)) === 'sent');
      const [gap] = gaps(receiver.of(id!));
      expect(gap).toBeGreaterThanOrEqual(1_000);
      expect((await store.attempts.list({ jobId: id! })).map((a) => a.statusCode)).toEqual([200, 429]);
    });

    it('fails a job at once on a permanent error (4xx)', async () => {
      const outbox = dispatcher();
      receiver.reply = () => ({ status: 400 });
      const [id] = await commitJobs(store, 1);
      expect(await outbox.runOnce()).toMatchObject({ claimed: 1, failed: 1 });
      expect(await store.deliveries.get(id!)).toMatchObject({
        status: 'failed',
        attempts: 1,
        lastError: 'HTTP 400',
      });
      expect(receiver.requests).toHaveLength(1);
    });

    it('fails a job without a channel, and reads AppError.retryable from a throwing channel', async () => {
      const [emailJob] = await commitJobs(store, 1, 'email');
      const plain = dispatcher();
      expect(await plain.runOnce()).toMatchObject({ claimed: 1, failed: 1 });
      expect(await store.deliveries.get(emailJob!)).toMatchObject({
        status: 'failed',
        lastError: 'no email channel is configured',
      });

      const errors = [
        new AppError('TOCSIN_DELIVERY_FAILED', 'mailbox unavailable', { retryable: true }),
        new Error('socket hang up'),
        new AppError('TOCSIN_DELIVERY_FAILED', 'recipient rejected'),
      ];
      const throwing = dispatcher({
        channels: [
          {
            name: 'email',
            async send() {
              throw errors.shift();
            },
          },
        ],
      });
      const expectations = [
        ['pending', 'mailbox unavailable'],
        ['pending', 'socket hang up'],
        ['failed', 'recipient rejected'],
      ] as const;
      for (const [status, lastError] of expectations) {
        const [id] = await commitJobs(store, 1, 'email');
        await throwing.runOnce();
        expect(await store.deliveries.get(id!)).toMatchObject({ status, lastError });
      }
    });

    it('never sends more than `concurrency` jobs at once', async () => {
      const outbox = dispatcher({ concurrency: 3, batchSize: 10 });
      receiver.reply = () => ({ status: 200, delayMs: 30 });
      const ids = await commitJobs(store, 20);
      await outbox.start();
      await waitFor('all jobs to be sent', async () => (await store.deliveries.countByStatus()).sent === 20);
      expect(receiver.maxConcurrent()).toBeLessThanOrEqual(3);
      expect(receiver.maxConcurrent()).toBeGreaterThan(1);
      expect(new Set(receiver.requests.map((request) => request.jobId))).toEqual(new Set(ids));
      expect(receiver.requests).toHaveLength(20);
    });

    it('shares 200 jobs between two dispatchers and delivers each exactly once', async () => {
      const ids = await commitJobs(store, 200);
      // PostgreSQL: two stores with their own pools, as two instances would have. SQLite: one
      // process owns the file, so both dispatchers share its store.
      const stores = harness.name === 'postgres' ? [store, backend.open()] : [store, store];
      const sends = [0, 0];
      const outboxes = stores.map((s, i) =>
        dispatcher({
          store: s,
          channels: [httpTestChannel(receiver.url, () => (sends[i]! += 1))],
          batchSize: 10,
          concurrency: 8,
        }),
      );
      receiver.reply = () => ({ status: 200, delayMs: 2 });
      await Promise.all(outboxes.map((outbox) => outbox.start()));

      await waitFor(
        'all jobs to be sent',
        async () => (await store.deliveries.countByStatus()).sent === 200,
        30_000,
      );
      await sleep(200);
      const perJob = new Map<string, number>();
      for (const request of receiver.requests)
        perJob.set(request.jobId, (perJob.get(request.jobId) ?? 0) + 1);
      expect(receiver.requests).toHaveLength(200);
      expect([...perJob.keys()].sort()).toEqual([...ids].sort());
      expect([...perJob.values()].every((count) => count === 1)).toBe(true);
      expect(sends[0]! + sends[1]!).toBe(200);
      expect(sends[0]).toBeGreaterThan(0);
      expect(sends[1]).toBeGreaterThan(0);
    });

    it('close() waits for a send in flight, then the job is sent', async () => {
      const outbox = dispatcher();
      receiver.reply = () => ({ status: 200, delayMs: 400 });
      await outbox.start();
      const [id] = await commitJobs(store, 1);
      outbox.wake();
      await waitFor('the request', () => receiver.requests.length === 1);

      const closing = outbox.close();
      expect(await settledWithin(closing, 200)).toBe('pending');
      expect(outbox.inFlightCount()).toBe(1);
      await closing;
      expect(await store.deliveries.get(id!)).toMatchObject({ status: 'sent', attempts: 1 });
      const more = await commitJobs(store, 1);
      outbox.wake();
      await sleep(100);
      expect(await statusOf(more[0]!)).toBe('pending'); // closed: claims nothing more
      expect(receiver.requests).toHaveLength(1);
    });

    it('close() aborts a send that outlasts the grace period and hands the job back at once', async () => {
      const outbox = dispatcher({ closeGraceMs: 200 });
      receiver.reply = (_id, n) => (n === 1 ? 'hang' : { status: 200 });
      await outbox.start();
      const [id] = await commitJobs(store, 1);
      outbox.wake();
      await waitFor('the request', () => receiver.requests.length === 1);

      const started = performance.now();
      await outbox.close();
      expect(performance.now() - started).toBeLessThan(2_000);
      const handedBack = await store.deliveries.get(id!);
      expect(handedBack).toMatchObject({ status: 'pending', attempts: 1, leaseUntil: null });
      expect(handedBack!.lastError).toMatch(/^aborted: the dispatcher closed/);
      expect(Date.parse(handedBack!.nextAttemptAt)).toBeLessThanOrEqual(Date.now());

      const successor = dispatcher();
      expect(await successor.runOnce()).toMatchObject({ claimed: 1, sent: 1 });
      expect(receiver.of(id!).map((request) => request.attempt)).toEqual([1, 2]);
    });

    it('aborts a send before its lease runs out and retries it', async () => {
      // Lease 1 s: the send is aborted after 800 ms, while the lease is still ours.
      const outbox = dispatcher({ leaseMs: 1_000, schedule: parseRetrySchedule('0s,50ms') });
      receiver.reply = (_id, n) => (n === 1 ? 'hang' : { status: 200 });
      await outbox.start();
      const [id] = await commitJobs(store, 1);
      outbox.wake();

      await waitFor('the job to be sent', async () => (await statusOf(id!)) === 'sent');
      const [gap] = gaps(receiver.of(id!));
      expect(gap).toBeGreaterThanOrEqual(800);
      const [, timedOut] = await store.attempts.list({ jobId: id! });
      expect(timedOut?.error).toMatch(/^timed out after 800 ms/);
      expect(timedOut?.durationMs).toBeGreaterThanOrEqual(790);
    });

    it('keeps running when the store fails, backing off', async () => {
      const registry = new Registry();
      const metrics = createOutboxMetrics(registry);
      let failures = 2;
      const flaky: Store = {
        ...store,
        deliveries: {
          ...store.deliveries,
          claim(...args) {
            if (failures > 0) {
              failures -= 1;
              return Promise.reject(
                new AppError('TOCSIN_STORE_UNAVAILABLE', 'connection refused', { retryable: true }),
              );
            }
            return store.deliveries.claim(...args);
          },
        },
      };
      const logged: string[] = [];
      const outbox = dispatcher({
        store: flaky,
        metrics,
        logger: { ...silentLogger, error: (_obj, msg) => logged.push(msg ?? '') },
      });
      const [id] = await commitJobs(store, 1);
      await outbox.start();
      await waitFor('the job to be sent', async () => (await statusOf(id!)) === 'sent');
      expect(logged).toEqual([
        'outbox: claiming jobs failed, backing off',
        'outbox: claiming jobs failed, backing off',
      ]);
      expect((await metrics.loopErrors.get()).values[0]?.value).toBe(2);
    });
  },
);
