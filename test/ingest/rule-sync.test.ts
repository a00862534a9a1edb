import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertPostgresReachable, dropSchema, testDatabaseUrl } from '../store/store-harness.ts';
import { openStream } from '../support/stream-client.ts';
import { authHeaders, startTestApp, type TestApp } from '../support/test-app.ts';

/**
 * Two instances on one PostgreSQL schema (HTTP ingest, no Kafka): what one changes, the other
 * hears through the change feed (LISTEN/NOTIFY), not at the next poll.
 */
describe('shared changes between instances (PostgreSQL change feed)', () => {
  const schema = `tocsin_sync_${randomBytes(5).toString('hex')}`;
  let one: TestApp;
  let two: TestApp;

  beforeAll(async () => {
    await assertPostgresReachable();
    const admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
    await admin.query(`create schema "${schema}"`);
    await admin.end();
    const url = new URL(testDatabaseUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    // The hubs' unprompted poll is a minute: only the commit's NOTIFY can stream an alert sooner.
    const env = { DATABASE_URL: url.toString(), TOCSIN_STREAM_POLL: '60s' };
    one = await startTestApp(env);
    two = await startTestApp(env);
  });

  afterAll(async () => {
    await one?.close();
    await two?.close();
    await dropSchema(schema);
  });

  const post = (app: TestApp, path: string, body: unknown) =>
    fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  const event = (id: string, title: string) => ({
    id,
    publishedAt: '2026-07-02T09:30:00Z',
    title,
    source: { name: 'Wire' },
  });

  async function alertsOf(app: TestApp, ruleId: string): Promise<{ eventIds: string[] }[]> {
    const response = await fetch(`${app.url}/v1/alerts?ruleId=${ruleId}`, { headers: authHeaders });
    return ((await response.json()) as { items: { eventIds: string[] }[] }).items;
  }

  it('a rule created, disabled and deleted on one instance takes effect on the other within 1 s', async () => {
    const rule = { id: 'synced-rule', name: 'Synced', severity: 'high', query: 'title:zirconium' };
    expect((await post(one, '/v1/rules', rule)).status).toBe(201);
    const created = performance.now();
    // Poll the other instance with fresh events until one matches.
    let n = 0;
    let matchedAfterMs: number | undefined;
    while (performance.now() - created < 1_000) {
      n += 1;
      expect((await post(two, '/v1/events', event(`zr-${n}`, 'Zirconium exports halted'))).status).toBe(202);
      if ((await alertsOf(two, 'synced-rule')).length > 0) {
        matchedAfterMs = performance.now() - created;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(matchedAfterMs, 'the rule never matched on the other instance within 1 s').toBeDefined();

    expect((await post(one, '/v1/rules/synced-rule/disable', {})).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = (await alertsOf(two, 'synced-rule')).length;
    expect((await post(two, '/v1/events', event('zr-off', 'Zirconium exports halted'))).status).toBe(202);
    expect((await alertsOf(two, 'synced-rule')).length).toBe(before);

    const deleted = await fetch(`${one.url}/v1/rules/synced-rule`, {
      method: 'DELETE',
      headers: authHeaders,
    });
    expect(deleted.status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const listed = await fetch(`${two.url}/v1/rules/synced-rule`, { headers: authHeaders });
    expect(listed.status).toBe(404);
    expect(two.app.matcher.rules().some((r) => r.id === 'synced-rule')).toBe(false);
  });

  it("streams an alert committed on one instance to the other's WebSocket clients at once", async () => {
    const rule = { id: 'streamed-rule', name: 'Streamed', severity: 'high', query: 'title:hafnium' };
    expect((await post(one, '/v1/rules', rule)).status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const stream = await openStream(`${two.wsUrl}/v1/stream`, { headers: authHeaders });
    try {
      for (const n of [1, 2, 3]) {
        const id = `hf-${n}`;
        expect((await post(one, '/v1/events', event(id, 'Hafnium supply cut'))).status).toBe(202);
        await stream.next(
          (message) =>
            message.type === 'alert' && (message.alert as { eventIds?: string[] })?.eventIds?.[0] === id,
          5_000,
        );
      }
    } finally {
      await stream.close();
    }
  });
});
