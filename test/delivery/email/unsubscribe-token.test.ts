import { describe, expect, it } from 'vitest';
import { createUnsubscribeTokens } from '../../../src/delivery/email/unsubscribe-token.ts';

describe('unsubscribe tokens', () => {
  const tokens = createUnsubscribeTokens('token-test-secret-0123456789');

  it('round-trips a subscription id and is URL-safe', () => {
    const token = tokens.sign('subn_AbC123-_x');
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{32}$/);
    expect(tokens.verify(token)).toBe('subn_AbC123-_x');
  });

  it('refuses a token signed with another secret', () => {
    const other = createUnsubscribeTokens('another-secret-0123456789abc');
    expect(tokens.verify(other.sign('subn_1'))).toBeUndefined();
  });

  it('refuses a token whose id was swapped for another', () => {
    const [, mac] = tokens.sign('subn_1').split('.');
    const forged = `${Buffer.from('subn_2').toString('base64url')}.${mac}`;
    expect(tokens.verify(forged)).toBeUndefined();
  });

  it.each([
    '',
    'abc',
    'abc.def',
    '.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    `c3Vibl8x.${'A'.repeat(32)}`,
    `c3Vibl8x.${'A'.repeat(31)}`,
    'c3Vibl8x=.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    '../../etc/passwd',
  ])('refuses malformed or forged token %j', (token) => {
    expect(tokens.verify(token)).toBeUndefined();
  });

  it('refuses a second spelling of the same id (non-canonical base64url)', () => {
    const token = tokens.sign('a');
    const [id, mac] = token.split('.');
    // "YQ" and "YR" decode to the same byte "a": only the canonical one verifies.
    expect(id).toBe('YQ');
    expect(tokens.verify(`YR.${mac}`)).toBeUndefined();
  });
});
