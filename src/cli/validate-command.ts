import { parseArgs } from 'node:util';
import { readRules } from '../rules/load-rules.ts';
import { formatRuleProblem } from '../rules/rule-problems.ts';
import { type CliIo, type Command, exitCodes, UsageError } from './command.ts';
import { reportRuleErrors } from './rule-errors.ts';

/** `tocsin validate`: lints rule files the way `tocsin match` and the service load them. */
const usage = `Usage: tocsin validate <rules-path>

  <rules-path>   a rule file, or a directory of *.yaml, *.yml, *.json rule files

Prints every problem, one per line, as <file>:<line>:<col>: <rule id>: <message>.
Exit status: 0 when every rule is valid, 2 when some are not (or on a usage error).
`;

export const validateCommand: Command = {
  summary: 'check rule files and print every problem',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    let positionals: string[];
    try {
      ({ positionals } = parseArgs({ args, options: {}, strict: true, allowPositionals: true }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (positionals.length !== 1) throw new UsageError('expected one <rules-path>');
    const [rulesPath] = positionals as [string];
    try {
      const { rules, problems } = await readRules(rulesPath);
      if (problems.length > 0) {
        const summary = `${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}`;
        io.stdout.write(`${problems.map(formatRuleProblem).join('\n')}\n${summary}\n`);
        return exitCodes.usage;
      }
      io.stdout.write(`${rules.length} ${rules.length === 1 ? 'rule' : 'rules'} OK\n`);
      return exitCodes.ok;
    } catch (error) {
      return reportRuleErrors(error, rulesPath, io);
    }
  },
};
