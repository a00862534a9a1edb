import { describe, expect, it } from 'vitest';
import { classifyExchange, parseRetryAfter } from '../../../src/delivery/webhook/webhook-outcome.ts';
import type { WebhookExchange } from '../../../src/delivery/webhook/webhook-sender.ts';

const now = Date.parse('2026-03-01T12:00:00Z');
const response = (statusCode: number, retryAfter?: string): WebhookExchange => ({
  kind: 'response',
  statusCode,
  retryAfter,
  snippet: 'answer',
  durationMs: 5,
});
const networkError = (refused: boolean): WebhookExchange => ({
  kind: 'error',
  error: refused ? 'refused by the SSRF rules: 10.0.0.1 is private' : 'connect ECONNREFUSED 127.0.0.1:9',
  refused,
  timedOut: false,
  durationMs: 1,
});

describe('what a webhook answer means', () => {
  it.each([
    // [exchange, attempt, kind, isGone]
    [response(200), 1, 'ok', false],
    [response(204), 5, 'ok', false],
    [response(410), 1, 'fail', true],
    [response(500), 1, 'retry', false],
    [response(503), 8, 'retry', false],
    [response(408), 1, 'retry', false],
    [response(429), 1, 'retry', false],
    [response(400), 1, 'retry', false],
    [response(404), 2, 'retry', false],
    [response(404), 3, 'fail', false],
    [response(301), 1, 'retry', false],
    [response(302), 3, 'fail', false],
    [networkError(false), 1, 'retry', false],
    [networkError(true), 1, 'fail', false],
  ] as const)('%o on attempt %i: %s', (exchange, attempt, kind, isGone) => {
    const outcome = classifyExchange(exchange, attempt, { now });
    expect(outcome.result.kind).toBe(kind);
    expect(outcome.isGone).toBe(isGone);
  });

  it('keeps the status, the snippet and the duration for the delivery log', () => {
    expect(classifyExchange(response(503, '7'), 1, { now }).result).toEqual({
      kind: 'retry',
      error: 'HTTP 503',
      statusCode: 503,
      durationMs: 5,
      responseSnippet: 'answer',
      retryAfterMs: 7_000,
    });
    expect(classifyExchange(response(302), 3, { now }).result).toMatchObject({
      kind: 'fail',
      error: 'HTTP 302 (redirects are not followed)',
    });
  });

  it.each([
    ['2', 2_000],
    [' 120 ', 120_000],
    ['0', undefined],
    ['-1', undefined],
    ['soon', undefined],
    ['Sun, 01 Mar 2026 12:00:30 GMT', 30_000],
    ['Sun, 01 Mar 2026 11:00:00 GMT', undefined],
    [undefined, undefined],
  ])('Retry-After %o → %o ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
