import { AppError } from '../errors.ts';

/**
 * One thing wrong with a rule or a rule file. `line`/`column` (1-based) are positions in the
 * file; a query error whose position could not be placed in the file (or a rule from the API)
 * carries `queryLine`/`queryColumn`, relative to the query text, instead.
 */
export type RuleProblem = {
  file: string;
  ruleId?: string;
  line?: number;
  column?: number;
  queryLine?: number;
  queryColumn?: number;
  message: string;
};

/** `<file>:<line>:<col>: <ruleId>: <message>`, leaving out what is unknown. */
export function formatRuleProblem(problem: RuleProblem): string {
  const where =
    problem.line === undefined ? problem.file : `${problem.file}:${problem.line}:${problem.column ?? 1}`;
  return problem.ruleId === undefined
    ? `${where}: ${problem.message}`
    : `${where}: ${problem.ruleId}: ${problem.message}`;
}

/** The one error for a set of problems: its message lists them one per line. */
export function invalidRulesError(problems: RuleProblem[], cause?: unknown): AppError {
  return new AppError('TOCSIN_INVALID_RULE', problems.map(formatRuleProblem).join('\n'), {
    cause,
    details: { problems },
  });
}
