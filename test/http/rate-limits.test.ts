import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders, startTestApp, type TestApp } from '../support/test-app.ts';

async function keyWithRole(service: TestApp, role: string): Promise<string> {
  const created = await service.app.http.inject({
    method: 'POST',
    url: '/v1/api-keys',
    headers: authHeaders,
    payload: { name: `limited ${role}`, role },
  });
  return created.json().key;
}

describe('per-key rate limits', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startTestApp({
      TOCSIN_RATE_LIMIT: '5',
      TOCSIN_RATE_LIMIT_EVENTS: '8',
      TOCSIN_RATE_LIMIT_WINDOW: '1m',
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  const get = (url: string, key?: string) =>
    service.app.http.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('answers 429 TOCSIN_RATE_LIMITED with Retry-After past the limit, per key', async () => {
    const reader = await keyWithRole(service, 'reader');
    const other = await keyWithRole(service, 'reader');
    for (let i = 0; i < 5; i++) {
      const response = await get('/v1/alerts', reader);
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-ratelimit-limit']).toBe('5');
      expect(response.headers['x-ratelimit-remaining']).toBe(String(4 - i));
    }
    const limited = await get('/v1/me', reader);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({
      error: {
        code: 'TOCSIN_RATE_LIMITED',
        message: expect.stringContaining('5 requests per 1 minute'),
        details: { limit: 5, retryAfterSeconds: expect.any(Number) },
      },
    });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Another key has its own budget.
    expect((await get('/v1/alerts', other)).statusCode).toBe(200);
    // A refused key is not counted against anyone (and is told 401, not 429).
    expect((await get('/v1/alerts', 'tk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).statusCode).toBe(401);
  });

  it('gives ingest routes their own, larger limit', async () => {
    const ingest = await keyWithRole(service, 'ingest');
    const post = () =>
      service.app.http.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { authorization: `Bearer ${ingest}`, 'content-type': 'application/json' },
        payload: '{}',
      });
    for (let i = 0; i < 8; i++) expect((await post()).statusCode).toBe(400);
    expect((await post()).statusCode).toBe(429);
  });

  it('limits the open routes by client address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await get('/healthz')).statusCode);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe('rate limits turned off', () => {
  it('lets every request through with TOCSIN_RATE_LIMIT=0', async () => {
    const service = await startTestApp({ TOCSIN_RATE_LIMIT: '0' });
    try {
      for (let i = 0; i < 30; i++) {
        const response = await service.app.http.inject({
          method: 'GET',
          url: '/v1/me',
          headers: authHeaders,
        });
        expect(response.statusCode).toBe(200);
        expect(response.headers['x-ratelimit-limit']).toBeUndefined();
      }
    } finally {
      await service.close();
    }
  });
});
