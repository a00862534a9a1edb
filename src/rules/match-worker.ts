import { parentPort, workerData } from 'node:worker_threads';
import type { MatchExplanation } from '../alerts/alert.ts';
import { isAppError } from '../errors.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import { parseEvent } from '../ingest/parse-event.ts';
import { eventTermText } from './event-terms.ts';
import {
  PROGRESS_BATCH,
  PROGRESS_INDEX,
  PROGRESS_STARTED,
  type WorkerOutcome,
  type WorkerReply,
  type WorkerRequest,
  type WorkerSetup,
} from './match-protocol.ts';
import { createRuleIndex } from './rule-index.ts';

/**
 * One worker of the match pool (match-pool.ts): a rule index of its own, fed batches in the
 * order the pool sends them. Messages from the pool are handled one at a time, in order, so a
 * rule change posted before a batch is in the index when that batch is matched.
 *
 * Before each event the worker writes the event's index and start time to its progress cell
 * (shared memory), so the pool can tell which event overran the budget without asking.
 */

const setup = workerData as WorkerSetup;
const progress = new Float64Array(setup.progress);
let matcher = createRuleIndex(setup.rules);

parentPort!.on('message', (request: WorkerRequest) => {
  switch (request.kind) {
    case 'upsert':
      matcher.upsert(request.rule);
      return;
    case 'remove':
      matcher.remove(request.ruleId);
      return;
    case 'reset':
      matcher = createRuleIndex(request.rules);
      return;
    case 'batch': {
      const outcomes: WorkerOutcome[] = [];
      const count = request.lines?.length ?? request.events!.length;
      progress[PROGRESS_BATCH] = request.id;
      for (let i = 0; i < count; i++) {
        progress[PROGRESS_INDEX] = i;
        progress[PROGRESS_STARTED] = Date.now();
        let event: IntelEvent;
        if (request.lines !== undefined) {
          try {
            event = parseEvent(request.lines[i]!);
          } catch (error) {
            if (!isAppError(error, 'TOCSIN_INVALID_EVENT')) throw error;
            outcomes.push({ invalid: error.message });
            continue;
          }
        } else event = request.events![i]!;
        const matched = matcher
          .match(event)
          .map(({ rule, matches }) => [rule.id, matches] as [string, MatchExplanation[]]);
        const outcome: WorkerOutcome =
          request.lines !== undefined && matched.length > 0 ? { matched, event } : { matched };
        if (setup.termText) outcome.termText = eventTermText(event);
        outcomes.push(outcome);
      }
      progress[PROGRESS_INDEX] = -1;
      parentPort!.postMessage({ id: request.id, outcomes } satisfies WorkerReply);
      return;
    }
  }
});
