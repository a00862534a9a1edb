/**
 * `npm run bench:process`: the whole `tocsin match` process, the way a user runs it (read the
 * file, parse, validate, match, decide, write the alerts), as opposed to match.bench.ts's loop
 * inside one process.
 *
 * rate = 18,000 / (T(20,000 events) − T(2,000 events)): process start-up, module loading and
 * rule compilation are in both runs and cancel out. Each size runs `--runs` times (default 3)
 * and the median rate is reported, with alerts per event and the peak RSS of the 20,000-event
 * run (GNU time). The floor is the same measure of a process that reads, parses, validates and
 * analyses every event with no rules (bench/process-entry.ts). Pinned to one core with taskset
 * (`--pin 0`, the default; `--pin none` to let it float).
 *
 *   npm run bench:process -- --sizes 1000,10000 --runs 1      a quick look
 *   BENCH_SIZES=1000 npm run bench                            the same subset for every bench
 *   --save-output <dir>   keep each size's alerts (20,000 events) as <dir>/match-<rules>.jsonl
 *   --workers <n>         pass `--workers n` to tocsin match (with --pin, pins to n cores)
 *   --cpu-prof <dir>      one extra 20,000-event run per size under `node --cpu-prof`
 *
 * Writes bench/results/process.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createEventGenerator } from './generate-events.ts';
import { generateRules } from './generate-rules.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string' },
    runs: { type: 'string' },
    pin: { type: 'string' },
    'save-output': { type: 'string' },
    workers: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'no-floor': { type: 'boolean', default: false },
  },
});
const ruleCounts = (args.sizes ?? process.env.BENCH_SIZES ?? '1000,10000,100000').split(',').map(Number);
const runs = Number(args.runs ?? process.env.BENCH_RUNS ?? 3);
const workers = args.workers === undefined ? undefined : Number(args.workers);
const small = 2_000;
const large = 20_000;

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(benchDir, '..');
const dataDir = join(benchDir, 'data');
const entry = join(benchDir, 'process-entry.ts');
const log = (line: string) => process.stderr.write(`${line}\n`);

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
const hasGnuTime = existsSync('/usr/bin/time');
const pinCpus = (() => {
  if (args.pin === 'none' || !hasTaskset) return undefined;
  const first = Number(args.pin ?? 0);
  return Array.from({ length: workers ?? 1 }, (_, i) => first + i).join(',');
})();

/** `seconds` of wall time; `cpuSeconds` user + system of the process (GNU time), which the other processes of a busy machine disturb far less. */
type Run = { seconds: number; cpuSeconds?: number; peakRssMb?: number; outputLines: number };

/** Runs one process; stdout is counted (or saved), stderr kept for failures. */
function runProcess(nodeArgs: string[], saveTo?: string): Promise<Run> {
  const timeFile = join(dataDir, `time-${process.pid}.txt`);
  let command = process.execPath;
  let commandArgs = nodeArgs;
  if (hasGnuTime) {
    commandArgs = ['-f', '%M %U %S', '-o', timeFile, command, ...commandArgs];
    command = '/usr/bin/time';
  }
  if (pinCpus !== undefined) {
    commandArgs = ['-c', pinCpus, command, ...commandArgs];
    command = 'taskset';
  }
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(command, commandArgs, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let stderr = '';
    const saved: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      if (saveTo) saved.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) {
        reject(new Error(`${commandArgs.join(' ')} exited with ${code}\n${stderr.slice(-2_000)}`));
        return;
      }
      if (saveTo) writeFileSync(saveTo, Buffer.concat(saved));
      let peakRssMb: number | undefined;
      let cpuSeconds: number | undefined;
      if (hasGnuTime) {
        const [rssKb, user, system] = readFileSync(timeFile, 'utf8')
          .trim()
          .split('\n')
          .at(-1)!
          .split(' ')
          .map(Number);
        peakRssMb = Math.round(rssKb! / 1024);
        cpuSeconds = user! + system!;
        rmSync(timeFile, { force: true });
      }
      resolvePromise({ seconds, cpuSeconds, peakRssMb, outputLines: lines });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The events files, generated once (seed 1, the briefs of match.bench.ts): 2,000 and 20,000 lines. */
function eventFiles(): { small: string; large: string; averageBytes: number } {
  const smallFile = join(dataDir, `events-${small}.jsonl`);
  const largeFile = join(dataDir, `events-${large}.jsonl`);
  if (!existsSync(largeFile) || !existsSync(smallFile)) {
    log(`generating ${large} briefs…`);
    const nextEvent = createEventGenerator(1);
    const lines = Array.from({ length: large }, () => JSON.stringify(nextEvent()));
    writeFileSync(largeFile, `${lines.join('\n')}\n`);
    writeFileSync(smallFile, `${lines.slice(0, small).join('\n')}\n`);
  }
  const text = readFileSync(largeFile, 'utf8');
  return { small: smallFile, large: largeFile, averageBytes: Math.round(text.length / large) };
}

/** The bench's rules for a size as one JSON rule file (a list), written once. */
function rulesFile(count: number): string {
  const file = join(dataDir, `rules-${count}.json`);
  if (!existsSync(file)) writeFileSync(file, JSON.stringify(generateRules(count).map(({ input }) => input)));
  return file;
}

/**
 * `eventsPerSecond` from wall time (the issue's measure, right on a quiet machine);
 * `cpuEventsPerSecond` from the processes' CPU time, the better estimate on a shared one.
 */
type Measure = {
  eventsPerSecond: number;
  rates: number[];
  cpuEventsPerSecond?: number;
  cpuRates: number[];
  peakRssMb?: number;
  alertsPerEvent?: number;
};

/** `runs` pairs of (2,000, 20,000)-event runs; the median of their rates. */
async function measure(
  makeArgs: (events: string) => string[],
  files: ReturnType<typeof eventFiles>,
  saveTo?: string,
) {
  const rates: number[] = [];
  const cpuRates: number[] = [];
  let peakRssMb: number | undefined;
  let outputLines = 0;
  for (let run = 0; run < runs; run++) {
    const short = await runProcess(makeArgs(files.small));
    const long = await runProcess(makeArgs(files.large), run === 0 ? saveTo : undefined);
    rates.push((large - small) / (long.seconds - short.seconds));
    if (long.cpuSeconds !== undefined && short.cpuSeconds !== undefined)
      cpuRates.push((large - small) / (long.cpuSeconds - short.cpuSeconds));
    peakRssMb = Math.max(peakRssMb ?? 0, long.peakRssMb ?? 0) || undefined;
    outputLines = long.outputLines;
  }
  const cpuEventsPerSecond = cpuRates.length > 0 ? median(cpuRates) : undefined;
  return {
    eventsPerSecond: median(rates),
    rates,
    cpuEventsPerSecond,
    cpuRates,
    peakRssMb,
    outputLines,
  } satisfies Measure & {
    outputLines: number;
  };
}

async function main() {
  mkdirSync(dataDir, { recursive: true });
  const started = performance.now();
  const files = eventFiles();
  const pinned = pinCpus === undefined ? 'not pinned' : `pinned to cpu ${pinCpus}`;
  log(`tocsin match, whole process, ${pinned}, ${runs} run(s) per size, ${files.averageBytes} bytes/event`);
  const loadAverage = (() => {
    try {
      return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    } catch {
      return 'unknown';
    }
  })();
  log(`load average before: ${loadAverage} (a shared machine makes every number here noisy)`);

  let floor: Measure | undefined;
  if (!args['no-floor']) {
    const result = await measure((events) => ['--import', 'tsx', entry, 'floor', events], files);
    floor = result;
    log(`floor (read + parse + validate + analyse, no rules): ${rateText(result)}`);
  }

  const saveDir = args['save-output'] ? resolve(args['save-output']) : undefined;
  if (saveDir) mkdirSync(saveDir, { recursive: true });
  const sizes: (Measure & { rules: number })[] = [];
  for (const count of ruleCounts) {
    const rules = rulesFile(count);
    const matchArgs = (events: string) => [
      '--import',
      'tsx',
      entry,
      'match',
      '--rules',
      rules,
      '--events',
      events,
      ...(workers === undefined ? [] : ['--workers', String(workers)]),
    ];
    const result = await measure(matchArgs, files, saveDir && join(saveDir, `match-${count}.jsonl`));
    const alertsPerEvent = result.outputLines / large;
    sizes.push({ rules: count, ...result, alertsPerEvent });
    log(
      `${count} rules: ${rateText(result)}, ` +
        `${alertsPerEvent.toFixed(2)} alerts/event, peak RSS ${result.peakRssMb ?? '?'} MiB`,
    );
    if (args['cpu-prof']) {
      const profileDir = resolve(args['cpu-prof']);
      mkdirSync(profileDir, { recursive: true });
      const profArgs = (events: string, name: string) => [
        '--cpu-prof',
        '--cpu-prof-dir',
        profileDir,
        '--cpu-prof-name',
        name,
        ...matchArgs(events),
      ];
      await runProcess(profArgs(files.small, `match-${count}-${small}.cpuprofile`));
      await runProcess(profArgs(files.large, `match-${count}-${large}.cpuprofile`));
      log(`  profiles in ${profileDir}/match-${count}-{${small},${large}}.cpuprofile`);
    }
  }

  printTable(floor, sizes);
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    pinned: pinCpus ?? null,
    workers: workers ?? null,
    loadAverageBefore: loadAverage,
    events: { small, large, averageBytes: files.averageBytes },
    floor: floor ?? null,
    sizes,
    targets: Object.fromEntries(targetsOf(sizes)),
    totalSeconds: (performance.now() - started) / 1000,
  };
  mkdirSync(join(benchDir, 'results'), { recursive: true });
  writeFileSync(join(benchDir, 'results', 'process.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote bench/results/process.json in ${report.totalSeconds.toFixed(0)} s`);
}

function rateText(result: Measure): string {
  const list = (rates: number[]) => rates.map((rate) => rate.toFixed(0)).join(', ');
  const cpu =
    result.cpuEventsPerSecond === undefined
      ? ''
      : `, by CPU time ${result.cpuEventsPerSecond.toFixed(0)} (${list(result.cpuRates)})`;
  return `${result.eventsPerSecond.toFixed(0)} events/s by wall time (${list(result.rates)})${cpu}`;
}

function printTable(floor: Measure | undefined, sizes: (Measure & { rules: number })[]) {
  console.log(
    `\ntocsin match, whole process: rate = ${large - small} / (T(${large}) − T(${small})), median of ${runs}`,
  );
  if (floor) console.log(`floor (0 rules: read + parse + validate + analyse): ${rateText(floor)}`);
  const rows = [
    ['rules', 'events/s (wall)', 'events/s (CPU time)', 'alerts/event', 'peak RSS MiB'],
    ...sizes.map((size) => [
      size.rules.toLocaleString('en-US'),
      size.eventsPerSecond.toFixed(0),
      size.cpuEventsPerSecond?.toFixed(0) ?? '?',
      (size.alertsPerEvent ?? 0).toFixed(2),
      String(size.peakRssMb ?? '?'),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) console.log(row.map((cell, column) => cell.padStart(widths[column]!)).join('  '));
  for (const [target, met] of targetsOf(sizes))
    console.log(`${met === undefined ? 'n/a   ' : met ? 'met   ' : 'MISSED'} ${target}`);
}

/** The targets for one core; undefined when the size was not run (or with workers). */
function targetsOf(sizes: (Measure & { rules: number })[]): [string, boolean | undefined][] {
  const at = (count: number) =>
    workers === undefined ? sizes.find((size) => size.rules === count) : undefined;
  const rate = (count: number) => at(count)?.eventsPerSecond;
  const check = (count: number, test: (value: number) => boolean) => {
    const value = rate(count);
    return value === undefined ? undefined : test(value);
  };
  const rss = at(100_000)?.peakRssMb;
  return [
    ['≥ 10,000 events/s at 1,000 rules (one core)', check(1_000, (value) => value >= 10_000)],
    ['≥ 6,000 events/s at 10,000 rules (one core)', check(10_000, (value) => value >= 6_000)],
    ['≥ 1,500 events/s at 100,000 rules (one core)', check(100_000, (value) => value >= 1_500)],
    ['peak RSS ≤ 800 MB at 100,000 rules', rss === undefined ? undefined : rss * 1.048576 <= 800],
  ];
}

await main();
