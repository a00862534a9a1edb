import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileStreamFilter, type StreamFilter } from '../../../src/delivery/websocket/stream-filter.ts';
import type { StoredAlert } from '../../../src/store/store.ts';
import { openStream } from '../../support/stream-client.ts';
import { authHeaders, type TestApp } from '../../support/test-app.ts';
import { alertMessages, brief, postEvents, startStreamApp } from './stream-harness.ts';

const alert = (ruleId: string, severity: StoredAlert['severity'], tags: string[]) =>
  ({ ruleId, severity, tags }) as StoredAlert;

describe('compileStreamFilter', () => {
  it.each<[string, StreamFilter, StoredAlert, boolean]>([
    ['empty filter takes everything', {}, alert('a', 'info', []), true],
    ['empty lists take everything', { rules: [], tags: [] }, alert('a', 'info', []), true],
    ['rule listed', { rules: ['a', 'b'] }, alert('b', 'low', []), true],
    ['rule not listed', { rules: ['a'] }, alert('b', 'low', []), false],
    ['any of the tags', { tags: ['x', 'y'] }, alert('a', 'low', ['z', 'y']), true],
    ['none of the tags', { tags: ['x'] }, alert('a', 'low', ['z']), false],
    ['untagged alert, tag filter', { tags: ['x'] }, alert('a', 'low', []), false],
    ['severity equal to the minimum', { minSeverity: 'high' }, alert('a', 'high', []), true],
    ['severity above the minimum', { minSeverity: 'high' }, alert('a', 'critical', []), true],
    ['severity below the minimum', { minSeverity: 'high' }, alert('a', 'medium', []), false],
    [
      'fields combine with AND',
      { rules: ['a'], tags: ['x'], minSeverity: 'low' },
      alert('a', 'low', ['x']),
      true,
    ],
    [
      'AND: one field fails',
      { rules: ['a'], tags: ['x'], minSeverity: 'low' },
      alert('a', 'info', ['x']),
      false,
    ],
  ])('%s', (_name, filter, candidate, expected) => {
    expect(compileStreamFilter(filter)(candidate)).toBe(expected);
  });
});

describe('/v1/stream filters (real ws clients, real pipeline)', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startStreamApp();
  });
  afterAll(async () => {
    await service?.close();
  });

  const mixed = (prefix: string) => [
    brief(`${prefix}-copper`, 'Copper smelter outage'), // metals-watch: high, [metals, trade]
    brief(`${prefix}-oil`, 'Oil tanker rerouted'), // energy-watch: low, [energy]
    brief(`${prefix}-wheat`, 'Wheat export quota'), // grain-watch: critical, [agri, trade]
    brief(`${prefix}-end`, 'Copper, oil and wheat all move'), // one alert per rule
  ];

  const ruleIdsOf = (messages: { type: string }[], prefix: string) =>
    alertMessages(messages as never)
      .filter((message) => message.alert.eventIds[0]!.startsWith(prefix))
      .map((message) => `${message.alert.eventIds[0]!.slice(prefix.length + 1)}:${message.alert.ruleId}`);

  it('applies ?rules=, ?tags= and ?minSeverity= from the upgrade URL', async () => {
    const base = `${service.wsUrl}/v1/stream`;
    const byRule = await openStream(`${base}?rules=energy-watch,grain-watch`, { headers: authHeaders });
    const byTag = await openStream(`${base}?tags=trade`, { headers: authHeaders });
    const bySeverity = await openStream(`${base}?minSeverity=critical`, { headers: authHeaders });
    const combined = await openStream(`${base}?tags=trade&minSeverity=critical`, { headers: authHeaders });
    const all = await openStream(base, { headers: authHeaders });

    await postEvents(service, mixed('q'));
    const done = (message: { type: string; alert?: unknown }) =>
      message.type === 'alert' && (message.alert as StoredAlert).eventIds[0] === 'q-end';
    for (const stream of [byRule, byTag, bySeverity, combined, all]) await stream.next(done);

    expect(ruleIdsOf(all.messages, 'q')).toEqual([
      'copper:metals-watch',
      'oil:energy-watch',
      'wheat:grain-watch',
      'end:metals-watch',
      'end:energy-watch',
      'end:grain-watch',
    ]);
    expect(ruleIdsOf(byRule.messages, 'q')).toEqual([
      'oil:energy-watch',
      'wheat:grain-watch',
      'end:energy-watch',
      'end:grain-watch',
    ]);
    expect(ruleIdsOf(byTag.messages, 'q')).toEqual([
      'copper:metals-watch',
      'wheat:grain-watch',
      'end:metals-watch',
      'end:grain-watch',
    ]);
    expect(ruleIdsOf(bySeverity.messages, 'q')).toEqual(['wheat:grain-watch', 'end:grain-watch']);
    expect(ruleIdsOf(combined.messages, 'q')).toEqual(['wheat:grain-watch', 'end:grain-watch']);
    for (const stream of [byRule, byTag, bySeverity, combined, all]) await stream.close();
  });

  it('replaces the whole filter with a subscribe message', async () => {
    const stream = await openStream(`${service.wsUrl}/v1/stream?rules=metals-watch`, {
      headers: authHeaders,
    });
    /** Messages of one socket are handled in order: the error answering `{}` proves the subscribe before it was applied. */
    const subscribe = async (message: object) => {
      const errors = stream.messages.filter((m) => m.type === 'error').length;
      stream.socket.send(JSON.stringify({ type: 'subscribe', ...message }));
      stream.socket.send('{}');
      await expect.poll(() => stream.messages.filter((m) => m.type === 'error').length).toBe(errors + 1);
    };
    const isLast = (prefix: string, ruleId: string) => (m: { type: string; alert?: unknown }) =>
      m.type === 'alert' &&
      (m.alert as StoredAlert).eventIds[0] === `${prefix}-end` &&
      (m.alert as StoredAlert).ruleId === ruleId;

    await postEvents(service, mixed('s1'));
    await stream.next(isLast('s1', 'metals-watch'));

    // Replaced, not merged: rules= is gone, only the tags count now.
    await subscribe({ tags: ['energy', 'agri'] });
    await postEvents(service, mixed('s2'));
    await stream.next(isLast('s2', 'grain-watch'));

    await subscribe({ minSeverity: 'critical' });
    await postEvents(service, mixed('s3'));
    await stream.next(isLast('s3', 'grain-watch'));

    expect(ruleIdsOf(stream.messages, 's1')).toEqual(['copper:metals-watch', 'end:metals-watch']);
    expect(ruleIdsOf(stream.messages, 's2')).toEqual([
      'oil:energy-watch',
      'wheat:grain-watch',
      'end:energy-watch',
      'end:grain-watch',
    ]);
    expect(ruleIdsOf(stream.messages, 's3')).toEqual(['wheat:grain-watch', 'end:grain-watch']);
    await stream.close();
  });
});
