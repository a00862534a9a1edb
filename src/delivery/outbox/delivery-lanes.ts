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
 *   trip to the store, which keeps a busy lane's pipe full. A fast lane parks up to
 *   `maxParked` jobs; a slow one (a pace over `slowPaceMs`) only what it can send in about
 *   `parkHorizonMs` (at least `limit`), and a lane that turns slow hands its excess back
 *   (`overflow`). The dispatcher stops claiming while everything it may park is parked, so a
 *   fast lane's backlog is drained in order, without going back and forth to the store;
 * - or **deferred**: handed back to the store, due when the lane should reach it — behind its
 *   running, parked and already deferred jobs at its current pace — so the next claims pick
 *   other lanes' jobs and the deferred one comes back about when its lane can take it. Only a
 *   slow lane defers: what a fast one cannot park waits in the store until there is room.
 *
 * A lane's pace is the moving average of its send durations, or the age of its oldest send in
 * flight when that is longer: a lane that hangs is known to be slow before any send ends.
 *
 * Pure bookkeeping: the dispatcher does the sending and the store updates. Times are
 * `performance.now()` milliseconds.
 */

export type ParkedJob = { job: ClaimedJob; claimedAt: number; start(): void; defer(): Promise<unknown> };

export type Lane = {
  readonly key: string;
  readonly limit: number;
  running: number;
  /** Start times of the sends in flight. */
  starts: number[];
  parked: ParkedJob[];
  /** Moving average of this lane's send durations. */
  averageSendMs: number;
  /** Jobs deferred and not started again yet: the queue a new deferral goes behind. */
  deferredAhead: number;
};

/** Assumed send duration of a lane with no finished send yet. */
const initialSendMs = 10;
/** Weight of the newest send in the moving average. */
const smoothing = 0.2;
/**
 * A lane slower than this per send is slow: it parks only `parkHorizonMs` of work (a hung
 * lane: its limit). Well above the noise of a loaded event loop, well below a timeout.
 */
const slowPaceMs = 1_000;
const parkHorizonMs = 5_000;
/** The latest a deferred job is due again; it may be deferred once more then. */
const maxDeferMs = 3_600_000;

/** `maxParked`: the most jobs parked in one lane (the dispatcher bounds the total too). */
export function createDeliveryLanes(options: { maxParked: number }) {
  const { maxParked } = options;
  const lanes = new Map<string, Lane>();
  let parkedCount = 0;

  /** The lane's pace: average send, or its oldest send in flight when that is older. */
  const paceOf = (lane: Lane, now: number) =>
    Math.max(lane.averageSendMs, lane.starts.length > 0 ? now - Math.min(...lane.starts) : 0);

  const parkLimitOf = (lane: Lane, now: number) => {
    const pace = paceOf(lane, now);
    if (pace <= slowPaceMs) return maxParked;
    return Math.min(maxParked, Math.max(lane.limit, Math.floor((lane.limit * parkHorizonMs) / pace)));
  };

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
          averageSendMs: initialSendMs,
          deferredAhead: 0,
        };
        lanes.set(key, lane);
      }
      return lane;
    },

    /** What to do with a claimed job of `lane` now. */
    admit(lane: Lane, now: number): 'start' | 'park' | 'defer' {
      if (lane.running < lane.limit && lane.parked.length === 0) return 'start';
      return lane.parked.length < parkLimitOf(lane, now) ? 'park' : 'defer';
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

    /** Parked jobs past what their lanes should hold at their current pace (the newest ones). */
    overflow(now: number): ParkedJob[] {
      const excess: ParkedJob[] = [];
      for (const lane of lanes.values()) {
        const count = lane.parked.length - parkLimitOf(lane, now);
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

    /** How long until a job of `lane` deferred now should be due again. */
    deferDelay(lane: Lane, now: number): number {
      const ahead = lane.running + lane.parked.length + lane.deferredAhead;
      lane.deferredAhead += 1;
      return Math.min(maxDeferMs, Math.round((ahead * paceOf(lane, now)) / lane.limit));
    },

    /** A send of the lane starts; `wasDeferred`: the job had been deferred by this dispatcher. */
    started(lane: Lane, now: number, wasDeferred: boolean): void {
      lane.running += 1;
      lane.starts.push(now);
      if (wasDeferred && lane.deferredAhead > 0) lane.deferredAhead -= 1;
    },

    /** The send of the lane that started at `startedAt` ended at `now`. */
    finished(lane: Lane, startedAt: number, now: number): void {
      lane.running -= 1;
      lane.starts.splice(lane.starts.indexOf(startedAt), 1);
      lane.averageSendMs += smoothing * (now - startedAt - lane.averageSendMs);
    },

    /**
     * Forgets an idle lane, its pace and its count of deferred jobs with it (they may have gone
     * to another instance; the next deferrals start a new queue).
     */
    release(lane: Lane): void {
      if (lane.running === 0 && lane.parked.length === 0) lanes.delete(lane.key);
    },
  };
}

export type DeliveryLanes = ReturnType<typeof createDeliveryLanes>;
