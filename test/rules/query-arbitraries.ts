import fc from 'fast-check';
import type { IntelEvent } from '../../src/ingest/event-schema.ts';

/**
 * Random queries and events over a small shared vocabulary (so that matches happen), for the
 * property tests that compare the rule index with evaluating every rule, and the match pool
 * with one thread.
 */

function event(fields: Record<string, unknown>): IntelEvent {
  return { id: 'e', publishedAt: '2026-07-02T09:30:00Z', title: '', ...fields } as IntelEvent;
}

const vocabulary = [
  'alpha',
  'beta',
  'gamma',
  'rare',
  'earth',
  'earths',
  'export',
  'controls',
  'ban',
  'japan',
  'zurich',
  'the',
  'of',
];
const surface: Record<string, string[]> = {
  zurich: ['Zürich', 'ZURICH', 'Zu\u0308rich'],
  earths: ['Earths', 'earths'],
};
const prefixes = ['exp', 'contr', 'ear', 'alph', 'zur'];
const textFields = [
  'title',
  'summary',
  'body',
  'topics',
  'implications',
  'entities.name',
  'category',
  'tags.label',
];

const wordArb = fc.constantFrom(...vocabulary);
const termArb = fc.oneof(
  { weight: 4, arbitrary: wordArb },
  { weight: 2, arbitrary: fc.constantFrom(...prefixes).map((p) => `${p}*`) },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.oneof(
          wordArb,
          fc.constantFrom(...prefixes).map((p) => `${p}*`),
        ),
        { minLength: 2, maxLength: 3 },
      )
      .map((words) => `"${words.join(' ')}"`),
  },
  { weight: 1, arbitrary: fc.constantFrom('rare-earth', 'Zürich', 'EXPORT', 'japan’s') },
);
const fieldArb = fc.option(fc.constantFrom(...textFields), { nil: undefined, freq: 2 });

const leafArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(fieldArb, termArb).map(([field, term]) => (field ? `${field}:${term}` : term)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fieldArb, termArb, fc.constantFrom('NEAR', 'ONEAR'), fc.integer({ min: 0, max: 3 }), termArb)
      .map(([field, a, op, n, b]) => (field ? `${field}:(${a} ${op}/${n} ${b})` : `(${a} ${op}/${n} ${b})`)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'severity:>=3',
      'severity:[2 TO 3}',
      'severity:3',
      'score:<0.5',
      '_exists_:summary',
      'topics:*',
      'publishedAt:>=2026-07-02',
      'flag:true',
      'severity:(3 OR 4)',
    ),
  },
);

export const queryArb: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: leafArb },
    {
      weight: 2,
      arbitrary: fc
        .array(tie('node'), { minLength: 2, maxLength: 3 })
        .map((nodes) => `(${nodes.join(' AND ')})`),
    },
    {
      weight: 1,
      arbitrary: fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((nodes) => `(${nodes.join(' ')})`),
    },
    {
      weight: 2,
      arbitrary: fc
        .array(tie('node'), { minLength: 2, maxLength: 3 })
        .map((nodes) => `(${nodes.join(' OR ')})`),
    },
    { weight: 1, arbitrary: tie('node').map((node) => `NOT ${node}`) },
  ),
})).node;

const sentenceArb = fc
  .array(fc.tuple(wordArb, fc.nat({ max: 2 }), fc.constantFrom(' ', ' ', ', ', '-', ' — ', '. ', ' 😀 ')), {
    maxLength: 14,
  })
  .map((parts) =>
    parts
      .map(
        ([word, form, separator]) =>
          (surface[word]?.[form] ?? (form === 1 ? word.toUpperCase() : word)) + separator,
      )
      .join(''),
  );

export const eventArb = fc
  .record(
    {
      title: sentenceArb,
      summary: sentenceArb,
      body: fc.array(sentenceArb, { maxLength: 4 }).map((parts) => parts.join(' ')),
      topics: fc.array(sentenceArb, { maxLength: 3 }),
      keywords: fc.array(sentenceArb, { maxLength: 2 }),
      commodities: fc.array(sentenceArb, { maxLength: 2 }),
      regions: fc.array(sentenceArb, { maxLength: 2 }),
      signals: fc.array(sentenceArb, { maxLength: 2 }),
      implications: fc.array(sentenceArb, { maxLength: 2 }),
      entities: fc.array(fc.record({ name: sentenceArb, type: fc.constant('country') }), { maxLength: 3 }),
      category: fc.constantFrom('opinion', 'analysis', 'rare earth', ''),
      tags: fc.array(fc.record({ label: sentenceArb }), { maxLength: 2 }),
      severity: fc.integer({ min: 1, max: 5 }),
      score: fc.constantFrom(0.2, 0.5, '0.7', 'high'),
      flag: fc.constantFrom(true, false, 'true'),
    },
    { requiredKeys: ['title'] },
  )
  .map((fields) => event(fields));
