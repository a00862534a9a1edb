import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alerts/alert.ts';
import { type RoutableSubscription, routeAlerts } from '../../src/alerts/alert-routing.ts';

const alert = (id: string, overrides: Partial<Alert> = {}): Alert => ({
  id,
  ruleId: 'burst',
  ruleName: 'Burst',
  severity: 'high',
  tags: ['trade'],
  group: 'Acme',
  eventIds: [`e-${id}`],
  eventTime: '2026-03-01T00:00:00.000Z',
  matches: [],
  event: { id: `e-${id}`, title: 't', publishedAt: '2026-03-01T00:00:00Z' },
  suppressed: false,
  ...overrides,
});

const subscription = (id: string, overrides: Partial<RoutableSubscription> = {}): RoutableSubscription => ({
  id,
  ruleIds: null,
  tags: null,
  minSeverity: 'low',
  channel: 'webhook',
  endpointId: 'ep',
  mode: 'immediate',
  ...overrides,
});

const now = Date.parse('2026-03-01T12:00:00.000Z');
const hour = 3_600_000;

describe('routeAlerts (silences, acknowledgement holds, subscriptions)', () => {
  it('keeps the first of an alert id in a batch: a later repeat gets no status, job nor digest entry of its own', () => {
    // An event redelivered after its group's ledger let it go fires the same alert id again,
    // later in time and so suppressed by the throttle; the original decided.
    const routed = routeAlerts([alert('a'), alert('b'), alert('a', { suppressed: true })], {
      silences: [],
      subscriptions: [subscription('hook')],
      holds: [],
      now,
      quietMs: hour,
    });
    expect(routed.alerts.map((a) => [a.id, a.status])).toEqual([
      ['a', 'active'],
      ['b', 'active'],
    ]);
    expect(routed.jobs.map((job) => job.alertId)).toEqual(['a', 'b']);
  });

  it('gives an active alert a job per immediate subscription that wants it and a digest entry per digest one', () => {
    const routed = routeAlerts([alert('a')], {
      silences: [],
      subscriptions: [
        subscription('hook'),
        subscription('mail', { channel: 'email', endpointId: null, mode: 'hourly' }),
        subscription('critical-only', { minSeverity: 'critical' }),
        subscription('other-rule', { ruleIds: ['other'] }),
      ],
      holds: [],
      now,
      quietMs: hour,
    });
    expect(routed.alerts.map((a) => [a.id, a.status, a.receivedAt])).toEqual([
      ['a', 'active', '2026-03-01T12:00:00.000Z'],
    ]);
    expect(routed.jobs).toEqual([
      { alertId: 'a', subscriptionId: 'hook', channel: 'webhook', endpointId: 'ep' },
    ]);
    expect(routed.digestEntries).toEqual([
      { subscriptionId: 'mail', alertId: 'a', receivedAt: '2026-03-01T12:00:00.000Z' },
    ]);
    expect(routed.acks).toEqual([]);
  });

  it('gives a throttled or silenced alert no job and no digest entry', () => {
    const routed = routeAlerts([alert('t', { suppressed: true }), alert('s', { tags: ['quiet'] })], {
      silences: [{ id: 'sil', matchers: { tags: ['quiet'] } }],
      subscriptions: [subscription('hook'), subscription('mail', { mode: 'daily' })],
      holds: [],
      now,
      quietMs: hour,
    });
    expect(routed.alerts.map((a) => a.status)).toEqual(['suppressed', 'silenced']);
    expect(routed.jobs).toEqual([]);
    expect(routed.digestEntries).toEqual([]);
  });

  it('holds an acknowledged group while alerts keep coming, and re-arms a quiet one, within one batch', () => {
    const routed = routeAlerts([alert('held'), alert('held-again'), alert('other', { group: 'Other' })], {
      silences: [],
      subscriptions: [subscription('hook')],
      holds: [
        { ruleId: 'burst', group: 'Acme', lastAlertAt: now - hour / 2 },
        { ruleId: 'burst', group: 'Other', lastAlertAt: now - 2 * hour },
      ],
      now,
      quietMs: hour,
    });
    expect(routed.alerts.map((a) => [a.id, a.status])).toEqual([
      ['held', 'suppressed'],
      ['held-again', 'suppressed'],
      ['other', 'active'],
    ]);
    expect(routed.acks).toEqual([
      { ruleId: 'burst', group: 'Acme', lastAlertAt: '2026-03-01T12:00:00.000Z' },
      { ruleId: 'burst', group: 'Acme', lastAlertAt: '2026-03-01T12:00:00.000Z' },
      { ruleId: 'burst', group: 'Other', lastAlertAt: null },
    ]);
    expect(routed.jobs.map((job) => job.alertId)).toEqual(['other']);
  });
});
