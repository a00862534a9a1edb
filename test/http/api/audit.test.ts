import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { maskSecrets } from '../../../src/http/audit-trail.ts';
import {
  assertPostgresReachable,
  type Harness,
  postgresHarness,
  sqliteHarness,
} from '../../store/store-harness.ts';
import { type ApiServer, startApiServer } from './api-server.ts';

const day = 86_400_000;

describe.each([sqliteHarness, postgresHarness])('audit log ($name store)', (harness: Harness) => {
  let server: ApiServer;
  beforeAll(async () => {
    if (harness.name === 'postgres') await assertPostgresReachable();
  });
  afterEach(async () => {
    await server?.dispose();
  });

  const audit = async (query = '') => {
    const response = await server.request('GET', `/v1/audit${query}`);
    expect(response.status).toBe(200);
    return response.body as { items: Record<string, unknown>[]; nextCursor: string | null };
  };

  it('records who changed which record, when, and the record before and after, secrets masked', async () => {
    server = await startApiServer({ harness });
    const keyId = (await server.store.apiKeys.list())[0]!.id;
    const actor = { keyId, name: 'test-key', role: 'admin' };

    const webhook = await server.request('POST', '/v1/webhooks', {
      body: { url: 'https://desk.example/hook' },
    });
    expect(webhook.status).toBe(201);
    const secret = webhook.body.secret as string;
    server.clock.advance(1_000);
    const rotated = await server.request('POST', `/v1/webhooks/${webhook.body.id}/rotate`, { body: {} });
    expect(rotated.status).toBe(200);
    server.clock.advance(1_000);
    const subscriber = await server.request('POST', '/v1/subscribers', { body: { name: 'Ana' } });
    server.clock.advance(1_000);
    await server.request('PATCH', `/v1/subscribers/${subscriber.body.id}`, { body: { name: 'Ana B.' } });
    server.clock.advance(1_000);
    await server.request('POST', '/v1/rules', { body: { id: 'copper', name: 'Copper', query: 'copper' } });
    server.clock.advance(1_000);
    await server.request('POST', '/v1/rules/copper/disable');
    server.clock.advance(1_000);
    expect((await server.request('DELETE', '/v1/rules/copper')).status).toBe(204);
    server.clock.advance(1_000);
    const created = await server.request('POST', '/v1/api-keys', {
      body: { name: 'wallboard', role: 'reader' },
    });
    server.clock.advance(1_000);
    await server.request('DELETE', `/v1/api-keys/${created.body.id}`);
    // Failed changes change nothing and leave no entry.
    expect((await server.request('DELETE', '/v1/rules/no-such-rule')).status).toBe(404);
    expect((await server.request('POST', '/v1/subscribers', { body: { name: '' } })).status).toBe(400);

    const { items, nextCursor } = await audit();
    expect(nextCursor).toBeNull();
    expect(items.map((item) => `${item.action} ${item.resourceType}`)).toEqual([
      'revoke api_key',
      'create api_key',
      'delete rule',
      'disable rule',
      'create rule',
      'update subscriber',
      'create subscriber',
      'rotate webhook',
      'create webhook',
    ]);
    for (const item of items) expect(item.actor).toEqual(actor);
    const [revoke, createKey, deleteRule, disableRule, , update, , rotate, createWebhook] = items as {
      before: Record<string, unknown> | null;
      after: Record<string, unknown> | null;
      resourceId: string;
      at: string;
    }[];

    expect(createWebhook).toMatchObject({ resourceId: webhook.body.id, before: null });
    expect(createWebhook!.after).toMatchObject({
      url: 'https://desk.example/hook',
      secret: `whsec_…${secret.slice(-4)}`,
    });
    expect(rotate!.before).toMatchObject({ secret: `whsec_…${secret.slice(-4)}`, previousSecret: null });
    expect(rotate!.after).toMatchObject({ secret: `whsec_…${(rotated.body.secret as string).slice(-4)}` });
    expect(update).toMatchObject({ before: { name: 'Ana' }, after: { name: 'Ana B.' } });
    expect(disableRule).toMatchObject({ before: { enabled: true }, after: { enabled: false } });
    expect(deleteRule).toMatchObject({ resourceId: 'copper', before: { id: 'copper' }, after: null });
    expect(createKey!.after).toMatchObject({ name: 'wallboard', role: 'reader', key: '[masked]' });
    expect(revoke).toMatchObject({ resourceId: created.body.id, before: { revokedAt: null } });
    expect(revoke!.after).toMatchObject({ revokedAt: expect.any(String) });
    expect(Date.parse(revoke!.at)).toBe(server.clock.ms);

    // No secret of any kind is in the log.
    const text = JSON.stringify(items);
    for (const value of [secret, rotated.body.secret, created.body.key, server.key]) {
      expect(text).not.toContain(value);
    }
    expect(text).not.toContain(created.body.key.slice(10));
  });

  it('pages newest first with a cursor, filters by resource, and forgets entries past retention', async () => {
    server = await startApiServer({ harness });
    for (let i = 0; i < 5; i++) {
      await server.request('POST', '/v1/subscribers', { body: { name: `S${i}` } });
      // Two entries in the same millisecond must not be skipped or repeated across pages.
      if (i % 2 === 0) server.clock.advance(day);
    }
    await server.request('POST', '/v1/silences', { body: { matchers: { ruleIds: ['r'] }, duration: '1h' } });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await audit(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((item) => (item.after as { name?: string }).name ?? 'silence'));
      cursor = page.nextCursor;
    } while (cursor !== null);
    // Newest first; entries of one millisecond in id order, which is random here.
    expect(seen[0]).toBe('silence');
    expect(seen.slice(1, 3).sort()).toEqual(['S3', 'S4']);
    expect(seen.slice(3, 5).sort()).toEqual(['S1', 'S2']);
    expect(seen[5]).toBe('S0');

    const silences = await audit('?resourceType=silence');
    expect(silences.items).toHaveLength(1);
    expect((await server.request('GET', '/v1/audit?resourceType=alert')).status).toBe(400);

    // S0 is 3 days old now, S1 and S2 two days, the rest one day or less.
    const purged = await server.store.purge(
      { alertsDays: 30, ledgerDays: 30, deliveryLogDays: 14, auditDays: 2 },
      server.clock.now(),
    );
    expect(purged.audit).toBe(1);
    expect((await audit()).items).toHaveLength(5);
  });
});

describe('maskSecrets', () => {
  it('masks every secret-bearing field at any depth and leaves the rest', () => {
    expect(
      maskSecrets({
        id: 'x',
        secret: 'whsec_abcdefghij',
        nested: [{ previousSecret: 'whsec_0123456789', Token: 'st1.a.b', name: 'keep' }],
        key: 'tk_whole-key',
        hash: 'deadbeef',
        password: null,
      }),
    ).toEqual({
      id: 'x',
      secret: 'whsec_…ghij',
      nested: [{ previousSecret: 'whsec_…6789', Token: '[masked]', name: 'keep' }],
      key: '[masked]',
      hash: '[masked]',
      password: null,
    });
  });
});
