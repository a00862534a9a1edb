import { AppError } from '../../errors.ts';

/**
 * A retry schedule: `delays[i]` is how long to wait before attempt `i + 1`, so its length is
 * the number of attempts. `delays[0]` is the first attempt's delay: jobs are created due at
 * once, which is what the default's `0s` says; the dispatcher uses `delays[1…]` for retries.
 */
export type RetrySchedule = readonly number[];

/** Svix's schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts over ~28 h). */
export const DEFAULT_RETRY_SCHEDULE = '0s,5s,5m,30m,2h,5h,10h,10h';

/** A delay is spread uniformly over ±20 % of the schedule's value, so retries don't synchronise. */
export const JITTER_RATIO = 0.2;

/** A receiver's `Retry-After` is honoured up to this; a longer one is cut to it. */
export const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Grammar (whitespace around items is ignored):
 *
 *   schedule := delay ("," delay)*
 *   delay    := number unit | "0"           e.g. 0s, 200ms, 1.5s, 5m, 2h, 1d
 *   number   := digits ["." digits]
 *   unit     := "ms" | "s" | "m" | "h" | "d"
 *
 * Throws AppError TOCSIN_INVALID_CONFIG naming the bad item.
 */
export function parseRetrySchedule(text: string): RetrySchedule {
  const items = text.split(',').map((item) => item.trim());
  return items.map((item, index) => {
    if (item === '0') return 0;
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(item);
    if (!match) {
      throw new AppError(
        'TOCSIN_INVALID_CONFIG',
        `retry schedule item ${index + 1} "${item}" is not a delay like 0s, 200ms, 5m, 2h or 1d`,
        { details: { schedule: text, item } },
      );
    }
    return Math.round(Number(match[1]) * unitMs[match[2] as keyof typeof unitMs]);
  });
}

/**
 * How long to wait after failed attempt `attempt` (1-based, as `job.attempts` counts it) before
 * the next one, or `undefined` when the schedule is exhausted and the job is dead.
 *
 * The schedule's delay is jittered by ±JITTER_RATIO (`random` in [0, 1)); a `retryAfterMs` from
 * the receiver wins when it is later, capped at MAX_RETRY_AFTER_MS, and is not jittered: it is
 * the earliest time the receiver asked for, and the jitter of the schedule already spreads
 * the herd.
 */
export function nextDelay(
  schedule: RetrySchedule,
  attempt: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number | undefined {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be ≥ 1, got ${attempt}`);
  const base = schedule[attempt];
  if (base === undefined) return undefined;
  const jittered = Math.round(base * (1 - JITTER_RATIO + 2 * JITTER_RATIO * random()));
  const asked =
    retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0
      ? Math.min(Math.ceil(retryAfterMs), MAX_RETRY_AFTER_MS)
      : 0;
  return Math.max(jittered, asked);
}
