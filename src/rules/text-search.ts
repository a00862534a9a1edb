import type { EventAnalysis, FieldValues } from './event-analysis.ts';
import { defaultFields, type NearQuery, type TextQuery, type WordPattern } from './query-ast.ts';

/**
 * Finding the first occurrence of a word, prefix, phrase or NEAR pair in an event.
 * "First" is fixed by the spec's explanation order: fields in default-field order (or the one
 * field named), then values in flattened order, then token position (for a NEAR pair: its
 * first token, then its last). Two implementations exist: `scanSearch` below reads every token
 * (the reference), the rule index reads its posting lists; both must return the same hit.
 */

/** Tokens `first..last` (inclusive) of value `valueIndex` of `field`. */
export type TextHit = {
  readonly field: FieldValues;
  readonly valueIndex: number;
  readonly first: number;
  readonly last: number;
};

export type TextSearch = {
  findText(node: TextQuery, analysis: EventAnalysis): TextHit | undefined;
  findNear(node: NearQuery, analysis: EventAnalysis): TextHit | undefined;
};

export function fieldsOf(field: string | null): readonly string[] {
  return field === null ? defaultFields : [field];
}

export function wordMatches(term: string, word: WordPattern): boolean {
  return word.prefix ? term.startsWith(word.token) : term === word.token;
}

/** Whether the phrase `words` occurs at token `start` of `terms`. */
export function phraseAt(terms: readonly string[], words: readonly WordPattern[], start: number): boolean {
  if (start < 0 || start + words.length > terms.length) return false;
  for (let j = 0; j < words.length; j++) {
    if (!wordMatches(terms[start + j]!, words[j]!)) return false;
  }
  return true;
}

/** Every start position of the phrase `words` in `terms`, ascending. */
export function phraseStarts(terms: readonly string[], words: readonly WordPattern[]): number[] {
  const starts: number[] = [];
  const first = words[0]!;
  for (let s = 0; s + words.length <= terms.length; s++) {
    if (wordMatches(terms[s]!, first) && phraseAt(terms, words, s)) starts.push(s);
  }
  return starts;
}

/**
 * The first NEAR pair of one value: the left phrase (length `leftLength`, at one of
 * `leftStarts`) and the right one, not overlapping, with at most `distance` tokens between
 * them (right after left only, when `ordered`). First = smallest first token, then smallest
 * last token. Both start lists ascending; linear in their lengths.
 */
export function nearestPair(
  leftStarts: readonly number[],
  leftLength: number,
  rightStarts: readonly number[],
  rightLength: number,
  distance: number,
  ordered: boolean,
): { first: number; last: number } | undefined {
  let bestFirst = Number.POSITIVE_INFINITY;
  let bestLast = Number.POSITIVE_INFINITY;
  let after = 0;
  let before = 0;
  // No early exit: a later left occurrence can pair with a right one that starts earlier.
  for (const a of leftStarts) {
    // Right after left: it starts in [a + leftLength, a + leftLength + distance].
    const low = a + leftLength;
    while (after < rightStarts.length && rightStarts[after]! < low) after++;
    if (after < rightStarts.length && rightStarts[after]! <= low + distance) {
      const last = rightStarts[after]! + rightLength - 1;
      if (a < bestFirst || (a === bestFirst && last < bestLast)) {
        bestFirst = a;
        bestLast = last;
      }
    }
    if (ordered) continue;
    // Right before left: it ends in [a - 1 - distance, a - 1], so starts in [a - distance - rightLength, a - rightLength].
    const from = a - distance - rightLength;
    while (before < rightStarts.length && rightStarts[before]! < from) before++;
    if (before < rightStarts.length && rightStarts[before]! <= a - rightLength) {
      const first = rightStarts[before]!;
      const last = a + leftLength - 1;
      if (first < bestFirst || (first === bestFirst && last < bestLast)) {
        bestFirst = first;
        bestLast = last;
      }
    }
  }
  return bestFirst === Number.POSITIVE_INFINITY ? undefined : { first: bestFirst, last: bestLast };
}

/** The first NEAR pair in one analysed value, by scanning its tokens. */
export function nearInTerms(
  terms: readonly string[],
  node: NearQuery,
): { first: number; last: number } | undefined {
  const left = phraseStarts(terms, node.left);
  if (left.length === 0) return undefined;
  const right = phraseStarts(terms, node.right);
  if (right.length === 0) return undefined;
  return nearestPair(left, node.left.length, right, node.right.length, node.distance, node.ordered);
}

/** The reference search: reads every token of every value of the fields concerned. */
export const scanSearch: TextSearch = {
  findText(node, analysis) {
    const words = node.words;
    for (const path of fieldsOf(node.field)) {
      const field = analysis.field(path);
      for (let v = 0; v < field.values.length; v++) {
        const analysed = analysis.analysedValue(field, v);
        if (analysed === undefined) continue;
        const terms = analysed.terms;
        for (let s = 0; s + words.length <= terms.length; s++) {
          if (phraseAt(terms, words, s))
            return { field, valueIndex: v, first: s, last: s + words.length - 1 };
        }
      }
    }
    return undefined;
  },
  findNear(node, analysis) {
    for (const path of fieldsOf(node.field)) {
      const field = analysis.field(path);
      for (let v = 0; v < field.values.length; v++) {
        const analysed = analysis.analysedValue(field, v);
        if (analysed === undefined) continue;
        const pair = nearInTerms(analysed.terms, node);
        if (pair !== undefined) return { field, valueIndex: v, ...pair };
      }
    }
    return undefined;
  },
};
