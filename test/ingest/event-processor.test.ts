import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/http/metrics.ts';
import { createEventProcessor } from '../../src/ingest/event-processor.ts';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';
import { createLogger } from '../../src/logger.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import { createEventMatcher } from '../../src/rules/event-matcher.ts';
import type { Store } from '../../src/store/store.ts';
import { type Backend, type Clock, postgresHarness, sqliteHarness } from '../store/store-harness.ts';

const hourMs = 3_600_000;

// No throttle: every matching event alerts, so only silences and acknowledgements hold alerts back.
const rule = compileRule(
  {
    id: 'rare-earth-watch',
    name: 'Rare-earth watch',
    severity: 'high',
    tags: ['critical-minerals'],
    query: '"rare earth*"',
  },
  'test',
);

let sequence = 0;
function brief(clock: Clock): IntelEvent {
  sequence += 1;
  return {
    id: `brief-${sequence}`,
    publishedAt: clock.now().toISOString(),
    title: `Rare earth export licences tightened (${sequence})`,
  };
}

/**
 * Silences and acknowledgements are applied by the pipeline, between the alert engine and the
 * store: a held alert is stored with its status and gets no delivery job.
 */
describe.each([sqliteHarness, postgresHarness])(
  'event processor on $name: silences and acknowledgements',
  (harness) => {
    let backend: Backend;
    let store: Store;
    let clock: Clock;
    let processor: ReturnType<typeof createEventProcessor>;
    let subscriptionId: string;

    beforeEach(async () => {
      backend = await harness.create();
      ({ store, clock } = backend);
      const subscriber = await store.subscribers.create({ name: 'Metals desk' });
      const endpoint = await store.endpoints.create({ url: 'https://desk.example.test/hooks' });
      const subscription = await store.subscriptions.create({
        subscriberId: subscriber.id,
        channel: 'webhook',
        endpointId: endpoint.id,
        minSeverity: 'info',
      });
      subscriptionId = subscription.id;
      processor = createEventProcessor({
        matcher: createEventMatcher({ rules: [rule], workers: 0, budgetMs: 1_000 }),
        store,
        metrics: createMetrics(),
        logger: createLogger('silent'),
        listeners: [],
        ackQuietMs: hourMs,
        now: clock.now,
      });
    });
    afterEach(async () => {
      await backend.dispose();
    });

    async function fire(): Promise<{ status: string; jobs: number }> {
      const {
        alerts: [alert],
      } = await processor.process([brief(clock)], 'http');
      expect(alert).toBeDefined();
      const jobs = await store.deliveries.list({ alertId: alert!.id });
      for (const job of jobs.items) expect(job.subscriptionId).toBe(subscriptionId);
      return { status: alert!.status, jobs: jobs.items.length };
    }

    it('stores a covered alert as silenced with no job; after the silence expires the next alert goes out', async () => {
      expect(await fire()).toEqual({ status: 'active', jobs: 1 });
      const silence = await store.silences.create({
        matchers: { ruleIds: ['rare-earth-watch'] },
        startsAt: new Date(clock.ms - 60_000).toISOString(),
        endsAt: new Date(clock.ms + hourMs).toISOString(),
        createdBy: 'test',
      });
      clock.advance(60_000);
      expect(await fire()).toEqual({ status: 'silenced', jobs: 0 });

      await store.silences.expire(silence.id, clock.now());
      clock.advance(60_000);
      expect(await fire()).toEqual({ status: 'active', jobs: 1 });
    });

    it('a silence on other tags leaves the alert alone', async () => {
      await store.silences.create({
        matchers: { tags: ['energy'] },
        startsAt: new Date(clock.ms - 60_000).toISOString(),
        endsAt: new Date(clock.ms + hourMs).toISOString(),
        createdBy: 'test',
      });
      expect(await fire()).toEqual({ status: 'active', jobs: 1 });
    });

    it('after an acknowledgement, holds the group until it has been quiet for the period, then re-arms', async () => {
      const {
        alerts: [first],
      } = await processor.process([brief(clock)], 'http');
      await store.alerts.ack(first!.id, 'analyst', clock.now());

      clock.advance(30 * 60_000);
      expect(await fire()).toEqual({ status: 'suppressed', jobs: 0 });
      // Each held alert restarts the quiet period: 59 minutes after the last one is not quiet yet.
      clock.advance(59 * 60_000);
      expect(await fire()).toEqual({ status: 'suppressed', jobs: 0 });

      clock.advance(hourMs + 60_000);
      expect(await fire()).toEqual({ status: 'active', jobs: 1 });
      expect(await store.alerts.ackState('rare-earth-watch', null)).toBeUndefined();
      clock.advance(60_000);
      expect(await fire()).toEqual({ status: 'active', jobs: 1 });
    });
  },
);
