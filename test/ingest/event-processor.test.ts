import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAlertEngine } from '../../src/alerts/alert-engine.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { createEventProcessor } from '../../src/ingest/event-processor.ts';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';
import { createLogger } from '../../src/logger.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import type { CompiledRule } from '../../src/rules/compiled-rule.ts';
import { createEventMatcher } from '../../src/rules/event-matcher.ts';
import { createRuleIndex } from '../../src/rules/rule-index.ts';
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

/** A subscriber with one immediate webhook subscription for every alert. */
async function subscribeDesk(store: Store, name: string) {
  const subscriber = await store.subscribers.create({ name });
  const endpoint = await store.endpoints.create({ url: 'https://desk.example.test/hooks' });
  return store.subscriptions.create({
    subscriberId: subscriber.id,
    channel: 'webhook',
    endpointId: endpoint.id,
    minSeverity: 'info',
  });
}

/** The embedded processor (no Kafka) over `rules`, matching on the calling thread. */
function processorFor(backend: Backend, rules: CompiledRule[]) {
  return createEventProcessor({
    matcher: createEventMatcher({ rules, workers: 0, budgetMs: 1_000 }),
    store: backend.store,
    metrics: createMetrics(),
    logger: createLogger('silent'),
    listeners: [],
    ackQuietMs: hourMs,
    now: backend.clock.now,
  });
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
      subscriptionId = (await subscribeDesk(store, 'Metals desk')).id;
      processor = processorFor(backend, [rule]);
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

/**
 * An event redelivered after its throttle group's ledger let it go, in the same batch as the
 * original (a backlog after an outage commits many events at once): its alert id comes again,
 * suppressed this time. The store keeps what the first decided, as `tocsin match` does.
 */
describe.each([sqliteHarness, postgresHarness])(
  'event processor on $name: a redelivery in the batch of its original',
  (harness) => {
    let backend: Backend;
    afterEach(async () => {
      await backend.dispose();
    });

    it('stores the original alert with its job, not the later suppressed repeat', async () => {
      backend = await harness.create();
      const { store } = backend;
      await subscribeDesk(store, 'Shipping desk');
      const throttled = compileRule(
        { id: 'tankers', name: 'Tankers', severity: 'medium', tags: [], query: 'tanker*', throttle: '30m' },
        'test',
      );
      const start = Date.parse('2026-03-01T00:00:00Z');
      const event = (id: string, minutes: number): IntelEvent => ({
        id,
        publishedAt: new Date(start + minutes * 60_000).toISOString(),
        title: `Sanctions hit a tanker (${id})`,
      });
      // 20 events 10 minutes apart after the first: the ledger prunes ids older than an hour
      // behind the newest at its 16th id, so the first one's id is gone when it comes again.
      const events = [event('first', 0)];
      for (let i = 1; i <= 20; i++) events.push(event(`later-${i}`, i * 10));
      events.push(event('first', 0));

      await processorFor(backend, [throttled]).process(events, 'http');

      // What `tocsin match` gives: the same engine, deduplicating alert ids itself.
      const engine = createAlertEngine(undefined, { trackChanges: false, dedupIds: true });
      const index = createRuleIndex([throttled]);
      const expected = events.flatMap((e) => engine.process(e, index.match(e)));
      const stored = await store.alerts.list({ limit: 100 });
      expect(stored.items.map((a) => [a.eventIds[0], a.status]).sort()).toEqual(
        expected.map((a) => [a.eventIds[0], a.suppressed ? 'suppressed' : 'active']).sort(),
      );
      const first = stored.items.find((a) => a.eventIds[0] === 'first')!;
      expect(first.status).toBe('active');
      expect((await store.deliveries.list({ alertId: first.id })).items).toHaveLength(1);
    });
  },
);
