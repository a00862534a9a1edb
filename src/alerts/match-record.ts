import { hash } from 'node:crypto';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule, RuleMatch } from '../rules/compiled-rule.ts';
import { parseDuration, type Severity } from '../rules/rule-schema.ts';
import type { Alert, EventSnapshot, MatchExplanation } from './alert.ts';
import { groupValuesOf } from './group-values.ts';

/**
 * The source step of the alert engine (shared/spec/architecture.md, "Cluster"): what can be
 * decided from one event alone. Pure.
 *
 * - A plain rule (no threshold, no throttle) alerts right here. Its (rule, event) dedup is NOT
 *   kept in memory: its alert id is a function of (rule, event), and the store drops an alert
 *   whose id it already holds, in the batch's transaction.
 * - A stateful rule (a threshold, or any throttle) needs every match of one (tenant, rule,
 *   group) in one place: the source step gives one `MatchRecord` per group the event falls in,
 *   carrying everything the alert needs, so the owner (owner-step.ts) never re-reads the event
 *   nor the rule index.
 */

/** Group key of a rule's only group (a plain rule, or a threshold without `groupBy`); never a JSON text. */
export const ruleGroupKey = '';

/** What an owner needs of a stateful rule: carried by each match, so an owner's index may lag. */
export type RecordRule = {
  name: string;
  severity: Severity;
  tags: string[];
  /** A hash of the definition: a redefined rule starts its groups afresh. */
  version: string;
  threshold?: { count: number; withinMs: number };
  throttleMs?: number;
};

/** One match of a stateful rule, for one of its groups; JSON-serialisable (the matches topic). */
export type MatchRecord = {
  tenantId: string;
  ruleId: string;
  rule: RecordRule;
  /** The engine's group key: JSON text of the `groupBy` value, or `ruleGroupKey`. */
  group: string;
  /** What an alert shows as its group: null for a rule without `groupBy`. */
  label: string | null;
  eventId: string;
  /** The event's `publishedAt` as given. */
  eventTime: string;
  matches: MatchExplanation[];
  event: EventSnapshot;
  /**
   * Where the event was read (Kafka ingest): its source partition (`<topic>/<partition>`),
   * offset, and the record's index among the event's records. An owner applies a record only
   * when (offset, index) is past the partition's mark, so matches produced again after a source
   * crash are skipped however far back the replay reaches. Absent for HTTP ingest.
   */
  source?: { partition: string; offset: number; index: number };
};

/** The source step's output for one event, in rule order: plain alerts and stateful matches interleaved. */
export type SourceOutput = { alert: Alert; record?: undefined } | { alert?: undefined; record: MatchRecord };

/** The key a match record is partitioned by (the matches topic's message key): tenant, rule, group. */
export function recordKeyOf(record: Pick<MatchRecord, 'tenantId' | 'ruleId' | 'group'>): string {
  return `${record.tenantId}\u0000${record.ruleId}\u0000${record.group}`;
}

export function isStateful(rule: CompiledRule): boolean {
  return rule.definition.threshold !== undefined || throttleOf(rule) !== undefined;
}

export function throttleOf(rule: CompiledRule): number | undefined {
  if (rule.throttleMs !== undefined) return rule.throttleMs;
  const { throttle } = rule.definition;
  return throttle === undefined ? undefined : parseDuration(throttle);
}

const recordRules = new WeakMap<CompiledRule, RecordRule>();

function recordRuleOf(rule: CompiledRule): RecordRule {
  let cached = recordRules.get(rule);
  if (cached) return cached;
  const { definition } = rule;
  cached = {
    name: definition.name,
    severity: definition.severity,
    tags: definition.tags,
    version: hash('sha256', JSON.stringify(definition), 'hex').slice(0, 16),
  };
  if (definition.threshold) {
    cached.threshold = {
      count: definition.threshold.count,
      withinMs: rule.withinMs ?? parseDuration(definition.threshold.within),
    };
  }
  const throttleMs = throttleOf(rule);
  if (throttleMs !== undefined) cached.throttleMs = throttleMs;
  recordRules.set(rule, cached);
  return cached;
}

/** The source step for one event and the rules that matched it (in the matcher's order). */
export function sourceStep(
  event: IntelEvent,
  matches: readonly RuleMatch[],
  tenantId: string,
): SourceOutput[] {
  const out: SourceOutput[] = [];
  if (matches.length === 0) return out;
  const eventId = event.id;
  let snapshot: EventSnapshot | undefined;
  let eventIdJson: string | undefined;
  for (const match of matches) {
    const rule = match.rule;
    snapshot ??= snapshotOf(event);
    if (!isStateful(rule)) {
      const definition = rule.definition;
      eventIdJson ??= JSON.stringify(eventId);
      out.push({
        alert: {
          id: hashId(`[${JSON.stringify(rule.id)},"",[${eventIdJson}]]`),
          ruleId: rule.id,
          ruleName: definition.name,
          severity: definition.severity,
          tags: definition.tags,
          group: null,
          eventIds: [eventId],
          eventTime: event.publishedAt,
          matches: match.matches,
          event: snapshot,
          suppressed: false,
        },
      });
      continue;
    }
    const recordRule = recordRuleOf(rule);
    const groupBy = rule.definition.threshold?.groupBy;
    const values = groupBy ? groupValuesOf(event, groupBy) : singleGroup;
    for (const { key, label } of values) {
      out.push({
        record: {
          tenantId,
          ruleId: rule.id,
          rule: recordRule,
          group: key,
          label,
          eventId,
          eventTime: event.publishedAt,
          matches: match.matches,
          event: snapshot,
        },
      });
    }
  }
  return out;
}

/** The values of a rule without `groupBy`: its one group. */
const singleGroup: readonly { key: string; label: string | null }[] = [{ key: ruleGroupKey, label: null }];

/** Deterministic, so a replay of the same stream produces the same alert ids. */
export function alertIdOf(ruleId: string, groupKey: string, eventIds: readonly string[]): string {
  // The same text as JSON.stringify([ruleId, groupKey, eventIds]), without the array walk.
  let ids = '';
  for (let i = 0; i < eventIds.length; i++)
    ids += i === 0 ? JSON.stringify(eventIds[i]) : `,${JSON.stringify(eventIds[i])}`;
  return hashId(`[${JSON.stringify(ruleId)},${JSON.stringify(groupKey)},[${ids}]]`);
}

/** First 32 hex digits of the SHA-256 of `text` (UTF-8); one-shot, no Hash object. */
export function hashId(text: string): string {
  return hash('sha256', text, 'hex').slice(0, 32);
}

export function snapshotOf(event: IntelEvent): EventSnapshot {
  const snapshot: EventSnapshot = { id: event.id, title: event.title, publishedAt: event.publishedAt };
  if (event.summary !== undefined) snapshot.summary = event.summary;
  if (event.url !== undefined) snapshot.url = event.url;
  if (event.source !== undefined) {
    snapshot.source = { name: event.source.name };
    if (event.source.url !== undefined) snapshot.source.url = event.source.url;
  }
  return snapshot;
}
