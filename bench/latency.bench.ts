/**
 * `npm run bench:latency`: what a trading desk feels — from the produce call of a brief to the
 * signed webhook received, one service instance, a catch-all rule with one webhook
 * subscription, briefs produced one at a time (one `send` each, not awaited in turn) at a
 * steady rate to a 4-partition topic, received on loopback by an HTTP server in this process.
 *
 * For each store (SQLite; PostgreSQL when one answers) and each rate (`--rates`, default
 * 500,2000 events/s), `--seconds` (default 10) of steady load after a 2 s warm-up; p50, p90, p99
 * and max of the deliveries of the measured briefs (each brief's alert carries its id).
 *
 *   npm run bench:latency -- --rates 100,500 --seconds 5 --stores sqlite
 *   KAFKA_BROKERS=127.0.0.1:9092   reuse a broker (else one is started)
 *   --env TOCSIN_MATCH_WORKERS=1   extra service variables
 *   --cpu-prof <dir>               profile each service process (bench/profile-diff.ts reads them)
 *
 * Writes bench/results/latency.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createEventGenerator } from './generate-events.ts';
import { benchApiKey, benchBroker, type ServiceProcess, startServiceProcess } from './service-process.ts';

const { Kafka, logLevel, Partitioners } = kafkajs;
const { values: args } = parseArgs({
  options: {
    rates: { type: 'string' },
    seconds: { type: 'string' },
    stores: { type: 'string' },
    env: { type: 'string', multiple: true },
    'cpu-prof': { type: 'string' },
  },
});
const rates = (args.rates ?? '500,2000').split(',').map(Number);
const seconds = Number(args.seconds ?? 10);
const warmupSeconds = 2;
const stores = (args.stores ?? 'sqlite,postgres').split(',');
const extraEnv = Object.fromEntries((args.env ?? []).map((pair) => pair.split('=', 2) as [string, string]));
const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const targets: Record<number, number> = { 500: 25, 2000: 50 };

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);

type Result = {
  store: string;
  rate: number;
  produced: number;
  measured: number;
  received: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
};

/** The receiver: the time each brief's alert arrived, by event id. */
async function startReceiver() {
  const arrivals = new Map<string, number>();
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const at = performance.now();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: { eventIds?: string[] } };
        for (const id of body.data?.eventIds ?? []) if (!arrivals.has(id)) arrivals.set(id, at);
      } catch {
        // Not ours to judge: count nothing.
      }
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    arrivals,
    close: () => new Promise((done) => server.close(done)),
  };
}

async function api(service: ServiceProcess, path: string, body: unknown): Promise<{ id: string }> {
  const response = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${benchApiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as { id: string };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function runOne(brokers: string, store: string, rate: number, rulesDir: string): Promise<Result> {
  const kafka = new Kafka({
    clientId: 'tocsin-bench-latency',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await Promise.all([admin.connect(), producer.connect()]);
  const topic = `tocsin-latency-${process.pid}-${store}-${rate}`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: 4, replicationFactor: 1 }],
  });

  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-bench-latency-'));
  const schema = `tocsin_latency_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    TOCSIN_DATA_DIR: dataDir,
    TOCSIN_RULES_DIR: rulesDir,
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: topic,
    KAFKA_DLQ_TOPIC: `${topic}.dlq`,
    KAFKA_GROUP_ID: `${topic}-group`,
    KAFKA_START_FROM: 'latest',
    TOCSIN_WEBHOOK_ALLOWLIST: '127.0.0.1',
    TOCSIN_RATE_LIMIT: '0',
    TOCSIN_PREVIEW_EVENTS: '0',
    ...extraEnv,
  };
  if (store === 'postgres') {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`create schema "${schema}"`);
    await client.end();
    const url = new URL(postgresUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    env.DATABASE_URL = url.toString();
  }
  const receiver = await startReceiver();
  const profile = args['cpu-prof'];
  const service = await startServiceProcess(
    env,
    profile === undefined
      ? []
      : // One file per thread (main, match workers, the module loader's): the largest is the main one.
        ['--cpu-prof', '--cpu-prof-dir', join(profile, `${store}-${rate}`)],
  );
  try {
    await service.ready();
    const endpoint = await api(service, '/v1/webhooks', { url: receiver.url });
    const subscriber = await api(service, '/v1/subscribers', { name: 'Latency desk' });
    await api(service, '/v1/subscriptions', {
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
      ruleIds: ['catch-all'],
    });
    // The consumer joins its group after /readyz: wait until a probe brief comes through.
    const nextEvent = createEventGenerator(7);
    const probeId = `probe-${topic}`;
    for (let attempt = 0; !receiver.arrivals.has(probeId); attempt++) {
      if (attempt % 20 === 0)
        await producer.send({
          topic,
          messages: [{ key: probeId, value: JSON.stringify({ ...nextEvent(), id: probeId }) }],
        });
      if (attempt > 600) throw new Error('the probe brief never arrived');
      await sleep(100);
    }

    const total = Math.round(rate * (warmupSeconds + seconds));
    const warmup = Math.round(rate * warmupSeconds);
    const briefs = Array.from({ length: total }, () => nextEvent());
    const sentAt = new Map<string, number>();
    const sends: Promise<unknown>[] = [];
    const started = performance.now();
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const brief = briefs[i]!;
      if (i >= warmup) sentAt.set(brief.id, performance.now());
      sends.push(
        producer.send({ topic, acks: -1, messages: [{ key: brief.id, value: JSON.stringify(brief) }] }),
      );
    }
    await Promise.all(sends);
    const deadline = performance.now() + 30_000;
    while (performance.now() < deadline && [...sentAt.keys()].some((id) => !receiver.arrivals.has(id)))
      await sleep(200);

    const latencies: number[] = [];
    for (const [id, at] of sentAt) {
      const arrived = receiver.arrivals.get(id);
      if (arrived !== undefined) latencies.push(arrived - at);
    }
    latencies.sort((a, b) => a - b);
    return {
      store,
      rate,
      produced: total,
      measured: sentAt.size,
      received: latencies.length,
      p50: percentile(latencies, 0.5),
      p90: percentile(latencies, 0.9),
      p99: percentile(latencies, 0.99),
      max: latencies.at(-1) ?? Number.NaN,
    };
  } finally {
    await service.stop();
    await receiver.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await Promise.all([admin.disconnect(), producer.disconnect()]);
    rmSync(dataDir, { recursive: true, force: true });
    if (store === 'postgres') {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    }
  }
}

async function postgresAnswers(): Promise<boolean> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const { brokers, stop: stopBroker } = await benchBroker();
  const work = mkdtempSync(join(tmpdir(), 'tocsin-bench-latency-rules-'));
  try {
    const rulesDir = join(work, 'rules');
    mkdirSync(rulesDir);
    writeFileSync(
      join(rulesDir, 'catch-all.yaml'),
      'id: catch-all\nname: Every brief\nseverity: info\nquery: _exists_:title\n',
    );
    const results: Result[] = [];
    for (const store of stores) {
      if (store === 'postgres' && !(await postgresAnswers())) {
        log(`no PostgreSQL at ${postgresUrl}: skipping it`);
        continue;
      }
      for (const rate of rates) {
        log(`${store}, ${rate} events/s for ${seconds} s…`);
        const result = await runOne(brokers, store, rate, rulesDir);
        results.push(result);
        log(
          `  p50 ${result.p50.toFixed(1)} ms, p90 ${result.p90.toFixed(1)}, p99 ${result.p99.toFixed(1)}, max ${result.max.toFixed(1)} (${result.received}/${result.measured} received)`,
        );
      }
    }
    console.log(
      '\nKafka produce → signed webhook received, one instance, a catch-all rule, one subscription',
    );
    console.log(' store     events/s  p50 ms  p90 ms  p99 ms  max ms  received');
    for (const r of results) {
      const target = targets[r.rate];
      const verdict =
        target === undefined
          ? ''
          : r.p99 <= target
            ? `  met    p99 ≤ ${target} ms`
            : `  MISSED p99 ≤ ${target} ms`;
      console.log(
        ` ${r.store.padEnd(9)} ${String(r.rate).padStart(8)} ${r.p50.toFixed(1).padStart(7)} ${r.p90.toFixed(1).padStart(7)} ${r.p99.toFixed(1).padStart(7)} ${r.max.toFixed(1).padStart(7)}  ${r.received}/${r.measured}${verdict}`,
      );
    }
    mkdirSync(join(benchDir, 'results'), { recursive: true });
    writeFileSync(
      join(benchDir, 'results', 'latency.json'),
      `${JSON.stringify({ date: new Date().toISOString(), node: process.version, env: extraEnv, seconds, results }, null, 2)}\n`,
    );
    log('wrote bench/results/latency.json');
  } finally {
    rmSync(work, { recursive: true, force: true });
    await stopBroker();
  }
}

await main();
