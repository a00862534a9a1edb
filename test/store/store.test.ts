import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import type { RuleDefinition } from '../../src/rules/rule-schema.ts';
import { appendAlerts } from '../../src/store/alert-log.ts';
import { decodeCursor } from '../../src/store/cursor.ts';
import { deliveryJobId } from '../../src/store/delivery-ids.ts';
import { createPostgresPool, createPostgresStore } from '../../src/store/postgres-store.ts';
import type { Database } from '../../src/store/schema.ts';
import type { Store } from '../../src/store/store.ts';
import { testServerSecret } from '../support/test-secret.ts';
import {
  assertPostgresReachable,
  type Backend,
  type Harness,
  makeAlert,
  postgresHarness,
  settledWithin,
  sqliteHarness,
  testDatabaseUrl,
} from './store-harness.ts';

const day = 86_400_000;

const rule = (id: string, overrides: Partial<RuleDefinition> = {}): RuleDefinition => ({
  id,
  name: `Rule ${id}`,
  severity: 'medium',
  enabled: true,
  tags: ['t'],
  query: 'title:"rare earth"',
  ...overrides,
});

/** A subscriber with a webhook endpoint and an immediate webhook subscription. */
async function webhookSubscription(store: Store) {
  const subscriber = await store.subscribers.create({ name: 'Desk', timeZone: 'Europe/Berlin' });
  const endpoint = await store.endpoints.create({ url: 'https://desk.example/hook' });
  const subscription = await store.subscriptions.create({
    subscriberId: subscriber.id,
    channel: 'webhook',
    endpointId: endpoint.id,
  });
  return { subscriber, endpoint, subscription };
}

/** Commits `count` alerts, each with one job for `subscriptionId`; returns the job ids. */
async function commitJobs(store: Store, subscriptionId: string, count: number, endpointId?: string) {
  const alerts = Array.from({ length: count }, () => makeAlert());
  await store.pipeline.commit({
    alerts,
    ledger: [],
    groupStates: [],
    jobs: alerts.map((alert) => ({
      alertId: alert.id,
      subscriptionId,
      channel: 'webhook' as const,
      endpointId: endpointId ?? null,
    })),
  });
  return alerts.map((alert) => deliveryJobId(alert.id, subscriptionId));
}

describe.each([sqliteHarness, postgresHarness])('$name store', (harness: Harness) => {
  let backend: Backend;
  let store: Store;

  beforeAll(async () => {
    if (harness.name === 'postgres') await assertPostgresReachable();
  });
  beforeEach(async () => {
    backend = await harness.create();
    store = backend.store;
  });
  afterEach(async () => {
    await backend?.dispose();
  });

  describe('lifecycle', () => {
    it('reports its dialect and answers ping', async () => {
      expect(store.dialect).toBe(harness.name);
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('runs migrations idempotently, again on restart, keeping the data', async () => {
      await store.migrate();
      await store.rules.upsert(rule('kept'));
      await store.close();
      const restarted = backend.open();
      await restarted.migrate();
      await restarted.migrate();
      expect((await restarted.rules.get('kept'))?.id).toBe('kept');
      backend.store = restarted;
    });

    it('lets two stores migrate the same database at once', async () => {
      const other = backend.open();
      await Promise.all([store.migrate(), other.migrate()]);
      await other.rules.upsert(rule('seen-by-both'));
      expect(await store.rules.get('seen-by-both')).toBeDefined();
    });
  });

  describe('pipeline.commit', () => {
    it('stores alerts, ledger, group states and jobs in one go and restores them', async () => {
      const { subscription, endpoint } = await webhookSubscription(store);
      const a = makeAlert({ group: 'acme', status: 'active' });
      const b = makeAlert({ status: 'silenced' });
      const result = await store.pipeline.commit({
        alerts: [a, b],
        ledger: [
          { ruleId: 'rare-earth', eventId: 'e1', eventTime: 1_000 },
          { ruleId: 'rare-earth', eventId: 'e2', eventTime: 2_000 },
        ],
        groupStates: [{ ruleId: 'burst', group: '"acme"', state: { events: [{ id: 'e1', time: 1_000 }] } }],
        jobs: [
          { alertId: a.id, subscriptionId: subscription.id, channel: 'webhook', endpointId: endpoint.id },
        ],
      });

      expect(result.alerts.map((alert) => alert.id)).toEqual([a.id, b.id]);
      expect(result.jobsCreated).toBe(1);
      const [storedA] = result.alerts;
      expect(storedA).toMatchObject({
        ...a,
        tenantId: 'default',
        status: 'active',
        ackedBy: null,
        ackedAt: null,
      });
      expect(typeof storedA?.cursor).toBe('string');

      const state = await store.pipeline.loadState();
      expect(state.ledger).toEqual([
        { ruleId: 'rare-earth', eventId: 'e1', eventTime: 1_000 },
        { ruleId: 'rare-earth', eventId: 'e2', eventTime: 2_000 },
      ]);
      expect(state.groupStates).toEqual([
        { ruleId: 'burst', group: '"acme"', state: { events: [{ id: 'e1', time: 1_000 }] } },
      ]);

      const job = await store.deliveries.get(deliveryJobId(a.id, subscription.id));
      expect(job).toMatchObject({
        kind: 'alert',
        alertId: a.id,
        status: 'pending',
        attempts: 0,
        endpointId: endpoint.id,
        nextAttemptAt: backend.clock.now().toISOString(),
      });
    });

    it('is idempotent: replaying a batch inserts no alert and no job twice', async () => {
      const { subscription } = await webhookSubscription(store);
      const alerts = [makeAlert(), makeAlert()];
      const batch = {
        alerts,
        ledger: alerts.map((alert, i) => ({
          ruleId: alert.ruleId,
          eventId: alert.eventIds[0]!,
          eventTime: i,
        })),
        groupStates: [],
        jobs: alerts.map((alert) => ({
          alertId: alert.id,
          subscriptionId: subscription.id,
          channel: 'webhook' as const,
        })),
      };
      const first = await store.pipeline.commit(batch);
      const again = await store.pipeline.commit(batch);
      // A batch that repeats its own alert is fine too.
      const doubled = await store.pipeline.commit({ ...batch, alerts: [...alerts, ...alerts] });

      expect(first.alerts).toHaveLength(2);
      expect(first.jobsCreated).toBe(2);
      expect(again).toEqual({ alerts: [], jobsCreated: 0 });
      expect(doubled).toEqual({ alerts: [], jobsCreated: 0 });
      expect(await store.alerts.after(null, 100)).toHaveLength(2);
      expect((await store.deliveries.list()).items).toHaveLength(2);
      expect((await store.pipeline.loadState()).ledger).toHaveLength(2);
    });

    it('rolls back everything when a part fails', async () => {
      const alert = makeAlert();
      const failing = store.pipeline.commit({
        alerts: [alert],
        ledger: [{ ruleId: 'r', eventId: 'e', eventTime: 1 }],
        groupStates: [],
        // No such alert: the job's foreign key fails after the alert was inserted.
        jobs: [{ alertId: 'missing-alert', subscriptionId: 's', channel: 'email' }],
      });
      await expect(failing).rejects.toThrow();
      expect(await store.alerts.get(alert.id)).toBeUndefined();
      expect((await store.pipeline.loadState()).ledger).toEqual([]);
      // The log still works after a rolled back reservation (it only leaves a gap).
      const next = await store.pipeline.commit({
        alerts: [makeAlert()],
        ledger: [],
        groupStates: [],
        jobs: [],
      });
      expect(next.alerts).toHaveLength(1);
    });

    it('updates and deletes group states, and forgets rules', async () => {
      const commit = (batch: Partial<Parameters<Store['pipeline']['commit']>[0]>) =>
        store.pipeline.commit({ alerts: [], ledger: [], groupStates: [], jobs: [], ...batch });
      await commit({
        ledger: [
          { ruleId: 'a', eventId: 'e1', eventTime: 1 },
          { ruleId: 'b', eventId: 'e1', eventTime: 1 },
        ],
        groupStates: [
          { ruleId: 'a', group: '', state: { n: 1 } },
          { ruleId: 'a', group: '"x"', state: { n: 1 } },
          { ruleId: 'b', group: '', state: { n: 1 } },
        ],
      });
      await commit({
        groupStates: [
          { ruleId: 'a', group: '', state: { n: 2 } },
          { ruleId: 'a', group: '', state: { n: 3 } },
          { ruleId: 'a', group: '"x"', state: null },
        ],
      });
      let state = await store.pipeline.loadState();
      expect(state.groupStates).toEqual([
        { ruleId: 'a', group: '', state: { n: 3 } },
        { ruleId: 'b', group: '', state: { n: 1 } },
      ]);

      await commit({ forgottenRules: ['b'], ledger: [{ ruleId: 'b', eventId: 'e2', eventTime: 2 }] });
      state = await store.pipeline.loadState();
      expect(state.ledger.map((entry) => `${entry.ruleId}/${entry.eventId}`)).toEqual(['a/e1', 'b/e2']);
      expect(state.groupStates.map((group) => group.ruleId)).toEqual(['a']);
    });

    it('keeps tenants apart', async () => {
      await store.pipeline.commit({
        tenantId: 'acme',
        alerts: [makeAlert()],
        ledger: [{ ruleId: 'r', eventId: 'e', eventTime: 1 }],
        groupStates: [],
        jobs: [],
      });
      expect(await store.alerts.after(null, 10)).toEqual([]);
      expect((await store.pipeline.loadState()).ledger).toEqual([]);
      const [alert] = await store.alerts.after(null, 10, { tenantId: 'acme' });
      expect(alert?.tenantId).toBe('acme');
      expect((await store.pipeline.loadState({ tenantId: 'acme' })).ledger).toHaveLength(1);
    });
  });

  describe('alert log and queries', () => {
    it('reads the log after a cursor, in commit order, in pages', async () => {
      expect(await store.alerts.after(null, 10)).toEqual([]);
      const empty = await store.alerts.headCursor();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const alerts = [makeAlert(), makeAlert()];
        ids.push(...alerts.map((alert) => alert.id));
        await store.pipeline.commit({ alerts, ledger: [], groupStates: [], jobs: [] });
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      for (;;) {
        const page = await store.alerts.after(cursor, 3);
        if (page.length === 0) break;
        seen.push(...page.map((alert) => alert.id));
        cursor = page.at(-1)!.cursor;
      }
      expect(seen).toEqual(ids);
      expect(await store.alerts.headCursor()).toBe(cursor);
      expect((await store.alerts.after(empty, 100)).map((alert) => alert.id)).toEqual(ids);
      expect(await store.alerts.isCursorExpired(empty)).toBe(false);
    });

    it('rejects a malformed cursor with a coded error', async () => {
      const error = await store.alerts.after('not-a-cursor', 10).catch((e: unknown) => e);
      expect(isAppError(error, 'TOCSIN_NOT_FOUND')).toBe(true);
    });

    it('lists with filters and cursor pagination, newest first', async () => {
      const t = (minutes: number) =>
        new Date(Date.parse('2026-03-01T00:00:00Z') + minutes * 60_000).toISOString();
      const alerts = [
        makeAlert({ ruleId: 'a', severity: 'low', receivedAt: t(1) }),
        makeAlert({
          ruleId: 'a',
          severity: 'high',
          receivedAt: t(2),
          status: 'suppressed',
          suppressed: true,
        }),
        makeAlert({ ruleId: 'b', severity: 'critical', receivedAt: t(3) }),
        makeAlert({ ruleId: 'a', severity: 'high', receivedAt: t(4), status: 'silenced' }),
        makeAlert({ ruleId: 'a', severity: 'high', receivedAt: t(5) }),
      ];
      for (const alert of alerts) {
        await store.pipeline.commit({ alerts: [alert], ledger: [], groupStates: [], jobs: [] });
      }
      const ids = (items: { id: string }[]) => items.map((item) => item.id);
      const newestFirst = alerts.map((alert) => alert.id).reverse();

      const first = await store.alerts.list({ limit: 2 });
      expect(ids(first.items)).toEqual(newestFirst.slice(0, 2));
      const second = await store.alerts.list({ limit: 2, cursor: first.nextCursor! });
      expect(ids(second.items)).toEqual(newestFirst.slice(2, 4));
      const third = await store.alerts.list({ limit: 2, cursor: second.nextCursor! });
      expect(ids(third.items)).toEqual(newestFirst.slice(4));
      expect(third.nextCursor).toBeNull();

      expect(ids((await store.alerts.list({ ruleId: 'b' })).items)).toEqual([alerts[2]!.id]);
      expect(ids((await store.alerts.list({ severity: ['low', 'critical'] })).items)).toEqual([
        alerts[2]!.id,
        alerts[0]!.id,
      ]);
      expect(ids((await store.alerts.list({ status: 'suppressed' })).items)).toEqual([alerts[1]!.id]);
      expect((await store.alerts.list({ status: 'suppressed' })).items[0]?.suppressed).toBe(true);
      expect(ids((await store.alerts.list({ from: t(2), to: t(4) })).items)).toEqual([
        alerts[2]!.id,
        alerts[1]!.id,
      ]);
    });

    it('gets one alert with its deliveries', async () => {
      const { subscription } = await webhookSubscription(store);
      const [jobId] = await commitJobs(store, subscription.id, 1);
      const job = await store.deliveries.get(jobId!);
      const alert = await store.alerts.get(job!.alertId!);
      expect(alert?.deliveries.map((delivery) => delivery.id)).toEqual([jobId]);
      expect(alert?.matches).toEqual([{ field: 'title', text: 'rare earth', start: 0, end: 10 }]);
      expect(await store.alerts.get('nope')).toBeUndefined();
    });

    it('acknowledges an alert and keeps the hold per (rule, group) until re-armed', async () => {
      const older = makeAlert({ ruleId: 'r', group: 'acme', receivedAt: '2026-03-01T00:00:00.000Z' });
      const newer = makeAlert({ ruleId: 'r', group: 'acme', receivedAt: '2026-03-01T01:00:00.000Z' });
      const other = makeAlert({ ruleId: 'r', group: null });
      await store.pipeline.commit({ alerts: [older, newer, other], ledger: [], groupStates: [], jobs: [] });

      const acked = await store.alerts.ack(older.id, 'ops@desk', new Date('2026-03-01T02:00:00Z'));
      expect(acked?.alert).toMatchObject({
        id: older.id,
        ackedBy: 'ops@desk',
        ackedAt: '2026-03-01T02:00:00.000Z',
      });
      expect(acked?.ack).toEqual({
        tenantId: 'default',
        ruleId: 'r',
        group: 'acme',
        alertId: older.id,
        ackedBy: 'ops@desk',
        ackedAt: '2026-03-01T02:00:00.000Z',
        lastAlertAt: '2026-03-01T01:00:00.000Z',
      });
      expect(await store.alerts.ackState('r', null)).toBeUndefined();
      expect(await store.alerts.ack('nope', 'x', new Date())).toBeUndefined();

      const held = makeAlert({ ruleId: 'r', group: 'acme', status: 'suppressed' });
      await store.pipeline.commit({
        alerts: [held],
        ledger: [],
        groupStates: [],
        jobs: [],
        acks: [{ ruleId: 'r', group: 'acme', lastAlertAt: '2026-03-01T05:00:00.000Z' }],
      });
      expect((await store.alerts.ackState('r', 'acme'))?.lastAlertAt).toBe('2026-03-01T05:00:00.000Z');
      expect((await store.pipeline.loadState()).acks.map((ack) => ack.group)).toEqual(['acme']);

      await store.alerts.ack(other.id, 'ops', new Date('2026-03-01T02:00:00Z'));
      expect((await store.alerts.ackState('r', null))?.alertId).toBe(other.id);

      await store.pipeline.commit({
        alerts: [],
        ledger: [],
        groupStates: [],
        jobs: [],
        acks: [{ ruleId: 'r', group: 'acme', lastAlertAt: null }],
      });
      expect(await store.alerts.ackState('r', 'acme')).toBeUndefined();
    });
  });

  describe('rules', () => {
    it('upserts, lists, enables, disables and deletes', async () => {
      backend.clock.advance(1_000);
      const created = await store.rules.upsert(rule('b-rule'));
      await store.rules.upsert(rule('a-rule', { enabled: false }));
      expect(created).toMatchObject({ tenantId: 'default', id: 'b-rule', enabled: true });
      expect(created.createdAt).toBe(backend.clock.now().toISOString());

      backend.clock.advance(1_000);
      const replaced = await store.rules.upsert(rule('b-rule', { name: 'Renamed', severity: 'critical' }));
      expect(replaced.document.name).toBe('Renamed');
      expect(replaced.createdAt).toBe(created.createdAt);
      expect(replaced.updatedAt).not.toBe(created.updatedAt);

      expect((await store.rules.list()).map((r) => r.id)).toEqual(['a-rule', 'b-rule']);
      expect((await store.rules.list({ enabled: true })).map((r) => r.id)).toEqual(['b-rule']);

      const disabled = await store.rules.setEnabled('b-rule', false);
      expect(disabled?.enabled).toBe(false);
      expect(disabled?.document.enabled).toBe(false);
      expect(await store.rules.setEnabled('missing', true)).toBeUndefined();

      expect(await store.rules.delete('a-rule')).toBe(true);
      expect(await store.rules.delete('a-rule')).toBe(false);
      expect(await store.rules.get('a-rule')).toBeUndefined();
      expect(await store.rules.get('b-rule', { tenantId: 'other' })).toBeUndefined();
    });
  });

  describe('silences', () => {
    it('creates, lists by state, finds the active ones and expires', async () => {
      const now = new Date('2026-03-01T12:00:00Z');
      const active = await store.silences.create({
        matchers: { ruleIds: ['r'], tags: ['x'], severities: ['low'], groups: ['acme', null] },
        startsAt: '2026-03-01T00:00:00Z',
        endsAt: '2026-03-02T00:00:00Z',
        createdBy: 'ops',
        comment: 'maintenance',
      });
      const pending = await store.silences.create({
        matchers: { ruleIds: ['r'] },
        startsAt: '2026-03-05T00:00:00Z',
        endsAt: '2026-03-06T00:00:00Z',
        createdBy: 'ops',
      });
      await store.silences.create({
        matchers: {},
        startsAt: '2026-02-01T00:00:00Z',
        endsAt: '2026-02-02T00:00:00Z',
        createdBy: 'ops',
      });
      expect(active).toMatchObject({
        matchers: { ruleIds: ['r'], tags: ['x'], severities: ['low'], groups: ['acme', null] },
        startsAt: '2026-03-01T00:00:00.000Z',
        comment: 'maintenance',
      });
      expect(pending.comment).toBeNull();

      expect((await store.silences.active(now)).map((s) => s.id)).toEqual([active.id]);
      expect((await store.silences.list({ now, state: 'pending' })).map((s) => s.id)).toEqual([pending.id]);
      expect(await store.silences.list({ now, state: 'expired' })).toHaveLength(1);
      expect(await store.silences.list({ now })).toHaveLength(3);

      const expired = await store.silences.expire(active.id, now);
      expect(expired?.endsAt).toBe(now.toISOString());
      expect(await store.silences.active(now)).toEqual([]);
      // Expiring again leaves the end where it was.
      const later = new Date('2026-03-01T13:00:00Z');
      expect((await store.silences.expire(active.id, later))?.endsAt).toBe(now.toISOString());
      expect(await store.silences.expire('missing', now)).toBeUndefined();
    });
  });

  describe('subscribers, endpoints, subscriptions', () => {
    it('manages subscribers', async () => {
      const subscriber = await store.subscribers.create({ name: 'Ana', email: 'ana@example.com' });
      expect(subscriber).toMatchObject({
        name: 'Ana',
        email: 'ana@example.com',
        timeZone: 'UTC',
        tenantId: 'default',
      });
      const updated = await store.subscribers.update(subscriber.id, { timeZone: 'Asia/Tokyo', email: null });
      expect(updated).toMatchObject({ timeZone: 'Asia/Tokyo', email: null, name: 'Ana' });
      expect((await store.subscribers.list()).map((s) => s.id)).toEqual([subscriber.id]);
      expect(await store.subscribers.update('missing', { name: 'x' })).toBeUndefined();
    });

    it('manages webhook endpoints: secrets, rotation, disabling, failure runs', async () => {
      const endpoint = await store.endpoints.create({
        url: 'https://a.example/hook',
        format: 'alertmanager',
      });
      expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(endpoint).toMatchObject({ format: 'alertmanager', disabled: false, previousSecret: null });

      const rotated = await store.endpoints.rotateSecret(endpoint.id, new Date('2026-03-02T00:00:00Z'));
      expect(rotated?.secret).not.toBe(endpoint.secret);
      expect(rotated?.previousSecret).toBe(endpoint.secret);
      expect(rotated?.previousSecretExpiresAt).toBe('2026-03-02T00:00:00.000Z');
      const given = await store.endpoints.rotateSecret(endpoint.id, new Date(), 'whsec_AAAA');
      expect(given?.secret).toBe('whsec_AAAA');

      const t1 = new Date('2026-03-01T01:00:00Z');
      expect((await store.endpoints.noteResult(endpoint.id, false, t1))?.failingSince).toBe(t1.toISOString());
      const t2 = new Date('2026-03-01T02:00:00Z');
      expect((await store.endpoints.noteResult(endpoint.id, false, t2))?.failingSince).toBe(t1.toISOString());
      expect((await store.endpoints.noteResult(endpoint.id, true, t2))?.failingSince).toBeNull();

      const disabled = await store.endpoints.disable(endpoint.id, 'HTTP 410 Gone', t2);
      expect(disabled).toMatchObject({
        disabled: true,
        disabledReason: 'HTTP 410 Gone',
        disabledAt: t2.toISOString(),
      });
      expect(await store.endpoints.enable(endpoint.id)).toMatchObject({
        disabled: false,
        disabledReason: null,
      });

      expect((await store.endpoints.update(endpoint.id, { url: 'https://b.example/' }))?.url).toBe(
        'https://b.example/',
      );
      expect(await store.endpoints.list()).toHaveLength(1);
    });

    it('manages subscriptions, unsubscribes and cascades deletes', async () => {
      const { subscriber, endpoint, subscription } = await webhookSubscription(store);
      expect(subscription).toMatchObject({
        ruleIds: null,
        tags: null,
        minSeverity: 'info',
        mode: 'immediate',
        dailyHour: null,
        unsubscribed: false,
      });
      const daily = await store.subscriptions.create({
        subscriberId: subscriber.id,
        channel: 'email',
        ruleIds: ['a', 'b'],
        tags: ['x'],
        minSeverity: 'high',
        mode: 'daily',
        dailyHour: 8,
      });
      const hourly = await store.subscriptions.create({
        subscriberId: subscriber.id,
        channel: 'email',
        mode: 'hourly',
      });
      expect(daily).toMatchObject({ ruleIds: ['a', 'b'], tags: ['x'], minSeverity: 'high', dailyHour: 8 });

      const updated = await store.subscriptions.update(daily.id, { ruleIds: null, dailyHour: 9 });
      expect(updated).toMatchObject({ ruleIds: null, tags: ['x'], dailyHour: 9 });

      expect((await store.subscriptions.unsubscribe(daily.id))?.unsubscribed).toBe(true);
      expect((await store.subscriptions.list()).map((s) => s.id).sort()).toEqual(
        [subscription.id, hourly.id].sort(),
      );
      expect(await store.subscriptions.list({ includeUnsubscribed: true })).toHaveLength(3);
      expect(await store.subscriptions.unsubscribeAll(subscriber.id, 'email')).toBe(1);
      expect((await store.subscriptions.list({ channel: 'email' })).length).toBe(0);
      expect((await store.subscriptions.list({ subscriberId: subscriber.id })).map((s) => s.id)).toEqual([
        subscription.id,
      ]);

      expect(await store.endpoints.delete(endpoint.id)).toBe(true);
      expect(await store.subscriptions.get(subscription.id)).toBeUndefined();
      expect(await store.subscribers.delete(subscriber.id)).toBe(true);
      expect(await store.subscriptions.list({ includeUnsubscribed: true })).toEqual([]);
    });
  });

  describe('delivery outbox', () => {
    it('claims due jobs, completes, retries, fails and dead-letters them', async () => {
      const { subscription } = await webhookSubscription(store);
      const [a, b, c] = await commitJobs(store, subscription.id, 3);
      const now = backend.clock.now();

      const claimed = await store.deliveries.claim(now, 10, 30_000);
      expect(claimed.map((job) => job.id).sort()).toEqual([a, b, c].sort());
      expect(claimed[0]).toMatchObject({ status: 'sending', attempts: 1 });
      expect(claimed[0]?.leaseUntil).toBe(new Date(now.getTime() + 30_000).toISOString());
      expect(await store.deliveries.claim(now, 10, 30_000)).toEqual([]);

      expect(await store.deliveries.complete(a!)).toBe(true);
      expect(await store.deliveries.complete(a!)).toBe(false);
      const later = new Date(now.getTime() + 5_000);
      expect(await store.deliveries.retry(b!, later, 'HTTP 503')).toBe(true);
      expect(await store.deliveries.fail(c!, 'HTTP 400')).toBe(true);

      expect(await store.deliveries.claim(now, 10, 30_000)).toEqual([]);
      const again = await store.deliveries.claim(later, 10, 30_000);
      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ id: b, attempts: 2, lastError: 'HTTP 503' });
      expect(await store.deliveries.deadLetter(b!, 'retries exhausted')).toBe(true);

      expect((await store.deliveries.get(a!))?.status).toBe('sent');
      expect((await store.deliveries.list({ status: 'dead' })).items.map((job) => job.id)).toEqual([b]);
      expect((await store.deliveries.list({ status: 'failed' })).items.map((job) => job.id)).toEqual([c]);
      expect(await store.deliveries.countByStatus()).toEqual({
        pending: 0,
        sending: 0,
        sent: 1,
        failed: 1,
        dead: 1,
      });
    });

    it('hands a claimed job back unsent without counting the claim as an attempt', async () => {
      const { subscription } = await webhookSubscription(store);
      const [a] = await commitJobs(store, subscription.id, 1);
      const now = backend.clock.now();
      const later = new Date(now.getTime() + 1_000);
      for (let round = 0; round < 3; round++) {
        const [claimed] = await store.deliveries.claim(later, 10, 30_000);
        expect(claimed).toMatchObject({ id: a, attempts: 1 });
        // A stale lease token cannot hand it back; the holder can.
        expect(await store.deliveries.release(a!, later, 'lane full', { leaseToken: 'not-the-token' })).toBe(
          false,
        );
        expect(
          await store.deliveries.release(a!, later, 'lane full', { leaseToken: claimed!.leaseToken }),
        ).toBe(true);
        expect(await store.deliveries.get(a!)).toMatchObject({
          status: 'pending',
          attempts: 0,
          leaseUntil: null,
          lastError: 'lane full',
        });
      }
      expect(await store.deliveries.release(a!, later, 'lane full')).toBe(false); // not sending
      await store.deliveries.claim(later, 10, 30_000);
      expect(await store.deliveries.retry(a!, later, 'HTTP 503')).toBe(true);
      expect((await store.deliveries.claim(later, 10, 30_000))[0]).toMatchObject({ id: a, attempts: 2 });
    });

    it('replays one job and recovers failed ones since a time', async () => {
      const { subscription, endpoint } = await webhookSubscription(store);
      const [a, b, c] = await commitJobs(store, subscription.id, 3, endpoint.id);
      const now = backend.clock.now();
      await store.deliveries.claim(now, 10, 30_000);

      expect(await store.deliveries.replay(a!, now)).toBeUndefined(); // still being sent
      await store.deliveries.deadLetter(a!, 'gone');
      backend.clock.advance(60_000);
      await store.deliveries.fail(b!, 'bad request');
      await store.deliveries.complete(c!);

      const replayed = await store.deliveries.replay(a!, backend.clock.now());
      expect(replayed).toMatchObject({ status: 'pending', attempts: 0, lastError: 'gone' });
      await store.deliveries.claim(backend.clock.now(), 10, 1_000);
      await store.deliveries.deadLetter(a!, 'gone again');

      const since = new Date(now.getTime() + 30_000);
      const recovered = await store.deliveries.replayFailed(
        { since, endpointId: endpoint.id },
        backend.clock.now(),
      );
      expect(recovered).toBe(2);
      expect((await store.deliveries.list({ status: 'pending' })).items.map((job) => job.id).sort()).toEqual(
        [a, b].sort(),
      );
      expect(await store.deliveries.replay('missing', now)).toBeUndefined();
    });

    it('hands a job whose lease expired to another worker, and refuses the stale worker', async () => {
      const { subscription } = await webhookSubscription(store);
      const [jobId] = await commitJobs(store, subscription.id, 1);
      const t0 = backend.clock.now();
      const [first] = await store.deliveries.claim(t0, 1, 10_000);
      expect(first?.id).toBe(jobId);

      const other = backend.open();
      expect(await other.deliveries.claim(new Date(t0.getTime() + 9_999), 1, 10_000)).toEqual([]);
      const [second] = await other.deliveries.claim(new Date(t0.getTime() + 10_000), 1, 10_000);
      expect(second).toMatchObject({ id: jobId, attempts: 2, status: 'sending' });
      expect(second?.leaseToken).not.toBe(first?.leaseToken);

      expect(await store.deliveries.complete(jobId!, { leaseToken: first!.leaseToken })).toBe(false);
      expect(await other.deliveries.complete(jobId!, { leaseToken: second!.leaseToken })).toBe(true);
      expect((await store.deliveries.get(jobId!))?.status).toBe('sent');
    });

    it('never gives one job to two concurrent claimers', async () => {
      const { subscription } = await webhookSubscription(store);
      const ids = await commitJobs(store, subscription.id, 60);
      // PostgreSQL: separate pools, as separate instances would be. SQLite: one process owns the
      // file, so concurrency there is several workers on one store.
      const workers =
        harness.name === 'postgres' ? [store, backend.open(), backend.open()] : [store, store, store];
      const now = backend.clock.now();
      const claimedBy = await Promise.all(
        workers.map(async (worker) => {
          const mine: string[] = [];
          for (;;) {
            const jobs = await worker.deliveries.claim(now, 4, 60_000);
            if (jobs.length === 0) return mine;
            mine.push(...jobs.map((job) => job.id));
          }
        }),
      );
      const all = claimedBy.flat();
      expect(all).toHaveLength(ids.length);
      expect(new Set(all)).toEqual(new Set(ids));
    });

    it('logs attempts per job and per endpoint', async () => {
      const { subscription, endpoint } = await webhookSubscription(store);
      const [a, b] = await commitJobs(store, subscription.id, 2, endpoint.id);
      await store.attempts.record({
        jobId: a!,
        at: new Date('2026-03-01T00:00:01Z'),
        statusCode: 503,
        durationMs: 12.4,
        responseSnippet: 'x'.repeat(5_000),
      });
      await store.attempts.record({
        jobId: a!,
        at: new Date('2026-03-01T00:00:06Z'),
        statusCode: 200,
        durationMs: 8,
      });
      await store.attempts.record({
        jobId: b!,
        at: new Date('2026-03-01T00:00:02Z'),
        durationMs: 10_000,
        error: 'timeout',
      });

      const ofJob = await store.attempts.list({ jobId: a! });
      expect(ofJob.map((attempt) => attempt.statusCode)).toEqual([200, 503]);
      expect(ofJob[1]).toMatchObject({ durationMs: 12, endpointId: endpoint.id, tenantId: 'default' });
      expect(ofJob[1]?.responseSnippet).toHaveLength(1_000);
      const ofEndpoint = await store.attempts.list({ endpointId: endpoint.id, limit: 2 });
      expect(ofEndpoint.map((attempt) => attempt.at)).toEqual([
        '2026-03-01T00:00:06.000Z',
        '2026-03-01T00:00:02.000Z',
      ]);
      expect(ofEndpoint[1]?.error).toBe('timeout');
      await expect(
        store.attempts.record({ jobId: 'missing', at: new Date(), durationMs: 1 }),
      ).rejects.toThrow();
    });
  });

  describe('digests', () => {
    it('builds a period digest once, from the entries received before its end', async () => {
      const subscriber = await store.subscribers.create({ name: 'Ana', email: 'ana@example.com' });
      const subscription = await store.subscriptions.create({
        subscriberId: subscriber.id,
        channel: 'email',
        mode: 'daily',
        dailyHour: 8,
      });
      const early = makeAlert({ receivedAt: '2026-03-01T06:00:00.000Z' });
      const mid = makeAlert({ receivedAt: '2026-03-01T07:00:00.000Z' });
      const late = makeAlert({ receivedAt: '2026-03-01T09:00:00.000Z' });
      await store.pipeline.commit({
        alerts: [early, mid, late],
        ledger: [],
        groupStates: [],
        jobs: [],
        digestEntries: [early, mid, late].map((alert) => ({
          subscriptionId: subscription.id,
          alertId: alert.id,
          receivedAt: alert.receivedAt,
        })),
      });
      // Adding again is harmless.
      await store.digests.add([
        { subscriptionId: subscription.id, alertId: early.id, receivedAt: early.receivedAt },
      ]);

      const until = new Date('2026-03-01T07:00:00Z'); // 08:00 Europe/Berlin
      const build = () =>
        store.digests.build({ subscriptionId: subscription.id, periodKey: '2026-03-01', until, now: until });
      const other = harness.name === 'postgres' ? backend.open() : store;
      const [one, two] = await Promise.all([
        build(),
        other.digests.build({ subscriptionId: subscription.id, periodKey: '2026-03-01', until, now: until }),
      ]);
      const job = one ?? two;
      expect([one, two].filter(Boolean)).toHaveLength(1);
      expect(job).toMatchObject({ kind: 'digest', alertId: null, channel: 'email', status: 'pending' });
      expect((await store.digests.alerts(job!.id)).map((alert) => alert.id)).toEqual([early.id]);
      expect(await build()).toBeUndefined();

      const next = await store.digests.build({
        subscriptionId: subscription.id,
        periodKey: '2026-03-02',
        until: new Date('2026-03-02T07:00:00Z'),
        now: until,
      });
      expect((await store.digests.alerts(next!.id)).map((alert) => alert.id)).toEqual([late.id, mid.id]);
      const empty = await store.digests.build({
        subscriptionId: subscription.id,
        periodKey: '2026-03-03',
        until: new Date('2026-03-03T07:00:00Z'),
        now: until,
      });
      expect(empty).toBeUndefined();
    });
  });

  describe('API keys', () => {
    it('creates, finds by hash, lists and revokes', async () => {
      const key = await store.apiKeys.create({ prefix: 'tcs_ab12', hash: 'h1', name: 'ci' });
      await store.apiKeys.create({ prefix: 'tcs_cd34', hash: 'h2', name: 'other', tenantId: 'acme' });
      expect(key).toMatchObject({ tenantId: 'default', prefix: 'tcs_ab12', revokedAt: null });
      expect((await store.apiKeys.findByHash('h1'))?.id).toBe(key.id);
      expect((await store.apiKeys.list()).map((k) => k.name)).toEqual(['ci']);
      expect(await store.apiKeys.revoke(key.id, new Date('2026-03-01T00:00:00Z'))).toBe(true);
      expect(await store.apiKeys.revoke(key.id, new Date())).toBe(false);
      expect(await store.apiKeys.findByHash('h1')).toBeUndefined();
      expect((await store.apiKeys.list())[0]?.revokedAt).toBe('2026-03-01T00:00:00.000Z');
      await expect(store.apiKeys.create({ prefix: 'x', hash: 'h2', name: 'dup' })).rejects.toThrow();
    });
  });

  describe('purge', () => {
    it('deletes by retention per kind and expires cursors before the purged alerts', async () => {
      const { subscription } = await webhookSubscription(store);
      const now = new Date('2026-03-31T00:00:00Z');
      const old = makeAlert({ receivedAt: '2026-03-01T00:00:00.000Z' });
      const recent = makeAlert({ receivedAt: '2026-03-30T00:00:00.000Z' });
      const start = await store.alerts.headCursor();
      await store.pipeline.commit({
        alerts: [old],
        ledger: [{ ruleId: 'r', eventId: 'old', eventTime: 1 }],
        groupStates: [],
        jobs: [{ alertId: old.id, subscriptionId: subscription.id, channel: 'webhook' }],
      });
      const [stored] = await store.alerts.after(start, 1);
      backend.clock.ms = Date.parse('2026-03-30T00:00:00Z');
      await store.pipeline.commit({
        alerts: [recent],
        ledger: [{ ruleId: 'r', eventId: 'new', eventTime: 2 }],
        groupStates: [],
        jobs: [{ alertId: recent.id, subscriptionId: subscription.id, channel: 'webhook' }],
      });
      const oldJob = deliveryJobId(old.id, subscription.id);
      const recentJob = deliveryJobId(recent.id, subscription.id);
      await store.attempts.record({ jobId: recentJob, at: new Date('2026-03-02T00:00:00Z'), durationMs: 1 });
      await store.attempts.record({ jobId: recentJob, at: new Date('2026-03-30T00:00:00Z'), durationMs: 1 });

      expect(await store.alerts.isCursorExpired(start)).toBe(false);
      const result = await store.purge({ alertsDays: 7, ledgerDays: 14, deliveryLogDays: 20 }, now);
      expect(result).toEqual({ alerts: 1, ledger: 1, jobs: 0, attempts: 1, audit: 0 });

      expect(await store.alerts.get(old.id)).toBeUndefined();
      expect(await store.deliveries.get(oldJob)).toBeUndefined();
      expect((await store.pipeline.loadState()).ledger.map((entry) => entry.eventId)).toEqual(['new']);
      expect(await store.attempts.list({ jobId: recentJob })).toHaveLength(1);

      expect(await store.alerts.isCursorExpired(start)).toBe(true);
      expect(await store.alerts.isCursorExpired(stored!.cursor)).toBe(false);
      expect(await store.alerts.oldestCursor()).toBe(stored!.cursor);
      expect((await store.alerts.after(await store.alerts.oldestCursor(), 10)).map((a) => a.id)).toEqual([
        recent.id,
      ]);

      // Finished jobs go with the delivery log.
      await store.deliveries.claim(backend.clock.now(), 10, 1_000);
      await store.deliveries.complete(recentJob);
      const later = await store.purge(
        { alertsDays: 365, ledgerDays: 365, deliveryLogDays: 1 },
        new Date(backend.clock.ms + 2 * day),
      );
      expect(later).toEqual({ alerts: 0, ledger: 0, jobs: 1, attempts: 1, audit: 0 });
    });
  });
});

/**
 * PostgreSQL under real concurrency: several connections, transactions interleaved by hand.
 * (SQLite has one writer at a time, so these orderings cannot arise there.)
 */
describe('postgres store: commit order and row locks', () => {
  let backend: Backend;
  let db: Kysely<Database>;

  beforeAll(async () => {
    await assertPostgresReachable();
  });
  beforeEach(async () => {
    backend = await postgresHarness.create();
    const pool = createPostgresPool({ connectionString: testDatabaseUrl, schema: backend.schema! });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  });
  afterEach(async () => {
    await db?.destroy();
    await backend?.dispose();
  });

  it('gives a transaction that reserves log positions later a later position: it waits for the first to commit', async () => {
    const reader = backend.store;
    const a = makeAlert();
    const b = makeAlert();
    const t1 = await db.startTransaction().execute();
    const t2 = await db.startTransaction().execute();
    try {
      const [inA] = await appendAlerts(t1, [a]);
      const inB = appendAlerts(t2, [b]);
      // T2 queues on the counter row that T1 holds: it cannot take a position T1 could precede.
      expect(await settledWithin(inB, 300)).toBe('pending');
      expect(await reader.alerts.after(null, 10)).toEqual([]);

      await t1.commit().execute();
      const [storedB] = await inB;
      expect(decodeCursor(storedB!.cursor)).toBeGreaterThan(decodeCursor(inA!.cursor));
      const seen = await reader.alerts.after(null, 10);
      expect(seen.map((alert) => alert.id)).toEqual([a.id]);

      await t2.commit().execute();
      expect((await reader.alerts.after(seen.at(-1)!.cursor, 10)).map((alert) => alert.id)).toEqual([b.id]);
    } finally {
      await t1
        .rollback()
        .execute()
        .catch(() => {});
      await t2
        .rollback()
        .execute()
        .catch(() => {});
    }
  });

  it('lets a reader that has seen a later commit still see a commit that started first and finished last', async () => {
    const first = backend.open();
    const second = backend.open();
    const reader = backend.store;
    const early = makeAlert();
    const late = makeAlert();

    // An open transaction holding a group-state row that the first commit must write: the
    // first commit starts, then waits inside its transaction.
    const blocker = await db.startTransaction().execute();
    await blocker
      .insertInto('group_states')
      .values({ tenant_id: 'default', rule_id: 'burst', group_key: '', state: '{}', updated_at: 0 })
      .execute();
    const firstCommit = first.pipeline.commit({
      alerts: [early],
      ledger: [{ ruleId: early.ruleId, eventId: early.eventIds[0]!, eventTime: 1 }],
      groupStates: [{ ruleId: 'burst', group: '', state: { events: [] } }],
      jobs: [],
    });
    expect(await settledWithin(firstCommit, 300)).toBe('pending');

    await second.pipeline.commit({ alerts: [late], ledger: [], groupStates: [], jobs: [] });
    const seen = await reader.alerts.after(null, 10);
    expect(seen.map((alert) => alert.id)).toEqual([late.id]);

    await blocker.rollback().execute();
    await firstCommit;
    expect((await reader.alerts.after(seen.at(-1)!.cursor, 10)).map((alert) => alert.id)).toEqual([early.id]);
  });

  it('writes group deletes and upserts in one key order: two instances crossing on the same groups never deadlock', async () => {
    const one = backend.open();
    const two = backend.open();
    const state = { events: [{ id: 'e', time: 1, publishedAt: '2026-03-01T00:00:00Z' }] };
    for (let round = 0; round < 40; round++) {
      await backend.store.pipeline.commit({
        alerts: [],
        ledger: [],
        groupStates: ['a', 'b', 'c'].map((group) => ({ ruleId: 'burst', group, state })),
        jobs: [],
      });
      // Each deletes the group the other upserts: unordered deletes first would lock a then
      // wait for c in one, lock c then wait for a in the other.
      await Promise.all([
        one.pipeline.commit({
          alerts: [],
          ledger: [],
          groupStates: [
            { ruleId: 'burst', group: 'a', state: null },
            { ruleId: 'burst', group: 'b', state },
            { ruleId: 'burst', group: 'c', state },
          ],
          jobs: [],
        }),
        two.pipeline.commit({
          alerts: [],
          ledger: [],
          groupStates: [
            { ruleId: 'burst', group: 'c', state: null },
            { ruleId: 'burst', group: 'b', state },
            { ruleId: 'burst', group: 'a', state },
          ],
          jobs: [],
        }),
      ]);
    }
  });

  it('keeps a tailing reader complete while several instances commit at once', async () => {
    const writers = [backend.open(), backend.open(), backend.open(), backend.open()];
    const reader = backend.store;
    const written: string[] = [];
    let writing = true;

    const tail = (async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (;;) {
        const done = !writing;
        const page = await reader.alerts.after(cursor, 50);
        seen.push(...page.map((alert) => alert.id));
        if (page.length > 0) cursor = page.at(-1)!.cursor;
        else if (done) return seen;
      }
    })();

    await Promise.all(
      writers.map(async (writer) => {
        for (let i = 0; i < 25; i++) {
          const alerts = [makeAlert(), makeAlert()];
          await writer.pipeline.commit({ alerts, ledger: [], groupStates: [], jobs: [] });
          written.push(...alerts.map((alert) => alert.id));
        }
      }),
    );
    writing = false;
    const seen = await tail;
    expect(seen).toHaveLength(written.length);
    expect(new Set(seen)).toEqual(new Set(written));
  });

  it('turns a connection killed mid-commit into a retryable store error, then reconnects', async () => {
    const applicationName = `tocsin_test_${process.pid}_${Date.now()}`;
    const store = createPostgresStore({
      connectionString: testDatabaseUrl,
      schema: backend.schema!,
      secret: testServerSecret,
      applicationName,
    });
    try {
      const blocker = await db.startTransaction().execute();
      await blocker
        .insertInto('group_states')
        .values({ tenant_id: 'default', rule_id: 'burst', group_key: '', state: '{}', updated_at: 0 })
        .execute();
      const alert = makeAlert();
      const batch = {
        alerts: [alert],
        ledger: [],
        groupStates: [{ ruleId: 'burst', group: '', state: { events: [] } }],
        jobs: [],
      };
      const commit = store.pipeline.commit(batch).catch((error: unknown) => error);
      expect(await settledWithin(commit, 300)).toBe('pending');
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${applicationName}`.execute(
        db,
      );
      const error = await commit;
      expect(isAppError(error, 'TOCSIN_STORE_UNAVAILABLE')).toBe(true);
      expect((error as { retryable: boolean }).retryable).toBe(true);
      await blocker.rollback().execute();

      expect((await store.pipeline.commit(batch)).alerts.map((stored) => stored.id)).toEqual([alert.id]);
    } finally {
      await store.close();
    }
  });

  it('claims with SKIP LOCKED: a job another transaction holds is skipped, not waited for', async () => {
    const { store } = backend;
    const { subscription } = await webhookSubscription(store);
    const [held, ...free] = await commitJobs(store, subscription.id, 3);
    const locker = await db.startTransaction().execute();
    try {
      await locker.selectFrom('delivery_jobs').select('id').where('id', '=', held!).forUpdate().execute();
      const claim = store.deliveries.claim(backend.clock.now(), 10, 60_000);
      expect(await settledWithin(claim, 2_000)).toBe('settled');
      expect((await claim).map((job) => job.id).sort()).toEqual(free.sort());
    } finally {
      await locker.rollback().execute();
    }
    expect((await store.deliveries.claim(backend.clock.now(), 10, 60_000)).map((job) => job.id)).toEqual([
      held,
    ]);
  });
});
