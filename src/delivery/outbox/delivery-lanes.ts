import type { ClaimedJob } from '../../store/store.ts';

/**
 * Lanes: per-destination concurrency for the outbox dispatcher, so that a slow destination
 * (a webhook endpoint that hangs until its timeout) holds at most its own few slots and never
 * the slots of the others.
 *
 * A channel names a job's lane (`laneOf`, e.g. the webhook endpoint) and the lane's limit. The
 * store hands out due jobs oldest first, whatever their lane, so a claimed job may find its
 * lane full. It is then:
 * - **parked** in the lane's queue: it starts as soon as a send of its lane ends, without a
 *   trip to the store, which keeps a busy lane's pipe full. A lane parks about
 *   `parkHorizonMs` of work at its pace (at least `limit`, at most `maxParked` jobs; only
 *   `limit` while its pace is unknown);
 * - or **deferred**: handed back to the store, due when the lane should reach it — behind its
 *   running, parked and already deferred jobs at its pace, at most `maxDeferMs` later — so the
 *   next claims reach other lanes' jobs, and the deferred one comes back about when its lane
 *   can take it.
 *
 * Which of the two a full lane gets depends on its pace, the moving average of its sends'
 * durations as the channel measures them:
 * - a **fast** lane (`slowPaceMs` or less): while it has all it may park, the dispatcher stops
 *   claiming (`isClaimBlocked`), so its backlog is drained in order without going back and
 *   forth to the store; the others wait behind it at most `parkHorizonMs`, as the store's
 *   order (oldest first) has it anyway;
 * - a **slow** lane defers, and hands back what it parked beyond its limit (`overflow`): the
 *   others go past it;
 * - so does a lane whose pace is not known yet (it may hang: a new endpoint that never
 *   answers must not hold the others up until its first timeout), but only for a moment
 *   (`maxUnknownDeferMs`), spaced by the age of its oldest send in flight: once a send ends,
 *   the lane is fast or slow.
 * Only finished sends set the pace, not sends in flight: our own load (a burst of commits)
 * stretches every send in flight alike and must not make a fast lane look slow for long.
 *
 * Pure bookkeeping: the dispatcher does the sending and the store updates. Times are
 * `performance.now()` milliseconds.
 */

export type ParkedJob = { job: ClaimedJob; claimedAt: number; start(): void; defer(): Promise<unknown> };

export type Lane = {
  readonly key: string;
  readonly limit: number;
  running: number;
  /** Start times (`performance.now()`) of the sends in flight. */
  starts: number[];
  parked: ParkedJob[];
  /** Moving average of this lane's send durations; undefined until a send ends. */
  averageSendMs: number | undefined;
  /** Jobs deferred and not started again yet: the queue a new deferral goes behind. */
  deferredAhead: number;
};

/** The pace assumed for spacing deferrals before a lane's first send ends. */
const unknownPaceMs = 10;
/** Weight of the newest send in the moving average. */
const smoothing = 0.2;
/** A lane slower than this per send is slow. */
const slowPaceMs = 1_000;
/** A lane parks about this much work. */
const parkHorizonMs = 2_000;
/** The latest a deferred job is due again; one whose lane is still full then is deferred again. */
const maxDeferMs = 60_000;
/** The same, for a lane whose pace is not known yet. */
const maxUnknownDeferMs = 1_000;
/** Idle lanes are remembered (with their pace) up to this many. */
const maxRememberedLanes = 1_000;

/** `maxParked`: the most jobs parked in one lane (the dispatcher bounds the total too). */
export function createDeliveryLanes(options: { maxParked: number }) {
  const { maxParked } = options;
  const lanes = new Map<string, Lane>();
  let parkedCount = 0;

  /** A lane's pace; before its first send ends, at least the age of its oldest send in flight. */
  const paceOf = (lane: Lane, now: number) =>
    lane.averageSendMs ??
    Math.max(unknownPaceMs, lane.starts.length > 0 ? now - Math.min(...lane.starts) : 0);
  const isFast = (lane: Lane) => lane.averageSendMs !== undefined && lane.averageSendMs <= slowPaceMs;
  const parkLimitOf = (lane: Lane) =>
    lane.averageSendMs === undefined
      ? lane.limit
      : Math.min(
          maxParked,
          Math.max(lane.limit, Math.floor((lane.limit * parkHorizonMs) / lane.averageSendMs)),
        );

  return {
    /** The lane of `key`, created on first use. */
    lane(key: string, limit: number): Lane {
      let lane = lanes.get(key);
      if (!lane) {
        lane = {
          key,
          limit: Math.max(1, limit),
          running: 0,
          starts: [],
          parked: [],
          averageSendMs: undefined,
          deferredAhead: 0,
        };
        lanes.set(key, lane);
      }
      return lane;
    },

    /** What to do with a claimed job of `lane` now. */
    admit(lane: Lane): 'start' | 'park' | 'defer' {
      if (lane.running < lane.limit && lane.parked.length === 0) return 'start';
      return lane.parked.length < parkLimitOf(lane) ? 'park' : 'defer';
    },

    /** True while a fast lane has all it may park: claiming more would only hand its jobs back. */
    isClaimBlocked(): boolean {
      for (const lane of lanes.values()) {
        if (lane.parked.length > 0 && isFast(lane) && lane.parked.length >= parkLimitOf(lane)) return true;
      }
      return false;
    },

    park(lane: Lane, entry: ParkedJob): void {
      lane.parked.push(entry);
      parkedCount += 1;
    },

    /** The next parked job of the lane, if any (FIFO). */
    unpark(lane: Lane): ParkedJob | undefined {
      const entry = lane.parked.shift();
      if (entry) parkedCount -= 1;
      return entry;
    },

    /** Parked jobs of slow lanes beyond what they should hold (the newest ones), removed. */
    overflow(): ParkedJob[] {
      const excess: ParkedJob[] = [];
      for (const lane of lanes.values()) {
        if (isFast(lane)) continue;
        const count = lane.parked.length - parkLimitOf(lane);
        if (count <= 0) continue;
        parkedCount -= count;
        excess.push(...lane.parked.splice(-count));
      }
      return excess;
    },

    /** Every parked job of every lane, removed: for close(). */
    unparkAll(): ParkedJob[] {
      const all = [...lanes.values()].flatMap((lane) => lane.parked.splice(0));
      parkedCount = 0;
      return all;
    },

    parkedCount: () => parkedCount,

    /** How long until a job of `lane` deferred at `now` should be due again. */
    deferDelay(lane: Lane, now: number): number {
      const ahead = lane.running + lane.parked.length + lane.deferredAhead;
      lane.deferredAhead += 1;
      const cap = lane.averageSendMs === undefined ? maxUnknownDeferMs : maxDeferMs;
      return Math.min(cap, Math.round((ahead * paceOf(lane, now)) / lane.limit));
    },

    /** A send of the lane starts at `now`; `wasDeferred`: this dispatcher had deferred the job. */
    started(lane: Lane, now: number, wasDeferred: boolean): void {
      lane.running += 1;
      lane.starts.push(now);
      if (wasDeferred && lane.deferredAhead > 0) lane.deferredAhead -= 1;
    },

    /** The send of the lane that started at `startedAt` ended, having taken `sendMs`. */
    finished(lane: Lane, startedAt: number, sendMs: number): void {
      lane.running -= 1;
      lane.starts.splice(lane.starts.indexOf(startedAt), 1);
      lane.averageSendMs =
        lane.averageSendMs === undefined
          ? sendMs
          : lane.averageSendMs + smoothing * (sendMs - lane.averageSendMs);
    },

    /**
     * Forgets an idle lane when there are many: its pace and its count of deferred jobs go with
     * it (they may have gone to another instance; the next deferrals start a new queue).
     */
    release(lane: Lane): void {
      if (lanes.size > maxRememberedLanes && lane.running === 0 && lane.parked.length === 0) {
        lanes.delete(lane.key);
      }
    },
  };
}

export type DeliveryLanes = ReturnType<typeof createDeliveryLanes>;
