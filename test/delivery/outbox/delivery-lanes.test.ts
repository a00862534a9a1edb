import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryChannel } from '../../../src/delivery/outbox/channel.ts';
import {
  createOutboxDispatcher,
  type OutboxDispatcher,
} from '../../../src/delivery/outbox/outbox-dispatcher.ts';
import { parseRetrySchedule } from '../../../src/delivery/outbox/retry-schedule.ts';
import { deliveryJobId } from '../../../src/store/delivery-ids.ts';
import type { Store } from '../../../src/store/store.ts';
import { type Backend, makeAlert, sleep, sqliteHarness } from '../../store/store-harness.ts';

const silent = { info() {}, warn() {}, error() {} };

/**
 * A channel with one lane per endpoint whose sends take `durationMs(endpointId)`: what the
 * dispatcher's lanes see of a slow webhook endpoint, without the HTTP (the webhook tests
 * cover that against real receivers).
 */
function laneChannel(durationMs: (endpointId: string) => number, laneConcurrency: number) {
  const active = new Map<string, number>();
  const maxActive = new Map<string, number>();
  const sent: { jobId: string; endpointId: string; at: number; attempts: number }[] = [];
  const channel: DeliveryChannel = {
    name: 'webhook',
    laneOf: (job) => job.endpointId ?? undefined,
    laneConcurrency,
    async send(job) {
      const endpointId = job.endpointId!;
      active.set(endpointId, (active.get(endpointId) ?? 0) + 1);
      maxActive.set(endpointId, Math.max(maxActive.get(endpointId) ?? 0, active.get(endpointId)!));
      await sleep(durationMs(endpointId));
      active.set(endpointId, active.get(endpointId)! - 1);
      sent.push({ jobId: job.id, endpointId, at: performance.now(), attempts: job.attempts });
      return { kind: 'ok', statusCode: 204 };
    },
  };
  return { channel, sent, maxActive };
}

describe('outbox lanes (per-destination concurrency)', () => {
  let backend: Backend;
  let store: Store;
  let dispatchers: OutboxDispatcher[];

  beforeEach(async () => {
    backend = await sqliteHarness.create();
    store = backend.store;
    dispatchers = [];
  });
  afterEach(async () => {
    await Promise.all(dispatchers.map((d) => d.close()));
    await backend.dispose();
  });

  async function jobsFor(count: number) {
    const subscriber = await store.subscribers.create({ name: 'Desk' });
    const endpoint = await store.endpoints.create({ url: 'http://127.0.0.1/hook' });
    const subscription = await store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
    });
    const alerts = Array.from({ length: count }, () => makeAlert());
    await store.pipeline.commit({
      alerts,
      ledger: [],
      groupStates: [],
      jobs: alerts.map((alert) => ({
        alertId: alert.id,
        subscriptionId: subscription.id,
        channel: 'webhook' as const,
        endpointId: endpoint.id,
      })),
    });
    return {
      endpointId: endpoint.id,
      jobIds: alerts.map((alert) => deliveryJobId(alert.id, subscription.id)),
    };
  }

  it('a slow lane keeps to its limit, the others go past it, and waiting uses up no attempt', async () => {
    const slow = await jobsFor(12);
    const fast = await jobsFor(10);
    const { channel, sent, maxActive } = laneChannel((id) => (id === slow.endpointId ? 1_200 : 5), 2);
    // The dispatcher's default concurrency (8): without lanes the slow endpoint would take all of it.
    const outbox = createOutboxDispatcher({
      store,
      channels: [channel],
      logger: silent,
      schedule: parseRetrySchedule('0s,50ms'), // two attempts: a deferral counted as one would kill jobs
      pollMs: 20,
    });
    dispatchers.push(outbox);
    const started = performance.now();
    await outbox.start();

    const deadline = Date.now() + 30_000;
    while ((await store.deliveries.countByStatus()).sent < 22) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the deliveries');
      await sleep(20);
    }
    const fastDone =
      Math.max(...sent.filter((s) => s.endpointId === fast.endpointId).map((s) => s.at)) - started;
    const slowDone =
      Math.max(...sent.filter((s) => s.endpointId === slow.endpointId).map((s) => s.at)) - started;
    expect(fastDone).toBeLessThan(2_500); // the slow lane's 12 jobs need 6 rounds of 1.2 s
    expect(slowDone).toBeGreaterThan(6_000);
    expect(maxActive.get(slow.endpointId)).toBe(2);
    expect(maxActive.get(fast.endpointId)).toBeLessThanOrEqual(2);
    for (const id of slow.jobIds) {
      expect(await store.deliveries.get(id)).toMatchObject({ status: 'sent' });
      expect(await store.attempts.list({ jobId: id })).toHaveLength(1);
    }
    // Some were claimed and handed back before being sent, yet each was sent as attempt 1 and
    // the store counts one: a hand-back gives the claim's attempt back (deliveries.release).
    const jobs = await Promise.all(slow.jobIds.map(async (id) => (await store.deliveries.get(id))!));
    expect(
      jobs.filter((job) => job.lastError === 'waiting for a free slot of its destination').length,
    ).toBeGreaterThan(0);
    expect(jobs.map((job) => job.attempts)).toEqual(Array(12).fill(1));
    expect(sent.filter((s) => s.endpointId === slow.endpointId).map((s) => s.attempts)).toEqual(
      Array(12).fill(1),
    );
  });

  it('waits without spinning when every slot is taken and wake() keeps coming', async () => {
    const { jobIds } = await jobsFor(3);
    const { channel } = laneChannel(() => 300, 4);
    const outbox = createOutboxDispatcher({
      store,
      channels: [channel],
      logger: silent,
      schedule: parseRetrySchedule('0s'),
      concurrency: 1,
      pollMs: 10_000,
    });
    dispatchers.push(outbox);
    await outbox.start();
    outbox.wake();
    await sleep(50);
    // The only slot is busy; the loop must sleep, not spin on microtasks, or this timer starves.
    for (let i = 0; i < 5; i++) outbox.wake();
    const before = performance.now();
    await sleep(20);
    expect(performance.now() - before).toBeLessThan(200);

    const deadline = Date.now() + 10_000;
    while ((await store.deliveries.countByStatus()).sent < jobIds.length) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the deliveries');
      await sleep(20);
    }
  });
});
