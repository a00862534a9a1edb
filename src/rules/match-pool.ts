import { Worker } from 'node:worker_threads';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule, RuleMatch } from './compiled-rule.ts';
import {
  PROGRESS_BATCH,
  PROGRESS_INDEX,
  PROGRESS_STARTED,
  progressSlots,
  type WorkerOutcome,
  type WorkerReply,
  type WorkerRequest,
  type WorkerSetup,
} from './match-protocol.ts';

/**
 * Matching on every core: `workers` worker threads (match-worker.ts), each holding its own rule
 * index, turn events into rule matches off the calling thread.
 *
 * Invariants:
 * - Results come back per request in the request's order, and requests may be awaited in the
 *   order they were made, so a caller that feeds the alert engine in that order gets exactly
 *   the alerts, ids and state of one thread (the rule index's results do not depend on what it
 *   learned from the events it saw, so which worker saw which event does not matter).
 * - A rule change is posted to every worker before any batch made after it; a worker handles
 *   its messages in order, so the change is in its index before that batch. A batch made
 *   before the change is judged, and its matches name rules, as of its own time.
 * - A worker that dies is replaced and its batch retried on the replacement (which starts from
 *   the batch's rules, then takes the current ones); a batch that kills `maxAttempts` workers
 *   rejects.
 * - An event whose matching takes longer than `budgetMs` is given up: its worker is terminated
 *   and replaced, the event's result is `over_budget`, and the batch's other events are matched
 *   again on the replacement.
 */

export type MatchResult =
  /** `event`: for a line, the parsed event when it matched something (else undefined). */
  | {
      kind: 'matched';
      event: IntelEvent | undefined;
      matches: RuleMatch[];
      /** With the `termText` option: the event's term text for the preview ring (event-terms.ts). */
      termText?: string | null;
    }
  /** A line that is not a valid event: the message of `parseEvent`'s error. */
  | { kind: 'invalid'; message: string }
  | { kind: 'over_budget'; budgetMs: number };

export type MatchPool = {
  /** Parses, validates and matches JSON texts (one event each). */
  matchLines(lines: string[]): Promise<MatchResult[]>;
  /** Matches validated events; a `matched` result's `event` is the one given. */
  matchEvents(events: IntelEvent[]): Promise<MatchResult[]>;
  upsert(rule: CompiledRule): void;
  remove(ruleId: string): void;
  rules(): CompiledRule[];
  /** How many workers were started to replace dead or over-budget ones. */
  replacements(): number;
  /** The live worker threads (for resource metrics, and tests): one terminated is replaced like a crashed one. */
  workers(): readonly Worker[];
  close(): Promise<void>;
};

export type MatchPoolOptions = {
  rules: CompiledRule[];
  /** Worker threads, at least 1. */
  workers: number;
  /** How long one event may take to match before it is given up (ms). */
  budgetMs: number;
  /** Also make each event's term text on the workers (the service keeps it for previews). */
  termText?: boolean;
};

/** Deaths of workers on one batch before the batch is given up. */
const maxAttempts = 3;

type Request = {
  lines?: string[];
  events?: IntelEvent[];
  results: (MatchResult | undefined)[];
  left: number;
  resolve(results: MatchResult[]): void;
  reject(error: Error): void;
  failed: boolean;
};

type Job = {
  id: number;
  request: Request;
  /** Indices into the request's items. */
  indices: number[];
  /** The rules as of when the job was made, by id. */
  rules: Map<string, CompiledRule>;
  attempts: number;
};

type WorkerSlot = {
  worker: Worker;
  progress: Float64Array;
  /** Jobs posted to it and not answered yet, in the order posted (the order it runs them). */
  jobs: Job[];
  /** Set once it is replaced: its exit is expected. */
  retired: boolean;
};

/**
 * How to start a worker: `dist/rules/match-worker.js` when compiled; from the sources, a small
 * bootstrap that registers tsx in the worker and then imports `match-worker.ts` (on Node 20 a
 * worker's entry module ignores loaders given by `--import`, inherited or not).
 */
function workerEntry(): { script: URL | string; eval: boolean; execArgv: string[] } {
  if (!import.meta.url.endsWith('.ts'))
    return { script: new URL('./match-worker.js', import.meta.url), eval: false, execArgv: process.execArgv };
  const worker = new URL('./match-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const execArgv = process.execArgv.filter(
    (arg, i, all) =>
      !(arg === '--import' && all[i + 1]?.includes('tsx')) &&
      !(all[i - 1] === '--import' && arg.includes('tsx')),
  );
  return {
    script: `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(worker)}); });`,
    eval: true,
    execArgv,
  };
}

export function createMatchPool(options: MatchPoolOptions): MatchPool {
  const workerCount = Math.max(1, Math.floor(options.workers));
  const budgetMs = options.budgetMs;
  const termText = options.termText ?? false;
  const entry = workerEntry();
  /** The current rules in rule order; copied on change once a job holds it (copy-on-write). */
  let rulesById = new Map(options.rules.map((rule) => [rule.id, rule]));
  let rulesShared = false;
  const slots: WorkerSlot[] = [];
  let nextJobId = 1;
  let replaced = 0;
  let closed = false;
  let watchdog: NodeJS.Timeout | undefined;
  let deathsWithoutReply = 0;
  let lastError: Error | undefined;
  let broken: Error | undefined;

  function breakDown(slot: WorkerSlot): void {
    slot.retired = true;
    broken = new Error(`match workers keep dying: ${lastError?.message ?? 'no error given'}`, {
      cause: lastError,
    });
    for (const other of slots) {
      for (const job of other.jobs.splice(0)) {
        if (job.request.failed) continue;
        job.request.failed = true;
        job.request.reject(broken);
      }
    }
  }

  function spawnWorker(rules: Map<string, CompiledRule>): WorkerSlot {
    const progress = new SharedArrayBuffer(progressSlots * Float64Array.BYTES_PER_ELEMENT);
    const cells = new Float64Array(progress);
    cells[PROGRESS_INDEX] = -1;
    const worker = new Worker(entry.script, {
      eval: entry.eval,
      workerData: { rules: [...rules.values()], progress, termText } satisfies WorkerSetup,
      execArgv: entry.execArgv,
    });
    const slot: WorkerSlot = { worker, progress: cells, jobs: [], retired: false };
    worker.on('message', (reply: WorkerReply) => finish(slot, reply));
    // An error is followed by 'exit'; the exit is where the worker is replaced.
    worker.on('error', (error) => {
      lastError = error;
    });
    worker.on('exit', () => {
      if (slot.retired || closed) return;
      // Workers that keep dying before answering anything (a broken install): stop, and say why.
      if (++deathsWithoutReply >= maxAttempts * workerCount) breakDown(slot);
      else replace(slot, undefined);
    });
    return slot;
  }

  for (let i = 0; i < workerCount; i++) slots.push(spawnWorker(rulesById));

  function changeRules(change: (rules: Map<string, CompiledRule>) => void, request: WorkerRequest): void {
    if (rulesShared) {
      rulesById = new Map(rulesById);
      rulesShared = false;
    }
    change(rulesById);
    for (const slot of slots) slot.worker.postMessage(request);
  }

  /**
   * Replaces a worker that died (`overBudget` undefined) or overran the budget on the event at
   * position `overBudget` of its current job. Its unanswered jobs go to the replacement in the
   * same order, each under the rules of its time.
   */
  function replace(slot: WorkerSlot, overBudget: number | undefined): void {
    slot.retired = true;
    void slot.worker.terminate();
    const retries: Job[] = [];
    slot.jobs.forEach((job, position) => {
      if (job.request.failed) return;
      if (position > 0) {
        retries.push(job);
        return;
      }
      if (overBudget !== undefined) {
        job.request.results[job.indices[overBudget]!] = { kind: 'over_budget', budgetMs };
        job.request.left--;
        const indices = job.indices.filter((_, i) => i !== overBudget);
        if (indices.length > 0) retries.push({ ...job, indices });
        else settle(job.request);
      } else if (job.attempts + 1 >= maxAttempts) {
        job.request.failed = true;
        job.request.reject(new Error(`matching a batch killed ${maxAttempts} workers in a row; given up`));
      } else retries.push({ ...job, attempts: job.attempts + 1 });
    });
    slot.jobs = [];
    replaced++;
    const fresh = spawnWorker(retries[0]?.rules ?? rulesById);
    slots[slots.indexOf(slot)] = fresh;
    let rules = retries[0]?.rules ?? rulesById;
    for (const job of retries) {
      if (job.rules !== rules) {
        rules = job.rules;
        fresh.worker.postMessage({ kind: 'reset', rules: [...rules.values()] } satisfies WorkerRequest);
      }
      send(fresh, job);
    }
    if (rules !== rulesById)
      fresh.worker.postMessage({ kind: 'reset', rules: [...rulesById.values()] } satisfies WorkerRequest);
  }

  function send(slot: WorkerSlot, job: Job): void {
    slot.jobs.push(job);
    const { lines, events } = job.request;
    const message: WorkerRequest =
      lines !== undefined
        ? { kind: 'batch', id: job.id, lines: job.indices.map((i) => lines[i]!) }
        : { kind: 'batch', id: job.id, events: job.indices.map((i) => events![i]!) };
    slot.worker.postMessage(message);
    watchdog ??= setInterval(checkBudgets, Math.max(5, Math.min(250, budgetMs / 4)));
  }

  function checkBudgets(): void {
    const now = Date.now();
    let busy = false;
    for (const slot of [...slots]) {
      const job = slot.jobs[0];
      if (job === undefined) continue;
      busy = true;
      if (slot.progress[PROGRESS_BATCH] !== job.id) continue;
      const index = slot.progress[PROGRESS_INDEX]!;
      if (index >= 0 && now - slot.progress[PROGRESS_STARTED]! > budgetMs) replace(slot, index);
    }
    if (!busy && watchdog !== undefined) {
      clearInterval(watchdog);
      watchdog = undefined;
    }
  }

  function finish(slot: WorkerSlot, reply: WorkerReply): void {
    const job = slot.jobs[0];
    if (slot.retired || job === undefined || job.id !== reply.id) return;
    deathsWithoutReply = 0;
    slot.jobs.shift();
    const request = job.request;
    if (request.failed) return;
    reply.outcomes.forEach((outcome, position) => {
      const index = job.indices[position]!;
      request.results[index] = resultOf(outcome, request.events?.[index], job.rules);
    });
    request.left -= reply.outcomes.length;
    settle(request);
  }

  function settle(request: Request): void {
    if (request.left === 0 && !request.failed) request.resolve(request.results as MatchResult[]);
  }

  function resultOf(
    outcome: WorkerOutcome,
    given: IntelEvent | undefined,
    rules: Map<string, CompiledRule>,
  ): MatchResult {
    if ('invalid' in outcome) return { kind: 'invalid', message: outcome.invalid };
    const matches: RuleMatch[] = outcome.matched.map(([ruleId, explanations]) => ({
      rule: rules.get(ruleId)!,
      matches: explanations,
    }));
    const result: MatchResult = { kind: 'matched', event: given ?? outcome.event, matches };
    if (outcome.termText !== undefined) result.termText = outcome.termText;
    return result;
  }

  /** The worker with the fewest events waiting. */
  function leastLoaded(): WorkerSlot {
    let best = slots[0]!;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const slot of slots) {
      let load = 0;
      for (const job of slot.jobs) load += job.indices.length;
      if (load < bestLoad) {
        best = slot;
        bestLoad = load;
      }
    }
    return best;
  }

  function submit(items: { lines?: string[]; events?: IntelEvent[] }): Promise<MatchResult[]> {
    if (closed) return Promise.reject(new Error('the match pool is closed'));
    if (broken !== undefined) return Promise.reject(broken);
    const count = items.lines?.length ?? items.events!.length;
    if (count === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const request: Request = {
        ...items,
        results: new Array(count),
        left: count,
        resolve,
        reject,
        failed: false,
      };
      rulesShared = true;
      const rules = rulesById;
      // Split over the workers (a few events at least per job), so one request uses every core.
      const size = Math.max(8, Math.ceil(count / workerCount));
      for (let start = 0; start < count; start += size) {
        const indices: number[] = [];
        for (let i = start; i < Math.min(count, start + size); i++) indices.push(i);
        send(leastLoaded(), { id: nextJobId++, request, indices, rules, attempts: 0 });
      }
    });
  }

  return {
    matchLines: (lines) => submit({ lines }),
    matchEvents: (events) => submit({ events }),
    upsert(rule) {
      changeRules((rules) => rules.set(rule.id, rule), { kind: 'upsert', rule });
    },
    remove(ruleId) {
      if (!rulesById.has(ruleId)) return;
      changeRules((rules) => rules.delete(ruleId), { kind: 'remove', ruleId });
    },
    rules: () => [...rulesById.values()],
    replacements: () => replaced,
    workers: () => slots.map((slot) => slot.worker),
    async close() {
      closed = true;
      if (watchdog !== undefined) clearInterval(watchdog);
      for (const slot of slots) {
        slot.retired = true;
        for (const job of slot.jobs.splice(0)) {
          if (job.request.failed) continue;
          job.request.failed = true;
          job.request.reject(new Error('the match pool is closed'));
        }
      }
      await Promise.all(slots.map((slot) => slot.worker.terminate()));
    },
  };
}
