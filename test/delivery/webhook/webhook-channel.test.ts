import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createOutboxDispatcher,
  type OutboxDispatcher,
} from '../../../src/delivery/outbox/outbox-dispatcher.ts';
import { parseRetrySchedule } from '../../../src/delivery/outbox/retry-schedule.ts';
import { alertmanagerPayloadSchema } from '../../../src/delivery/webhook/alertmanager-payload.ts';
import { createEndpointRateLimit } from '../../../src/delivery/webhook/endpoint-rate-limit.ts';
import { createSsrfGuard } from '../../../src/delivery/webhook/ssrf-guard.ts';
import {
  createWebhookChannel,
  type WebhookChannelOptions,
} from '../../../src/delivery/webhook/webhook-channel.ts';
import { createWebhookMetrics } from '../../../src/delivery/webhook/webhook-metrics.ts';
import { webhookPayloadSchema } from '../../../src/delivery/webhook/webhook-payload.ts';
import { createWebhookSender, type WebhookSender } from '../../../src/delivery/webhook/webhook-sender.ts';
import { deliveryJobId } from '../../../src/store/delivery-ids.ts';
import { createSqliteStore } from '../../../src/store/sqlite-store.ts';
import type { Store, WebhookFormat } from '../../../src/store/store.ts';
import { makeAlert, sleep } from '../../store/store-harness.ts';
import { testServerSecret } from '../../support/test-secret.ts';
import { startWebhookReceiver, verifyWithLibraries, type WebhookReceiver } from './webhook-receiver.ts';

const silent = { info() {}, warn() {}, error() {} };
const publicUrl = 'http://tocsin.test';

describe('webhook channel through the outbox, against real receivers', () => {
  let dir: string;
  let store: Store;
  let receivers: WebhookReceiver[];
  let senders: WebhookSender[];
  let dispatchers: OutboxDispatcher[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tocsin-webhook-'));
    store = createSqliteStore({ filename: join(dir, 'tocsin.db'), secret: testServerSecret });
    await store.migrate();
    receivers = [];
    senders = [];
    dispatchers = [];
  });
  afterEach(async () => {
    await Promise.all(dispatchers.map((d) => d.close()));
    await Promise.all(senders.map((s) => s.close()));
    await Promise.all(receivers.map((r) => r.close()));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function receiver() {
    const started = await startWebhookReceiver();
    receivers.push(started);
    return started;
  }

  /** The webhook channel and an outbox dispatcher, as the app wires them (127.0.0.1 allowed). */
  async function startOutbox(
    options: {
      schedule?: string;
      timeoutMs?: number;
      concurrency?: number;
    } & Partial<WebhookChannelOptions> = {},
  ) {
    const sender = createWebhookSender({
      guard: createSsrfGuard({ allowlist: ['127.0.0.1'] }),
      timeoutMs: options.timeoutMs ?? 5_000,
    });
    senders.push(sender);
    const channel = createWebhookChannel({ store, sender, publicUrl, logger: silent, ...options });
    const outbox = createOutboxDispatcher({
      store,
      channels: [channel],
      logger: silent,
      schedule: parseRetrySchedule(options.schedule ?? '0s,100ms,100ms,100ms'),
      pollMs: 20,
      concurrency: options.concurrency ?? 64,
    });
    dispatchers.push(outbox);
    await outbox.start();
    return { outbox, channel };
  }

  /** An endpoint, subscribed to everything, and `count` alerts routed to it as the pipeline does. */
  async function endpointWithJobs(url: string, count: number, format: WebhookFormat = 'standard') {
    const endpoint = await store.endpoints.create({ url, format });
    const subscriber = await store.subscribers.create({ name: 'Desk' });
    const subscription = await store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
    });
    const jobIds = await commitAlerts(subscription.id, endpoint.id, count);
    return { endpoint, subscription, jobIds };
  }

  async function commitAlerts(subscriptionId: string, endpointId: string, count: number) {
    const alerts = Array.from({ length: count }, () => makeAlert({ receivedAt: new Date().toISOString() }));
    await store.pipeline.commit({
      alerts,
      ledger: [],
      groupStates: [],
      jobs: alerts.map((alert) => ({
        alertId: alert.id,
        subscriptionId,
        channel: 'webhook' as const,
        endpointId,
      })),
    });
    return alerts.map((alert) => deliveryJobId(alert.id, subscriptionId));
  }

  async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }
  const statusOf = async (id: string) => (await store.deliveries.get(id))?.status;

  it('retries 500, 500, then 200: three attempts with one webhook-id, each verified, delivered once', async () => {
    const hooks = await receiver();
    hooks.reply = (_request, n) =>
      n <= 2 ? { status: 500, body: 'try later' } : { status: 200, body: 'ok' };
    const { endpoint, jobIds } = await endpointWithJobs(hooks.url, 1);
    const [id] = jobIds as [string];
    const registry = new Registry();
    await startOutbox({ schedule: '0s,100ms,100ms,100ms', metrics: createWebhookMetrics(registry) });

    await waitFor('the delivery', async () => (await statusOf(id)) === 'sent');
    await sleep(300);
    expect(hooks.requests.map((request) => request.id)).toEqual([id, id, id]);
    for (const request of hooks.requests) {
      const payload = webhookPayloadSchema.parse(verifyWithLibraries(endpoint.secret, request));
      expect(payload).toMatchObject({ type: 'alert.fired', data: { ruleId: 'rare-earth' } });
      expect(request.headers['content-type']).toBe('application/json');
    }
    // Every attempt sends the same bytes; only the timestamp and the signature may change.
    expect(new Set(hooks.requests.map((request) => request.body)).size).toBe(1);
    const tampered = {
      ...hooks.requests[0]!,
      body: hooks.requests[0]!.body.replace('rare-earth', 'rare-earth!'),
    };
    expect(() => verifyWithLibraries(endpoint.secret, tampered)).toThrow(/No matching signature/);

    expect(await store.deliveries.get(id)).toMatchObject({ status: 'sent', attempts: 3 });
    const attempts = await store.attempts.list({ endpointId: endpoint.id });
    expect(attempts.map((a) => [a.statusCode, a.error, a.responseSnippet])).toEqual([
      [200, null, 'ok'],
      [500, 'HTTP 500', 'try later'],
      [500, 'HTTP 500', 'try later'],
    ]);
    expect((await store.endpoints.get(endpoint.id))?.failingSince).toBeNull();
    // Per endpoint: two failed attempts (retry), one delivered, three timed requests.
    const metrics = await registry.metrics();
    expect(metrics).toContain(`tocsin_webhook_attempts_total{endpoint="${endpoint.id}",result="retry"} 2`);
    expect(metrics).toContain(`tocsin_webhook_attempts_total{endpoint="${endpoint.id}",result="ok"} 1`);
    expect(metrics).toContain(`tocsin_webhook_request_duration_seconds_count{endpoint="${endpoint.id}"} 3`);
  });

  it('429 with Retry-After: 2 — the next attempt comes no earlier than 2 s later', async () => {
    const hooks = await receiver();
    hooks.reply = (_request, n) =>
      n === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 };
    const { jobIds } = await endpointWithJobs(hooks.url, 1);
    await startOutbox({ schedule: '0s,50ms,50ms' });

    await waitFor('the delivery', async () => (await statusOf(jobIds[0]!)) === 'sent');
    const [first, second] = hooks.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_000);
    expect(second!.id).toBe(first!.id);
  });

  it('410 disables the endpoint: the delivery fails and no further attempt is made', async () => {
    const hooks = await receiver();
    hooks.reply = () => ({ status: 410, body: 'gone' });
    const { endpoint, subscription, jobIds } = await endpointWithJobs(hooks.url, 1);
    const other = await store.endpoints.create({ url: hooks.url });
    const registry = new Registry();
    createWebhookMetrics(registry, { endpoints: store.endpoints });
    const disabledGauge = async () =>
      (await registry.getSingleMetric('tocsin_webhook_endpoint_disabled')!.get()).values;
    expect(await disabledGauge()).toEqual(
      expect.arrayContaining([
        { labels: { endpoint: endpoint.id }, value: 0 },
        { labels: { endpoint: other.id }, value: 0 },
      ]),
    );
    await startOutbox({ schedule: '0s,50ms,50ms' });

    await waitFor('the failure', async () => (await statusOf(jobIds[0]!)) === 'failed');
    expect(await disabledGauge()).toEqual(
      expect.arrayContaining([
        { labels: { endpoint: endpoint.id }, value: 1 },
        { labels: { endpoint: other.id }, value: 0 },
      ]),
    );
    await store.endpoints.delete(other.id);
    expect(await disabledGauge()).toEqual([{ labels: { endpoint: endpoint.id }, value: 1 }]);
    const disabled = await store.endpoints.get(endpoint.id);
    expect(disabled).toMatchObject({ disabled: true, disabledReason: 'the endpoint answered HTTP 410 Gone' });
    expect((await store.deliveries.get(jobIds[0]!))?.lastError).toMatch(/^HTTP 410 Gone/);

    const [later] = await commitAlerts(subscription.id, endpoint.id, 1);
    dispatchers[0]!.wake();
    await waitFor('the next delivery to fail', async () => (await statusOf(later!)) === 'failed');
    expect((await store.deliveries.get(later!))?.lastError).toMatch(
      /disabled: the endpoint answered HTTP 410/,
    );
    await sleep(200);
    expect(hooks.requests).toHaveLength(1);
  });

  it('a hanging receiver times out and is retried, while other endpoints are unaffected', async () => {
    const slow = await receiver();
    const fast = await receiver();
    slow.reply = (_request, n) => (n === 1 ? 'hang' : { status: 200 });
    const hanging = await endpointWithJobs(slow.url, 30);
    const { outbox } = await startOutbox({ schedule: '0s,50ms,50ms', timeoutMs: 600 });
    await slow.waitFor(4);

    // The slow endpoint now holds its 4 slots, with 26 jobs waiting; the fast one is not delayed.
    const committed = performance.now();
    const quick = await endpointWithJobs(fast.url, 5);
    outbox.wake();
    await fast.waitFor(5);
    expect(fast.requests.map((request) => request.at - committed).every((ms) => ms < 400)).toBe(true);
    expect(new Set(fast.requests.map((request) => request.id))).toEqual(new Set(quick.jobIds));
    // Still within the first timeout: the slow endpoint got no fifth request (its lane is full).
    expect(slow.requests).toHaveLength(4);

    await waitFor(
      'every hanging delivery to be retried and sent',
      async () => (await store.deliveries.countByStatus()).sent === 35,
      30_000,
    );
    for (const id of hanging.jobIds) {
      const attempts = await store.attempts.list({ jobId: id });
      expect(attempts.map((a) => a.statusCode)).toEqual([200, null]);
      expect(attempts[1]!.error).toBe('timed out after 600 ms');
      // Most of them waited for the endpoint's lane first, yet none died of it (3 attempts in
      // the schedule): waiting is not an attempt.
      expect(await statusOf(id)).toBe('sent');
    }
  });

  it('disables an endpoint whose deliveries all failed for longer than the period, saying why', async () => {
    const hooks = await receiver();
    hooks.reply = () => ({ status: 503 });
    const { endpoint, jobIds } = await endpointWithJobs(hooks.url, 1);
    await startOutbox({ schedule: '0s,100ms,100ms,100ms,100ms,100ms,100ms', disableAfterMs: 250 });

    await waitFor(
      'the endpoint to be disabled',
      async () => (await store.endpoints.get(endpoint.id))!.disabled,
    );
    const disabled = await store.endpoints.get(endpoint.id);
    expect(disabled!.failingSince).not.toBeNull();
    expect(disabled!.disabledReason).toMatch(
      /^every delivery attempt failed since .*; the last one: HTTP 503$/,
    );
    await waitFor('the delivery to end', async () => (await statusOf(jobIds[0]!)) === 'failed');
    expect((await store.deliveries.get(jobIds[0]!))?.lastError).toMatch(/^webhook endpoint is disabled/);
  });

  it('signs with the old and the new secret during a rotation', async () => {
    const hooks = await receiver();
    const { endpoint, jobIds } = await endpointWithJobs(hooks.url, 0);
    const previous = endpoint.secret;
    const rotated = await store.endpoints.rotateSecret(endpoint.id, new Date(Date.now() + 60_000));
    const subscriptionId = (await store.subscriptions.list({ channel: 'webhook' }))[0]!.id;
    jobIds.push(...(await commitAlerts(subscriptionId, endpoint.id, 1)));
    await startOutbox();

    await hooks.waitFor(1);
    const [request] = hooks.requests;
    expect(request!.signature.split(' ')).toHaveLength(2);
    verifyWithLibraries(previous, request!);
    verifyWithLibraries(rotated!.secret, request!);
  });

  it('sends the Alertmanager (version 4) body to an alertmanager endpoint', async () => {
    const hooks = await receiver();
    const { endpoint, jobIds } = await endpointWithJobs(hooks.url, 1, 'alertmanager');
    await startOutbox();

    await hooks.waitFor(1);
    const body = alertmanagerPayloadSchema.parse(verifyWithLibraries(endpoint.secret, hooks.requests[0]!));
    const alert = await store.alerts.get((await store.deliveries.get(jobIds[0]!))!.alertId!);
    expect(body).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: endpoint.id,
      truncatedAlerts: 0,
      externalURL: publicUrl,
      groupLabels: { alertname: 'rare-earth' },
      commonLabels: { alertname: 'rare-earth', severity: 'high', tags: 'trade,china' },
      groupKey: '{}:{alertname="rare-earth"}',
    });
    expect(body.commonAnnotations.summary).toBe('Rare earth exports restricted');
    expect(body.alerts).toHaveLength(1);
    expect(body.alerts[0]).toEqual({
      status: 'firing',
      labels: { alertname: 'rare-earth', severity: 'high', tags: 'trade,china' },
      annotations: expect.objectContaining({
        summary: 'Rare earth exports restricted',
        description: 'New licensing rules',
        rule_name: 'Rare earth export controls',
        alert_id: alert!.id,
        event_url: 'https://example.com/a',
      }),
      startsAt: alert!.eventTime,
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: `${publicUrl}/v1/alerts/${alert!.id}`,
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
  });

  it('sends a digest subscription as one alert.digest request', async () => {
    const hooks = await receiver();
    const { endpoint, subscription } = await endpointWithJobs(hooks.url, 0);
    await store.subscriptions.update(subscription.id, { mode: 'hourly' });
    const alerts = [makeAlert(), makeAlert()];
    await store.pipeline.commit({ alerts, ledger: [], groupStates: [], jobs: [] });
    await store.digests.add(
      alerts.map((alert) => ({
        subscriptionId: subscription.id,
        alertId: alert.id,
        receivedAt: alert.receivedAt,
      })),
    );
    const job = await store.digests.build({
      subscriptionId: subscription.id,
      periodKey: '2026-03-01T00',
      until: new Date(Date.now() + 1_000),
      now: new Date(),
    });
    await startOutbox();

    await hooks.waitFor(1);
    const payload = webhookPayloadSchema.parse(verifyWithLibraries(endpoint.secret, hooks.requests[0]!));
    expect(hooks.requests[0]!.id).toBe(job!.id);
    expect(payload.type).toBe('alert.digest');
    expect(payload.type === 'alert.digest' && payload.data.alerts.map((a) => a.id).sort()).toEqual(
      alerts.map((a) => a.id).sort(),
    );
  });

  it('holds an endpoint to its rate limit, burst first', async () => {
    const hooks = await receiver();
    await endpointWithJobs(hooks.url, 15);
    await startOutbox({ rateLimit: createEndpointRateLimit({ perSecond: 10 }) });

    await hooks.waitFor(15);
    const span = hooks.requests.at(-1)!.at - hooks.requests[0]!.at;
    expect(span).toBeGreaterThanOrEqual(450); // 10 at once, then one every 100 ms
  });

  it('a crash between the send and its record: the receiver sees the same webhook-id again, never another', async () => {
    const hooks = await receiver();
    const { endpoint, jobIds } = await endpointWithJobs(hooks.url, 1);
    const worker: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'dispatcher-worker.ts')],
      {
        env: { ...process.env, TOCSIN_DB: join(dir, 'tocsin.db'), TOCSIN_LEASE_MS: '1500' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = once(worker, 'exit');
    // The worker dies the moment its request arrives: it sent, and never recorded anything.
    hooks.reply = (_request, n) => {
      if (n === 1) {
        worker.kill('SIGKILL');
        return { status: 200, delayMs: 100 };
      }
      return { status: 200 };
    };
    await hooks.waitFor(1, 30_000);
    await exited;
    expect(await store.deliveries.get(jobIds[0]!)).toMatchObject({ status: 'sending', attempts: 1 });

    // Another worker takes the job over once the dead worker's lease has run out.
    await startOutbox();
    await waitFor('the delivery', async () => (await statusOf(jobIds[0]!)) === 'sent', 10_000);
    expect(hooks.requests.map((request) => request.id)).toEqual([jobIds[0], jobIds[0]]);
    for (const request of hooks.requests) verifyWithLibraries(endpoint.secret, request);
    expect(hooks.requests[0]!.body).toBe(hooks.requests[1]!.body);
    expect(await store.deliveries.get(jobIds[0]!)).toMatchObject({ status: 'sent', attempts: 2 });
  });
});
