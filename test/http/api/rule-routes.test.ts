import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IntelEvent } from '../../../src/ingest/event-schema.ts';
import {
  assertPostgresReachable,
  type Harness,
  makeAlert,
  postgresHarness,
  sqliteHarness,
} from '../../store/store-harness.ts';
import { type ApiServer, fileRule, startApiServer } from './api-server.ts';

const event = (id: string, title: string): IntelEvent => ({ id, title, publishedAt: '2026-03-01T08:00:00Z' });

const matchedIds = (server: ApiServer, e: IntelEvent) =>
  server.matcher.match(e).map((match) => match.rule.id);

const copperRule = {
  id: 'copper-smelter',
  name: 'Copper smelters',
  severity: 'high',
  tags: ['metals'],
  query: 'copper AND smelter',
};

const deskRule = fileRule({ id: 'rare-earth', name: 'Rare earth', query: '"rare earth"' });

describe.each([sqliteHarness, postgresHarness])('rules API ($name store)', (harness: Harness) => {
  let server: ApiServer;

  beforeAll(async () => {
    if (harness.name === 'postgres') await assertPostgresReachable();
  });
  afterEach(async () => {
    await server?.dispose();
  });

  const start = async () => {
    server = await startApiServer({ harness, fileRules: [deskRule] });
  };

  it('lists file rules as read-only, then API rules', async () => {
    await start();
    await server.request('POST', '/v1/rules', { body: copperRule });
    const listed = await server.request('GET', '/v1/rules');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([
      expect.objectContaining({ id: 'rare-earth', origin: 'file', file: 'desk.yaml', createdAt: null }),
      expect.objectContaining({
        id: 'copper-smelter',
        origin: 'api',
        file: null,
        enabled: true,
        createdAt: expect.any(String),
        document: { ...copperRule, enabled: true },
      }),
    ]);
    expect((await server.request('GET', '/v1/rules/rare-earth')).body).toMatchObject({ origin: 'file' });
    expect((await server.request('GET', '/v1/rules/copper-smelter')).body).toMatchObject({ origin: 'api' });
    const missing = await server.request('GET', '/v1/rules/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('TOCSIN_NOT_FOUND');
  });

  it("counts each rule's alerts over the last 24 hours and 7 days, throttled ones left out", async () => {
    await start();
    await server.request('POST', '/v1/rules', { body: copperRule });
    const ago = (hours: number) => new Date(server.clock.now().getTime() - hours * 3_600_000).toISOString();
    const alerts = [
      makeAlert({ ruleId: 'copper-smelter', receivedAt: ago(1) }),
      makeAlert({ ruleId: 'copper-smelter', receivedAt: ago(23) }),
      makeAlert({ ruleId: 'copper-smelter', receivedAt: ago(2), status: 'suppressed' }),
      makeAlert({ ruleId: 'copper-smelter', receivedAt: ago(30), status: 'silenced' }),
      makeAlert({ ruleId: 'copper-smelter', receivedAt: ago(7 * 24 + 1) }),
      makeAlert({ ruleId: 'rare-earth', receivedAt: ago(100) }),
      makeAlert({ ruleId: 'deleted-rule', receivedAt: ago(1) }),
    ];
    await server.store.pipeline.commit({ alerts, ledger: [], groupStates: [], jobs: [] });
    const elsewhere = [makeAlert({ ruleId: 'copper-smelter', receivedAt: ago(1) })];
    await server.store.pipeline.commit({
      tenantId: 'other',
      alerts: elsewhere,
      ledger: [],
      groupStates: [],
      jobs: [],
    });
    const stats = await server.request('GET', '/v1/rules/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toEqual({
      at: server.clock.now().toISOString(),
      items: [
        { ruleId: 'rare-earth', last24h: 0, last7d: 1 },
        { ruleId: 'copper-smelter', last24h: 2, last7d: 3 },
      ],
    });
  });

  it('creates a rule that matches at once, with defaults applied', async () => {
    await start();
    const copper = event('e1', 'Copper smelter restarts in Chile');
    expect(matchedIds(server, copper)).toEqual([]);
    const created = await server.request('POST', '/v1/rules', {
      body: { id: 'copper', name: 'Copper', query: 'copper' },
    });
    expect(created.status).toBe(201);
    expect(created.body.document).toEqual({
      id: 'copper',
      name: 'Copper',
      query: 'copper',
      severity: 'medium',
      enabled: true,
      tags: [],
    });
    expect(matchedIds(server, copper)).toEqual(['copper']);
    expect(server.matcher.rules().find((rule) => rule.id === 'copper')?.origin).toBe('api');
    expect((await server.store.rules.get('copper'))?.document.query).toBe('copper');
  });

  it('rejects an invalid query with the message of rule files, naming line and column', async () => {
    await start();
    const response = await server.request('POST', '/v1/rules', {
      body: { id: 'broken', name: 'Broken', query: 'copper AND\n  (smelter OR' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('TOCSIN_INVALID_RULE');
    expect(response.body.error.message).toMatch(
      /^body: broken: query: expected .+ \(at 2:\d+ of the query\)$/,
    );
    const [problem] = response.body.error.details.problems;
    expect(problem).toMatchObject({
      file: 'body',
      ruleId: 'broken',
      queryLine: 2,
      queryColumn: expect.any(Number),
    });
    expect(await server.store.rules.get('broken')).toBeUndefined();
    expect(server.matcher.rules().map((rule) => rule.id)).toEqual(['rare-earth']);
  });

  it.each([
    [{ id: 'Bad Id', name: 'x', query: 'a' }, /^body: Bad Id: id: lower-case letters/],
    [{ id: 'no-name', query: 'a' }, /^body: no-name: name: /],
    [{ id: 'extra', name: 'x', query: 'a', colour: 'red' }, /^body: extra: .*colour/],
    [
      { id: 'bad-throttle', name: 'x', query: 'a', throttle: '5 minutes' },
      /^body: bad-throttle: throttle: a duration/,
    ],
    [['not', 'an', 'object'], /^body: /],
  ])('rejects an invalid document %j like a rule file', async (body, message) => {
    await start();
    const response = await server.request('POST', '/v1/rules', { body });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('TOCSIN_INVALID_RULE');
    expect(response.body.error.message).toMatch(message);
  });

  it('answers 409 for an id that exists, as an API rule or a file rule', async () => {
    await start();
    expect((await server.request('POST', '/v1/rules', { body: copperRule })).status).toBe(201);
    const again = await server.request('POST', '/v1/rules', { body: { ...copperRule, name: 'Other' } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('TOCSIN_RULE_CONFLICT');
    expect((await server.store.rules.get('copper-smelter'))?.document.name).toBe('Copper smelters');
    const fileId = await server.request('POST', '/v1/rules', {
      body: { id: 'rare-earth', name: 'Mine', query: 'x' },
    });
    expect(fileId.status).toBe(409);
    expect(fileId.body.error.message).toContain('desk.yaml');
  });

  it('replaces a rule: the matcher follows and the engine forgets the old definition', async () => {
    await start();
    await server.request('POST', '/v1/rules', { body: copperRule });
    const copper = event('e1', 'Copper smelter strike');
    const nickel = event('e2', 'Nickel smelter strike');
    expect(matchedIds(server, copper)).toEqual(['copper-smelter']);

    // The id may be left out of a PUT body.
    const { id: _id, ...withoutId } = copperRule;
    const renamed = await server.request('PUT', '/v1/rules/copper-smelter', {
      body: { ...withoutId, name: 'Renamed' },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body.document.name).toBe('Renamed');
    expect(server.forgotten).toEqual([]);

    const replaced = await server.request('PUT', '/v1/rules/copper-smelter', {
      body: { ...copperRule, query: 'nickel AND smelter' },
    });
    expect(replaced.status).toBe(200);
    expect(matchedIds(server, copper)).toEqual([]);
    expect(matchedIds(server, nickel)).toEqual(['copper-smelter']);
    expect(server.forgotten).toEqual(['copper-smelter']);
  });

  it('refuses to replace a file rule, a missing rule, or with another id in the body', async () => {
    await start();
    await server.request('POST', '/v1/rules', { body: copperRule });
    const file = await server.request('PUT', '/v1/rules/rare-earth', { body: { name: 'x', query: 'y' } });
    expect(file.status).toBe(409);
    expect(file.body.error.code).toBe('TOCSIN_RULE_CONFLICT');
    expect(
      (await server.request('PUT', '/v1/rules/absent', { body: { name: 'x', query: 'y' } })).status,
    ).toBe(404);
    const otherId = await server.request('PUT', '/v1/rules/copper-smelter', {
      body: { ...copperRule, id: 'other' },
    });
    expect(otherId.status).toBe(400);
    expect(otherId.body.error).toMatchObject({
      code: 'TOCSIN_INVALID_REQUEST',
      details: { field: 'body.id' },
    });
    const badQuery = await server.request('PUT', '/v1/rules/copper-smelter', {
      body: { ...copperRule, query: '(' },
    });
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.code).toBe('TOCSIN_INVALID_RULE');
    expect((await server.store.rules.get('copper-smelter'))?.document.query).toBe(copperRule.query);
  });

  it('disables and enables a rule; the matcher follows at once', async () => {
    await start();
    await server.request('POST', '/v1/rules', { body: copperRule });
    const copper = event('e1', 'Copper smelter fire');
    const disabled = await server.request('POST', '/v1/rules/copper-smelter/disable');
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ enabled: false, document: { enabled: false } });
    expect(matchedIds(server, copper)).toEqual([]);
    const enabled = await server.request('POST', '/v1/rules/copper-smelter/enable');
    expect(enabled.body.enabled).toBe(true);
    expect(matchedIds(server, copper)).toEqual(['copper-smelter']);
    expect((await server.request('POST', '/v1/rules/rare-earth/disable')).status).toBe(409);
    expect((await server.request('POST', '/v1/rules/absent/enable')).status).toBe(404);
  });

  it('creates a disabled rule that does not match until enabled', async () => {
    await start();
    const created = await server.request('POST', '/v1/rules', { body: { ...copperRule, enabled: false } });
    expect(created.body.enabled).toBe(false);
    expect(matchedIds(server, event('e1', 'Copper smelter'))).toEqual([]);
    await server.request('POST', '/v1/rules/copper-smelter/enable');
    expect(matchedIds(server, event('e1', 'Copper smelter'))).toEqual(['copper-smelter']);
  });

  it('deletes a rule: it stops matching and the engine forgets it', async () => {
    await start();
    await server.request('POST', '/v1/rules', { body: copperRule });
    const copper = event('e1', 'Copper smelter output');
    expect(matchedIds(server, copper)).toEqual(['copper-smelter']);
    const deleted = await server.request('DELETE', '/v1/rules/copper-smelter');
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBe('');
    expect(matchedIds(server, copper)).toEqual([]);
    expect(server.forgotten).toEqual(['copper-smelter']);
    expect((await server.request('GET', '/v1/rules/copper-smelter')).status).toBe(404);
    expect((await server.request('DELETE', '/v1/rules/copper-smelter')).status).toBe(404);
    expect((await server.request('DELETE', '/v1/rules/rare-earth')).status).toBe(409);
    expect(matchedIds(server, event('e2', 'rare earth magnets'))).toEqual(['rare-earth']);
  });

  it('keeps the store and the matcher in step under concurrent changes', async () => {
    await start();
    await server.request('POST', '/v1/rules', { body: copperRule });
    const queries = Array.from({ length: 8 }, (_, i) => `term${i}`);
    await Promise.all(
      queries.map((query) =>
        server.request('PUT', '/v1/rules/copper-smelter', { body: { ...copperRule, query } }),
      ),
    );
    const stored = await server.store.rules.get('copper-smelter');
    const inMatcher = server.matcher.rules().find((rule) => rule.id === 'copper-smelter');
    expect(inMatcher?.definition.query).toBe(stored?.document.query);
  });
});
