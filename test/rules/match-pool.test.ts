import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import type { CompiledRule } from '../../src/rules/compiled-rule.ts';
import { eventTermText } from '../../src/rules/event-terms.ts';
import { createMatchPool, type MatchPool, type MatchResult } from '../../src/rules/match-pool.ts';
import { createRuleIndex } from '../../src/rules/rule-index.ts';
import { eventArb, queryArb } from './query-arbitraries.ts';

function rule(id: string, query: string): CompiledRule {
  return compileRule({ id, name: id, query }, 'test');
}

function event(id: string, title: string, fields: Record<string, unknown> = {}): IntelEvent {
  return { id, publishedAt: '2026-07-02T09:30:00Z', title, ...fields } as IntelEvent;
}

/** What one thread answers: per event, the matched rule ids with their explanations. */
function oneThread(rules: CompiledRule[], events: IntelEvent[]) {
  const matcher = createRuleIndex(rules);
  return events.map((e) => matcher.match(e).map((match) => ({ id: match.rule.id, matches: match.matches })));
}

function ofPool(results: MatchResult[]) {
  return results.map((result) => {
    if (result.kind !== 'matched') throw new Error(`unexpected ${result.kind}`);
    return result.matches.map((match) => ({ id: match.rule.id, matches: match.matches }));
  });
}

let pool: MatchPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

/** One pool for the tests that need no fresh one: starting workers (tsx in each) is the slow part. */
let shared: MatchPool;
beforeAll(() => {
  shared = createMatchPool({ rules: [], workers: 2, budgetMs: 10_000 });
});
afterAll(() => shared.close());

function useRules(target: MatchPool, rules: CompiledRule[]): MatchPool {
  for (const old of target.rules()) target.remove(old.id);
  for (const next of rules) target.upsert(next);
  return target;
}

describe('createMatchPool', () => {
  it('gives the results of one thread, in input order, over random rules and events', async () => {
    const rules = fc.sample(queryArb, { numRuns: 300, seed: 21 }).map((query, i) => rule(`r${i}`, query));
    const events = fc.sample(eventArb, { numRuns: 300, seed: 8 }).map((e, i) => ({ ...e, id: `e${i}` }));
    const pool = useRules(shared, rules);
    const expected = oneThread(rules, events);
    expect(expected.flat().length).toBeGreaterThan(events.length);
    // Events as objects and as JSON lines, in requests of different sizes made at once.
    const [first, second, third] = await Promise.all([
      pool.matchEvents(events.slice(0, 7)),
      pool.matchEvents(events.slice(7, 150)),
      pool.matchLines(events.slice(150).map((e) => JSON.stringify(e))),
    ]);
    expect(ofPool([...first, ...second, ...third])).toEqual(expected);
    // A matched line hands back the event it parsed, for the alert engine.
    const matchedLine = third.find((result) => result.kind === 'matched' && result.matches.length > 0);
    expect(matchedLine?.kind === 'matched' && matchedLine.event?.id).toMatch(/^e\d+$/);
  });

  it('as a property over small rule sets', async () => {
    const active = shared;
    await fc.assert(
      fc.asyncProperty(
        fc.array(queryArb, { minLength: 1, maxLength: 12 }),
        fc.array(eventArb, { minLength: 1, maxLength: 20 }),
        async (queries, events) => {
          const rules = queries.map((query, i) => rule(`r${i}`, query));
          useRules(active, rules);
          expect(ofPool(await active.matchEvents(events))).toEqual(oneThread(rules, events));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('reports invalid lines with the validation message, and goes on', async () => {
    const pool = useRules(shared, [rule('oil', 'oil')]);
    const results = await pool.matchLines([
      '{"id": "a", "publishedAt": "2026-07-02T09:30:00Z", "title": "oil up"}',
      'not json',
      '{"id": "b", "publishedAt": "2026-07-02T09:30:00Z"}',
      '{"id": "c", "publishedAt": "2026-07-02T09:30:00Z", "title": "gas"}',
    ]);
    expect(results.map((result) => result.kind)).toEqual(['matched', 'invalid', 'invalid', 'matched']);
    expect(results[2]).toEqual({
      kind: 'invalid',
      message: 'title: Invalid input: expected string, received undefined',
    });
    expect(results[3]).toEqual({ kind: 'matched', event: undefined, matches: [] });
  });

  it('brings a rule change to every worker before the next batch', async () => {
    const pool = useRules(shared, [rule('gold', 'gold')]);
    const events = Array.from({ length: 64 }, (_, i) => event(`e${i}`, 'gold and silver'));
    const before = pool.matchEvents(events);
    pool.upsert(rule('silver', 'silver'));
    pool.upsert(rule('gold', 'copper'));
    const after = pool.matchEvents(events);
    pool.remove('silver');
    const afterRemoval = pool.matchEvents(events);
    const idsOf = async (results: Promise<MatchResult[]>) =>
      new Set(ofPool(await results).map((matches) => matches.map((match) => match.id).join(',')));
    // Each batch, on whichever worker, saw the rules of its own time, and names them so.
    expect(await idsOf(before)).toEqual(new Set(['gold']));
    expect(await idsOf(after)).toEqual(new Set(['silver']));
    expect(await idsOf(afterRemoval)).toEqual(new Set(['']));
    const [first] = await before;
    expect(first?.kind === 'matched' && first.matches[0]?.rule.query).toEqual(rule('gold', 'gold').query);
  });

  it('replaces a worker killed mid-batch and loses nothing', async () => {
    const rules = fc.sample(queryArb, { numRuns: 200, seed: 4 }).map((query, i) => rule(`r${i}`, query));
    const events = fc.sample(eventArb, { numRuns: 400, seed: 9 });
    pool = createMatchPool({ rules, workers: 2, budgetMs: 10_000 });
    const results = pool.matchEvents(events);
    // Kill one worker for real while its share of the batch is in flight.
    await pool.workers()[0]!.terminate();
    expect(ofPool(await results)).toEqual(oneThread(rules, events));
    expect(pool.replacements()).toBe(1);
    // The replacement serves the next batches, with the current rules.
    pool.upsert(rule('late', 'alpha'));
    const again = await pool.matchEvents([event('x', 'alpha')]);
    expect(ofPool(again)).toEqual(oneThread([...rules, rule('late', 'alpha')], [event('x', 'alpha')]));
  });

  it("makes each event's term text for the preview ring when asked, as the store would", async () => {
    pool = createMatchPool({ rules: [rule('word', 'omega')], workers: 1, budgetMs: 10_000, termText: true });
    const events = fc.sample(eventArb, { numRuns: 50, seed: 3 }).map((e, i) => ({ ...e, id: `t${i}` }));
    const results = await pool.matchEvents(events);
    expect(results.map((result) => (result.kind === 'matched' ? result.termText : result.kind))).toEqual(
      events.map((e) => eventTermText(e)),
    );
    // Without the option nothing is made (`tocsin match` has no use for it).
    const [plain] = await shared.matchEvents(events.slice(0, 1));
    expect(plain).not.toHaveProperty('termText');
  });

  it('gives up an event over the budget, and the next events go on', async () => {
    pool = createMatchPool({
      rules: [rule('near', 'alpha NEAR/2 omega'), rule('word', 'omega')],
      workers: 1,
      budgetMs: 200,
    });
    // Millions of tokens: analysing and matching it takes seconds.
    const huge = event('huge', `${'alpha beta '.repeat(1_500_000)}omega`);
    const results = await pool.matchEvents([event('a', 'omega'), huge, event('b', 'alpha x omega')]);
    expect(results[1]).toEqual({ kind: 'over_budget', budgetMs: 200 });
    expect(ofPool([results[0]!, results[2]!]).map((matches) => matches.map((match) => match.id))).toEqual([
      ['word'],
      ['near', 'word'],
    ]);
    expect(pool.replacements()).toBe(1);
  });
});
