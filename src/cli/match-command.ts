import { once } from 'node:events';
import { createReadStream, fstatSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createAlertEngine } from '../alerts/alert-engine.ts';
import { alertOutput } from '../alerts/alert-output.ts';
import { isAppError } from '../errors.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import { parseEvent } from '../ingest/parse-event.ts';
import type { RuleMatch } from '../rules/compiled-rule.ts';
import { loadRules } from '../rules/load-rules.ts';
import { createMatchPool, type MatchResult } from '../rules/match-pool.ts';
import { createRuleIndex } from '../rules/rule-index.ts';
import { type CliIo, type Command, exitCodes, UsageError } from './command.ts';
import { createProgress } from './progress.ts';
import { reportRuleErrors } from './rule-errors.ts';

/**
 * `tocsin match`: offline evaluation of rules over a JSON Lines file of events, through the same
 * matcher and alert engine as the service (shared/spec/contracts.md, `tocsin match`).
 *
 * Memory: events are read line by line and forgotten once matched; what stays is the alert
 * engine's dedup ledger and threshold/throttle state, plus at most one output chunk.
 */
const usage = `Usage: tocsin match --rules <file-or-dir> --events <file.jsonl | -> [--include-suppressed]
                    [--workers <n>] [--budget-ms <ms>]

  --rules <path>          a rule file, or a directory of *.yaml, *.yml, *.json rule files
  --events <path | ->     events as JSON Lines; - reads standard input
  --include-suppressed    also print alerts a throttle suppressed, with "suppressed": true
  --workers <n>           parse and match on n worker threads (default: this thread only);
                          the output is the same as with one thread
  --budget-ms <ms>        with --workers: an event whose matching takes longer is skipped and
                          reported as a bad line (default 1000)

Prints one JSON object per alert on stdout, in firing order. Bad event lines are reported on
stderr as <file>:<line>: <reason> and skipped. Exit status: 0 every line was a valid event,
1 some lines were rejected, 2 a usage error or an invalid rule (nothing is evaluated).
`;

const options = {
  rules: { type: 'string' },
  events: { type: 'string' },
  'include-suppressed': { type: 'boolean', default: false },
  workers: { type: 'string' },
  'budget-ms': { type: 'string' },
} as const;

/** Non-blank lines handed to the worker pool at once, and requests in flight per worker. */
const poolChunk = 256;
const inFlightPerWorker = 2;

/** Bytes of alert output gathered before one write to stdout. */
const outputChunk = 1 << 16;
/** Lines between two progress updates. */
const progressEvery = 256;

export const matchCommand: Command = {
  summary: 'evaluate rules over a JSON Lines file of events and print the alerts',
  usage,
  async run(args: string[], io: CliIo): Promise<number> {
    const { rulesPath, eventsPath, includeSuppressed, workers, budgetMs } = parseOptions(args);
    // Check the events input before the rules are compiled: a typo in a path fails fast.
    const size = await sizeOfEvents(eventsPath);

    let rules: Awaited<ReturnType<typeof loadRules>>;
    try {
      rules = await loadRules(rulesPath);
    } catch (error) {
      return reportRuleErrors(error, rulesPath, io);
    }
    const pool = workers === undefined ? undefined : createMatchPool({ rules, workers, budgetMs });
    const matcher = pool === undefined ? createRuleIndex(rules) : undefined;
    const engine = createAlertEngine(undefined, { trackChanges: false, dedupIds: true });

    const input: Readable = eventsPath === '-' ? io.stdin : createReadStream(eventsPath);
    const progress = createProgress(io.stderr, size);
    let bytes = 0;
    if (io.stderr.isTTY) input.on('data', (chunk: Buffer | string) => (bytes += chunk.length));

    let lineNumber = 0;
    let events = 0;
    let alerts = 0;
    let rejected = 0;
    let output = '';
    const reject = (at: number, message: string) => {
      rejected += 1;
      progress.log(`${eventsPath}:${at}: ${message}`);
    };
    const decide = (event: IntelEvent, matches: RuleMatch[]) => {
      events += 1;
      for (const alert of engine.process(event, matches)) {
        if (alert.suppressed && !includeSuppressed) continue;
        alerts += 1;
        output += `${JSON.stringify(alertOutput(alert))}\n`;
      }
    };
    const flush = async () => {
      if (output.length < outputChunk) return;
      const flushed = io.stdout.write(output);
      output = '';
      if (!flushed) await once(io.stdout, 'drain');
    };
    // With workers: chunks of lines go to the pool, and their results are decided in input order.
    const inFlight: { lineNumbers: number[]; results: Promise<MatchResult[]> }[] = [];
    let chunk: string[] = [];
    let chunkLines: number[] = [];
    const settleOldest = async () => {
      const { lineNumbers, results } = inFlight.shift()!;
      (await results).forEach((result, i) => {
        if (result.kind === 'invalid') reject(lineNumbers[i]!, result.message);
        else if (result.kind === 'over_budget')
          reject(lineNumbers[i]!, `matching took over ${result.budgetMs} ms (--budget-ms); skipped`);
        else if (result.event === undefined) events += 1;
        else decide(result.event, result.matches);
      });
      await flush();
    };
    const submitChunk = async () => {
      if (chunk.length === 0) return;
      const results = pool!.matchLines(chunk);
      // Awaited in order below; a failure while an earlier chunk is decided must not go unhandled.
      results.catch(() => undefined);
      inFlight.push({ lineNumbers: chunkLines, results });
      chunk = [];
      chunkLines = [];
      if (inFlight.length > inFlightPerWorker * workers!) await settleOldest();
    };
    try {
      for await (const raw of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
        lineNumber += 1;
        const line = lineNumber === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
        if (line.trim() === '') continue;
        if (pool !== undefined) {
          chunk.push(line);
          chunkLines.push(lineNumber);
          if (chunk.length >= poolChunk) await submitChunk();
        } else {
          let event: IntelEvent;
          try {
            event = parseEvent(line);
          } catch (error) {
            if (!isAppError(error, 'TOCSIN_INVALID_EVENT')) throw error;
            reject(lineNumber, error.message);
            continue;
          }
          decide(event, matcher!.match(event));
          await flush();
        }
        if (lineNumber % progressEvery === 0) progress.update({ bytes, events, alerts });
      }
      if (pool !== undefined) {
        await submitChunk();
        while (inFlight.length > 0) await settleOldest();
      }
      if (output) io.stdout.write(output);
    } finally {
      progress.update({ bytes, events, alerts });
      progress.stop();
      await pool?.close();
    }
    return rejected > 0 ? exitCodes.rejectedInput : exitCodes.ok;
  },
};

function parseOptions(args: string[]) {
  let values: {
    rules?: string;
    events?: string;
    'include-suppressed'?: boolean;
    workers?: string;
    'budget-ms'?: string;
  };
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.rules) throw new UsageError('--rules <file-or-dir> is required');
  if (!values.events) throw new UsageError('--events <file.jsonl | -> is required');
  const workers = values.workers === undefined ? undefined : positiveInteger('--workers', values.workers);
  if (values['budget-ms'] !== undefined && workers === undefined)
    throw new UsageError('--budget-ms needs --workers (matching on this thread cannot be interrupted)');
  return {
    rulesPath: values.rules,
    eventsPath: values.events,
    includeSuppressed: values['include-suppressed'] ?? false,
    workers,
    budgetMs: values['budget-ms'] === undefined ? 1_000 : positiveInteger('--budget-ms', values['budget-ms']),
  };
}

function positiveInteger(option: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1)
    throw new UsageError(`${option} must be a positive integer, got '${text}'`);
  return value;
}

/** The size in bytes of the events input when known (a file, or stdin redirected from one). */
async function sizeOfEvents(path: string): Promise<number | undefined> {
  if (path === '-') {
    try {
      const stats = fstatSync(0);
      return stats.isFile() ? stats.size : undefined;
    } catch {
      return undefined;
    }
  }
  let stats: Awaited<ReturnType<typeof stat>>;
  try {
    stats = await stat(path);
  } catch (error) {
    throw new UsageError(
      `cannot read --events ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (!stats.isFile()) throw new UsageError(`--events ${path} is not a file`);
  return stats.size;
}
