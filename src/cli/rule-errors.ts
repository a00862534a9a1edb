import { isAppError } from '../errors.ts';
import { formatRuleProblem, type RuleProblem } from '../rules/rule-problems.ts';
import { type CliIo, exitCodes } from './command.ts';

/**
 * Reports why rules could not be loaded — every problem, one per line, as
 * `<file>:<line>:<col>: <rule id>: <message>` — and gives the usage exit status: with an invalid
 * rule nothing is evaluated. Errors that are not about the rules are rethrown.
 */
export function reportRuleErrors(error: unknown, rulesPath: string, io: CliIo): number {
  if (isAppError(error, 'TOCSIN_INVALID_RULE') || isAppError(error, 'TOCSIN_RULE_CONFLICT')) {
    const problems = error.details?.problems as RuleProblem[] | undefined;
    const lines = problems?.length ? problems.map(formatRuleProblem) : [error.message];
    io.stderr.write(`${lines.join('\n')}\n`);
    return exitCodes.usage;
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('E')) {
    io.stderr.write(`${rulesPath}: cannot read rules: ${code}\n`);
    return exitCodes.usage;
  }
  throw error;
}
