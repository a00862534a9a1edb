import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import type { QueryNode, WordPattern } from '../../src/rules/query-ast.ts';
import { parseQuery, parseQueryWithStats, queryLimits } from '../../src/rules/query-parser.ts';

const w = (token: string): WordPattern => ({ token, prefix: false });
const p = (token: string): WordPattern => ({ token, prefix: true });
const text = (field: string | null, ...words: WordPattern[]): QueryNode => ({ kind: 'text', field, words });
const word = (token: string) => text(null, w(token));
const and = (...children: QueryNode[]): QueryNode => ({ kind: 'and', children });
const or = (...children: QueryNode[]): QueryNode => ({ kind: 'or', children });
const not = (child: QueryNode): QueryNode => ({ kind: 'not', child });

/** The error a query gives, as [line, column, expected]. */
function errorOf(query: string): [number, number, string] {
  try {
    parseQuery(query);
  } catch (error) {
    if (!isAppError(error, 'TOCSIN_INVALID_RULE')) throw error;
    const details = error.details as { line: number; column: number; expected: string };
    expect(error.message).toContain(`expected ${details.expected} at ${details.line}:${details.column}`);
    return [details.line, details.column, details.expected];
  }
  throw new Error(`no error for ${query}`);
}

describe('parseQuery: one row per form of the grammar', () => {
  it.each<[string, string, QueryNode]>([
    ['word', 'neodymium', word('neodymium')],
    ['word is analysed', 'Zürich', word('zurich')],
    ['prefix', 'licen*', text(null, p('licen'))],
    ['prefix of 3', 'lic*', text(null, p('lic'))],
    ['phrase', '"rare earth"', text(null, w('rare'), w('earth'))],
    ['phrase with per-word prefix', '"export control*"', text(null, w('export'), p('control'))],
    ['phrase with prefix in the middle', '"export* control"', text(null, p('export'), w('control'))],
    ['unquoted multi-token word is a phrase', 'rare-earth', text(null, w('rare'), w('earth'))],
    ['U.S. is a phrase', 'U.S.', text(null, w('u'), w('s'))],
    ['prefix on the last token of a split word', 'rare-earth*', text(null, w('rare'), p('earth'))],
    ['field word', 'title:foo', text('title', w('foo'))],
    ['field phrase', 'title:"a phrase"', text('title', w('a'), w('phrase'))],
    ['field prefix', 'title:pre*', text('title', p('pre'))],
    ['dot path', 'entities.name:Japan', text('entities.name', w('japan'))],
    ['underscore field', 'my_field.x_1:y', text('my_field.x_1', w('y'))],
    [
      'field group',
      'commodities:(dysprosium OR "rare earths")',
      or(text('commodities', w('dysprosium')), text('commodities', w('rare'), w('earths'))),
    ],
    [
      'nested group in a field group',
      'title:(a (b OR c))',
      and(text('title', w('a')), or(text('title', w('b')), text('title', w('c')))),
    ],
    ['AND', 'a AND b', and(word('a'), word('b'))],
    ['juxtaposition', 'a b', and(word('a'), word('b'))],
    ['juxtaposition without space after a group', '(a)(b)', and(word('a'), word('b'))],
    ['OR', 'a OR b', or(word('a'), word('b'))],
    ['NOT', 'NOT a', not(word('a'))],
    ['minus', '-a', not(word('a'))],
    ['minus in a word is a separator', 'a-b', text(null, w('a'), w('b'))],
    ['grouping', '(a OR b) AND c', and(or(word('a'), word('b')), word('c'))],
    ['AND binds tighter than OR', 'a OR b AND c', or(word('a'), and(word('b'), word('c')))],
    ['NOT binds tighter than AND', 'NOT a AND b', and(not(word('a')), word('b'))],
    [
      'NEAR binds tighter than NOT',
      'NOT a NEAR/2 b',
      not({ kind: 'near', field: null, distance: 2, ordered: false, left: [w('a')], right: [w('b')] }),
    ],
    [
      'NEAR',
      'a NEAR/3 b',
      { kind: 'near', field: null, distance: 3, ordered: false, left: [w('a')], right: [w('b')] },
    ],
    [
      'NEAR/0',
      'a NEAR/0 b',
      { kind: 'near', field: null, distance: 0, ordered: false, left: [w('a')], right: [w('b')] },
    ],
    [
      'NEAR/50',
      'a NEAR/50 b',
      { kind: 'near', field: null, distance: 50, ordered: false, left: [w('a')], right: [w('b')] },
    ],
    [
      'ONEAR',
      'a ONEAR/1 b',
      { kind: 'near', field: null, distance: 1, ordered: true, left: [w('a')], right: [w('b')] },
    ],
    [
      'NEAR of phrases and prefixes',
      '"export control*" NEAR/1 "rare earth*"',
      {
        kind: 'near',
        field: null,
        distance: 1,
        ordered: false,
        left: [w('export'), p('control')],
        right: [w('rare'), p('earth')],
      },
    ],
    [
      'NEAR inside a field group',
      'title:(a NEAR/2 bbb*)',
      { kind: 'near', field: 'title', distance: 2, ordered: false, left: [w('a')], right: [p('bbb')] },
    ],
    [
      'NEAR inside AND',
      'x AND a NEAR/1 b',
      and(word('x'), {
        kind: 'near',
        field: null,
        distance: 1,
        ordered: false,
        left: [w('a')],
        right: [w('b')],
      }),
    ],
    [
      '>=',
      'severity:>=4',
      {
        kind: 'range',
        field: 'severity',
        lower: { text: '4', number: 4 },
        includeLower: true,
        includeUpper: false,
      },
    ],
    [
      '>',
      'severity:>4',
      {
        kind: 'range',
        field: 'severity',
        lower: { text: '4', number: 4 },
        includeLower: false,
        includeUpper: false,
      },
    ],
    [
      '<',
      'score:<-0.5',
      {
        kind: 'range',
        field: 'score',
        upper: { text: '-0.5', number: -0.5 },
        includeLower: false,
        includeUpper: false,
      },
    ],
    [
      '<=',
      'severity:<=2',
      {
        kind: 'range',
        field: 'severity',
        upper: { text: '2', number: 2 },
        includeLower: false,
        includeUpper: true,
      },
    ],
    [
      'date bound',
      'publishedAt:>=2026-07-01',
      {
        kind: 'range',
        field: 'publishedAt',
        lower: { text: '2026-07-01', instant: Date.UTC(2026, 6, 1) },
        includeLower: true,
        includeUpper: false,
      },
    ],
    [
      'quoted date-time bound',
      'publishedAt:<"2026-07-01T12:00:00Z"',
      {
        kind: 'range',
        field: 'publishedAt',
        upper: { text: '2026-07-01T12:00:00Z', instant: Date.UTC(2026, 6, 1, 12) },
        includeLower: false,
        includeUpper: false,
      },
    ],
    [
      'escaped colons in a bound',
      'publishedAt:<2026-07-01T12\\:00\\:00+02\\:00',
      {
        kind: 'range',
        field: 'publishedAt',
        upper: { text: '2026-07-01T12:00:00+02:00', instant: Date.UTC(2026, 6, 1, 10) },
        includeLower: false,
        includeUpper: false,
      },
    ],
    [
      'inclusive range',
      'severity:[2 TO 4]',
      {
        kind: 'range',
        field: 'severity',
        lower: { text: '2', number: 2 },
        upper: { text: '4', number: 4 },
        includeLower: true,
        includeUpper: true,
      },
    ],
    [
      'exclusive range',
      'severity:{2 TO 4}',
      {
        kind: 'range',
        field: 'severity',
        lower: { text: '2', number: 2 },
        upper: { text: '4', number: 4 },
        includeLower: false,
        includeUpper: false,
      },
    ],
    [
      'mixed range',
      'severity:[2 TO 4}',
      {
        kind: 'range',
        field: 'severity',
        lower: { text: '2', number: 2 },
        upper: { text: '4', number: 4 },
        includeLower: true,
        includeUpper: false,
      },
    ],
    [
      'open lower end',
      'severity:[* TO 4]',
      {
        kind: 'range',
        field: 'severity',
        upper: { text: '4', number: 4 },
        includeLower: true,
        includeUpper: true,
      },
    ],
    [
      'open upper end',
      'publishedAt:[2026-07-01 TO *]',
      {
        kind: 'range',
        field: 'publishedAt',
        lower: { text: '2026-07-01', instant: Date.UTC(2026, 6, 1) },
        includeLower: true,
        includeUpper: true,
      },
    ],
    [
      'comparisons in a field group',
      'severity:(>=2 AND <4)',
      and(
        {
          kind: 'range',
          field: 'severity',
          lower: { text: '2', number: 2 },
          includeLower: true,
          includeUpper: false,
        },
        {
          kind: 'range',
          field: 'severity',
          upper: { text: '4', number: 4 },
          includeLower: false,
          includeUpper: false,
        },
      ),
    ],
    ['number equality', 'severity:4', { kind: 'text', field: 'severity', words: [w('4')], literal: 4 }],
    [
      'negative decimal equality',
      'score:-0.5',
      { kind: 'text', field: 'score', words: [w('0'), w('5')], literal: -0.5 },
    ],
    [
      'boolean equality',
      'flagged:true',
      { kind: 'text', field: 'flagged', words: [w('true')], literal: true },
    ],
    ['bare number is a word', '2026', word('2026')],
    ['_exists_', '_exists_:summary', { kind: 'exists', field: 'summary' }],
    ['field:*', 'source.name:*', { kind: 'exists', field: 'source.name' }],
    ['quoted escapes', '"say \\"rare\\" \\\\ earth"', text(null, w('say'), w('rare'), w('earth'))],
    ['punctuation inside a phrase', '"rare - earth"', text(null, w('rare'), w('earth'))],
    ['escaped star is not a wildcard', 'ab\\*', word('ab')],
    ['escaped star in quotes is not a wildcard', '"ab\\*"', word('ab')],
    ['escaped colon is not a field', 'title\\:foo', text(null, w('title'), w('foo'))],
    ['escaped operator is a word', '\\AND', word('and')],
    ['escaped space joins', 'a\\ b', text(null, w('a'), w('b'))],
    [
      'lower-case and/or/not are words',
      'a and b or not c',
      and(word('a'), word('and'), word('b'), word('or'), word('not'), word('c')),
    ],
    ['lower-case near is a word', 'a near/2 b', and(word('a'), text(null, w('near'), w('2')), word('b'))],
    ['TO outside a range is a word', 'TO', word('to')],
    ['NEARBY is a word', 'NEARBY', word('nearby')],
    ['operator-like words', 'ANDROID ORACLE NOTE', and(word('android'), word('oracle'), word('note'))],
    ['white space around', '  \n a \t ', word('a')],
    ['multi-line query', '(a OR\n b)\nAND c', and(or(word('a'), word('b')), word('c'))],
    [
      'spec example',
      '("rare earth*" OR commodities:(dysprosium OR neodymium)) AND ("export control*" OR "export licen*" OR "export ban*") AND NOT category:opinion',
      and(
        or(
          text(null, w('rare'), p('earth')),
          or(text('commodities', w('dysprosium')), text('commodities', w('neodymium'))),
        ),
        or(
          text(null, w('export'), p('control')),
          text(null, w('export'), p('licen')),
          text(null, w('export'), p('ban')),
        ),
        not(text('category', w('opinion'))),
      ),
    ],
  ])('%s: %s', (_, query, expected) => {
    expect(parseQuery(query)).toEqual(expected);
  });
});

describe('parseQuery: errors name what was expected, and where', () => {
  it.each<[string, string, number, number, string]>([
    ['empty', '', 1, 1, 'a clause'],
    ['only spaces', '   ', 1, 4, 'a clause'],
    ['short wildcard', 'li*', 1, 1, 'at least 3 letters or digits before "*"'],
    ['short wildcard in a phrase', '"export li*"', 1, 9, 'at least 3 letters or digits before "*"'],
    ['short wildcard after a split', 'rare-ea*', 1, 1, 'at least 3 letters or digits before "*"'],
    ['star alone', '*', 1, 1, 'at least 3 letters or digits before "*"'],
    ['star inside a word', 'lic*nce', 1, 4, '"*" only at the end of a word'],
    ['star after a separator', 'foo-*', 1, 5, 'a letter or digit right before "*"'],
    ['word without letters', 'a - b', 1, 3, 'a word with a letter or digit'],
    ['phrase without letters', '"-- ,"', 1, 1, 'a phrase with a letter or digit'],
    ['star alone in a phrase', '"export *"', 1, 9, 'at least 3 letters or digits before "*"'],
    ['chained NEAR', 'a NEAR/1 b NEAR/1 c', 1, 12, 'AND, OR or the end of the query, not a second NEAR'],
    ['NEAR without n', 'a NEAR b', 1, 3, 'NEAR/n with n from 0 to 50'],
    ['NEAR/51', 'a NEAR/51 b', 1, 3, 'NEAR/n with n from 0 to 50'],
    ['ONEAR/x', 'a ONEAR/x b', 1, 3, 'ONEAR/n with n from 0 to 50'],
    [
      'NEAR operand with its own field',
      'title:a NEAR/2 b',
      1,
      1,
      'a word, prefix or phrase without a field of its own before NEAR',
    ],
    [
      'NEAR operand is a group',
      '(a OR b) NEAR/2 c',
      1,
      1,
      'a word, prefix or phrase without a field of its own before NEAR',
    ],
    [
      'NEAR right operand negated',
      'a NEAR/2 -b',
      1,
      10,
      'a word, prefix or phrase without a field of its own after NEAR',
    ],
    ['unclosed group', '(a OR b', 1, 8, '")" closing the "("'],
    ['unmatched close', 'a)', 1, 2, 'an operator or the end of the query'],
    ['unclosed quote', '"rare earth', 1, 12, "a '\"' closing the quote"],
    ['dangling AND', 'a AND', 1, 6, 'a clause'],
    ['double OR', 'a OR OR b', 1, 6, 'a clause'],
    ['space after colon', 'title: foo', 1, 7, 'a value directly after "title:"'],
    ['bad field name', 'rare-earth:foo', 1, 1, 'a field name'],
    [
      'field inside a field group',
      'title:(summary:foo)',
      1,
      15,
      'a clause without a field of its own inside "title:( … )"',
    ],
    ['unquoted colon in a bound', 'publishedAt:<2026-07-01T12:00:00Z', 1, 27, 'a bound without ":"'],
    ['bound neither number nor date', 'severity:>=high', 1, 12, 'a number or an ISO 8601 date or date-time'],
    ['impossible date', 'publishedAt:>=2026-02-30', 1, 15, 'a number or an ISO 8601 date or date-time'],
    ['range without TO', 'severity:[1 2]', 1, 13, '" TO " between the two bounds of a range'],
    ['range not closed', 'severity:[1 TO 2', 1, 17, '"]" or "}" to close the range'],
    ['range without field', '[1 TO 2]', 1, 1, 'a field before a range'],
    ['comparison without field', '>=4', 1, 1, 'a field before a comparison'],
    ['trailing backslash', 'abc\\', 1, 5, 'a character after "\\"'],
    ['error on a later line', 'a AND\n  (b OR c', 2, 10, '")" closing the "("'],
    ['error on a later line after CRLF', 'a AND\r\n  (b OR c', 2, 10, '")" closing the "("'],
    ['too long', 'a '.repeat(5_001), 1, 10_001, 'a query of at most 10000 characters'],
    ['too many clauses', `${'w '.repeat(1_000)}last`, 1, 2_001, 'at most 1000 clauses'],
    ['a NEAR operand counts once', `${'w '.repeat(999)}a NEAR/1 b c`, 1, 2_010, 'at most 1000 clauses'],
    ['too deep', `${'('.repeat(33)}a${')'.repeat(33)}`, 1, 33, 'at most 32 levels of nesting'],
    ['too many NOTs', `${'NOT '.repeat(33)}a`, 1, 129, 'at most 32 levels of nesting'],
  ])('%s', (_, query, line, column, expected) => {
    const [actualLine, actualColumn, actualExpected] = errorOf(query);
    expect(actualExpected).toContain(expected);
    expect([actualLine, actualColumn]).toEqual([line, column]);
  });

  it('accepts the limits themselves', () => {
    expect(() => parseQuery(`${'('.repeat(32)}a${')'.repeat(32)}`)).not.toThrow();
    expect(() => parseQuery(Array.from({ length: 1_000 }, (_, i) => `w${i}`).join(' '))).not.toThrow();
    expect(() => parseQuery('a'.repeat(queryLimits.maxLength))).not.toThrow();
  });
});

describe('parseQuery: fuzzing', () => {
  const validQueries = [
    '("rare earth*" OR commodities:(dysprosium OR neodymium)) AND ("export control*" OR "export licen*" OR "export ban*") AND NOT category:opinion',
    '"export control*" NEAR/1 "rare earth*"',
    'title:(sanction* OR embargo) -category:opinion severity:[3 TO *] publishedAt:>="2026-07-01T00:00:00Z"',
    '_exists_:summary entities.name:"United States" AND marketImpact.score:>=0.5 flagged:true',
    'a ONEAR/3 b OR (c d) OR "e \\"f\\" g" x\\:y',
  ];

  /** Only success or a TOCSIN_INVALID_RULE error, with work linear in the length. */
  function checkParse(query: string): void {
    try {
      const { steps } = parseQueryWithStats(query);
      expect(steps).toBeLessThanOrEqual(20 * (query.length + 1));
    } catch (error) {
      if (!isAppError(error, 'TOCSIN_INVALID_RULE')) throw error;
      const details = error.details as { line: number; column: number };
      expect(details.line).toBeGreaterThanOrEqual(1);
      expect(details.column).toBeGreaterThanOrEqual(1);
    }
  }

  const alphabet = fc.constantFrom(
    ...'aZ09 \t\n()[]{}"\\:*-<>=/.,ü😀',
    'AND',
    'OR',
    'NOT',
    'NEAR/2',
    'ONEAR/0',
    'TO',
    'title:',
    '_exists_:',
  );

  it('never throws anything but TOCSIN_INVALID_RULE on random text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (query) => checkParse(query)),
      { numRuns: 3_000 },
    );
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 80 }), (parts) => checkParse(parts.join(''))),
      { numRuns: 3_000 },
    );
  });

  it('never throws anything but TOCSIN_INVALID_RULE on mutations of valid queries', () => {
    const mutation = fc.record({
      query: fc.constantFrom(...validQueries),
      edits: fc.array(
        fc.record({ at: fc.nat(), remove: fc.nat({ max: 3 }), insert: fc.array(alphabet, { maxLength: 3 }) }),
        { minLength: 1, maxLength: 4 },
      ),
    });
    fc.assert(
      fc.property(mutation, ({ query, edits }) => {
        let mutated = query;
        for (const { at, remove, insert } of edits) {
          const index = at % (mutated.length + 1);
          mutated = mutated.slice(0, index) + insert.join('') + mutated.slice(index + remove);
        }
        checkParse(mutated);
      }),
      { numRuns: 5_000 },
    );
  });

  it('does linear work on long and adversarial inputs', () => {
    for (const query of [
      '('.repeat(5_000),
      'a '.repeat(4_999),
      '"'.repeat(9_999),
      'NOT '.repeat(2_000),
      `${'a OR '.repeat(999)}a`,
      '\\*'.repeat(4_999),
      `title:(${'a '.repeat(4_000)})`,
      'x'.repeat(10_000),
    ]) {
      checkParse(query);
    }
  });
});
