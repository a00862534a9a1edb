import type { ClaimedJob } from '../../store/store.ts';

/**
 * Lanes: per-destination concurrency for the outbox dispatcher, so that a slow destination
 * (a webhook endpoint that hangs until its timeout) holds at most its own few slots and never
 * the slots of the others.
 *
 * A channel names a job's lane (`laneOf`, e.g. the webhook endpoint) and the lane's limit. The
 * store hands out due jobs oldest first, whatever their lane, so a claimed job may find its
 * lane full. It is then:
 * - **parked** in the lane's queue (at most `limit` of them): it starts as soon as a send of
 *   its lane ends, without going back to the store, which keeps a busy lane's pipe full;
 * - or **deferred**: handed back to the store for later, spread over the time the lane needs
 *   for what it already holds (its virtual tail: each deferred job one average send / limit
 *   after the previous one), so the next claims pick other lanes' jobs and the deferred ones
 *   come back about when their lane can take them.
 *
 * Pure bookkeeping: the dispatcher does the sending and the store updates.
 */

export type ParkedJob = { job: ClaimedJob; claimedAt: number; start(): void; defer(): Promise<unknown> };

export type Lane = {
  readonly key: string;
  readonly limit: number;
  running: number;
  parked: ParkedJob[];
  /** Moving average of this lane's send durations, ms. */
  averageSendMs: number;
  /** When the lane should be free for the next deferred job (epoch ms). */
  tailAt: number;
};

/** Assumed send duration of a lane with no finished send yet. */
const initialSendMs = 100;
/** Weight of the newest send in the moving average. */
const smoothing = 0.2;

export function createDeliveryLanes() {
  const lanes = new Map<string, Lane>();
  let parkedCount = 0;

  return {
    /** The lane of `key`, created on first use. */
    lane(key: string, limit: number): Lane {
      let lane = lanes.get(key);
      if (!lane) {
        lane = {
          key,
          limit: Math.max(1, limit),
          running: 0,
          parked: [],
          averageSendMs: initialSendMs,
          tailAt: 0,
        };
        lanes.set(key, lane);
      }
      return lane;
    },

    /** What to do with a claimed job of `lane` now. */
    admit(lane: Lane): 'start' | 'park' | 'defer' {
      if (lane.running < lane.limit) return 'start';
      if (lane.parked.length < lane.limit) return 'park';
      return 'defer';
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

    /** Every parked job of every lane, removed: for close(). */
    unparkAll(): ParkedJob[] {
      const all = [...lanes.values()].flatMap((lane) => lane.parked.splice(0));
      parkedCount = 0;
      return all;
    },

    parkedCount: () => parkedCount,

    /** When a deferred job of `lane` should be due again (epoch ms); moves the lane's tail. */
    deferUntil(lane: Lane, nowMs: number): number {
      const perJob = lane.averageSendMs / lane.limit;
      const busyUntil = nowMs + (lane.running + lane.parked.length) * perJob;
      const at = Math.max(lane.tailAt, busyUntil);
      lane.tailAt = at + perJob;
      return Math.round(at);
    },

    /** A send of the lane ended after `ms`. */
    finished(lane: Lane, ms: number): void {
      lane.running -= 1;
      lane.averageSendMs += smoothing * (ms - lane.averageSendMs);
    },

    /** Forgets an idle lane whose tail has passed (its average goes with it). */
    release(lane: Lane, nowMs: number): void {
      if (lane.running === 0 && lane.parked.length === 0 && lane.tailAt <= nowMs) lanes.delete(lane.key);
    },
  };
}

export type DeliveryLanes = ReturnType<typeof createDeliveryLanes>;
