import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { MatchExplanation } from '../../src/alerts/alert.ts';
import { evaluateQuery } from '../../src/rules/evaluate-query.ts';
import { parseQuery } from '../../src/rules/query-parser.ts';

const seedEvent = JSON.parse(readFileSync(new URL('../fixtures/seed-event.json', import.meta.url), 'utf8'));

function holds(query: string, event: object): boolean {
  return evaluateQuery(parseQuery(query), event).holds;
}

function explain(query: string, event: object): MatchExplanation[] {
  const result = evaluateQuery(parseQuery(query), event);
  expect(result.holds).toBe(true);
  return result.matches;
}

const base = { id: 'e1', publishedAt: '2026-07-02T09:30:00Z', title: '' };

describe('evaluateQuery: text semantics', () => {
  it.each<[string, string, object, boolean]>([
    ['diacritics in the event', 'zurich', { title: 'Talks in Zürich' }, true],
    ['diacritics in the query', 'Zürich', { title: 'TALKS IN ZURICH' }, true],
    ['decomposed diacritics', 'zürich', { title: 'Zu\u0308rich' }, true],
    ['no stemming', 'control', { title: 'export controls' }, false],
    ['prefix', 'control*', { title: 'export controls' }, true],
    ['prefix matches the whole word too', 'control*', { title: 'export control' }, true],
    ['hyphenated query word matches spaced text', 'rare-earth', { title: 'Rare Earth supply' }, true],
    ['spaced phrase matches hyphenated text', '"rare earth"', { title: 'rare-earth supply' }, true],
    ['slash separates', '"rare earth"', { title: 'RARE/EARTH' }, true],
    ['U.S. as a phrase', 'U.S.', { title: 'the U. S. economy' }, true],
    ['U.S. does not match US', 'U.S.', { title: 'the US economy' }, false],
    ['U.S. is two tokens', 'us', { title: 'U.S. tariffs' }, false],
    ['curly apostrophe', '"japan s"', { title: 'Japan’s e-waste' }, true],
    ['apostrophe query', 'Japan’s', { title: "Japan's e-waste" }, true],
    ['phrase is ordered', '"earth rare"', { title: 'rare earth' }, false],
    ['phrase words adjacent', '"rare earth"', { title: 'rare and earth' }, false],
    [
      'phrase never spans two array values',
      '"earths neodymium"',
      { commodities: ['rare earths', 'neodymium'] },
      false,
    ],
    ['phrase never spans two fields', '"supply japan"', { title: 'supply', summary: 'Japan' }, false],
    ['phrase within one array value', '"rare earths"', { commodities: ['dysprosium', 'rare earths'] }, true],
    ['default fields only', 'opinion', { category: 'opinion' }, false],
    ['field scope', 'category:opinion', { category: 'opinion' }, true],
    ['field scope excludes others', 'title:japan', { summary: 'Japan' }, false],
    [
      'entities.name over an array of objects',
      'entities.name:india',
      { entities: [{ name: 'Japan' }, { name: 'India' }] },
      true,
    ],
    [
      'entities.name is a default field',
      'sumitomo',
      { entities: [{ name: 'Sumitomo', type: 'company' }] },
      true,
    ],
    [
      'entities.type is not a default field',
      'company',
      { entities: [{ name: 'Sumitomo', type: 'company' }] },
      false,
    ],
    ['nested arrays flatten', 'tags.label:deep', { tags: [[{ label: 'x' }], [[{ label: 'deep' }]]] }, true],
    ['missing field', 'title:japan', { summary: 'Japan' }, false],
    ['missing nested field', 'source.name:nikkei', { source: {} }, false],
    ['field through a scalar', 'title.x:japan', { title: 'Japan' }, false],
    ['prototype keys are not fields', 'constructor:object', { title: 'x' }, false],
    ['object values do not match words', 'source:nikkei', { source: { name: 'Nikkei' } }, false],
    ['lower-case operators are words', 'a and b', { title: 'a b' }, false],
    ['lower-case operators are words (holds)', 'a and b', { title: 'x and y', summary: 'a b' }, true],
    ['NOT', 'NOT opinion', { title: 'analysis' }, true],
    ['minus', 'japan -india', { title: 'Japan and India' }, false],
    ['OR', 'india OR china', { title: 'China' }, true],
    ['escaped colon is a phrase', 'title\\:japan', { title: 'title: Japan' }, true],
    ['quoted escaped quote', '"say \\"no\\""', { title: 'they say "no"' }, true],
  ])('%s: %s', (_, query, event, expected) => {
    expect(holds(query, { ...base, ...event })).toBe(expected);
  });
});

describe('evaluateQuery: NEAR and ONEAR', () => {
  it.each<[string, string, string, boolean]>([
    [
      'spec example, one token between',
      '"export control*" NEAR/1 "rare earth*"',
      'export controls on rare earths',
      true,
    ],
    [
      'spec example, reversed order',
      '"export control*" NEAR/1 "rare earth*"',
      'rare earth export controls',
      true,
    ],
    [
      'two tokens between is too far for NEAR/1',
      '"export control*" NEAR/1 "rare earth*"',
      'export controls on the rare earths',
      false,
    ],
    ['NEAR/0 means adjacent', 'export NEAR/0 ban', 'an export ban', true],
    ['NEAR/0 either order', 'export NEAR/0 ban', 'a ban export', true],
    ['NEAR/0 not with one between', 'export NEAR/0 ban', 'export total ban', false],
    ['ONEAR keeps the order', 'export ONEAR/2 ban', 'ban on export', false],
    ['ONEAR in order', 'export ONEAR/2 ban', 'export of the ban', true],
    ['overlapping occurrences do not count', '"rare earth" NEAR/0 earth', 'rare earth', false],
    ['same word twice needs two occurrences', 'ban NEAR/1 ban', 'ban', false],
    ['same word twice', 'ban NEAR/1 ban', 'ban the ban', true],
    ['prefix operands', 'sanction* NEAR/3 russia*', 'sanctioned entities in Russian ports', true],
    ['a later pair is still found', 'a NEAR/1 b', 'a x x x x b x a x b', true],
  ])('%s', (_, query, title, expected) => {
    expect(holds(query, { ...base, title })).toBe(expected);
  });

  it.each<[string, object, boolean]>([
    ['never spans two values', { commodities: ['export', 'ban'] }, false],
    ['never spans two fields', { title: 'export', summary: 'ban' }, false],
    ['within one value of an array', { commodities: ['x', 'export ban'] }, true],
  ])('%s', (_, event, expected) => {
    expect(holds('export NEAR/3 ban', { ...base, ...event })).toBe(expected);
  });

  it('applies the field of a field group', () => {
    expect(holds('summary:(export NEAR/2 ban)', { ...base, title: 'export ban', summary: 'none' })).toBe(
      false,
    );
    expect(holds('summary:(export NEAR/2 ban)', { ...base, summary: 'export wide ban' })).toBe(true);
  });
});

describe('evaluateQuery: comparisons, ranges, equality, existence', () => {
  it.each<[string, string, object, boolean]>([
    ['number >=', 'severity:>=3', { severity: 3 }, true],
    ['number >', 'severity:>3', { severity: 3 }, false],
    ['number <', 'severity:<3', { severity: 2 }, true],
    ['number <=', 'severity:<=3', { severity: 4 }, false],
    ['decimal', 'marketImpact.score:>=0.4', { marketImpact: { score: 0.4 } }, true],
    ['negative decimal', 'x:<-0.4', { x: -0.5 }, true],
    ['numeric string counts as a number', 'x:>=4', { x: '4' }, true],
    ['negative decimal string', 'x:<0', { x: '-0.5' }, true],
    ['string that is not a plain decimal', 'x:>=4', { x: '4 tonnes' }, false],
    ['numeric string compared as number, not text', 'x:>9', { x: '10' }, true],
    ['missing field never compares', 'severity:<10', {}, false],
    ['null never compares', 'severity:<10', { severity: null }, false],
    ['boolean never compares', 'x:>=0', { x: true }, false],
    ['any array value', 'x:>5', { x: [1, 7] }, true],
    ['date bound: date-time on that day is after midnight', 'publishedAt:>=2026-07-02', {}, true],
    ['date bound: <= the date excludes later that day', 'publishedAt:<=2026-07-02', {}, false],
    ['date-time bound inclusive', 'publishedAt:<="2026-07-02T09:30:00Z"', {}, true],
    ['date-time bound exclusive', 'publishedAt:<"2026-07-02T09:30:00Z"', {}, false],
    ['offset in the bound', 'publishedAt:<"2026-07-02T11:00:00+02:00"', {}, false],
    [
      'offset in the value',
      'publishedAt:>="2026-07-02T09:00:00Z"',
      { publishedAt: '2026-07-02T10:00:00+02:00' },
      false,
    ],
    ['date-time without offset is UTC', 'publishedAt:>="2026-07-02T09:30:00"', {}, true],
    [
      'date value against a date-time bound',
      'source.publishedAt:<"2026-07-02T00:00:01Z"',
      { source: { publishedAt: '2026-07-02' } },
      true,
    ],
    [
      'date value against a number bound',
      'source.publishedAt:>5',
      { source: { publishedAt: '2026-07-02' } },
      false,
    ],
    ['number value against a date bound', 'severity:>=2026-01-01', { severity: 3 }, false],
    ['inclusive range', 'severity:[2 TO 3]', { severity: 3 }, true],
    ['exclusive range', 'severity:{2 TO 3}', { severity: 3 }, false],
    ['open range end', 'severity:[2 TO *]', { severity: 30 }, true],
    ['date range', 'publishedAt:[2026-07-01 TO 2026-07-03}', {}, true],
    ['[* TO *] needs a comparable value', 'x:[* TO *]', { x: 'text' }, false],
    ['number equality', 'severity:3', { severity: 3 }, true],
    ['number equality, other number', 'severity:3', { severity: 4 }, false],
    ['number equality on a string holds the token', 'x:3', { x: 'phase 3 trial' }, true],
    ['number equality on a decimal', 'x:0.4', { x: 0.4 }, true],
    ['boolean equality', 'flagged:true', { flagged: true }, true],
    ['boolean equality, false', 'flagged:true', { flagged: false }, false],
    ['boolean equality on a string', 'flagged:true', { flagged: 'true story' }, true],
    ['boolean is not a number', 'flagged:1', { flagged: true }, false],
    ['_exists_ present', '_exists_:summary', { summary: 'x' }, true],
    ['_exists_ empty string', '_exists_:summary', { summary: '' }, false],
    ['_exists_ empty array', '_exists_:topics', { topics: [] }, false],
    ['_exists_ null', '_exists_:summary', { summary: null }, false],
    ['_exists_ missing', '_exists_:summary', {}, false],
    ['_exists_ array of empties', '_exists_:topics', { topics: ['', null, []] }, false],
    ['_exists_ zero and false exist', '_exists_:x AND _exists_:y', { x: 0, y: false }, true],
    ['field:* is _exists_', 'summary:*', { summary: '' }, false],
    ['_exists_ over objects', '_exists_:entities.name', { entities: [{ type: 'x' }] }, false],
  ])('%s: %s', (_, query, event, expected) => {
    expect(holds(query, { ...base, ...event })).toBe(expected);
  });
});

describe('evaluateQuery: explanations', () => {
  it.each<[string, string, object, MatchExplanation[]]>([
    [
      'a word, first in default-field order',
      'japan',
      { summary: 'Japan here', title: 'Then Japan' },
      [{ field: 'title', text: 'Japan', start: 5, end: 10 }],
    ],
    [
      'array values carry their index',
      'commodities:neodymium',
      { commodities: ['rare earths', 'dysprosium', 'Neodymium oxide'] },
      [{ field: 'commodities', text: 'Neodymium', start: 0, end: 9, index: 2 }],
    ],
    [
      'entities.name index is the flattened position',
      'entities.name:india',
      { entities: [{ name: 'Japan' }, { type: 'x' }, { name: 'India' }] },
      [{ field: 'entities.name', text: 'India', start: 0, end: 5, index: 1 }],
    ],
    [
      'a phrase spans all its words',
      '"rare earth*"',
      { title: 'The Rare-Earths race' },
      [{ field: 'title', text: 'Rare-Earths', start: 4, end: 15 }],
    ],
    [
      'a prefix spans its whole token',
      'licen*',
      { title: 'new licensing rules' },
      [{ field: 'title', text: 'licensing', start: 4, end: 13 }],
    ],
    [
      'a NEAR pair spans from the first to the last',
      'ban NEAR/2 export',
      { title: 'a ban on export' },
      [{ field: 'title', text: 'ban on export', start: 2, end: 15 }],
    ],
    [
      'the first NEAR pair',
      'a NEAR/1 b',
      { title: 'b x a y y b a b' },
      [{ field: 'title', text: 'b x a', start: 0, end: 5 }],
    ],
    [
      'offsets after an emoji',
      'ban',
      { title: '🚢 export ban' },
      [{ field: 'title', text: 'ban', start: 10, end: 13 }],
    ],
    [
      'offsets after a combining mark',
      'ban',
      { title: 'Zu\u0308rich ban' },
      [{ field: 'title', text: 'ban', start: 8, end: 11 }],
    ],
    [
      'matched text keeps the original form',
      'zurich',
      { title: 'In Zu\u0308rich' },
      [{ field: 'title', text: 'Zu\u0308rich', start: 3, end: 10 }],
    ],
    [
      'ligature maps back to the original',
      'final',
      { title: 'the ﬁnal word' },
      [{ field: 'title', text: 'ﬁnal', start: 4, end: 8 }],
    ],
    [
      'one per leaf, in query order',
      'title:b AND title:a',
      { title: 'a b' },
      [
        { field: 'title', text: 'b', start: 2, end: 3 },
        { field: 'title', text: 'a', start: 0, end: 1 },
      ],
    ],
    ['nothing for NOT', 'a AND NOT b', { title: 'a' }, [{ field: 'title', text: 'a', start: 0, end: 1 }]],
    [
      'only the OR branches that hold',
      '(a OR b OR c)',
      { title: 'c a' },
      [
        { field: 'title', text: 'a', start: 2, end: 3 },
        { field: 'title', text: 'c', start: 0, end: 1 },
      ],
    ],
    [
      'a failing AND inside an OR explains nothing',
      'a OR (b AND zzz)',
      { title: 'a b' },
      [{ field: 'title', text: 'a', start: 0, end: 1 }],
    ],
    [
      'comparison on a number',
      'severity:>=3',
      { severity: 4 },
      [{ field: 'severity', text: '4', start: 0, end: 1 }],
    ],
    [
      'comparison on a string',
      'publishedAt:>=2026-07-01',
      {},
      [{ field: 'publishedAt', text: '2026-07-02T09:30:00Z', start: 0, end: 20 }],
    ],
    [
      'first array value in range',
      'x:[5 TO 9]',
      { x: [1, 7, 8] },
      [{ field: 'x', text: '7', start: 0, end: 1, index: 1 }],
    ],
    [
      'equality on a number',
      'severity:3',
      { severity: 3 },
      [{ field: 'severity', text: '3', start: 0, end: 1 }],
    ],
    [
      'equality: the first value, string or number',
      'x:3',
      { x: ['phase 3', 3] },
      [{ field: 'x', text: '3', start: 6, end: 7, index: 0 }],
    ],
    [
      'equality: a number before a string',
      'x:3',
      { x: [3, 'phase 3'] },
      [{ field: 'x', text: '3', start: 0, end: 1, index: 0 }],
    ],
    [
      'boolean equality',
      'flagged:true',
      { flagged: true },
      [{ field: 'flagged', text: 'true', start: 0, end: 4 }],
    ],
    [
      'exists on a string',
      '_exists_:summary',
      { summary: 'Short' },
      [{ field: 'summary', text: 'Short', start: 0, end: 5 }],
    ],
    [
      'exists on an array skips empties',
      '_exists_:topics',
      { topics: ['', 'trade'] },
      [{ field: 'topics', text: 'trade', start: 0, end: 5, index: 1 }],
    ],
    [
      'exists on an object is its JSON',
      '_exists_:source',
      { source: { name: 'Nikkei' } },
      [{ field: 'source', text: '{"name":"Nikkei"}', start: 0, end: 17 }],
    ],
  ])('%s', (_, query, event, expected) => {
    expect(explain(query, { ...base, ...event })).toEqual(expected);
  });
});

describe('evaluateQuery: the seed event', () => {
  it('matches the spec example rule with sensible explanations', () => {
    const query =
      '("rare earth*" OR commodities:(dysprosium OR neodymium)) AND ("export control*" OR "export licen*" OR "export ban*") AND NOT category:opinion';
    const result = evaluateQuery(parseQuery(query), seedEvent);
    expect(result.holds).toBe(true);
    expect(result.matches).toEqual([
      { field: 'title', text: 'Rare-earth', start: 0, end: 10 },
      { field: 'commodities', text: 'dysprosium', start: 0, end: 10, index: 1 },
      { field: 'commodities', text: 'neodymium', start: 0, end: 9, index: 2 },
      { field: 'body', text: 'export controls', start: expect.any(Number), end: expect.any(Number) },
    ]);
    for (const match of result.matches) {
      const values = [seedEvent[match.field]].flat();
      expect(values[match.index ?? 0].slice(match.start, match.end)).toBe(match.text);
    }
  });

  it('does not match as an opinion piece', () => {
    const query = '"rare earth*" AND NOT category:opinion';
    expect(evaluateQuery(parseQuery(query), { ...seedEvent, category: 'opinion' }).holds).toBe(false);
  });
});
