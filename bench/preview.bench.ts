/**
 * `npm run bench:preview` (part of `npm run bench`): one rule preview over a full preview ring.
 *
 * Fills a SQLite store (temp dir) with `--events` generated briefs (default 50,000, the
 * default TOCSIN_PREVIEW_EVENTS) through `previewEvents.append` in ingest-sized batches, then
 * times `previewStoredEvents` (what `POST /v1/rules/preview` runs: the ring streamed page by page,
 * events the rule's presearch rules out counted without being inflated) for a
 * plain rule, a threshold rule with groupBy and throttle, and a broad rule that matches most
 * briefs. Each is run `--runs` times; the median and the slowest are reported. Writes
 * bench/results/preview.json.
 *
 *   npm run bench:preview -- --events 50000 --runs 3 [--data-dir /dev/shm]
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { RulePreview } from '../src/alerts/rule-preview.ts';
import { previewStoredEvents } from '../src/http/routes/rule-preview-routes.ts';
import type { IntelEvent } from '../src/ingest/event-schema.ts';
import { compileRule } from '../src/rules/compile-rule.ts';
import { createStore, sqliteFileName } from '../src/store/create-store.ts';
import { createEventGenerator } from './generate-events.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    runs: { type: 'string', default: '3' },
    'data-dir': { type: 'string' },
  },
});
const total = Number(args.events);
const runs = Number(args.runs);

const rules = [
  { id: 'plain', name: 'Plain', query: '"rare earth" OR (lithium AND export*)' },
  {
    id: 'threshold',
    name: 'Threshold',
    query: 'copper OR nickel',
    threshold: { count: 3, within: '6h', groupBy: 'source.name' },
    throttle: '1h',
  },
  { id: 'broad', name: 'Broad', query: 'the OR of OR and' },
].map((document) => compileRule(document, 'bench'));

const dir = mkdtempSync(join(args['data-dir'] ?? tmpdir(), 'tocsin-preview-bench-'));
const store = createStore({ dataDir: dir, secret: 'bench-server-secret-0123456789' });
try {
  await store.migrate();
  const next = createEventGenerator(7);
  const fillStart = performance.now();
  for (let done = 0; done < total; ) {
    const batch: IntelEvent[] = [];
    for (let i = 0; i < 500 && done < total; i++, done++) batch.push(next() as IntelEvent);
    await store.previewEvents.append(batch, { capacity: total });
  }
  const fillMs = performance.now() - fillStart;
  const bytes = statSync(join(dir, sqliteFileName)).size;
  console.log(
    `preview ring: ${total.toLocaleString('en')} briefs stored in ${(fillMs / 1000).toFixed(1)} s, ` +
      `database ${(bytes / 1024 ** 2).toFixed(0)} MB`,
  );

  const results = [];
  for (const rule of rules) {
    const times: number[] = [];
    const cpuTimes: number[] = [];
    let last: RulePreview | undefined;
    for (let run = 0; run < runs; run++) {
      const start = performance.now();
      const cpu = process.cpuUsage();
      last = await previewStoredEvents(rule, store.previewEvents, {}, { alertLimit: 1_000 });
      times.push(performance.now() - start);
      const used = process.cpuUsage(cpu);
      cpuTimes.push((used.user + used.system) / 1000);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    const max = times[times.length - 1]!;
    // On a shared machine the wall time includes waiting for a core; the CPU time does not.
    const cpuMedian = cpuTimes.sort((a, b) => a - b)[Math.floor(cpuTimes.length / 2)]!;
    results.push({
      rule: rule.id,
      query: rule.definition.query,
      scanned: last!.scannedEvents,
      matched: last!.matchedEvents,
      alerts: last!.alertCount,
      medianMs: Math.round(median),
      maxMs: Math.round(max),
      cpuMedianMs: Math.round(cpuMedian),
    });
    console.log(
      `preview ${rule.id.padEnd(9)} ${last!.scannedEvents} briefs, ${last!.matchedEvents} matched, ` +
        `${last!.alertCount} alerts: median ${median.toFixed(0)} ms (CPU ${cpuMedian.toFixed(0)} ms), slowest ${max.toFixed(0)} ms (target < 1000 ms)`,
    );
  }
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/preview.json',
    `${JSON.stringify({ events: total, runs, databaseBytes: bytes, fillMs: Math.round(fillMs), results }, null, 2)}\n`,
  );
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
