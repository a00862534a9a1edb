import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { jsonLines, repoRoot, runTocsin } from './run-tocsin.ts';

// Fixtures: two rule files (a plain rule; a threshold+groupBy rule and a throttled NEAR rule in one
// YAML list) and an event feed with a bad JSON line, a missing title, a wrong type, a blank line
// and a redelivered event. Expected offsets are counted by hand on the titles.
const rules = 'test/fixtures/cli/rules';
const events = 'test/fixtures/cli/events.jsonl';

const rareEarthE1 = {
  ruleId: 'rare-earth-export-controls',
  eventIds: ['e1'],
  severity: 'high',
  matches: [
    { field: 'title', text: 'rare earth', start: 13, end: 23 },
    { field: 'title', text: 'export controls', start: 24, end: 39 },
  ],
  ruleName: 'Rare-earth export-control change',
  group: null,
  eventTime: '2026-07-01T08:00:00Z',
};
const tankerE3 = {
  ruleId: 'tanker-sanctions',
  eventIds: ['e3'],
  severity: 'low',
  matches: [{ field: 'title', text: 'sanctions two tankers', start: 3, end: 24 }],
  ruleName: 'Sanctions on tankers',
  group: null,
  eventTime: '2026-07-01T09:00:00Z',
};
const surgeIran = {
  ruleId: 'entity-sanctions-surge',
  eventIds: ['e3', 'e5'],
  severity: 'medium',
  matches: [{ field: 'title', text: 'sanctions', start: 3, end: 12 }],
  ruleName: 'Sanctions naming the same entity twice in a day',
  group: 'Iran',
  eventTime: '2026-07-01T10:00:00Z',
};
const tankerE5Suppressed = {
  ruleId: 'tanker-sanctions',
  eventIds: ['e5'],
  severity: 'low',
  matches: [{ field: 'title', text: 'sanctions more tankers', start: 3, end: 25 }],
  ruleName: 'Sanctions on tankers',
  group: null,
  eventTime: '2026-07-01T10:00:00Z',
  suppressed: true,
};
const surgeUnitedStates = {
  ruleId: 'entity-sanctions-surge',
  eventIds: ['e3', 'e7'],
  severity: 'medium',
  matches: [{ field: 'title', text: 'sanctions', start: 9, end: 18 }],
  ruleName: 'Sanctions naming the same entity twice in a day',
  group: 'United States',
  eventTime: '2026-07-01T16:30:00Z',
};
const tankerE7 = {
  ruleId: 'tanker-sanctions',
  eventIds: ['e7'],
  severity: 'low',
  matches: [{ field: 'title', text: 'sanctions tanker', start: 9, end: 25 }],
  ruleName: 'Sanctions on tankers',
  group: null,
  eventTime: '2026-07-01T16:30:00Z',
};
const rareEarthE9 = {
  ruleId: 'rare-earth-export-controls',
  eventIds: ['e9'],
  severity: 'high',
  matches: [
    { field: 'commodities', text: 'dysprosium', start: 0, end: 10, index: 1 },
    { field: 'commodities', text: 'neodymium', start: 0, end: 9, index: 0 },
    { field: 'title', text: 'export licensing', start: 24, end: 40 },
  ],
  ruleName: 'Rare-earth export-control change',
  group: null,
  eventTime: '2026-07-02T13:00:00Z',
};

const delivered = [rareEarthE1, tankerE3, surgeIran, surgeUnitedStates, tankerE7, rareEarthE9];
const withSuppressed = [
  rareEarthE1,
  tankerE3,
  surgeIran,
  tankerE5Suppressed,
  surgeUnitedStates,
  tankerE7,
  rareEarthE9,
];

const rejections = (name: string) => [
  `${name}:2: not JSON: Unexpected end of JSON input`,
  `${name}:5: title: Invalid input: expected string, received undefined`,
  `${name}:7: severity: Invalid input: expected number, received string`,
];

/** The alerts without their ids, which are checked apart (hashes). */
const withoutIds = (stdout: string) =>
  jsonLines(stdout).map((alert) => {
    const { id, ...rest } = alert as { id: string };
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    return rest;
  });

describe('tocsin match', () => {
  it('prints the alerts in firing order, reports bad lines and exits 1', async () => {
    const run = await runTocsin(['match', '--rules', rules, '--events', events]);
    expect(run.stderr.split('\n').filter(Boolean)).toEqual(rejections(events));
    expect(withoutIds(run.stdout)).toEqual(delivered);
    expect(run.code).toBe(1);
  });

  it('gives the same output, bad lines and exit status with --workers 2', async () => {
    const [one, two] = await Promise.all([
      runTocsin(['match', '--rules', rules, '--events', events, '--include-suppressed']),
      runTocsin(['match', '--rules', rules, '--events', events, '--include-suppressed', '--workers', '2']),
    ]);
    expect(two.stdout).toBe(one.stdout);
    expect(two.stderr).toBe(one.stderr);
    expect(two.code).toBe(1);
    // Two processes and two worker threads, each loading the sources through tsx: slow on a busy machine.
  }, 180_000);

  it('rejects a bad --workers, and --budget-ms without workers', async () => {
    const bad = await runTocsin(['match', '--rules', rules, '--events', events, '--workers', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--workers must be a positive integer, got '0'");
    const budget = await runTocsin(['match', '--rules', rules, '--events', events, '--budget-ms', '10']);
    expect(budget.code).toBe(2);
    expect(budget.stderr).toContain('--budget-ms needs --workers');
  });

  it('puts the four contract fields first', async () => {
    const run = await runTocsin(['match', '--rules', rules, '--events', events]);
    const first = run.stdout.split('\n')[0]!;
    expect(Object.keys(JSON.parse(first)).slice(0, 4)).toEqual(['ruleId', 'eventIds', 'severity', 'matches']);
  });

  it('reads standard input with --events -, naming it "-"', async () => {
    const { readFile } = await import('node:fs/promises');
    const input = await readFile(new URL(`../../${events}`, import.meta.url), 'utf8');
    const run = await runTocsin(['match', '--rules', rules, '--events', '-'], input);
    expect(run.stderr.split('\n').filter(Boolean)).toEqual(rejections('-'));
    expect(withoutIds(run.stdout)).toEqual(delivered);
    expect(run.code).toBe(1);
  });

  it('writes suppressed alerts too with --include-suppressed', async () => {
    const run = await runTocsin(['match', '--rules', rules, '--events', events, '--include-suppressed']);
    expect(withoutIds(run.stdout)).toEqual(withSuppressed);
    expect(run.code).toBe(1);
  });

  it('gives the same alert ids on a replay', async () => {
    const [first, second] = await Promise.all([
      runTocsin(['match', '--rules', rules, '--events', events]),
      runTocsin(['match', '--rules', `${rules}/`, '--events', events]),
    ]);
    expect(second.stdout).toBe(first.stdout);
  });

  it('exits 0 when every line is a valid event', async () => {
    const input = `${JSON.stringify({ id: 'ok', publishedAt: '2026-07-01T00:00:00Z', title: 'Rare earth export controls widen' })}\n\n`;
    const run = await runTocsin(['match', '--rules', `${rules}/a-rare-earth.yaml`, '--events', '-'], input);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(jsonLines(run.stdout)).toHaveLength(1);
  });

  it('rejects an invalid rule with exit 2, naming the file, the rule and the line:column; evaluates nothing', async () => {
    const run = await runTocsin(['match', '--rules', 'test/fixtures/cli/invalid-rules', '--events', events]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    // Line 4, column 25 of the file: the end of the query's text, where ")" was expected.
    expect(run.stderr).toMatch(
      /^test\/fixtures\/cli\/invalid-rules\/bad-query\.yaml:4:25: unbalanced-query: query: expected "\)"/,
    );
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each([
    ['no --events', ['match', '--rules', rules], /--events <file.jsonl \| -> is required/],
    ['no --rules', ['match', '--events', events], /--rules <file-or-dir> is required/],
    [
      'an unknown option',
      ['match', '--rules', rules, '--events', events, '--fast'],
      /Unknown option '--fast'/,
    ],
    [
      'a missing events file',
      ['match', '--rules', rules, '--events', 'nope.jsonl'],
      /cannot read --events nope\.jsonl: ENOENT/,
    ],
  ])('exits 2 on a usage error: %s', async (_name, args, message) => {
    const run = await runTocsin(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('Usage: tocsin match');
  });

  it('exits 2 when the rules path does not exist', async () => {
    const run = await runTocsin(['match', '--rules', 'test/fixtures/cli/no-such-rules', '--events', events]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('test/fixtures/cli/no-such-rules');
  });
});

describe('tocsin match | head', () => {
  it('stops quietly when the reader of stdout goes away', async () => {
    const line = (n: number) =>
      JSON.stringify({
        id: `e${n}`,
        publishedAt: '2026-07-01T00:00:00Z',
        title: 'Rare earth export controls widen',
      });
    const input = Array.from({ length: 20_000 }, (_, n) => line(n)).join('\n');
    const child = spawn(process.execPath, ['bin/tocsin.js', 'match', '--rules', rules, '--events', '-'], {
      cwd: repoRoot,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdin.on('error', () => {}).end(input);
    // Like `head -1`: read one chunk, then close the pipe.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('tocsin', () => {
  it('prints the commands with --help', async () => {
    const run = await runTocsin(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: tocsin <command>/);
    expect(run.stdout).toMatch(/^ {2}match {3}/m);
    expect(run.stdout).toMatch(/^ {2}validate/m);
    expect(run.stdout).toMatch(/^ {2}keys/m);
  });

  it("prints a command's options with --help", async () => {
    const run = await runTocsin(['match', '--help']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(
      /^Usage: tocsin match --rules <file-or-dir> --events <file.jsonl \| -> \[--include-suppressed\]/,
    );
  });

  it.each([[['frobnicate']], [['constructor']], [[]]])(
    'prints the usage on stderr and exits 2 for %j',
    async (args) => {
      const run = await runTocsin(args);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('Usage: tocsin <command>');
    },
  );
});
