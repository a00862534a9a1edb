import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, createTopic, kafkaBrokers, produce } from '../support/kafka.ts';
import { isAlertFor, openStream } from '../support/stream-client.ts';
import { authHeaders, seedEventPath, startTestApp, type TestApp } from '../support/test-app.ts';

const seed = JSON.parse(readFileSync(seedEventPath, 'utf8')) as Record<string, unknown> & { id: string };
const brief = (id: string) => JSON.stringify({ ...seed, id });
/**
 * 9 MB of one-letter tokens (4.5 million): matching it takes 0.35–0.6 s on this kind of machine
 * (Node 20 and Node 24 alike, measured quiet), several times the budget below, which still leaves a
 * small event (~1 ms) a wide margin on a busy machine.
 */
const huge = JSON.stringify({
  id: 'huge',
  title: 'A very long brief',
  publishedAt: '2026-07-01T00:00:00Z',
  summary: 'a b '.repeat(2_250_000),
});

/**
 * Matching runs on worker threads (TOCSIN_MATCH_WORKERS), and an event whose matching exceeds
 * TOCSIN_MATCH_BUDGET_MS is given up instead of blocking its partition: dead-lettered from
 * Kafka with reason `match_budget`, rejected by line over HTTP; the events around it go on.
 */
describe('matching on worker threads, with a budget per event (real broker)', () => {
  let service: TestApp;
  let topic: string;
  let dlqTopic: string;

  beforeAll(async () => {
    topic = await createTopic();
    dlqTopic = await createTopic();
    service = await startTestApp({
      KAFKA_BROKERS: kafkaBrokers(),
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_GROUP_ID: `${topic}-group`,
      KAFKA_START_FROM: 'earliest',
      TOCSIN_MATCH_WORKERS: '2',
      TOCSIN_MATCH_BUDGET_MS: '100',
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('dead-letters a Kafka event over the budget with reason match_budget and alerts on the next ones', async () => {
    const stream = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    await produce(topic, [
      { key: 'before', value: brief('before-huge') },
      { key: 'huge', value: huge },
      { key: 'after', value: brief('after-huge') },
    ]);
    await stream.next(isAlertFor('rare-earth-export-controls', 'before-huge'), 20_000);
    await stream.next(isAlertFor('rare-earth-export-controls', 'after-huge'), 20_000);
    await stream.close();

    const [dead] = await consumeAll(dlqTopic, 1, 15_000);
    expect(dead!.key).toBe('huge');
    expect(dead!.value).toBe(huge);
    expect(dead!.headers['tocsin-reason']).toMatch(/^match_budget: matching took over 100 ms/);
    expect(dead!.headers).toMatchObject({ 'tocsin-origin-topic': topic, 'tocsin-origin-offset': '1' });
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/tocsin_dead_letters_total\{reason="match_budget"\} 1/);
  });

  it('rejects an HTTP event over the budget by its line and accepts the others', async () => {
    const response = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/x-ndjson' },
      body: [brief('http-1'), huge, brief('http-3')].join('\n'),
    });
    expect(response.status).toBe(202);
    const body = (await response.json()) as {
      accepted: string[];
      rejected: { line: number; reason: string }[];
    };
    expect(body.accepted).toEqual(['http-1', 'http-3']);
    expect(body.rejected).toEqual([{ line: 2, reason: expect.stringMatching(/^matching took over 100 ms/) }]);

    const alerts = await fetch(`${service.url}/v1/alerts?ruleId=rare-earth-export-controls&limit=100`, {
      headers: authHeaders,
    });
    const eventIds = ((await alerts.json()) as { items: { eventIds: string[] }[] }).items.flatMap(
      (alert) => alert.eventIds,
    );
    expect(eventIds).toEqual(expect.arrayContaining(['http-1', 'http-3']));
    expect(eventIds).not.toContain('huge');
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/tocsin_events_rejected_total\{source="http",reason="match_budget"\} 1/);
  });

  it('keeps the event loop free while a worker is stuck on an event', async () => {
    // The app runs in this process: matching the huge event here would block this loop for its whole time.
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const ingest = fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/json' },
      body: huge,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    const response = await ingest;
    delay.disable();
    expect(response.status).toBe(400);
    expect(((await response.json()) as { rejected: { line: number }[] }).rejected).toEqual([
      { line: 1, reason: expect.stringMatching(/^matching took over 100 ms/) },
    ]);
    // Reading and validating 9 MB of JSON stays on the loop; matching it does not.
    expect(delay.max / 1e6).toBeLessThan(250);
  });
});
