import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { authHeaders, startTestApp, type TestApp } from '../support/test-app.ts';

const dashboard = 'https://dash.example.com';

describe('security headers', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startTestApp();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('puts them on every answer: API, errors, open routes', async () => {
    for (const [url, headers, status] of [
      ['/v1/alerts', authHeaders, 200],
      ['/v1/alerts', {}, 401],
      ['/v1/no-such-route', authHeaders, 404],
      ['/healthz', {}, 200],
      ['/docs', {}, 200],
    ] as const) {
      const response = await service.app.http.inject({ method: 'GET', url, headers });
      expect(response.statusCode, url).toBe(status);
      expect(response.headers['content-security-policy'], url).toBe(
        "default-src 'none';frame-ancestors 'none';base-uri 'none'",
      );
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
      expect(response.headers['x-frame-options'], url).toBe('SAMEORIGIN');
      expect(response.headers['strict-transport-security'], url).toMatch(/max-age=\d+/);
      expect(response.headers['referrer-policy'], url).toBe('no-referrer');
      expect(response.headers['cross-origin-opener-policy'], url).toBe('same-origin');
    }
  });

  it("keeps the live page's own CSP, which lets its script reach the API and the stream", async () => {
    const response = await service.app.http.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(200);
    const csp = response.headers['content-security-policy'];
    expect(typeof csp).toBe('string');
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('sends no CORS header without TOCSIN_CORS_ORIGINS, whatever the Origin', async () => {
    const response = await service.app.http.inject({
      method: 'GET',
      url: '/v1/alerts',
      headers: { ...authHeaders, origin: dashboard },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await service.app.http.inject({
      method: 'OPTIONS',
      url: '/v1/alerts',
      headers: { origin: dashboard, 'access-control-request-method': 'GET' },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.statusCode).toBeGreaterThanOrEqual(400);
  });
});

describe('CORS with TOCSIN_CORS_ORIGINS', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startTestApp({ TOCSIN_CORS_ORIGINS: `${dashboard}, http://localhost:3000` });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('answers a listed origin, and its preflight without a key; never another origin', async () => {
    const allowed = await service.app.http.inject({
      method: 'GET',
      url: '/v1/alerts',
      headers: { ...authHeaders, origin: dashboard },
    });
    expect(allowed.headers['access-control-allow-origin']).toBe(dashboard);
    expect(allowed.headers['access-control-expose-headers']).toContain('retry-after');
    expect(allowed.headers['access-control-allow-credentials']).toBeUndefined();

    const preflight = await service.app.http.inject({
      method: 'OPTIONS',
      url: '/v1/rules',
      headers: {
        origin: 'http://localhost:3000',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('authorization');
    expect(String(preflight.headers['access-control-allow-methods'])).toContain('POST');

    const other = await service.app.http.inject({
      method: 'GET',
      url: '/v1/alerts',
      headers: { ...authHeaders, origin: 'https://evil.example' },
    });
    expect(other.statusCode).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    // The key is still required: CORS opens nothing by itself.
    const withoutKey = await service.app.http.inject({
      method: 'GET',
      url: '/v1/alerts',
      headers: { origin: dashboard },
    });
    expect(withoutKey.statusCode).toBe(401);
  });

  it('refuses a malformed origin list at start, naming the variable', () => {
    for (const value of [
      'dash.example.com',
      'https://dash.example.com/',
      'ftp://x.example',
      'https://a.example/path',
    ]) {
      expect(() => loadConfig({ TOCSIN_CORS_ORIGINS: value }), value).toThrow(/TOCSIN_CORS_ORIGINS/);
    }
  });
});
