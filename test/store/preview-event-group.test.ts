import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import { type TermCondition, termCondition } from '../../src/rules/event-terms.ts';
import type { Store, StoredPreviewEvent } from '../../src/store/store.ts';
import {
  assertPostgresReachable,
  type Backend,
  type Harness,
  postgresHarness,
  sqliteHarness,
} from './store-harness.ts';

const event = (n: number): IntelEvent => ({
  id: `evt-${n}`,
  publishedAt: new Date(Date.UTC(2026, 2, 1) + n * 60_000).toISOString(),
  title: `Brief number ${n}`,
  body: 'Rare earth export licences were tightened again. '.repeat(3),
  topics: ['trade'],
});

async function all(store: Store, query: Parameters<Store['previewEvents']['scan']>[0] = {}) {
  const out: StoredPreviewEvent[] = [];
  for await (const row of store.previewEvents.scan(query)) out.push(row);
  return out;
}

describe.each([sqliteHarness, postgresHarness])('$name preview ring', (harness: Harness) => {
  let backend: Backend;
  let store: Store;

  beforeAll(async () => {
    if (harness.name === 'postgres') await assertPostgresReachable();
  });
  beforeEach(async () => {
    backend = await harness.create();
    store = backend.store;
  });
  afterEach(async () => {
    await backend?.dispose();
  });

  it('keeps exactly the newest N events, oldest first, whatever the batch sizes', async () => {
    const capacity = 7;
    let n = 0;
    for (const size of [3, 1, 5, 0, 2, 9, 4]) {
      await store.previewEvents.append(
        Array.from({ length: size }, () => event(n++)),
        { capacity },
      );
      const kept = await all(store);
      const expected = Array.from({ length: Math.min(n, capacity) }, (_, i) => n - Math.min(n, capacity) + i);
      expect(kept.map((row) => row.event.id)).toEqual(expected.map((i) => `evt-${i}`));
      expect(await store.previewEvents.count()).toBe(expected.length);
    }
    // The events come back whole (decompressed JSON), with their ring position.
    const [first] = await all(store);
    expect(first!.event).toEqual(event(n - capacity));
    expect(first!.seq).toBe(n - capacity);
  });

  it('shrinks to a smaller capacity on the next append and keeps tenants apart', async () => {
    await store.previewEvents.append(
      Array.from({ length: 10 }, (_, i) => event(i)),
      { capacity: 10 },
    );
    await store.previewEvents.append([event(100)], { capacity: 10, tenantId: 'other' });
    await store.previewEvents.append([event(10)], { capacity: 4 });
    expect((await all(store)).map((row) => row.event.id)).toEqual(['evt-7', 'evt-8', 'evt-9', 'evt-10']);
    expect((await all(store, { tenantId: 'other' })).map((row) => row.event.id)).toEqual(['evt-100']);
  });

  it('scans in pages and filters by event time', async () => {
    await store.previewEvents.append(
      Array.from({ length: 1_200 }, (_, i) => event(i)),
      { capacity: 2_000 },
    );
    expect((await all(store)).map((row) => row.seq)).toEqual(Array.from({ length: 1_200 }, (_, i) => i));
    const ranged = await all(store, { from: event(600).publishedAt, to: event(1_150).publishedAt });
    expect(ranged.map((row) => row.event.id)).toEqual(
      Array.from({ length: 550 }, (_, i) => `evt-${600 + i}`),
    );
  });

  it('reads only the candidates of a rule, over several pages, and counts the whole window', async () => {
    // Every seventh brief is about cobalt (in the title), every fifth names it only outside
    // the default fields; the rest never mention it.
    const briefs = Array.from({ length: 1_200 }, (_, i) => ({
      ...event(i),
      ...(i % 7 === 0 ? { title: `Cobalt quotas, brief ${i}` } : {}),
      ...(i % 5 === 0 ? { marketImpact: { assets: ['cobalt miners'] } } : {}),
    }));
    await store.previewEvents.append(briefs, { capacity: 2_000 });
    const ids = async (condition: TermCondition, query = {}) => {
      const { total, rows } = await store.previewEvents.scanFor(condition, query);
      const out: string[] = [];
      for await (const row of rows) out.push(row.event.id);
      return { total, ids: out };
    };
    const plain = await ids(termCondition(compileRule({ id: 'c', name: 'c', query: 'cobalt' }, 't').query)!);
    expect(plain.total).toBe(1_200);
    expect(plain.ids).toEqual(briefs.filter((_, i) => i % 7 === 0).map((b) => b.id));
    const asset = compileRule(
      { id: 'a', name: 'a', query: 'marketImpact.assets:"cobalt miners" AND brief' },
      't',
    );
    expect((await ids(termCondition(asset.query)!)).ids).toEqual(
      briefs.filter((_, i) => i % 5 === 0).map((b) => b.id),
    );
    const ranged = await ids(' cobalt ', { from: event(700).publishedAt, to: event(800).publishedAt });
    expect(ranged.total).toBe(100);
    expect(ranged.ids).toEqual(briefs.filter((_, i) => i % 7 === 0 && i >= 700 && i < 800).map((b) => b.id));
    expect(await ids({ all: [' cobalt ', ' nowhere '] })).toEqual({ total: 1_200, ids: [] });
  });
});

// Several instances of a cluster append to one ring; SQLite has one process by design.
describe('postgres preview ring shared by instances', () => {
  let backend: Backend;
  beforeAll(async () => {
    await assertPostgresReachable();
  });
  afterEach(async () => {
    await backend?.dispose();
  });

  it('keeps exactly N, gap-free, when several stores append at once', async () => {
    backend = await postgresHarness.create();
    const store = backend.store;
    const stores = [store, backend.open(), backend.open()];
    const capacity = 50;
    await Promise.all(
      stores.map((s, k) =>
        (async () => {
          for (let b = 0; b < 10; b++)
            await s.previewEvents.append(
              Array.from({ length: 4 }, (_, i) => event(k * 1_000 + b * 10 + i)),
              { capacity },
            );
        })(),
      ),
    );
    const kept = await all(store);
    expect(kept).toHaveLength(capacity);
    expect(kept.map((row) => row.seq)).toEqual(
      Array.from({ length: capacity }, (_, i) => 120 - capacity + i),
    );
  });
});
