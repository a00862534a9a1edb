import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStream } from '../../support/stream-client.ts';
import { authHeaders, type TestApp } from '../../support/test-app.ts';
import { alertMessages, brief, logAfter, postEvents, sleep, startStreamApp } from './stream-harness.ts';

/** About 16 KB of summary per alert: the slow client's buffers fill after a few hundred. */
const summary = 'Copper concentrate shipments are delayed at the port. '.repeat(300);

describe('/v1/stream back-pressure (real ws clients)', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startStreamApp({ TOCSIN_STREAM_QUEUE_MAX: '256kb' });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('closes a client that stops reading with 1013 at the bound; the others get every alert in time; it resumes', async () => {
    const since = await service.app.store.alerts.headCursor();
    const normal = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    const slow = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's queue
    const latencies: number[] = [];
    normal.socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { type: string; alert?: { receivedAt: string } };
      if (message.type === 'alert') latencies.push(Date.now() - Date.parse(message.alert!.receivedAt));
    });

    let produced = 0;
    const startedAt = Date.now();
    while (service.app.hub.connectionCount() === 2) {
      if (Date.now() - startedAt > 30_000)
        throw new Error(`the slow client was not closed after ${produced} alerts`);
      await postEvents(
        service,
        Array.from({ length: 20 }, () => brief(`bp-${produced++}`, `Copper lot ${produced}`, { summary })),
      );
    }
    // A few more after the close: the normal client is not held up by the one that fell behind.
    for (let i = 0; i < 5; i++) {
      await postEvents(
        service,
        Array.from({ length: 20 }, () => brief(`bp-${produced++}`, `Copper lot ${produced}`, { summary })),
      );
    }
    const expected = await logAfter(service, since);
    expect(expected.length).toBe(produced);
    await normal.next(
      (message) => (message as { cursor?: string }).cursor === expected.at(-1)!.cursor,
      5_000,
    );
    expect(alertMessages(normal.messages).map((message) => message.cursor)).toEqual(
      expected.map((alert) => alert.cursor),
    );
    // "In time": every alert reached the normal client within a second of being received.
    expect(Math.max(...latencies)).toBeLessThan(1_000);

    // The slow client reads again: what was on the wire, then the close frame.
    slow.socket.resume();
    expect((await slow.waitForClose(5_000)).code).toBe(1013);
    const closes = await service.app.metrics.registry.getSingleMetric('tocsin_stream_closes_total')!.get();
    expect(closes.values).toEqual([{ labels: { code: '1013', by: 'server' }, value: 1 }]);
    const before = alertMessages(slow.messages);
    expect(before.length).toBeGreaterThan(0);
    expect(before.length).toBeLessThan(produced);
    expect(before.map((message) => message.cursor)).toEqual(
      expected.slice(0, before.length).map((alert) => alert.cursor),
    );

    // And resumes from its last cursor: the rest, exactly.
    const resumed = await openStream(`${service.wsUrl}/v1/stream?since=${before.at(-1)!.cursor}`, {
      headers: authHeaders,
    });
    await resumed.next(
      (message) => (message as { cursor?: string }).cursor === expected.at(-1)!.cursor,
      10_000,
    );
    await sleep(100);
    expect(alertMessages(resumed.messages).map((message) => message.cursor)).toEqual(
      expected.slice(before.length).map((alert) => alert.cursor),
    );
    await resumed.close();
    await normal.close();
  });
});
