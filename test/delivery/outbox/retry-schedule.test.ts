import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_SCHEDULE,
  MAX_RETRY_AFTER_MS,
  nextDelay,
  parseRetrySchedule,
} from '../../../src/delivery/outbox/retry-schedule.ts';
import { isAppError } from '../../../src/errors.ts';

/** mulberry32: a small seeded PRNG in [0, 1). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const s = 1_000;
const m = 60 * s;
const h = 60 * m;

describe('parseRetrySchedule', () => {
  it('parses the Svix-like default: 8 attempts', () => {
    expect(parseRetrySchedule(DEFAULT_RETRY_SCHEDULE)).toEqual([
      0,
      5 * s,
      5 * m,
      30 * m,
      2 * h,
      5 * h,
      10 * h,
      10 * h,
    ]);
  });

  it.each([
    ['0s,200ms,400ms', [0, 200, 400]],
    [' 0 , 1.5s ,2m ', [0, 1_500, 2 * m]],
    ['1d', [86_400_000]],
    ['250ms', [250]],
    ['0.5ms', [1]],
  ])('parses %j', (text, expected) => {
    expect(parseRetrySchedule(text)).toEqual(expected);
  });

  it.each(['', '5', '5x', '-1s', '1s,,2s', 's', '1e3ms', '1 s', 'Infinity'])('rejects %j', (text) => {
    let thrown: unknown;
    try {
      parseRetrySchedule(text);
    } catch (error) {
      thrown = error;
    }
    expect(isAppError(thrown, 'TOCSIN_INVALID_CONFIG')).toBe(true);
  });
});

describe('nextDelay', () => {
  const schedule = parseRetrySchedule(DEFAULT_RETRY_SCHEDULE);

  it('uses the delay after the failed attempt, ±20 % jitter', () => {
    expect(nextDelay(schedule, 1, undefined, () => 0.5)).toBe(5 * s);
    expect(nextDelay(schedule, 1, undefined, () => 0)).toBe(4 * s);
    expect(nextDelay(schedule, 1, undefined, () => 0.999_999)).toBe(6 * s);
    expect(nextDelay(schedule, 2, undefined, () => 0.5)).toBe(5 * m);
    expect(nextDelay(schedule, 7, undefined, () => 0.5)).toBe(10 * h);
  });

  it('is dead past the schedule', () => {
    expect(nextDelay(schedule, 8, undefined, () => 0.5)).toBeUndefined();
    expect(nextDelay(schedule, 9, 1_000, () => 0.5)).toBeUndefined();
    expect(nextDelay([0], 1)).toBeUndefined();
  });

  it('spreads retries of one attempt over the jitter window with a seeded random', () => {
    const random = seeded(42);
    const delays = Array.from({ length: 1_000 }, () => nextDelay(schedule, 3, undefined, random)!);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0.8 * 30 * m);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1.2 * 30 * m);
    // Not synchronised: nearly every retry is at its own time, and both halves of the window are used.
    expect(new Set(delays).size).toBeGreaterThan(990);
    expect(delays.filter((delay) => delay < 30 * m).length).toBeGreaterThan(400);
    expect(delays.filter((delay) => delay > 30 * m).length).toBeGreaterThan(400);
    // The same seed gives the same delays.
    const again = seeded(42);
    expect(Array.from({ length: 5 }, () => nextDelay(schedule, 3, undefined, again))).toEqual(
      delays.slice(0, 5),
    );
  });

  it('honours Retry-After when it is later than the schedule, capped at 24 h', () => {
    expect(nextDelay(schedule, 1, 60 * s, () => 0.5)).toBe(60 * s);
    expect(nextDelay(schedule, 1, 1 * s, () => 0.5)).toBe(5 * s);
    expect(nextDelay(schedule, 1, 1_500.2, () => 0)).toBe(4 * s);
    expect(nextDelay([0, 100], 1, 1_500.2, () => 0)).toBe(1_501);
    expect(nextDelay(schedule, 1, 7 * 24 * h, () => 0.5)).toBe(MAX_RETRY_AFTER_MS);
    expect(nextDelay(schedule, 1, Number.NaN, () => 0.5)).toBe(5 * s);
    expect(nextDelay(schedule, 1, -5, () => 0.5)).toBe(5 * s);
  });

  it('rejects an attempt number below 1', () => {
    expect(() => nextDelay(schedule, 0)).toThrow(RangeError);
    expect(() => nextDelay(schedule, 1.5)).toThrow(RangeError);
  });
});
