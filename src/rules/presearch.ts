import type { QueryNode, WordPattern } from './query-ast.ts';

/**
 * The presearch idea of Lucene Monitor and the Elasticsearch percolator: from a query derive
 * terms an event must hold for the query to possibly hold. The rule index looks up an event's
 * tokens once and fully evaluates only the rules whose terms showed up.
 *
 * A query gives up to four *groups* of terms taken from different required parts of it (the
 * children of its top-level AND, the operands of a NEAR, the words of a phrase): when the query
 * holds, each group has a term that occurs in the event, in the field the term names (or a
 * default field). Requiring several groups instead of one (Lucene Monitor's multipass idea)
 * keeps a rule out of the candidates unless all those parts have a chance; the groups are
 * checked with bit operations while the event's tokens are looked up.
 *
 * False positives only cost time; a false negative would be a missed alert, so every choice
 * keeps the invariant "query holds ⇒ every group has a term that occurs". Without corpus
 * statistics selectivity is guessed: long exact tokens are rarer than short ones and stop words,
 * a prefix matches more than a word, a term confined to a short field (commodities, title) is
 * rarer than one anywhere.
 */

export type PresearchTerm = { readonly word: WordPattern; readonly field: string | null };

const stopWords = new Set(
  (
    'a an and are as at be been but by can could for from had has have he her his i if in into is it its ' +
    'more most new not of on or other our over s she so such than that the their them then there these ' +
    'they this to under was we were which while will with would you'
  ).split(' '),
);

/** A guess at how often a word occurs in an event's text: lower is rarer. */
export function wordCost(word: WordPattern): number {
  const length = word.token.length;
  if (word.prefix) return 2 + 32 / length;
  if (stopWords.has(word.token)) return 100;
  return 1 + 16 / length;
}

function fieldFactor(field: string | null): number {
  if (field === null) return 1;
  if (field === 'body') return 0.8;
  if (field === 'summary') return 0.5;
  return 0.25;
}

/**
 * The word of a phrase (or word, or prefix) that the index looks up: the rarest by `wordCost`,
 * the first on ties. Both the presearch and the indexed search use it, so it depends on the
 * words alone.
 */
export function anchorIndex(words: readonly WordPattern[]): number {
  let best = 0;
  let bestCost = wordCost(words[0]!);
  for (let i = 1; i < words.length; i++) {
    const cost = wordCost(words[i]!);
    if (cost < bestCost) {
      best = i;
      bestCost = cost;
    }
  }
  return best;
}

export function anchorOf(words: readonly WordPattern[]): WordPattern {
  return words[anchorIndex(words)]!;
}

/** Terms one of which occurs whenever some part of a query holds, and how common that is. */
type Requirement = { readonly terms: readonly PresearchTerm[]; readonly cost: number };

/**
 * The token of a *pair term*: two exact words adjacent in one value, in this order. Analysed
 * tokens are runs of letters and digits, so the space keeps it apart from every event token;
 * the rule index posts it like a word and records it while scanning adjacent tokens.
 */
export function pairToken(first: string, second: string): string {
  return `${first} ${second}`;
}

/** The two words of a pair term's token, or null for a word. */
export function pairWords(token: string): [string, string] | null {
  const space = token.indexOf(' ');
  return space < 0 ? null : [token.slice(0, space), token.slice(space + 1)];
}

/** Whether a word of a phrase can be half of a pair term: exact and not a stop word. */
function pairable(word: WordPattern): boolean {
  return !word.prefix && !stopWords.has(word.token);
}

/**
 * Every word of a phrase must occur: each is a requirement of its own (stop words aside); so
 * must every two adjacent exact words, next to each other, which is far rarer than either.
 */
function wordsOf(words: readonly WordPattern[], field: string | null, into: Requirement[]): void {
  for (const word of words) {
    if (words.length > 1 && !word.prefix && stopWords.has(word.token)) continue;
    into.push({ terms: [{ word, field }], cost: wordCost(word) * fieldFactor(field) });
  }
  for (let i = 0; i + 1 < words.length; i++) {
    const first = words[i]!;
    const second = words[i + 1]!;
    if (!pairable(first) || !pairable(second)) continue;
    const cost = Math.min(wordCost(first), wordCost(second)) * 0.25;
    into.push({
      terms: [{ word: { token: pairToken(first.token, second.token), prefix: false }, field }],
      cost: cost * fieldFactor(field),
    });
  }
}

/** Requirements that all hold when `node` holds (the parts of an AND, the operands of a NEAR). */
function conjuncts(node: QueryNode, into: Requirement[]): void {
  switch (node.kind) {
    case 'text':
      // `field:4` also holds for the number 4, which has no token: nothing to look up.
      if (node.literal === undefined) wordsOf(node.words, node.field, into);
      return;
    case 'near':
      wordsOf(node.left, node.field, into);
      wordsOf(node.right, node.field, into);
      return;
    case 'and':
      for (const child of node.children) conjuncts(child, into);
      return;
    case 'or': {
      // Some child holds: each child must offer a requirement, and any of them may be the one.
      const terms: PresearchTerm[] = [];
      let cost = 0;
      for (const child of node.children) {
        const best = cheapest(child);
        if (best === null) return;
        terms.push(...best.terms);
        cost += best.cost;
      }
      into.push({ terms, cost });
      return;
    }
    default:
      // NOT, ranges, comparisons and `_exists_` hold without any particular token.
      return;
  }
}

function cheapest(node: QueryNode): Requirement | null {
  const parts: Requirement[] = [];
  conjuncts(node, parts);
  let best: Requirement | null = null;
  for (const part of parts) if (best === null || part.cost < best.cost) best = part;
  return best;
}

/**
 * Up to `maxGroups` groups of terms such that, when the query holds, every group has a term
 * occurring in the event; null when there is none (the query is evaluated for every event).
 */
export function presearchGroups(query: QueryNode, maxGroups = 4): PresearchTerm[][] | null {
  const parts: Requirement[] = [];
  conjuncts(query, parts);
  if (parts.length === 0) return null;
  const seen = new Set<string>();
  return parts
    .map((part, order) => ({ part, order }))
    .sort((a, b) => a.part.cost - b.part.cost || a.order - b.order)
    .filter(({ part }) => {
      const key = part.terms
        .map(({ word, field }) => `${field}:${word.token}${word.prefix ? '*' : ''}`)
        .join(' ');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .slice(0, maxGroups)
    .map(({ part }) => [...part.terms]);
}
