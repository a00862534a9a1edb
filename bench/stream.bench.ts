/**
 * `npm run bench:stream` (part of `npm run bench`): the WebSocket hub under 1,000 dashboards.
 *
 * This process runs the real stream server (SQLite store in a temp dir, Fastify, API-key
 * auth, `/v1/stream`, the hub) and commits alerts to the store at a steady rate, the way the
 * pipeline does (one transaction per 10 ms tick, then `hub.committed`). A child process holds
 * 1,000 `ws` clients on loopback and notes when each alert reaches each client. Both processes
 * share this machine's cores, so the clients' own cost is part of what is measured.
 *
 * Per rate step: p50/p99/max latency from "alert stored" (its commit resolved) to "message
 * received by all clients", and whether the step was held: every client received every alert,
 * none was closed (1013), and p99 stayed under 1 s (a growing backlog shows there first).
 * Steps go up until one is not held. Writes bench/results/stream.json.
 *
 *   npm run bench:stream -- --clients 1000 --rates 100,200,400 --seconds 5 [--data-dir /dev/shm]
 *
 * The SQLite store commits synchronously on the event loop the hub shares (as in the service):
 * on a busy disk an fsync stalls both; `--data-dir /dev/shm` takes the disk out of the picture.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { createStreamHub } from '../src/delivery/websocket/stream-hub.ts';
import { streamRoutes } from '../src/delivery/websocket/stream-routes.ts';
import { createStreamTokens } from '../src/delivery/websocket/stream-tokens.ts';
import { createApiKeyAuth } from '../src/http/auth.ts';
import { createHttpServer } from '../src/http/http-server.ts';
import { createLogger } from '../src/logger.ts';
import { createStore } from '../src/store/create-store.ts';
import type { AlertInput } from '../src/store/store.ts';

const { values: args } = parseArgs({
  options: {
    child: { type: 'boolean' },
    clients: { type: 'string' },
    rates: { type: 'string' },
    seconds: { type: 'string' },
    'data-dir': { type: 'string' },
  },
});

const apiKey = 'stream-bench-key-0123456789abcdef';
/** Epoch milliseconds with sub-millisecond precision, comparable across the two processes. */
const clock = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stderr.write(`${line}\n`);

// ─── The clients (child process) ────────────────────────────────────────────

type Arrival = { count: number; first: number; last: number };
type ChildReport = {
  arrivals: [string, Arrival][];
  closed: number;
  closeCodes: Record<string, number>;
  /** CPU seconds the clients used since the previous report. */
  cpuSeconds: number;
};
type ChildCommand = { type: 'connect'; url: string; clients: number } | { type: 'report' };

const cursorMarker = Buffer.from('"cursor":"');

async function runClients(): Promise<void> {
  let arrivals = new Map<string, Arrival>();
  let closed = 0;
  const closeCodes: Record<string, number> = {};
  const sockets: WebSocket[] = [];
  let cpuMark = process.cpuUsage();

  function onMessage(data: WebSocket.RawData): void {
    const at = clock();
    const buffer = data as Buffer;
    // {"type":"alert","cursor":"c…",…}: the cursor without parsing the whole alert.
    if (buffer[9] !== 0x61) return; // not "alert" (a heartbeat)
    const start = buffer.indexOf(cursorMarker) + cursorMarker.length;
    const cursor = buffer.toString('latin1', start, buffer.indexOf(0x22, start));
    const arrival = arrivals.get(cursor);
    if (arrival === undefined) arrivals.set(cursor, { count: 1, first: at, last: at });
    else {
      arrival.count++;
      arrival.last = at;
    }
  }

  function connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, {
        headers: { authorization: `Bearer ${apiKey}` },
        skipUTF8Validation: true,
      });
      socket.on('message', onMessage);
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.on('close', (code) => {
        closed++;
        closeCodes[code] = (closeCodes[code] ?? 0) + 1;
      });
      sockets.push(socket);
    });
  }

  process.on('message', async (command: ChildCommand) => {
    if (command.type === 'connect') {
      for (let i = 0; i < command.clients; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, command.clients - i) }, () => connect(command.url)),
        );
      }
      process.send!({ type: 'connected' });
    } else {
      const cpu = process.cpuUsage(cpuMark);
      cpuMark = process.cpuUsage();
      const report: ChildReport = {
        arrivals: [...arrivals],
        closed,
        closeCodes,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      };
      arrivals = new Map();
      process.send!({ type: 'report', report });
    }
  });
  process.on('disconnect', () => {
    for (const socket of sockets) socket.terminate();
    process.exit(0);
  });
}

// ─── The server and the producer (this process) ─────────────────────────────

function alertOf(n: number, receivedAt: string): AlertInput {
  return {
    id: `bench-${n}-${Math.random().toString(36).slice(2, 10)}`,
    ruleId: 'rare-earth-export-controls',
    ruleName: 'Rare-earth export-control change',
    severity: 'high',
    tags: ['critical-minerals', 'trade-policy'],
    group: null,
    eventIds: [`brief-${n}`],
    eventTime: receivedAt,
    matches: [
      { field: 'title', text: 'rare earth', start: 0, end: 10 },
      { field: 'body', text: 'export controls', start: 412, end: 427 },
      { field: 'commodities', text: 'dysprosium', start: 0, end: 10, index: 1 },
    ],
    event: {
      id: `brief-${n}`,
      title: 'Rare earth export controls tighten as licensing backlog grows',
      summary:
        'Licensing for rare-earth magnet exports slowed again this week; processors report longer waits ' +
        'and buyers in Japan and Europe are drawing down inventories while they seek alternative supply.',
      url: `https://example.com/briefs/${n}`,
      publishedAt: receivedAt,
      source: { name: 'Example Wire' },
    },
    suppressed: false,
    status: 'active',
    receivedAt,
  };
}

type Step = {
  rate: number;
  alerts: number;
  received: number;
  expected: number;
  closed: number;
  latencyAllMs: { p50: number; p99: number; max: number };
  latencyFirstMs: { p50: number };
  /** Cores used over the step (with its 1.5 s tail) by this process and by the clients' process. */
  serverCpu: number;
  clientsCpu: number;
  /** Longest event-loop stall of the server during the step. */
  serverLoopDelayMaxMs: number;
  held: boolean;
};

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const round = (value: number) => Math.round(value * 10) / 10;

async function main(): Promise<void> {
  const clients = Number(args.clients ?? 1_000);
  const rates = (args.rates ?? '50,100,200,300,400,600,800,1000,1500,2000').split(',').map(Number);
  const seconds = Number(args.seconds ?? 5);
  const dataDir = mkdtempSync(join(args['data-dir'] ?? tmpdir(), 'tocsin-stream-bench-'));
  const logger = createLogger('silent');
  const store = createStore({ dataDir, secret: 'bench-server-secret-0123456789', logger });
  await store.migrate();
  const hub = createStreamHub({
    keys: store.apiKeys,
    log: store.alerts,
    logger,
    heartbeatMs: 25_000,
    limits: {
      maxQueueBytes: 1024 ** 2,
      maxConnectionsPerKey: clients,
      maxMessageBytes: 4096,
      messagesPerSecond: 10,
    },
  });
  const secret = 'stream-bench-secret-0123456789abcdef';
  const http = await createHttpServer({
    logger,
    maxBodyBytes: 1024 ** 2,
    auth: createApiKeyAuth({ store, secret, staticKey: apiKey }),
    routes: [
      streamRoutes({
        hub,
        tokens: createStreamTokens({ secret, ttlMs: 3_600_000 }),
        keys: store.apiKeys,
        heartbeatMs: 25_000,
      }),
    ],
  });
  await hub.start();
  await http.listen({ port: 0, host: '127.0.0.1' });
  const url = `ws://127.0.0.1:${(http.server.address() as AddressInfo).port}/v1/stream`;

  const child: ChildProcess = fork(import.meta.filename, ['--child'], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  const fromChild = <T>(type: string) =>
    new Promise<T>((resolve) => {
      const listener = (message: { type: string } & Record<string, unknown>) => {
        if (message.type !== type) return;
        child.off('message', listener);
        resolve(message as T);
      };
      child.on('message', listener);
    });

  log(`connecting ${clients} clients…`);
  const connectStarted = clock();
  child.send({ type: 'connect', url, clients } satisfies ChildCommand);
  await fromChild('connected');
  log(`${hub.connectionCount()} connected in ${Math.round(clock() - connectStarted)} ms`);

  const steps: Step[] = [];
  let n = 0;
  let closedBefore = 0;
  for (const rate of rates) {
    const storedAt = new Map<string, number>();
    const tickMs = 10;
    const cpuBefore = process.cpuUsage();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const started = clock();
    // Alerts due by the wall clock: a late tick commits more, so the rate holds if the store can.
    for (let tick = 1; clock() - started < seconds * 1000; tick++) {
      const count = Math.floor((rate * (clock() - started)) / 1000) - storedAt.size;
      if (count > 0) {
        const now = new Date().toISOString();
        const { alerts } = await store.pipeline.commit({
          alerts: Array.from({ length: count }, () => alertOf(n++, now)),
          ledger: [],
          groupStates: [],
          jobs: [],
        });
        const at = clock();
        for (const alert of alerts) storedAt.set(alert.cursor, at);
        hub.committed(alerts);
      }
      const wait = started + tick * tickMs - clock();
      await sleep(Math.max(0, wait));
    }
    const elapsed = clock() - started;
    // Give stragglers time to arrive, then collect.
    await sleep(1_500);
    await hub.settled();
    const cpu = process.cpuUsage(cpuBefore);
    const windowMs = clock() - started;
    loopDelay.disable();
    child.send({ type: 'report' } satisfies ChildCommand);
    const { report } = await fromChild<{ report: ChildReport }>('report');

    const arrivals = new Map(report.arrivals);
    const allLatencies: number[] = [];
    const firstLatencies: number[] = [];
    let received = 0;
    let complete = true;
    for (const [cursor, stored] of storedAt) {
      const arrival = arrivals.get(cursor);
      received += arrival?.count ?? 0;
      if (arrival === undefined || arrival.count < clients) {
        complete = false;
        continue;
      }
      allLatencies.push(arrival.last - stored);
      firstLatencies.push(arrival.first - stored);
    }
    allLatencies.sort((a, b) => a - b);
    firstLatencies.sort((a, b) => a - b);
    const closed = report.closed - closedBefore;
    closedBefore = report.closed;
    const p99 = quantile(allLatencies, 0.99);
    const step: Step = {
      rate: Math.round((storedAt.size / elapsed) * 1000),
      alerts: storedAt.size,
      received,
      expected: storedAt.size * clients,
      closed,
      latencyAllMs: {
        p50: round(quantile(allLatencies, 0.5)),
        p99: round(p99),
        max: round(allLatencies.at(-1) ?? Number.NaN),
      },
      latencyFirstMs: { p50: round(quantile(firstLatencies, 0.5)) },
      serverCpu: round((cpu.user + cpu.system) / 1000 / windowMs),
      clientsCpu: round((report.cpuSeconds * 1000) / windowMs),
      serverLoopDelayMaxMs: round(loopDelay.max / 1e6),
      held: complete && closed === 0 && p99 < 1_000,
    };
    steps.push(step);
    log(
      `${String(rate).padStart(5)}/s target, ${String(step.rate).padStart(5)}/s stored: ` +
        `all clients p50 ${step.latencyAllMs.p50} ms, p99 ${step.latencyAllMs.p99} ms, max ${step.latencyAllMs.max} ms; ` +
        `first client p50 ${step.latencyFirstMs.p50} ms; ${step.received}/${step.expected} messages, ` +
        `${closed} closed; CPU server ${step.serverCpu}, clients ${step.clientsCpu} cores; ` +
        `server loop stall max ${step.serverLoopDelayMaxMs} ms → ${step.held ? 'held' : 'NOT held'}`,
    );
    if (!step.held) break;
    await sleep(1_000);
  }

  const held = steps.filter((step) => step.held);
  const highest = held.at(-1);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model,
    /** Other work on the machine skews these numbers: the load average when the run ended. */
    loadAverage: loadavg().map(round),
    dataDir: args['data-dir'] ?? tmpdir(),
    clients,
    secondsPerStep: seconds,
    heldWhen: 'every client got every alert, none was closed, p99 (stored → all clients) < 1 s',
    highestHeldRate: highest?.rate ?? 0,
    steps,
  };
  log('');
  log(
    highest
      ? `highest rate held by all ${clients} clients: ${highest.rate} alerts/s ` +
          `(stored → all clients p50 ${highest.latencyAllMs.p50} ms, p99 ${highest.latencyAllMs.p99} ms)`
      : 'no rate was held',
  );
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/stream.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  log('wrote bench/results/stream.json');

  child.disconnect();
  await hub.close();
  await http.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}

if (args.child) await runClients();
else await main();
