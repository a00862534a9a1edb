import type { MatchExplanation } from '../alerts/alert.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule, RuleMatch, RuleMatcher } from './compiled-rule.ts';
import type { QueryContext } from './evaluate-query.ts';
import { createEventAnalysis, type EventAnalysis } from './event-analysis.ts';
import { presearchGroups } from './presearch.ts';
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
  /**
   * The groups not posted, flat for a quick pass over them: group count, then per group its
   * term count and (entry, field slot) pairs. Null when every group is posted.
   */
  checks: Int32Array | null;
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

/** The flat form of the groups not posted (see `RuleSlot.checks`). */
function checksOf(flat: Int32Array, posted: readonly number[]): Int32Array | null {
  const offsets = groupOffsets(flat);
  const rest = offsets.filter((_, g) => !posted.includes(g));
  if (rest.length === 0) return null;
  const checks = [rest.length];
  for (const at of rest) for (let i = at; i <= at + 2 * flat[at]!; i++) checks.push(flat[i]!);
  return Int32Array.from(checks);
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
  const { postings, scoped } = terms;

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
    ruleSlot.checks = checksOf(ruleSlot.groups!, ruleSlot.posted);
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
  function chooseGroups(flat: Int32Array): number[] {
    const count = flat[0]!;
    const order = Array.from({ length: count }, (_, g) => g);
    if (count > postedGroups && eventsSeen >= firstReplan) {
      const rates = groupOffsets(flat).map((at) => {
        let rate = 0;
        for (let i = at + 1; i < at + 1 + 2 * flat[at]!; i += 2)
          rate += terms.rate(flat[i]!, flat[i + 1]!, eventsSeen);
        return rate;
      });
      order.sort((a, b) => rates[a]! - rates[b]! || a - b);
    }
    return order.slice(0, postedGroups);
  }

  /** Chooses every rule's posted groups again and rebuilds the posting lists. */
  function replan(): void {
    for (const entry of terms.ids()) {
      postings[entry] = [];
      scoped[entry] = null;
    }
    slots.forEach((ruleSlot, slot) => {
      if (ruleSlot?.groups == null) return;
      ruleSlot.posted = chooseGroups(ruleSlot.groups);
      post(slot, ruleSlot);
    });
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
        checks: null,
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
                entry: acquire(word, false),
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
      checks: null,
    };
    if (groups === null) {
      always.push(slot);
      if (always.length > 1 && always[always.length - 2]! > slot) always.sort((a, b) => a - b);
    } else {
      ruleSlot.posted = chooseGroups(groups);
      post(slot, ruleSlot);
    }
    enabledCount++;
    return ruleSlot;
  }

  function unregister(slot: number, ruleSlot: RuleSlot): void {
    if (!ruleSlot.enabled) return;
    enabledCount--;
    if (ruleSlot.groups === null) always = always.filter((other) => other !== slot);
    else unpost(slot, ruleSlot);
    for (const field of ruleSlot.fields) {
      if (field === DEFAULT_SLOT) defaultRefs--;
      else fieldRefs[field]!--;
    }
    for (const entry of ruleSlot.acquired) terms.release(entry, false);
    for (const entry of ruleSlot.positional) terms.release(entry, true);
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
        for (let t = 0; t < tokens.length; t++) {
          const ids = terms.matchesOf(tokens[t]!);
          for (let k = 0; k < ids.length; k++) hit(ids[k]!, fieldSlot, valueIndex, t);
        }
      }
    }
  }

  /** Whether each presearch group that was not posted has a term that occurred (see `RuleSlot.checks`). */
  function passesChecks(checks: Int32Array): boolean {
    let at = 1;
    for (let g = checks[0]!; g > 0; g--) {
      const end = at + 1 + 2 * checks[at]!;
      let found = false;
      for (at++; at < end && !found; at += 2) found = terms.firstWanted(checks[at]!, checks[at + 1]!) >= 0;
      if (!found) return false;
      at = end;
    }
    return true;
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
      const ruleSlot = slots[slot];
      if (ruleSlot?.plan == null) continue;
      if (ruleSlot.checks !== null && !passesChecks(ruleSlot.checks)) continue;
      if (!planHolds(ruleSlot.plan, state, context)) continue;
      const matches: MatchExplanation[] = [];
      explainPlan(ruleSlot.plan, state, context, matches);
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
