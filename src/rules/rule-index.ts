import type { MatchExplanation } from '../alerts/alert.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule, RuleMatch, RuleMatcher } from './compiled-rule.ts';
import { explainQuery, findLeaf, type QueryContext } from './evaluate-query.ts';
import { createEventAnalysis, type EventAnalysis, type FieldValues } from './event-analysis.ts';
import { anchorIndex, presearchGroups } from './presearch.ts';
import { defaultFields, type LeafQuery, type QueryNode, type WordPattern } from './query-ast.ts';
import { nearestPair, phraseAt, type TextHit, type TextSearch } from './text-search.ts';

/**
 * The rule index: a matcher whose cost per event grows with the event's tokens and the rules
 * they concern, not with the whole rule set.
 *
 * Every word, prefix or phrase clause of an enabled rule has an anchor word (presearch.ts);
 * each distinct anchor is one `TermEntry`, shared by all rules. Per event, every string value
 * of the fields that rules read is analysed once and each token is looked up among the exact
 * anchors (a hash map) and the prefix anchors (bucketed by their first three UTF-16 units). A
 * hit records the occurrence (field slot, value, token) on the entry, stamped with the event's
 * epoch, so the entries double as this event's posting lists. The first hit of an entry in a
 * field also fires the presearch postings of that entry for that field: a rule becomes a
 * candidate once each of its presearch groups (up to four) has fired. Only candidates and the
 * rules without presearch terms are evaluated, on a plan — the query with entries and field
 * slots resolved — that reads the posting lists instead of every token; explanations, for
 * matched rules only, come from the shared evaluator with a search over the same lists.
 *
 * Invariants: occurrences on an entry are in scan order — field slot, value, token — which is
 * the explanation order (default fields occupy slots 0–9 in their spec order), so the first
 * verified occurrence is the first occurrence. Rules keep the slot they were given: matches come
 * back in slot order, which is the input order with later upserts appended.
 */

const defaultCount = defaultFields.length;
/** The field slot of a clause on the default fields. */
const DEFAULT = -1;

type FieldPostings = { readonly fieldSlot: number; postings: number[] };

type TermEntry = {
  readonly token: string;
  readonly prefix: boolean;
  /** References held by rules (clauses anchored on it, presearch terms). */
  refs: number;
  /** References from phrases and NEAR operands, which need every occurrence, not only the first. */
  positional: number;
  /** Presearch postings (rule slot × 4 + group) of terms on the default fields. */
  postings: number[];
  /** Presearch postings of terms confined to one field. */
  scoped: FieldPostings[];
  /** The event whose occurrences `occurrences` holds. */
  epoch: number;
  /** The field slot of the latest occurrence, to fire postings once per field. */
  lastSlot: number;
  /** The first occurrence in each field slot: triples (field slot, value index, token index). */
  firsts: number[];
  firstsSize: number;
  /** Every occurrence, as triples, when `positional`; the first `size` numbers are this event's. */
  occurrences: number[];
  size: number;
};

type Plan =
  | {
      readonly kind: 'text';
      readonly entry: TermEntry;
      readonly anchor: number;
      readonly words: readonly WordPattern[];
      readonly fieldSlot: number;
    }
  | {
      readonly kind: 'near';
      readonly left: TermEntry;
      readonly right: TermEntry;
      readonly leftAnchor: number;
      readonly rightAnchor: number;
      readonly node: LeafQuery & { kind: 'near' };
      readonly fieldSlot: number;
    }
  | { readonly kind: 'leaf'; readonly node: LeafQuery }
  | { readonly kind: 'and' | 'or'; readonly children: readonly Plan[] }
  | { readonly kind: 'not'; readonly child: Plan };

type RuleSlot = {
  readonly rule: CompiledRule;
  readonly enabled: boolean;
  readonly plan: Plan | null;
  /** Entries it holds a reference on, and those among them it needs every occurrence of. */
  readonly anchors: TermEntry[];
  readonly positional: TermEntry[];
  /** Field slots it reads text from (DEFAULT for the default fields). */
  readonly fields: number[];
  /** Where its presearch postings are, to take them out again; null: evaluated for every event. */
  readonly postedIn: number[][] | null;
};

/**
 * The bucket of a prefix (or token) by its first three UTF-16 units, folded into a small
 * integer so that no number is allocated per token; different heads may share a bucket.
 */
function headKey(text: string): number {
  return (
    ((text.charCodeAt(0) & 0x3ff) << 20) | ((text.charCodeAt(1) & 0x3ff) << 10) | (text.charCodeAt(2) & 0x3ff)
  );
}

/** The start positions, in one value, of a phrase whose anchor (word `anchor`) occurs at `occurrences[from..to)`. */
function verifiedStarts(
  occurrences: readonly number[],
  from: number,
  to: number,
  terms: readonly string[],
  words: readonly WordPattern[],
  anchor: number,
): number[] {
  const starts: number[] = [];
  for (let i = from; i < to; i += 3) {
    const start = occurrences[i + 2]! - anchor;
    if (words.length === 1 || phraseAt(terms, words, start)) starts.push(start);
  }
  return starts;
}

export function createRuleIndex(rules: CompiledRule[]): RuleMatcher {
  const exact = new Map<string, TermEntry>();
  const prefixes = new Map<string, TermEntry>();
  const prefixHeads = new Map<number, TermEntry[]>();

  const fieldSlots = new Map<string, number>(defaultFields.map((path, slot) => [path, slot]));
  const fieldPaths: string[] = [...defaultFields];
  const fieldRefs: number[] = defaultFields.map(() => 0);
  let defaultRefs = 0;

  const slots: (RuleSlot | undefined)[] = [];
  const slotsById = new Map<string, number>();
  /** Slots of enabled rules without presearch terms, ascending. */
  let always: number[] = [];
  let enabledCount = 0;

  // Per-event state, reused: the epoch stamps entries and rules instead of clearing them.
  let epoch = 0;
  let ruleMarks = new Int32Array(16);
  /** Presearch groups fired so far for a rule (bits), valid when its mark is the epoch. */
  let ruleGroups = new Uint8Array(16);
  /** The bits a rule needs: one per presearch group (at most four). */
  let ruleNeeds = new Uint8Array(16);
  let candidates = new Int32Array(16);
  let candidateCount = 0;
  let slotFields: (FieldValues | undefined)[] = [];

  function lookup(word: WordPattern): TermEntry | undefined {
    return (word.prefix ? prefixes : exact).get(word.token);
  }

  function entryFor(word: WordPattern, isPositional = false): TermEntry {
    const map = word.prefix ? prefixes : exact;
    let entry = map.get(word.token);
    if (entry === undefined) {
      entry = {
        token: word.token,
        prefix: word.prefix,
        refs: 0,
        positional: 0,
        postings: [],
        scoped: [],
        epoch: 0,
        lastSlot: -1,
        firsts: [],
        firstsSize: 0,
        occurrences: [],
        size: 0,
      };
      map.set(word.token, entry);
      if (word.prefix) {
        const key = headKey(word.token);
        const bucket = prefixHeads.get(key);
        if (bucket === undefined) prefixHeads.set(key, [entry]);
        else bucket.push(entry);
      }
    }
    entry.refs++;
    if (isPositional) entry.positional++;
    return entry;
  }

  function releaseEntry(entry: TermEntry, isPositional: boolean): void {
    if (isPositional) entry.positional--;
    if (--entry.refs > 0) return;
    if (!entry.prefix) {
      exact.delete(entry.token);
      return;
    }
    prefixes.delete(entry.token);
    const key = headKey(entry.token);
    const bucket = prefixHeads.get(key)!.filter((other) => other !== entry);
    if (bucket.length === 0) prefixHeads.delete(key);
    else prefixHeads.set(key, bucket);
  }

  function fieldSlotFor(path: string | null): number {
    if (path === null) return DEFAULT;
    let slot = fieldSlots.get(path);
    if (slot === undefined) {
      slot = fieldPaths.length;
      fieldSlots.set(path, slot);
      fieldPaths.push(path);
      fieldRefs.push(0);
    }
    return slot;
  }

  function ensureCapacity(size: number): void {
    if (size <= ruleMarks.length) return;
    const capacity = Math.max(size, ruleMarks.length * 2);
    const grow = <T extends Int32Array | Uint8Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    ruleMarks = grow(ruleMarks, new Int32Array(capacity));
    ruleGroups = grow(ruleGroups, new Uint8Array(capacity));
    ruleNeeds = grow(ruleNeeds, new Uint8Array(capacity));
    candidates = new Int32Array(capacity);
  }

  /** The plan of a query; takes references on the entries and fields it reads. */
  function planOf(node: QueryNode, anchors: TermEntry[], positional: TermEntry[], fields: number[]): Plan {
    switch (node.kind) {
      case 'and':
      case 'or':
        return {
          kind: node.kind,
          children: node.children.map((child) => planOf(child, anchors, positional, fields)),
        };
      case 'not':
        return { kind: 'not', child: planOf(node.child, anchors, positional, fields) };
      case 'text': {
        const fieldSlot = useField(node.field, fields);
        const anchor = anchorIndex(node.words);
        const isPhrase = node.words.length > 1;
        const entry = entryFor(node.words[anchor]!, isPhrase);
        (isPhrase ? positional : anchors).push(entry);
        // `field:4` may also hold for a number value: left to the shared evaluator.
        if (node.literal !== undefined) return { kind: 'leaf', node };
        return { kind: 'text', entry, anchor, words: node.words, fieldSlot };
      }
      case 'near': {
        const fieldSlot = useField(node.field, fields);
        const leftAnchor = anchorIndex(node.left);
        const rightAnchor = anchorIndex(node.right);
        const left = entryFor(node.left[leftAnchor]!, true);
        const right = entryFor(node.right[rightAnchor]!, true);
        positional.push(left, right);
        return { kind: 'near', left, right, leftAnchor, rightAnchor, node, fieldSlot };
      }
      default:
        return { kind: 'leaf', node };
    }
  }

  function useField(path: string | null, fields: number[]): number {
    const slot = fieldSlotFor(path);
    if (slot === DEFAULT) defaultRefs++;
    else fieldRefs[slot]!++;
    fields.push(slot);
    return slot;
  }

  function register(slot: number, rule: CompiledRule): RuleSlot {
    const enabled = rule.definition.enabled !== false;
    if (!enabled)
      return { rule, enabled, plan: null, anchors: [], positional: [], fields: [], postedIn: null };
    const anchors: TermEntry[] = [];
    const positional: TermEntry[] = [];
    const fields: number[] = [];
    const plan = planOf(rule.query, anchors, positional, fields);
    const groups = presearchGroups(rule.query);
    let postedIn: number[][] | null = null;
    if (groups === null) {
      always.push(slot);
      if (always.length > 1 && always[always.length - 2]! > slot) always.sort((a, b) => a - b);
    } else {
      postedIn = [];
      ruleNeeds[slot] = (1 << groups.length) - 1;
      groups.forEach((terms, group) => {
        const posting = slot * 4 + group;
        for (const { word, field } of terms) {
          // Usually an anchor already; a phrase's other words get an entry of their own.
          const entry = entryFor(word);
          anchors.push(entry);
          const fieldSlot = fieldSlotFor(field);
          let list: number[];
          if (fieldSlot === DEFAULT) {
            list = entry.postings;
          } else {
            let scoped = entry.scoped.find((other) => other.fieldSlot === fieldSlot);
            if (scoped === undefined) {
              scoped = { fieldSlot, postings: [] };
              entry.scoped.push(scoped);
            }
            list = scoped.postings;
          }
          if (list.includes(posting)) continue;
          list.push(posting);
          postedIn!.push(list);
        }
      });
    }
    enabledCount++;
    return { rule, enabled, plan, anchors, positional, fields, postedIn };
  }

  function unregister(slot: number, ruleSlot: RuleSlot): void {
    if (!ruleSlot.enabled) return;
    enabledCount--;
    if (ruleSlot.postedIn === null) {
      always = always.filter((other) => other !== slot);
    } else {
      for (const list of ruleSlot.postedIn) {
        for (let i = list.length - 1; i >= 0; i--) if (list[i]! >>> 2 === slot) list.splice(i, 1);
      }
    }
    for (const field of ruleSlot.fields) {
      if (field === DEFAULT) defaultRefs--;
      else fieldRefs[field]!--;
    }
    for (const entry of ruleSlot.anchors) releaseEntry(entry, false);
    for (const entry of ruleSlot.positional) releaseEntry(entry, true);
  }

  function upsert(rule: CompiledRule): void {
    const existing = slotsById.get(rule.id);
    const slot = existing ?? slots.length;
    ensureCapacity(slot + 1);
    if (existing !== undefined) unregister(existing, slots[existing]!);
    slots[slot] = register(slot, rule);
    slotsById.set(rule.id, slot);
  }

  function remove(ruleId: string): void {
    const slot = slotsById.get(ruleId);
    if (slot === undefined) return;
    unregister(slot, slots[slot]!);
    slots[slot] = undefined;
    slotsById.delete(ruleId);
  }

  // --- per event -------------------------------------------------------------------------

  function fire(postings: readonly number[]): void {
    for (let i = 0; i < postings.length; i++) {
      const posting = postings[i]!;
      const slot = posting >>> 2;
      const bit = 1 << (posting & 3);
      let groups = 0;
      if (ruleMarks[slot] === epoch) groups = ruleGroups[slot]!;
      else ruleMarks[slot] = epoch;
      if ((groups & bit) !== 0) continue;
      groups |= bit;
      ruleGroups[slot] = groups;
      if (groups === ruleNeeds[slot]) candidates[candidateCount++] = slot;
    }
  }

  /**
   * An occurrence of `entry`: fires its postings on its first one per field, keeps the first
   * one per field, and every one only for entries that phrases or NEAR read (most are single
   * words, for which the first occurrence per field is all evaluation and explanation need).
   */
  function hit(entry: TermEntry, fieldSlot: number, valueIndex: number, token: number): void {
    if (entry.epoch !== epoch) {
      entry.epoch = epoch;
      entry.lastSlot = -1;
      entry.firstsSize = 0;
      entry.size = 0;
      // Do not keep a huge list alive because one event was huge.
      if (entry.occurrences.length > 3072) entry.occurrences = [];
      if (fieldSlot < defaultCount && entry.postings.length > 0) fire(entry.postings);
    }
    if (entry.lastSlot !== fieldSlot) {
      // Default slots come first: a first occurrence in a default field was handled above.
      entry.lastSlot = fieldSlot;
      const firsts = entry.firsts;
      const size = entry.firstsSize;
      firsts[size] = fieldSlot;
      firsts[size + 1] = valueIndex;
      firsts[size + 2] = token;
      entry.firstsSize = size + 3;
      for (const scoped of entry.scoped) if (scoped.fieldSlot === fieldSlot) fire(scoped.postings);
    }
    if (entry.positional > 0) {
      const occurrences = entry.occurrences;
      const size = entry.size;
      occurrences[size] = fieldSlot;
      occurrences[size + 1] = valueIndex;
      occurrences[size + 2] = token;
      entry.size = size + 3;
    }
  }

  /** The index in `entry.firsts` of its first occurrence in a wanted field, or -1. */
  function firstWanted(entry: TermEntry, wanted: number): number {
    const firsts = entry.firsts;
    for (let i = 0; i < entry.firstsSize; i += 3) {
      const fieldSlot = firsts[i]!;
      if (wanted === DEFAULT ? fieldSlot < defaultCount : fieldSlot === wanted) return i;
    }
    return -1;
  }

  function isWanted(fieldSlot: number, wanted: number): boolean {
    return wanted === DEFAULT ? fieldSlot < defaultCount : fieldSlot === wanted;
  }

  function textHolds(plan: Plan & { kind: 'text' }): boolean {
    const entry = plan.entry;
    if (entry.epoch !== epoch) return false;
    const wanted = plan.fieldSlot;
    const words = plan.words;
    if (words.length === 1) return firstWanted(entry, wanted) >= 0;
    const occurrences = entry.occurrences;
    for (let i = 0; i < entry.size; i += 3) {
      const fieldSlot = occurrences[i]!;
      if (!isWanted(fieldSlot, wanted)) continue;
      const terms = slotFields[fieldSlot]!.analysed[occurrences[i + 1]!]!.terms;
      if (phraseAt(terms, words, occurrences[i + 2]! - plan.anchor)) return true;
    }
    return false;
  }

  /** The first NEAR pair over the posting lists of both anchors, value by value. */
  function findNearPair(
    left: TermEntry,
    right: TermEntry,
    leftAnchor: number,
    rightAnchor: number,
    node: LeafQuery & { kind: 'near' },
    wanted: number,
  ): TextHit | undefined {
    if (left.epoch !== epoch || right.epoch !== epoch) return undefined;
    const leftOccurrences = left.occurrences;
    const rightOccurrences = right.occurrences;
    const leftSize = left.size;
    const rightSize = right.size;
    let r = 0;
    for (let i = 0; i < leftSize; ) {
      // [from, end) are the left anchor's occurrences in one value (fieldSlot, valueIndex).
      const fieldSlot = leftOccurrences[i]!;
      const valueIndex = leftOccurrences[i + 1]!;
      const from = i;
      i += 3;
      while (i < leftSize && leftOccurrences[i] === fieldSlot && leftOccurrences[i + 1] === valueIndex) {
        i += 3;
      }
      if (!isWanted(fieldSlot, wanted)) continue;
      while (
        r < rightSize &&
        (rightOccurrences[r]! < fieldSlot ||
          (rightOccurrences[r] === fieldSlot && rightOccurrences[r + 1]! < valueIndex))
      ) {
        r += 3;
      }
      let rightEnd = r;
      while (
        rightEnd < rightSize &&
        rightOccurrences[rightEnd] === fieldSlot &&
        rightOccurrences[rightEnd + 1] === valueIndex
      ) {
        rightEnd += 3;
      }
      if (rightEnd === r) continue;
      const field = slotFields[fieldSlot]!;
      const terms = field.analysed[valueIndex]!.terms;
      const leftStarts = verifiedStarts(leftOccurrences, from, i, terms, node.left, leftAnchor);
      if (leftStarts.length === 0) continue;
      const rightStarts = verifiedStarts(rightOccurrences, r, rightEnd, terms, node.right, rightAnchor);
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

  function holds(plan: Plan, context: QueryContext): boolean {
    switch (plan.kind) {
      case 'text':
        return textHolds(plan);
      case 'near':
        return (
          findNearPair(
            plan.left,
            plan.right,
            plan.leftAnchor,
            plan.rightAnchor,
            plan.node,
            plan.fieldSlot,
          ) !== undefined
        );
      case 'and':
        for (const child of plan.children) if (!holds(child, context)) return false;
        return true;
      case 'or':
        for (const child of plan.children) if (holds(child, context)) return true;
        return false;
      case 'not':
        return !holds(plan.child, context);
      case 'leaf':
        return findLeaf(plan.node, context) !== undefined;
    }
  }

  /** The same search over this event's posting lists, for explanations; must agree with `scanSearch`. */
  const indexedSearch: TextSearch = {
    findText(node) {
      const words = node.words;
      const anchor = anchorIndex(words);
      const entry = lookup(words[anchor]!);
      if (entry === undefined || entry.epoch !== epoch) return undefined;
      const wanted = node.field === null ? DEFAULT : fieldSlots.get(node.field)!;
      if (words.length === 1) {
        const i = firstWanted(entry, wanted);
        if (i < 0) return undefined;
        const token = entry.firsts[i + 2]!;
        return {
          field: slotFields[entry.firsts[i]!]!,
          valueIndex: entry.firsts[i + 1]!,
          first: token,
          last: token,
        };
      }
      const occurrences = entry.occurrences;
      for (let i = 0; i < entry.size; i += 3) {
        const fieldSlot = occurrences[i]!;
        if (!isWanted(fieldSlot, wanted)) continue;
        const field = slotFields[fieldSlot]!;
        const valueIndex = occurrences[i + 1]!;
        const start = occurrences[i + 2]! - anchor;
        if (words.length === 1 || phraseAt(field.analysed[valueIndex]!.terms, words, start)) {
          return { field, valueIndex, first: start, last: start + words.length - 1 };
        }
      }
      return undefined;
    },
    findNear(node) {
      const leftAnchor = anchorIndex(node.left);
      const rightAnchor = anchorIndex(node.right);
      const left = lookup(node.left[leftAnchor]!);
      const right = lookup(node.right[rightAnchor]!);
      if (left === undefined || right === undefined) return undefined;
      const wanted = node.field === null ? DEFAULT : fieldSlots.get(node.field)!;
      return findNearPair(left, right, leftAnchor, rightAnchor, node, wanted);
    },
  };

  /** Analyses the fields rules read and records every anchor occurrence; fills `candidates`. */
  function scan(analysis: EventAnalysis): void {
    const hasPrefixes = prefixes.size > 0;
    if (slotFields.length < fieldPaths.length) slotFields = new Array(fieldPaths.length);
    for (let fieldSlot = 0; fieldSlot < fieldPaths.length; fieldSlot++) {
      const isRead = fieldRefs[fieldSlot]! > 0 || (fieldSlot < defaultCount && defaultRefs > 0);
      if (!isRead) {
        slotFields[fieldSlot] = undefined;
        continue;
      }
      const field = analysis.field(fieldPaths[fieldSlot]!);
      slotFields[fieldSlot] = field;
      for (let valueIndex = 0; valueIndex < field.values.length; valueIndex++) {
        const analysed = analysis.analysedValue(field, valueIndex);
        if (analysed === undefined) continue;
        const terms = analysed.terms;
        for (let t = 0; t < terms.length; t++) {
          const term = terms[t]!;
          const entry = exact.get(term);
          if (entry !== undefined) hit(entry, fieldSlot, valueIndex, t);
          if (!hasPrefixes || term.length < 3) continue;
          const bucket = prefixHeads.get(headKey(term));
          if (bucket === undefined) continue;
          for (const prefix of bucket)
            if (term.startsWith(prefix.token)) hit(prefix, fieldSlot, valueIndex, t);
        }
      }
    }
  }

  function match(event: IntelEvent): RuleMatch[] {
    if (enabledCount === 0) return [];
    if (++epoch === 0x7fffffff) {
      // Practically never: restart the stamps rather than let them wrap.
      epoch = 1;
      ruleMarks.fill(0);
      for (const entry of [...exact.values(), ...prefixes.values()]) entry.epoch = 0;
    }
    const analysis = createEventAnalysis(event);
    candidateCount = 0;
    scan(analysis);

    const ordered = candidates.subarray(0, candidateCount).sort();
    const context: QueryContext = { analysis, search: indexedSearch };
    const matched: RuleMatch[] = [];
    // Merge the two ascending lists (they never share a slot): rule order.
    let c = 0;
    let a = 0;
    while (c < ordered.length || a < always.length) {
      const slot =
        a >= always.length || (c < ordered.length && ordered[c]! < always[a]!) ? ordered[c++]! : always[a++]!;
      const ruleSlot = slots[slot];
      if (ruleSlot?.plan == null || !holds(ruleSlot.plan, context)) continue;
      const matches: MatchExplanation[] = [];
      explainQuery(ruleSlot.rule.query, context, matches);
      matched.push({ rule: ruleSlot.rule, matches });
    }
    return matched;
  }

  for (const rule of rules) upsert(rule);

  return {
    match,
    upsert,
    remove,
    rules: () => slots.filter((slot) => slot !== undefined).map((slot) => slot.rule),
  };
}
