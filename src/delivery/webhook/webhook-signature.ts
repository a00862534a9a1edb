import { createHmac } from 'node:crypto';
import type { WebhookEndpoint } from '../../store/store.ts';

/**
 * Standard Webhooks signatures (standard-webhooks/standard-webhooks, spec/standard-webhooks.md):
 *
 *   signed content   = `${webhook-id}.${webhook-timestamp}.${body}`   (body: the exact bytes sent)
 *   key              = base64-decode(secret without the `whsec_` prefix)
 *   webhook-signature = "v1," + base64(HMAC-SHA256(key, signed content))
 *
 * Several signatures are separated by spaces; a verifier accepts the request when any of them
 * matches. That is how a secret rotation works without dropping a delivery: while the old
 * secret is still valid, every request carries a signature with each secret.
 */

const secretPrefix = 'whsec_';

/** The HMAC key of a `whsec_` secret (a bare base64 key is accepted too, as the libraries do). */
export function webhookKey(secret: string): Buffer {
  const key = Buffer.from(
    secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : secret,
    'base64',
  );
  if (key.length === 0) throw new Error('a webhook secret must hold a non-empty base64 key');
  return key;
}

/** One `v1,<base64>` signature of a message. `timestamp` is in unix seconds. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const digest = createHmac('sha256', webhookKey(secret))
    .update(`${id}.${timestamp}.${body}`)
    .digest('base64');
  return `v1,${digest}`;
}

/**
 * The secrets a delivery is signed with at `now`: the current one, and the previous one while
 * its rotation window is open (`previousSecretExpiresAt` in the future).
 */
export function signingSecrets(
  endpoint: Pick<WebhookEndpoint, 'secret' | 'previousSecret' | 'previousSecretExpiresAt'>,
  now: Date,
): string[] {
  const { secret, previousSecret, previousSecretExpiresAt } = endpoint;
  const isRotating =
    previousSecret !== null &&
    previousSecretExpiresAt !== null &&
    Date.parse(previousSecretExpiresAt) > now.getTime();
  return isRotating ? [secret, previousSecret] : [secret];
}

/** The three Standard Webhooks headers of one attempt. */
export function webhookHeaders(
  secrets: string[],
  id: string,
  timestamp: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((secret) => signWebhook(secret, id, timestamp, body)).join(' '),
  };
}
