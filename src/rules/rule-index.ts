import type { MatchExplanation } from '../alerts/alert.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule, RuleMatch, RuleMatcher } from './compiled-rule.ts';
import type { QueryContext } from './evaluate-query.ts';
import { createEventAnalysis, type EventAnalysis } from './event-analysis.ts';
import { pairWords, presearchGroups } from './presearch.ts';
import { defaultFields, type WordPattern } from './query-ast.ts';
import {
  createIndexedSearch,
  type EventState,
  explainPlan,
  type Plan,
  planHolds,
  planQuery,
} from './rule-plan.ts';
import {
  ALL_HEAD,
  ALL_TAIL,
  appendRecord,
  createTermTable,
  DEFAULT_SLOT,
  DF_DEFAULT,
  defaultCount,
  EPOCH,
  FIRST_HEAD,
  FIRST_TAIL,
  type FieldPostings,
  LAST_SLOT,
  LEARNED_SLOTS,
  RECORD,
  stateStride,
} from './term-table.ts';

/**
 * The rule index: a matcher whose cost per event grows with the event's tokens and the rules
 * they concern, not with the whole rule set (the presearcher of Lucene Monitor and the
 * Elasticsearch percolator).
 *
 * Per event, every string value of the fields rules read is analysed once, and each token is
 * looked up among the words rules use (term-table.ts: one cached lookup gives the token's exact
 * entry and the prefixes it starts with). A hit logs the occurrence for the word's entry, and
 * its first hit in a field fires the entry's presearch postings for that field. Each rule posts
 * up to three of its presearch groups (presearch.ts) — the rarest, as learned from the events
 * seen — and becomes a candidate when all posted groups fired; its other groups are then
 * checked on the entries, and only then is its query evaluated, on a plan (rule-plan.ts) that
 * reads the logged occurrences. Rules without presearch terms (only NOT, ranges, `_exists_`…)
 * are evaluated for every event. Explanations, for matching rules only, are found on the same
 * occurrences and must be exactly those of `evaluateQuery` (the property test checks it).
 *
 * Invariants: presearch only ever skips rules that cannot match (groups are sound whatever the
 * learned order), so learning changes speed, never results. Occurrences on an entry are in
 * scan order — field slot, value, token — which is the explanation order. Rules keep the slot
 * they were given: matches come back in slot order, the input order with later upserts appended.
 */

/** A presearch term: an entry (term table id) that must occur in a field slot (DEFAULT_SLOT: any default field). */
type PresearchCheck = { readonly entry: number; readonly fieldSlot: number };

type RuleSlot = {
  readonly rule: CompiledRule;
  readonly enabled: boolean;
  readonly plan: Plan | null;
  /** Entries it holds a reference on (`positional` ones need every occurrence) and field slots it reads. */
  readonly acquired: number[];
  readonly positional: number[];
  readonly fields: number[];
  /** Its presearch groups, flat (see `flattenGroups`); null: evaluated for every event. */
  readonly groups: Int32Array | null;
  /** The groups posted (at most `postedGroups`); the others are checked once those fired. */
  posted: number[];
  /** The groups not posted, rarest first (see `checksOf`). */
  unposted: number[];
  /** The plan's nodes that the program hands back to `planHolds`: phrases, NEAR, other leaves. */
  readonly leaves: Plan[];
};

/**
 * Presearch groups as one `Int32Array` (objects per term would cost more than the rule): group
 * count, then per group its term count and (entry, field slot) pairs.
 */
function flattenGroups(groups: readonly (readonly PresearchCheck[])[]): Int32Array {
  const flat = [groups.length];
  for (const group of groups) {
    flat.push(group.length);
    for (const { entry, fieldSlot } of group) flat.push(entry, fieldSlot);
  }
  return Int32Array.from(flat);
}

/** Where each group of a flat group list starts (at its term count). */
function groupOffsets(flat: Int32Array): number[] {
  const offsets: number[] = [];
  for (let g = 0, at = 1; g < flat[0]!; g++, at += 1 + 2 * flat[at]!) offsets.push(at);
  return offsets;
}

/**
 * The groups not posted, flat for a quick pass over them, in the order given: group count,
 * then per group its term count and (entry, field slot) pairs.
 */
function checksOf(flat: Int32Array, rest: readonly number[], into: number[]): void {
  const offsets = groupOffsets(flat);
  into.push(rest.length);
  for (const group of rest) {
    const at = offsets[group]!;
    for (let i = at; i <= at + 2 * flat[at]!; i++) into.push(flat[i]!);
  }
}

/**
 * A plan as a small program in one `Int32Array` shared by all rules (see `emitPlan`): checking
 * a candidate then reads a few contiguous ints instead of chasing a tree of objects spread over
 * the heap, which at 100,000 rules cost a cache miss per node. Each node is
 * `op, size, operands…` (`size` in ints, so a node is skipped by adding it).
 */
const OP_AND = 0;
const OP_OR = 1;
const OP_NOT = 2;
/** `entry, field slot`: one word or prefix. */
const OP_WORD = 3;
/**
 * `entry, anchor, field slot, word count, word ids…`: a phrase whose `anchor`-th word is
 * `entry`; its words are ids in the index's word table, so checking it touches no rule object.
 */
const OP_PHRASE = 4;
/** `left entry, right entry, leaf`. */
const OP_NEAR = 5;
/** `leaf`: evaluated by `planHolds`. */
const OP_LEAF = 6;

function emitPlan(plan: Plan, leaves: Plan[], into: number[], wordId: (word: WordPattern) => number): void {
  const at = into.length;
  switch (plan.kind) {
    case 'and':
    case 'or':
    case 'not':
      into.push(plan.kind === 'and' ? OP_AND : plan.kind === 'or' ? OP_OR : OP_NOT, 0);
      for (const child of plan.children!) emitPlan(child, leaves, into, wordId);
      break;
    case 'text':
      if (plan.words!.length === 1) into.push(OP_WORD, 4, plan.entry, plan.fieldSlot);
      else {
        into.push(OP_PHRASE, 0, plan.entry, plan.anchor, plan.fieldSlot, plan.words!.length);
        for (const word of plan.words!) into.push(wordId(word));
      }
      break;
    case 'near':
      into.push(OP_NEAR, 5, plan.entry, plan.right, leaves.push(plan) - 1);
      break;
    case 'leaf':
      into.push(OP_LEAF, 3, leaves.push(plan) - 1);
      break;
  }
  into[at + 1] = into.length - at;
}

/** After this many events the posted groups are chosen from what was learned; again ×10 until 10,000, then every 50,000. */
const firstReplan = 100;

/** Presearch groups kept per rule: up to `postedGroups` are posted, the others checked before evaluation. */
const maxPresearchGroups = 8;
const postedGroups = 3;
/**
 * A posting is `rule slot << 4 | (posted groups - 1) << 2 | group`: firing it needs no other
 * memory than the rule's state word, `epoch << 4 | groups fired` (one bit per posted group).
 */
const POSTING_SHIFT = 4;

function replanAfter(eventsSeen: number): number {
  return eventsSeen < 10_000 ? eventsSeen * 10 : eventsSeen + 50_000;
}

export function createRuleIndex(rules: CompiledRule[]): RuleMatcher {
  const terms = createTermTable();
  const { postings, scoped, isPrefix } = terms;

  const fieldSlots = new Map<string, number>(defaultFields.map((path, slot) => [path, slot]));
  const fieldPaths: string[] = [...defaultFields];
  const fieldRefs: number[] = defaultFields.map(() => 0);
  let defaultRefs = 0;

  const slots: (RuleSlot | undefined)[] = [];
  const slotsById = new Map<string, number>();
  /** Slots of enabled rules without presearch terms, ascending. */
  let always: number[] = [];
  let enabledCount = 0;
  let eventsSeen = 0;
  let nextReplan = firstReplan;

  // Per-event state, reused: the epoch stamps entries and rules instead of clearing them.
  const state: EventState = { terms, slotFields: [] };
  let ruleStates = new Int32Array(16);
  let candidates = new Int32Array(16);
  let candidateCount = 0;
  /** Every rule's checks and plan program (see `emit`), and where each rule's starts and how long it is. */
  let program = new Int32Array(1_024);
  let programSize = 0;
  let programGarbage = 0;
  let codeAt = new Int32Array(16);
  let codeSize = new Int32Array(16);
  const search = createIndexedSearch(fieldSlots, state);

  function fieldSlotFor(path: string | null): number {
    if (path === null) return DEFAULT_SLOT;
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
    if (size <= ruleStates.length) return;
    const capacity = Math.max(size, ruleStates.length * 2);
    const grow = <T extends Int32Array | Uint8Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    ruleStates = grow(ruleStates, new Int32Array(capacity));
    codeAt = grow(codeAt, new Int32Array(capacity));
    codeSize = grow(codeSize, new Int32Array(capacity));
    candidates = new Int32Array(capacity);
  }

  // --- presearch postings ------------------------------------------------------------------

  function postingsOf(entry: number, fieldSlot: number, create: boolean): number[] | undefined {
    if (fieldSlot === DEFAULT_SLOT) return postings[entry];
    const lists = scoped[entry];
    let list = lists?.find((other) => other.fieldSlot === fieldSlot);
    if (list === undefined && create) {
      list = { fieldSlot, postings: [] } satisfies FieldPostings;
      scoped[entry] = lists == null ? [list] : [...lists, list];
    }
    return list?.postings;
  }

  /** Calls `visit` with each (entry, field slot) of the posted groups, and the group's bit. */
  function forEachPosted(
    ruleSlot: RuleSlot,
    visit: (entry: number, fieldSlot: number, bit: number) => void,
  ): void {
    const flat = ruleSlot.groups!;
    const offsets = groupOffsets(flat);
    ruleSlot.posted.forEach((group, bit) => {
      const at = offsets[group]!;
      for (let i = at + 1; i < at + 1 + 2 * flat[at]!; i += 2) visit(flat[i]!, flat[i + 1]!, bit);
    });
  }

  function post(slot: number, ruleSlot: RuleSlot): void {
    const head = (slot << POSTING_SHIFT) | ((ruleSlot.posted.length - 1) << 2);
    forEachPosted(ruleSlot, (entry, fieldSlot, bit) => {
      const list = postingsOf(entry, fieldSlot, true)!;
      // A rule's postings are added together: a repeated term shows as the last one.
      if (list[list.length - 1] !== (head | bit)) list.push(head | bit);
    });
  }

  function unpost(slot: number, ruleSlot: RuleSlot): void {
    forEachPosted(ruleSlot, (entry, fieldSlot) => {
      const list = postingsOf(entry, fieldSlot, false);
      if (list === undefined) return;
      let kept = 0;
      for (const posting of list) if (posting >>> POSTING_SHIFT !== slot) list[kept++] = posting;
      list.length = kept;
    });
  }

  /**
   * The groups to post: the first ones (the static guess of presearch.ts) until events have
   * taught how often each term occurs, then the rarest (a group's rate is the sum of its terms').
   */
  const groupRates = new Float64Array(maxPresearchGroups);

  function chooseGroups(flat: Int32Array): number[] {
    // All groups, rarest first: the first `postedGroups` are posted, the others checked in this order.
    const count = flat[0]!;
    const order: number[] = new Array(count);
    if (count <= 1 || eventsSeen < firstReplan) {
      for (let g = 0; g < count; g++) order[g] = g;
      return order;
    }
    // Rates, then an insertion sort (stable: ties keep the static order); no closures, few allocations.
    for (let g = 0, at = 1; g < count; g++, at += 1 + 2 * flat[at]!) {
      let rate = 0;
      for (let i = at + 1; i < at + 1 + 2 * flat[at]!; i += 2)
        rate += terms.rate(flat[i]!, flat[i + 1]!, eventsSeen);
      groupRates[g] = rate;
      let j = g;
      for (; j > 0 && groupRates[order[j - 1]!]! > rate; j--) order[j] = order[j - 1]!;
      order[j] = g;
    }
    return order;
  }

  function choose(ruleSlot: RuleSlot): void {
    setOrder(ruleSlot, chooseGroups(ruleSlot.groups!));
  }

  /**
   * Chooses every rule's groups again from what was learned. Only the rules whose choice
   * changed are re-posted and re-emitted (the posting lists they left are filtered once each),
   * so that later passes, when few choices change, do not pause matching for a full rebuild;
   * when many change (the first passes) everything is rebuilt.
   */
  function replan(): void {
    const changed: number[] = [];
    const orders: number[][] = [];
    slots.forEach((ruleSlot, slot) => {
      if (ruleSlot?.groups == null) return;
      const order = chooseGroups(ruleSlot.groups);
      if (samePosted(order, ruleSlot)) return;
      // Hysteresis: rates of similar terms keep crossing; move only for a clearly rarer choice.
      const flat = ruleSlot.groups;
      if (
        eventsSeen > firstReplan &&
        rateOf(flat, order.slice(0, postedGroups)) > 0.7 * rateOf(flat, ruleSlot.posted)
      )
        return;
      changed.push(slot);
      orders.push(order);
    });
    if (changed.length === 0) return;
    if (changed.length * 4 > enabledCount) {
      for (const entry of terms.ids()) {
        postings[entry] = [];
        scoped[entry] = null;
      }
      programSize = 0;
      programGarbage = 0;
      let next = 0;
      slots.forEach((ruleSlot, slot) => {
        if (ruleSlot === undefined) return;
        if (changed[next] === slot) setOrder(ruleSlot, orders[next++]!);
        if (ruleSlot.groups !== null) post(slot, ruleSlot);
        emit(slot, ruleSlot);
      });
      return;
    }
    // Take the changed rules out of the lists they were posted in, each list filtered once.
    const leaving = new Uint8Array(slots.length);
    const lists = new Set<number[]>();
    changed.forEach((slot) => {
      const ruleSlot = slots[slot]!;
      leaving[slot] = 1;
      forEachPosted(ruleSlot, (entry, fieldSlot) => {
        const list = postingsOf(entry, fieldSlot, false);
        if (list !== undefined) lists.add(list);
      });
    });
    for (const list of lists) {
      let kept = 0;
      for (const posting of list) if (leaving[posting >>> POSTING_SHIFT] === 0) list[kept++] = posting;
      list.length = kept;
    }
    changed.forEach((slot, i) => {
      const ruleSlot = slots[slot]!;
      setOrder(ruleSlot, orders[i]!);
      post(slot, ruleSlot);
      unemit(slot);
      emit(slot, ruleSlot);
    });
  }

  function samePosted(order: readonly number[], ruleSlot: RuleSlot): boolean {
    const posted = ruleSlot.posted;
    for (let i = 0; i < posted.length; i++) if (order[i] !== posted[i]) return false;
    return true;
  }

  /** How often, summed, the given groups fired per event (the walk they cost). */
  function rateOf(flat: Int32Array, groups: readonly number[]): number {
    const offsets = groupOffsets(flat);
    let rate = 0;
    for (const group of groups) {
      const at = offsets[group]!;
      for (let i = at + 1; i < at + 1 + 2 * flat[at]!; i += 2)
        rate += terms.rate(flat[i]!, flat[i + 1]!, eventsSeen);
    }
    return rate;
  }

  function setOrder(ruleSlot: RuleSlot, order: readonly number[]): void {
    ruleSlot.posted = order.slice(0, postedGroups);
    ruleSlot.unposted = order.slice(postedGroups);
  }

  // --- rule programs -----------------------------------------------------------------------

  /** The words of phrases, by id (never forgotten: a bounded vocabulary), for `OP_PHRASE`. */
  const wordIds = new Map<string, number>();
  const wordTokens: string[] = [];
  const wordIsPrefix: boolean[] = [];

  function wordId(word: WordPattern): number {
    const key = word.prefix ? `${word.token}*` : word.token;
    let id = wordIds.get(key);
    if (id === undefined) {
      id = wordTokens.length;
      wordIds.set(key, id);
      wordTokens.push(word.token);
      wordIsPrefix.push(word.prefix);
    }
    return id;
  }

  /** Whether the phrase node at `at` occurs (`phraseOccurs` of rule-plan.ts on the program). */
  function phraseHolds(at: number): boolean {
    const code = program;
    const entry = code[at + 2]!;
    if (!terms.occurred(entry)) return false;
    const anchor = code[at + 3]!;
    const wanted = code[at + 4]!;
    const length = code[at + 5]!;
    const words = at + 6;
    const log = terms.allLog;
    const slotFields = state.slotFields;
    for (let record = terms.state[entry * stateStride + ALL_HEAD]!; record >= 0; record = log[record + 3]!) {
      const fieldSlot = log[record]!;
      if (wanted === DEFAULT_SLOT ? fieldSlot >= defaultCount : fieldSlot !== wanted) continue;
      const tokens = slotFields[fieldSlot]!.analysed[log[record + 1]!]!.terms;
      const start = log[record + 2]! - anchor;
      if (start < 0 || start + length > tokens.length) continue;
      let j = 0;
      for (; j < length; j++) {
        const id = code[words + j]!;
        const token = tokens[start + j]!;
        if (wordIsPrefix[id] ? !token.startsWith(wordTokens[id]!) : token !== wordTokens[id]) break;
      }
      if (j === length) return true;
    }
    return false;
  }

  /** Writes a rule's checks and plan program at the end of `program` (see `emitPlan`). */
  function emit(slot: number, ruleSlot: RuleSlot): void {
    if (ruleSlot.plan === null) return;
    const code: number[] = [];
    if (ruleSlot.groups !== null && ruleSlot.unposted.length > 0)
      checksOf(ruleSlot.groups, ruleSlot.unposted, code);
    else code.push(0);
    ruleSlot.leaves.length = 0;
    emitPlan(ruleSlot.plan, ruleSlot.leaves, code, wordId);
    if (programSize + code.length > program.length) {
      const grown = new Int32Array(Math.max(program.length * 2, programSize + code.length));
      grown.set(program.subarray(0, programSize));
      program = grown;
    }
    program.set(code, programSize);
    codeAt[slot] = programSize;
    codeSize[slot] = code.length;
    programSize += code.length;
  }

  /** Forgets a rule's program; rewrites them all when most of `program` is garbage. */
  function unemit(slot: number): void {
    programGarbage += codeSize[slot]!;
    codeSize[slot] = 0;
    if (programGarbage > 1 << 16 && programGarbage * 2 > programSize) {
      programSize = 0;
      programGarbage = 0;
      slots.forEach((ruleSlot, other) => {
        if (ruleSlot !== undefined && other !== slot) emit(other, ruleSlot);
      });
    }
  }

  /** Whether the presearch groups that were not posted each have a term that occurred; `at` is the rule's code. */
  function passesChecks(at: number): boolean {
    const code = program;
    let groupsLeft = code[at++]!;
    for (; groupsLeft > 0; groupsLeft--) {
      const end = at + 1 + 2 * code[at]!;
      let found = false;
      for (at++; at < end && !found; at += 2) found = terms.firstWanted(code[at]!, code[at + 1]!) >= 0;
      if (!found) return false;
      at = end;
    }
    return true;
  }

  /** Where a rule's plan program starts, past its checks. */
  function planAt(at: number): number {
    const code = program;
    let groupsLeft = code[at++]!;
    for (; groupsLeft > 0; groupsLeft--) at += 1 + 2 * code[at]!;
    return at;
  }

  /** Whether the plan program node at `at` holds (`planHolds` on the program). */
  function holdsAt(at: number, leaves: readonly Plan[], context: QueryContext): boolean {
    const code = program;
    switch (code[at]) {
      case OP_WORD:
        return terms.firstWanted(code[at + 2]!, code[at + 3]!) >= 0;
      case OP_AND: {
        const end = at + code[at + 1]!;
        for (let child = at + 2; child < end; child += code[child + 1]!)
          if (!holdsAt(child, leaves, context)) return false;
        return true;
      }
      case OP_OR: {
        const end = at + code[at + 1]!;
        for (let child = at + 2; child < end; child += code[child + 1]!)
          if (holdsAt(child, leaves, context)) return true;
        return false;
      }
      case OP_NOT:
        return !holdsAt(at + 2, leaves, context);
      case OP_PHRASE:
        return phraseHolds(at);
      case OP_NEAR:
        return (
          terms.occurred(code[at + 2]!) &&
          terms.occurred(code[at + 3]!) &&
          planHolds(leaves[code[at + 4]!]!, state, context)
        );
      default:
        return planHolds(leaves[code[at + 2]!]!, state, context);
    }
  }

  // --- pair terms --------------------------------------------------------------------------

  /**
   * Pair terms (presearch.ts: two exact words adjacent in one value): the pair's entry by the
   * entries of its first and second word, and the words of each pair entry. Every rule that
   * holds a pair also holds its two words, so a word entry outlives its pairs.
   */
  const pairsByFirst: (Map<number, number> | undefined)[] = [];
  const pairOf = new Map<number, readonly [number, number]>();

  /** The entry of a presearch word; for a pair term, of its words too, and the pair is registered. */
  function acquirePresearch(
    word: WordPattern,
    acquire: (word: WordPattern, isPositional: boolean) => number,
  ) {
    const words = pairWords(word.token);
    if (words === null) return acquire(word, false);
    const first = acquire({ token: words[0], prefix: false }, false);
    const second = acquire({ token: words[1], prefix: false }, false);
    const pair = acquire(word, false);
    let seconds = pairsByFirst[first];
    if (seconds === undefined) {
      seconds = new Map();
      pairsByFirst[first] = seconds;
    }
    seconds.set(second, pair);
    pairOf.set(pair, [first, second]);
    return pair;
  }

  /** Forgets the pairs among `entries` that are no longer in the term table. */
  function forgetPairs(entries: readonly number[]): void {
    for (const entry of entries) {
      const words = pairOf.get(entry);
      if (words === undefined || terms.exact.get(terms.tokens[entry]!) === entry) continue;
      pairOf.delete(entry);
      const seconds = pairsByFirst[words[0]]!;
      seconds.delete(words[1]);
      if (seconds.size === 0) pairsByFirst[words[0]] = undefined;
    }
  }

  // --- rules -------------------------------------------------------------------------------

  function register(slot: number, rule: CompiledRule): RuleSlot {
    const enabled = rule.definition.enabled !== false;
    const acquired: number[] = [];
    const positional: number[] = [];
    const fields: number[] = [];
    if (!enabled)
      return {
        rule,
        enabled,
        plan: null,
        acquired,
        positional,
        fields,
        groups: null,
        posted: [],
        unposted: [],
        leaves: [],
      };
    const acquire = (word: WordPattern, isPositional: boolean) => {
      const entry = terms.acquire(word, isPositional);
      (isPositional ? positional : acquired).push(entry);
      return entry;
    };
    const useField = (path: string | null) => {
      const fieldSlot = fieldSlotFor(path);
      if (fieldSlot === DEFAULT_SLOT) defaultRefs++;
      else fieldRefs[fieldSlot]!++;
      fields.push(fieldSlot);
      return fieldSlot;
    };
    const plan = planQuery(rule.query, { acquire, useField });
    // A presearch term is usually an anchor already; a phrase's other words get an entry of their own.
    const presearch = presearchGroups(rule.query, maxPresearchGroups);
    const groups =
      presearch === null
        ? null
        : flattenGroups(
            presearch.map((group) =>
              group.map(({ word, field }) => ({
                entry: acquirePresearch(word, acquire),
                fieldSlot: fieldSlotFor(field),
              })),
            ),
          );
    // `slice`: arrays grown by `push` keep spare capacity; 100,000 rules keep many of them.
    const ruleSlot: RuleSlot = {
      rule,
      enabled,
      plan,
      acquired: acquired.slice(),
      positional: positional.slice(),
      fields: fields.slice(),
      groups,
      posted: [],
      unposted: [],
      leaves: [],
    };
    if (groups === null) {
      always.push(slot);
      if (always.length > 1 && always[always.length - 2]! > slot) always.sort((a, b) => a - b);
    } else {
      choose(ruleSlot);
      post(slot, ruleSlot);
    }
    emit(slot, ruleSlot);
    enabledCount++;
    return ruleSlot;
  }

  function unregister(slot: number, ruleSlot: RuleSlot): void {
    if (!ruleSlot.enabled) return;
    enabledCount--;
    if (ruleSlot.groups === null) always = always.filter((other) => other !== slot);
    else unpost(slot, ruleSlot);
    unemit(slot);
    for (const field of ruleSlot.fields) {
      if (field === DEFAULT_SLOT) defaultRefs--;
      else fieldRefs[field]!--;
    }
    for (const entry of ruleSlot.acquired) terms.release(entry, false);
    for (const entry of ruleSlot.positional) terms.release(entry, true);
    forgetPairs(ruleSlot.acquired);
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

  // --- per event ---------------------------------------------------------------------------

  function fire(list: readonly number[]): void {
    const tag = terms.epoch << 4;
    for (let i = 0; i < list.length; i++) {
      const posting = list[i]!;
      const slot = posting >>> POSTING_SHIFT;
      let state = ruleStates[slot]!;
      if ((state & ~15) !== tag) state = tag;
      const fired = (state & 15) | (1 << (posting & 3));
      if (fired === (state & 15)) continue;
      ruleStates[slot] = tag | fired;
      if (fired === (2 << ((posting >>> 2) & 3)) - 1) candidates[candidateCount++] = slot;
    }
  }

  /**
   * An occurrence of entry `id`: on its first one per field, fires its postings and logs it
   * (the first occurrence per field is all single words need); logs every one for entries that
   * phrases or NEAR read. See term-table.ts for the layout.
   */
  function hit(id: number, fieldSlot: number, valueIndex: number, token: number): void {
    const entryState = terms.state;
    const base = id * stateStride;
    if (entryState[base + EPOCH] !== terms.epoch) {
      entryState[base + EPOCH] = terms.epoch;
      entryState[base + LAST_SLOT] = -1;
      entryState[base + FIRST_TAIL] = -1;
      entryState[base + ALL_HEAD] = -1;
      entryState[base + ALL_TAIL] = -1;
      // Default slots come first: the first occurrence of an event tells about the default fields.
      if (fieldSlot < defaultCount) {
        entryState[base + DF_DEFAULT]!++;
        const list = postings[id]!;
        if (list.length > 0) fire(list);
      }
    }
    if (entryState[base + LAST_SLOT] !== fieldSlot) {
      entryState[base + LAST_SLOT] = fieldSlot;
      if (fieldSlot < LEARNED_SLOTS) terms.slotCounts[id * LEARNED_SLOTS + fieldSlot]!++;
      const at = terms.firstLogSize;
      const log = appendRecord(terms.firstLog, at, fieldSlot, valueIndex, token);
      terms.firstLog = log;
      terms.firstLogSize = at + RECORD;
      const tail = entryState[base + FIRST_TAIL]!;
      if (tail >= 0) log[tail + 3] = at;
      else entryState[base + FIRST_HEAD] = at;
      entryState[base + FIRST_TAIL] = at;
      const lists = scoped[id];
      if (lists != null) for (const list of lists) if (list.fieldSlot === fieldSlot) fire(list.postings);
    }
    if (terms.positional[id]! > 0) {
      const at = terms.allLogSize;
      const log = appendRecord(terms.allLog, at, fieldSlot, valueIndex, token);
      terms.allLog = log;
      terms.allLogSize = at + RECORD;
      const tail = entryState[base + ALL_TAIL]!;
      if (tail >= 0) log[tail + 3] = at;
      else entryState[base + ALL_HEAD] = at;
      entryState[base + ALL_TAIL] = at;
    }
  }

  /** Analyses the fields rules read and records every occurrence of their words; fills `candidates`. */
  function scan(analysis: EventAnalysis): void {
    const slotFields = state.slotFields;
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
        const tokens = analysed.terms;
        // The exact entry of the previous token (-1: none), for pair terms.
        let previous = -1;
        for (let t = 0; t < tokens.length; t++) {
          const ids = terms.matchesOf(tokens[t]!);
          for (let k = 0; k < ids.length; k++) hit(ids[k]!, fieldSlot, valueIndex, t);
          const current = ids.length > 0 && !isPrefix[ids[0]!] ? ids[0]! : -1;
          if (previous >= 0 && current >= 0) {
            const pair = pairsByFirst[previous]?.get(current);
            if (pair !== undefined) hit(pair, fieldSlot, valueIndex, t - 1);
          }
          previous = current;
        }
      }
    }
  }

  function match(event: IntelEvent): RuleMatch[] {
    if (enabledCount === 0) return [];
    terms.beginEvent();
    // Rule state words hold the epoch in 27 bits: restart them (and the entries) before it overflows.
    if (terms.epoch >= 1 << 27) terms.resetEpochs();
    if (terms.epoch === 1) ruleStates.fill(0);
    const analysis = createEventAnalysis(event);
    candidateCount = 0;
    scan(analysis);

    const ordered = candidates.subarray(0, candidateCount).sort();
    const context: QueryContext = { analysis, search };
    const matched: RuleMatch[] = [];
    // Merge the two ascending lists (they never share a slot): rule order.
    let c = 0;
    let a = 0;
    while (c < ordered.length || a < always.length) {
      const slot =
        a >= always.length || (c < ordered.length && ordered[c]! < always[a]!) ? ordered[c++]! : always[a++]!;
      if (codeSize[slot] === 0) continue;
      const at = codeAt[slot]!;
      if (!passesChecks(at)) continue;
      const ruleSlot = slots[slot]!;
      if (!holdsAt(planAt(at), ruleSlot.leaves, context)) continue;
      const matches: MatchExplanation[] = [];
      explainPlan(ruleSlot.plan!, state, context, matches);
      matched.push({ rule: ruleSlot.rule, matches });
    }

    if (++eventsSeen === nextReplan) {
      nextReplan = replanAfter(eventsSeen);
      replan();
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
