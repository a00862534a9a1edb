import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';

describe('webhook settings', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({}).webhooks).toEqual({
      timeoutMs: 10_000,
      allowlist: [],
      concurrencyPerEndpoint: 4,
      ratePerSecond: undefined,
      disableAfterMs: 5 * 86_400_000,
    });
    expect(loadConfig({}).deliveryConcurrency).toBe(64);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      TOCSIN_WEBHOOK_TIMEOUT_MS: '2500',
      TOCSIN_WEBHOOK_ALLOWLIST: '127.0.0.1, 10.1.0.0/16,[::1],fd00::/8,hooks.internal,*.corp.example',
      TOCSIN_WEBHOOK_CONCURRENCY: '2',
      TOCSIN_WEBHOOK_RATE_LIMIT: '0.5',
      TOCSIN_WEBHOOK_DISABLE_AFTER: '36h',
      TOCSIN_DELIVERY_CONCURRENCY: '16',
    });
    expect(config.webhooks).toEqual({
      timeoutMs: 2_500,
      allowlist: ['127.0.0.1', '10.1.0.0/16', '[::1]', 'fd00::/8', 'hooks.internal', '*.corp.example'],
      concurrencyPerEndpoint: 2,
      ratePerSecond: 0.5,
      disableAfterMs: 36 * 3_600_000,
    });
    expect(config.deliveryConcurrency).toBe(16);
  });

  it('refuses bad values, one line per variable', () => {
    expect(() =>
      loadConfig({
        TOCSIN_WEBHOOK_TIMEOUT_MS: '0',
        TOCSIN_WEBHOOK_ALLOWLIST: 'http://hooks.internal,10.0.0.0/33',
        TOCSIN_WEBHOOK_RATE_LIMIT: 'fast',
        TOCSIN_WEBHOOK_DISABLE_AFTER: '5 days',
      }),
    ).toThrow(
      new RegExp(
        [
          'TOCSIN_WEBHOOK_TIMEOUT_MS: expected a positive integer',
          'TOCSIN_WEBHOOK_ALLOWLIST: .*\\(bad: http://hooks.internal, 10.0.0.0/33\\)',
          'TOCSIN_WEBHOOK_RATE_LIMIT: expected a positive number',
          'TOCSIN_WEBHOOK_DISABLE_AFTER: expected a duration',
        ].join('.*\\n'),
      ),
    );
  });
});
