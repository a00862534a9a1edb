import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from './api-server.ts';

describe('subscribers, webhooks and subscriptions API', () => {
  let server: ApiServer;
  beforeEach(async () => {
    server = await startApiServer();
  });
  afterEach(async () => {
    await server.dispose();
  });

  const post = async (url: string, body: unknown) => server.request('POST', url, { body });

  describe('subscribers', () => {
    it('creates, lists, changes and deletes subscribers', async () => {
      const created = await post('/v1/subscribers', {
        name: 'Ana',
        email: 'ana@desk.example',
        timeZone: 'Europe/Berlin',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        name: 'Ana',
        email: 'ana@desk.example',
        timeZone: 'Europe/Berlin',
      });
      expect(created.body).not.toHaveProperty('tenantId');
      server.clock.advance(1_000);
      const plain = await post('/v1/subscribers', { name: 'Ops' });
      expect(plain.body).toMatchObject({ email: null, timeZone: 'UTC' });

      const listed = await server.request('GET', '/v1/subscribers');
      expect(listed.body.items.map((item: { name: string }) => item.name)).toEqual(['Ana', 'Ops']);
      const changed = await server.request('PATCH', `/v1/subscribers/${plain.body.id}`, {
        body: { timeZone: 'America/Santiago', email: 'ops@desk.example' },
      });
      expect(changed.body).toMatchObject({
        name: 'Ops',
        timeZone: 'America/Santiago',
        email: 'ops@desk.example',
      });
      expect((await server.request('GET', `/v1/subscribers/${plain.body.id}`)).body).toEqual(changed.body);

      expect((await server.request('DELETE', `/v1/subscribers/${plain.body.id}`)).status).toBe(204);
      expect((await server.request('GET', `/v1/subscribers/${plain.body.id}`)).status).toBe(404);
      expect(
        (await server.request('PATCH', '/v1/subscribers/sub_nope', { body: { name: 'x' } })).status,
      ).toBe(404);
    });

    it.each([
      [{ name: 'A', timeZone: 'Mars/Olympus' }, 'body.timeZone'],
      [{ name: 'A', timeZone: 'utc+2' }, 'body.timeZone'],
      [{ name: 'A', email: 'not-an-address' }, 'body.email'],
      [{ name: '' }, 'body.name'],
      [{ email: 'a@b.example' }, 'body.name'],
    ])('rejects %j naming %s', async (body, field) => {
      const response = await post('/v1/subscribers', body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'TOCSIN_INVALID_REQUEST', details: { field } });
    });

    it('validates an address at creation as delivery does (no address accepted that the sender refuses)', async () => {
      const long = `${'a'.repeat(300)}@desk.example`;
      for (const email of [
        long,
        `${'a'.repeat(65)}@desk.example`,
        'ana@-desk.example',
        '"ana"@desk.example',
      ]) {
        const created = await post('/v1/subscribers', { name: 'Ana', email });
        expect(created.status, email).toBe(400);
        expect(created.body.error).toMatchObject({
          code: 'TOCSIN_INVALID_REQUEST',
          details: { field: 'body.email' },
        });
      }
      const ana = await post('/v1/subscribers', { name: 'Ana', email: 'ana@desk.example' });
      const patched = await server.request('PATCH', `/v1/subscribers/${ana.body.id}`, {
        body: { email: long },
      });
      expect(patched.status).toBe(400);
      // An internationalised domain is sent (punycode), so it is taken.
      expect((await post('/v1/subscribers', { name: 'Jo', email: 'jo@bücher.example' })).status).toBe(201);
    });

    it('refuses to remove the address of a subscriber with email subscriptions', async () => {
      const ana = await post('/v1/subscribers', { name: 'Ana', email: 'ana@desk.example' });
      await post('/v1/subscriptions', { subscriberId: ana.body.id, channel: 'email' });
      const response = await server.request('PATCH', `/v1/subscribers/${ana.body.id}`, {
        body: { email: null },
      });
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe('TOCSIN_CONFLICT');
    });

    it('deleting a subscriber deletes its subscriptions', async () => {
      const ana = await post('/v1/subscribers', { name: 'Ana', email: 'ana@desk.example' });
      const subscription = await post('/v1/subscriptions', { subscriberId: ana.body.id, channel: 'email' });
      await server.request('DELETE', `/v1/subscribers/${ana.body.id}`);
      expect((await server.request('GET', `/v1/subscriptions/${subscription.body.id}`)).status).toBe(404);
    });
  });

  describe('webhook endpoints', () => {
    it('shows the secret on create and rotate only, masked otherwise', async () => {
      const created = await post('/v1/webhooks', { url: 'https://desk.example/hook' });
      expect(created.status).toBe(201);
      const secret = created.body.secret as string;
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{40,}={0,2}$/);
      expect(created.body).toMatchObject({
        format: 'standard',
        disabled: false,
        previousSecretExpiresAt: null,
      });
      expect(created.body).not.toHaveProperty('previousSecret');

      const fetched = await server.request('GET', `/v1/webhooks/${created.body.id}`);
      expect(fetched.body.secret).toBe(`whsec_…${secret.slice(-4)}`);
      const listed = await server.request('GET', '/v1/webhooks');
      expect(listed.body.items).toHaveLength(1);
      expect(JSON.stringify(listed.body)).not.toContain(secret.slice(6, 20));

      server.clock.advance(1_000);
      const rotated = await post(`/v1/webhooks/${created.body.id}/rotate`, { previousSecretValidFor: '1h' });
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      expect(rotated.body.secret).not.toBe(secret);
      expect(rotated.body.previousSecretExpiresAt).toBe(new Date(server.clock.ms + 3_600_000).toISOString());
      const stored = await server.store.endpoints.get(created.body.id);
      expect(stored).toMatchObject({ secret: rotated.body.secret, previousSecret: secret });

      // No body: the default overlap (24h).
      const again = await server.request('POST', `/v1/webhooks/${created.body.id}/rotate`);
      expect(again.status).toBe(200);
      expect(again.body.previousSecretExpiresAt).toBe(new Date(server.clock.ms + 86_400_000).toISOString());
    });

    it('bounds previousSecretValidFor (30d) with a 400, never an expiry lost', async () => {
      const created = await post('/v1/webhooks', { url: 'https://desk.example/hook' });
      for (const previousSecretValidFor of ['99999999d', '31d', '1000h']) {
        const rotated = await post(`/v1/webhooks/${created.body.id}/rotate`, { previousSecretValidFor });
        expect(rotated.status, previousSecretValidFor).toBe(400);
        expect(rotated.body.error).toMatchObject({
          code: 'TOCSIN_INVALID_REQUEST',
          details: { field: 'body.previousSecretValidFor' },
        });
      }
      expect((await server.store.endpoints.get(created.body.id))?.secret).toBe(created.body.secret);
      const longest = await post(`/v1/webhooks/${created.body.id}/rotate`, { previousSecretValidFor: '30d' });
      expect(longest.body.previousSecretExpiresAt).toBe(
        new Date(server.clock.ms + 30 * 86_400_000).toISOString(),
      );
    });

    it('takes a given secret and format, changes, disables, enables and deletes', async () => {
      const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
      const created = await post('/v1/webhooks', {
        url: 'http://127.0.0.1:9/hook',
        format: 'alertmanager',
        secret,
      });
      expect(created.body).toMatchObject({ secret, format: 'alertmanager' });
      const id = created.body.id as string;
      const moved = await server.request('PATCH', `/v1/webhooks/${id}`, {
        body: { url: 'https://new.example/h' },
      });
      expect(moved.body).toMatchObject({ url: 'https://new.example/h', format: 'alertmanager' });
      const disabled = await server.request('PATCH', `/v1/webhooks/${id}`, { body: { disabled: true } });
      expect(disabled.body).toMatchObject({ disabled: true, disabledReason: 'disabled through the API' });
      const enabled = await server.request('PATCH', `/v1/webhooks/${id}`, { body: { disabled: false } });
      expect(enabled.body).toMatchObject({ disabled: false, disabledReason: null });
      expect((await server.request('DELETE', `/v1/webhooks/${id}`)).status).toBe(204);
      expect((await server.request('GET', `/v1/webhooks/${id}`)).status).toBe(404);
    });

    it.each([
      [{ url: 'ftp://desk.example/hook' }, 'body.url'],
      [{ url: 'javascript:alert(1)' }, 'body.url'],
      [{ url: 'not a url' }, 'body.url'],
      [{ url: 'https://desk.example/h', secret: 'plain-secret' }, 'body.secret'],
      [{ url: 'https://desk.example/h', format: 'slack' }, 'body.format'],
    ])('rejects %j naming %s', async (body, field) => {
      const response = await post('/v1/webhooks', body);
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'TOCSIN_INVALID_REQUEST', details: { field } });
    });
  });

  describe('subscriptions', () => {
    let withEmail: string;
    let withoutEmail: string;
    let endpointId: string;

    beforeEach(async () => {
      withEmail = (await post('/v1/subscribers', { name: 'Ana', email: 'ana@desk.example' })).body.id;
      withoutEmail = (await post('/v1/subscribers', { name: 'Bot' })).body.id;
      endpointId = (await post('/v1/webhooks', { url: 'https://desk.example/hook' })).body.id;
    });

    it('creates webhook and email subscriptions with defaults', async () => {
      const hook = await post('/v1/subscriptions', {
        subscriberId: withoutEmail,
        channel: 'webhook',
        endpointId,
        ruleIds: ['copper'],
        minSeverity: 'high',
      });
      expect(hook.status).toBe(201);
      expect(hook.body).toMatchObject({
        subscriberId: withoutEmail,
        channel: 'webhook',
        endpointId,
        ruleIds: ['copper'],
        tags: null,
        minSeverity: 'high',
        mode: 'immediate',
        dailyHour: null,
        unsubscribed: false,
      });
      const daily = await post('/v1/subscriptions', {
        subscriberId: withEmail,
        channel: 'email',
        tags: ['metals'],
        mode: 'daily',
        dailyHour: 7,
      });
      expect(daily.status).toBe(201);
      expect(daily.body).toMatchObject({ channel: 'email', endpointId: null, mode: 'daily', dailyHour: 7 });
      server.clock.advance(1_000);
      const hourly = await post('/v1/subscriptions', {
        subscriberId: withEmail,
        channel: 'email',
        mode: 'hourly',
      });
      expect(hourly.status).toBe(201);

      // Routing reads them from the store.
      expect(await server.store.subscriptions.list()).toHaveLength(3);
      const listed = await server.request('GET', `/v1/subscriptions?subscriberId=${withEmail}`);
      expect(listed.body.items.map((item: { id: string }) => item.id)).toEqual([
        daily.body.id,
        hourly.body.id,
      ]);
      const webhooks = await server.request('GET', '/v1/subscriptions?channel=webhook');
      expect(webhooks.body.items.map((item: { id: string }) => item.id)).toEqual([hook.body.id]);
    });

    it('checks channel, endpoint, subscriber and digest hour', async () => {
      const otherTenantEndpoint = await server.store.endpoints.create({
        tenantId: 'other',
        url: 'https://other.example/h',
      });
      const otherTenantSubscriber = await server.store.subscribers.create({
        tenantId: 'other',
        name: 'Them',
      });
      const cases: [Record<string, unknown>, string][] = [
        [{ subscriberId: withoutEmail, channel: 'webhook' }, 'body.endpointId'],
        [{ subscriberId: withoutEmail, channel: 'webhook', endpointId: 'ep_nope' }, 'body.endpointId'],
        [
          { subscriberId: withoutEmail, channel: 'webhook', endpointId: otherTenantEndpoint.id },
          'body.endpointId',
        ],
        [{ subscriberId: withoutEmail, channel: 'email' }, 'body.channel'],
        [{ subscriberId: withEmail, channel: 'email', endpointId }, 'body.endpointId'],
        [{ subscriberId: 'sub_nope', channel: 'email' }, 'body.subscriberId'],
        [{ subscriberId: otherTenantSubscriber.id, channel: 'email' }, 'body.subscriberId'],
        [{ subscriberId: withEmail, channel: 'email', mode: 'daily' }, 'body.dailyHour'],
        [{ subscriberId: withEmail, channel: 'email', mode: 'daily', dailyHour: 24 }, 'body.dailyHour'],
        [{ subscriberId: withEmail, channel: 'email', mode: 'daily', dailyHour: 7.5 }, 'body.dailyHour'],
        [{ subscriberId: withEmail, channel: 'email', mode: 'hourly', dailyHour: 7 }, 'body.dailyHour'],
        [{ subscriberId: withEmail, channel: 'sms' }, 'body.channel'],
        [{ subscriberId: withEmail, channel: 'email', minSeverity: 'urgent' }, 'body.minSeverity'],
        [{ subscriberId: withEmail, channel: 'email', ruleIds: [] }, 'body.ruleIds'],
      ];
      for (const [body, field] of cases) {
        const response = await post('/v1/subscriptions', body);
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(response.body.error, JSON.stringify(body)).toMatchObject({
          code: 'TOCSIN_INVALID_REQUEST',
          details: { field },
        });
      }
      expect(await server.store.subscriptions.list()).toEqual([]);
    });

    it('changes a subscription, checking the result as a whole', async () => {
      const created = await post('/v1/subscriptions', { subscriberId: withEmail, channel: 'email' });
      const id = created.body.id as string;
      const toDaily = await server.request('PATCH', `/v1/subscriptions/${id}`, { body: { mode: 'daily' } });
      expect(toDaily.status).toBe(400);
      expect(toDaily.body.error.details.field).toBe('body.dailyHour');
      const daily = await server.request('PATCH', `/v1/subscriptions/${id}`, {
        body: { mode: 'daily', dailyHour: 6 },
      });
      expect(daily.body).toMatchObject({ mode: 'daily', dailyHour: 6 });
      const toWebhook = await server.request('PATCH', `/v1/subscriptions/${id}`, {
        body: { channel: 'webhook', endpointId, mode: 'immediate', minSeverity: 'critical' },
      });
      expect(toWebhook.status).toBe(200);
      expect(toWebhook.body).toMatchObject({
        channel: 'webhook',
        endpointId,
        mode: 'immediate',
        dailyHour: null,
      });
      const backToEmail = await server.request('PATCH', `/v1/subscriptions/${id}`, {
        body: { channel: 'email' },
      });
      expect(backToEmail.body).toMatchObject({ channel: 'email', endpointId: null, minSeverity: 'critical' });
      expect((await server.request('PATCH', '/v1/subscriptions/subn_nope', { body: {} })).status).toBe(404);
      expect((await server.request('DELETE', `/v1/subscriptions/${id}`)).status).toBe(204);
      expect((await server.request('GET', `/v1/subscriptions/${id}`)).status).toBe(404);
    });

    it('hides records of another tenant', async () => {
      const other = await server.store.subscribers.create({
        tenantId: 'other',
        name: 'Them',
        email: 't@o.example',
      });
      const subscription = await server.store.subscriptions.create({
        tenantId: 'other',
        subscriberId: other.id,
        channel: 'email',
      });
      expect((await server.request('GET', `/v1/subscribers/${other.id}`)).status).toBe(404);
      expect((await server.request('GET', `/v1/subscriptions/${subscription.id}`)).status).toBe(404);
      expect((await server.request('DELETE', `/v1/subscriptions/${subscription.id}`)).status).toBe(404);
      expect(await server.store.subscriptions.get(subscription.id)).toBeDefined();
      expect((await server.request('GET', '/v1/subscribers')).body.items).toHaveLength(2);
    });
  });
});
