import type { DeliveryJob, Store, Subscription } from '../../store/store.ts';
import type { DigestMetrics } from './digest-metrics.ts';
import { type DigestCadence, lastEndedPeriod, nextPeriodEnd } from './digest-period.ts';

/**
 * The digest scheduler: on every tick, for each email subscription whose digest period has
 * ended since it last looked, asks the store to build that period's digest. The store makes
 * building idempotent across instances (the job id is a function of subscription and period
 * key) and skips empty periods, so:
 *
 * - every instance may run a scheduler; a digest is built once;
 * - a period with no alerts sends nothing;
 * - after downtime, the first tick builds the latest ended period with every alert still
 *   waiting (nothing is lost, periods missed while down are folded into it);
 * - an alert that arrives after its period was built waits for the next one.
 *
 * Sending is the outbox's: a built digest is a delivery job of kind `digest`, retried and
 * deduplicated like any other (`Message-ID` from the job id), so a crash while sending
 * neither loses nor duplicates it.
 *
 * Immediate subscriptions are scheduled hourly too: their digest holds only the alerts the
 * email channel held back past the per-recipient hourly limit.
 *
 * The scheduler wakes at the earliest period end among the subscriptions (at most `tickMs`
 * apart, to notice new subscriptions), so a digest leaves at its hour, not up to a tick late.
 * Like routing, it reads the default tenant's subscriptions.
 */

export type DigestSchedulerLogger = {
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
};

export type DigestSchedulerOptions = {
  store: Pick<Store, 'subscriptions' | 'subscribers' | 'digests'>;
  logger: DigestSchedulerLogger;
  /** Called after a tick built at least one digest (wake the outbox). */
  onBuilt?: (jobs: DeliveryJob[]) => void;
  /** Longest wait between ticks (default 60 s). */
  tickMs?: number;
  metrics?: DigestMetrics;
  now?: () => Date;
};

export function cadenceOf(subscription: Pick<Subscription, 'mode' | 'dailyHour'>): DigestCadence {
  return subscription.mode === 'daily'
    ? { mode: 'daily', dailyHour: subscription.dailyHour ?? 0 }
    : { mode: 'hourly' };
}

export function createDigestScheduler(options: DigestSchedulerOptions) {
  const { store, logger } = options;
  const tickMs = options.tickMs ?? 60_000;
  const now = options.now ?? (() => new Date());
  /** subscription id → key of the last period this scheduler asked the store to build. */
  const lastBuilt = new Map<string, string>();

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let started = false;
  let closing = false;

  /** One pass over the subscriptions: the digests it built, and the earliest period end to come. */
  async function tick(): Promise<{ built: DeliveryJob[]; nextPeriodEnd: Date | undefined }> {
    const at = now();
    let nextDue: Date | undefined;
    const built: DeliveryJob[] = [];
    let unbuilt = 0;
    const [subscriptions, subscribers] = await Promise.all([
      store.subscriptions.list({ channel: 'email' }),
      store.subscribers.list(),
    ]);
    const zones = new Map(subscribers.map((subscriber) => [subscriber.id, subscriber.timeZone]));
    const live = new Set<string>();
    for (const subscription of subscriptions) {
      live.add(subscription.id);
      const cadence = cadenceOf(subscription);
      const timeZone = zones.get(subscription.subscriberId) ?? 'UTC';
      const period = lastEndedPeriod(cadence, timeZone, at);
      const due = nextPeriodEnd(cadence, timeZone, at);
      if (nextDue === undefined || due < nextDue) nextDue = due;
      if (lastBuilt.get(subscription.id) === period.key) continue;
      try {
        const job = await store.digests.build({
          subscriptionId: subscription.id,
          periodKey: period.key,
          until: period.end,
          now: at,
        });
        lastBuilt.set(subscription.id, period.key);
        if (job) built.push(job);
      } catch (error) {
        // Not remembered: the next tick tries this period again.
        unbuilt += 1;
        logger.error(
          { err: error, subscriptionId: subscription.id, period: period.key },
          'digest: building failed',
        );
      }
    }
    for (const id of lastBuilt.keys()) if (!live.has(id)) lastBuilt.delete(id);
    options.metrics?.passed(now(), unbuilt);
    if (built.length > 0) options.onBuilt?.(built);
    return { built, nextPeriodEnd: nextDue };
  }

  function schedule(delayMs: number) {
    if (closing) return;
    timer = setTimeout(() => {
      const pass = tick().then(
        ({ nextPeriodEnd }) => {
          const untilEnd = nextPeriodEnd ? nextPeriodEnd.getTime() - now().getTime() : tickMs;
          schedule(Math.min(tickMs, Math.max(0, untilEnd)));
        },
        (error: unknown) => {
          logger.error({ err: error }, 'digest: a scheduler tick failed; trying again');
          schedule(Math.min(tickMs, 5_000));
        },
      );
      running = pass;
    }, delayMs);
  }

  return {
    tick,

    /** Ticks now, then at every period end (at most `tickMs` apart). */
    start(): void {
      if (started || closing) return;
      started = true;
      schedule(0);
    },

    /** Stops ticking and waits for a tick in progress. Idempotent. */
    async close(): Promise<void> {
      closing = true;
      clearTimeout(timer);
      await running;
    },
  };
}

export type DigestScheduler = ReturnType<typeof createDigestScheduler>;
