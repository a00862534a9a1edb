import { readFileSync } from 'node:fs';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlertFor, openStream } from '../support/stream-client.ts';
import { authHeaders, seedEventPath, startTestApp, type TestApp } from '../support/test-app.ts';

const seed = JSON.parse(readFileSync(seedEventPath, 'utf8')) as Record<string, unknown>;
const brief = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  publishedAt: '2026-07-03T08:00:00Z',
  title: 'Copper smelter maintenance in Chile',
  ...extra,
});

describe('POST /v1/events (no Kafka)', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startTestApp();
  });
  afterAll(async () => {
    await service.close();
  });

  it('evaluates the seed brief and streams the rare-earth alert to a WebSocket client', async () => {
    const stream = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    const response = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/json' },
      body: JSON.stringify(seed),
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ accepted: [seed.id], rejected: [] });

    const message = await stream.next(isAlertFor('rare-earth-export-controls', seed.id as string), 5_000);
    expect(message).toMatchObject({
      type: 'alert',
      cursor: expect.any(String),
      alert: { ruleId: 'rare-earth-export-controls', severity: 'high', eventIds: [seed.id] },
    });
    const alert = message.alert as { matches: { field: string; text: string; start: number; end: number }[] };
    expect(alert.matches.length).toBeGreaterThan(0);
    for (const match of alert.matches) expect(match.end).toBeGreaterThan(match.start);
    await stream.close();
  });

  it('takes NDJSON, reports each bad line by number and keeps the good ones', async () => {
    const body = [
      JSON.stringify(brief('ndjson-1')),
      '{not json',
      JSON.stringify({ id: 'ndjson-no-title', publishedAt: '2026-07-03T08:00:00Z' }),
      '',
      JSON.stringify(brief('ndjson-2', { severity: 'high' })),
      JSON.stringify(brief('ndjson-3')),
    ].join('\n');
    const response = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/x-ndjson' },
      body,
    });
    expect(response.status).toBe(202);
    const result = (await response.json()) as {
      accepted: string[];
      rejected: { line: number; reason: string }[];
    };
    expect(result.accepted).toEqual(['ndjson-1', 'ndjson-3']);
    expect(result.rejected.map((rejection) => rejection.line)).toEqual([2, 3, 5]);
    expect(result.rejected[0]!.reason).toMatch(/^not JSON/);
    expect(result.rejected[1]!.reason).toMatch(/^title: /);
    expect(result.rejected[2]!.reason).toMatch(/^severity: /);
  });

  it('answers 400 with the reasons when no event is valid', async () => {
    const response = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'x', title: 'no date' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      accepted: [],
      rejected: [{ line: 1, reason: expect.stringMatching(/^publishedAt: /) }],
    });
  });

  it('counts received and rejected events in /metrics', async () => {
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/tocsin_events_received_total\{source="http"\} [1-9]/);
    expect(metrics).toMatch(/tocsin_events_rejected_total\{source="http",reason="not_json"\} 1/);
    expect(metrics).toMatch(/tocsin_alerts_emitted_total\{severity="high",status="active"\} [1-9]/);
    expect(metrics).toMatch(/process_cpu_user_seconds_total/);
  });

  it('takes a JSON body that starts with a UTF-8 byte order mark, like NDJSON', async () => {
    for (const [type, id] of [
      ['application/json', 'bom-json'],
      ['application/x-ndjson', 'bom-ndjson'],
    ] as const) {
      const response = await fetch(`${service.url}/v1/events`, {
        method: 'POST',
        headers: { ...authHeaders, 'content-type': type },
        body: `\ufeff${JSON.stringify(brief(id))}`,
      });
      expect(response.status, type).toBe(202);
      expect(await response.json()).toEqual({ accepted: [id], rejected: [] });
    }
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const)('decodes a %s body (JSON and NDJSON)', async (encoding, encode) => {
    for (const type of ['application/json', 'application/x-ndjson']) {
      const id = `${encoding}-${type.split('/')[1]}`;
      const response = await fetch(`${service.url}/v1/events`, {
        method: 'POST',
        headers: { ...authHeaders, 'content-type': type, 'content-encoding': encoding },
        body: encode(Buffer.from(JSON.stringify(brief(id)))),
      });
      expect(response.status, `${encoding} ${type}`).toBe(202);
      expect(await response.json()).toEqual({ accepted: [id], rejected: [] });
    }
  });

  it('applies the size limit to the decoded bytes: a zip bomb answers 413', async () => {
    // 64 MB of one event's padding, under 70 KB compressed: over TOCSIN_MAX_BODY (10 MB) once decoded.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 ** 2, 0x20), { level: 9 });
    expect(bomb.length).toBeLessThan(100 * 1024);
    const response = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: bomb,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: { code: 'TOCSIN_MESSAGE_TOO_LARGE', message: expect.any(String) },
    });
  });

  it('answers a corrupt or unknown encoding in the error shape', async () => {
    const post = (encoding: string, body: string) =>
      fetch(`${service.url}/v1/events`, {
        method: 'POST',
        headers: { ...authHeaders, 'content-type': 'application/json', 'content-encoding': encoding },
        body,
      });
    const corrupt = await post('gzip', 'certainly not gzip');
    expect(corrupt.status).toBe(400);
    expect(((await corrupt.json()) as { error: { code: string } }).error.code).toBe('TOCSIN_INVALID_REQUEST');
    const unknown = await post('compress', '{}');
    expect(unknown.status).toBe(415);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('TOCSIN_INVALID_REQUEST');
  });

  it('serves health, readiness and an OpenAPI document of its routes', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(200);
    const docs = (await (await fetch(`${service.url}/docs`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(docs.openapi).toMatch(/^3\./);
    expect(Object.keys(docs.paths)).toEqual(
      expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/v1/events']),
    );
  });
});
