import { type Severity, severityRank } from '../../rules/rule-schema.ts';
import type { StoredAlert } from '../../store/store.ts';

/**
 * What a dashboard connection receives: the fields combine with AND; within `rules` and `tags`
 * any value matches (OR); an absent or empty field matches everything. The same semantics as
 * a subscription's `ruleIds`, `tags` and `minSeverity`.
 */
export type StreamFilter = {
  rules?: readonly string[] | undefined;
  tags?: readonly string[] | undefined;
  minSeverity?: Severity | undefined;
};

/** A filter compiled for the broadcast loop: one call per (alert, connection). */
export type AlertPredicate = (alert: StoredAlert) => boolean;

export function compileStreamFilter(filter: StreamFilter): AlertPredicate {
  const rules = filter.rules?.length ? new Set(filter.rules) : undefined;
  const tags = filter.tags?.length ? new Set(filter.tags) : undefined;
  const minRank = filter.minSeverity === undefined ? 0 : severityRank[filter.minSeverity];
  if (!rules && !tags && minRank === 0) return () => true;
  return (alert) =>
    severityRank[alert.severity] >= minRank &&
    (rules === undefined || rules.has(alert.ruleId)) &&
    (tags === undefined || alert.tags.some((tag) => tags.has(tag)));
}

/** `a, b,,c` → ['a', 'b', 'c']; undefined for an absent or empty parameter. */
export function splitCommaList(text: string | undefined): string[] | undefined {
  const items = text
    ?.split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  return items?.length ? items : undefined;
}
