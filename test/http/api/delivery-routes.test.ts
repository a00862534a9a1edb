import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliveryJobId } from '../../../src/store/delivery-ids.ts';
import { makeAlert } from '../../store/store-harness.ts';
import { type ApiServer, startApiServer } from './api-server.ts';

const minute = 60_000;

describe('deliveries API', () => {
  let server: ApiServer;
  let endpointId: string;
  let otherEndpointId: string;
  let jobIds: string[];

  beforeEach(async () => {
    server = await startApiServer();
    const { store } = server;
    const subscriber = await store.subscribers.create({ name: 'Desk' });
    const endpoint = await store.endpoints.create({ url: 'https://desk.example/hook' });
    const other = await store.endpoints.create({ url: 'https://other.example/hook' });
    endpointId = endpoint.id;
    otherEndpointId = other.id;
    const subscription = await store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId,
    });
    const otherSubscription = await store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: other.id,
    });
    jobIds = [];
    // Four jobs, one commit (and one minute) apart: jobIds[3] is the newest.
    for (let i = 0; i < 4; i++) {
      const alert = makeAlert();
      const target = i === 3 ? otherSubscription : subscription;
      await store.pipeline.commit({
        alerts: [alert],
        ledger: [],
        groupStates: [],
        jobs: [
          { alertId: alert.id, subscriptionId: target.id, channel: 'webhook', endpointId: target.endpointId },
        ],
      });
      jobIds.push(deliveryJobId(alert.id, target.id));
      server.clock.advance(minute);
    }
  });
  afterEach(async () => {
    await server.dispose();
  });

  type Outcome = 'dead' | 'failed' | 'sent';

  /** Claims every due job and ends the named ones as told, recording one attempt each. */
  async function finishAll(outcomes: Record<string, Outcome>) {
    const claimed = await server.store.deliveries.claim(server.clock.now(), 100, 30_000);
    for (const job of claimed.filter((candidate) => outcomes[candidate.id] !== undefined)) {
      const outcome = outcomes[job.id]!;
      await server.store.attempts.record({
        jobId: job.id,
        at: server.clock.now(),
        statusCode: outcome === 'sent' ? 200 : 500,
        durationMs: 12,
        responseSnippet: outcome === 'sent' ? 'ok' : 'boom',
        error: outcome === 'sent' ? null : 'HTTP 500',
      });
      const check = { leaseToken: job.leaseToken };
      if (outcome === 'dead')
        await server.store.deliveries.deadLetter(job.id, 'HTTP 500 after 8 attempts', check);
      else if (outcome === 'failed') await server.store.deliveries.fail(job.id, 'HTTP 410', check);
      else await server.store.deliveries.complete(job.id, check);
    }
    // Jobs claimed but not named stay sending until their 30 s lease ends.
  }

  const ids = (body: { items: { id: string }[] }) => body.items.map((item) => item.id);

  it('lists jobs newest first, by status, alert and endpoint, in pages', async () => {
    const all = await server.request('GET', '/v1/deliveries');
    expect(all.status).toBe(200);
    expect(ids(all.body)).toEqual([...jobIds].reverse());
    expect(all.body.items[0]).toMatchObject({
      status: 'pending',
      channel: 'webhook',
      attempts: 0,
      kind: 'alert',
    });

    const page1 = await server.request('GET', '/v1/deliveries?limit=3');
    const page2 = await server.request('GET', `/v1/deliveries?limit=3&cursor=${page1.body.nextCursor}`);
    expect([...ids(page1.body), ...ids(page2.body)]).toEqual([...jobIds].reverse());
    expect(page2.body.nextCursor).toBeNull();

    const job = await server.store.deliveries.get(jobIds[1]!);
    const byAlert = await server.request('GET', `/v1/deliveries?alertId=${job!.alertId}`);
    expect(ids(byAlert.body)).toEqual([jobIds[1]]);
    const byEndpoint = await server.request('GET', `/v1/deliveries?endpointId=${otherEndpointId}`);
    expect(ids(byEndpoint.body)).toEqual([jobIds[3]]);
    expect((await server.request('GET', '/v1/deliveries?status=lost')).status).toBe(400);
  });

  it('lists dead jobs and shows one with its attempts', async () => {
    await finishAll({ [jobIds[0]!]: 'dead', [jobIds[2]!]: 'dead' });
    const dead = await server.request('GET', '/v1/deliveries?status=dead');
    expect(ids(dead.body)).toEqual([jobIds[2], jobIds[0]]);
    expect(dead.body.items[0]).toMatchObject({
      status: 'dead',
      attempts: 1,
      lastError: 'HTTP 500 after 8 attempts',
    });

    const one = await server.request('GET', `/v1/deliveries/${jobIds[0]}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      id: jobIds[0],
      status: 'dead',
      attempts: 1,
      attemptLog: [
        {
          statusCode: 500,
          durationMs: 12,
          responseSnippet: 'boom',
          error: 'HTTP 500',
          at: expect.any(String),
        },
      ],
    });
    expect((await server.request('GET', '/v1/deliveries/dlv_nope')).status).toBe(404);
  });

  it('replays one dead job: pending now, attempts reset, same id', async () => {
    await finishAll({ [jobIds[0]!]: 'dead' });
    server.clock.advance(minute);
    const replayed = await server.request('POST', `/v1/deliveries/${jobIds[0]}/replay`);
    expect(replayed.status).toBe(200);
    expect(replayed.body).toMatchObject({
      id: jobIds[0],
      status: 'pending',
      attempts: 0,
      nextAttemptAt: server.clock.now().toISOString(),
    });
    const due = await server.store.deliveries.claim(server.clock.now(), 10, 30_000);
    expect(due.map((job) => job.id)).toContain(jobIds[0]);
    // Now it is being sent: a replay would race the worker.
    const busy = await server.request('POST', `/v1/deliveries/${jobIds[0]}/replay`);
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('TOCSIN_CONFLICT');
    expect((await server.request('POST', '/v1/deliveries/dlv_nope/replay')).status).toBe(404);
  });

  it('replays every failed and dead job since a time, optionally of one endpoint', async () => {
    await finishAll({ [jobIds[0]!]: 'dead' });
    server.clock.advance(minute);
    const since = server.clock.now().toISOString();
    server.clock.advance(minute);
    // Claimed again after their lease: the rest end dead or failed now.
    await finishAll({ [jobIds[1]!]: 'dead', [jobIds[2]!]: 'failed', [jobIds[3]!]: 'failed' });

    const oneEndpoint = await server.request('POST', '/v1/deliveries/replay', {
      body: { since, endpointId: otherEndpointId },
    });
    expect(oneEndpoint.body).toEqual({ replayed: 1 });
    expect((await server.store.deliveries.get(jobIds[3]!))?.status).toBe('pending');

    const rest = await server.request('POST', '/v1/deliveries/replay', { body: { since } });
    expect(rest.body).toEqual({ replayed: 2 });
    const statuses = await Promise.all(
      jobIds.map(async (id) => (await server.store.deliveries.get(id))?.status),
    );
    expect(statuses).toEqual(['dead', 'pending', 'pending', 'pending']);

    const bad = await server.request('POST', '/v1/deliveries/replay', { body: { since: 'last week' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.field).toBe('body.since');
  });
});
