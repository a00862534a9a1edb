// What /metrics reports about the service's own work: HTTP latency by route pattern, matching
// time, and the WebSocket stream's clients and closes — against the real app, real clients.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStream } from '../support/stream-client.ts';
import { authHeaders, seedEventPath, startTestApp, type TestApp } from '../support/test-app.ts';

const seed = JSON.parse(readFileSync(seedEventPath, 'utf8')) as Record<string, unknown>;

/** The samples of one metric family as `name{labels} value` lines. */
async function samples(service: TestApp, name: string): Promise<string[]> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('service metrics', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startTestApp();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('times HTTP requests by method, route pattern (never the raw path) and status', async () => {
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    for (const id of ['no-such-rule', 'another-missing-rule']) {
      expect((await fetch(`${service.url}/v1/rules/${id}`, { headers: authHeaders })).status).toBe(404);
    }
    expect((await fetch(`${service.url}/no/such/path/${Math.random()}`)).status).toBe(404);

    const counts = await samples(service, 'tocsin_http_request_duration_seconds_count');
    expect(counts).toContain(
      'tocsin_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 1',
    );
    expect(counts).toContain(
      'tocsin_http_request_duration_seconds_count{method="GET",route="/v1/rules/:id",status="404"} 2',
    );
    expect(counts).toContain(
      'tocsin_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1',
    );
    expect(counts.join('\n')).not.toContain('no-such-rule');
  });

  it('times matching per batch', async () => {
    const before = await samples(service, 'tocsin_matching_seconds_count');
    const response = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/json' },
      body: JSON.stringify(seed),
    });
    expect(response.status).toBe(202);
    expect(before).toEqual(['tocsin_matching_seconds_count 0']);
    expect(await samples(service, 'tocsin_matching_seconds_count')).toEqual([
      'tocsin_matching_seconds_count 1',
    ]);
    const [sum] = await samples(service, 'tocsin_matching_seconds_sum');
    expect(Number(sum!.split(' ')[1])).toBeGreaterThan(0);
  });

  it('counts stream connections, the clients open now, and closes by code and side', async () => {
    const first = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    const second = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    expect(await samples(service, 'tocsin_stream_clients')).toEqual(['tocsin_stream_clients 2']);
    expect(await samples(service, 'tocsin_stream_connections_total')).toEqual([
      'tocsin_stream_connections_total 2',
    ]);

    first.socket.close(1000, 'done'); // the client's normal close
    await first.waitForClose();
    await expect.poll(() => samples(service, 'tocsin_stream_clients')).toEqual(['tocsin_stream_clients 1']);
    expect(await samples(service, 'tocsin_stream_closes_total')).toEqual([
      'tocsin_stream_closes_total{code="1000",by="client"} 1',
    ]);

    // Shutting down closes the rest with 1001 (going away); the registry outlives the app.
    const registry = service.app.metrics.registry;
    await service.close();
    expect((await second.waitForClose()).code).toBe(1001);
    const text = await registry.metrics();
    expect(text).toContain('tocsin_stream_closes_total{code="1001",by="server"} 1');
    expect(text).toContain('tocsin_stream_clients 0');
    service = undefined as unknown as TestApp;
  });
});
