import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { MatchExplanation } from '../../src/alerts/alert.ts';
import { createAlertEngine } from '../../src/alerts/alert-engine.ts';
import { parseEvent } from '../../src/ingest/parse-event.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import { evaluateQuery } from '../../src/rules/evaluate-query.ts';
import { parseRuleFile } from '../../src/rules/load-rules.ts';
import { defaultFields } from '../../src/rules/query-ast.ts';
import { parseQuery, queryLimits } from '../../src/rules/query-parser.ts';
import { createRuleIndex } from '../../src/rules/rule-index.ts';
import { formatRuleProblem } from '../../src/rules/rule-problems.ts';
import { severities } from '../../src/rules/rule-schema.ts';
import { repoRoot } from '../cli/run-tocsin.ts';

// docs/rule-language.md is the language's user documentation; every example in it is run here
// through the real parser, evaluator, rule index, alert engine and rule loader, so the document
// cannot drift from the code. The block formats are described at the top of the document.

const doc = readFileSync(`${repoRoot}docs/rule-language.md`, 'utf8');
const blocks = [...doc.matchAll(/^```(\S+)(?: (\S+))?\n([\s\S]*?)^```$/gm)].map((match) => ({
  kind: match[2] ?? match[1]!,
  text: match[3]!,
  line: doc.slice(0, match.index).split('\n').length,
}));
const byKind = (kind: string) => blocks.filter((block) => block.kind === kind);
const title = (block: { text: string; line: number }) =>
  `line ${block.line}: ${block.text.split('\n')[0]!.replace(/^query:\s*/, '')}`;

/** What every example event has unless its block says otherwise. */
const baseEvent = { id: 'doc-example', publishedAt: '2026-07-01T00:00:00Z', title: '' };

type QueryExample = {
  query: string;
  event: Record<string, unknown>;
  outcome: { kind: 'matches'; text: string } | { kind: 'no match' } | { kind: 'invalid'; message: string };
};

function parseQueryExample(text: string): QueryExample {
  const lines = text.trimEnd().split('\n');
  const [first, ...rest] = lines;
  const query = /^query: +(.*)$/.exec(first!)?.[1];
  if (query === undefined) throw new Error(`a query block starts with "query: ", got ${first}`);
  const last = rest.pop();
  let outcome: QueryExample['outcome'];
  if (last === 'no match') outcome = { kind: 'no match' };
  else if (last?.startsWith('matches: ')) outcome = { kind: 'matches', text: last.slice('matches: '.length) };
  else if (last?.startsWith('invalid: '))
    outcome = { kind: 'invalid', message: last.slice('invalid: '.length) };
  else throw new Error(`a query block ends with "matches: …", "no match" or "invalid: …", got ${last}`);
  const event: Record<string, unknown> = { ...baseEvent };
  for (const line of rest) {
    const field = /^([A-Za-z_][\w.]*): +(.*)$/.exec(line);
    if (!field) throw new Error(`expected "<field>: <text>" or "event: {json}", got ${line}`);
    if (field[1] === 'event') Object.assign(event, JSON.parse(field[2]!));
    else event[field[1]!] = field[2];
  }
  return { query, event, outcome };
}

/** `field "text"` per explanation, the array index in brackets, as the document writes them. */
function describeMatches(matches: readonly MatchExplanation[]): string {
  return matches
    .map((match) => {
      const field = match.index === undefined ? match.field : `${match.field}[${match.index}]`;
      return `${field} "${match.text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    })
    .join(', ');
}

describe('docs/rule-language.md: query examples', () => {
  const examples = byKind('query');

  it('has examples of every kind of outcome', () => {
    const kinds = examples.map((block) => parseQueryExample(block.text).outcome.kind);
    expect(new Set(kinds)).toEqual(new Set(['matches', 'no match', 'invalid']));
    expect(examples.length).toBeGreaterThan(30);
  });

  it.each(examples.map((block) => [title(block), block.text]))('%s', (_title, text) => {
    const example = parseQueryExample(text);
    if (example.outcome.kind === 'invalid') {
      expect(() => parseQuery(example.query)).toThrow(example.outcome.message);
      let message = '';
      try {
        parseQuery(example.query);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toBe(example.outcome.message);
      return;
    }
    const result = evaluateQuery(parseQuery(example.query), example.event);
    // The service matches through the rule index, not the plain evaluator: both must agree.
    const rule = compileRule({ id: 'doc-example', name: 'doc example', query: example.query }, 'docs');
    const indexed = createRuleIndex([rule]).match(parseEvent(JSON.stringify(example.event)));
    if (example.outcome.kind === 'no match') {
      expect(result.holds).toBe(false);
      expect(indexed).toEqual([]);
    } else {
      expect(result.holds).toBe(true);
      expect(describeMatches(result.matches)).toBe(example.outcome.text);
      expect(indexed.map((match) => describeMatches(match.matches))).toEqual([example.outcome.text]);
    }
  });
});

describe('docs/rule-language.md: rule examples', () => {
  type RuleExample = {
    rule: unknown;
    events: object[];
    alerts: { group?: string; eventIds: string[]; suppressed?: boolean }[];
  };
  const examples = byKind('rule-example');

  it('has some', () => expect(examples.length).toBeGreaterThanOrEqual(2));

  it.each(examples.map((block) => [`line ${block.line}`, block.text]))('%s', (_title, text) => {
    const example = parseYaml(text) as RuleExample;
    const matcher = createRuleIndex([compileRule(example.rule, 'docs')]);
    const engine = createAlertEngine(undefined, { trackChanges: false, dedupIds: true });
    const alerts = example.events.flatMap((raw) => {
      const event = parseEvent(JSON.stringify(raw));
      return engine.process(event, matcher.match(event));
    });
    expect(
      alerts.map((alert) => ({
        ...(alert.group === null ? {} : { group: alert.group }),
        eventIds: alert.eventIds,
        ...(alert.suppressed ? { suppressed: true } : {}),
      })),
    ).toEqual(example.alerts);
  });
});

describe('docs/rule-language.md: rule-file examples', () => {
  const examples = byKind('rule-file');

  it('has some', () => expect(examples.length).toBeGreaterThanOrEqual(1));

  it.each(examples.map((block) => [`line ${block.line}`, block.text]))('%s', (_title, text) => {
    const expected = text
      .split('\n')
      .filter((line) => line.startsWith('# → '))
      .map((line) => line.slice('# → '.length));
    const { problems } = parseRuleFile(text, 'rules/example.yaml');
    expect(problems.map(formatRuleProblem)).toEqual(expected);
  });
});

describe('docs/rule-language.md: facts taken from the code', () => {
  const flat = doc.replace(/\s+/g, ' ');
  const number = (n: number) => n.toLocaleString('en-US');

  it('lists the limits the parser enforces', () => {
    for (const row of [
      `| query length | ${number(queryLimits.maxLength)} characters |`,
      `| clauses in one query | ${number(queryLimits.maxClauses)} |`,
      `| nesting depth of parentheses and operators | ${queryLimits.maxDepth} |`,
      `| characters before a prefix \`*\` | at least ${queryLimits.minPrefixLength} |`,
      `| \`NEAR/n\`, \`ONEAR/n\` distance | 0 to ${queryLimits.maxNearDistance} |`,
    ])
      expect(doc).toContain(row);
  });

  it('names the default fields in order, and the severities', () => {
    expect(flat).toContain(`default fields**: ${defaultFields.map((field) => `\`${field}\``).join(', ')}.`);
    expect(flat).toContain(
      `one of ${severities.map((severity) => `\`${severity}\``).join(', ')}; default \`medium\``,
    );
  });

  it('stays in the repository', () => {
    expect(doc).not.toMatch(/shared\/spec|\.\.\/shared/);
  });
});
