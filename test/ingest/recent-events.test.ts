import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/http/metrics.ts';
import { createEventProcessor, type RecentEvents } from '../../src/ingest/event-processor.ts';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';
import { createLogger } from '../../src/logger.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import { createEventMatcher } from '../../src/rules/event-matcher.ts';
import { type Backend, sqliteHarness } from '../store/store-harness.ts';

const rule = compileRule({ id: 'copper', name: 'Copper', query: 'copper' }, 'test');

const brief = (n: number): IntelEvent => ({
  id: `brief-${n}`,
  publishedAt: new Date(Date.UTC(2026, 2, 1) + n * 1_000).toISOString(),
  title: n % 2 === 0 ? `Copper smelter ${n}` : `Grain ${n}`,
});

/** Every committed batch, matching or not, goes into the preview ring in ingest order. */
describe('event processor: recent events for previews', () => {
  let backend: Backend;
  beforeEach(async () => {
    backend = await sqliteHarness.create();
  });
  afterEach(async () => {
    await backend.dispose();
  });

  const processorWith = (recentEvents: RecentEvents) =>
    createEventProcessor({
      matcher: createEventMatcher({ rules: [rule], workers: 0, budgetMs: 1_000 }),
      store: backend.store,
      metrics: createMetrics(),
      logger: createLogger('silent'),
      listeners: [],
      ackQuietMs: 60_000,
      recentEvents,
    });

  it('appends each batch after its commit, keeping the newest N', async () => {
    const { store } = backend;
    const processor = processorWith({
      append: (events) => store.previewEvents.append(events, { capacity: 4 }),
    });
    await processor.process([brief(1), brief(2), brief(3)], 'http');
    await processor.process([brief(4), brief(5)], 'kafka');
    const kept: string[] = [];
    for await (const row of store.previewEvents.scan()) kept.push(row.event.id);
    expect(kept).toEqual(['brief-2', 'brief-3', 'brief-4', 'brief-5']);
  });

  it('still stores the alerts when keeping the events fails', async () => {
    const processor = processorWith({ append: () => Promise.reject(new Error('disk full')) });
    const { alerts } = await processor.process([brief(2)], 'http');
    expect(alerts.map((alert) => alert.ruleId)).toEqual(['copper']);
    expect((await backend.store.alerts.list()).items).toHaveLength(1);
  });
});
