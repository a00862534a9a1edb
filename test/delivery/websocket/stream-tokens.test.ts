import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createStreamTokens } from '../../../src/delivery/websocket/stream-tokens.ts';

const principal = { tenantId: 'default', name: 'dashboard', keyId: 'key-1', role: 'reader' as const };

describe('stream tokens', () => {
  it('verify what they issue until the expiry, and nothing after', () => {
    let now = 1_000_000;
    const tokens = createStreamTokens({ secret: 'secret-0123456789abcdef', ttlMs: 60_000, now: () => now });
    const { token, expiresAt } = tokens.issue(principal);
    expect(expiresAt).toBe(1_060_000);
    expect(tokens.verify(token)).toEqual({ principal, expiresAt });
    now = 1_059_999;
    expect(tokens.verify(token)?.principal).toEqual(principal);
    now = 1_060_000;
    expect(tokens.verify(token)).toBeUndefined();
  });

  it('carry a null key id (the static key) and the tenant', () => {
    const tokens = createStreamTokens({ secret: 'secret-0123456789abcdef', ttlMs: 60_000 });
    const other = { tenantId: 'acme', name: 'TOCSIN_API_KEY', keyId: null, role: 'admin' as const };
    expect(tokens.verify(tokens.issue(other).token)?.principal).toEqual(other);
  });

  it('carry the role; a token from before roles reads as reader, an unknown role is refused', () => {
    const tokens = createStreamTokens({ secret: 'secret-0123456789abcdef', ttlMs: 60_000 });
    for (const role of ['admin', 'editor', 'ingest', 'reader'] as const) {
      expect(tokens.verify(tokens.issue({ ...principal, role }).token)?.principal.role).toBe(role);
    }
    // Tokens are signed, so these are made the way the issuer would have made them.
    const signed = (claims: object) => {
      const minted = createStreamTokens({ secret: 'secret-0123456789abcdef', ttlMs: 60_000 });
      const { token } = minted.issue(principal);
      const [version, payload] = token.split('.') as [string, string];
      const original = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const body = `${version}.${Buffer.from(JSON.stringify({ ...original, ...claims })).toString('base64url')}`;
      const key = createHmac('sha256', 'secret-0123456789abcdef').update('tocsin stream tokens v1').digest();
      return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
    };
    expect(tokens.verify(signed({ r: undefined }))?.principal.role).toBe('reader');
    expect(tokens.verify(signed({ r: 'root' }))).toBeUndefined();
  });

  it('refuse another secret, a changed payload or signature, and garbage', () => {
    const tokens = createStreamTokens({ secret: 'secret-0123456789abcdef', ttlMs: 60_000 });
    const elsewhere = createStreamTokens({ secret: 'another-secret-0123456789', ttlMs: 60_000 });
    const { token } = tokens.issue(principal);
    const [version, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const rewrite = (change: object) =>
      `${version}.${Buffer.from(JSON.stringify({ ...claims, ...change })).toString('base64url')}.${signature}`;

    expect(elsewhere.verify(token)).toBeUndefined();
    expect(tokens.verify(rewrite({ t: 'acme' }))).toBeUndefined();
    expect(tokens.verify(rewrite({ e: claims.e + 3_600_000 }))).toBeUndefined();
    expect(tokens.verify(`${version}.${payload}.${signature.slice(0, -2)}AA`)).toBeUndefined();
    expect(tokens.verify(`st2.${payload}.${signature}`)).toBeUndefined();
    for (const garbage of [undefined, '', 'st1', 'st1..', 'a.b.c', 'x'.repeat(5_000)]) {
      expect(tokens.verify(garbage)).toBeUndefined();
    }
  });
});
