import { describe, expect, it } from 'vitest';
import {
  type DigestCadence,
  lastEndedPeriod,
  nextPeriodEnd,
} from '../../../src/delivery/email/digest-period.ts';

const daily8: DigestCadence = { mode: 'daily', dailyHour: 8 };
const daily2: DigestCadence = { mode: 'daily', dailyHour: 2 };
const hourly: DigestCadence = { mode: 'hourly' };

describe('lastEndedPeriod', () => {
  it.each([
    // [cadence, zone, at, start, end]
    [
      daily8,
      'Europe/Berlin',
      '2026-03-28T06:59:59.999Z',
      '2026-03-26T07:00:00.000Z',
      '2026-03-27T07:00:00.000Z',
    ],
    [
      daily8,
      'Europe/Berlin',
      '2026-03-28T07:00:00.000Z',
      '2026-03-27T07:00:00.000Z',
      '2026-03-28T07:00:00.000Z',
    ],
    // Spring change on 29 March: 08:00 CEST is 06:00 UTC, the period is 23 hours.
    [
      daily8,
      'Europe/Berlin',
      '2026-03-29T06:00:00.000Z',
      '2026-03-28T07:00:00.000Z',
      '2026-03-29T06:00:00.000Z',
    ],
    [
      daily8,
      'Europe/Berlin',
      '2026-03-29T05:59:59.999Z',
      '2026-03-27T07:00:00.000Z',
      '2026-03-28T07:00:00.000Z',
    ],
    // Autumn change on 25 October: a 25-hour period.
    [
      daily8,
      'Europe/Berlin',
      '2026-10-25T07:00:00.000Z',
      '2026-10-24T06:00:00.000Z',
      '2026-10-25T07:00:00.000Z',
    ],
    // 02:00 does not exist on 29 March in Berlin: the first instant after the gap (03:00 CEST).
    [
      daily2,
      'Europe/Berlin',
      '2026-03-29T01:00:00.000Z',
      '2026-03-28T01:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
    ],
    // 02:00 exists twice on 25 October: one of them, always the same.
    [
      daily2,
      'Europe/Berlin',
      '2026-10-25T00:30:00.000Z',
      '2026-10-23T00:00:00.000Z',
      '2026-10-24T00:00:00.000Z',
    ],
    [
      daily2,
      'Europe/Berlin',
      '2026-10-25T01:30:00.000Z',
      '2026-10-24T00:00:00.000Z',
      '2026-10-25T01:00:00.000Z',
    ],
    // New York changes on other dates (8 March 2026).
    [
      daily8,
      'America/New_York',
      '2026-03-08T12:00:00.000Z',
      '2026-03-07T13:00:00.000Z',
      '2026-03-08T12:00:00.000Z',
    ],
    [daily8, 'UTC', '2026-03-29T08:00:00.000Z', '2026-03-28T08:00:00.000Z', '2026-03-29T08:00:00.000Z'],
    // Hourly in a half-hour zone.
    [
      hourly,
      'Asia/Kolkata',
      '2026-03-28T07:10:00.000Z',
      '2026-03-28T05:30:00.000Z',
      '2026-03-28T06:30:00.000Z',
    ],
    // Hourly across the autumn change: the repeated hour is two one-hour periods.
    [
      hourly,
      'Europe/Berlin',
      '2026-10-25T00:30:00.000Z',
      '2026-10-24T23:00:00.000Z',
      '2026-10-25T00:00:00.000Z',
    ],
    [
      hourly,
      'Europe/Berlin',
      '2026-10-25T01:30:00.000Z',
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T01:00:00.000Z',
    ],
  ] as const)('%o in %s at %s: [%s, %s)', (cadence, zone, at, start, end) => {
    const period = lastEndedPeriod(cadence, zone, new Date(at));
    expect(period.start.toISOString()).toBe(start);
    expect(period.end.toISOString()).toBe(end);
    expect(period.key).toBe(`${cadence.mode}@${end.replace('.000Z', 'Z')}`);
  });

  it('gives every instant of a day one key, on both sides of an ambiguous hour', () => {
    const keys = new Set<string>();
    for (
      let ms = Date.parse('2026-10-25T01:00:00Z');
      ms < Date.parse('2026-10-26T01:00:00Z');
      ms += 10 * 60_000
    ) {
      keys.add(lastEndedPeriod(daily2, 'Europe/Berlin', new Date(ms)).key);
    }
    expect([...keys]).toEqual(['daily@2026-10-25T01:00:00Z']);
  });
});

describe('nextPeriodEnd', () => {
  it.each([
    [daily8, 'Europe/Berlin', '2026-03-28T07:00:00.000Z', '2026-03-29T06:00:00.000Z'],
    [daily8, 'Europe/Berlin', '2026-03-28T06:59:59.999Z', '2026-03-28T07:00:00.000Z'],
    [daily8, 'Europe/Berlin', '2026-10-24T06:00:00.000Z', '2026-10-25T07:00:00.000Z'],
    [hourly, 'Asia/Kolkata', '2026-03-28T06:30:00.000Z', '2026-03-28T07:30:00.000Z'],
    [hourly, 'UTC', '2026-03-28T06:59:59.999Z', '2026-03-28T07:00:00.000Z'],
  ] as const)('%o in %s after %s: %s', (cadence, zone, at, expected) => {
    expect(nextPeriodEnd(cadence, zone, new Date(at)).toISOString()).toBe(expected);
  });
});
