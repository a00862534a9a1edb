/**
 * `npm run bench`: how matching cost grows with the rule count (shared/spec/architecture.md,
 * "What scale means here"). Deterministic workload (seeded briefs and analyst rules), one core.
 *
 * Reports the floor (parse + validate + analyse an event, no rules), then for 100 → 100,000
 * rules: compile time, Tocsin events/s (rule index + alert engine, alerts with explanations),
 * matches and alerts per event, json-rules-engine events/s on the same rules and events (time-
 * boxed), the ratio, and peak RSS. Writes bench/results/match.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createAlertEngine } from '../src/alerts/alert-engine.ts';
import { parseEvent } from '../src/ingest/parse-event.ts';
import { analyzeText } from '../src/rules/analyzer.ts';
import { compileRule } from '../src/rules/compile-rule.ts';
import { collectValues } from '../src/rules/event-analysis.ts';
import { defaultFields } from '../src/rules/query-ast.ts';
import { createRuleIndex } from '../src/rules/rule-index.ts';
import { createEventGenerator } from './generate-events.ts';
import { generateRules } from './generate-rules.ts';
import { createJsonRulesEngine } from './json-rules-engine-rules.ts';

// `npm run bench -- --sizes 100,1000 --events 1000` for a quick look.
const { values: args } = parseArgs({ options: { sizes: { type: 'string' }, events: { type: 'string' } } });
const ruleCounts = (args.sizes ?? '100,1000,10000,100000').split(',').map(Number);
const eventCount = Number(args.events ?? 4_000);
/** Time box per measurement: Tocsin runs over all events or this long, whichever is first. */
const tocsinBudgetMs = 8_000;
const jsonRulesEngineBudgetMs = 20_000;
const jsonRulesEngineMaxEvents = 2_000;
const warmupEvents = 300;

type SizeResult = {
  rules: number;
  compileMs: number;
  tocsin: { events: number; eventsPerSecond: number; matchesPerEvent: number; alertsPerEvent: number };
  jsonRulesEngine?: { events: number; eventsPerSecond: number; agreement: number } | { skipped: string };
  ratio?: number;
};

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rssMb = () => Math.round(process.memoryUsage().rss / 1048576);
const maxRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const log = (line: string) => process.stderr.write(`${line}\n`);

async function main() {
  const started = performance.now();
  log(`generating ${eventCount} briefs…`);
  const nextEvent = createEventGenerator(1);
  const lines = Array.from({ length: eventCount }, () => JSON.stringify(nextEvent()));
  const averageBytes = Math.round(lines.reduce((sum, line) => sum + line.length, 0) / lines.length);

  const floor = measureFloor(lines);
  log(`floor: ${floor.toFixed(0)} events/s (parse JSON, validate, analyse), ${averageBytes} bytes/event`);

  const results: SizeResult[] = [];
  let peakRssAtLargest = 0;
  for (const count of ruleCounts) {
    const rules = generateRules(count);
    gc();
    const compileStart = performance.now();
    const compiled = rules.map(({ input }) => compileRule(input, 'bench'));
    const matcher = createRuleIndex(compiled);
    const compileMs = performance.now() - compileStart;

    runTocsin(matcher, lines.slice(0, warmupEvents), Number.POSITIVE_INFINITY);
    const tocsin = runTocsin(matcher, lines, tocsinBudgetMs);
    if (count === ruleCounts.at(-1)) peakRssAtLargest = maxRssMb();
    log(
      `${count} rules: compile ${compileMs.toFixed(0)} ms, ${tocsin.eventsPerSecond.toFixed(0)} events/s, ` +
        `${tocsin.matchesPerEvent.toFixed(1)} matches and ${tocsin.alertsPerEvent.toFixed(1)} alerts per event, rss ${rssMb()} MB`,
    );
    results.push({ rules: count, compileMs, tocsin });
  }

  // json-rules-engine last, so its memory does not count in Tocsin's peak RSS.
  for (const result of results) {
    if (result.rules > 10_000 && results.some((r) => r.rules === 10_000)) {
      result.jsonRulesEngine = { skipped: 'hopeless: cost is linear in the rule count (see 10,000)' };
      const previous = results.find((r) => r.rules === 10_000)?.jsonRulesEngine;
      if (previous && 'eventsPerSecond' in previous) {
        result.jsonRulesEngine.skipped += `; extrapolated ≈ ${(previous.eventsPerSecond / 10).toPrecision(2)} events/s`;
      }
      continue;
    }
    gc();
    const jre = await runJsonRulesEngine(generateRules(result.rules), lines);
    result.jsonRulesEngine = jre;
    result.ratio = result.tocsin.eventsPerSecond / jre.eventsPerSecond;
    log(
      `${result.rules} rules: json-rules-engine ${jre.eventsPerSecond.toFixed(1)} events/s over ${jre.events} events, agreement ${(jre.agreement * 100).toFixed(1)}%`,
    );
  }

  printTable(floor, results, peakRssAtLargest);
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    events: { count: eventCount, averageBytes },
    floorEventsPerSecond: floor,
    sizes: results,
    peakRssMbAtLargest: peakRssAtLargest,
    targets: Object.fromEntries(targetsOf(results, peakRssAtLargest)),
    totalSeconds: (performance.now() - started) / 1000,
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/match.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote bench/results/match.json in ${report.totalSeconds.toFixed(0)} s`);
}

/** Parse JSON, validate, and analyse every string of the default fields: the cost of an event with no rules. */
function measureFloor(lines: string[]): number {
  let tokens = 0;
  const pass = () => {
    for (const line of lines) {
      const event = parseEvent(line);
      for (const field of defaultFields) {
        for (const value of collectValues(event, field).values) {
          if (typeof value === 'string') tokens += analyzeText(value).terms.length;
        }
      }
    }
  };
  pass();
  const start = performance.now();
  pass();
  void tokens;
  return lines.length / ((performance.now() - start) / 1000);
}

function runTocsin(matcher: ReturnType<typeof createRuleIndex>, lines: string[], budgetMs: number) {
  const engine = createAlertEngine(undefined, { trackChanges: false, dedupIds: true });
  let matches = 0;
  let alerts = 0;
  let events = 0;
  const start = performance.now();
  for (const line of lines) {
    const event = parseEvent(line);
    const matched = matcher.match(event);
    matches += matched.length;
    alerts += engine.process(event, matched).length;
    events += 1;
    if ((events & 63) === 0 && performance.now() - start > budgetMs) break;
  }
  const seconds = (performance.now() - start) / 1000;
  return {
    events,
    eventsPerSecond: events / seconds,
    matchesPerEvent: matches / events,
    alertsPerEvent: alerts / events,
  };
}

async function runJsonRulesEngine(rules: ReturnType<typeof generateRules>, lines: string[]) {
  const engine = createJsonRulesEngine(rules);
  const matcher = createRuleIndex(rules.map(({ input }) => compileRule(input, 'bench')));
  let events = 0;
  let agreeing = 0;
  let elapsed = 0;
  for (const line of lines.slice(0, jsonRulesEngineMaxEvents)) {
    const start = performance.now();
    const event = parseEvent(line);
    const fired = await engine.match(event);
    elapsed += performance.now() - start;
    events += 1;
    // Same rules, same answer? Checked outside the timing.
    if (
      sameSet(
        fired,
        matcher.match(event).map((match) => match.rule.id),
      )
    )
      agreeing += 1;
    if (elapsed > jsonRulesEngineBudgetMs) break;
  }
  return { events, eventsPerSecond: events / (elapsed / 1000), agreement: agreeing / events };
}

function sameSet(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((item) => set.has(item));
}

function printTable(floor: number, results: SizeResult[], peakRss: number) {
  const rows = [
    ['rules', 'compile ms', 'Tocsin ev/s', 'matches/ev', 'alerts/ev', 'json-rules-engine ev/s', 'ratio'],
    ...results.map((result) => {
      const jre = result.jsonRulesEngine;
      return [
        result.rules.toLocaleString('en-US'),
        result.compileMs.toFixed(0),
        result.tocsin.eventsPerSecond.toFixed(0),
        result.tocsin.matchesPerEvent.toFixed(2),
        result.tocsin.alertsPerEvent.toFixed(2),
        jre && 'eventsPerSecond' in jre ? `${jre.eventsPerSecond.toFixed(1)} (${jre.events} ev)` : 'skipped',
        result.ratio ? `${result.ratio.toFixed(0)}x` : '-',
      ];
    }),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const format = (row: string[]) => row.map((cell, column) => cell.padStart(widths[column]!)).join('  ');
  console.log(`\nfloor (0 rules: parse JSON + validate + analyse): ${floor.toFixed(0)} events/s`);
  console.log(format(rows[0]!));
  for (const row of rows.slice(1)) console.log(format(row));
  const perEvent = (count: number) =>
    1 / (results.find((r) => r.rules === count)?.tocsin.eventsPerSecond ?? Number.NaN);
  console.log(`cost per event 1k → 100k rules: ${(perEvent(100_000) / perEvent(1_000)).toFixed(1)}x`);
  const largest = results.at(-1)?.rules ?? 0;
  console.log(`peak RSS with ${largest.toLocaleString('en-US')} rules (the largest size run): ${peakRss} MB`);
  for (const [target, met] of targetsOf(results, peakRss))
    console.log(`${met === undefined ? 'n/a   ' : met ? 'met   ' : 'MISSED'} ${target}`);
  for (const result of results) {
    const jre = result.jsonRulesEngine;
    if (jre && 'skipped' in jre)
      console.log(`json-rules-engine at ${result.rules.toLocaleString('en-US')} rules: ${jre.skipped}`);
  }
}

/** The goals from the issue, for reporting; the bench never fails on them. */
function targetsOf(results: SizeResult[], peakRss: number): [string, boolean | undefined][] {
  const at = (count: number) => results.find((result) => result.rules === count);
  const rate = (count: number) => at(count)?.tocsin.eventsPerSecond;
  /** undefined (not measured) unless every size the target speaks of was run. */
  const when = (sizes: number[], test: () => boolean) =>
    sizes.every((size) => at(size)) ? test() : undefined;
  return [
    ['≥ 10,000 events/s at 10,000 rules', when([10_000], () => rate(10_000)! >= 10_000)],
    ['≥ 3,000 events/s at 100,000 rules', when([100_000], () => rate(100_000)! >= 3_000)],
    ['≥ 50x json-rules-engine at 10,000 rules', when([10_000], () => (at(10_000)!.ratio ?? 0) >= 50)],
    [
      '1,000 → 100,000 rules costs ≤ 6x per event',
      when([1_000, 100_000], () => rate(1_000)! / rate(100_000)! <= 6),
    ],
    ['100,000 rules compile in < 10 s', when([100_000], () => at(100_000)!.compileMs < 10_000)],
    ['< 1 GB RSS at 100,000 rules', when([100_000], () => peakRss > 0 && peakRss < 1024)],
  ];
}

await main();
