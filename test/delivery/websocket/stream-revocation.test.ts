import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../pipeline/pipeline-harness.ts';
import { openStream, upgradeStatus } from '../../support/stream-client.ts';
import { authHeaders, type TestApp } from '../../support/test-app.ts';
import { brief, issueToken, postEvents, startStreamApp } from './stream-harness.ts';

/**
 * Two instances of the service sharing one PostgreSQL schema and one TOCSIN_SECRET, as a
 * cluster does: a key revoked through one ends its streams on both (4003) and its tokens are
 * refused everywhere.
 */
describe('revoking an API key ends its streams and tokens on every instance', () => {
  const secret = 'stream-revocation-secret-0123456789';
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    const env = { ...database.env, TOCSIN_SECRET: secret };
    a = await startStreamApp(env);
    b = await startStreamApp(env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.dispose();
  });

  const createKey = async (name: string) => {
    const response = await fetch(`${a.url}/v1/api-keys`, {
      method: 'POST',
      headers: { ...authHeaders, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    return (await response.json()) as { id: string; key: string };
  };

  it('closes the key streams on both instances with 4003, refuses its tokens, leaves other keys alone', async () => {
    const doomed = await createKey('dashboard');
    const kept = await createKey('other-dashboard');
    const headerOf = (key: string) => ({ authorization: `Bearer ${key}` });
    const { body: token } = await issueToken(b, headerOf(doomed.key));

    const onA = await openStream(`${a.wsUrl}/v1/stream`, { headers: headerOf(doomed.key) });
    const onB = await openStream(`${b.wsUrl}/v1/stream`, { headers: headerOf(doomed.key) });
    const byToken = await openStream(`${b.wsUrl}/v1/stream?token=${token.token}`);
    const other = await openStream(`${b.wsUrl}/v1/stream`, { headers: headerOf(kept.key) });

    const revoked = await fetch(`${a.url}/v1/api-keys/${doomed.id}`, {
      method: 'DELETE',
      headers: authHeaders,
    });
    expect(revoked.status).toBe(200);
    // Both hear it on the change feed (NOTIFY at commit).
    const closes = await Promise.all([onA, onB, byToken].map((stream) => stream.waitForClose(5_000)));
    expect(closes.map((close) => close.code)).toEqual([4003, 4003, 4003]);

    // The unexpired token is refused now, on either instance, saying why.
    for (const service of [a, b]) {
      expect(await upgradeStatus(`${service.wsUrl}/v1/stream?token=${token.token}`)).toBe(401);
      const answer = await fetch(`${service.url}/v1/stream?token=${token.token}`);
      expect(answer.status).toBe(401);
      expect(await answer.json()).toEqual({
        error: { code: 'TOCSIN_UNAUTHORIZED', message: expect.stringMatching(/revoked/) },
      });
    }
    expect((await issueToken(b, headerOf(doomed.key))).status).toBe(401);

    // Another key's stream still gets alerts.
    await postEvents(b, [brief('revocation-after', 'Copper cathode premiums jump')]);
    const message = await other.next((m) => m.type === 'alert');
    expect(message).toMatchObject({ alert: { eventIds: ['revocation-after'] } });
    expect(other.closed()).toBeUndefined();
    await other.close();
  });

  it('a key revoked straight in the store (the CLI does so) closes its streams too', async () => {
    const doomed = await createKey('cli-revoked');
    const stream = await openStream(`${b.wsUrl}/v1/stream`, {
      headers: { authorization: `Bearer ${doomed.key}` },
    });
    await database.store.apiKeys.revoke(doomed.id, new Date());
    expect((await stream.waitForClose(5_000)).code).toBe(4003);
  });
});
