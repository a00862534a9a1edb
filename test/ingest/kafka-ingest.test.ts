import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeAll, createTopic, kafkaBrokers, produce } from '../support/kafka.ts';
import { isAlertFor, openStream } from '../support/stream-client.ts';
import { authHeaders, seedEventPath, startTestApp, type TestApp } from '../support/test-app.ts';

const seedText = readFileSync(seedEventPath, 'utf8');
const seed = JSON.parse(seedText) as { id: string };

describe('Kafka ingest (real broker)', () => {
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
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('consumes the seed brief and a WebSocket client receives the rare-earth alert within 5 s', async () => {
    const stream = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    await produce(topic, [{ key: seed.id, value: seedText }]);
    const message = await stream.next(isAlertFor('rare-earth-export-controls', seed.id), 5_000);
    expect(message.alert).toMatchObject({ ruleId: 'rare-earth-export-controls', eventIds: [seed.id] });
    await stream.close();
  });

  it('dead-letters bad messages with their reason and origin, counts them, and keeps consuming', async () => {
    const stream = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    const after = { ...JSON.parse(seedText), id: 'after-the-poison' };
    await produce(topic, [
      { key: 'not-json', value: '{"id": "broken",' },
      { key: 'no-title', value: JSON.stringify({ id: 'no-title', publishedAt: '2026-07-02T10:00:00Z' }) },
      { key: after.id, value: JSON.stringify(after) },
    ]);
    await stream.next(isAlertFor('rare-earth-export-controls', 'after-the-poison'), 10_000);

    const dead = await consumeAll(dlqTopic, 2, 15_000);
    expect(dead.map((message) => message.key)).toEqual(['not-json', 'no-title']);
    expect(dead[0]!.value).toBe('{"id": "broken",');
    expect(dead[0]!.headers['tocsin-reason']).toMatch(/^not_json: /);
    expect(dead[1]!.headers['tocsin-reason']).toMatch(/^invalid_event: title: /);
    expect(dead[1]!.headers).toMatchObject({ 'tocsin-origin-topic': topic, 'tocsin-origin-partition': '0' });
    expect(Number(dead[1]!.headers['tocsin-origin-offset'])).toBeGreaterThan(0);

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/tocsin_events_rejected_total\{source="kafka",reason="not_json"\} 1/);
    expect(metrics).toMatch(/tocsin_events_rejected_total\{source="kafka",reason="invalid_event"\} 1/);
    expect(metrics).toMatch(/tocsin_dead_letters_total\{reason="invalid_event"\} 1/);
    await stream.close();
  });

  it('reports Kafka in /readyz', async () => {
    const response = await fetch(`${service.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ready: true, checks: { kafka: { ok: true } } });
  });
});
