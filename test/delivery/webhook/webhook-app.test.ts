import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookPayloadSchema } from '../../../src/delivery/webhook/webhook-payload.ts';
import { authHeaders, seedEventPath, startTestApp, type TestApp } from '../../support/test-app.ts';
import { startWebhookReceiver, verifyWithLibraries, type WebhookReceiver } from './webhook-receiver.ts';

const seed = JSON.parse(readFileSync(seedEventPath, 'utf8')) as { id: string } & Record<string, unknown>;

/**
 * End to end through the real app: the API creates the subscriber, the endpoints and the
 * subscriptions; the seed brief goes in through `POST /v1/events`; the signed webhook comes
 * out to a real receiver, which verifies it with `standardwebhooks` and svix.
 */
describe('webhooks through the app', () => {
  let service: TestApp;
  let hooks: WebhookReceiver;

  const api = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = authHeaders,
  ) => {
    const response = await fetch(`${service.url}${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const value = await read();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  beforeAll(async () => {
    hooks = await startWebhookReceiver();
    service = await startTestApp({
      TOCSIN_WEBHOOK_ALLOWLIST: '127.0.0.1',
      TOCSIN_RETRY_SCHEDULE: '0s,200ms,200ms',
      TOCSIN_WEBHOOK_TIMEOUT_MS: '2000',
    });
  });
  afterAll(async () => {
    await service?.close();
    await hooks?.close();
  });

  it('delivers the seed alert signed, pings on demand, logs attempts, and refuses a private address', async () => {
    const subscriber = await api('POST', '/v1/subscribers', { name: 'Commodities desk' });
    expect(subscriber.status).toBe(201);
    const endpoint = await api('POST', '/v1/webhooks', { url: hooks.url });
    expect(endpoint.status).toBe(201);
    const { id: endpointId, secret } = endpoint.body as { id: string; secret: string };
    expect(secret).toMatch(/^whsec_/);
    const internal = await api('POST', '/v1/webhooks', { url: 'http://10.0.0.1/hooks' });
    for (const target of [endpointId, internal.body.id]) {
      const subscription = await api('POST', '/v1/subscriptions', {
        subscriberId: subscriber.body.id,
        channel: 'webhook',
        endpointId: target,
        ruleIds: ['rare-earth-export-controls'],
      });
      expect(subscription.status).toBe(201);
    }

    // A signed ping first.
    expect((await api('POST', `/v1/webhooks/${endpointId}/test`, undefined, {})).status).toBe(401);
    const ping = await api('POST', `/v1/webhooks/${endpointId}/test`);
    expect(ping).toMatchObject({ status: 200, body: { delivered: true, statusCode: 204, error: null } });
    expect(hooks.requests).toHaveLength(1);
    expect(hooks.requests[0]!.id).toBe(ping.body.webhookId);
    expect(webhookPayloadSchema.parse(verifyWithLibraries(secret, hooks.requests[0]!))).toMatchObject({
      type: 'ping',
      data: { endpointId },
    });

    // The seed brief fires the rare-earth rule; its alert arrives signed.
    const ingest = await api('POST', '/v1/events', seed);
    expect(ingest).toMatchObject({ status: 202, body: { accepted: [seed.id] } });
    await hooks.waitFor(2);
    const delivery = hooks.requests[1]!;
    const payload = webhookPayloadSchema.parse(verifyWithLibraries(secret, delivery));
    expect(payload).toMatchObject({
      type: 'alert.fired',
      data: {
        ruleId: 'rare-earth-export-controls',
        severity: 'high',
        eventIds: [seed.id],
        event: { id: seed.id, title: seed.title },
      },
    });
    const tampered = { ...delivery, body: delivery.body.replace('"high"', '"critical"') };
    expect(() => verifyWithLibraries(secret, tampered)).toThrow(/No matching signature/);

    // webhook-id is the delivery job's id; the job ends sent, its attempt is in the endpoint's log.
    const job = await waitFor(
      'the delivery to be sent',
      () => api('GET', `/v1/deliveries/${delivery.id}`),
      (answer) => answer.body?.status === 'sent',
    );
    expect(job.body).toMatchObject({
      endpointId,
      alertId: payload.type === 'alert.fired' && payload.data.id,
    });
    const attempts = await api('GET', `/v1/webhooks/${endpointId}/attempts`);
    expect(attempts.body.items).toEqual([
      expect.objectContaining({ jobId: delivery.id, statusCode: 204, error: null, responseSnippet: '' }),
    ]);

    // The internal endpoint: refused before any connection, failed at once, and its owner sees why.
    const refused = await waitFor(
      'the internal delivery to fail',
      () => api('GET', `/v1/deliveries?endpointId=${internal.body.id}`),
      (answer) => answer.body.items[0]?.status === 'failed',
    );
    expect(refused.body.items[0].lastError).toBe('refused by the SSRF rules: 10.0.0.1 is private');
    const internalAttempts = await api('GET', `/v1/webhooks/${internal.body.id}/attempts`);
    expect(internalAttempts.body.items).toEqual([
      expect.objectContaining({ statusCode: null, error: 'refused by the SSRF rules: 10.0.0.1 is private' }),
    ]);
    const internalPing = await api('POST', `/v1/webhooks/${internal.body.id}/test`);
    expect(internalPing.body).toMatchObject({ delivered: false, statusCode: null });
    expect(hooks.requests).toHaveLength(2);

    // The failed delivery is recoverable: replay-since puts it back (and it fails again, refused).
    const recovered = await api('POST', '/v1/deliveries/replay', {
      since: new Date(Date.now() - 60_000).toISOString(),
      endpointId: internal.body.id,
    });
    expect(recovered.body).toEqual({ replayed: 1 });
  });
});
