import { afterEach, describe, expect, it } from 'vitest';
import { createDigestScheduler } from '../../../src/delivery/email/digest-scheduler.ts';
import { createEmailChannel } from '../../../src/delivery/email/email-channel.ts';
import { createMailTransport } from '../../../src/delivery/email/mail-transport.ts';
import { rolledSnippetPrefix } from '../../../src/delivery/email/recipient-limit.ts';
import { createUnsubscribeTokens } from '../../../src/delivery/email/unsubscribe-token.ts';
import { createOutboxDispatcher } from '../../../src/delivery/outbox/outbox-dispatcher.ts';
import { parseRetrySchedule } from '../../../src/delivery/outbox/retry-schedule.ts';
import { type Backend, makeAlert, sqliteHarness } from '../../store/store-harness.ts';
import { type SmtpReceiver, startSmtpReceiver } from './smtp-receiver.ts';

/**
 * The per-recipient hourly limit on a real store, outbox and SMTP server: past the limit the
 * channel rolls alerts into the subscription's next (hourly) digest, and the emails say so.
 */

const silent = { info() {}, warn() {}, error() {} };

let backend: Backend | undefined;
let receiver: SmtpReceiver | undefined;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await receiver?.close();
  await backend?.dispose();
  backend = undefined;
  receiver = undefined;
});

async function startRig(hourlyLimit: number) {
  backend = await sqliteHarness.create();
  receiver = await startSmtpReceiver();
  const { store, clock } = backend;
  clock.ms = Date.parse('2026-03-02T10:05:00.000Z');
  const subscriber = await store.subscribers.create({
    name: 'Desk',
    email: 'desk@example.com',
    timeZone: 'UTC',
  });
  const subscription = await store.subscriptions.create({ subscriberId: subscriber.id, channel: 'email' });
  const channel = createEmailChannel({
    store,
    transport: createMailTransport({
      smtpUrl: receiver.url,
      mailDir: '/nonexistent',
      poolSize: 2,
      ratePerSecond: 100,
    }),
    tokens: createUnsubscribeTokens('limit-test-secret-0123456789'),
    from: { name: 'Tocsin', address: 'alerts@tocsin.example.test' },
    publicUrl: 'https://tocsin.example.test',
    hourlyLimit,
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
  const scheduler = createDigestScheduler({ store, logger: silent, now: clock.now });
  closers.push(
    () => channel.close(),
    () => dispatcher.close(),
  );

  async function routeAlerts(count: number, prefix: string): Promise<string[]> {
    const alerts = Array.from({ length: count }, (_, i) =>
      makeAlert({
        receivedAt: clock.now().toISOString(),
        event: {
          id: `${prefix}-${i}`,
          title: `${prefix} alert ${i + 1}`,
          publishedAt: clock.now().toISOString(),
        },
        matches: [],
      }),
    );
    await store.pipeline.commit({
      alerts,
      ledger: [],
      groupStates: [],
      jobs: alerts.map((alert) => ({
        alertId: alert.id,
        subscriptionId: subscription.id,
        channel: 'email' as const,
      })),
    });
    return alerts.map((alert) => alert.id);
  }

  return { store, clock, subscription, dispatcher, scheduler, routeAlerts };
}

describe('the hourly limit per recipient', () => {
  it('sends the first N, says so in the N-th, and rolls the rest into one digest that says why', async () => {
    const rig = await startRig(2);
    await rig.routeAlerts(5, 'burst');
    // All five are claimed at once and sent concurrently: the limit still holds.
    expect(await rig.dispatcher.runOnce()).toMatchObject({ claimed: 5, sent: 5 });
    await receiver!.waitForAccepted(2);
    expect(receiver!.accepted).toHaveLength(2);
    const notes = receiver!.accepted.map((mail) =>
      (mail.parsed.text ?? '').includes('alert email 2 of at most 2 per hour'),
    );
    expect(notes.sort()).toEqual([false, true]);

    const jobs = (await rig.store.deliveries.list({ subscriptionId: rig.subscription.id })).items;
    expect(jobs.every((job) => job.status === 'sent')).toBe(true);
    const snippets = await Promise.all(
      jobs.map(async (job) => (await rig.store.attempts.list({ jobId: job.id }))[0]?.responseSnippet ?? ''),
    );
    expect(snippets.filter((snippet) => snippet.startsWith(rolledSnippetPrefix))).toHaveLength(3);

    // At the end of the hour (UTC subscriber), one digest with the three held back.
    expect((await tickAt(rig, '2026-03-02T10:59:59.999Z')).built).toEqual([]);
    expect((await tickAt(rig, '2026-03-02T11:00:00.000Z')).built).toHaveLength(1);
    expect(await rig.dispatcher.runOnce()).toMatchObject({ sent: 1 });
    const [, , digest] = await receiver!.waitForAccepted(3);
    expect(digest!.parsed.subject).toBe('Tocsin: 3 more alerts past your hourly limit');
    expect(digest!.parsed.text).toContain('You reached your limit of 2 alert emails per hour');
    expect([...(digest!.parsed.text ?? '').matchAll(/^- burst alert \d$/gm)]).toHaveLength(3);
  });

  it('counts a sliding hour: an hour after the first emails, alerts are emailed again', async () => {
    const rig = await startRig(2);
    await rig.routeAlerts(2, 'first');
    await rig.dispatcher.runOnce();
    rig.clock.advance(30 * 60_000);
    await rig.routeAlerts(1, 'held');
    await rig.dispatcher.runOnce();
    expect(receiver!.accepted).toHaveLength(2);
    rig.clock.advance(31 * 60_000);
    await rig.routeAlerts(1, 'later');
    await rig.dispatcher.runOnce();
    const mails = await receiver!.waitForAccepted(3);
    expect(mails[2]!.parsed.subject).toContain('later alert 1');
  });

  it('0 means no limit', async () => {
    const rig = await startRig(0);
    await rig.routeAlerts(6, 'free');
    expect(await rig.dispatcher.runOnce()).toMatchObject({ sent: 6 });
    expect(await receiver!.waitForAccepted(6)).toHaveLength(6);
  });
});

async function tickAt(rig: Awaited<ReturnType<typeof startRig>>, iso: string) {
  rig.clock.ms = Date.parse(iso);
  return rig.scheduler.tick();
}
