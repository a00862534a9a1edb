import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import type { CompiledRule, RuleMatcher } from '../../src/rules/compiled-rule.ts';
import { evaluateQuery } from '../../src/rules/evaluate-query.ts';
import { createEventAnalysis } from '../../src/rules/event-analysis.ts';
import { createRuleIndex } from '../../src/rules/rule-index.ts';
import { eventArb, queryArb } from './query-arbitraries.ts';

const seedEvent = JSON.parse(
  readFileSync(new URL('../fixtures/seed-event.json', import.meta.url), 'utf8'),
) as IntelEvent;

function rule(id: string, query: string, extra: Record<string, unknown> = {}): CompiledRule {
  return compileRule({ id, name: id, query, ...extra }, 'test');
}

function event(fields: Record<string, unknown>): IntelEvent {
  return { id: 'e', publishedAt: '2026-07-02T09:30:00Z', title: '', ...fields } as IntelEvent;
}

const ids = (matcher: RuleMatcher, e: IntelEvent) => matcher.match(e).map((match) => match.rule.id);

/** What the index must return: every enabled rule whose query holds, in order, with its explanations. */
function bruteForce(rules: readonly CompiledRule[], e: IntelEvent) {
  const analysis = createEventAnalysis(e);
  return rules.flatMap((r) => {
    if (!r.definition.enabled) return [];
    const result = evaluateQuery(r.query, e, analysis);
    return result.holds ? [{ id: r.id, matches: result.matches }] : [];
  });
}

function indexed(matcher: RuleMatcher, e: IntelEvent) {
  return matcher.match(e).map((match) => ({ id: match.rule.id, matches: match.matches }));
}

describe('createRuleIndex', () => {
  it('returns matches in rule order with explanations', () => {
    const matcher = createRuleIndex([
      rule('c-first', 'japan'),
      rule('a-second', 'india AND japan'),
      rule('no-match', 'brazil'),
      rule('b-third', 'NOT category:opinion'),
    ]);
    const result = matcher.match(event({ title: 'Japan and India' }));
    expect(result.map((match) => match.rule.id)).toEqual(['c-first', 'a-second', 'b-third']);
    expect(result[0]!.matches).toEqual([{ field: 'title', text: 'Japan', start: 0, end: 5 }]);
    expect(result[2]!.matches).toEqual([]);
  });

  it('keeps the position of an upserted rule and appends new ones', () => {
    const matcher = createRuleIndex([rule('one', 'japan'), rule('two', 'japan'), rule('three', 'japan')]);
    matcher.upsert(rule('four', 'japan'));
    matcher.upsert(rule('two', 'japan AND india'));
    const e = event({ title: 'japan india' });
    expect(ids(matcher, e)).toEqual(['one', 'two', 'three', 'four']);
    matcher.upsert(rule('two', 'brazil'));
    expect(ids(matcher, e)).toEqual(['one', 'three', 'four']);
    matcher.remove('one');
    matcher.upsert(rule('one', 'japan'));
    expect(ids(matcher, e)).toEqual(['three', 'four', 'one']);
    expect(matcher.rules().map((r) => r.id)).toEqual(['two', 'three', 'four', 'one']);
  });

  it('never matches a disabled rule, and an upsert can enable it', () => {
    const matcher = createRuleIndex([
      rule('off', 'japan', { enabled: false }),
      rule('always-off', 'NOT x', { enabled: false }),
    ]);
    const e = event({ title: 'japan' });
    expect(ids(matcher, e)).toEqual([]);
    expect(matcher.rules().map((r) => r.id)).toEqual(['off', 'always-off']);
    matcher.upsert(rule('off', 'japan'));
    expect(ids(matcher, e)).toEqual(['off']);
  });

  it('evaluates rules with nothing to look up for every event', () => {
    const matcher = createRuleIndex([
      rule('not-only', 'NOT category:opinion'),
      rule('range', 'severity:>=3'),
      rule('exists', '_exists_:summary'),
      rule('equality', 'severity:4'),
      rule('or-with-range', 'japan OR severity:>=5'),
    ]);
    expect(ids(matcher, event({ severity: 4, summary: 's' }))).toEqual([
      'not-only',
      'range',
      'exists',
      'equality',
    ]);
    expect(ids(matcher, event({ severity: 5, category: 'opinion' }))).toEqual(['range', 'or-with-range']);
  });

  it('forgets removed rules and their terms', () => {
    const matcher = createRuleIndex([rule('a', 'japan'), rule('b', 'title:japan*')]);
    matcher.remove('a');
    matcher.remove('b');
    matcher.remove('never-there');
    expect(matcher.match(event({ title: 'japan' }))).toEqual([]);
    matcher.upsert(rule('c', 'summary:japanese'));
    expect(ids(matcher, event({ title: 'japanese', summary: 'Japanese' }))).toEqual(['c']);
  });

  it('reads non-default fields named by rules only', () => {
    const matcher = createRuleIndex([rule('scoped', 'tags.label:urgent'), rule('default', 'urgent')]);
    expect(ids(matcher, event({ tags: [{ label: 'Urgent' }] }))).toEqual(['scoped']);
    expect(ids(matcher, event({ title: 'urgent' }))).toEqual(['default']);
  });

  it('matches the spec example on the seed event like the evaluator does', () => {
    const rules = [
      rule(
        'rare-earth-export-controls',
        '("rare earth*" OR commodities:(dysprosium OR neodymium)) AND ("export control*" OR "export licen*" OR "export ban*") AND NOT category:opinion',
      ),
      rule('japan-recycling', 'japan NEAR/3 recycl*'),
      rule('opinion', 'category:opinion'),
    ];
    const matcher = createRuleIndex(rules);
    expect(indexed(matcher, seedEvent)).toEqual(bruteForce(rules, seedEvent));
    expect(ids(matcher, seedEvent)).toEqual(['rare-earth-export-controls', 'japan-recycling']);
  });

  it('finds phrases by their adjacent word pairs only where the words are adjacent, in one value', () => {
    const rules = [
      rule('pair', '"rare earth"'),
      rule('long', '"rare earth export"'),
      rule('scoped', 'summary:"export ban"'),
      rule('near', '"rare earth" NEAR/2 "export ban"'),
      rule('prefix', '"rare earth*"'),
    ];
    const matcher = createRuleIndex(rules);
    const events = [
      event({ title: 'Rare-earth export' }),
      event({ title: 'earth rare export' }),
      event({ title: 'rare', topics: ['earth', 'rare earths'] }),
      event({ topics: ['rare', 'earth export'] }),
      event({ title: 'export ban', summary: 'ban export, the ban' }),
      event({ summary: 'rare earth: export ban', body: 'rare big earth export ban' }),
    ];
    for (const e of events) expect(indexed(matcher, e)).toEqual(bruteForce(rules, e));
    expect(ids(matcher, events[0]!)).toEqual(['pair', 'long', 'prefix']);
    expect(ids(matcher, events[1]!)).toEqual([]);
    expect(ids(matcher, events[3]!)).toEqual([]);
    expect(ids(matcher, events[4]!)).toEqual([]);
    expect(ids(matcher, events[5]!)).toEqual(['pair', 'long', 'scoped', 'near', 'prefix']);
    // Pairs go with the last rule holding them, and come back with a new one.
    matcher.remove('pair');
    matcher.remove('long');
    matcher.remove('near');
    expect(ids(matcher, events[0]!)).toEqual(['prefix']);
    matcher.upsert(rule('pair', '"earth export"'));
    expect(ids(matcher, events[0]!)).toEqual(['prefix', 'pair']);
    expect(ids(matcher, events[1]!)).toEqual([]);
    expect(ids(matcher, events[5]!)).toEqual(['scoped', 'prefix', 'pair']);
  });

  it('handles an event far larger than usual and then a small one', () => {
    const matcher = createRuleIndex([rule('near', 'alpha NEAR/1 omega'), rule('word', 'omega')]);
    const big = event({ body: `${'alpha beta '.repeat(50_000)}alpha omega` });
    expect(ids(matcher, big)).toEqual(['near', 'word']);
    expect(ids(matcher, event({ title: 'omega' }))).toEqual(['word']);
  });
});

// --- property: the index agrees with evaluating every rule --------------------------------

function compileAll(queries: readonly string[], disabledEvery = 0): CompiledRule[] {
  return queries.map((query, i) =>
    rule(`r${i}`, query, disabledEvery > 0 && i % disabledEvery === 0 ? { enabled: false } : {}),
  );
}

describe('createRuleIndex agrees with evaluating every rule', () => {
  it('on thousands of random rules and hundreds of random events', () => {
    const queries = fc.sample(queryArb, { numRuns: 2_000, seed: 42 });
    const events = fc.sample(eventArb, { numRuns: 200, seed: 7 });
    const rules = compileAll(queries, 17);
    const matcher = createRuleIndex(rules);
    let matched = 0;
    for (const e of events) {
      const expected = bruteForce(rules, e);
      matched += expected.length;
      expect(indexed(matcher, e)).toEqual(expected);
    }
    // The vocabulary is small so that matches happen (and the test means something).
    expect(matched).toBeGreaterThan(events.length * 10);
  });

  it('while it learns which presearch terms are rare (after 100 and 1,000 events)', () => {
    const rules = compileAll(fc.sample(queryArb, { numRuns: 400, seed: 3 }));
    const events = fc.sample(eventArb, { numRuns: 1_100, seed: 11 });
    const matcher = createRuleIndex(rules);
    for (const e of events) expect(indexed(matcher, e)).toEqual(bruteForce(rules, e));
  });

  it('as a property, shrinking to a small counterexample', () => {
    fc.assert(
      fc.property(
        fc.array(queryArb, { minLength: 1, maxLength: 25 }),
        fc.array(eventArb, { minLength: 1, maxLength: 4 }),
        (queries, events) => {
          const rules = compileAll(queries, 7);
          const matcher = createRuleIndex(rules);
          for (const e of events) expect(indexed(matcher, e)).toEqual(bruteForce(rules, e));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('after upserts and removals', () => {
    fc.assert(
      fc.property(
        fc.array(queryArb, { minLength: 1, maxLength: 20 }),
        fc.array(fc.tuple(fc.nat({ max: 25 }), fc.option(queryArb, { nil: undefined })), { maxLength: 20 }),
        fc.array(eventArb, { minLength: 1, maxLength: 3 }),
        (queries, changes, events) => {
          let rules = compileAll(queries);
          const matcher = createRuleIndex(rules);
          for (const [n, query] of changes) {
            const id = `r${n}`;
            if (query === undefined) {
              matcher.remove(id);
              rules = rules.filter((r) => r.id !== id);
            } else {
              const next = rule(id, query);
              matcher.upsert(next);
              const at = rules.findIndex((r) => r.id === id);
              rules = at < 0 ? [...rules, next] : rules.map((r) => (r.id === id ? next : r));
            }
          }
          expect(matcher.rules().map((r) => r.id)).toEqual(rules.map((r) => r.id));
          for (const e of events) expect(indexed(matcher, e)).toEqual(bruteForce(rules, e));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('after enough upserts that the rule programs are rewritten (compacted) while matching', () => {
    const queries = fc.sample(queryArb, { numRuns: 6_000, seed: 5 });
    const events = fc.sample(eventArb, { numRuns: 30, seed: 13 });
    let rules = compileAll(queries.slice(0, 300));
    const matcher = createRuleIndex(rules);
    // Each upsert replaces one of 300 rules: the old programs become garbage until rewritten.
    for (let i = 300; i < queries.length; i++) {
      const next = rule(`r${i % 300}`, queries[i]!);
      matcher.upsert(next);
      rules = rules.map((r) => (r.id === next.id ? next : r));
      if (i % 1_000 === 0) {
        const e = events[(i / 1_000) % events.length]!;
        expect(indexed(matcher, e)).toEqual(bruteForce(rules, e));
      }
    }
    for (const e of events) expect(indexed(matcher, e)).toEqual(bruteForce(rules, e));
  });
});
