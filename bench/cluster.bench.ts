/**
 * `npm run bench:cluster`: Tocsin as a cluster (README "Running a cluster"): instances of the
 * real service (`node --import tsx src/server.ts`) on one PostgreSQL schema and one Kafka
 * consumer group, the same briefs as process.bench.ts, 1,000 rules by default (plain,
 * throttled and threshold rules, as generate-rules.ts mixes them).
 *
 * 1. Latency at a steady rate (2 instances, 6 partitions, `--rate` events/s for `--seconds`):
 *    Kafka → alert stored (the bench polls the alert log every 10 ms; produce time of the
 *    alert's newest event to the poll that first sees it) and Kafka → WebSocket on the other
 *    instance (a client on instance 2 receives every alert, stored by either instance).
 * 2. Highest sustained rate with 1, 2 and 3 instances: a backlog of `--backlog` events on 6
 *    partitions, rate = events processed between the first and the last scrape of
 *    `tocsin_events_processed_total` (start-up excluded), then the owners' lag drained.
 * 3. Soak: one instance consumes `--soak` events (200,000) of ever new briefs; its RSS is
 *    sampled as it goes. Flat means memory follows live groups, not events seen.
 *
 *   npm run bench:cluster -- --rules 1000 --rate 200 --seconds 20 --backlog 20000 --soak 200000
 *   KAFKA_BROKERS=127.0.0.1:9092   reuse a broker (else one is started, see scripts/kafka-broker.ts)
 *   DATABASE_URL=postgres://…      the PostgreSQL to use (default postgres://postgres@127.0.0.1:5432/test)
 *
 * Writes bench/results/cluster.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import pg from 'pg';
import WebSocket from 'ws';
import { createStore } from '../src/store/create-store.ts';
import type { Store } from '../src/store/store.ts';
import { createEventGenerator } from './generate-events.ts';
import { generateRules } from './generate-rules.ts';
import { benchBroker } from './service-process.ts';

const { Kafka, logLevel, Partitioners } = kafkajs;
const { values: args } = parseArgs({
  options: {
    rules: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    backlog: { type: 'string' },
    soak: { type: 'string' },
  },
});
const ruleCount = Number(args.rules ?? 1_000);
const steadyRate = Number(args.rate ?? 200);
const steadySeconds = Number(args.seconds ?? 20);
const backlog = Number(args.backlog ?? 20_000);
const soakEvents = Number(args.soak ?? 200_000);
const partitions = 6;
const apiKey = 'tocsin-bench-key-0123456789abcdef';
const serverSecret = 'tocsin-bench-secret-0123456789abcdef';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(benchDir, '..');
const log = (line: string) => process.stderr.write(`${line}\n`);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

type Instance = { url: string; child: ChildProcess; stop(): Promise<void> };

/** A fresh schema, and the service URL that selects it. */
async function freshSchema(): Promise<{ url: string; store: Store; drop(): Promise<void> }> {
  const schema = `tocsin_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  await admin.end();
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const store = createStore({ databaseUrl: url.toString(), dataDir: tmpdir(), secret: serverSecret });
  await store.migrate();
  return {
    url: url.toString(),
    store,
    async drop() {
      await store.close();
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    },
  };
}

async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-bench-cluster-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      TOCSIN_API_KEY: apiKey,
      TOCSIN_SECRET: serverSecret,
      TOCSIN_DATA_DIR: dataDir,
      KAFKA_START_FROM: 'earliest',
      KAFKA_SESSION_TIMEOUT_MS: '10000',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`an instance exited:\n${stderr}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  return {
    url,
    child,
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000).then(() => child.kill('SIGKILL'))]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function processed(instances: Instance[]): Promise<number> {
  let total = 0;
  for (const instance of instances) {
    const text = await (await fetch(`${instance.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('tocsin_events_processed_total{source="kafka"} '));
    total += line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  }
  return total;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function lagOf(admin: kafkajs.Admin, groupId: string, topic: string): Promise<number> {
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  const at = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  return ends.reduce((sum, end) => {
    const offset = at.get(end.partition) ?? -1;
    return sum + Number(end.high) - (offset < 0 ? Number(end.low) : offset);
  }, 0);
}

async function main() {
  const startedAt = performance.now();
  const { brokers, stop: stopBroker } = await benchBroker();
  const work = mkdtempSync(join(tmpdir(), 'tocsin-bench-cluster-rules-'));
  const kafka = new Kafka({
    clientId: 'tocsin-bench-cluster',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await Promise.all([admin.connect(), producer.connect()]);
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    rules: ruleCount,
  };
  try {
    const rulesDir = join(work, 'rules');
    mkdirSync(rulesDir);
    writeFileSync(
      join(rulesDir, 'bench.json'),
      JSON.stringify(generateRules(ruleCount).map(({ input }) => input)),
    );
    const nextEvent = createEventGenerator(1);
    const newTopic = async (name: string) => {
      const topic = `tocsin-bench-${name}-${process.pid}-${Date.now()}`;
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      });
      return topic;
    };
    const envFor = (topic: string, db: string) => ({
      KAFKA_BROKERS: brokers!,
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      KAFKA_GROUP_ID: `${topic}-group`,
      DATABASE_URL: db,
      TOCSIN_RULES_DIR: rulesDir,
    });
    const produce = async (topic: string, count: number) => {
      for (let i = 0; i < count; i += 500) {
        const lines = Array.from({ length: Math.min(500, count - i) }, () => nextEvent());
        await producer.send({
          topic,
          messages: lines.map((event) => ({ key: event.id, value: JSON.stringify(event) })),
        });
      }
    };

    // ── 1. latency at a steady rate ──────────────────────────────────────────
    {
      const topic = await newTopic('steady');
      const db = await freshSchema();
      const instances = await Promise.all([
        startInstance(envFor(topic, db.url)),
        startInstance(envFor(topic, db.url)),
      ]);
      const wsUrl = `${instances[1]!.url.replace(/^http/, 'ws')}/v1/stream`;
      const socket = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${apiKey}` } });
      await new Promise((done, fail) => socket.once('open', done).once('error', fail));
      const producedAt = new Map<string, number>();
      const storedMs: number[] = [];
      const wsMs: number[] = [];
      const latencyOf = (eventIds: string[], at: number) => {
        const times = eventIds.map((id) => producedAt.get(id)).filter((t): t is number => t !== undefined);
        return times.length === 0 ? undefined : at - Math.max(...times);
      };
      socket.on('message', (data) => {
        const at = performance.now();
        const message = JSON.parse(data.toString()) as { type: string; alert?: { eventIds: string[] } };
        if (message.type !== 'alert' || !message.alert) return;
        const ms = latencyOf(message.alert.eventIds, at);
        if (ms !== undefined) wsMs.push(ms);
      });
      // Let both groups settle before measuring.
      await sleep(8_000);
      let cursor = await db.store.alerts.headCursor();
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const page = await db.store.alerts.after(cursor, 1_000);
          const at = performance.now();
          for (const alert of page) {
            const ms = latencyOf(alert.eventIds, at);
            if (ms !== undefined) storedMs.push(ms);
          }
          if (page.length > 0) cursor = page.at(-1)!.cursor;
          await sleep(10);
        }
      })();
      log(`steady: ${steadyRate} events/s for ${steadySeconds} s on 2 instances…`);
      const total = steadyRate * steadySeconds;
      const begin = performance.now();
      for (let i = 0; i < total; i += 10) {
        const events = Array.from({ length: 10 }, () => nextEvent());
        const now = performance.now();
        for (const event of events) producedAt.set(event.id, now);
        await producer.send({
          topic,
          messages: events.map((event) => ({ key: event.id, value: JSON.stringify(event) })),
        });
        const due = begin + ((i + 10) / steadyRate) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
      await sleep(5_000);
      polling = false;
      await poller;
      socket.close();
      results.steady = {
        rate: steadyRate,
        seconds: steadySeconds,
        alerts: storedMs.length,
        storedP50Ms: percentile(storedMs, 50),
        storedP99Ms: percentile(storedMs, 99),
        websocketAlerts: wsMs.length,
        websocketP50Ms: percentile(wsMs, 50),
        websocketP99Ms: percentile(wsMs, 99),
      };
      log(`steady: ${JSON.stringify(results.steady)}`);
      await Promise.all(instances.map((instance) => instance.stop()));
      await db.drop();
    }

    // ── 2. highest sustained rate, 1, 2, 3 instances ─────────────────────────
    const throughput: Record<string, unknown>[] = [];
    for (const count of [1, 2, 3]) {
      const topic = await newTopic(`backlog${count}`);
      await produce(topic, backlog);
      const db = await freshSchema();
      const instances = await Promise.all(
        Array.from({ length: count }, () => startInstance(envFor(topic, db.url))),
      );
      let first: { at: number; n: number } | undefined;
      let last = { at: performance.now(), n: 0 };
      for (;;) {
        const n = await processed(instances);
        const at = performance.now();
        if (n > 0 && first === undefined) first = { at, n };
        last = { at, n };
        if (n >= backlog) break;
        await sleep(250);
      }
      const rate =
        first && last.at > first.at ? (last.n - first.n) / ((last.at - first.at) / 1000) : Number.NaN;
      const drainStart = performance.now();
      while ((await lagOf(admin, `${topic}-group.state`, `${topic}.matches`)) > 0) await sleep(250);
      const ownersDrainMs = performance.now() - drainStart;
      throughput.push({
        instances: count,
        eventsPerSecond: Math.round(rate),
        ownersDrainAfterMs: Math.round(ownersDrainMs),
      });
      log(
        `${count} instance(s): ${rate.toFixed(0)} events/s; owners drained ${ownersDrainMs.toFixed(0)} ms later`,
      );
      await Promise.all(instances.map((instance) => instance.stop()));
      await db.drop();
      await admin.deleteTopics({ topics: [topic, `${topic}.matches`] }).catch(() => undefined);
    }
    results.throughput = throughput;

    // ── 3. soak ──────────────────────────────────────────────────────────────
    {
      const topic = await newTopic('soak');
      const db = await freshSchema();
      const instance = await startInstance(envFor(topic, db.url));
      const samples: { events: number; rssMb: number }[] = [];
      let producedCount = 0;
      const feeding = (async () => {
        while (producedCount < soakEvents) {
          const n = Math.min(5_000, soakEvents - producedCount);
          await produce(topic, n);
          producedCount += n;
          // Stay ahead of the consumer without piling the whole soak into the broker at once.
          while (producedCount - (await processed([instance])) > 20_000) await sleep(500);
        }
      })();
      let nextSample = 0;
      for (;;) {
        const n = await processed([instance]);
        if (n >= nextSample) {
          samples.push({ events: n, rssMb: rssMb(instance.child.pid!) });
          log(`soak: ${n} events, RSS ${samples.at(-1)!.rssMb} MB`);
          nextSample += soakEvents / 10;
        }
        if (n >= soakEvents) break;
        await sleep(1_000);
      }
      await feeding;
      results.soak = { events: soakEvents, samples };
      await instance.stop();
      await db.drop();
    }

    results.totalSeconds = Math.round((performance.now() - startedAt) / 1000);
    console.log(JSON.stringify(results, null, 2));
    mkdirSync(join(benchDir, 'results'), { recursive: true });
    writeFileSync(join(benchDir, 'results', 'cluster.json'), `${JSON.stringify(results, null, 2)}\n`);
    log('wrote bench/results/cluster.json');
  } finally {
    await producer.disconnect();
    await admin.disconnect();
    rmSync(work, { recursive: true, force: true });
    await stopBroker();
  }
}

await main();
