import type { Store } from '../../store/store.ts';

/**
 * The per-recipient limit: at most `limit` immediate alert emails per subscriber in any
 * sliding hour (0: no limit). Past it, the email channel puts the alert into the
 * subscription's next digest instead of sending it.
 *
 * What counts is what the outbox shows: `sent` alert jobs of the subscriber's email
 * subscriptions finished within the hour, minus those that were rolled into a digest rather
 * than emailed (their attempt says so, see `rolledSnippetPrefix`), plus the sends of this
 * process that the dispatcher has not marked `sent` yet. Decisions for one subscriber are
 * taken one at a time in this process; two instances sending to one subscriber in the same
 * instant may each let one more through, a bounded overshoot that no mailbox provider minds.
 */

/** The attempt snippet of a job that went into a digest instead of an email. */
export const rolledSnippetPrefix = 'not emailed: hourly limit reached';

const hourMs = 3_600_000;
/** Jobs whose kind of finish (emailed or rolled) this process knows, to spare the attempt lookups. */
const knownJobsMax = 10_000;

export type RecipientLimiter = ReturnType<typeof createRecipientLimiter>;

export function createRecipientLimiter(deps: {
  store: Pick<Store, 'subscriptions' | 'deliveries' | 'attempts'>;
  limit: number;
  now: () => Date;
}) {
  const { store, limit, now } = deps;
  const queues = new Map<string, Promise<unknown>>();
  /** Emails this process sent, per subscriber: job id → when. */
  const recentSends = new Map<string, Map<string, number>>();
  /** job id → true when it was emailed, false when rolled into a digest. */
  const emailed = new Map<string, boolean>();

  function remember(jobId: string, wasEmailed: boolean) {
    if (emailed.size >= knownJobsMax) emailed.delete(emailed.keys().next().value!);
    emailed.set(jobId, wasEmailed);
  }

  async function wasEmailed(jobId: string): Promise<boolean> {
    const known = emailed.get(jobId);
    if (known !== undefined) return known;
    const [last] = await store.attempts.list({ jobId, limit: 1 });
    const result = !last?.responseSnippet?.startsWith(rolledSnippetPrefix);
    remember(jobId, result);
    return result;
  }

  /** Immediate emails sent to the subscriber in the last hour. */
  async function sentInLastHour(subscriber: { id: string; tenantId: string }): Promise<number> {
    const since = now().getTime() - hourMs;
    const counted = new Set<string>();
    for (const [jobId, at] of recentSends.get(subscriber.id) ?? []) if (at >= since) counted.add(jobId);
    const subscriptions = await store.subscriptions.list({
      tenantId: subscriber.tenantId,
      subscriberId: subscriber.id,
      channel: 'email',
      includeUnsubscribed: true,
    });
    for (const subscription of subscriptions) {
      if (subscription.mode !== 'immediate') continue;
      // Newest first: a page this size holds every job sent in the last hour under any sane limit.
      const page = await store.deliveries.list({
        tenantId: subscriber.tenantId,
        subscriptionId: subscription.id,
        status: 'sent',
        limit: Math.max(100, limit * 4),
      });
      for (const job of page.items) {
        if (job.kind !== 'alert' || counted.has(job.id) || Date.parse(job.updatedAt) < since) continue;
        if (await wasEmailed(job.id)) counted.add(job.id);
      }
    }
    return counted.size;
  }

  return {
    /** Whether a limit applies at all. */
    isLimited: limit > 0,
    limit,

    /**
     * Runs `decide` for one subscriber at a time, with how many emails the subscriber got in
     * the last hour; `decide` reports back what it did with `markEmailed` / `markRolled`.
     */
    async withAllowance<T>(
      subscriber: { id: string; tenantId: string },
      decide: (sentInLastHour: number) => Promise<T>,
    ): Promise<T> {
      const previous = queues.get(subscriber.id) ?? Promise.resolve();
      const run = previous.then(async () => decide(limit > 0 ? await sentInLastHour(subscriber) : 0));
      const settled = run.catch(() => undefined);
      queues.set(subscriber.id, settled);
      void settled.then(() => {
        if (queues.get(subscriber.id) === settled) queues.delete(subscriber.id);
      });
      return run;
    },

    markEmailed(subscriberId: string, jobId: string): void {
      remember(jobId, true);
      const at = now().getTime();
      const sends = recentSends.get(subscriberId) ?? new Map<string, number>();
      for (const [id, when] of sends) if (when < at - hourMs) sends.delete(id);
      sends.set(jobId, at);
      recentSends.set(subscriberId, sends);
    },

    markRolled(jobId: string): void {
      remember(jobId, false);
    },
  };
}
