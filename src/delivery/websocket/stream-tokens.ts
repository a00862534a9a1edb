import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../../http/auth.ts';
import { isRole } from '../../http/roles.ts';

/**
 * Short-lived stream tokens, for browsers, which cannot set headers on a WebSocket upgrade:
 * `POST /v1/stream/tokens` (with an API key) returns one; `GET /v1/stream?token=` accepts it.
 *
 * Format: `st1.<payload>.<signature>`, both base64url; the payload is JSON
 * `{"t": tenantId, "n": key name, "k": key id | null, "r": role, "e": expiry (epoch ms)}` and the signature
 * HMAC-SHA256 over `st1.<payload>` with a key derived from the server secret (TOCSIN_SECRET),
 * so every instance sharing the secret accepts the tokens of the others. The derivation keeps
 * these signatures apart from the API-key hashes made with the same secret.
 *
 * A token is a bearer credential until it expires: revoking its API key does not end it early,
 * which is why it is short-lived (TOCSIN_STREAM_TOKEN_TTL).
 */

const version = 'st1';

export type VerifiedToken = { principal: Principal; expiresAt: number };

export function createStreamTokens(deps: { secret: string; ttlMs: number; now?: () => number }) {
  const now = deps.now ?? Date.now;
  const key = createHmac('sha256', deps.secret).update('tocsin stream tokens v1').digest();
  const sign = (body: string) => createHmac('sha256', key).update(body).digest();

  return {
    ttlMs: deps.ttlMs,

    issue(principal: Principal): { token: string; expiresAt: number } {
      const expiresAt = now() + deps.ttlMs;
      const payload = Buffer.from(
        JSON.stringify({
          t: principal.tenantId,
          n: principal.name,
          k: principal.keyId,
          r: principal.role,
          e: expiresAt,
        }),
      ).toString('base64url');
      const body = `${version}.${payload}`;
      return { token: `${body}.${sign(body).toString('base64url')}`, expiresAt };
    },

    /** The principal of a valid, unexpired token; undefined for anything else (no reason is told). */
    verify(token: string | undefined): VerifiedToken | undefined {
      if (token === undefined || token.length > 2048) return undefined;
      const parts = token.split('.');
      if (parts.length !== 3 || parts[0] !== version) return undefined;
      const signature = Buffer.from(parts[2]!, 'base64url');
      const expected = sign(`${parts[0]}.${parts[1]}`);
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return undefined;
      let claims: { t?: unknown; n?: unknown; k?: unknown; r?: unknown; e?: unknown };
      try {
        claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
      } catch {
        return undefined;
      }
      const { t, n, k, r, e } = claims;
      if (typeof t !== 'string' || typeof n !== 'string' || typeof e !== 'number') return undefined;
      if (k !== null && typeof k !== 'string') return undefined;
      if (e <= now()) return undefined;
      // A token from before roles (no `r`) reads as reader: streaming is all a token is for.
      const role = r === undefined ? 'reader' : isRole(r) ? r : undefined;
      if (role === undefined) return undefined;
      return { principal: { tenantId: t, name: n, keyId: k, role }, expiresAt: e };
    },
  };
}

export type StreamTokens = ReturnType<typeof createStreamTokens>;
