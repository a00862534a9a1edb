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
 * A token carries its API key's id: once the key is revoked, the stream route refuses the token
 * and the hub closes the streams opened with it (4003). It is short-lived all the same
 * (TOCSIN_STREAM_TOKEN_TTL): a bearer credential in a URL should not outlive its use.
 */

const version = 'st1';

export type VerifiedToken = { principal: Principal; expiresAt: number };

export function createStreamTokens(deps: { secret: string; ttlMs: number; now?: () => number }) {
  const now = deps.now ?? Date.now;
  const key = createHmac('sha256', deps.secret).update('tocsin stream tokens v1').digest();
  const sign = (body: string) => createHmac('sha256', key).update(body).digest();

  /**
   * The principal of a valid, unexpired token, or why it is refused: a client told "an API
   * key is required" for a token it did send cannot tell a cut-off copy from an expired one.
   * Nothing secret is in the reasons: the signature check is the same for every input.
   */
  function inspect(token: string): VerifiedToken | { problem: string } {
    const malformed = { problem: 'not a stream token (st1.…): copy the whole token' };
    if (token.length > 2048) return malformed;
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== version) return malformed;
    const signature = Buffer.from(parts[2]!, 'base64url');
    const expected = sign(`${parts[0]}.${parts[1]}`);
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      return {
        problem:
          'the stream token was altered or was not issued by this service (its signature does not match)',
      };
    }
    let claims: { t?: unknown; n?: unknown; k?: unknown; r?: unknown; e?: unknown };
    try {
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    } catch {
      return malformed;
    }
    const { t, n, k, r, e } = claims;
    if (typeof t !== 'string' || typeof n !== 'string' || typeof e !== 'number') return malformed;
    if (k !== null && typeof k !== 'string') return malformed;
    if (e <= now()) return { problem: 'the stream token expired: get a new one from POST /v1/stream/tokens' };
    // A token from before roles (no `r`) reads as reader: streaming is all a token is for.
    const role = r === undefined ? 'reader' : isRole(r) ? r : undefined;
    if (role === undefined) return malformed;
    return { principal: { tenantId: t, name: n, keyId: k, role }, expiresAt: e };
  }

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

    inspect,

    /** The principal of a valid, unexpired token; undefined for anything else. */
    verify(token: string | undefined): VerifiedToken | undefined {
      if (token === undefined) return undefined;
      const result = inspect(token);
      return 'problem' in result ? undefined : result;
    },
  };
}

export type StreamTokens = ReturnType<typeof createStreamTokens>;
