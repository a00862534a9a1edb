import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, repoRoot, runTocsin } from '../cli/run-tocsin.ts';

// The README's quickstart promises what the sample feed produces; these numbers come from the
// same engine the service runs (`tocsin match --include-suppressed`), so a change to the rules,
// the feed or the engine that moves them fails here until the README says so too.

const readme = readFileSync(`${repoRoot}README.md`, 'utf8');
const quickstart = section(readme, 'Quickstart');
const feedLines = readFileSync(`${repoRoot}examples/events.jsonl`, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '');

type MatchedAlert = { ruleId: string; eventIds: string[]; group: string | null; suppressed?: boolean };

describe('README quickstart: the sample feed', () => {
  let alerts: MatchedAlert[];
  beforeAll(async () => {
    const run = await runTocsin([
      'match',
      '--rules',
      'rules',
      '--events',
      'examples/events.jsonl',
      '--include-suppressed',
    ]);
    expect(run.code).toBe(0);
    alerts = jsonLines(run.stdout) as MatchedAlert[];
  }, 60_000);

  it('states how many briefs, alerts, delivered and suppressed ones there are', () => {
    const suppressed = alerts.filter((alert) => alert.suppressed).length;
    const match =
      /The (\d+) sample briefs .*? give (\d+) alerts:\s+`tocsin tail` prints (\d+), and (\d+) (?:is|are) suppressed/s.exec(
        quickstart,
      );
    expect(match, 'the sentence with the sample feed’s numbers').not.toBeNull();
    expect(match!.slice(1).map(Number)).toEqual([
      feedLines.length,
      alerts.length,
      alerts.length - suppressed,
      suppressed,
    ]);
  });

  it('has one table row per rule with its alerts, delivered and suppressed, and the total', () => {
    const rows = new Map<string, number[]>();
    for (const [, rule, ...counts] of quickstart.matchAll(
      /^\| (?:`([a-z0-9-]+)`[^|]*|total) \| (\d+) \| (\d+) \| (\d+) \|$/gm,
    ))
      rows.set(rule ?? 'total', counts.map(Number));
    const expected = new Map<string, number[]>();
    for (const alert of alerts) {
      const [all, delivered, suppressed] = expected.get(alert.ruleId) ?? [0, 0, 0];
      expected.set(
        alert.ruleId,
        alert.suppressed ? [all! + 1, delivered!, suppressed! + 1] : [all! + 1, delivered! + 1, suppressed!],
      );
    }
    const total = [...expected.values()].reduce((sum, row) => sum.map((n, i) => n + row[i]!), [0, 0, 0]);
    expected.set('total', total);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
  });

  it('names the brief behind each suppressed and each threshold alert', () => {
    for (const alert of alerts.filter((candidate) => candidate.suppressed || candidate.group !== null)) {
      expect(quickstart).toContain(`\`${alert.eventIds.at(-1)}\``);
      if (alert.group !== null) expect(quickstart).toContain(`group \`${alert.group}\``);
    }
  });
});

describe('README commands', () => {
  const shellBlocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((block) => block[1]!);

  it('take the port from $PORT, set once in the quickstart', () => {
    expect(shellBlocks.length).toBeGreaterThan(3);
    for (const block of shellBlocks) expect(block).not.toMatch(/(?:127\.0\.0\.1|localhost):\d+/);
    const settings = shellBlocks.flatMap((block) => block.match(/^export PORT=\d+/gm) ?? []);
    expect(settings).toEqual(['export PORT=8080']);
    expect(section(readme, 'Quickstart')).toContain('export PORT=8080');
  });

  it('use tocsin tail, not a WebSocket client the project does not install', () => {
    for (const block of shellBlocks) expect(block).not.toContain('wscat');
    expect(quickstart).toMatch(/^npx tocsin tail /m);
  });

  it('never send the reader outside the repository for the contracts', () => {
    expect(readme).not.toMatch(/shared\/spec|\.\.\/shared/);
  });
});

/** The text of a `## title` section, up to the next `## `. */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  expect(start, `a "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end === -1 ? undefined : end);
}
