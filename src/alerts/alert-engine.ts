import { hash } from 'node:crypto';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule, RuleMatch } from '../rules/compiled-rule.ts';
import { parseDuration } from '../rules/rule-schema.ts';
import type { Alert, EventSnapshot } from './alert.ts';
import { groupValuesOf } from './group-values.ts';

/**
 * The stateful half of matching (shared/spec/rule-language.md, "Stateful conditions" and
 * "Alerts, dedup and throttle"): per-rule dedup, threshold groups and throttles. Pure: it takes
 * an event with the rules that matched it and returns the alerts, suppressed ones included, so
 * the service and `tocsin match` give the same alerts for the same ordered stream.
 *
 * Invariants:
 * - A rule reacts to an event id once: the ledger remembers every id a rule matched, so a
 *   redelivered event neither alerts nor counts again, even after its group fired.
 * - A threshold group holds fewer than `count` events between calls: it empties when it fires.
 * - A group's `lastAlertTime` only moves on an alert the throttle did not suppress.
 * - The state is plain JSON; `takeChanges` lets a pipeline persist it incrementally, in the
 *   same transaction as the alerts, and `createAlertEngine(state)` resumes where it stopped.
 */

/** A matching event remembered by a threshold group. */
export type GroupEntry = {
  id: string;
  /** Event time, epoch ms. */
  time: number;
  /** The event's `publishedAt` as given, for the alert's `eventTime`. */
  publishedAt: string;
};

export type GroupState = {
  /** Matching events still inside the window, in arrival order. */
  events: GroupEntry[];
  /** Event time (epoch ms) of the group's last alert that the throttle did not suppress. */
  lastAlertTime?: number;
};

/** Group key of a rule's only group (a plain rule, or a threshold without `groupBy`); never a JSON text. */
export const ruleGroupKey = '';

export type AlertEngineState = {
  version: 1;
  /** ruleId → eventId → event time (epoch ms) of every event the rule matched. */
  ledger: Record<string, Record<string, number>>;
  /** ruleId → group key (JSON text of the `groupBy` value, or `ruleGroupKey`) → state. */
  groups: Record<string, Record<string, GroupState>>;
};

export type LedgerEntry = { ruleId: string; eventId: string; eventTime: number };
/** `state: null` means the group is gone (fired with nothing left to remember). */
export type GroupChange = { ruleId: string; group: string; state: GroupState | null };
/**
 * What changed since the last `takeChanges`. Apply in this order: delete everything of the
 * `forgotten` rules, insert the `ledger` entries, upsert (or delete, on null) the `groups`.
 */
export type AlertEngineChanges = { forgotten: string[]; ledger: LedgerEntry[]; groups: GroupChange[] };

export type AlertEngineOptions = {
  /** Record changes for `takeChanges` (default true); off for one-shot runs such as `tocsin match`. */
  trackChanges?: boolean;
};

export type AlertEngine = ReturnType<typeof createAlertEngine>;

export function createAlertEngine(initial?: AlertEngineState, options: AlertEngineOptions = {}) {
  const trackChanges = options.trackChanges ?? true;
  // The event time of a ledger entry sits in an object shared by all the rules that matched the
  // event (its group entry), rather than a number boxed anew for every rule.
  const ledger = new Map<string, Map<string, { readonly time: number }>>();
  const groups = new Map<string, Map<string, GroupState>>();
  for (const [ruleId, entries] of Object.entries(initial?.ledger ?? {})) {
    ledger.set(ruleId, new Map(Object.entries(entries).map(([eventId, time]) => [eventId, { time }])));
  }
  for (const [ruleId, byKey] of Object.entries(initial?.groups ?? {})) {
    groups.set(ruleId, new Map(Object.entries(byKey).map(([key, state]) => [key, copyGroup(state)])));
  }

  let forgotten: string[] = [];
  let newLedger: LedgerEntry[] = [];
  let changedGroups = new Map<string, Set<string>>();

  function markChanged(ruleId: string, key: string): void {
    if (!trackChanges) return;
    let keys = changedGroups.get(ruleId);
    if (!keys) {
      keys = new Set();
      changedGroups.set(ruleId, keys);
    }
    keys.add(key);
  }

  function groupOf(ruleId: string, key: string): GroupState {
    let byKey = groups.get(ruleId);
    if (!byKey) {
      byKey = new Map();
      groups.set(ruleId, byKey);
    }
    let group = byKey.get(key);
    if (!group) {
      group = { events: [] };
      byKey.set(key, group);
    }
    return group;
  }

  /** True when the throttle suppresses an alert of this group at `alertTime`; else marks the group. */
  function isSuppressed(rule: CompiledRule, key: string, alertTime: number): boolean {
    const throttleMs = throttleOf(rule);
    if (throttleMs === undefined) return false;
    const group = groupOf(rule.id, key);
    // A late alert (older than the last one) gives a negative difference: suppressed too.
    if (group.lastAlertTime !== undefined && alertTime - group.lastAlertTime < throttleMs) return true;
    group.lastAlertTime = alertTime;
    markChanged(rule.id, key);
    return false;
  }

  function process(event: IntelEvent, matches: readonly RuleMatch[]): Alert[] {
    const alerts: Alert[] = [];
    if (matches.length === 0) return alerts;
    const eventId = event.id;
    const publishedAt = event.publishedAt;
    const time = Date.parse(publishedAt);
    // Shared by every alert of this event; built on the first one.
    let snapshot: EventSnapshot | undefined;
    let entry: GroupEntry | undefined;
    let eventIdJson: string | undefined;

    for (const match of matches) {
      const rule = match.rule;
      const ruleId = rule.id;
      let seen = ledger.get(ruleId);
      if (seen === undefined) {
        seen = new Map();
        ledger.set(ruleId, seen);
      } else if (seen.has(eventId)) continue;
      entry ??= { id: eventId, time, publishedAt };
      seen.set(eventId, entry);
      if (trackChanges) newLedger.push({ ruleId, eventId, eventTime: time });

      snapshot ??= snapshotOf(event);
      const definition = rule.definition;
      const threshold = definition.threshold;
      if (!threshold) {
        eventIdJson ??= JSON.stringify(eventId);
        alerts.push({
          id: hashId(`[${JSON.stringify(ruleId)},"",[${eventIdJson}]]`),
          ruleId,
          ruleName: definition.name,
          severity: definition.severity,
          tags: definition.tags,
          group: null,
          eventIds: [eventId],
          eventTime: publishedAt,
          matches: match.matches,
          event: snapshot,
          suppressed: isSuppressed(rule, ruleGroupKey, time),
        });
        continue;
      }
      const withinMs = rule.withinMs ?? parseDuration(threshold.within);
      const values = threshold.groupBy ? groupValuesOf(event, threshold.groupBy) : singleGroup;
      for (const { key, label } of values) {
        let byKey = groups.get(ruleId);
        if (byKey === undefined) {
          byKey = new Map();
          groups.set(ruleId, byKey);
        }
        let group = byKey.get(key);
        if (group === undefined) {
          group = { events: [entry] };
          byKey.set(key, group);
        } else {
          group.events.push(entry);
          const held = group.events;
          let newestTime = time;
          for (let i = 0; i < held.length; i++) if (held[i]!.time > newestTime) newestTime = held[i]!.time;
          let expired = false;
          for (let i = 0; i < held.length; i++) {
            if (newestTime - held[i]!.time > withinMs) {
              expired = true;
              break;
            }
          }
          if (expired) group.events = held.filter((e) => newestTime - e.time <= withinMs);
        }
        markChanged(ruleId, key);
        if (group.events.length >= threshold.count) {
          // Oldest first; the sort is stable, so ties keep arrival order.
          const fired = sortedByTime(group.events);
          group.events = [];
          const newest = fired[fired.length - 1]!;
          const eventIds = fired.map((e) => e.id);
          alerts.push({
            id: alertIdOf(ruleId, key, eventIds),
            ruleId,
            ruleName: definition.name,
            severity: definition.severity,
            tags: definition.tags,
            group: label,
            eventIds,
            eventTime: newest.publishedAt,
            matches: match.matches,
            event: snapshot,
            suppressed: isSuppressed(rule, key, newest.time),
          });
        }
        if (group.events.length === 0 && group.lastAlertTime === undefined) {
          byKey.delete(key);
          if (byKey.size === 0) groups.delete(ruleId);
        }
      }
    }
    return alerts;
  }

  /** Drops everything remembered for a rule: call it when a rule is removed or its definition changes. */
  function forgetRule(ruleId: string): void {
    ledger.delete(ruleId);
    groups.delete(ruleId);
    if (!trackChanges) return;
    newLedger = newLedger.filter((entry) => entry.ruleId !== ruleId);
    changedGroups.delete(ruleId);
    if (!forgotten.includes(ruleId)) forgotten.push(ruleId);
  }

  function state(): AlertEngineState {
    const out: AlertEngineState = { version: 1, ledger: {}, groups: {} };
    for (const [ruleId, seen] of ledger) {
      const times: Record<string, number> = {};
      for (const [eventId, { time }] of seen) times[eventId] = time;
      out.ledger[ruleId] = times;
    }
    for (const [ruleId, byKey] of groups) {
      out.groups[ruleId] = Object.fromEntries([...byKey].map(([key, group]) => [key, copyGroup(group)]));
    }
    return out;
  }

  function takeChanges(): AlertEngineChanges {
    const groupChanges: GroupChange[] = [];
    for (const [ruleId, keys] of changedGroups) {
      const byKey = groups.get(ruleId);
      for (const key of keys) {
        const group = byKey?.get(key);
        groupChanges.push({ ruleId, group: key, state: group ? copyGroup(group) : null });
      }
    }
    const changes = { forgotten, ledger: newLedger, groups: groupChanges };
    forgotten = [];
    newLedger = [];
    changedGroups = new Map();
    return changes;
  }

  return { process, forgetRule, state, takeChanges };
}

function throttleOf(rule: CompiledRule): number | undefined {
  if (rule.throttleMs !== undefined) return rule.throttleMs;
  const { throttle } = rule.definition;
  return throttle === undefined ? undefined : parseDuration(throttle);
}

function copyGroup(group: GroupState): GroupState {
  const copy: GroupState = { events: group.events.map((entry) => ({ ...entry })) };
  if (group.lastAlertTime !== undefined) copy.lastAlertTime = group.lastAlertTime;
  return copy;
}

/** Deterministic, so a replay of the same stream produces the same alert ids. */
export function alertIdOf(ruleId: string, groupKey: string, eventIds: readonly string[]): string {
  // The same text as JSON.stringify([ruleId, groupKey, eventIds]), without the array walk.
  let ids = '';
  for (let i = 0; i < eventIds.length; i++)
    ids += i === 0 ? JSON.stringify(eventIds[i]) : `,${JSON.stringify(eventIds[i])}`;
  return hashId(`[${JSON.stringify(ruleId)},${JSON.stringify(groupKey)},[${ids}]]`);
}

/** First 32 hex digits of the SHA-256 of `text` (UTF-8); one-shot, no Hash object. */
function hashId(text: string): string {
  return hash('sha256', text, 'hex').slice(0, 32);
}

/** `events` oldest first, stable (ties keep arrival order); the array itself when already in order. */
function sortedByTime(events: GroupEntry[]): GroupEntry[] {
  for (let i = 1; i < events.length; i++) {
    if (events[i]!.time < events[i - 1]!.time) return events.toSorted((a, b) => a.time - b.time);
  }
  return events;
}

/** The values of a threshold without `groupBy`: its one group. */
const singleGroup: readonly { key: string; label: string | null }[] = [{ key: ruleGroupKey, label: null }];

function snapshotOf(event: IntelEvent): EventSnapshot {
  const snapshot: EventSnapshot = { id: event.id, title: event.title, publishedAt: event.publishedAt };
  if (event.summary !== undefined) snapshot.summary = event.summary;
  if (event.url !== undefined) snapshot.url = event.url;
  if (event.source !== undefined) {
    snapshot.source = { name: event.source.name };
    if (event.source.url !== undefined) snapshot.source.url = event.source.url;
  }
  return snapshot;
}
