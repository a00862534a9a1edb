import type { Alert } from '../alerts/alert.ts';
import { type AlertEngine, type AlertEngineState, createAlertEngine } from '../alerts/alert-engine.ts';
import { routeAlerts } from '../alerts/alert-routing.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Logger } from '../logger.ts';
import type { EventMatcher } from '../rules/event-matcher.ts';
import type { PipelineState, Store, StoredAlert } from '../store/store.ts';
import type { IntelEvent } from './event-schema.ts';

/** Where a committed batch's events are kept for rule previews (the store's preview ring). */
export type RecentEvents = { append(events: readonly IntelEvent[]): Promise<void> };

/** What learns of committed alerts: the WebSocket hub (reads the log), the outbox (sends jobs). */
export type CommitListener = { committed(alerts: StoredAlert[], jobsCreated: number): void };

export type EventSource = 'http' | 'kafka';

/**
 * What a batch came to: the alerts it newly stored, and the events it could not evaluate —
 * their matching took over the budget (TOCSIN_MATCH_BUDGET_MS) — by their index in the batch,
 * for the caller to dead-letter or reject. Those events caused nothing.
 */
export type ProcessedBatch = {
  alerts: StoredAlert[];
  overBudget: { index: number; budgetMs: number }[];
};

/** Why an event over the budget was not evaluated: the DLQ's `match_budget` reason and the HTTP rejection. */
export function overBudgetReason(budgetMs: number): string {
  return `matching took over ${budgetMs} ms (TOCSIN_MATCH_BUDGET_MS); the event was not evaluated`;
}

/**
 * Ingest → rules → alerts → store, for one batch at a time.
 *
 * Invariants:
 * - Batches run one after another in arrival order, whatever their source: the alert engine's
 *   state (dedup ledger, windows, throttles) must see one order of events.
 * - Everything a batch causes — alerts, engine state changes, acknowledgement holds, delivery
 *   jobs, digest entries — is stored in ONE transaction; `process` resolves only after it
 *   committed, so HTTP answers 202 and Kafka commits offsets only after that.
 * - If the commit fails, the in-memory engine has run ahead of the store: it is rebuilt from
 *   the store before the next batch, so a retry of the same events is judged as new again.
 */
export function createEventProcessor(deps: {
  matcher: EventMatcher;
  store: Store;
  metrics: Metrics;
  logger: Logger;
  listeners: CommitListener[];
  /** How long an acknowledged group must be quiet before it re-arms. */
  ackQuietMs: number;
  recentEvents?: RecentEvents;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());
  let engine: AlertEngine | undefined;
  /** Rules forgotten while no engine was in memory: applied right after the next restore. */
  const forgottenBeforeRestore: string[] = [];
  let queue: Promise<unknown> = Promise.resolve();

  async function restoreEngine(): Promise<AlertEngine> {
    const restored = createAlertEngine(engineStateOf(await deps.store.pipeline.loadState()));
    for (const ruleId of forgottenBeforeRestore.splice(0)) restored.forgetRule(ruleId);
    return restored;
  }

  async function run(events: IntelEvent[], source: EventSource, receivedAt: number): Promise<ProcessedBatch> {
    engine ??= await restoreEngine();
    try {
      return await evaluateAndStore(engine, events, source, receivedAt);
    } catch (error) {
      // The engine has run ahead of the store (a read before the commit or the commit failed):
      // rebuild it from the store, so a retry of these events is judged as new again.
      engine = undefined;
      throw error;
    }
  }

  async function evaluateAndStore(
    current: AlertEngine,
    events: IntelEvent[],
    source: EventSource,
    receivedAt: number,
  ): Promise<ProcessedBatch> {
    const alerts: Alert[] = [];
    const overBudget: ProcessedBatch['overBudget'] = [];
    const evaluated: IntelEvent[] = [];
    const matchingStarted = performance.now();
    // In the batch's order, whichever worker matched what: the engine must see one order.
    const results = await deps.matcher.matchEvents(events);
    results.forEach((result, index) => {
      if (result.kind === 'matched') {
        evaluated.push(events[index]!);
        alerts.push(...current.process(events[index]!, result.matches));
      } else if (result.kind === 'over_budget') overBudget.push({ index, budgetMs: result.budgetMs });
      else throw new Error(`the matcher refused a validated event: ${result.message}`);
    });
    deps.metrics.matchingSeconds.observe((performance.now() - matchingStarted) / 1000);
    const changes = current.takeChanges();

    const at = now();
    const [silences, subscriptions, ackStates] = alerts.some((alert) => !alert.suppressed)
      ? await Promise.all([
          deps.store.silences.active(at),
          deps.store.subscriptions.list(),
          deps.store.alerts.ackStates(),
        ])
      : [[], [], []];
    const routed = routeAlerts(alerts, {
      silences,
      subscriptions,
      holds: ackStates.map((ack) => ({
        ruleId: ack.ruleId,
        group: ack.group,
        lastAlertAt: Date.parse(ack.lastAlertAt),
      })),
      now: at.getTime(),
      quietMs: deps.ackQuietMs,
    });
    const inputs = routed.alerts;

    const result = await deps.store.pipeline.commit({
      forgottenRules: changes.forgotten,
      alerts: inputs,
      ledger: changes.ledger,
      groupStates: changes.groups,
      jobs: routed.jobs,
      digestEntries: routed.digestEntries,
      acks: routed.acks,
    });
    // Not the events over the budget: a preview would match them again, on the event loop.
    await keepForPreview(evaluated);

    deps.metrics.eventsProcessed.inc({ source }, evaluated.length);
    for (const input of inputs)
      deps.metrics.alertsEmitted.inc({ severity: input.severity, status: input.status });
    deps.metrics.processingSeconds.observe((performance.now() - receivedAt) / 1000);
    for (const listener of deps.listeners) listener.committed(result.alerts, result.jobsCreated);
    return { alerts: result.alerts, overBudget };
  }

  /**
   * After the commit, in batch order, so the ring keeps ingest order. Previews are a convenience:
   * a failure here is logged and the batch, already committed, still succeeds.
   */
  async function keepForPreview(events: IntelEvent[]): Promise<void> {
    if (deps.recentEvents === undefined || events.length === 0) return;
    try {
      await deps.recentEvents.append(events);
    } catch (error) {
      deps.logger.warn({ err: error, events: events.length }, 'could not keep events for rule previews');
    }
  }

  return {
    /** Evaluates and stores a batch; resolves once committed (see `ProcessedBatch`). */
    process(events: IntelEvent[], source: EventSource): Promise<ProcessedBatch> {
      const receivedAt = performance.now();
      const result = queue.then(() => run(events, source, receivedAt));
      queue = result.catch(() => undefined);
      return result;
    },

    /** A rule was removed or redefined: its ledger and groups are dropped with the next commit. */
    forgetRule(ruleId: string): void {
      queue = queue.then(() => {
        if (engine) engine.forgetRule(ruleId);
        else forgottenBeforeRestore.push(ruleId);
      });
    },
  };
}

export type EventProcessor = ReturnType<typeof createEventProcessor>;

function engineStateOf(state: PipelineState): AlertEngineState {
  const result: AlertEngineState = { version: 1, ledger: {}, groups: {} };
  for (const entry of state.ledger) {
    result.ledger[entry.ruleId] ??= {};
    result.ledger[entry.ruleId]![entry.eventId] = entry.eventTime;
  }
  for (const entry of state.groupStates) {
    result.groups[entry.ruleId] ??= {};
    result.groups[entry.ruleId]![entry.group] = entry.state as AlertEngineState['groups'][string][string];
  }
  return result;
}
