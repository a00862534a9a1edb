import { analyzeTerms } from './analyzer.ts';
import { pairWords, presearchGroups } from './presearch.ts';
import { defaultFields, type QueryNode } from './query-ast.ts';

/**
 * A cheap "could this rule match this event?" for events stored long before the rule was
 * written (the preview ring): the event keeps its *term text*, the analysed tokens of every
 * value it holds, and a rule is checked against it with the presearch groups the rule index
 * uses (presearch.ts) before the event is decompressed, parsed and analysed in full. The check
 * is plain substring search, so the store can run it in SQL (`instr`, `strpos`) and hand over
 * only the candidates.
 *
 * The term text is `" t1 t2 | t3 … "`: each value's tokens (analyzer.ts) joined by one space,
 * values separated by `" | "`; a value outside the default fields has each token marked with
 * `:` (`" :lithium :producers "`). Tokens are runs of letters and digits, so `" word "` occurs
 * exactly when `word` is a token of a default field, `" :word "` of another field, `" pre"`
 * when some default-field token starts with `pre`, and `" a b "` when `a` is followed by `b`
 * in one value (what a presearch pair term means).
 *
 * Soundness is all that matters (a false "may match" only costs time): a presearch term names
 * a default field (or none, meaning the default fields) or another field, and every token of
 * that field is in the term text with the matching mark, so a term found there is found here
 * too. Numbers and booleans contribute the tokens of their JSON text, so nothing the query
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
      if (!walk(item, path === '' ? key : `${path}.${key}`, nesting + 1)) return false;
    }
    return true;
  };
  if (!walk(event, '', 0)) return null;
  return ` ${values.join(' | ')} `;
}

/**
 * What a term text must contain for a query to possibly hold: every group has some needle that
 * occurs in it (AND of ORs). Null when the query has no presearch terms (only NOT, ranges,
 * `_exists_`…): every event must then be evaluated.
 */
export type TermNeedles = readonly (readonly string[])[];

export function termNeedles(query: QueryNode): TermNeedles | null {
  const groups = presearchGroups(query);
  if (groups === null) return null;
  return groups.map((group) =>
    group.map(({ word, field }) => {
      const mark = field === null || isDefaultField.has(field) ? '' : ':';
      const pair = pairWords(word.token);
      if (pair !== null) return ` ${mark}${pair[0]} ${mark}${pair[1]} `;
      return word.prefix ? ` ${mark}${word.token}` : ` ${mark}${word.token} `;
    }),
  );
}

/** The needles checked in memory; a term text that is not known (null) always may match. */
export function mayMatchTerms(needles: TermNeedles, termText: string | null): boolean {
  if (termText === null) return true;
  return needles.every((group) => group.some((needle) => termText.includes(needle)));
}
