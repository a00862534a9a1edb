import type { MatchExplanation } from '../alerts/alert.ts';
import { valueAsInstant, valueAsNumber } from './comparable-value.ts';
import { createEventAnalysis, type EventAnalysis, type FieldValues } from './event-analysis.ts';
import type { Bound, ExistsQuery, LeafQuery, QueryNode, RangeQuery, TextQuery } from './query-ast.ts';
import { scanSearch, type TextHit, type TextSearch } from './text-search.ts';

/**
 * Whether a query holds for an event, and why (shared/spec/rule-language.md; the `matches`
 * of shared/spec/contracts.md).
 *
 * Explanations: one per positive leaf clause that holds and contributes — every child of a
 * holding AND, every holding child of a holding OR, nothing under NOT — in query order (left
 * to right). Each is the leaf's FIRST occurrence: fields in default-field order (or the one
 * field named), then flattened value order, then token position. Text spans the whole
 * phrase / prefix token / NEAR pair in the original string; comparisons, ranges, equality
 * and `_exists_` on a value that is not a string give `String(value)` (JSON for objects).
 */

export type QueryContext = { readonly analysis: EventAnalysis; readonly search: TextSearch };

/** A leaf's first occurrence: a token span (`first` >= 0) or a whole value (`first` = -1). */
export type LeafHit = TextHit;

function wholeValue(field: FieldValues, valueIndex: number): LeafHit {
  return { field, valueIndex, first: -1, last: -1 };
}

function compareToBound(value: unknown, bound: Bound): number | undefined {
  if (bound.number !== undefined) {
    const number = valueAsNumber(value);
    return number === undefined ? undefined : Math.sign(number - bound.number);
  }
  const instant = valueAsInstant(value);
  return instant === undefined ? undefined : Math.sign(instant - bound.instant!);
}

function isInRange(value: unknown, node: RangeQuery): boolean {
  const { lower, upper } = node;
  if (lower === undefined && upper === undefined) {
    return valueAsNumber(value) !== undefined || valueAsInstant(value) !== undefined;
  }
  if (lower !== undefined) {
    const order = compareToBound(value, lower);
    if (order === undefined || order < 0 || (order === 0 && !node.includeLower)) return false;
  }
  if (upper !== undefined) {
    const order = compareToBound(value, upper);
    if (order === undefined || order > 0 || (order === 0 && !node.includeUpper)) return false;
  }
  return true;
}

function findRange(node: RangeQuery, analysis: EventAnalysis): LeafHit | undefined {
  const field = analysis.field(node.field);
  for (let v = 0; v < field.values.length; v++) {
    if (isInRange(field.values[v], node)) return wholeValue(field, v);
  }
  return undefined;
}

/** Present, not null, not "" and not [] (an empty array flattens to no value at all). */
function findExisting(node: ExistsQuery, analysis: EventAnalysis): LeafHit | undefined {
  const field = analysis.field(node.field);
  for (let v = 0; v < field.values.length; v++) {
    const value = field.values[v];
    if (value !== null && value !== '') return wholeValue(field, v);
  }
  return undefined;
}

/** `field:4` / `field:true`: an equal number or boolean value, or a string holding the token(s). */
function findText(node: TextQuery, context: QueryContext): LeafHit | undefined {
  const textHit = context.search.findText(node, context.analysis);
  const literal = node.literal;
  if (literal === undefined || node.field === null) return textHit;
  const field = context.analysis.field(node.field);
  const until = textHit === undefined ? field.values.length : textHit.valueIndex;
  for (let v = 0; v < until; v++) {
    if (field.values[v] === literal) return wholeValue(field, v);
  }
  return textHit;
}

export function findLeaf(node: LeafQuery, context: QueryContext): LeafHit | undefined {
  switch (node.kind) {
    case 'text':
      return findText(node, context);
    case 'near':
      return context.search.findNear(node, context.analysis);
    case 'range':
      return findRange(node, context.analysis);
    case 'exists':
      return findExisting(node, context.analysis);
  }
}

/** Whether `node` holds (short-circuits; builds no explanation). */
export function queryHolds(node: QueryNode, context: QueryContext): boolean {
  switch (node.kind) {
    case 'and':
      for (const child of node.children) if (!queryHolds(child, context)) return false;
      return true;
    case 'or':
      for (const child of node.children) if (queryHolds(child, context)) return true;
      return false;
    case 'not':
      return !queryHolds(node.child, context);
    default:
      return findLeaf(node, context) !== undefined;
  }
}

/** The explanation of a leaf's first occurrence (see the ordering above). */
export function explanationOf(hit: LeafHit, analysis: EventAnalysis): MatchExplanation {
  const { field, valueIndex } = hit;
  let text: string;
  let start = 0;
  let end: number;
  if (hit.first >= 0) {
    const analysed = analysis.analysedValue(field, valueIndex)!;
    start = analysed.starts[hit.first]!;
    end = analysed.ends[hit.last]!;
    text = analysed.text.slice(start, end);
  } else {
    const value = field.values[valueIndex];
    text =
      typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
    end = text.length;
  }
  const explanation: MatchExplanation = { field: field.path, text, start, end };
  if (field.isArray) explanation.index = valueIndex;
  return explanation;
}

/** Appends the explanations of a node that holds (see the ordering above). */
export function explainQuery(node: QueryNode, context: QueryContext, into: MatchExplanation[]): void {
  switch (node.kind) {
    case 'and':
      for (const child of node.children) explainQuery(child, context, into);
      return;
    case 'or':
      for (const child of node.children) if (queryHolds(child, context)) explainQuery(child, context, into);
      return;
    case 'not':
      return;
    default: {
      const hit = findLeaf(node, context);
      if (hit !== undefined) into.push(explanationOf(hit, context.analysis));
    }
  }
}

export type QueryResult = { readonly holds: boolean; readonly matches: MatchExplanation[] };

/**
 * Evaluates one query against an event by reading every token: the reference the rule index
 * must agree with. Pass `analysis` to share one event's analysis between several queries.
 */
export function evaluateQuery(
  node: QueryNode,
  event: object,
  analysis: EventAnalysis = createEventAnalysis(event),
): QueryResult {
  const context: QueryContext = { analysis, search: scanSearch };
  if (!queryHolds(node, context)) return { holds: false, matches: [] };
  const matches: MatchExplanation[] = [];
  explainQuery(node, context, matches);
  return { holds: true, matches };
}
