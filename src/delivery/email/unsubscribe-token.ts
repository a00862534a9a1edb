import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Unsubscribe tokens: `<base64url(subscription id)>.<base64url(HMAC-SHA256(key, id))[0..32]>`,
 * where `key` is derived from the server secret (TOCSIN_SECRET) for this one purpose, so a
 * token can never be confused with another signed value of the service.
 *
 * - Opaque to recipients and unforgeable without the secret: 192 bits of MAC.
 * - Stateless: every instance sharing TOCSIN_SECRET verifies every other's links, and nothing
 *   is stored per email. A token never expires: an unsubscribe link must work for as long as
 *   the email sits in a mailbox. Rotating the secret invalidates old links.
 * - One token names one subscription; the confirmation page offers "all email" from it.
 */

const macLength = 32;

export type UnsubscribeTokens = {
  sign(subscriptionId: string): string;
  /** The subscription id of a genuine token; undefined for anything else. */
  verify(token: string): string | undefined;
};

export function createUnsubscribeTokens(secret: string): UnsubscribeTokens {
  const key = createHmac('sha256', secret).update('tocsin:unsubscribe:v1').digest();
  const mac = (id: string) => createHmac('sha256', key).update(id).digest('base64url').slice(0, macLength);

  return {
    sign(subscriptionId) {
      return `${Buffer.from(subscriptionId, 'utf8').toString('base64url')}.${mac(subscriptionId)}`;
    },

    verify(token) {
      const match = /^([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{32})$/.exec(token);
      if (!match) return undefined;
      const id = Buffer.from(match[1]!, 'base64url').toString('utf8');
      // Only the canonical encoding verifies: no second spelling of one token.
      if (id === '' || Buffer.from(id, 'utf8').toString('base64url') !== match[1]) return undefined;
      const expected = Buffer.from(mac(id));
      const given = Buffer.from(match[2]!);
      return timingSafeEqual(expected, given) ? id : undefined;
    },
  };
}
