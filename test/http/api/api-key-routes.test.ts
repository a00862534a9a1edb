import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../../src/http/api-keys.ts';
import { type ApiServer, startApiServer, testSecret } from './api-server.ts';

describe('API keys API', () => {
  let server: ApiServer;
  beforeEach(async () => {
    server = await startApiServer();
  });
  afterEach(async () => {
    await server.dispose();
  });

  it('creates a key, shows it once, and stores only its hash', async () => {
    server.clock.advance(1_000);
    const created = await server.request('POST', '/v1/api-keys', { body: { name: 'ci pipeline' } });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect(key).toMatch(/^tk_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toEqual({
      id: expect.any(String),
      prefix: key.slice(0, 10),
      name: 'ci pipeline',
      role: 'admin',
      createdAt: server.clock.now().toISOString(),
      revokedAt: null,
      key,
    });
    const [, stored] = await server.store.apiKeys.list();
    expect(stored).toMatchObject({ id: created.body.id, hash: hashApiKey(testSecret, key) });

    const listed = await server.request('GET', '/v1/api-keys');
    expect(listed.body.items.map((item: { name: string }) => item.name)).toEqual(['test-key', 'ci pipeline']);
    for (const item of listed.body.items)
      expect(Object.keys(item).sort()).toEqual(['createdAt', 'id', 'name', 'prefix', 'revokedAt', 'role']);
    expect(JSON.stringify(listed.body)).not.toContain(key);
    expect(JSON.stringify(listed.body)).not.toContain(stored!.hash);

    // The new key works, and names its caller.
    const silence = await server.request('POST', '/v1/silences', {
      key,
      body: { matchers: { tags: ['x'] }, duration: '1h' },
    });
    expect(silence.body.createdBy).toBe('ci pipeline');
  });

  it('revokes a key: it answers 401 from then on and is listed as revoked', async () => {
    const created = await server.request('POST', '/v1/api-keys', { body: { name: 'temp' } });
    server.clock.advance(5_000);
    const revoked = await server.request('DELETE', `/v1/api-keys/${created.body.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: created.body.id, revokedAt: server.clock.now().toISOString() });
    expect(revoked.body).not.toHaveProperty('key');
    expect((await server.request('GET', '/v1/rules', { key: created.body.key })).status).toBe(401);
    // Again: unchanged.
    server.clock.advance(5_000);
    const again = await server.request('DELETE', `/v1/api-keys/${created.body.id}`);
    expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
    // The other keys still work.
    expect((await server.request('GET', '/v1/rules')).status).toBe(200);
  });

  it('answers 404 for an unknown key or one of another tenant, and 400 for a bad name', async () => {
    expect((await server.request('DELETE', '/v1/api-keys/key_nope')).status).toBe(404);
    const theirs = await server.store.apiKeys.create({
      tenantId: 'other',
      prefix: 'tk_abcdefg',
      hash: 'f00',
      name: 'x',
    });
    expect((await server.request('DELETE', `/v1/api-keys/${theirs.id}`)).status).toBe(404);
    expect((await server.store.apiKeys.list({ tenantId: 'other' }))[0]!.revokedAt).toBeNull();
    for (const body of [{}, { name: '' }, { name: '   ' }, { name: 'x', scope: 'all' }]) {
      const response = await server.request('POST', '/v1/api-keys', { body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('TOCSIN_INVALID_REQUEST');
    }
  });
});
