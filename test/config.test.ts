import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

/** Every duration setting has an upper bound; past it the start stops with one line naming the variable. */
describe('configuration: duration bounds', () => {
  const problemOf = (env: Record<string, string>) => {
    try {
      loadConfig(env, '/srv/tocsin');
    } catch (error) {
      return (error as Error).message;
    }
    return undefined;
  };

  it.each([
    ['TOCSIN_ACK_QUIET', '366d', /at most 365d/],
    ['TOCSIN_ACK_QUIET', '99999999d', /at most 365d/],
    ['TOCSIN_WEBHOOK_DISABLE_AFTER', '99999999d', /at most 365d/],
    ['TOCSIN_STREAM_TOKEN_TTL', '25h', /at most 24h/],
    ['TOCSIN_RETRY_SCHEDULE', '0s,5s,8d', /at most 7d/],
    ['TOCSIN_HEARTBEAT_MS', '99999999999', /at most 3600000/],
    ['TOCSIN_SHUTDOWN_TIMEOUT_MS', '3600001', /at most 3600000/],
    ['TOCSIN_WEBHOOK_TIMEOUT_MS', '600001', /at most 600000/],
    ['TOCSIN_DRAIN_DELAY_MS', '600001', /at most 600000/],
    ['TOCSIN_STREAM_POLL', '2h', /at most 1h/],
    ['TOCSIN_RATE_LIMIT_WINDOW', '25h', /at most 24h/],
    ['TOCSIN_RETENTION_AUDIT_DAYS', '3651', /at most 3650/],
    ['TOCSIN_RETENTION_ALERTS_DAYS', '3651', /at most 3650/],
    ['TOCSIN_RETENTION_LEDGER_DAYS', '99999999', /at most 3650/],
    ['TOCSIN_RETENTION_DELIVERY_LOG_DAYS', '3651', /at most 3650/],
  ])('%s=%s is refused', (variable, value, message) => {
    const problem = problemOf({ [variable]: value });
    expect(problem).toMatch(new RegExp(`^${variable}: `));
    expect(problem).toMatch(message);
    expect(problem?.split('\n')).toHaveLength(1);
  });

  it('takes the bounds themselves', () => {
    const config = loadConfig(
      {
        TOCSIN_ACK_QUIET: '365d',
        TOCSIN_WEBHOOK_DISABLE_AFTER: '365d',
        TOCSIN_STREAM_TOKEN_TTL: '24h',
        TOCSIN_RETRY_SCHEDULE: '0s,7d',
        TOCSIN_HEARTBEAT_MS: '3600000',
        TOCSIN_RETENTION_ALERTS_DAYS: '3650',
      },
      '/srv/tocsin',
    );
    expect(config.ackQuietMs).toBe(365 * 86_400_000);
    expect(config.stream.tokenTtlMs).toBe(86_400_000);
    expect(config.heartbeatMs).toBe(3_600_000);
    expect(config.retention.alertsDays).toBe(3650);
  });
});
