import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { describe, expect, it } from 'vitest';
import {
  signingSecrets,
  signWebhook,
  webhookHeaders,
} from '../../../src/delivery/webhook/webhook-signature.ts';
import { generateWebhookSecret } from '../../../src/store/groups/endpoint-group.ts';

// The known-answer vector of the Standard Webhooks spec and its reference libraries.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const verifyBoth = (secret: string, body: string, headers: Record<string, string>) => {
  new StandardWebhook(secret).verify(body, headers);
  new SvixWebhook(secret).verify(body, headers);
};

describe('Standard Webhooks signatures', () => {
  it('signs the known-answer vector', () => {
    expect(signWebhook(vector.secret, vector.id, vector.timestamp, vector.body)).toBe(vector.signature);
    expect(
      new StandardWebhook(vector.secret).sign(vector.id, new Date(vector.timestamp * 1000), vector.body),
    ).toBe(vector.signature);
  });

  it('makes headers that standardwebhooks and svix verify, and a tampered body fails', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({
      type: 'alert.fired',
      timestamp: new Date().toISOString(),
      data: { id: 'a' },
    });
    const headers = webhookHeaders([secret], 'dlv_1', Math.floor(Date.now() / 1000), body);
    expect(headers['webhook-id']).toBe('dlv_1');
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    verifyBoth(secret, body, headers);

    const tampered = body.replace('"a"', '"b"');
    expect(() => new StandardWebhook(secret).verify(tampered, headers)).toThrow(/No matching signature/);
    expect(() => new SvixWebhook(secret).verify(tampered, headers)).toThrow(/No matching signature/);
    expect(() => verifyBoth(generateWebhookSecret(), body, headers)).toThrow(/No matching signature/);
    expect(() => verifyBoth(secret, body, { ...headers, 'webhook-id': 'dlv_2' })).toThrow(
      /No matching signature/,
    );
  });

  it('signs with both secrets during a rotation; each one verifies', () => {
    const now = new Date('2026-03-01T00:00:00Z');
    const rotating = {
      secret: generateWebhookSecret(),
      previousSecret: generateWebhookSecret(),
      previousSecretExpiresAt: '2026-03-02T00:00:00.000Z',
    };
    const secrets = signingSecrets(rotating, now);
    expect(secrets).toEqual([rotating.secret, rotating.previousSecret]);
    expect(signingSecrets(rotating, new Date('2026-03-02T00:00:00Z'))).toEqual([rotating.secret]);
    expect(signingSecrets({ ...rotating, previousSecret: null, previousSecretExpiresAt: null }, now)).toEqual(
      [rotating.secret],
    );

    const body = '{"type":"ping"}';
    const headers = webhookHeaders(secrets, 'dlv_9', Math.floor(Date.now() / 1000), body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    verifyBoth(rotating.secret, body, headers);
    verifyBoth(rotating.previousSecret, body, headers);
  });
});
