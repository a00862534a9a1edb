import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ensureFirstApiKey,
  generateApiKey,
  hashApiKey,
  loadOrCreateSecret,
} from '../../../src/http/api-keys.ts';
import { principalOf } from '../../../src/http/auth.ts';
import {
  assertPostgresReachable,
  type Harness,
  postgresHarness,
  sqliteHarness,
} from '../../store/store-harness.ts';
import { type ApiServer, createBackend, startApiServer, testSecret } from './api-server.ts';

const staticKey = 'static-key-for-scripts-0123456789';

/** A route that also takes `?token=letmein`, the way the stream route will take stream tokens. */
const tokenRoute: FastifyPluginAsync = async (app) => {
  app.get(
    '/v1/token-or-key',
    {
      config: {
        access: 'read',
        credential: (request) => {
          const token = (request.query as { token?: string }).token;
          return token === 'letmein'
            ? { tenantId: 'default', name: 'stream-token', keyId: null, role: 'reader' }
            : undefined;
        },
      },
    },
    async (request) => ({ by: principalOf(request).name, tenant: request.tenantId }),
  );
};

/** A WebSocket route under /v1, like /v1/stream. */
const socketRoute: FastifyPluginAsync = async (app) => {
  app.get('/v1/socket', { websocket: true, config: { access: 'read' } }, (socket) => socket.send('hello'));
};

type UpgradeResult = { status: 'open'; message: string } | { status: number; body: string };

function upgrade(url: string, headers: Record<string, string> = {}): Promise<UpgradeResult> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('message', (data) => {
      resolve({ status: 'open', message: String(data) });
      socket.close();
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    socket.once('error', (error) => {
      if (!String(error.message).startsWith('Unexpected server response')) reject(error);
    });
  });
}

describe.each([sqliteHarness, postgresHarness])('API key auth ($name store)', (harness: Harness) => {
  let server: ApiServer;

  beforeAll(async () => {
    if (harness.name === 'postgres') await assertPostgresReachable();
  });
  afterEach(async () => {
    await server?.dispose();
  });

  it('answers 401 in the one error shape, with WWW-Authenticate, without a key', async () => {
    server = await startApiServer({ harness });
    for (const url of ['/v1/rules', '/v1/alerts', '/v1/api-keys', '/v1/no-such-route', '/v1']) {
      const response = await server.request('GET', url, { key: null });
      expect(response.status, url).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.body).toEqual({ error: { code: 'TOCSIN_UNAUTHORIZED', message: expect.any(String) } });
    }
    const post = await server.request('POST', '/v1/rules', { key: null, body: { id: 'x' } });
    expect(post.status).toBe(401);
  });

  it('refuses an unknown key, a malformed header and another scheme', async () => {
    server = await startApiServer({ harness });
    expect((await server.request('GET', '/v1/rules', { key: generateApiKey() })).status).toBe(401);
    expect((await server.request('GET', '/v1/rules', { key: 'not-a-key' })).status).toBe(401);
    for (const authorization of [`Basic ${server.key}`, 'Bearer', `Bearer ${server.key} extra`, server.key]) {
      const response = await server.app.inject({
        method: 'GET',
        url: '/v1/rules',
        headers: { authorization },
      });
      expect(response.statusCode, authorization).toBe(401);
    }
    const ok = await server.request('GET', '/v1/rules');
    expect(ok.status).toBe(200);
    const lowerCase = await server.app.inject({
      method: 'GET',
      url: '/v1/rules',
      headers: { authorization: `bearer ${server.key}` },
    });
    expect(lowerCase.statusCode).toBe(200);
  });

  it('refuses a key once it is revoked', async () => {
    server = await startApiServer({ harness });
    const created = await server.request('POST', '/v1/api-keys', { body: { name: 'to revoke' } });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect((await server.request('GET', '/v1/rules', { key })).status).toBe(200);
    expect((await server.request('DELETE', `/v1/api-keys/${created.body.id}`)).status).toBe(200);
    const refused = await server.request('GET', '/v1/rules', { key });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('TOCSIN_UNAUTHORIZED');
  });

  it('accepts TOCSIN_API_KEY for the default tenant, and only the exact key', async () => {
    server = await startApiServer({ harness, staticKey });
    expect((await server.request('GET', '/v1/rules', { key: staticKey })).status).toBe(200);
    expect((await server.request('GET', '/v1/rules', { key: `${staticKey}x` })).status).toBe(401);
    expect((await server.request('GET', '/v1/rules', { key: staticKey.slice(0, -1) })).status).toBe(401);
    const silence = await server.request('POST', '/v1/silences', {
      key: staticKey,
      body: { matchers: { ruleIds: ['r'] }, duration: '1h' },
    });
    expect(silence.status).toBe(201);
    expect(silence.body.createdBy).toBe('TOCSIN_API_KEY');
    // Stored keys keep working beside it.
    expect((await server.request('GET', '/v1/rules')).status).toBe(200);
  });

  it('leaves the operational routes, the docs, unsubscribe links and the page open', async () => {
    server = await startApiServer({ harness });
    expect((await server.request('GET', '/healthz', { key: null })).status).toBe(200);
    expect((await server.request('GET', '/readyz', { key: null })).status).toBe(200);
    const metrics = await server.request('GET', '/metrics', { key: null });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('# HELP');
    const docs = await server.request('GET', '/docs', { key: null });
    expect(docs.status).toBe(200);
    expect(Object.keys(docs.body.paths)).toEqual(
      expect.arrayContaining(['/v1/rules', '/v1/alerts/{id}/ack']),
    );
    // No such routes yet, but they are not behind the key: 404, not 401.
    for (const url of ['/u/some-token', '/', '/app.js']) {
      const response = await server.request('GET', url, { key: null });
      expect(response.status, url).toBe(404);
      expect(response.body.error.code).toBe('TOCSIN_NOT_FOUND');
    }
  });

  it('lets a route opt into another credential, tried only without an Authorization header', async () => {
    server = await startApiServer({ harness, routes: [tokenRoute] });
    const byToken = await server.request('GET', '/v1/token-or-key?token=letmein', { key: null });
    expect(byToken).toMatchObject({ status: 200, body: { by: 'stream-token', tenant: 'default' } });
    const byKey = await server.request('GET', '/v1/token-or-key');
    expect(byKey).toMatchObject({ status: 200, body: { by: 'test-key', tenant: 'default' } });
    expect((await server.request('GET', '/v1/token-or-key?token=wrong', { key: null })).status).toBe(401);
    // A wrong key is not rescued by a good token.
    expect(
      (await server.request('GET', '/v1/token-or-key?token=letmein', { key: generateApiKey() })).status,
    ).toBe(401);
    // Other routes do not take the token.
    expect((await server.request('GET', '/v1/rules?token=letmein', { key: null })).status).toBe(401);
  });

  it('refuses a WebSocket upgrade under /v1 with HTTP 401 before upgrading', async () => {
    server = await startApiServer({ harness, routes: [socketRoute] });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    const address = server.app.server.address() as { port: number };
    const url = `ws://127.0.0.1:${address.port}/v1/socket`;

    const refused = await upgrade(url);
    expect(refused).toMatchObject({ status: 401 });
    expect(JSON.parse((refused as { body: string }).body).error.code).toBe('TOCSIN_UNAUTHORIZED');
    expect(await upgrade(url, { authorization: `Bearer ${generateApiKey()}` })).toMatchObject({
      status: 401,
    });
    expect(await upgrade(url, { authorization: `Bearer ${server.key}` })).toEqual({
      status: 'open',
      message: 'hello',
    });
  });

  it('creates the first key at first start, prints it once and stores only its hash', async () => {
    const backend = await createBackend(harness);
    try {
      const printed: string[] = [];
      const logged: unknown[] = [];
      const deps = {
        store: backend.store,
        secret: testSecret,
        staticKey: undefined,
        logger: { info: (...args: unknown[]) => logged.push(args) },
        print: (text: string) => printed.push(text),
      };
      const record = await ensureFirstApiKey(deps as Parameters<typeof ensureFirstApiKey>[0]);
      expect(record).toBeDefined();
      expect(printed).toHaveLength(1);
      const key = /tk_[A-Za-z0-9_-]{43}/.exec(printed[0]!)?.[0];
      expect(key).toBeDefined();

      const stored = await backend.store.apiKeys.list();
      expect(stored).toHaveLength(1);
      expect(stored[0]!.hash).toBe(hashApiKey(testSecret, key!));
      expect(stored[0]!.hash).not.toContain(key!.slice(3));
      expect(stored[0]!.prefix).toBe(key!.slice(0, 10));
      expect(JSON.stringify(stored)).not.toContain(key);
      expect(JSON.stringify(logged)).not.toContain(key);

      // A second start prints nothing and creates nothing, even once the key is revoked.
      await backend.store.apiKeys.revoke(stored[0]!.id, new Date());
      expect(await ensureFirstApiKey(deps as Parameters<typeof ensureFirstApiKey>[0])).toBeUndefined();
      expect(printed).toHaveLength(1);
      expect(await backend.store.apiKeys.list()).toHaveLength(1);
    } finally {
      await backend.dispose();
    }
  });

  it('creates no first key when TOCSIN_API_KEY is set', async () => {
    const backend = await createBackend(harness);
    try {
      const printed: string[] = [];
      const result = await ensureFirstApiKey({
        store: backend.store,
        secret: testSecret,
        staticKey,
        logger: { info: () => {} },
        print: (text) => printed.push(text),
      });
      expect(result).toBeUndefined();
      expect(printed).toEqual([]);
      expect(await backend.store.apiKeys.list()).toEqual([]);
    } finally {
      await backend.dispose();
    }
  });
});

describe('the first-start key', () => {
  it('is accepted as a Bearer key by the server', async () => {
    const server = await startApiServer({ issueKey: false });
    try {
      const printed: string[] = [];
      await ensureFirstApiKey({
        store: server.store,
        secret: testSecret,
        staticKey: undefined,
        logger: { info: () => {} },
        print: (text) => printed.push(text),
      });
      const key = /tk_[A-Za-z0-9_-]{43}/.exec(printed[0]!)![0];
      expect((await server.request('GET', '/v1/rules', { key })).status).toBe(200);
      const listed = await server.request('GET', '/v1/api-keys', { key });
      expect(listed.body.items).toEqual([
        expect.objectContaining({ name: 'first-start', prefix: key.slice(0, 10) }),
      ]);
    } finally {
      await server.dispose();
    }
  });
});

describe('loadOrCreateSecret', () => {
  it('creates <dataDir>/secret once (mode 0600), reuses it, and prefers the configured one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tocsin-secret-'));
    try {
      const dataDir = join(dir, 'data');
      const first = await loadOrCreateSecret(dataDir);
      expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect((await readFile(join(dataDir, 'secret'), 'utf8')).trim()).toBe(first);
      expect((await stat(join(dataDir, 'secret'))).mode & 0o777).toBe(0o600);
      expect(await loadOrCreateSecret(dataDir)).toBe(first);
      expect(await loadOrCreateSecret(dataDir, 'configured-secret-0123456789')).toBe(
        'configured-secret-0123456789',
      );
      const racing = await Promise.all(
        Array.from({ length: 5 }, () => loadOrCreateSecret(join(dir, 'racing'))),
      );
      expect(new Set(racing).size).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
