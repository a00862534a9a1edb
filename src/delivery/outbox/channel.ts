import type { Channel, ClaimedJob } from '../../store/store.ts';

/**
 * What one attempt of a channel produced. The dispatcher records it in the delivery log
 * (`statusCode`, `durationMs`, `responseSnippet`, `error`) and moves the job on:
 * - `ok`: delivered, the job ends `sent`;
 * - `retry`: try again after the retry schedule's next delay, or after `retryAfterMs` when
 *   that is later (a `Retry-After` header, an SMTP 4xx greylisting hint); past the schedule
 *   the job ends `dead`;
 * - `fail`: permanent (a 4xx, an SMTP 5xx, an endpoint gone): the job ends `failed` at once.
 * A channel that wants "fewer attempts for some errors" returns `fail` once `job.attempts`
 * (counted at claim, 1 on the first attempt) reaches its own limit.
 */
export type SendResult =
  | { kind: 'ok'; statusCode?: number; durationMs?: number; responseSnippet?: string }
  | {
      kind: 'retry';
      error: string;
      retryAfterMs?: number;
      statusCode?: number;
      durationMs?: number;
      responseSnippet?: string;
    }
  | { kind: 'fail'; error: string; statusCode?: number; durationMs?: number; responseSnippet?: string };

/**
 * The port a delivery channel (email, webhook) implements: send one claimed job once.
 *
 * - `job.id` is stable across retries and replays: send it as `webhook-id` / `Message-ID`, so
 *   a receiver can drop the duplicate that a crash between send and `complete` may cause.
 * - `signal` aborts when the job's lease is about to run out or the dispatcher closes after
 *   its grace period: stop sending then, because after the lease another worker may send it.
 * - Throwing is allowed: an `AppError` is a retry when `retryable`, a failure otherwise; any
 *   other exception (a network error, a bug) is a retry, so nothing is lost silently — a job
 *   that keeps throwing ends `dead`, visible and replayable.
 */
export type DeliveryChannel = {
  name: Channel;
  send(job: ClaimedJob, signal: AbortSignal): Promise<SendResult>;
  /**
   * Optional per-destination concurrency (see delivery-lanes.ts): jobs with the same lane (a
   * webhook endpoint) have at most `laneConcurrency` sends in flight, so a slow destination
   * only ever holds its own slots. `undefined`: the job has no lane.
   */
  laneOf?(job: ClaimedJob): string | undefined;
  /** Sends in flight per lane (default 4). */
  laneConcurrency?: number;
};
