import type { MatchExplanation } from '../alerts/alert.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule } from './compiled-rule.ts';

/** What the match pool (match-pool.ts) and its workers (match-worker.ts) say to each other. */

/** `termText`: also give each event's term text (event-terms.ts), for the preview ring. */
export type WorkerSetup = { rules: CompiledRule[]; progress: SharedArrayBuffer; termText: boolean };

export type WorkerRequest =
  | { kind: 'upsert'; rule: CompiledRule }
  | { kind: 'remove'; ruleId: string }
  /** Replace the whole rule set (a replacement worker catching up after a retried batch). */
  | { kind: 'reset'; rules: CompiledRule[] }
  /** Events as JSON texts (parsed and validated here) or as validated events. */
  | { kind: 'batch'; id: number; lines?: string[]; events?: IntelEvent[] };

/**
 * Per event: the matched rules' ids with their explanations; for lines, the event itself when
 * something matched (the alert engine needs it), or the validation error's message.
 */
export type WorkerOutcome =
  | { matched: [ruleId: string, matches: MatchExplanation[]][]; event?: IntelEvent; termText?: string | null }
  | { invalid: string };

export type WorkerReply = { id: number; outcomes: WorkerOutcome[] };

/** Progress cell layout (Float64Array): the batch id, the index of the event being matched, when it started (ms). */
export const PROGRESS_BATCH = 0;
export const PROGRESS_INDEX = 1;
export const PROGRESS_STARTED = 2;
export const progressSlots = 3;
