import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import { evaluateQuery } from '../../src/rules/evaluate-query.ts';
import { createEventAnalysis } from '../../src/rules/event-analysis.ts';
import { eventTermText, mayMatchTerms, termCondition, termTextTest } from '../../src/rules/event-terms.ts';
import { eventArb, queryArb } from './query-arbitraries.ts';

const seedEvent = JSON.parse(
  readFileSync(new URL('../fixtures/seed-event.json', import.meta.url), 'utf8'),
) as IntelEvent;

const queryOf = (query: string) => compileRule({ id: 'r', name: 'r', query }, 'test').query;

function event(fields: Record<string, unknown>): IntelEvent {
  return { id: 'e', publishedAt: '2026-07-02T09:30:00Z', title: '', ...fields } as IntelEvent;
}

/** Whether the query holds (the reference evaluator) and whether the prefilter lets the event through. */
function check(query: string, e: IntelEvent) {
  const node = queryOf(query);
  const holds = evaluateQuery(node, e, createEventAnalysis(e)).holds;
  const condition = termCondition(node);
  return { holds, passes: condition === null || mayMatchTerms(condition, eventTermText(e)) };
}

describe('eventTermText', () => {
  it('holds the tokens of every value in order, those outside the default fields marked', () => {
    const text = eventTermText(
      event({
        title: 'Zürich, ZURICH and Basel',
        severity: 4,
        entities: [{ name: 'Rio Tinto', type: 'company' }],
        topics: ['mining', 'rare earths'],
      }),
    );
    expect(text).toBe(
      ' :e | :2026 :07 :02t09 :30 :00z | zurich zurich and basel | :4 | rio tinto | :company | mining | rare earths ',
    );
  });

  it('is null past its bound, and such an event always passes', () => {
    const long = event({ body: Array.from({ length: 5_000 }, (_, i) => `word${i}`).join(' ') });
    expect(eventTermText(long, 1_000)).toBeNull();
    expect(mayMatchTerms(termCondition(queryOf('nothing'))!, null)).toBe(true);
  });
});

describe('createTermPrefilter', () => {
  it.each([
    ['neodymium', { title: 'Neodymium prices' }, true],
    ['neodymium', { title: 'Lithium prices' }, false],
    ['licen*', { body: 'new licences' }, true],
    ['licen*', { body: 'unlicensed' }, false],
    ['"rare earth"', { summary: 'rare earth magnets' }, true],
    ['"rare earth"', { summary: 'rare metals on earth' }, false], // the words, but not adjacent
    ['"rare earth"', { marketImpact: { assets: ['rare earth processors'] } }, false], // not a default field
    ['marketImpact.assets:"rare earth"', { marketImpact: { assets: ['rare earth processors'] } }, true],
    ['marketImpact.assets:"rare earth"', { summary: 'rare earth magnets' }, false],
    ['title:copper AND nickel', { title: 'copper', body: 'nickel' }, true],
    ['title:copper AND nickel', { title: 'copper' }, false],
    ['copper OR nickel', { body: 'nickel' }, true],
    ['copper OR nickel', { body: 'zinc' }, false],
    ['cobalt OR (lithium AND export*)', { body: 'lithium exporters' }, true],
    ['cobalt OR (lithium AND export*)', { body: 'lithium mines' }, false], // every part of the AND
    ['"export* control"', { title: 'exporters control' }, true],
    ['"export* control"', { title: 'exporters in control' }, true], // split after the prefix word
    ['"export* control"', { title: 'exporters' }, false],
    ['lithium NEAR/3 tariff*', { body: 'tariffs on lithium' }, true],
    ['lithium NEAR/3 tariff*', { body: 'lithium' }, false],
    ['copper AND NOT nickel', { body: 'copper and nickel' }, true], // NOT needs nothing
  ])('%s on %j: %s', (query, fields, expected) => {
    expect(check(query, event(fields)).passes).toBe(expected);
  });

  it('is null for a query without required terms', () => {
    expect(termCondition(queryOf('NOT category:opinion'))).toBeNull();
    expect(termCondition(queryOf('severity:>=3'))).toBeNull();
    expect(termCondition(queryOf('cobalt OR NOT nickel'))).toBeNull();
  });

  it('lets through every event the query holds for (random queries and events)', () => {
    fc.assert(
      fc.property(fc.array(queryArb, { minLength: 1, maxLength: 20 }), eventArb, (queries, e) => {
        for (const query of queries) {
          const { holds, passes } = check(query, e);
          if (holds) expect(passes, query).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('lets the seed brief through for a rule that matches it, and rules out one that cannot', () => {
    expect(check('"rare earth*" AND japan*', seedEvent)).toEqual({ holds: true, passes: true });
    expect(check('zzqx AND seedless', seedEvent)).toEqual({ holds: false, passes: false });
  });
});

describe('termTextTest', () => {
  it.each([
    ['"rare earth" OR (lithium AND export*)', true],
    ['copper AND NOT "rare earth*"', true],
    ['"export* control"', false], // a prefix word inside a phrase
    ['title:copper', false], // a field named
    ['lithium NEAR/3 tariff*', false],
    ['severity:>=3', false],
  ])('%s decided on the term text: %s', (query, decided) => {
    expect(termTextTest(queryOf(query)) !== null).toBe(decided);
  });

  it('leaves out keys with a dot, which no rule reaches', () => {
    const e = event({ 'entities.name': 'Cobalt Ltd' });
    expect(evaluateQuery(queryOf('cobalt'), e).holds).toBe(false);
    expect(termTextTest(queryOf('cobalt'))!(eventTermText(e)!)).toBe(false);
  });

  it('agrees with the evaluator wherever it decides (random queries and events)', () => {
    const decided = { holds: 0, fails: 0 };
    fc.assert(
      fc.property(fc.array(queryArb, { minLength: 1, maxLength: 20 }), eventArb, (queries, e) => {
        const text = eventTermText(e);
        if (text === null) return;
        for (const query of queries) {
          const node = queryOf(query);
          const test = termTextTest(node);
          if (test === null) continue;
          const holds = evaluateQuery(node, e).holds;
          expect(test(text), query).toBe(holds);
          decided[holds ? 'holds' : 'fails']++;
        }
      }),
      { numRuns: 500 },
    );
    // The property is about the queries it decides: enough of them, both ways.
    expect(decided.holds, JSON.stringify(decided)).toBeGreaterThanOrEqual(50);
    expect(decided.fails, JSON.stringify(decided)).toBeGreaterThanOrEqual(50);
  });
});
