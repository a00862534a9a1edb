import type { FastifyPluginAsync } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer } from '../../../src/http/http-server.ts';
import { roles } from '../../../src/http/roles.ts';
import { createLogger } from '../../../src/logger.ts';
import { openStream, upgradeStatus } from '../../support/stream-client.ts';
import { authHeaders, startTestApp, type TestApp } from '../../support/test-app.ts';

type Role = (typeof roles)[number];
type Operation = { 'x-tocsin-roles'?: Role[]; security?: unknown[]; description?: string };

/** Creates a key of every role through the API (with the static admin key). */
async function keysByRole(service: TestApp): Promise<Record<Role, { key: string; id: string }>> {
  const entries = await Promise.all(
    roles.map(async (role) => {
      const response = await fetch(`${service.url}/v1/api-keys`, {
        method: 'POST',
        headers: { ...authHeaders, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `${role} key`, role }),
      });
      expect(response.status).toBe(201);
      const body = (await response.json()) as { key: string; id: string; role: string };
      expect(body.role).toBe(role);
      return [role, { key: body.key, id: body.id }] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<Role, { key: string; id: string }>;
}

describe('key roles (the whole app)', () => {
  let service: TestApp;
  let keys: Record<Role, { key: string; id: string }>;
  let paths: Record<string, Record<string, Operation>>;

  beforeAll(async () => {
    service = await startTestApp();
    keys = await keysByRole(service);
    paths = ((await (await fetch(`${service.url}/docs`)).json()) as { paths: typeof paths }).paths;
  });
  afterAll(async () => {
    await service?.close();
  });

  const call = (method: string, path: string, key: string | undefined, body?: unknown) =>
    fetch(`${service.url}${path}`, {
      method,
      headers: {
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('GET /v1/me tells every role its id, name, role and tenant; the static key is admin', async () => {
    for (const role of roles) {
      const response = await call('GET', '/v1/me', keys[role].key);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        id: keys[role].id,
        name: `${role} key`,
        role,
        tenant: 'default',
      });
    }
    const staticKey = await call('GET', '/v1/me', authHeaders.authorization.slice(7));
    expect(await staticKey.json()).toEqual({
      id: null,
      name: 'TOCSIN_API_KEY',
      role: 'admin',
      tenant: 'default',
    });
    expect((await call('GET', '/v1/me', undefined)).status).toBe(401);
  });

  it('documents the roles of every /v1 operation, and leaves the open ones without security', async () => {
    const operations = Object.entries(paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
    );
    expect(operations.length).toBeGreaterThan(40);
    for (const { path, method, operation } of operations) {
      const name = `${method.toUpperCase()} ${path}`;
      if (path.startsWith('/v1/')) {
        expect(operation['x-tocsin-roles'], name).toEqual(expect.arrayContaining(['admin']));
        expect(operation.description, name).toContain(`Roles: ${operation['x-tocsin-roles']!.join(', ')}.`);
      } else {
        expect(operation.security, name).toEqual([]);
        expect(operation['x-tocsin-roles'], name).toBeUndefined();
      }
    }
    const rolesOf = (method: string, path: string) => paths[path]![method]!['x-tocsin-roles'];
    expect(rolesOf('get', '/v1/me')).toEqual(['admin', 'editor', 'ingest', 'reader']);
    expect(rolesOf('get', '/v1/alerts')).toEqual(['admin', 'editor', 'reader']);
    expect(rolesOf('post', '/v1/stream/tokens')).toEqual(['admin', 'editor', 'reader']);
    expect(rolesOf('post', '/v1/rules')).toEqual(['admin', 'editor']);
    expect(rolesOf('post', '/v1/alerts/{id}/ack')).toEqual(['admin', 'editor']);
    expect(rolesOf('post', '/v1/events')).toEqual(['admin', 'ingest']);
    expect(rolesOf('get', '/v1/api-keys')).toEqual(['admin']);
    expect(rolesOf('post', '/v1/api-keys')).toEqual(['admin']);
  });

  it('answers 403 TOCSIN_FORBIDDEN on every operation to each role it does not list, and not to the others', async () => {
    for (const [path, methods] of Object.entries(paths)) {
      if (!path.startsWith('/v1/')) continue;
      const url = path.replace(/\{[^}]+\}/g, 'no-such-id');
      for (const [method, operation] of Object.entries(methods)) {
        for (const role of roles) {
          const name = `${role} ${method.toUpperCase()} ${url}`;
          const response = await call(method.toUpperCase(), url, keys[role].key);
          if (operation['x-tocsin-roles']!.includes(role)) {
            expect(response.status, name).not.toBe(403);
            expect(response.status, name).not.toBe(401);
            expect(response.status, name).toBeLessThan(500);
            await response.body?.cancel();
          } else {
            expect(response.status, name).toBe(403);
            expect(await response.json(), name).toEqual({
              error: {
                code: 'TOCSIN_FORBIDDEN',
                message: expect.stringContaining(`this key is ${role}`),
                details: { role, allowed: operation['x-tocsin-roles'] },
              },
            });
          }
        }
      }
    }
  });

  it('lets a reader read, stream and take stream tokens, and nothing more; an ingest key only ingests', async () => {
    const reader = keys.reader.key;
    expect((await call('GET', '/v1/alerts', reader)).status).toBe(200);
    expect(
      (await call('POST', '/v1/silences', reader, { matchers: { ruleIds: ['r'] }, duration: '1h' })).status,
    ).toBe(403);
    const token = await call('POST', '/v1/stream/tokens', reader);
    expect(token.status).toBe(200);
    const { token: streamToken } = (await token.json()) as { token: string };
    const byToken = await openStream(`${service.wsUrl}/v1/stream?token=${encodeURIComponent(streamToken)}`);
    const byHeader = await openStream(`${service.wsUrl}/v1/stream`, {
      headers: { authorization: `Bearer ${reader}` },
    });
    await byToken.close();
    await byHeader.close();

    const ingest = keys.ingest.key;
    const event = {
      id: 'roles-ingest-1',
      source: 'test',
      publishedAt: new Date().toISOString(),
      title: 'Copper premiums',
      body: 'A brief.',
    };
    const ingested = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(ingested.status).toBeLessThan(500);
    expect(ingested.status).not.toBe(403);
    expect((await call('POST', '/v1/events', reader, event)).status).toBe(403);
    expect((await call('POST', '/v1/stream/tokens', ingest)).status).toBe(403);
    expect(
      await upgradeStatus(`${service.wsUrl}/v1/stream`, { headers: { authorization: `Bearer ${ingest}` } }),
    ).toBe(403);
  });

  it('lets an editor change things but not keys; an admin manage keys', async () => {
    const editor = keys.editor.key;
    const silence = await call('POST', '/v1/silences', editor, {
      matchers: { ruleIds: ['r'] },
      duration: '1h',
    });
    expect(silence.status).toBe(201);
    expect((await call('POST', '/v1/api-keys', editor, { name: 'escalate', role: 'admin' })).status).toBe(
      403,
    );
    expect((await call('GET', '/v1/api-keys', editor)).status).toBe(403);
    expect((await call('DELETE', `/v1/api-keys/${keys.admin.id}`, editor)).status).toBe(403);
    const listed = await call('GET', '/v1/api-keys', keys.admin.key);
    const items = ((await listed.json()) as { items: { name: string; role: string }[] }).items;
    expect(items).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'reader key', role: 'reader' })]),
    );
    // A key created without a role is admin, like the keys from before roles.
    const plain = await call('POST', '/v1/api-keys', keys.admin.key, { name: 'no role given' });
    expect(await plain.json()).toMatchObject({ role: 'admin' });
    const bad = await call('POST', '/v1/api-keys', keys.admin.key, { name: 'x', role: 'root' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { details: { field: string } } }).error.details.field).toBe(
      'body.role',
    );
  });
});

describe('route access declarations', () => {
  const server = () => createHttpServer({ logger: createLogger('silent'), maxBodyBytes: 1024, routes: [] });

  it('refuses to register a route that does not say who may call it', async () => {
    const undeclared: FastifyPluginAsync = async (app) => {
      app.get('/v1/forgotten', async () => ({}));
    };
    await expect(
      createHttpServer({ logger: createLogger('silent'), maxBodyBytes: 1024, routes: [undeclared] }),
    ).rejects.toThrow(/GET \/v1\/forgotten declares no access/);
    const app = await server();
    await expect(
      app.register(async (child) => {
        child.get('/elsewhere', { config: { access: 'everyone' as never } }, async () => ({}));
      }),
    ).rejects.toThrow(/declares no access/);
    await app.close();
  });

  it('refuses an open route under /v1', async () => {
    const open: FastifyPluginAsync = async (app) => {
      app.get('/v1/open-door', { config: { access: 'open' } }, async () => ({}));
    };
    await expect(
      createHttpServer({ logger: createLogger('silent'), maxBodyBytes: 1024, routes: [open] }),
    ).rejects.toThrow(/under \/v1 and cannot be open/);
  });
});
