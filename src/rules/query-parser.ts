import { AppError } from '../errors.ts';
import { analyzeText } from './analyzer.ts';
import { parseInstant, parsePlainNumber } from './comparable-value.ts';
import type { Bound, QueryNode, RangeQuery, TextQuery, WordPattern } from './query-ast.ts';

/**
 * The rule query language (shared/spec/rule-language.md, "Grammar"). A hand-written,
 * scannerless recursive-descent parser: every character is looked at a bounded number of
 * times and recursion is bounded by `maxDepth`, so parsing is linear in the query length
 * whatever the input (no regular expression ever runs over user text of unbounded length).
 *
 *   query      = ws* or-expr ws* EOF
 *   or-expr    = and-expr { "OR" and-expr }
 *   and-expr   = not-expr { [ "AND" ] not-expr }              juxtaposition is AND
 *   not-expr   = ( "NOT" | "-" ) not-expr | near-expr          "-" directly before its operand
 *   near-expr  = clause [ ( "NEAR/" n | "ONEAR/" n ) clause ]  n in 0..50; both clauses a word,
 *                                                              prefix or phrase without own field;
 *                                                              a second NEAR is an error
 *   clause     = "(" or-expr ")"
 *              | "_exists_:" field-name
 *              | field-name ":" value                          no space after ":"
 *              | phrase | word
 *              | value                                         only inside field:( … ), whose
 *                                                              field applies to every clause
 *   value      = "(" or-expr ")"                               the field applies inside
 *              | phrase | "*"                                  "*": the field exists
 *              | ( ">=" | ">" | "<=" | "<" ) bound
 *              | ( "[" | "{" ) bound "TO" bound ( "]" | "}" )  "[" "]" inclusive, "{" "}" exclusive
 *              | word                                          a plain decimal or true/false also
 *                                                              equals a number/boolean value
 *   bound      = quoted | bare-bound | "*"                     "*" only in ranges; a number or an
 *                                                              ISO 8601 date / date-time
 *   field-name = name { "." name }      name = [A-Za-z_][A-Za-z0-9_]*
 *   phrase     = '"' { char | "\" char } '"'                   words split on spaces, each may end in "*"
 *   word       = { char | "\" char }+   up to space ( ) " :    may end in "*" (>= 3 letters before it)
 *
 * Operators are upper case (`and`, `or`, `not`, `near/2` are words); `TO` is an operator only
 * inside a range. Precedence, tightest first: NEAR/ONEAR, NOT/-, AND, OR.
 *
 * Errors are `AppError('TOCSIN_INVALID_RULE')` with `details: {line, column, offset, expected,
 * found}` (1-based line and column in UTF-16 units, relative to the query text).
 */

export const queryLimits = {
  maxLength: 10_000,
  maxClauses: 1_000,
  maxDepth: 32,
  minPrefixLength: 3,
  maxNearDistance: 50,
} as const;

export type QueryParseResult = {
  readonly query: QueryNode;
  /** Work done: characters read plus productions entered. Linear in the query length. */
  readonly steps: number;
};

/** Parses a rule query, throwing `TOCSIN_INVALID_RULE` with the position of the first problem. */
export function parseQuery(text: string): QueryNode {
  return parseQueryWithStats(text).query;
}

/** Where a 0-based offset of `text` is, as 1-based line and column (UTF-16 units). */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Word patterns are immutable and rules share their vocabulary, so each distinct one exists
 * once: with 100,000 rules this saves much of the memory their queries take.
 */
const wordPatterns = new Map<string, WordPattern>();
const maxWordPatterns = 1_000_000;

function wordPattern(token: string, prefix: boolean): WordPattern {
  const key = prefix ? `${token}*` : token;
  let pattern = wordPatterns.get(key);
  if (pattern === undefined) {
    if (wordPatterns.size >= maxWordPatterns) wordPatterns.clear();
    pattern = Object.freeze({ token, prefix });
    wordPatterns.set(key, pattern);
  }
  return pattern;
}

const fieldNamePattern = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const numericLiteral = /^-?[0-9]+(?:\.[0-9]+)?$/;

const BACKSLASH = 92;
const QUOTE = 34;
const OPEN = 40;
const CLOSE = 41;
const COLON = 58;
const STAR = 42;
const MINUS = 45;

function isSpace(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** Ends a bare word: space, parentheses, a quote, a colon, or the end (NaN). */
function endsWord(c: number): boolean {
  return Number.isNaN(c) || isSpace(c) || c === OPEN || c === CLOSE || c === QUOTE || c === COLON;
}

/** A word as written: its text with escapes resolved, and where its `*` are. */
type Chunk = {
  readonly value: string;
  /** Query offsets of the chunk. */
  readonly start: number;
  readonly end: number;
  readonly escaped: boolean;
  /** The last character is an unescaped `*`. */
  readonly starAtEnd: boolean;
  /** Query offset of an unescaped `*` that is not last, or -1. */
  readonly innerStar: number;
};

type Keyword =
  | { readonly kind: 'AND' | 'OR' | 'NOT' | 'TO'; readonly end: number }
  | { readonly kind: 'NEAR'; readonly end: number; readonly distance: number; readonly ordered: boolean };

/** What the clause just parsed was, for NEAR's operand checks. */
type ClauseInfo = { words: readonly WordPattern[] | null; ownField: boolean };

export function parseQueryWithStats(text: string): QueryParseResult {
  let pos = 0;
  let steps = 0;
  let clauses = 0;
  let depth = 0;
  const length = text.length;
  const last: ClauseInfo = { words: null, ownField: false };

  function describe(at: number): string {
    if (at >= length) return 'the end of the query';
    let end = at + 1;
    if (!endsWord(text.charCodeAt(at))) {
      while (end < length && end - at < 24 && !endsWord(text.charCodeAt(end))) end++;
    }
    return JSON.stringify(text.slice(at, end));
  }

  function fail(expected: string, at: number = pos, found: string | null = describe(at)): never {
    const { line, column } = lineColumnAt(text, at);
    const suffix = found === null ? '' : `, found ${found}`;
    throw new AppError('TOCSIN_INVALID_RULE', `expected ${expected} at ${line}:${column}${suffix}`, {
      details: { line, column, offset: at, expected, ...(found === null ? {} : { found }) },
    });
  }

  function skipSpace(): void {
    while (pos < length && isSpace(text.charCodeAt(pos))) {
      pos++;
      steps++;
    }
  }

  function countClause(at: number): void {
    if (++clauses > queryLimits.maxClauses) fail(`at most ${queryLimits.maxClauses} clauses`, at, null);
  }

  function enter(at: number): void {
    if (++depth > queryLimits.maxDepth) fail(`at most ${queryLimits.maxDepth} levels of nesting`, at, null);
  }

  /** The operator at `pos`, if the bare word there is one (without consuming it). */
  function peekKeyword(): Keyword | null {
    const c = text.charCodeAt(pos);
    if (!(c >= 65 && c <= 90)) return null;
    let end = pos;
    while (end < length && !endsWord(text.charCodeAt(end))) {
      if (text.charCodeAt(end) === BACKSLASH || end - pos > 12) return null;
      end++;
    }
    steps += end - pos;
    const word = text.slice(pos, end);
    if (word === 'AND' || word === 'OR' || word === 'NOT' || word === 'TO') return { kind: word, end };
    const ordered = word === 'ONEAR' || word.startsWith('ONEAR/');
    if (!ordered && word !== 'NEAR' && !word.startsWith('NEAR/')) return null;
    const rest = word.slice(ordered ? 5 : 4);
    const operator = ordered ? 'ONEAR' : 'NEAR';
    const max = queryLimits.maxNearDistance;
    if (!/^\/[0-9]{1,2}$/.test(rest) || Number(rest.slice(1)) > max) {
      fail(`${operator}/n with n from 0 to ${max}`);
    }
    return { kind: 'NEAR', end, distance: Number(rest.slice(1)), ordered };
  }

  /** Reads a bare word up to a space, ( ) " : or any character in `stops`. */
  function readChunk(stops = ''): Chunk {
    const start = pos;
    let value = '';
    let segment = pos;
    let escaped = false;
    let innerStar = -1;
    let starAtEnd = false;
    while (pos < length) {
      const c = text.charCodeAt(pos);
      if (endsWord(c) || (stops !== '' && stops.includes(text[pos]!))) break;
      steps++;
      if (starAtEnd && innerStar < 0) innerStar = pos - 1;
      if (c === BACKSLASH) {
        if (pos + 1 >= length) fail('a character after "\\"', pos + 1);
        value += text.slice(segment, pos) + text[pos + 1];
        pos += 2;
        segment = pos;
        escaped = true;
        starAtEnd = false;
        continue;
      }
      starAtEnd = c === STAR;
      pos++;
    }
    value += text.slice(segment, pos);
    return { value, start, end: pos, escaped, starAtEnd, innerStar };
  }

  /** Reads a quoted string (at its opening quote) into its space-separated chunks and its text. */
  function readQuoted(): { chunks: Chunk[]; value: string } {
    pos++;
    const chunks: Chunk[] = [];
    let value = '';
    let word = '';
    let wordStart = -1;
    let escaped = false;
    let innerStar = -1;
    let starAtEnd = false;
    const endWord = (end: number) => {
      if (wordStart >= 0) chunks.push({ value: word, start: wordStart, end, escaped, starAtEnd, innerStar });
      word = '';
      wordStart = -1;
      escaped = false;
      innerStar = -1;
      starAtEnd = false;
    };
    for (;;) {
      if (pos >= length) fail(`a '"' closing the quote`, pos);
      const c = text.charCodeAt(pos);
      steps++;
      if (c === QUOTE) {
        endWord(pos);
        pos++;
        return { chunks, value };
      }
      if (isSpace(c)) {
        endWord(pos);
        value += text[pos];
        pos++;
        continue;
      }
      if (wordStart < 0) wordStart = pos;
      if (starAtEnd && innerStar < 0) innerStar = pos - 1;
      if (c === BACKSLASH) {
        if (pos + 1 >= length) fail('a character after "\\"', pos + 1);
        word += text[pos + 1];
        value += text[pos + 1];
        pos += 2;
        escaped = true;
        starAtEnd = false;
        continue;
      }
      starAtEnd = c === STAR;
      word += text[pos];
      value += text[pos];
      pos++;
    }
  }

  /** The token patterns of one written word: analysed, with the `*` on its last token. */
  function patternsOf(chunk: Chunk, into: WordPattern[], inPhrase: boolean): void {
    if (chunk.innerStar >= 0) fail('"*" only at the end of a word', chunk.innerStar);
    const body = chunk.starAtEnd ? chunk.value.slice(0, -1) : chunk.value;
    const analysed = analyzeText(body);
    steps += body.length;
    const count = analysed.terms.length;
    const min = queryLimits.minPrefixLength;
    // In a phrase, a chunk of punctuation only (`"rare - earth"`) separates like a space.
    if (count === 0 && inPhrase && !chunk.starAtEnd) return;
    if (count === 0) {
      fail(
        chunk.starAtEnd ? `at least ${min} letters or digits before "*"` : 'a word with a letter or digit',
        chunk.start,
      );
    }
    for (let i = 0; i < count; i++) {
      const isPrefix = chunk.starAtEnd && i === count - 1;
      if (isPrefix) {
        if (analysed.ends[i] !== body.length) fail('a letter or digit right before "*"', chunk.end - 1);
        let codePoints = 0;
        for (const _ of analysed.terms[i]!) codePoints++;
        if (codePoints < min) fail(`at least ${min} letters or digits before "*"`, chunk.start);
      }
      into.push(wordPattern(analysed.terms[i]!, isPrefix));
    }
  }

  function textLeaf(
    field: string | null,
    chunks: readonly Chunk[],
    at: number,
    inPhrase: boolean,
    literal?: number | boolean,
  ): TextQuery {
    countClause(at);
    const words: WordPattern[] = [];
    for (const chunk of chunks) patternsOf(chunk, words, inPhrase);
    if (words.length === 0) fail('a phrase with a letter or digit', at);
    // `slice`: arrays grown by `push` keep spare capacity; 100,000 rules keep many of them.
    const exact = words.slice();
    return literal === undefined
      ? { kind: 'text', field, words: exact }
      : { kind: 'text', field, words: exact, literal };
  }

  function readFieldName(chunk: Chunk): string {
    if (chunk.escaped || !fieldNamePattern.test(chunk.value)) {
      fail('a field name (letters, digits and "_" joined by dots, e.g. entities.name)', chunk.start);
    }
    return chunk.value;
  }

  function readBound(inRange: boolean): Bound | undefined {
    const at = pos;
    let value: string;
    if (text.charCodeAt(pos) === QUOTE) {
      value = readQuoted().value;
    } else {
      const chunk = readChunk(inRange ? ']}' : '');
      if (text.charCodeAt(pos) === COLON) fail('a bound without ":" (quote a bound that holds a colon)', pos);
      if (inRange && chunk.value === '*' && !chunk.escaped) return undefined;
      value = chunk.value;
    }
    const number = parsePlainNumber(value);
    const instant = number === undefined ? parseInstant(value) : undefined;
    if (number === undefined && instant === undefined) {
      fail(`a number or an ISO 8601 date or date-time${inRange ? ' or *' : ''}`, at);
    }
    return number !== undefined ? { text: value, number } : { text: value, instant: instant! };
  }

  function comparison(field: string): RangeQuery {
    const at = pos;
    countClause(at);
    const op = text[pos]!;
    pos++;
    const inclusive = text.charCodeAt(pos) === 61; // "="
    if (inclusive) pos++;
    steps += 2;
    const bound = readBound(false);
    return op === '>'
      ? { kind: 'range', field, lower: bound!, includeLower: inclusive, includeUpper: false }
      : { kind: 'range', field, upper: bound!, includeLower: false, includeUpper: inclusive };
  }

  function range(field: string): RangeQuery {
    countClause(pos);
    const includeLower = text[pos] === '[';
    pos++;
    skipSpace();
    const lower = readBound(true);
    const beforeTo = pos;
    skipSpace();
    const to = pos > beforeTo ? peekKeyword() : null;
    if (to?.kind !== 'TO') fail('" TO " between the two bounds of a range');
    pos = to.end;
    skipSpace();
    const upper = readBound(true);
    skipSpace();
    const close = text[pos];
    if (close !== ']' && close !== '}') fail('"]" or "}" to close the range');
    pos++;
    const node: RangeQuery = { kind: 'range', field, includeLower, includeUpper: close === ']' };
    return { ...node, ...(lower && { lower }), ...(upper && { upper }) };
  }

  /** What follows `field:` (or a clause inside `field:( … )`, with `inGroup`). */
  function parseValue(field: string, inGroup: boolean): QueryNode {
    steps++;
    const at = pos;
    const c = text.charCodeAt(pos);
    last.words = null;
    last.ownField = !inGroup;
    if (Number.isNaN(c) || isSpace(c) || c === CLOSE) {
      fail(inGroup ? 'a clause' : `a value directly after "${field}:"`);
    }
    if (c === OPEN) return parseGroup(field, at);
    if (c === QUOTE) {
      const node = textLeaf(field, readQuoted().chunks, at, true);
      last.words = node.words;
      last.ownField = !inGroup;
      return node;
    }
    if (c === 62 || c === 60) return comparison(field); // > <
    if (c === 91 || c === 123) return range(field); // [ {
    if (c === STAR && endsWord(text.charCodeAt(pos + 1))) {
      countClause(at);
      pos++;
      return { kind: 'exists', field };
    }
    const chunk = readChunk();
    if (text.charCodeAt(pos) === COLON) {
      fail(
        inGroup
          ? `a clause without a field of its own inside "${field}:( … )"`
          : 'a value without ":" (quote it)',
      );
    }
    let literal: number | boolean | undefined;
    if (!chunk.starAtEnd && !chunk.escaped) {
      if (numericLiteral.test(chunk.value)) literal = Number(chunk.value);
      else if (/^(?:true|false)$/i.test(chunk.value)) literal = chunk.value.toLowerCase() === 'true';
    }
    const node = textLeaf(field, [chunk], at, false, literal);
    last.words = node.words;
    last.ownField = !inGroup;
    return node;
  }

  /** `( … )` at `at`, its clauses in `field` (null: the default fields). */
  function parseGroup(field: string | null, at: number): QueryNode {
    pos++;
    enter(at);
    const node = parseOr(field);
    skipSpace();
    if (text.charCodeAt(pos) !== CLOSE) fail(`")" closing the "("`);
    pos++;
    depth--;
    last.words = null;
    return node;
  }

  function parseClause(field: string | null): QueryNode {
    steps++;
    const at = pos;
    const c = text.charCodeAt(pos);
    last.words = null;
    last.ownField = false;
    if (Number.isNaN(c) || c === CLOSE) fail('a clause (a word, a "phrase", field:value or "(")');
    const keyword = peekKeyword();
    if (keyword !== null && keyword.kind !== 'TO') fail('a clause (a word, a "phrase", field:value or "(")');
    if (field !== null) return parseValue(field, true);
    if (c === OPEN) return parseGroup(null, at);
    if (c === QUOTE) {
      const node = textLeaf(null, readQuoted().chunks, at, true);
      last.words = node.words;
      return node;
    }
    if ((c === 62 || c === 60) && !endsWord(text.charCodeAt(pos + 1))) {
      fail('a field before a comparison (e.g. severity:>=4)');
    }
    if (c === 91 || c === 123) fail('a field before a range (e.g. severity:[2 TO 4])');
    const chunk = readChunk();
    if (text.charCodeAt(pos) === COLON && !chunk.escaped) {
      const name = readFieldName(chunk);
      pos++;
      if (name === '_exists_') {
        const target = readChunk();
        countClause(at);
        return { kind: 'exists', field: readFieldName(target) };
      }
      return parseValue(name, false);
    }
    const node = textLeaf(null, [chunk], at, false);
    last.words = node.words;
    return node;
  }

  function parseNear(field: string | null): QueryNode {
    steps++;
    const at = pos;
    const left = parseClause(field);
    const leftWords = last.words;
    const leftOwnField = last.ownField;
    const afterLeft = pos;
    skipSpace();
    const keyword = pos > afterLeft ? peekKeyword() : null;
    if (keyword?.kind !== 'NEAR') {
      pos = afterLeft;
      return left;
    }
    const name = keyword.ordered ? 'ONEAR' : 'NEAR';
    if (leftWords === null || leftOwnField) {
      fail(
        `a word, prefix or phrase without a field of its own before ${name} (write field:(a ${name}/n b))`,
        at,
      );
    }
    pos = keyword.end;
    skipSpace();
    const rightAt = pos;
    const negated = text.charCodeAt(pos) === MINUS || peekKeyword()?.kind === 'NOT';
    clauses--; // the two operands count as one clause
    if (!negated) parseClause(field);
    if (negated || last.words === null || last.ownField) {
      fail(`a word, prefix or phrase without a field of its own after ${name}`, rightAt);
    }
    const right = last.words;
    last.words = null;
    return {
      kind: 'near',
      field,
      distance: keyword.distance,
      ordered: keyword.ordered,
      left: leftWords,
      right,
    };
  }

  function parseNot(field: string | null): QueryNode {
    steps++;
    const at = pos;
    const c = text.charCodeAt(pos);
    const isMinus = c === MINUS && pos + 1 < length && !isSpace(text.charCodeAt(pos + 1));
    const keyword = isMinus ? null : peekKeyword();
    if (!isMinus && keyword?.kind !== 'NOT') return parseNear(field);
    pos = isMinus ? pos + 1 : keyword!.end;
    skipSpace();
    enter(at);
    const child = parseNot(field);
    depth--;
    return { kind: 'not', child };
  }

  function parseAnd(field: string | null): QueryNode {
    steps++;
    const children = [parseNot(field)];
    for (;;) {
      skipSpace();
      if (pos >= length || text.charCodeAt(pos) === CLOSE) break;
      const keyword = peekKeyword();
      if (keyword?.kind === 'OR') break;
      if (keyword?.kind === 'NEAR') {
        fail('AND, OR or the end of the query, not a second NEAR (A NEAR/n B NEAR/n C is not allowed)');
      }
      if (keyword?.kind === 'AND') {
        pos = keyword.end;
        skipSpace();
      }
      children.push(parseNot(field));
    }
    return children.length === 1 ? children[0]! : { kind: 'and', children: children.slice() };
  }

  function parseOr(field: string | null): QueryNode {
    steps++;
    skipSpace();
    const children = [parseAnd(field)];
    for (;;) {
      skipSpace();
      const keyword = peekKeyword();
      if (keyword?.kind !== 'OR') break;
      pos = keyword.end;
      skipSpace();
      children.push(parseAnd(field));
    }
    return children.length === 1 ? children[0]! : { kind: 'or', children: children.slice() };
  }

  if (length > queryLimits.maxLength) {
    fail(`a query of at most ${queryLimits.maxLength} characters`, queryLimits.maxLength, null);
  }
  skipSpace();
  const query = parseOr(null);
  skipSpace();
  if (pos < length) fail('an operator or the end of the query');
  return { query, steps };
}
