import { isAppError } from '../errors.ts';
import type { CompiledRule } from './compiled-rule.ts';
import type { QueryNode } from './query-ast.ts';
import { parseQuery } from './query-parser.ts';
import { invalidRulesError, type RuleProblem } from './rule-problems.ts';
import { parseDuration, ruleSchema } from './rule-schema.ts';

/**
 * A rule document → a `CompiledRule`: the zod schema (defaults applied), the query parsed,
 * durations in milliseconds. Problems name the origin (a file, or the API field), the rule id
 * and, for the query, its line and column — in the file when the loader can place the query
 * text there (`RuleLocator`), else relative to the query, which the message then says.
 */

export type Position = { line: number; column: number };

/** Where parts of a rule are in its file; every function may answer undefined. */
export type RuleLocator = {
  /** The position in the file of a 0-based offset into the query's string value. */
  queryOffset?(offset: number): Position | undefined;
  /**
   * The position of the value at a path of the rule document (e.g. `['threshold', 'count']`),
   * of its key with `atKey`, or of the rule when the path is empty or absent.
   */
  path?(path: readonly PropertyKey[], atKey?: boolean): Position | undefined;
};

export type RuleCheck = { ok: true; rule: CompiledRule } | { ok: false; problems: RuleProblem[] };

function ruleIdOf(input: unknown): string | undefined {
  if (input === null || typeof input !== 'object') return undefined;
  const id = (input as { id?: unknown }).id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** Validates and compiles one rule, returning every problem rather than throwing. */
export function checkRule(input: unknown, origin: string, locate: RuleLocator = {}): RuleCheck {
  const ruleId = ruleIdOf(input);
  const problem = (message: string, at?: Position): RuleProblem => ({
    file: origin,
    ...(ruleId === undefined ? {} : { ruleId }),
    ...(at === undefined ? {} : { line: at.line, column: at.column }),
    message,
  });

  const problems: RuleProblem[] = [];
  const parsed = ruleSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      const path = keys.length > 0 ? [...issue.path, keys[0]!] : issue.path;
      const name = issue.path.map(String).join('.');
      const message = name === '' ? issue.message : `${name}: ${issue.message}`;
      problems.push(problem(message, locate.path?.(path, keys.length > 0)));
    }
  }
  // The query is checked even when other fields are wrong, so that one pass reports everything.
  const text = (input as { query?: unknown } | null)?.query;
  let query: QueryNode | undefined;
  if (typeof text === 'string' && text !== '') {
    try {
      query = parseQuery(text);
    } catch (error) {
      if (!isAppError(error, 'TOCSIN_INVALID_RULE')) throw error;
      problems.push(queryProblem(error.details as QueryErrorDetails, problem, locate));
    }
  }
  if (!parsed.success || query === undefined) return { ok: false, problems };
  const definition = parsed.data;
  const { threshold, throttle } = definition;
  return {
    ok: true,
    rule: {
      id: definition.id,
      definition,
      origin,
      query,
      ...(threshold === undefined ? {} : { withinMs: parseDuration(threshold.within) }),
      ...(throttle === undefined ? {} : { throttleMs: parseDuration(throttle) }),
    },
  };
}

type QueryErrorDetails = { line: number; column: number; offset: number; expected: string; found?: string };

/** A query error at its file position when the locator can place it, else relative to the query, saying so. */
function queryProblem(
  details: QueryErrorDetails,
  problem: (message: string, at?: Position) => RuleProblem,
  locate: RuleLocator,
): RuleProblem {
  const what = `query: expected ${details.expected}${details.found === undefined ? '' : `, found ${details.found}`}`;
  const inFile = locate.queryOffset?.(details.offset);
  if (inFile !== undefined) return problem(what, inFile);
  return {
    ...problem(`${what} (at ${details.line}:${details.column} of the query)`),
    queryLine: details.line,
    queryColumn: details.column,
  };
}

/**
 * Validates and compiles one rule document from `origin` (a file path, or an API field such
 * as `body`); throws `AppError('TOCSIN_INVALID_RULE')` with `details.problems` listing every problem.
 */
export function compileRule(input: unknown, origin: string): CompiledRule {
  const checked = checkRule(input, origin);
  if (!checked.ok) throw invalidRulesError(checked.problems);
  return checked.rule;
}
