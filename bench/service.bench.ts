/**
 * `npm run bench:service`: the service's rate from Kafka to alerts stored, one instance
 * (SQLite), 10,000 rules by default, the same briefs as process.bench.ts.
 *
 * The events are produced first (2,000 to one topic, 20,000 to another, 4 partitions each);
 * then a fresh service process (`node --import tsx src/server.ts`, KAFKA_START_FROM=earliest)
 * consumes one topic, and the time from its start until `tocsin_events_processed_total` counts
 * every event is taken. rate = 18,000 / (T(20,000) − T(2,000)): start-up, rule loading and the
 * consumer group join cancel out. While it ingests, /metrics is scraped every 500 ms: each
 * scrape's `nodejs_eventloop_lag_p99_seconds` covers the time since the previous one, and the
 * largest of them is reported (the target: < 20 ms).
 *
 *   npm run bench:service -- --rules 1000 --runs 1
 *   KAFKA_BROKERS=127.0.0.1:9092   reuse a broker (else one is started, see scripts/kafka-broker.ts)
 *   --cpu-prof <dir>               profile each service process, every thread (bench/profile-diff.ts)
 *
 * Writes bench/results/service.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { createEventGenerator } from './generate-events.ts';
import { generateRules } from './generate-rules.ts';
import { benchBroker, sample, startServiceProcess } from './service-process.ts';

const { Kafka, logLevel, Partitioners } = kafkajs;
const { values: args } = parseArgs({
  options: {
    rules: { type: 'string' },
    runs: { type: 'string' },
    env: { type: 'string', multiple: true },
    'cpu-prof': { type: 'string' },
  },
});
const ruleCount = Number(args.rules ?? process.env.BENCH_SERVICE_RULES ?? 10_000);
const runs = Number(args.runs ?? process.env.BENCH_RUNS ?? 1);
/** Extra service variables, `--env TOCSIN_MATCH_WORKERS=2`. */
const extraEnv = Object.fromEntries((args.env ?? []).map((pair) => pair.split('=', 2) as [string, string]));
const small = 2_000;
const large = 20_000;
const benchDir = fileURLToPath(new URL('.', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);

type ServiceRun = { seconds: number; eventLoopP99MaxMs: number; eventLoopP99Ms: number[]; alerts: number };

async function consumeWithService(brokers: string, topic: string, count: number, rulesDir: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-bench-service-'));
  const started = performance.now();
  const profile = args['cpu-prof'];
  const service = await startServiceProcess(
    {
      TOCSIN_DATA_DIR: dataDir,
      TOCSIN_RULES_DIR: rulesDir,
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      KAFKA_GROUP_ID: `bench-${process.pid}-${topic}-${Date.now()}`,
      KAFKA_START_FROM: 'earliest',
      ...extraEnv,
    },
    // One file per thread (main, match workers, the module loader's): the largest is the main one.
    profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(profile, String(count))],
  );
  const p99s: number[] = [];
  try {
    for (;;) {
      const text = await service.metrics();
      if (text !== undefined) {
        const processed = sample(text, 'tocsin_events_processed_total', '{source="kafka"}') ?? 0;
        const p99 = sample(text, 'nodejs_eventloop_lag_p99_seconds');
        if (processed > 0 && p99 !== undefined) p99s.push(p99 * 1000);
        if (processed >= count) {
          const seconds = (performance.now() - started) / 1000;
          const alerts = text
            .split('\n')
            .filter((line) => line.startsWith('tocsin_alerts_emitted_total{'))
            .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
          return { seconds, eventLoopP99Ms: p99s, eventLoopP99MaxMs: Math.max(0, ...p99s), alerts };
        }
      }
      await sleep(500);
    }
  } finally {
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const startedAt = performance.now();
  const { brokers, stop: stopBroker } = await benchBroker();
  const work = mkdtempSync(join(tmpdir(), 'tocsin-bench-rules-'));
  try {
    const rulesDir = join(work, 'rules');
    mkdirSync(rulesDir);
    writeFileSync(
      join(rulesDir, 'bench.json'),
      JSON.stringify(generateRules(ruleCount).map(({ input }) => input)),
    );

    const kafka = new Kafka({
      clientId: 'tocsin-bench',
      brokers: brokers.split(','),
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await Promise.all([admin.connect(), producer.connect()]);
    const nextEvent = createEventGenerator(1);
    const lines = Array.from({ length: large }, () => JSON.stringify(nextEvent()));
    const topics: Record<number, string> = {
      [small]: `tocsin-bench-${process.pid}-${small}`,
      [large]: `tocsin-bench-${process.pid}-${large}`,
    };
    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 4, replicationFactor: 1 })),
    });
    log(`producing ${small} and ${large} briefs…`);
    for (const count of [small, large]) {
      for (let i = 0; i < count; i += 500) {
        await producer.send({
          topic: topics[count]!,
          messages: lines
            .slice(i, Math.min(count, i + 500))
            .map((value, j) => ({ key: String(i + j), value })),
        });
      }
    }
    await producer.disconnect();

    const results: { rate: number; short: ServiceRun; long: ServiceRun }[] = [];
    for (let run = 0; run < runs; run++) {
      const short = await consumeWithService(brokers, topics[small]!, small, rulesDir);
      const long = await consumeWithService(brokers, topics[large]!, large, rulesDir);
      const rate = (large - small) / (long.seconds - short.seconds);
      results.push({ rate, short, long });
      log(
        `run ${run + 1}: ${rate.toFixed(0)} events/s (T(${small}) ${short.seconds.toFixed(1)} s, T(${large}) ${long.seconds.toFixed(1)} s), ` +
          `${(long.alerts / large).toFixed(2)} alerts/event, event-loop delay p99 per 500 ms scrape: max ${long.eventLoopP99MaxMs.toFixed(1)} ms`,
      );
    }
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.disconnect();

    const rates = results.map((result) => result.rate).sort((a, b) => a - b);
    const rate = rates[rates.length >> 1]!;
    const loopP99 = Math.max(...results.map((result) => result.long.eventLoopP99MaxMs));
    console.log(
      `\nservice, Kafka → alerts stored (SQLite, one instance, ${ruleCount.toLocaleString('en-US')} rules)`,
    );
    console.log(
      `rate = ${large - small} / (T(${large}) − T(${small})): ${rate.toFixed(0)} events/s (median of ${runs})`,
    );
    console.log(`event-loop delay p99 (largest 500 ms window while ingesting): ${loopP99.toFixed(1)} ms`);
    console.log(
      `${rate >= 5_000 ? 'met   ' : 'MISSED'} ≥ 5,000 events/s, 10k rules, one instance on 2 cores`,
    );
    console.log(`${loopP99 < 20 ? 'met   ' : 'MISSED'} event-loop delay p99 < 20 ms under that load`);
    mkdirSync(join(benchDir, 'results'), { recursive: true });
    writeFileSync(
      join(benchDir, 'results', 'service.json'),
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          rules: ruleCount,
          env: extraEnv,
          eventsPerSecond: rate,
          eventLoopP99MaxMs: loopP99,
          runs: results,
          totalSeconds: (performance.now() - startedAt) / 1000,
        },
        null,
        2,
      )}\n`,
    );
    log('wrote bench/results/service.json');
  } finally {
    rmSync(work, { recursive: true, force: true });
    await stopBroker();
  }
}

await main();
