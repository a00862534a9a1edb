import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { IntelEvent } from '../../../src/ingest/event-schema.ts';
import { jsonLines, runTocsin } from '../../cli/run-tocsin.ts';
import {
  assertPostgresReachable,
  type Harness,
  postgresHarness,
  sqliteHarness,
} from '../../store/store-harness.ts';
import { type ApiServer, startApiServer } from './api-server.ts';

const sources = ['Reuters', 'Kyodo', 'Xinhua'];
const hour = 3_600_000;

/** 90 briefs over four days, every third about copper smelters, from three sources. */
const events: IntelEvent[] = Array.from({ length: 90 }, (_, i) => ({
  id: `evt-${String(i).padStart(3, '0')}`,
  publishedAt: new Date(Date.UTC(2026, 2, 1, 6) + i * hour).toISOString(),
  title: i % 3 === 0 ? `Copper smelter output cut, report ${i}` : `Grain shipments resume, report ${i}`,
  body: i % 3 === 0 ? 'The smelter in Chile lowered its copper guidance.' : 'Ports reopened after the storm.',
  source: { name: sources[i % sources.length]! },
}));

const rules = {
  plain: { id: 'copper-plain', name: 'Copper smelters', severity: 'high', query: 'copper AND smelter' },
  threshold: {
    id: 'copper-burst',
    name: 'Copper burst',
    query: 'copper',
    threshold: { count: 2, within: '6h', groupBy: 'source.name' },
  },
  throttle: { id: 'copper-throttled', name: 'Copper, throttled', query: 'smelter', throttle: '8h' },
};

let dir: string;
/** What `tocsin match --include-suppressed` writes for each rule over `events`, by rule id. */
const expected = new Map<string, unknown[]>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tocsin-preview-'));
  const rulesDir = join(dir, 'rules');
  await import('node:fs/promises').then((fs) => fs.mkdir(rulesDir));
  for (const [name, rule] of Object.entries(rules))
    await writeFile(join(rulesDir, `${name}.yaml`), stringify(rule));
  const eventsFile = join(dir, 'events.jsonl');
  await writeFile(eventsFile, events.map((e) => JSON.stringify(e)).join('\n'));
  const run = await runTocsin(['match', '--rules', rulesDir, '--events', eventsFile, '--include-suppressed']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  for (const alert of jsonLines(run.stdout) as { ruleId: string }[]) {
    expected.set(alert.ruleId, [...(expected.get(alert.ruleId) ?? []), alert]);
  }
  // Each kind is exercised: a threshold fires several groups, a throttle suppresses some.
  expect(expected.get('copper-burst')!.length).toBeGreaterThan(3);
  expect((expected.get('copper-throttled') as { suppressed?: true }[]).some((a) => a.suppressed)).toBe(true);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each([sqliteHarness, postgresHarness])('rule preview ($name store)', (harness: Harness) => {
  let server: ApiServer;

  beforeAll(async () => {
    if (harness.name === 'postgres') await assertPostgresReachable();
  });
  afterEach(async () => {
    await server?.dispose();
  });

  /** The events go into the preview ring in batches, as ingest does. */
  const start = async () => {
    server = await startApiServer({ harness });
    for (let i = 0; i < events.length; i += 25)
      await server.store.previewEvents.append(events.slice(i, i + 25), { capacity: 1_000 });
  };

  it.each(Object.keys(rules) as (keyof typeof rules)[])(
    'gives the alerts of tocsin match --include-suppressed for a %s rule',
    async (kind) => {
      await start();
      const rule = rules[kind];
      const response = await server.request('POST', '/v1/rules/preview', { body: rule });
      expect(response.status).toBe(200);
      expect(response.body.alerts).toEqual(expected.get(rule.id));
      expect(response.body.alertCount).toBe(expected.get(rule.id)!.length);
      expect(response.body.scannedEvents).toBe(events.length);

      const matched = events.filter(
        (e) => /copper/i.test(e.title) && (kind !== 'plain' || /smelter/i.test(e.title)),
      );
      expect(response.body.matchedEvents).toBe(matched.length);
      const days = response.body.perDay as { day: string; events: number; alerts: number }[];
      expect(days.map((d) => d.day)).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04']);
      expect(days.reduce((sum, d) => sum + d.events, 0)).toBe(matched.length);
      const delivered = (expected.get(rule.id) as { suppressed?: true }[]).filter((a) => !a.suppressed);
      expect(days.reduce((sum, d) => sum + d.alerts, 0)).toBe(delivered.length);

      // The newest matches first, with their explanations.
      const samples = response.body.samples as {
        event: IntelEvent;
        matches: { field: string; text: string }[];
      }[];
      expect(samples.map((s) => s.event.id)).toEqual(matched.map((e) => e.id).reverse());
      expect(samples[0]!.event).toEqual(matched.at(-1));
      expect(samples[0]!.matches.map((m) => m.text.toLowerCase())).toContain(
        kind === 'throttle' ? 'smelter' : 'copper',
      );
    },
  );

  it('samples the newest 50 matches, lists at most `limit` alerts and reads only the time range', async () => {
    await start();
    const everything = { id: 'all', name: 'All', query: 'report' };
    const all = await server.request('POST', '/v1/rules/preview?limit=5', { body: everything });
    expect(all.body.matchedEvents).toBe(90);
    expect(all.body.alertCount).toBe(90);
    expect(all.body.alerts.map((a: { eventIds: string[] }) => a.eventIds[0])).toEqual(
      events.slice(0, 5).map((e) => e.id),
    );
    expect(all.body.samples.map((s: { event: IntelEvent }) => s.event.id)).toEqual(
      events
        .slice(40)
        .map((e) => e.id)
        .reverse(),
    );
    const from = events[10]!.publishedAt;
    const to = events[20]!.publishedAt;
    const ranged = await server.request(
      'POST',
      `/v1/rules/preview?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
      { body: everything },
    );
    expect(ranged.body.scannedEvents).toBe(10);
    expect(ranged.body.samples.at(-1).event.id).toBe(events[10]!.id);
  });

  it('takes a draft without an id, and previews a disabled draft as enabled', async () => {
    await start();
    const { id: _id, ...draft } = rules.plain;
    const response = await server.request('POST', '/v1/rules/preview', {
      body: { ...draft, enabled: false },
    });
    expect(response.status).toBe(200);
    expect(response.body.alerts[0].ruleId).toBe('draft');
    expect(response.body.matchedEvents).toBe(30);
  });

  it.each([
    { id: 'broken', name: 'Broken', query: 'copper AND\n  (smelter OR' },
    { id: 'Bad Id', name: 'x', query: 'a' },
    { id: 'no-name', query: 'a' },
    { id: 'extra', name: 'x', query: 'a', colour: 'red' },
    { id: 'bad-throttle', name: 'x', query: 'a', throttle: '5 minutes' },
    ['not', 'an', 'object'],
  ])('rejects %j exactly as POST /v1/rules does', async (body) => {
    await start();
    const preview = await server.request('POST', '/v1/rules/preview', { body });
    const create = await server.request('POST', '/v1/rules', { body });
    expect(preview.status).toBe(400);
    expect(preview.body).toEqual(create.body);
  });
});

describe('rule validation as it is typed', () => {
  let server: ApiServer;
  afterEach(async () => {
    await server?.dispose();
  });

  const validate = (text: string, type = 'application/yaml') =>
    server.app.inject({
      method: 'POST',
      url: '/v1/rules/validate',
      headers: { authorization: `Bearer ${server.key}`, 'content-type': type },
      payload: text,
    });

  it('places a query error at its line and column in the YAML text', async () => {
    server = await startApiServer();
    const text = 'id: copper\nname: Copper\nquery: |\n  copper AND\n  (smelter OR\n';
    const response = await validate(text);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.valid).toBe(false);
    expect(body.problems).toHaveLength(1);
    expect(body.problems[0]).toMatchObject({ file: 'body', ruleId: 'copper', line: 5, column: 14 });
    expect(body.problems[0].message).toMatch(/^query: expected /);
  });

  it('reports a YAML syntax error and a schema problem at their positions', async () => {
    server = await startApiServer();
    const syntax = (await validate('id: copper\nname: [Copper\nquery: copper\n')).json();
    expect(syntax.valid).toBe(false);
    expect(syntax.problems[0].line).toBeGreaterThanOrEqual(2);
    const schema = (
      await validate('id: copper\nname: Copper\nquery: copper\nseverity: huge\n', 'text/plain')
    ).json();
    expect(schema.problems).toEqual([
      expect.objectContaining({
        ruleId: 'copper',
        line: 4,
        column: 11,
        message: expect.stringMatching(/^severity: /),
      }),
    ]);
  });

  it('answers the document with its defaults when the rule is valid, YAML or JSON', async () => {
    server = await startApiServer();
    const yaml = (await validate('id: copper\nname: Copper\nquery: copper AND smelter\n')).json();
    expect(yaml).toMatchObject({ valid: true, problems: [], document: { id: 'copper', enabled: true } });
    const json = await server.request('POST', '/v1/rules/validate', {
      body: { id: 'copper', name: 'C', query: 'a' },
    });
    expect(json.body).toMatchObject({
      valid: true,
      document: { id: 'copper', severity: expect.any(String) },
    });
  });
});
