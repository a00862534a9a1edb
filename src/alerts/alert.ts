import type { Severity } from '../rules/rule-schema.ts';

/**
 * Why a clause matched: the field (dot path), the matched text and its offsets in
 * UTF-16 code units into the original string value, `[start, end)`. `index` is the
 * value's position in the flattened array when the field holds several values.
 */
export type MatchExplanation = {
  field: string;
  text: string;
  start: number;
  end: number;
  index?: number;
};

/** What an alert keeps of the event that fired it, for pages, emails and webhooks. */
export type EventSnapshot = {
  id: string;
  title: string;
  summary?: string;
  url?: string;
  publishedAt: string;
  source?: { name: string; url?: string };
};

export type Alert = {
  /** Deterministic from (ruleId, group, eventIds): a replay produces the same id. */
  id: string;
  ruleId: string;
  ruleName: string;
  severity: Severity;
  tags: string[];
  /** The threshold group value (JSON text for non-strings); null for a rule without groupBy. */
  group: string | null;
  /** One id for a plain rule, N for a threshold alert, oldest first. */
  eventIds: string[];
  /** Event time of the newest event, ISO 8601. */
  eventTime: string;
  /** The explanations of the event that fired the alert (the newest one). */
  matches: MatchExplanation[];
  event: EventSnapshot;
  /** True when a throttle suppressed it: recorded, not delivered. */
  suppressed: boolean;
};
