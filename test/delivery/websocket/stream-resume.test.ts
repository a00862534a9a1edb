import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { openStream } from '../../support/stream-client.ts';
import { authHeaders, type TestApp } from '../../support/test-app.ts';
import { alertMessages, brief, logAfter, postEvents, sleep, startStreamApp } from './stream-harness.ts';

const topics = ['Copper', 'Oil', 'Wheat', 'Copper and wheat'];
const numbered = (n: number) => brief(`r-${n}`, `${topics[n % topics.length]} lot ${n}`);
const eventIdOf = (message: { type: string; alert?: unknown }) =>
  message.type === 'alert' ? (message.alert as { eventIds: string[] }).eventIds[0] : undefined;

describe('/v1/stream resume with ?since= (real ws clients, real pipeline)', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startStreamApp();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('sends the 1,000-alert backlog in order, then live alerts, with no gap and no repeat, while alerts keep arriving', async () => {
    const since = await service.app.store.alerts.headCursor();
    let produced = 0;
    for (let batch = 0; batch < 10; batch++) {
      await postEvents(
        service,
        Array.from({ length: 100 }, () => numbered(produced++)),
      );
    }
    // 1,000 briefs → 1,250 alerts ("Copper and wheat" fires two rules) are waiting.
    expect((await logAfter(service, since)).length).toBe(1_250);

    let isProducing = true;
    onTestFinished(() => {
      isProducing = false;
    });
    const producer = (async () => {
      while (isProducing) {
        await postEvents(
          service,
          Array.from({ length: 4 }, () => numbered(produced++)),
        );
        await sleep(2);
      }
    })();

    const url = `${service.wsUrl}/v1/stream?since=${since}`;
    const everything = await openStream(url, { headers: authHeaders });
    const critical = await openStream(`${url}&minSeverity=critical`, { headers: authHeaders });
    // A dashboard whose link drops during its backlog, and that comes back with its last cursor.
    const first = await openStream(url, { headers: authHeaders });
    let count = 0;
    first.socket.on('message', () => {
      if (++count === 400) first.socket.terminate();
    });
    await first.waitForClose(20_000);
    const received = alertMessages(first.messages);
    expect(received.length).toBeLessThan(1_250);
    const second = await openStream(`${service.wsUrl}/v1/stream?since=${received.at(-1)!.cursor}`, {
      headers: authHeaders,
    });

    // Well into the live part before production stops.
    await everything.next((message) => eventIdOf(message) === 'r-999', 20_000);
    await sleep(1_000);
    isProducing = false;
    await producer;
    expect(produced).toBeGreaterThan(1_100);
    const expected = await logAfter(service, since);
    const expectedCritical = await logAfter(service, since, { minSeverity: 'critical' });
    expect(expected.at(-1)!.eventIds[0]).toBe(`r-${produced - 1}`);
    const hasCursor = (cursor: string) => (message: { type: string; [key: string]: unknown }) =>
      message.cursor === cursor;
    await everything.next(hasCursor(expected.at(-1)!.cursor), 10_000);
    await second.next(hasCursor(expected.at(-1)!.cursor), 10_000);
    await critical.next(hasCursor(expectedCritical.at(-1)!.cursor), 10_000);
    await sleep(200); // anything extra (a repeat) would arrive now

    const cursorsOf = (messages: ReturnType<typeof alertMessages>) =>
      messages.map((message) => message.cursor);
    expect(cursorsOf(alertMessages(everything.messages))).toEqual(expected.map((alert) => alert.cursor));
    expect(alertMessages(everything.messages).map((message) => message.alert.id)).toEqual(
      expected.map((alert) => alert.id),
    );
    expect(cursorsOf(alertMessages(critical.messages))).toEqual(
      expectedCritical.map((alert) => alert.cursor),
    );
    expect([...cursorsOf(received), ...cursorsOf(alertMessages(second.messages))]).toEqual(
      expected.map((alert) => alert.cursor),
    );
    for (const stream of [everything, critical, second]) await stream.close();
  });
});

describe('/v1/stream with a cursor older than the retention', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startStreamApp();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('sends cursor_expired, none of what is left, then live alerts', async () => {
    const old = await service.app.store.alerts.headCursor();
    await postEvents(service, [brief('old-1', 'Copper one'), brief('old-2', 'Copper two')]);
    // Retention runs two days from now with one day of alerts kept: everything goes.
    await service.app.store.purge(
      { alertsDays: 1, ledgerDays: 30, deliveryLogDays: 14 },
      new Date(Date.now() + 2 * 86_400_000),
    );
    expect(await service.app.store.alerts.isCursorExpired(old)).toBe(true);
    await postEvents(service, [brief('kept-1', 'Copper three')]);

    const stream = await openStream(`${service.wsUrl}/v1/stream?since=${old}`, { headers: authHeaders });
    const error = await stream.next((message) => message.type === 'error');
    expect(error).toEqual({ type: 'error', code: 'cursor_expired', message: expect.any(String) });
    await postEvents(service, [brief('live-1', 'Copper four')]);
    await stream.next((message) => eventIdOf(message) === 'live-1');
    expect(stream.messages.filter((message) => message.type !== 'heartbeat').map((m) => m.type)).toEqual([
      'error',
      'alert',
    ]);
    await stream.close();
  });
});

describe('/v1/stream with a cursor ahead of the log (a store reset or restored)', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startStreamApp();
  });
  afterAll(async () => {
    await service?.close();
  });

  it.each(['czzzzzz', 'c9'])('sends cursor_invalid for %s, then live alerts', async (since) => {
    await postEvents(service, [brief(`before-${since}`, 'Copper before')]);
    const head = await service.app.store.alerts.headCursor();
    expect(Number.parseInt(since.slice(1), 36)).toBeGreaterThan(Number.parseInt(head.slice(1), 36));
    const stream = await openStream(`${service.wsUrl}/v1/stream?since=${since}`, { headers: authHeaders });
    const error = await stream.next((message) => message.type === 'error');
    expect(error).toEqual({ type: 'error', code: 'cursor_invalid', message: expect.any(String) });
    await postEvents(service, [brief(`live-${since}`, 'Copper after')]);
    await stream.next((message) => eventIdOf(message) === `live-${since}`);
    expect(stream.messages.filter((message) => message.type !== 'heartbeat').map((m) => m.type)).toEqual([
      'error',
      'alert',
    ]);
    await stream.close();
  });
});
