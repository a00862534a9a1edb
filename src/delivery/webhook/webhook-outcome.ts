import type { SendResult } from '../outbox/channel.ts';
import type { WebhookExchange } from './webhook-sender.ts';

/**
 * What one webhook attempt means for its delivery (the dispatcher applies the retry schedule):
 *
 * | answer                                   | outcome                                             |
 * |------------------------------------------|-----------------------------------------------------|
 * | 2xx                                      | delivered                                           |
 * | 410 Gone                                 | failed, and the endpoint is disabled                |
 * | 408, 429, 5xx, network error, timeout    | retried (not before `Retry-After` when given)       |
 * | 3xx (redirects are not followed), other 4xx | retried until attempt `clientErrorAttempts`, then failed |
 * | refused by the SSRF rules                | failed at once: nothing was sent                    |
 */

export type WebhookOutcome = { result: SendResult; isGone: boolean };

/** Attempts before a 3xx or a 4xx other than 408/410/429 fails the delivery (default). */
export const CLIENT_ERROR_ATTEMPTS = 3;

export function classifyExchange(
  exchange: WebhookExchange,
  attempt: number,
  options: { clientErrorAttempts?: number; now?: number } = {},
): WebhookOutcome {
  const clientErrorAttempts = options.clientErrorAttempts ?? CLIENT_ERROR_ATTEMPTS;
  const durationMs = exchange.durationMs;
  if (exchange.kind === 'error') {
    const result: SendResult = exchange.refused
      ? { kind: 'fail', error: exchange.error, durationMs }
      : { kind: 'retry', error: exchange.error, durationMs };
    return { result, isGone: false };
  }

  const { statusCode, snippet } = exchange;
  const common = { statusCode, durationMs, responseSnippet: snippet };
  if (statusCode >= 200 && statusCode < 300) return { result: { kind: 'ok', ...common }, isGone: false };
  if (statusCode === 410) {
    return {
      result: { kind: 'fail', error: 'HTTP 410 Gone: the endpoint asked to stop deliveries', ...common },
      isGone: true,
    };
  }
  const error = `HTTP ${statusCode}`;
  if (statusCode === 408 || statusCode === 429 || statusCode >= 500) {
    const retryAfterMs = parseRetryAfter(exchange.retryAfter, options.now ?? Date.now());
    return {
      result: { kind: 'retry', error, ...common, ...(retryAfterMs !== undefined && { retryAfterMs }) },
      isGone: false,
    };
  }
  const why = statusCode >= 300 && statusCode < 400 ? `${error} (redirects are not followed)` : error;
  return {
    result:
      attempt >= clientErrorAttempts
        ? { kind: 'fail', error: why, ...common }
        : { kind: 'retry', error: why, ...common },
    isGone: false,
  };
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns milliseconds from
 * `now`, or undefined when absent, malformed or already past.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return seconds > 0 ? seconds * 1_000 : undefined;
  }
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined;
  return at > now ? at - now : undefined;
}
