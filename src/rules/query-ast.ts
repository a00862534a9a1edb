/**
 * The parsed form of a rule's `query` (shared/spec/rule-language.md, "Grammar").
 * Words are stored analysed (lower case, marks removed), so evaluation compares tokens only.
 */

/** The fields a clause without `field:` looks in, in this order (the order explanations follow). */
export const defaultFields = [
  'title',
  'summary',
  'body',
  'topics',
  'keywords',
  'commodities',
  'regions',
  'entities.name',
  'signals',
  'implications',
] as const;

/** One token of a word or phrase: equal to `token`, or starting with it when `prefix`. */
export type WordPattern = { readonly token: string; readonly prefix: boolean };

/**
 * A word, a prefix or a phrase: consecutive tokens of one value, each matching its pattern.
 * `literal` is set for `field:4` / `field:true`, which also hold for an equal number or boolean value.
 */
export type TextQuery = {
  readonly kind: 'text';
  /** A dot path, or null for the default fields. */
  readonly field: string | null;
  readonly words: readonly WordPattern[];
  readonly literal?: number | boolean;
};

/** `A NEAR/n B` (`ordered: false`) or `A ONEAR/n B` (`ordered: true`, A before B). */
export type NearQuery = {
  readonly kind: 'near';
  readonly field: string | null;
  readonly distance: number;
  readonly ordered: boolean;
  readonly left: readonly WordPattern[];
  readonly right: readonly WordPattern[];
};

/** A comparison bound as written, with what it parses as (at least one of the two is set). */
export type Bound = { readonly text: string; readonly number?: number; readonly instant?: number };

/** `field:[a TO b]`, `field:{a TO b}` and the comparisons (`field:>=a` is `[a TO *]`). A missing end is `*`. */
export type RangeQuery = {
  readonly kind: 'range';
  readonly field: string;
  readonly lower?: Bound;
  readonly upper?: Bound;
  readonly includeLower: boolean;
  readonly includeUpper: boolean;
};

/** `_exists_:field` or `field:*`. */
export type ExistsQuery = { readonly kind: 'exists'; readonly field: string };

export type AndQuery = { readonly kind: 'and'; readonly children: readonly QueryNode[] };
export type OrQuery = { readonly kind: 'or'; readonly children: readonly QueryNode[] };
export type NotQuery = { readonly kind: 'not'; readonly child: QueryNode };

export type QueryNode = TextQuery | NearQuery | RangeQuery | ExistsQuery | AndQuery | OrQuery | NotQuery;

/** The clauses that explain a match: every node but the boolean operators. */
export type LeafQuery = TextQuery | NearQuery | RangeQuery | ExistsQuery;
