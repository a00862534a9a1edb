import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueApiKey } from '../../../src/http/api-keys.ts';
import { openStream, upgradeStatus } from '../../support/stream-client.ts';
import { authHeaders, type TestApp } from '../../support/test-app.ts';
import { brief, issueToken, postEvents, sleep, startStreamApp } from './stream-harness.ts';

describe('/v1/stream credentials (real ws clients)', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startStreamApp({ TOCSIN_STREAM_TOKEN_TTL: '2s' });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('refuses the upgrade with HTTP 401 without credentials, with a wrong key, or a bad token', async () => {
    const url = `${service.wsUrl}/v1/stream`;
    expect(await upgradeStatus(url)).toBe(401);
    expect(await upgradeStatus(url, { headers: { authorization: 'Bearer tk_not-a-key' } })).toBe(401);
    expect(await upgradeStatus(url, { headers: { authorization: 'Basic Zm9vOmJhcg==' } })).toBe(401);
    expect(await upgradeStatus(`${url}?token=st1.e30.AAAA`)).toBe(401);
    const { body } = await issueToken(service);
    const [prefix, payload, signature] = body.token.split('.');
    // Another tenant in the payload, the old signature: refused.
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), t: 'other' }),
    ).toString('base64url');
    expect(await upgradeStatus(`${url}?token=${prefix}.${forged}.${signature}`)).toBe(401);
    // A wrong header is never rescued by a good token.
    expect(
      await upgradeStatus(`${url}?token=${body.token}`, { headers: { authorization: 'Bearer tk_wrong' } }),
    ).toBe(401);
  });

  it('says why a token is refused: tampered, malformed, expired — never "an API key is required"', async () => {
    const { body } = await issueToken(service);
    const [prefix, payload, signature] = body.token.split('.');
    const tampered = `${prefix}.${payload}x.${signature}`;
    const refusal = async (query: string) => {
      const answer = await fetch(`${service.url}/v1/stream${query}`);
      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toBe('Bearer');
      return ((await answer.json()) as { error: { code: string; message: string } }).error;
    };
    expect(await refusal(`?token=${tampered}`)).toEqual({
      code: 'TOCSIN_UNAUTHORIZED',
      message: expect.stringMatching(/altered .*signature does not match/),
    });
    expect((await refusal('?token=garbage')).message).toMatch(/not a stream token/);
    expect((await refusal('')).message).toMatch(/an API key is required/);
    expect(await upgradeStatus(`${service.wsUrl}/v1/stream?token=${tampered}`)).toBe(401);
  });

  it('accepts the API key header, and a token from POST /v1/stream/tokens (which needs the key)', async () => {
    expect(await upgradeStatus(`${service.wsUrl}/v1/stream`, { headers: authHeaders })).toBe(101);
    expect((await issueToken(service, {})).status).toBe(401);
    const { status, body } = await issueToken(service);
    expect(status).toBe(200);
    expect(body).toMatchObject({ token: expect.stringMatching(/^st1\./), heartbeatMs: expect.any(Number) });
    expect(Date.parse(body.expiresAt) - Date.now()).toBeLessThanOrEqual(2_000);
    // A token cannot mint tokens: it opens streams only.
    const minted = await fetch(`${service.url}/v1/stream/tokens?token=${body.token}`, { method: 'POST' });
    expect(minted.status).toBe(401);

    const stream = await openStream(`${service.wsUrl}/v1/stream?token=${encodeURIComponent(body.token)}`);
    await postEvents(service, [brief('auth-token-1', 'Copper cathode premiums jump')]);
    const message = await stream.next((m) => m.type === 'alert');
    expect(message).toMatchObject({ alert: { ruleId: 'metals-watch', eventIds: ['auth-token-1'] } });
    await stream.close();
  });

  it('closes a token stream with 4001 when the token expires; an API-key stream stays open', async () => {
    const { body } = await issueToken(service);
    const byToken = await openStream(`${service.wsUrl}/v1/stream?token=${body.token}`);
    const byKey = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    const closed = await byToken.waitForClose(5_000);
    expect(closed.code).toBe(4001);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(body.expiresAt));
    expect(byKey.closed()).toBeUndefined();
    // An expired token no longer opens a stream, and is told so.
    expect(await upgradeStatus(`${service.wsUrl}/v1/stream?token=${body.token}`)).toBe(401);
    const answer = await fetch(`${service.url}/v1/stream?token=${body.token}`);
    expect(((await answer.json()) as { error: { message: string } }).error.message).toMatch(/expired/);
    await byKey.close();
  });

  it('answers 400 before the upgrade for a malformed cursor or severity', async () => {
    const url = `${service.wsUrl}/v1/stream`;
    expect(await upgradeStatus(`${url}?since=not-a-cursor`, { headers: authHeaders })).toBe(400);
    expect(await upgradeStatus(`${url}?minSeverity=urgent`, { headers: authHeaders })).toBe(400);
  });
});

describe('/v1/stream tenants', () => {
  const secret = 'stream-tenant-test-secret-0123456789';
  let service: TestApp;
  beforeAll(async () => {
    service = await startStreamApp({ TOCSIN_SECRET: secret });
  });
  afterAll(async () => {
    await service?.close();
  });

  it("streams only the caller's tenant: another tenant's key and its tokens see none of these alerts", async () => {
    const { key } = await issueApiKey(
      { store: service.app.store, secret },
      { name: 'acme-wall', tenantId: 'acme' },
    );
    const acme = await openStream(`${service.wsUrl}/v1/stream`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const { body } = await issueToken(service, { authorization: `Bearer ${key}` });
    const acmeByToken = await openStream(`${service.wsUrl}/v1/stream?token=${body.token}`);
    const since = await service.app.store.alerts.headCursor();
    const acmeResuming = await openStream(`${service.wsUrl}/v1/stream?since=${since}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const own = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });

    await postEvents(service, [brief('tenant-1', 'Copper for the default tenant')]);
    await own.next((m) => m.type === 'alert');
    await sleep(300);
    for (const stream of [acme, acmeByToken, acmeResuming]) {
      expect(stream.messages.filter((m) => m.type === 'alert')).toEqual([]);
      await stream.close();
    }
    await own.close();
  });
});

describe('/v1/stream limits', () => {
  let service: TestApp;
  beforeAll(async () => {
    service = await startStreamApp({
      TOCSIN_STREAM_MAX_CONNECTIONS_PER_KEY: '2',
      TOCSIN_STREAM_MAX_MESSAGE: '256b',
      TOCSIN_STREAM_MESSAGES_PER_SECOND: '2',
      TOCSIN_HEARTBEAT_MS: '200',
    });
  });
  afterAll(async () => {
    await service?.close();
  });

  it('answers 429 past the connections allowed per API key, tokens counting for their key', async () => {
    const url = `${service.wsUrl}/v1/stream`;
    const first = await openStream(url, { headers: authHeaders });
    const { body } = await issueToken(service);
    const second = await openStream(`${url}?token=${body.token}`);
    expect(await upgradeStatus(url, { headers: authHeaders })).toBe(429);
    expect(await upgradeStatus(`${url}?token=${body.token}`)).toBe(429);
    await second.close();
    await expect.poll(() => service.app.hub.connectionCount()).toBe(1);
    expect(await upgradeStatus(url, { headers: authHeaders })).toBe(101);
    await first.close();
  });

  it('answers a bad message with an error and stays open; closes 1009 on a message over the size limit', async () => {
    const stream = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    stream.socket.send('{not json');
    expect(await stream.next((m) => m.type === 'error')).toMatchObject({ code: 'invalid_message' });
    stream.socket.send(JSON.stringify({ type: 'subscribe', minSeverity: 'urgent' }));
    await expect.poll(() => stream.messages.filter((m) => m.type === 'error').length).toBe(2);
    expect(stream.messages.filter((m) => m.type === 'error')[1]!.message).toMatch(/^minSeverity: /);
    expect(stream.closed()).toBeUndefined();

    stream.socket.send(JSON.stringify({ type: 'subscribe', rules: ['x'.repeat(300)] }));
    expect((await stream.waitForClose()).code).toBe(1009);
  });

  it('closes 1008 after an error when a client sends more messages per second than allowed', async () => {
    const stream = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    for (let i = 0; i < 10; i++) stream.socket.send(JSON.stringify({ type: 'subscribe' }));
    expect((await stream.waitForClose()).code).toBe(1008);
    expect(stream.messages.find((m) => m.type === 'error')).toMatchObject({ code: 'rate_limited' });
  });

  it('sends heartbeats and pings; a peer that does not answer pings is cut off', async () => {
    const healthy = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
    let pings = 0;
    healthy.socket.on('ping', () => pings++);
    const silent = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders, autoPong: false });
    const heartbeat = await healthy.next((m) => m.type === 'heartbeat', 2_000);
    expect(Date.parse(heartbeat.time as string)).toBeGreaterThan(Date.now() - 5_000);
    expect((await silent.waitForClose(2_000)).code).toBe(1006);
    expect(pings).toBeGreaterThan(0);
    expect(healthy.closed()).toBeUndefined();
    await healthy.close();
  });
});
