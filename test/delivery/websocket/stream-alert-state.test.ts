import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../pipeline/pipeline-harness.ts';
import { isAlertFor, openStream } from '../../support/stream-client.ts';
import { authHeaders, type TestApp } from '../../support/test-app.ts';
import { brief, postEvents, startStreamApp } from './stream-harness.ts';

type Stream = Awaited<ReturnType<typeof openStream>>;

const post = (service: TestApp, path: string, body?: unknown) =>
  fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { ...authHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** Acknowledges, silences and expires through `actor`, and checks every viewer hears each change. */
async function actAndWatch(actor: TestApp, viewers: Stream[], eventId: string) {
  const alerted = await Promise.all(
    viewers.map((viewer) => viewer.next(isAlertFor('metals-watch', eventId))),
  );
  const alert = alerted[0]!.alert as { id: string; ruleId: string; group: string | null };

  const acked = await post(actor, `/v1/alerts/${alert.id}/ack`, { by: 'analyst' });
  expect(acked.status).toBe(200);
  for (const viewer of viewers) {
    const message = await viewer.next((m) => m.type === 'state' && m.change === 'acknowledged');
    expect(message).toEqual({
      type: 'state',
      change: 'acknowledged',
      ack: {
        alertId: alert.id,
        ruleId: 'metals-watch',
        group: null,
        ackedBy: 'analyst',
        ackedAt: expect.any(String),
      },
    });
  }

  const created = await post(actor, '/v1/silences', {
    matchers: { ruleIds: ['metals-watch'], groups: [null] },
    duration: '1h',
  });
  expect(created.status).toBe(201);
  const silence = (await created.json()) as { id: string };
  for (const viewer of viewers) {
    const message = await viewer.next((m) => m.type === 'state' && m.change === 'silenced');
    expect(message).toMatchObject({
      silence: { id: silence.id, matchers: { ruleIds: ['metals-watch'], groups: [null] }, state: 'active' },
    });
    expect(message.silence).not.toHaveProperty('tenantId');
  }

  const expired = await fetch(`${actor.url}/v1/silences/${silence.id}`, {
    method: 'DELETE',
    headers: authHeaders,
  });
  expect(expired.status).toBe(200);
  for (const viewer of viewers) {
    const message = await viewer.next((m) => m.type === 'state' && m.change === 'unsilenced');
    expect(message).toMatchObject({ silence: { id: silence.id, state: 'expired' } });
  }
}

describe('alert state changes on the stream (one instance, SQLite)', () => {
  let service: TestApp;
  let streams: Stream[] = [];
  beforeAll(async () => {
    service = await startStreamApp();
  });
  afterEach(async () => {
    await Promise.all(streams.map((stream) => stream.close()));
    streams = [];
  });
  afterAll(async () => {
    await service?.close();
  });

  it('reaches every open stream of the tenant, whatever its filter', async () => {
    streams = await Promise.all([
      openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders }),
      openStream(`${service.wsUrl}/v1/stream?rules=metals-watch`, { headers: authHeaders }),
    ]);
    const onlyGrain = await openStream(`${service.wsUrl}/v1/stream?rules=grain-watch`, {
      headers: authHeaders,
    });
    streams.push(onlyGrain);
    await postEvents(service, [brief('state-1', 'Copper smelter strike')]);
    await actAndWatch(service, streams.slice(0, 2), 'state-1');
    // A stream filtered to other rules hears the changes too (they carry no alert).
    await onlyGrain.next((m) => m.type === 'state' && m.change === 'unsilenced');
  });
});

/** Two instances sharing PostgreSQL: a change made on one reaches the viewers of the other (change feed). */
describe('alert state changes on every instance of a cluster', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const env = { ...database.env, TOCSIN_SECRET: 'stream-alert-state-secret-0123456789' };
    a = await startStreamApp(env);
    b = await startStreamApp(env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.dispose();
  });

  it('an acknowledgement and a silence made on one instance reach the streams of both', async () => {
    const onA = await openStream(`${a.wsUrl}/v1/stream`, { headers: authHeaders });
    const onB = await openStream(`${b.wsUrl}/v1/stream`, { headers: authHeaders });
    await postEvents(b, [brief('cluster-state-1', 'Copper exports halted')]);
    await actAndWatch(a, [onA, onB], 'cluster-state-1');
    await Promise.all([onA.close(), onB.close()]);
  });
});
