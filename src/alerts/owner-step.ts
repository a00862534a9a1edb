import type { Alert } from './alert.ts';
import { alertIdOf, type MatchRecord, recordKeyOf } from './match-record.ts';

/**
 * The owner step of the alert engine: stateful match records (match-record.ts) applied in order
 * to per-group state (shared/spec/rule-language.md, "Stateful conditions" and "Alerts, dedup and
 * throttle"). Pure and in memory; the caller loads the groups it owns and persists the changes
 * (`takeChanges`) in the transaction that stores the alerts.
 *
 * Invariants:
 * - A group reacts to an event id once: its ledger remembers the ids it counted, so a
 *   redelivered match neither alerts nor counts again, even after its group fired. The ledger
 *   drops an id once it is older than the group's newest event by more than twice the larger of
 *   the window and the throttle (the span in which the id could still count or alert, with a
 *   margin for late events), so a group's memory is bounded by what the rule can still use,
 *   never by the events seen. An id redelivered later than that is older than everything the
 *   group holds: it expires from the window at once, and a throttle suppresses its alert, whose
 *   id (rule, event) the store already holds.
 * - A threshold group holds fewer than `count` events between applies: it empties when it fires.
 * - A group's `lastAlertTime` only moves on an alert the throttle did not suppress.
 * - Alert ids are functions of the ordered input: the same records in the same order give the
 *   same alerts with the same ids, whoever applies them.
 * - A record whose rule version differs from the group's starts the group afresh (the rule was
 *   redefined).
 */

/** A matching event remembered by a threshold group. */
export type GroupEntry = {
  id: string;
  /** Event time, epoch ms. */
  time: number;
  /** The event's `publishedAt` as given, for the alert's `eventTime`. */
  publishedAt: string;
};

export type OwnerGroupState = {
  /** The rule version (`RecordRule.version`) the state was built under. */
  version: string;
  /** Matching events still inside the window, in arrival order. */
  events: GroupEntry[];
  /** Event time (epoch ms) of the group's last alert that the throttle did not suppress. */
  lastAlertTime?: number;
  /** Event id → event time (epoch ms) of every event the group counted, within its horizon. */
  seen: Record<string, number>;
  /** Newest event time (epoch ms) the group has seen. */
  newest: number;
  /** The longest span an event can still matter in: the larger of the window and the throttle (ms). */
  horizonMs: number;
  /**
   * The ledger is pruned when it reaches this many ids (then set to twice what is left, at least
   * 16). Part of the state, so a restored group prunes at the same points as one that never
   * stopped: the same ordered input gives the same alerts across restarts.
   */
  pruneAt: number;
};

/** One group's identity; `state: null` means the group is gone. */
export type OwnerGroupChange = {
  tenantId: string;
  ruleId: string;
  group: string;
  state: OwnerGroupState | null;
};

export type OwnerGroupRow = { tenantId: string; ruleId: string; group: string; state: OwnerGroupState };

export type OwnerStep = ReturnType<typeof createOwnerStep>;

export function createOwnerStep(
  initial: readonly OwnerGroupRow[] = [],
  options: { trackChanges?: boolean } = {},
) {
  const trackChanges = options.trackChanges ?? true;
  type Held = {
    tenantId: string;
    ruleId: string;
    group: string;
    state: OwnerGroupState;
    seenCount: number;
  };
  const groups = new Map<string, Held>();
  for (const row of initial) {
    const count = Object.keys(row.state.seen).length;
    groups.set(recordKeyOf(row), {
      tenantId: row.tenantId,
      ruleId: row.ruleId,
      group: row.group,
      state: copyState(row.state),
      seenCount: count,
    });
  }
  let changed = new Set<string>();

  function heldOf(record: MatchRecord, key: string): Held {
    let held = groups.get(key);
    if (held === undefined || held.state.version !== record.rule.version) {
      held = {
        tenantId: record.tenantId,
        ruleId: record.ruleId,
        group: record.group,
        state: {
          version: record.rule.version,
          events: [],
          seen: {},
          newest: Number.MIN_SAFE_INTEGER,
          horizonMs: Math.max(record.rule.threshold?.withinMs ?? 0, record.rule.throttleMs ?? 0),
          pruneAt: 16,
        },
        seenCount: 0,
      };
      groups.set(key, held);
    }
    return held;
  }

  /** True when the throttle suppresses an alert of this group at `alertTime`; else marks the group. */
  function isSuppressed(state: OwnerGroupState, throttleMs: number | undefined, alertTime: number): boolean {
    if (throttleMs === undefined) return false;
    // A late alert (older than the last one) gives a negative difference: suppressed too.
    if (state.lastAlertTime !== undefined && alertTime - state.lastAlertTime < throttleMs) return true;
    state.lastAlertTime = alertTime;
    return false;
  }

  /** Drops ledger ids older than the span in which they could still count or alert. */
  function prune(held: Held, horizonMs: number): void {
    const { state } = held;
    // Twice the horizon: a margin for events that arrive late (out of event-time order).
    const oldest = state.newest - 2 * horizonMs;
    let count = 0;
    for (const id in state.seen) {
      if (state.seen[id]! < oldest) delete state.seen[id];
      else count++;
    }
    held.seenCount = count;
    state.pruneAt = Math.max(16, count * 2);
  }

  function apply(record: MatchRecord): Alert[] {
    const key = recordKeyOf(record);
    const held = heldOf(record, key);
    const { state } = held;
    const eventId = record.eventId;
    if (state.seen[eventId] !== undefined) return [];
    const time = Date.parse(record.eventTime);
    state.seen[eventId] = time;
    if (time > state.newest) state.newest = time;
    held.seenCount++;
    if (trackChanges) changed.add(key);
    const rule = record.rule;
    const threshold = rule.threshold;
    if (held.seenCount >= state.pruneAt) prune(held, state.horizonMs);
    const alerts: Alert[] = [];
    if (!threshold) {
      alerts.push({
        id: alertIdOf(record.ruleId, '', [eventId]),
        ruleId: record.ruleId,
        ruleName: rule.name,
        severity: rule.severity,
        tags: rule.tags,
        group: null,
        eventIds: [eventId],
        eventTime: record.eventTime,
        matches: record.matches,
        event: record.event,
        suppressed: isSuppressed(state, rule.throttleMs, time),
      });
      return alerts;
    }
    const withinMs = threshold.withinMs;
    const entry: GroupEntry = { id: eventId, time, publishedAt: record.eventTime };
    state.events.push(entry);
    const held2 = state.events;
    if (held2.length > 1) {
      let newestTime = time;
      for (let i = 0; i < held2.length; i++) if (held2[i]!.time > newestTime) newestTime = held2[i]!.time;
      let expired = false;
      for (let i = 0; i < held2.length; i++) {
        if (newestTime - held2[i]!.time > withinMs) {
          expired = true;
          break;
        }
      }
      if (expired) state.events = held2.filter((e) => newestTime - e.time <= withinMs);
    }
    if (state.events.length >= threshold.count) {
      // Oldest first; the sort is stable, so ties keep arrival order.
      const fired = sortedByTime(state.events);
      state.events = [];
      const newest = fired[fired.length - 1]!;
      const eventIds = fired.map((e) => e.id);
      alerts.push({
        id: alertIdOf(record.ruleId, record.group, eventIds),
        ruleId: record.ruleId,
        ruleName: rule.name,
        severity: rule.severity,
        tags: rule.tags,
        group: record.label,
        eventIds,
        eventTime: newest.publishedAt,
        matches: record.matches,
        event: record.event,
        suppressed: isSuppressed(state, rule.throttleMs, newest.time),
      });
    }
    return alerts;
  }

  /**
   * Drops the groups that can no longer change an outcome: no event in the window, no throttle
   * mark within reach, and every ledger id past the horizon, judged against `now` (the newest
   * event time the caller has seen). A group that comes back later starts afresh, as it would.
   */
  function sweep(now: number): number {
    let dropped = 0;
    for (const [key, held] of groups) {
      if (now - held.state.newest <= 2 * held.state.horizonMs) continue;
      groups.delete(key);
      if (trackChanges) changed.add(key);
      dropped++;
    }
    return dropped;
  }

  /** Drops every group of a rule (removed or redefined). */
  function forgetRule(ruleId: string): void {
    for (const [key, held] of groups) {
      if (held.ruleId !== ruleId) continue;
      groups.delete(key);
      if (trackChanges) changed.add(key);
    }
  }

  /** The groups changed since the last call, each with its current state (null: gone). */
  function takeChanges(): OwnerGroupChange[] {
    const out: OwnerGroupChange[] = [];
    for (const key of changed) {
      const held = groups.get(key);
      if (held)
        out.push({
          tenantId: held.tenantId,
          ruleId: held.ruleId,
          group: held.group,
          state: copyState(held.state),
        });
      else {
        const [tenantId, ruleId, group] = key.split('\u0000') as [string, string, string];
        out.push({ tenantId, ruleId, group, state: null });
      }
    }
    changed = new Set();
    return out;
  }

  function rows(): OwnerGroupRow[] {
    return [...groups.values()].map((held) => ({
      tenantId: held.tenantId,
      ruleId: held.ruleId,
      group: held.group,
      state: copyState(held.state),
    }));
  }

  return { apply, forgetRule, sweep, takeChanges, rows, size: () => groups.size };
}

function copyState(state: OwnerGroupState): OwnerGroupState {
  const copy: OwnerGroupState = {
    version: state.version,
    events: state.events.map((entry) => ({ ...entry })),
    seen: { ...state.seen },
    newest: state.newest,
    horizonMs: state.horizonMs,
    pruneAt: state.pruneAt,
  };
  if (state.lastAlertTime !== undefined) copy.lastAlertTime = state.lastAlertTime;
  return copy;
}

/** `events` oldest first, stable (ties keep arrival order); the array itself when already in order. */
function sortedByTime(events: GroupEntry[]): GroupEntry[] {
  for (let i = 1; i < events.length; i++) {
    if (events[i]!.time < events[i - 1]!.time) return events.toSorted((a, b) => a.time - b.time);
  }
  return events;
}
