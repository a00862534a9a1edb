import { isAppError } from '../../errors.ts';
import type { Channel, ClaimedJob, Store } from '../../store/store.ts';
import type { DeliveryChannel, SendResult } from './channel.ts';
import { createDeliveryLanes, type Lane } from './delivery-lanes.ts';
import type { AttemptOutcome, OutboxMetrics } from './outbox-metrics.ts';
import { nextDelay, type RetrySchedule } from './retry-schedule.ts';

export type OutboxLogger = {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
};

export type OutboxDispatcherOptions = {
  store: Pick<Store, 'deliveries' | 'attempts'>;
  channels: DeliveryChannel[];
  logger: OutboxLogger;
  metrics?: OutboxMetrics;
  schedule: RetrySchedule;
  /** How often to look for due jobs when nobody calls `wake()` (default 500 ms). */
  pollMs?: number;
  /** Most jobs claimed at once (default 20). */
  batchSize?: number;
  /** How long a claimed job is ours (default 60 s); a send is aborted before it runs out. */
  leaseMs?: number;
  /** Most sends in flight (default 8). */
  concurrency?: number;
  /** How long `close()` lets in-flight sends finish before aborting them (default 10 s). */
  closeGraceMs?: number;
  now?: () => Date;
  /** In [0, 1): the retry jitter (seeded in tests). */
  random?: () => number;
};

/** `deferred`: its lane was full, so it went back to the store unsent (see delivery-lanes.ts). */
type JobOutcome = AttemptOutcome | 'deferred';

export type RunSummary = { claimed: number } & Record<JobOutcome, number>;

type AbortCause = 'lease' | 'closing';
type InFlight = { job: ClaimedJob; abort(cause: AbortCause): void; done: Promise<AttemptOutcome> };

const maxErrorBackoffMs = 30_000;
/** After aborting sends on close, how long to wait for channels to notice before giving up on them. */
const abortWaitMs = 5_000;
/** Waits between tries of a job's final update when the store fails transiently. */
const persistRetryMs = [100, 500, 2_000];
/** Sends in flight per lane when a channel with lanes does not say. */
const defaultLaneConcurrency = 4;
/** Deferrals remembered (see `deferrals`); the oldest are forgotten past this. */
const maxRememberedDeferrals = 10_000;
/** Jobs parked in lanes, at most, as a multiple of `concurrency`. */
const parkedPerSlot = 4;

/**
 * The outbox dispatcher: claims due delivery jobs, hands each to its channel, records the
 * attempt in the delivery log, and moves the job on (sent, retry later, failed, dead).
 *
 * Invariants:
 * - **Exactly once per success, at least once per job.** A job is sent only while this worker
 *   holds its lease (claim sets it; PostgreSQL's SKIP LOCKED and SQLite's single writer give
 *   each job to one claimer), and every finish passes the lease token, so a worker whose lease
 *   was taken over cannot mark the job. A send is aborted before the lease runs out (see
 *   `sendBudgetMs`), so two workers never send one job at the same time.
 * - **A crash after the send but before `complete`** leaves the job `sending`; when the lease
 *   expires another worker claims it and sends it again, with the same job id. Receivers
 *   dedup by that id (`webhook-id`, email `Message-ID`): that is the "at least once,
 *   deduplicated by id" guarantee, and no job is ever marked sent without a successful send.
 * - **Attempts count claims.** `job.attempts` is 1 on the first send; after a failed attempt
 *   `n` the next waits `schedule[n]` (jittered, or later on `Retry-After`); past the schedule
 *   the job is dead. A claim that crashed counts as an attempt too.
 * - **The loop never dies.** Store errors are logged and the loop backs off (pollMs doubling
 *   up to 30 s); a channel that throws is a retry (an `AppError` that is not `retryable`: a
 *   failure). A job without a channel fails with that reason.
 * - **Shutdown hands jobs back.** `close()` stops claiming, waits `closeGraceMs` for sends in
 *   flight, then aborts them; an aborted job is made due again at once (without using up the
 *   schedule), so another instance takes it over without waiting for the lease.
 * - **A slow destination holds only its own slots.** A channel with lanes (the webhook channel:
 *   one lane per endpoint) has at most `laneConcurrency` sends in flight per lane; a job whose
 *   lane is full waits in the lane (parked; at most `4 × concurrency` in all) or goes back to
 *   the store for later (deferred), as delivery-lanes.ts decides from the lane's pace. A
 *   deferral is not an attempt: `deliveries.release` gives the claim's attempt back in the
 *   store, so the count holds across instances and restarts.
 */
export function createOutboxDispatcher(options: OutboxDispatcherOptions) {
  const { store, logger, metrics, schedule } = options;
  const pollMs = options.pollMs ?? 500;
  const batchSize = options.batchSize ?? 20;
  const leaseMs = options.leaseMs ?? 60_000;
  const concurrency = options.concurrency ?? 8;
  const closeGraceMs = options.closeGraceMs ?? 10_000;
  const now = options.now ?? (() => new Date());
  const random = options.random ?? Math.random;
  // Leave a margin before the lease expires for recording the attempt and finishing the job.
  const sendBudgetMs = leaseMs - Math.min(5_000, leaseMs / 5);

  const channels = new Map<Channel, DeliveryChannel>(
    options.channels.map((channel) => [channel.name, channel]),
  );
  const inFlight = new Map<string, InFlight>();
  const retryTimers = new Set<NodeJS.Timeout>();
  const maxParked = parkedPerSlot * concurrency;
  const lanes = createDeliveryLanes({ maxParked });
  /** Job id → how many times this dispatcher deferred it (for the lane's pace only). */
  const deferrals = new Map<string, number>();

  let started = false;
  let closing = false;
  let loopDone: Promise<void> = Promise.resolve();
  let closed: Promise<void> | undefined;
  // Set by wake() and by a freed slot; the loop claims again instead of sleeping when set.
  let nudged = false;
  let interruptIdle: (() => void) | undefined;
  // Whether the last claim filled its batch, i.e. more jobs are probably due: a freed slot nudges then.
  let isBacklogged = false;

  function nudge() {
    nudged = true;
    interruptIdle?.();
  }

  /** Sleeps `ms`, or less when nudged or closing. */
  async function idle(ms: number): Promise<void> {
    if (nudged || closing) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      interruptIdle = done;
      function done() {
        clearTimeout(timer);
        interruptIdle = undefined;
        resolve();
      }
    });
  }

  async function claimAndLaunch(): Promise<{ asked: number; jobs: Promise<JobOutcome>[] }> {
    // Lanes that turned slow since the last claim hand back what they cannot send soon.
    for (const entry of lanes.overflow()) void entry.defer();
    const asked = lanes.isClaimBlocked()
      ? 0
      : Math.min(batchSize, concurrency - inFlight.size, maxParked - lanes.parkedCount());
    if (asked <= 0) {
      // No room: a send that ends nudges the loop again. Leaving `nudged` set would spin the
      // loop on microtasks, starving the very sends that make room.
      nudged = false;
      isBacklogged = true;
      return { asked: 0, jobs: [] };
    }
    // A wake() from here on may announce jobs this claim does not see yet: claim again after it.
    nudged = false;
    const claimed = await store.deliveries.claim(now(), asked, leaseMs);
    const claimedAt = performance.now();
    isBacklogged = claimed.length === asked;
    return { asked, jobs: claimed.map((job) => admit(job, claimedAt)) };
  }

  /** Starts a claimed job, or parks or defers it when its lane is full. */
  function admit(job: ClaimedJob, claimedAt: number): Promise<JobOutcome> {
    const channel = channels.get(job.channel);
    const laneName = channel?.laneOf?.(job);
    if (laneName === undefined) return launch(job, claimedAt);
    const lane = lanes.lane(`${job.channel}:${laneName}`, channel?.laneConcurrency ?? defaultLaneConcurrency);
    const decision = lanes.admit(lane);
    if (decision === 'start') return launch(job, claimedAt, lane);
    if (decision === 'defer') return defer(job, lane);
    return new Promise<JobOutcome>((resolve) => {
      lanes.park(lane, {
        job,
        claimedAt,
        start: () => resolve(launch(job, claimedAt, lane)),
        defer: () => {
          const outcome = defer(job, lane);
          resolve(outcome);
          return outcome;
        },
      });
    });
  }

  /** Starts parked jobs of a lane that has room again; a job parked too long goes back instead. */
  function drain(lane: Lane) {
    while (lane.running < lane.limit) {
      const next = lanes.unpark(lane);
      if (!next) break;
      // Half the send budget spent waiting: too little lease left for a slow send, hand it back.
      if (closing || performance.now() - next.claimedAt > sendBudgetMs / 2) void next.defer();
      else next.start();
    }
    lanes.release(lane);
  }

  /** Hands a job back unsent, due again when its lane should have room (at once when closing). */
  async function defer(job: ClaimedJob, lane: Lane): Promise<JobOutcome> {
    const nowMs = now().getTime();
    const dueAt = nowMs + (closing ? 0 : lanes.deferDelay(lane, performance.now()));
    deferrals.set(job.id, (deferrals.get(job.id) ?? 0) + 1);
    if (deferrals.size > maxRememberedDeferrals) deferrals.delete(deferrals.keys().next().value!);
    const reason = job.lastError ?? 'waiting for a free slot of its destination';
    try {
      const isOurs = await persist(() =>
        store.deliveries.release(job.id, new Date(dueAt), reason, { leaseToken: job.leaseToken }),
      );
      if (isOurs && dueAt - nowMs < pollMs) wakeAfter(dueAt - nowMs);
      return isOurs ? 'deferred' : 'lost';
    } catch (error) {
      metrics?.loopErrors.inc();
      logger.error(
        { err: error, jobId: job.id },
        'outbox: handing back a deferred job failed; it is sent after its lease',
      );
      return 'error';
    }
  }

  async function loop(): Promise<void> {
    let failures = 0;
    while (!closing) {
      try {
        const { asked, jobs } = await claimAndLaunch();
        failures = 0;
        // A full batch: more may be due, claim again at once (or when a slot frees up) — after
        // letting I/O run: an embedded store answers in microtasks, and a loop of claims that
        // only defer would otherwise never let a send finish.
        if (asked > 0 && jobs.length === asked) {
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        await idle(pollMs);
      } catch (error) {
        failures += 1;
        metrics?.loopErrors.inc();
        const backoffMs = Math.min(maxErrorBackoffMs, pollMs * 2 ** (failures - 1));
        logger.error({ err: error, failures, backoffMs }, 'outbox: claiming jobs failed, backing off');
        nudged = false;
        await idle(backoffMs);
      }
    }
  }

  function launch(job: ClaimedJob, claimedAt: number, lane?: Lane): Promise<AttemptOutcome> {
    const controller = new AbortController();
    let cause: AbortCause | undefined;
    const abort = (why: AbortCause) => {
      if (cause) return;
      cause = why;
      controller.abort(new Error(why === 'lease' ? 'the lease is running out' : 'the dispatcher is closing'));
    };
    // The budget runs from the claim: a job that was parked has less of its lease left.
    const leaseTimer = setTimeout(
      () => abort('lease'),
      Math.max(0, claimedAt + sendBudgetMs - performance.now()),
    );
    const startedAt = performance.now();
    if (lane) lanes.started(lane, startedAt, deferrals.has(job.id));
    // The lane's pace is the channel's own time (its `durationMs`), not ours recording it.
    let sendMs: number | undefined;
    const done = deliver(
      job,
      controller.signal,
      () => cause,
      (ms) => {
        sendMs = ms;
      },
    )
      .catch((error: unknown): AttemptOutcome => {
        metrics?.loopErrors.inc();
        logger.error(
          { err: error, jobId: job.id },
          'outbox: finishing a job failed; it is sent again after its lease',
        );
        return 'error';
      })
      .then((outcome) => {
        clearTimeout(leaseTimer);
        inFlight.delete(job.id);
        if (outcome !== 'retried' && outcome !== 'error') deferrals.delete(job.id);
        if (lane) {
          lanes.finished(lane, startedAt, sendMs ?? performance.now() - startedAt);
          drain(lane);
        }
        metrics?.attempts.inc({ channel: job.channel, outcome });
        if (isBacklogged) nudge(); // a slot is free and more jobs are probably due
        return outcome;
      });
    inFlight.set(job.id, { job, abort, done });
    return done;
  }

  async function deliver(
    claimed: ClaimedJob,
    signal: AbortSignal,
    abortCause: () => AbortCause | undefined,
    onSent: (sendMs: number) => void = () => {},
  ): Promise<AttemptOutcome> {
    const job = claimed;
    const at = now();
    const startedAt = performance.now();
    const channel = channels.get(job.channel);
    let result: SendResult;
    if (!channel) {
      result = { kind: 'fail', error: `no ${job.channel} channel is configured` };
    } else {
      try {
        result = await channel.send(job, signal);
      } catch (error) {
        result = resultOfThrown(error);
      }
      metrics?.sendSeconds.observe({ channel: job.channel }, (performance.now() - startedAt) / 1000);
      onSent(result.durationMs ?? performance.now() - startedAt);
    }
    const cause = abortCause();
    if (cause && result.kind !== 'ok') {
      const why = cause === 'lease' ? `timed out after ${sendBudgetMs} ms` : 'aborted: the dispatcher closed';
      result = { ...result, kind: 'retry', error: `${why} (${result.error})` };
    }

    const durationMs = result.durationMs ?? performance.now() - startedAt;
    try {
      await store.attempts.record({
        jobId: job.id,
        at,
        statusCode: result.statusCode ?? null,
        durationMs,
        responseSnippet: result.responseSnippet ?? null,
        error: result.kind === 'ok' ? null : result.error,
      });
    } catch (error) {
      // The log is for people; the job's own state is what must not be lost.
      metrics?.loopErrors.inc();
      logger.warn({ err: error, jobId: job.id }, 'outbox: recording an attempt failed');
    }

    const lease = { leaseToken: job.leaseToken };
    let outcome: AttemptOutcome;
    let finished: boolean;
    if (result.kind === 'ok') {
      outcome = 'sent';
      finished = await persist(() => store.deliveries.complete(job.id, lease));
    } else if (result.kind === 'fail') {
      outcome = 'failed';
      finished = await persist(() => store.deliveries.fail(job.id, result.error, lease));
    } else {
      // A job handed back on close is not the receiver's fault: due again at once, schedule unused.
      const delay = cause === 'closing' ? 0 : nextDelay(schedule, job.attempts, result.retryAfterMs, random);
      if (delay === undefined) {
        outcome = 'dead';
        const error = `retries exhausted after ${job.attempts} attempts: ${result.error}`;
        finished = await persist(() => store.deliveries.deadLetter(job.id, error, lease));
      } else {
        outcome = 'retried';
        const nextAttemptAt = new Date(now().getTime() + delay);
        finished = await persist(() => store.deliveries.retry(job.id, nextAttemptAt, result.error, lease));
        if (finished && delay < pollMs) wakeAfter(delay);
      }
    }
    if (!finished) {
      logger.warn(
        { jobId: job.id, attempts: job.attempts, outcome },
        'outbox: the job was no longer ours (lease taken over); its new owner finishes it',
      );
      return 'lost';
    }
    if (outcome !== 'sent') {
      const error = result.kind === 'ok' ? undefined : result.error;
      logger.info(
        { jobId: job.id, channel: job.channel, attempts: job.attempts, outcome, error },
        'outbox: attempt',
      );
    }
    return outcome;
  }

  /** A retry due before the next poll: claim it when it is due instead of at the poll. */
  function wakeAfter(delayMs: number) {
    if (closing || !started) return;
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      nudge();
    }, delayMs + 1);
    retryTimers.add(timer);
  }

  return {
    /** Starts the claim loop. */
    async start(): Promise<void> {
      if (closing) throw new Error('the outbox dispatcher is closed');
      if (started) return;
      started = true;
      loopDone = loop();
    },

    /** Claims due jobs now: call it after a commit that created jobs. Cheap; safe to call often. */
    wake(): void {
      nudge();
    },

    /** One claim (up to the free slots), every claimed job sent and finished: for tests and the CLI. */
    async runOnce(): Promise<RunSummary> {
      const summary: RunSummary = {
        claimed: 0,
        sent: 0,
        retried: 0,
        failed: 0,
        dead: 0,
        lost: 0,
        error: 0,
        deferred: 0,
      };
      if (closing) return summary;
      const { jobs } = await claimAndLaunch();
      summary.claimed = jobs.length;
      for (const outcome of await Promise.all(jobs)) summary[outcome] += 1;
      return summary;
    },

    /** Jobs being sent right now. */
    inFlightCount(): number {
      return inFlight.size;
    },

    /** Stops claiming, lets in-flight sends finish for `closeGraceMs`, then aborts them. Idempotent. */
    close(): Promise<void> {
      closed ??= (async () => {
        closing = true;
        interruptIdle?.();
        for (const timer of retryTimers) clearTimeout(timer);
        retryTimers.clear();
        await loopDone;
        // Parked jobs were never sent: back to the store at once, for this or another instance.
        await Promise.allSettled(lanes.unparkAll().map((entry) => entry.defer()));
        const settled = () => Promise.allSettled([...inFlight.values()].map((entry) => entry.done));
        if ((await within(settled(), closeGraceMs)) === 'pending') {
          logger.warn(
            { inFlight: inFlight.size },
            'outbox: aborting sends still in flight after the grace period',
          );
          for (const entry of inFlight.values()) entry.abort('closing');
          if ((await within(settled(), abortWaitMs)) === 'pending') {
            logger.error(
              { jobIds: [...inFlight.keys()] },
              'outbox: channels ignored the abort; their jobs are sent again after their leases',
            );
          }
        }
      })();
      return closed;
    },
  };
}

export type OutboxDispatcher = ReturnType<typeof createOutboxDispatcher>;

/** An exception from a channel: `AppError.retryable` decides; anything else may be transient. */
function resultOfThrown(error: unknown): SendResult {
  const message = error instanceof Error ? error.message : String(error);
  if (isAppError(error) && !error.retryable) return { kind: 'fail', error: message };
  return { kind: 'retry', error: message };
}

/**
 * Finishes a job, retrying a transient store error (a dropped connection) a few times: a job
 * left `sending` would be sent again after its lease, a duplicate the receiver has to drop.
 */
async function persist(finish: () => Promise<boolean>): Promise<boolean> {
  for (const waitMs of persistRetryMs) {
    try {
      return await finish();
    } catch (error) {
      if (!isAppError(error) || !error.retryable) throw error;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
  return finish();
}

async function within(promise: Promise<unknown>, ms: number): Promise<'settled' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([promise.then(() => 'settled' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
