import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from './api-server.ts';

const hour = 3_600_000;

describe('silences API', () => {
  let server: ApiServer;
  beforeEach(async () => {
    server = await startApiServer();
  });
  afterEach(async () => {
    await server.dispose();
  });

  it('creates a silence from now for a duration, created by the key', async () => {
    const now = server.clock.now().toISOString();
    const created = await server.request('POST', '/v1/silences', {
      body: {
        matchers: { ruleIds: ['copper'], severities: ['high'] },
        duration: '2h',
        comment: 'maintenance',
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      matchers: { ruleIds: ['copper'], severities: ['high'] },
      startsAt: now,
      endsAt: new Date(Date.parse(now) + 2 * hour).toISOString(),
      state: 'active',
      createdBy: 'test-key',
      comment: 'maintenance',
      createdAt: now,
    });
    const fetched = await server.request('GET', `/v1/silences/${created.body.id}`);
    expect(fetched.body).toEqual(created.body);
    // The pipeline sees it.
    expect((await server.store.silences.active(server.clock.now())).map((silence) => silence.id)).toEqual([
      created.body.id,
    ]);
  });

  it('bounds a silence to a year: an over-long duration or end is a 400, never a 500', async () => {
    const at = server.clock.ms;
    const cases = [
      [{ duration: '99999999d' }, 'body.duration'],
      [{ duration: '366d' }, 'body.duration'],
      [{ duration: '9000000h' }, 'body.duration'],
      [{ endsAt: new Date(at + 367 * 24 * hour).toISOString() }, 'body.endsAt'],
    ] as const;
    for (const [fields, field] of cases) {
      const created = await server.request('POST', '/v1/silences', {
        body: { matchers: { tags: ['metals'] }, ...fields },
      });
      expect(created.status, JSON.stringify(fields)).toBe(400);
      expect(created.body.error).toMatchObject({ code: 'TOCSIN_INVALID_REQUEST', details: { field } });
    }
    const longest = await server.request('POST', '/v1/silences', {
      body: { matchers: { tags: ['metals'] }, duration: '365d' },
    });
    expect(longest.status).toBe(201);
  });

  it('takes startsAt and endsAt, and lists by state', async () => {
    const at = server.clock.ms;
    const active = await server.request('POST', '/v1/silences', {
      body: { matchers: { tags: ['metals'] }, endsAt: new Date(at + hour).toISOString() },
    });
    const pending = await server.request('POST', '/v1/silences', {
      body: {
        matchers: { groups: ['Chile', null] },
        startsAt: new Date(at + 2 * hour).toISOString(),
        endsAt: new Date(at + 3 * hour).toISOString(),
      },
    });
    expect(pending.body.state).toBe('pending');
    const ids = async (query: string) =>
      (await server.request('GET', `/v1/silences${query}`)).body.items.map((item: { id: string }) => item.id);
    expect(await ids('?state=active')).toEqual([active.body.id]);
    expect(await ids('?state=pending')).toEqual([pending.body.id]);
    expect(await ids('?state=expired')).toEqual([]);
    expect((await ids('')).sort()).toEqual([active.body.id, pending.body.id].sort());
    expect((await server.request('GET', '/v1/silences?state=over')).status).toBe(400);
  });

  it('expires a silence with DELETE: it ends now and is listed as expired', async () => {
    const created = await server.request('POST', '/v1/silences', {
      body: { matchers: { ruleIds: ['copper'] }, duration: '1d' },
    });
    server.clock.advance(60_000);
    const expired = await server.request('DELETE', `/v1/silences/${created.body.id}`);
    expect(expired.status).toBe(200);
    expect(expired.body).toMatchObject({ state: 'expired', endsAt: server.clock.now().toISOString() });
    expect(await server.store.silences.active(server.clock.now())).toEqual([]);
    const listed = await server.request('GET', '/v1/silences?state=expired');
    expect(listed.body.items.map((item: { id: string }) => item.id)).toEqual([created.body.id]);
    // Expiring again changes nothing.
    server.clock.advance(60_000);
    const again = await server.request('DELETE', `/v1/silences/${created.body.id}`);
    expect(again.body.endsAt).toBe(expired.body.endsAt);
    expect((await server.request('DELETE', '/v1/silences/sil_nope')).status).toBe(404);
    expect((await server.request('GET', '/v1/silences/sil_nope')).status).toBe(404);
  });

  it.each([
    [{ matchers: {}, duration: '1h' }, 'body.matchers'],
    [{ matchers: { ruleIds: [] }, duration: '1h' }, 'body.matchers.ruleIds'],
    [{ matchers: { severities: ['urgent'] }, duration: '1h' }, 'body.matchers.severities.0'],
    [{ matchers: { ruleIds: ['a'] } }, 'body.endsAt'],
    [{ matchers: { ruleIds: ['a'] }, duration: '1h', endsAt: '2030-01-01T00:00:00Z' }, 'body.endsAt'],
    [{ matchers: { ruleIds: ['a'] }, duration: 'two hours' }, 'body.duration'],
    [{ matchers: { ruleIds: ['a'] }, endsAt: '2020-01-01T00:00:00Z' }, 'body.endsAt'],
    [{ matchers: { ruleIds: ['a'], colour: ['red'] }, duration: '1h' }, 'body.matchers.colour'],
  ])('rejects %j naming %s', async (body, field) => {
    const response = await server.request('POST', '/v1/silences', { body });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('TOCSIN_INVALID_REQUEST');
    expect(response.body.error.details.field).toBe(field);
    expect(response.body.error.message).toContain(field);
  });
});
