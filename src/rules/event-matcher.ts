import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule, RuleSet } from './compiled-rule.ts';
import { createMatchPool, type MatchResult } from './match-pool.ts';
import { createRuleIndex } from './rule-index.ts';

/**
 * The service's matcher: batches of validated events in, one result per event out, in the
 * batch's order, so the alert engine downstream sees one order whatever thread matched.
 *
 * With `workers` ≥ 1 the match pool (match-pool.ts) does the matching on worker threads, off the
 * event loop, and gives up an event that takes over `budgetMs` (`over_budget`); with 0 the rule
 * index runs on the calling thread (no budget can interrupt it: for tests and small setups).
 */
export type EventMatcher = RuleSet & {
  matchEvents(events: IntelEvent[]): Promise<MatchResult[]>;
  close(): Promise<void>;
};

export function createEventMatcher(options: {
  rules: CompiledRule[];
  workers: number;
  budgetMs: number;
  /** Workers also make each event's term text for the preview ring (`MatchResult.termText`). */
  termText?: boolean;
}): EventMatcher {
  if (options.workers > 0) return createMatchPool(options);
  const index = createRuleIndex(options.rules);
  return {
    async matchEvents(events) {
      return events.map((event) => ({ kind: 'matched', event, matches: index.match(event) }));
    },
    upsert: (rule) => index.upsert(rule),
    remove: (ruleId) => index.remove(ruleId),
    rules: () => index.rules(),
    async close() {},
  };
}
