/**
 * `npm run bench:webhook` (part of `npm run bench`): webhook delivery through the real parts —
 * the SQLite store, the outbox dispatcher and the webhook channel (signing, the SSRF guard,
 * undici keep-alive pools) wired as the app wires them, with the default settings — to a
 * local receiver in another process (so it does not share our event loop) that answers 204.
 *
 * For 1 and 50 endpoints, each subscribed to every alert:
 * - **throughput**: a burst of alerts committed as the pipeline commits them (batches of 50,
 *   one delivery job per alert and endpoint); alerts/s = alerts whose every delivery arrived,
 *   per second, from the first commit to the last request received;
 * - **latency**: alerts committed at a steady rate (half the burst's throughput); p50/p99 from
 *   the moment the commit that stored an alert returned to the moment the receiver had the
 *   request (wall clock, `performance.timeOrigin + performance.now()` on both sides).
 *
 * Writes bench/results/webhook.json. `--quick` for a short run.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createOutboxDispatcher } from '../src/delivery/outbox/outbox-dispatcher.ts';
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from '../src/delivery/outbox/retry-schedule.ts';
import { createWebhookService } from '../src/delivery/webhook/webhook-service.ts';
import { deliveryJobId } from '../src/store/delivery-ids.ts';
import { createSqliteStore } from '../src/store/sqlite-store.ts';
import type { AlertInput, Store } from '../src/store/store.ts';

const { values: args } = parseArgs({
  options: { receiver: { type: 'boolean' }, quick: { type: 'boolean' } },
});
const wallNow = () => performance.timeOrigin + performance.now();
const log = (line: string) => process.stderr.write(`${line}\n`);

// ─── The receiver process ───────────────────────────────────────────────────

/** Answers 204 at once; reports `[webhook-id, arrival]` pairs to the parent every 50 ms. */
async function runReceiver() {
  let arrivals: [string, number][] = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      arrivals.push([String(request.headers['webhook-id']), wallNow()]);
      response.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.send!({ port: (server.address() as AddressInfo).port });
  setInterval(() => {
    if (arrivals.length === 0) return;
    process.send!({ arrivals });
    arrivals = [];
  }, 50);
  process.on('disconnect', () => process.exit(0));
}

// ─── The benchmark ──────────────────────────────────────────────────────────

type Scenario = {
  endpoints: number;
  burst: {
    alerts: number;
    deliveries: number;
    seconds: number;
    alertsPerSecond: number;
    deliveriesPerSecond: number;
  };
  latency: { alerts: number; ratePerSecond: number; p50Ms: number; p99Ms: number; maxMs: number };
};

let alertCounter = 0;
function makeAlert(): AlertInput {
  alertCounter += 1;
  const n = alertCounter;
  const now = new Date().toISOString();
  return {
    id: `bench-alert-${n}`,
    ruleId: 'rare-earth-export-controls',
    ruleName: 'Rare-earth export-control change',
    severity: 'high',
    tags: ['critical-minerals', 'trade-policy'],
    group: null,
    eventIds: [`bench-event-${n}`],
    eventTime: now,
    matches: [{ field: 'title', text: 'export controls', start: 12, end: 27 }],
    event: {
      id: `bench-event-${n}`,
      title: 'China tightens export controls on rare earth magnets',
      summary: 'New licensing rules cover dysprosium and neodymium magnets and processing equipment.',
      url: 'https://example.com/briefs/rare-earth',
      publishedAt: now,
      source: { name: 'Example Wire' },
    },
    suppressed: false,
    status: 'active',
    receivedAt: now,
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function runScenario(endpointCount: number, receiverUrl: string, arrivals: ArrivalLog, quick: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'tocsin-webhook-bench-'));
  const store: Store = createSqliteStore({
    filename: join(dir, 'tocsin.db'),
    secret: 'bench-server-secret-0123456789',
  });
  await store.migrate();
  const silent = { info() {}, warn() {}, error() {} };
  const webhooks = createWebhookService({
    store,
    settings: {
      timeoutMs: 10_000,
      allowlist: ['127.0.0.1'],
      concurrencyPerEndpoint: 4,
      ratePerSecond: undefined,
      disableAfterMs: 5 * 86_400_000,
    },
    publicUrl: 'http://127.0.0.1:8080',
    logger: silent,
  });
  const outbox = createOutboxDispatcher({
    store,
    channels: [webhooks.channel],
    logger: silent,
    schedule: parseRetrySchedule(DEFAULT_RETRY_SCHEDULE),
    concurrency: 64,
  });

  const subscriber = await store.subscribers.create({ name: 'Bench desk' });
  const subscriptions: { id: string; endpointId: string }[] = [];
  for (let i = 0; i < endpointCount; i++) {
    const endpoint = await store.endpoints.create({ url: `${receiverUrl}/hooks/${i}` });
    const subscription = await store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
    });
    subscriptions.push({ id: subscription.id, endpointId: endpoint.id });
  }
  await outbox.start();

  /** Commits alerts with one job per endpoint, as the pipeline does; returns when it is stored. */
  const storedAt = new Map<string, number>();
  const jobsOf = new Map<string, string[]>();
  async function commit(count: number) {
    const alerts = Array.from({ length: count }, makeAlert);
    const jobs = alerts.flatMap((alert) =>
      subscriptions.map((s) => ({
        alertId: alert.id,
        subscriptionId: s.id,
        channel: 'webhook' as const,
        endpointId: s.endpointId,
      })),
    );
    await store.pipeline.commit({ alerts, ledger: [], groupStates: [], jobs });
    const at = wallNow();
    for (const alert of alerts) {
      storedAt.set(alert.id, at);
      jobsOf.set(
        alert.id,
        subscriptions.map((s) => deliveryJobId(alert.id, s.id)),
      );
    }
    outbox.wake();
    return alerts.map((alert) => alert.id);
  }

  /** Waits until every delivery of `alertIds` has arrived; returns per-alert latency (last arrival). */
  async function delivered(alertIds: string[], timeoutMs: number): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    const expected = alertIds.flatMap((id) => jobsOf.get(id)!);
    while (!expected.every((jobId) => arrivals.has(jobId))) {
      if (Date.now() > deadline) {
        const missing = expected.filter((jobId) => !arrivals.has(jobId)).length;
        throw new Error(`${missing} of ${expected.length} deliveries did not arrive in ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return alertIds.map(
      (id) => Math.max(...jobsOf.get(id)!.map((jobId) => arrivals.get(jobId)!)) - storedAt.get(id)!,
    );
  }

  // Warm up: connections, JIT, SQLite pages.
  await delivered(await commit(Math.max(4, Math.ceil(200 / endpointCount))), 60_000);

  // Burst.
  const burstAlerts = Math.round((quick ? 4_000 : 20_000) / endpointCount) + (endpointCount === 1 ? 0 : 0);
  const started = wallNow();
  const burstIds: string[] = [];
  for (let done = 0; done < burstAlerts; done += 50)
    burstIds.push(...(await commit(Math.min(50, burstAlerts - done))));
  await delivered(burstIds, 300_000);
  const lastArrival = Math.max(
    ...burstIds.flatMap((id) => jobsOf.get(id)!.map((jobId) => arrivals.get(jobId)!)),
  );
  const seconds = (lastArrival - started) / 1000;
  const burst = {
    alerts: burstAlerts,
    deliveries: burstAlerts * endpointCount,
    seconds,
    alertsPerSecond: burstAlerts / seconds,
    deliveriesPerSecond: (burstAlerts * endpointCount) / seconds,
  };
  log(
    `${endpointCount} endpoint(s), burst: ${burst.alerts} alerts, ${burst.deliveries} deliveries in ${seconds.toFixed(2)} s: ` +
      `${burst.alertsPerSecond.toFixed(0)} alerts/s, ${burst.deliveriesPerSecond.toFixed(0)} deliveries/s`,
  );

  // Steady rate, one alert per commit, at half the burst throughput (capped).
  const ratePerSecond = Math.max(1, Math.min(500, Math.floor(burst.alertsPerSecond / 2)));
  const latencyAlerts = Math.min(quick ? 300 : 2_000, ratePerSecond * (quick ? 3 : 10));
  const intervalMs = 1000 / ratePerSecond;
  const paced: string[] = [];
  const paceStart = wallNow();
  for (let i = 0; i < latencyAlerts; i++) {
    const due = paceStart + i * intervalMs;
    const wait = due - wallNow();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    paced.push(...(await commit(1)));
  }
  const latencies = (await delivered(paced, 120_000)).sort((a, b) => a - b);
  const latency = {
    alerts: latencyAlerts,
    ratePerSecond,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1)!,
  };
  log(
    `${endpointCount} endpoint(s), ${ratePerSecond} alerts/s steady: stored → received ` +
      `p50 ${latency.p50Ms.toFixed(1)} ms, p99 ${latency.p99Ms.toFixed(1)} ms, max ${latency.maxMs.toFixed(1)} ms`,
  );

  await outbox.close();
  await webhooks.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { endpoints: endpointCount, burst, latency } satisfies Scenario;
}

type ArrivalLog = Map<string, number>;

async function main() {
  const quick = args.quick === true;
  const receiver: ChildProcess = fork(new URL(import.meta.url).pathname, ['--receiver'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const arrivals: ArrivalLog = new Map();
  const port = await new Promise<number>((resolve) => {
    receiver.on('message', (message: { port?: number; arrivals?: [string, number][] }) => {
      if (message.port !== undefined) resolve(message.port);
      for (const [id, at] of message.arrivals ?? []) arrivals.set(id, at);
    });
  });
  const receiverUrl = `http://127.0.0.1:${port}`;

  const scenarios: Scenario[] = [];
  try {
    for (const endpoints of [1, 50])
      scenarios.push(await runScenario(endpoints, receiverUrl, arrivals, quick));
  } finally {
    receiver.disconnect();
  }

  printTable(scenarios);
  const report = {
    bench: 'webhook',
    node: process.version,
    date: new Date().toISOString(),
    setup:
      'SQLite store, outbox dispatcher (concurrency 64, batch 20), webhook channel (4 per endpoint, keep-alive), receiver in another process answering 204',
    scenarios,
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/webhook.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
  log('wrote bench/results/webhook.json');
}

function printTable(scenarios: Scenario[]) {
  const rows = [
    ['endpoints', 'alerts/s', 'deliveries/s', 'steady rate', 'p50 ms', 'p99 ms'],
    ...scenarios.map((s) => [
      String(s.endpoints),
      s.burst.alertsPerSecond.toFixed(0),
      s.burst.deliveriesPerSecond.toFixed(0),
      `${s.latency.ratePerSecond}/s`,
      s.latency.p50Ms.toFixed(1),
      s.latency.p99Ms.toFixed(1),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  process.stdout.write('\nWebhook delivery (stored → received by a local receiver over keep-alive)\n');
  for (const row of rows)
    process.stdout.write(`${row.map((cell, i) => cell.padStart(widths[i]!)).join('  ')}\n`);
}

if (args.receiver) await runReceiver();
else await main();
