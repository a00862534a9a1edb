import { analyzeTerms } from './analyzer.ts';
import { defaultFields, type QueryNode, type WordPattern } from './query-ast.ts';

/**
 * A cheap "could this rule match this event?" for events stored long before the rule was
 * written (the preview ring): the event keeps its *term text*, the analysed tokens of every
 * value it holds, and a rule's query is checked against it (its words and phrases, through
 * its ANDs and ORs, like the rule index's presearch) before the event is decompressed, parsed
 * and analysed in full. The check is plain substring search, so the store can run it in SQL
 * (`instr`, `strpos`) and hand over only the candidates.
 *
 * The term text is `" t1 t2 | t3 … "`: each value's tokens (analyzer.ts) joined by one space,
 * values separated by `" | "`; a value outside the default fields has each token marked with
 * `:` (`" :lithium :producers "`). Tokens are runs of letters and digits, so `" word "` occurs
 * exactly when `word` is a token of a default field, `" :word "` of another field, `" pre"`
 * when some default-field token starts with `pre`, and `" a b "` when `a` is followed by `b`
 * in one value.
 *
 * Soundness is all that matters (a false "may match" only costs time): a word or phrase names
 * a default field (or none, meaning the default fields) or another field, and every token of
 * that field is in the term text with the matching mark, in value order, so a phrase found
 * there is found here too. Numbers and booleans contribute the tokens of their JSON text, so nothing the query
 * language compares as text is left out.
 */

/** Arrays and objects nested deeper than this are not looked into (the event-analysis guard). */
const maxNesting = 64;

const isDefaultField = new Set<string>(defaultFields);

/**
 * The term text of an event, or null when it would be longer than `maxChars` (a huge body):
 * such an event is then always a candidate, which keeps the stored text bounded.
 */
export function eventTermText(event: object, maxChars = 64 * 1024): string | null {
  const values: string[] = [];
  let length = 2;
  const add = (text: string, path: string): boolean => {
    const terms = analyzeTerms(text);
    if (terms.length === 0) return true;
    const joined = isDefaultField.has(path) ? terms.join(' ') : `:${terms.join(' :')}`;
    length += joined.length + 3;
    if (length > maxChars) return false;
    values.push(joined);
    return true;
  };
  // `path` is the value's dot path, arrays crossed without a segment (as rules name fields).
  const walk = (value: unknown, path: string, nesting: number): boolean => {
    if (typeof value === 'string') return add(value, path);
    if (typeof value === 'number' || typeof value === 'boolean') return add(String(value), path);
    if (value === null || typeof value !== 'object' || nesting >= maxNesting) return true;
    if (Array.isArray(value)) {
      for (const item of value) if (!walk(item, path, nesting + 1)) return false;
      return true;
    }
    for (const [key, item] of Object.entries(value)) {
      // A key with a dot in it is out of every rule's reach (a dot path splits at each dot), so
      // its values are left out: kept, a top-level `"entities.name"` would pass for a default field.
      if (key.includes('.')) continue;
      if (!walk(item, path === '' ? key : `${path}.${key}`, nesting + 1)) return false;
    }
    return true;
  };
  if (!walk(event, '', 0)) return null;
  return ` ${values.join(' | ')} `;
}

/**
 * What a term text must contain for a query to possibly hold: a needle (a substring), all of
 * several, or any of several. It mirrors the query: a word or phrase needs its tokens in a row
 * (`" rare earth "`, split after a prefix word: `"rare* earth"` needs `" rare"` and `" earth "`),
 * NEAR both sides, AND all of its children that need something, OR any of its children (or
 * nothing, when one of them needs nothing). NOT, ranges, comparisons, `_exists_` and `field:4`
 * need nothing: they hold without any particular token.
 */
export type TermCondition =
  | string
  | { readonly all: readonly TermCondition[] }
  | { readonly any: readonly TermCondition[] };

/** Null: the query needs no token (every event must then be evaluated). */
export function termCondition(query: QueryNode): TermCondition | null {
  switch (query.kind) {
    case 'text':
      return query.literal === undefined ? allOf(phraseNeedles(query.words, query.field)) : null;
    case 'near':
      return allOf([...phraseNeedles(query.left, query.field), ...phraseNeedles(query.right, query.field)]);
    case 'and':
      return allOf(query.children.map(termCondition).filter((child) => child !== null));
    case 'or': {
      const children: TermCondition[] = [];
      for (const child of query.children) {
        const condition = termCondition(child);
        if (condition === null) return null;
        children.push(condition);
      }
      return children.length === 1 ? children[0]! : { any: children };
    }
    default:
      return null;
  }
}

function allOf(parts: TermCondition[]): TermCondition | null {
  if (parts.length === 0) return null;
  return parts.length === 1 ? parts[0]! : { all: parts };
}

/** The needles of a phrase: runs of its words, each run ending at a prefix word or the end. */
function phraseNeedles(words: readonly WordPattern[], field: string | null): string[] {
  const mark = field === null || isDefaultField.has(field) ? '' : ':';
  const needles: string[] = [];
  let run = '';
  for (const word of words) {
    run += ` ${mark}${word.token}`;
    if (word.prefix) {
      needles.push(run);
      run = '';
    }
  }
  if (run !== '') needles.push(`${run} `);
  return needles;
}

/** The condition checked in memory; a term text that is not known (null) always may match. */
export function mayMatchTerms(condition: TermCondition, termText: string | null): boolean {
  if (termText === null) return true;
  const holds = (part: TermCondition): boolean => {
    if (typeof part === 'string') return termText.includes(part);
    return 'all' in part ? part.all.every(holds) : part.any.some(holds);
  };
  return holds(condition);
}

/**
 * The query decided on the term text alone, when the term text holds all it asks about: words,
 * prefixes and phrases of the default fields (a phrase with no prefix word but maybe its last),
 * through AND, OR and NOT. Such a clause holds exactly when its one needle occurs: the term text
 * has every token of every default-field value in order, values apart, and nothing else unmarked.
 * Null for any other query (a field named, NEAR, a comparison…): it needs the event itself.
 *
 * A preview uses it to count the matches it need not explain without inflating, parsing or
 * analysing the event; the term text must be that of a stored (schema-valid) event, whose
 * default fields hold only strings.
 */
export function termTextTest(query: QueryNode): ((termText: string) => boolean) | null {
  switch (query.kind) {
    case 'text': {
      if (query.field !== null || query.literal !== undefined) return null;
      if (query.words.slice(0, -1).some((word) => word.prefix)) return null;
      const [needle] = phraseNeedles(query.words, null);
      return needle === undefined ? null : (termText) => termText.includes(needle);
    }
    case 'and':
    case 'or': {
      const children: ((termText: string) => boolean)[] = [];
      for (const child of query.children) {
        const test = termTextTest(child);
        if (test === null) return null;
        children.push(test);
      }
      return query.kind === 'and'
        ? (termText) => children.every((test) => test(termText))
        : (termText) => children.some((test) => test(termText));
    }
    case 'not': {
      const test = termTextTest(query.child);
      return test === null ? null : (termText) => !test(termText);
    }
    default:
      return null;
  }
}
