import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliveryJobId } from '../../../src/store/delivery-ids.ts';
import type { AlertInput } from '../../../src/store/store.ts';
import { makeAlert } from '../../store/store-harness.ts';
import { type ApiServer, startApiServer } from './api-server.ts';

const minute = 60_000;

describe('alerts API', () => {
  let server: ApiServer;
  /** Seeded alerts in commit order (oldest first). */
  let seeded: AlertInput[];

  beforeEach(async () => {
    server = await startApiServer();
    const base = Date.parse('2026-03-01T00:00:00.000Z');
    const at = (minutes: number) => new Date(base + minutes * minute).toISOString();
    seeded = [
      makeAlert({ ruleId: 'copper', severity: 'high', receivedAt: at(1) }),
      makeAlert({ ruleId: 'copper', severity: 'low', receivedAt: at(2), status: 'suppressed' }),
      makeAlert({ ruleId: 'nickel', severity: 'critical', receivedAt: at(3) }),
      makeAlert({ ruleId: 'copper', severity: 'critical', receivedAt: at(4), status: 'silenced' }),
      makeAlert({ ruleId: 'nickel', severity: 'medium', receivedAt: at(5), group: 'Chile' }),
    ];
    // One commit per alert, as batches arrive: log order = this order.
    for (const alert of seeded)
      await server.store.pipeline.commit({ alerts: [alert], ledger: [], groupStates: [], jobs: [] });
  });
  afterEach(async () => {
    await server.dispose();
  });

  const ids = (body: { items: { id: string }[] }) => body.items.map((item) => item.id);
  const seededIds = (...indexes: number[]) => indexes.map((index) => seeded[index]!.id);

  it('lists alerts newest first, with their explanations and cursors', async () => {
    const response = await server.request('GET', '/v1/alerts');
    expect(response.status).toBe(200);
    expect(ids(response.body)).toEqual(seededIds(4, 3, 2, 1, 0));
    expect(response.body.nextCursor).toBeNull();
    const first = response.body.items[4];
    expect(first).toMatchObject({
      ruleId: 'copper',
      severity: 'high',
      status: 'active',
      matches: [{ field: 'title', text: 'rare earth', start: 0, end: 10 }],
      event: { title: 'Rare earth exports restricted' },
      cursor: expect.any(String),
      ackedBy: null,
    });
    expect(first).not.toHaveProperty('tenantId');
  });

  it.each([
    ['?ruleId=copper', [3, 1, 0]],
    ['?severity=critical', [3, 2]],
    ['?severity=critical,low', [3, 2, 1]],
    ['?status=active', [4, 2, 0]],
    ['?status=suppressed,silenced', [3, 1]],
    ['?ruleId=copper&status=active', [0]],
    ['?from=2026-03-01T00:02:00Z', [4, 3, 2, 1]],
    ['?to=2026-03-01T00:03:00Z', [1, 0]],
    ['?from=2026-03-01T00:02:00Z&to=2026-03-01T00:04:00.000Z', [2, 1]],
    ['?from=2026-03-01T01:02:00%2B01:00', [4, 3, 2, 1]],
  ])('filters %s', async (query, expected) => {
    const response = await server.request('GET', `/v1/alerts${query}`);
    expect(response.status).toBe(200);
    expect(ids(response.body)).toEqual(seededIds(...expected));
  });

  it('pages with nextCursor: every alert once, in order', async () => {
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/alerts?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const response = await server.request('GET', url);
      expect(response.status).toBe(200);
      pages.push(ids(response.body));
      cursor = response.body.nextCursor;
    } while (cursor !== null);
    expect(pages).toEqual([seededIds(4, 3), seededIds(2, 1), seededIds(0)]);

    const filtered = await server.request('GET', '/v1/alerts?ruleId=copper&limit=2');
    const next = await server.request(
      'GET',
      `/v1/alerts?ruleId=copper&limit=2&cursor=${filtered.body.nextCursor}`,
    );
    expect([...ids(filtered.body), ...ids(next.body)]).toEqual(seededIds(3, 1, 0));
    expect(next.body.nextCursor).toBeNull();
  });

  it.each([
    ['?severity=urgent', 'query.severity.0'],
    ['?status=open', 'query.status.0'],
    ['?from=yesterday', 'query.from'],
    ['?limit=0', 'query.limit'],
    ['?limit=1001', 'query.limit'],
    ['?cursor=not-a-cursor', 'query.cursor'],
  ])('answers 400 for %s naming %s', async (query, field) => {
    const response = await server.request('GET', `/v1/alerts${query}`);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'TOCSIN_INVALID_REQUEST', details: { field } });
  });

  it('shows one alert with its explanations and deliveries', async () => {
    const subscriber = await server.store.subscribers.create({ name: 'Desk' });
    const endpoint = await server.store.endpoints.create({ url: 'https://desk.example/hook' });
    const subscription = await server.store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
    });
    const alert = makeAlert({ ruleId: 'copper' });
    await server.store.pipeline.commit({
      alerts: [alert],
      ledger: [],
      groupStates: [],
      jobs: [
        { alertId: alert.id, subscriptionId: subscription.id, channel: 'webhook', endpointId: endpoint.id },
      ],
    });
    const response = await server.request('GET', `/v1/alerts/${alert.id}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      id: alert.id,
      matches: alert.matches,
      deliveries: [
        {
          id: deliveryJobId(alert.id, subscription.id),
          status: 'pending',
          channel: 'webhook',
          endpointId: endpoint.id,
          attempts: 0,
        },
      ],
    });
    const missing = await server.request('GET', '/v1/alerts/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TOCSIN_NOT_FOUND');
  });

  it("acknowledges an alert, by the key's name unless given, and starts the hold of its group", async () => {
    server.clock.advance(10 * minute);
    const target = seeded[4]!;
    const acked = await server.request('POST', `/v1/alerts/${target.id}/ack`);
    expect(acked.status).toBe(200);
    expect(acked.body.alert).toMatchObject({
      id: target.id,
      ackedBy: 'test-key',
      ackedAt: server.clock.now().toISOString(),
    });
    expect(acked.body.ack).toEqual({
      ruleId: 'nickel',
      group: 'Chile',
      alertId: target.id,
      ackedBy: 'test-key',
      ackedAt: server.clock.now().toISOString(),
      lastAlertAt: target.receivedAt,
    });
    expect(await server.store.alerts.ackState('nickel', 'Chile')).toMatchObject({ ackedBy: 'test-key' });

    const byName = await server.request('POST', `/v1/alerts/${seeded[0]!.id}/ack`, {
      body: { by: 'ana@desk' },
    });
    expect(byName.body.alert.ackedBy).toBe('ana@desk');
    expect((await server.request('GET', `/v1/alerts/${seeded[0]!.id}`)).body.ackedBy).toBe('ana@desk');

    expect((await server.request('POST', '/v1/alerts/nope/ack')).status).toBe(404);
    const badBody = await server.request('POST', `/v1/alerts/${seeded[0]!.id}/ack`, { body: { by: '' } });
    expect(badBody.status).toBe(400);
    expect(badBody.body.error.details.field).toBe('body.by');
  });
});
