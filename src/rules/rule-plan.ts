import type { MatchExplanation } from '../alerts/alert.ts';
import { explanationOf, findLeaf, type QueryContext } from './evaluate-query.ts';
import type { FieldValues } from './event-analysis.ts';
import { anchorIndex } from './presearch.ts';
import type { LeafQuery, NearQuery, QueryNode, WordPattern } from './query-ast.ts';
import { ALL_HEAD, DEFAULT_SLOT, isWanted, stateStride, type TermTable } from './term-table.ts';
import { nearestPair, phraseAt, type TextHit, type TextSearch } from './text-search.ts';

/**
 * A rule's query as the rule index evaluates it: entries and field slots resolved once, so
 * that evaluating a candidate reads the entries' occurrences of the current event and nothing
 * else. Also the text search over those occurrences, which explanations use; it must find what
 * `scanSearch` finds (same first occurrence), which the index property test checks.
 */

/** What the index knows of the event being matched: the term table's occurrences, the fields read. */
export type EventState = {
  readonly terms: TermTable;
  /** The values of each field slot read for this event (undefined: not read). */
  slotFields: (FieldValues | undefined)[];
};

/**
 * One node of a plan. Every node has the same fields in the same order (those its kind does
 * not use are -1 or null), so that evaluating plans of all kinds stays monomorphic: with one
 * object shape per kind, the property reads of `planHolds` went megamorphic and cost more than
 * the work they guarded.
 *
 * - `text`: `entry` is the anchor word's entry (term table id), `anchor` which word of `words` it is.
 * - `near`: `entry`/`anchor` the left anchor, `right`/`rightAnchor` the right one, `near` the query.
 * - `leaf`: `leaf` is evaluated by the shared evaluator (ranges, `_exists_`, `field:4`).
 * - `and`/`or`: `children`; `not`: `children[0]`.
 */
export type Plan = {
  readonly kind: 'text' | 'near' | 'leaf' | 'and' | 'or' | 'not';
  readonly entry: number;
  readonly anchor: number;
  readonly right: number;
  readonly rightAnchor: number;
  readonly fieldSlot: number;
  readonly words: readonly WordPattern[] | null;
  readonly near: NearQuery | null;
  readonly leaf: LeafQuery | null;
  readonly children: readonly Plan[] | null;
};

function planNode(kind: Plan['kind'], fields: Partial<Plan>): Plan {
  return {
    kind,
    entry: fields.entry ?? -1,
    anchor: fields.anchor ?? -1,
    right: fields.right ?? -1,
    rightAnchor: fields.rightAnchor ?? -1,
    fieldSlot: fields.fieldSlot ?? DEFAULT_SLOT,
    words: fields.words ?? null,
    near: fields.near ?? null,
    leaf: fields.leaf ?? null,
    children: fields.children ?? null,
  };
}

/** How planning takes references; `release` gives back what `acquire` and `useField` took. */
export type PlanUses = {
  acquire(word: WordPattern, isPositional: boolean): number;
  useField(path: string | null): number;
};

export function planQuery(node: QueryNode, uses: PlanUses): Plan {
  switch (node.kind) {
    case 'and':
    case 'or':
      return planNode(node.kind, { children: node.children.map((child) => planQuery(child, uses)) });
    case 'not':
      return planNode('not', { children: [planQuery(node.child, uses)] });
    case 'text': {
      const fieldSlot = uses.useField(node.field);
      const anchor = anchorIndex(node.words);
      const entry = uses.acquire(node.words[anchor]!, node.words.length > 1);
      // `field:4` may also hold for a number value: left to the shared evaluator.
      if (node.literal !== undefined) return planNode('leaf', { leaf: node });
      return planNode('text', { entry, anchor, words: node.words, fieldSlot });
    }
    case 'near': {
      const fieldSlot = uses.useField(node.field);
      const leftAnchor = anchorIndex(node.left);
      const rightAnchor = anchorIndex(node.right);
      const left = uses.acquire(node.left[leftAnchor]!, true);
      const right = uses.acquire(node.right[rightAnchor]!, true);
      return planNode('near', { entry: left, anchor: leftAnchor, right, rightAnchor, near: node, fieldSlot });
    }
    default:
      return planNode('leaf', { leaf: node });
  }
}

/** The first occurrence of a word or phrase in a wanted field slot this event. */
function findPhrase(
  id: number,
  anchor: number,
  words: readonly WordPattern[],
  wanted: number,
  state: EventState,
): TextHit | undefined {
  const terms = state.terms;
  if (words.length === 1) {
    const at = terms.firstWanted(id, wanted);
    if (at < 0) return undefined;
    const log = terms.firstLog;
    return {
      field: state.slotFields[log[at]!]!,
      valueIndex: log[at + 1]!,
      first: log[at + 2]!,
      last: log[at + 2]!,
    };
  }
  if (!terms.occurred(id)) return undefined;
  const log = terms.allLog;
  for (let at = terms.state[id * stateStride + ALL_HEAD]!; at >= 0; at = log[at + 3]!) {
    const fieldSlot = log[at]!;
    if (!isWanted(fieldSlot, wanted)) continue;
    const field = state.slotFields[fieldSlot]!;
    const valueIndex = log[at + 1]!;
    const start = log[at + 2]! - anchor;
    if (phraseAt(field.analysed[valueIndex]!.terms, words, start)) {
      return { field, valueIndex, first: start, last: start + words.length - 1 };
    }
  }
  return undefined;
}

/**
 * The phrase starts in one value from a chain of anchor occurrences starting at `at`, and the
 * first record of the chain past that value (-1 at the end).
 */
function startsInValue(
  log: Int32Array,
  at: number,
  terms: readonly string[],
  words: readonly WordPattern[],
  anchor: number,
  starts: number[],
): number {
  const fieldSlot = log[at]!;
  const valueIndex = log[at + 1]!;
  starts.length = 0;
  for (; at >= 0 && log[at] === fieldSlot && log[at + 1] === valueIndex; at = log[at + 3]!) {
    const start = log[at + 2]! - anchor;
    if (words.length === 1 || phraseAt(terms, words, start)) starts.push(start);
  }
  return at;
}

const leftStarts: number[] = [];
const rightStarts: number[] = [];

/** The first NEAR pair over the occurrences of both anchors, value by value. */
function findNearPair(
  left: number,
  right: number,
  leftAnchor: number,
  rightAnchor: number,
  node: NearQuery,
  wanted: number,
  state: EventState,
): TextHit | undefined {
  const terms = state.terms;
  if (!terms.occurred(left) || !terms.occurred(right)) return undefined;
  const log = terms.allLog;
  let r = terms.state[right * stateStride + ALL_HEAD]!;
  let l = terms.state[left * stateStride + ALL_HEAD]!;
  while (l >= 0) {
    const fieldSlot = log[l]!;
    const valueIndex = log[l + 1]!;
    if (!isWanted(fieldSlot, wanted)) {
      while (l >= 0 && log[l] === fieldSlot && log[l + 1] === valueIndex) l = log[l + 3]!;
      continue;
    }
    // The right anchor's records before this value are of no use to it or to later values.
    while (r >= 0 && (log[r]! < fieldSlot || (log[r] === fieldSlot && log[r + 1]! < valueIndex)))
      r = log[r + 3]!;
    const field = state.slotFields[fieldSlot]!;
    const tokens = field.analysed[valueIndex]!.terms;
    l = startsInValue(log, l, tokens, node.left, leftAnchor, leftStarts);
    if (r < 0 || log[r] !== fieldSlot || log[r + 1] !== valueIndex || leftStarts.length === 0) continue;
    r = startsInValue(log, r, tokens, node.right, rightAnchor, rightStarts);
    if (rightStarts.length === 0) continue;
    const pair = nearestPair(
      leftStarts,
      node.left.length,
      rightStarts,
      node.right.length,
      node.distance,
      node.ordered,
    );
    if (pair !== undefined) return { field, valueIndex, ...pair };
  }
  return undefined;
}

/** Whether a word or phrase occurs in a wanted field slot this event (`findPhrase` without allocating). */
function phraseOccurs(
  id: number,
  anchor: number,
  words: readonly WordPattern[],
  wanted: number,
  state: EventState,
): boolean {
  const terms = state.terms;
  if (words.length === 1) return terms.firstWanted(id, wanted) >= 0;
  if (!terms.occurred(id)) return false;
  const log = terms.allLog;
  for (let at = terms.state[id * stateStride + ALL_HEAD]!; at >= 0; at = log[at + 3]!) {
    const fieldSlot = log[at]!;
    if (!isWanted(fieldSlot, wanted)) continue;
    const analysed = state.slotFields[fieldSlot]!.analysed[log[at + 1]!]!;
    if (phraseAt(analysed.terms, words, log[at + 2]! - anchor)) return true;
  }
  return false;
}

/** Whether a plan holds for the current event (short-circuits; no explanation). */
export function planHolds(plan: Plan, state: EventState, context: QueryContext): boolean {
  switch (plan.kind) {
    case 'text':
      return phraseOccurs(plan.entry, plan.anchor, plan.words!, plan.fieldSlot, state);
    case 'near':
      return (
        findNearPair(
          plan.entry,
          plan.right,
          plan.anchor,
          plan.rightAnchor,
          plan.near!,
          plan.fieldSlot,
          state,
        ) !== undefined
      );
    case 'and': {
      const children = plan.children!;
      for (let i = 0; i < children.length; i++) if (!planHolds(children[i]!, state, context)) return false;
      return true;
    }
    case 'or': {
      const children = plan.children!;
      for (let i = 0; i < children.length; i++) if (planHolds(children[i]!, state, context)) return true;
      return false;
    }
    case 'not':
      return !planHolds(plan.children![0]!, state, context);
    case 'leaf':
      return findLeaf(plan.leaf!, context) !== undefined;
  }
}

/**
 * Appends the explanations of a plan that holds: what `explainQuery` gives for its query (the
 * plan has the query's shape), without looking words up again.
 */
export function explainPlan(
  plan: Plan,
  state: EventState,
  context: QueryContext,
  into: MatchExplanation[],
): void {
  let hit: TextHit | undefined;
  switch (plan.kind) {
    case 'and':
      for (const child of plan.children!) explainPlan(child, state, context, into);
      return;
    case 'or':
      for (const child of plan.children!)
        if (planHolds(child, state, context)) explainPlan(child, state, context, into);
      return;
    case 'not':
      return;
    case 'text':
      hit = findPhrase(plan.entry, plan.anchor, plan.words!, plan.fieldSlot, state);
      break;
    case 'near':
      hit = findNearPair(
        plan.entry,
        plan.right,
        plan.anchor,
        plan.rightAnchor,
        plan.near!,
        plan.fieldSlot,
        state,
      );
      break;
    case 'leaf':
      hit = findLeaf(plan.leaf!, context);
      break;
  }
  if (hit !== undefined) into.push(explanationOf(hit, context.analysis));
}

/** The text search over the current event's occurrences, for the shared evaluator (explanations). */
export function createIndexedSearch(fieldSlots: ReadonlyMap<string, number>, state: EventState): TextSearch {
  const wantedOf = (field: string | null) => (field === null ? DEFAULT_SLOT : (fieldSlots.get(field) ?? -2));
  return {
    findText(node) {
      const anchor = anchorIndex(node.words);
      const id = state.terms.lookup(node.words[anchor]!);
      return id === undefined ? undefined : findPhrase(id, anchor, node.words, wantedOf(node.field), state);
    },
    findNear(node) {
      const leftAnchor = anchorIndex(node.left);
      const rightAnchor = anchorIndex(node.right);
      const left = state.terms.lookup(node.left[leftAnchor]!);
      const right = state.terms.lookup(node.right[rightAnchor]!);
      if (left === undefined || right === undefined) return undefined;
      return findNearPair(left, right, leftAnchor, rightAnchor, node, wantedOf(node.field), state);
    },
  };
}
