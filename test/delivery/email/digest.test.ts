import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alerts/alert.ts';
import { createDigestMetrics } from '../../../src/delivery/email/digest-metrics.ts';
import { createDigestScheduler, type DigestScheduler } from '../../../src/delivery/email/digest-scheduler.ts';
import { createEmailChannel } from '../../../src/delivery/email/email-channel.ts';
import { createMailTransport } from '../../../src/delivery/email/mail-transport.ts';
import { createUnsubscribeTokens } from '../../../src/delivery/email/unsubscribe-token.ts';
import {
  createOutboxDispatcher,
  type OutboxDispatcher,
} from '../../../src/delivery/outbox/outbox-dispatcher.ts';
import { parseRetrySchedule } from '../../../src/delivery/outbox/retry-schedule.ts';
import { digestJobId } from '../../../src/store/delivery-ids.ts';
import { createSqliteStore } from '../../../src/store/sqlite-store.ts';
import type { Store, Subscription } from '../../../src/store/store.ts';
import {
  assertPostgresReachable,
  type Backend,
  type Clock,
  createClock,
  type Harness,
  makeAlert,
  postgresHarness,
  sqliteHarness,
} from '../../store/store-harness.ts';
import { testServerSecret } from '../../support/test-secret.ts';
import { headerValue, type SmtpReceiver, startSmtpReceiver } from './smtp-receiver.ts';

/**
 * Digests on a real store, a real outbox dispatcher and a real SMTP server, with the clock in
 * the test's hands: the scheduler, the store and the dispatcher all read `clock.now`.
 */

const silent = { info() {}, warn() {}, error() {} };

type Rig = {
  backend: Backend;
  store: Store;
  clock: Clock;
  receiver: SmtpReceiver;
  subscription: Subscription;
  scheduler: DigestScheduler;
  dispatcher: OutboxDispatcher;
  /** The scheduler's metrics. */
  registry: Registry;
  close(): Promise<void>;
};

let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function startRig(
  harness: Harness,
  subscriptionInput: Partial<Subscription> = { mode: 'daily', dailyHour: 8 },
  timeZone = 'Europe/Berlin',
): Promise<Rig> {
  const backend = await harness.create();
  const { store, clock } = backend;
  const receiver = await startSmtpReceiver();
  const subscriber = await store.subscribers.create({ name: 'Desk', email: 'desk@example.com', timeZone });
  const subscription = await store.subscriptions.create({
    subscriberId: subscriber.id,
    channel: 'email',
    mode: subscriptionInput.mode ?? 'daily',
    dailyHour: subscriptionInput.dailyHour ?? null,
  });
  const channel = createEmailChannel({
    store,
    transport: createMailTransport({
      smtpUrl: receiver.url,
      mailDir: '/nonexistent',
      poolSize: 1,
      ratePerSecond: 100,
    }),
    tokens: createUnsubscribeTokens('digest-test-secret-0123456789'),
    from: { name: 'Tocsin', address: 'alerts@tocsin.example.test' },
    publicUrl: 'https://tocsin.example.test',
    hourlyLimit: 0,
    digestMaxAlerts: 50,
    now: clock.now,
  });
  const dispatcher = createOutboxDispatcher({
    store,
    channels: [channel],
    logger: silent,
    schedule: parseRetrySchedule('0s,1s'),
    now: clock.now,
  });
  const registry = new Registry();
  const scheduler = createDigestScheduler({
    store,
    logger: silent,
    metrics: createDigestMetrics(registry),
    now: clock.now,
  });
  return {
    registry,
    backend,
    store,
    clock,
    receiver,
    subscription,
    scheduler,
    dispatcher,
    async close() {
      await scheduler.close();
      await dispatcher.close();
      await channel.close();
      await receiver.close();
      await backend.dispose();
    },
  };
}

/** An alert routed to the rig's digest subscription, received at `receivedAt`. */
async function routeAlert(
  target: Rig,
  title: string,
  receivedAt: string,
  ruleId = 'rare-earth',
): Promise<Alert> {
  const alert = makeAlert({
    ruleId,
    ruleName: ruleId === 'rare-earth' ? 'Rare earth export controls' : 'Tanker sanctions',
    receivedAt,
    event: {
      id: `evt-${title}`,
      title,
      publishedAt: receivedAt,
      url: `https://news.example.com/${encodeURIComponent(title)}`,
    },
    matches: [],
  });
  await target.store.pipeline.commit({
    alerts: [alert],
    ledger: [],
    groupStates: [],
    jobs: [],
    digestEntries: [{ subscriptionId: target.subscription.id, alertId: alert.id, receivedAt }],
  });
  return alert;
}

async function tickAt(target: Rig, iso: string) {
  target.clock.ms = Date.parse(iso);
  return target.scheduler.tick();
}

/** The titles listed in a digest's text part, in order. */
function listedTitles(text: string): string[] {
  return [...text.matchAll(/^- (.+)$/gm)].map((match) => match[1]!);
}

describe('a daily digest at 08:00 Europe/Berlin', () => {
  it('leaves at 08:00 local on both sides of the spring DST change, lists every alert once, and is skipped when empty', async () => {
    rig = await startRig(sqliteHarness);

    await routeAlert(rig, 'A1 Beijing tightens licences', '2026-03-27T12:00:00.000Z');
    // 07:59:59.999 CET: not yet.
    expect((await tickAt(rig, '2026-03-28T06:59:59.999Z')).built).toEqual([]);
    await routeAlert(rig, 'A2 Magnet makers stockpile', '2026-03-28T06:30:00.000Z');

    // 08:00 CET = 07:00 UTC.
    const first = await tickAt(rig, '2026-03-28T07:00:00.000Z');
    expect(first.built).toHaveLength(1);
    expect(first.built[0]!.id).toBe(digestJobId(rig.subscription.id, 'daily@2026-03-28T07:00:00Z'));
    // The next one is due at 08:00 CEST, 23 hours later.
    expect(first.nextPeriodEnd?.toISOString()).toBe('2026-03-29T06:00:00.000Z');
    const gauge = async (name: string) => (await rig!.registry.getSingleMetric(name)!.get()).values;
    expect(await gauge('tocsin_digest_last_pass_timestamp_seconds')).toEqual([
      { labels: {}, value: Date.parse('2026-03-28T07:00:00.000Z') / 1000 },
    ]);
    expect(await rig.dispatcher.runOnce()).toMatchObject({ claimed: 1, sent: 1 });
    const [day1] = await rig.receiver.waitForAccepted(1);
    expect(listedTitles(day1!.parsed.text ?? '')).toEqual([
      'A2 Magnet makers stockpile',
      'A1 Beijing tightens licences',
    ]);
    expect(day1!.parsed.subject).toBe('Tocsin daily digest: 2 alerts (27 Mar 08:00 – 28 Mar 08:00)');
    expect(day1!.parsed.messageId).toBe(`<${first.built[0]!.id}@tocsin.example.test>`);
    expect(headerValue(day1!.raw, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');

    // Across the change (29 March, 02:00 CET → 03:00 CEST).
    await routeAlert(rig, 'A3 Export quota cut', '2026-03-28T12:00:00.000Z');
    await routeAlert(rig, 'A4 Port inspections', '2026-03-29T05:59:59.000Z'); // 07:59:59 CEST
    await routeAlert(rig, 'A5 After the hour', '2026-03-29T06:00:00.000Z'); // 08:00 CEST: the next period
    expect((await tickAt(rig, '2026-03-29T05:59:59.999Z')).built).toEqual([]);
    const second = await tickAt(rig, '2026-03-29T06:00:00.000Z');
    expect(second.built).toHaveLength(1);
    // 08:00 CET would be 07:00 UTC: nothing more then, and no second digest for the day.
    expect((await tickAt(rig, '2026-03-29T07:00:00.000Z')).built).toEqual([]);
    rig.clock.ms = Date.parse('2026-03-29T06:00:01.000Z');
    expect(await rig.dispatcher.runOnce()).toMatchObject({ sent: 1 });
    const [, day2] = await rig.receiver.waitForAccepted(2);
    expect(listedTitles(day2!.parsed.text ?? '')).toEqual(['A4 Port inspections', 'A3 Export quota cut']);
    expect(day2!.parsed.text).toContain('28 Mar 2026, 08:00 – 29 Mar 2026, 08:00 (Europe/Berlin)');

    const third = await tickAt(rig, '2026-03-30T06:00:00.000Z');
    expect(third.built).toHaveLength(1);
    await rig.dispatcher.runOnce();
    const [, , day3] = await rig.receiver.waitForAccepted(3);
    expect(listedTitles(day3!.parsed.text ?? '')).toEqual(['A5 After the hour']);

    // A day without alerts: no digest, no email.
    expect((await tickAt(rig, '2026-03-31T06:00:00.000Z')).built).toEqual([]);
    expect(await rig.dispatcher.runOnce()).toMatchObject({ claimed: 0 });
    expect(rig.receiver.deliveries).toHaveLength(3);

    // Every alert was listed exactly once over the three digests.
    const all = rig.receiver.accepted.flatMap((mail) => listedTitles(mail.parsed.text ?? ''));
    expect(all.sort()).toEqual(['A1', 'A2', 'A3', 'A4', 'A5'].map((id) => all.find((t) => t.startsWith(id))));
    expect(new Set(all).size).toBe(5);
  });

  it('leaves at 08:00 CET again after the autumn change (25 hours later)', async () => {
    rig = await startRig(sqliteHarness);
    await routeAlert(rig, 'B1 Summer', '2026-10-24T12:00:00.000Z');
    expect((await tickAt(rig, '2026-10-25T06:00:00.000Z')).built).toEqual([]); // 07:00 CET
    expect((await tickAt(rig, '2026-10-25T07:00:00.000Z')).built).toHaveLength(1); // 08:00 CET
  });

  it('groups by rule, newest first, and caps the list with "and N more"', async () => {
    rig = await startRig(sqliteHarness);
    rig.clock.ms = Date.parse('2026-03-27T06:00:00.000Z');
    for (let i = 1; i <= 53; i++) {
      const at = new Date(Date.parse('2026-03-27T08:00:00.000Z') + i * 60_000).toISOString();
      await routeAlert(rig, `R${String(i).padStart(2, '0')}`, at, i % 3 === 0 ? 'tankers' : 'rare-earth');
    }
    expect((await tickAt(rig, '2026-03-28T07:00:00.000Z')).built).toHaveLength(1);
    await rig.dispatcher.runOnce();
    const [mail] = await rig.receiver.waitForAccepted(1);
    const text = mail!.parsed.text ?? '';
    expect(text).toMatch(/^Daily digest: 53 alerts$/m);
    // R53 is the newest (rare-earth), so that group comes first; 50 listed in all.
    expect(text).toContain('== [HIGH] Rare earth export controls (34 of 36 alerts) ==');
    expect(text).toContain('== [HIGH] Tanker sanctions (16 of 17 alerts) ==');
    expect(text.indexOf('Rare earth export controls')).toBeLessThan(text.indexOf('Tanker sanctions'));
    expect(listedTitles(text)).toHaveLength(50);
    expect(listedTitles(text)[0]).toBe('R53');
    expect(text).toContain('… and 3 more: https://tocsin.example.test/');
    expect(mail!.parsed.html).toContain('&hellip; and 3 more</a>');
  });

  it('is not lost when the instance sending it crashes: another claims it after the lease, with the same Message-ID', async () => {
    rig = await startRig(sqliteHarness);
    await routeAlert(rig, 'C1 Crash test', '2026-03-27T12:00:00.000Z');
    const [job] = (await tickAt(rig, '2026-03-28T07:00:00.000Z')).built;
    // A worker claims it and dies before finishing.
    expect(await rig.store.deliveries.claim(rig.clock.now(), 10, 60_000)).toHaveLength(1);
    expect(await rig.dispatcher.runOnce()).toMatchObject({ claimed: 0 });
    rig.clock.advance(61_000);
    expect((await tickAt(rig, rig.clock.now().toISOString())).built).toEqual([]); // not built again
    expect(await rig.dispatcher.runOnce()).toMatchObject({ claimed: 1, sent: 1 });
    const [mail] = await rig.receiver.waitForAccepted(1);
    expect(mail!.messageId).toBe(`<${job!.id}@tocsin.example.test>`);
    expect(listedTitles(mail!.parsed.text ?? '')).toEqual(['C1 Crash test']);
  });
});

describe('an hourly digest in Asia/Kolkata', () => {
  it('follows the half-hour offset: periods end at :30 UTC', async () => {
    rig = await startRig(sqliteHarness, { mode: 'hourly' }, 'Asia/Kolkata');
    await routeAlert(rig, 'K1', '2026-03-28T06:10:00.000Z');
    expect((await tickAt(rig, '2026-03-28T06:29:59.999Z')).built).toEqual([]);
    const built = await tickAt(rig, '2026-03-28T06:30:00.000Z');
    expect(built.built).toHaveLength(1);
    expect(built.nextPeriodEnd?.toISOString()).toBe('2026-03-28T07:30:00.000Z');
  });
});

describe.each([
  ['sqlite', sqliteHarness],
  ['postgres', postgresHarness],
])('several instances (%s)', (name, harness) => {
  beforeAll(async () => {
    if (name === 'postgres') await assertPostgresReachable();
  });

  it('build one digest when their schedulers tick at the same instant', async () => {
    rig = await startRig(harness);
    await routeAlert(rig, 'D1', '2026-03-27T12:00:00.000Z');
    // PostgreSQL: each instance has its own connections. SQLite is one process's database
    // (better-sqlite3 is synchronous: a second connection in the same thread would block it
    // on the write lock), so there the schedulers share the store.
    const stores = name === 'postgres' ? [rig.backend.open(), rig.backend.open()] : [rig.store, rig.store];
    const schedulers = [
      rig.scheduler,
      ...stores.map((store) => createDigestScheduler({ store, logger: silent, now: rig!.clock.now })),
    ];
    rig.clock.ms = Date.parse('2026-03-28T07:00:00.000Z');
    const results = await Promise.all(schedulers.map((scheduler) => scheduler.tick()));
    expect(results.flatMap((result) => result.built)).toHaveLength(1);
    const jobs = await rig.store.deliveries.list({ subscriptionId: rig.subscription.id });
    expect(jobs.items.map((job) => job.kind)).toEqual(['digest']);
  });
});

describe('digest scheduler metrics', () => {
  it('counts a subscription whose ended period failed to build as overdue, until a pass builds it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tocsin-digest-metrics-'));
    const filename = join(dir, 'tocsin.db');
    const clock = createClock('2026-03-27T12:00:00.000Z');
    // A short busy timeout: the build below meets a write lock another connection holds.
    const store = createSqliteStore({
      filename,
      secret: testServerSecret,
      now: clock.now,
      busyTimeoutMs: 50,
    });
    const lock = new Database(filename);
    try {
      await store.migrate();
      const subscriber = await store.subscribers.create({ name: 'Desk', email: 'desk@example.com' });
      const subscription = await store.subscriptions.create({
        subscriberId: subscriber.id,
        channel: 'email',
        mode: 'hourly',
      });
      const alert = makeAlert({ receivedAt: clock.now().toISOString() });
      await store.pipeline.commit({
        alerts: [alert],
        ledger: [],
        groupStates: [],
        jobs: [],
        digestEntries: [{ subscriptionId: subscription.id, alertId: alert.id, receivedAt: alert.receivedAt }],
      });
      const registry = new Registry();
      const scheduler = createDigestScheduler({
        store,
        logger: silent,
        metrics: createDigestMetrics(registry),
        now: clock.now,
      });
      const gauge = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;

      clock.ms = Date.parse('2026-03-27T13:00:00.000Z');
      lock.exec('BEGIN IMMEDIATE');
      expect((await scheduler.tick()).built).toEqual([]);
      expect(await gauge('tocsin_digest_overdue_subscriptions')).toBe(1);
      expect(await gauge('tocsin_digest_last_pass_timestamp_seconds')).toBe(clock.ms / 1000);

      lock.exec('ROLLBACK');
      clock.advance(60_000);
      expect((await scheduler.tick()).built).toHaveLength(1);
      expect(await gauge('tocsin_digest_overdue_subscriptions')).toBe(0);
      expect(await gauge('tocsin_digest_last_pass_timestamp_seconds')).toBe(clock.ms / 1000);
    } finally {
      lock.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
