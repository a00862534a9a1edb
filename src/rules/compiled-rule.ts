import type { MatchExplanation } from '../alerts/alert.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { QueryNode } from './query-ast.ts';
import type { RuleDefinition } from './rule-schema.ts';

/** A validated rule with its query parsed and its durations in milliseconds. */
export type CompiledRule = {
  readonly id: string;
  readonly definition: RuleDefinition;
  /** Where it came from: a file path, or `api`. */
  readonly origin: string;
  readonly query: QueryNode;
  /** `threshold.within` in ms, when the rule has a threshold. */
  readonly withinMs?: number;
  /** `throttle` in ms, when the rule has one. */
  readonly throttleMs?: number;
};

/** One rule whose query holds for an event, with the explanations of its matched clauses. */
export type RuleMatch = {
  readonly rule: CompiledRule;
  readonly matches: MatchExplanation[];
};

/**
 * The rules a matcher holds, in rule order (the order rules were given: files in sorted name
 * order, rules in file order, then API rules); `upsert`/`remove` change them in place, so a
 * rule saved through the API reaches the running matcher at once.
 */
export type RuleSet = {
  upsert(rule: CompiledRule): void;
  remove(ruleId: string): void;
  rules(): CompiledRule[];
};

/** The matcher port: `match` returns the enabled rules whose query holds for the event, in rule order. */
export type RuleMatcher = RuleSet & {
  match(event: IntelEvent): RuleMatch[];
};
