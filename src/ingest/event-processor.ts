import type { Alert } from '../alerts/alert.ts';
import { type AlertEngine, createAlertEngine } from '../alerts/alert-engine.ts';
import { routeAlerts } from '../alerts/alert-routing.ts';
import { type MatchRecord, sourceStep } from '../alerts/match-record.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Logger } from '../logger.ts';
import type { EventMatcher } from '../rules/event-matcher.ts';
import { DEFAULT_TENANT, embeddedPartition, type Store, type StoredAlert } from '../store/store.ts';
import type { IntelEvent } from './event-schema.ts';

/** Where a committed batch's events are kept for rule previews (the store's preview ring). */
export type RecentEvents = {
  /** `terms[i]`: the term text of `events[i]` when a match worker made it (else the store does). */
  append(events: readonly IntelEvent[], terms: readonly (string | null | undefined)[]): Promise<void>;
};

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
 * Where a batch's stateful match records go once its plain alerts are stored: in a cluster, the
 * matches topic (produced with acks=all before the source offsets are resolved). Without one,
 * the processor applies them itself (the embedded service).
 */
export type MatchSink = { send(records: MatchRecord[]): Promise<void> };

/** Where a Kafka batch was read: `<topic>/<partition>` and each event's offset. */
export type EventOrigin = { partition: string; offsets: number[] };

/** How often (in batches) the embedded owner drops groups nothing can change any more. */
const sweepEveryBatches = 64;

/**
 * Routes alerts with what the store holds now (silences, subscriptions, acknowledgement holds):
 * the one routing step of the source path and of the owners.
 */
export async function routeWithStore(store: Store, alerts: readonly Alert[], at: Date, quietMs: number) {
  const [silences, subscriptions, ackStates] = alerts.some((alert) => !alert.suppressed)
    ? await Promise.all([store.silences.active(at), store.subscriptions.list(), store.alerts.ackStates()])
    : [[], [], []];
  return routeAlerts(alerts, {
    silences,
    subscriptions,
    holds: ackStates.map((ack) => ({
      ruleId: ack.ruleId,
      group: ack.group,
      lastAlertAt: Date.parse(ack.lastAlertAt),
    })),
    now: at.getTime(),
    quietMs,
  });
}

/**
 * Ingest → rules → alerts → store, for one batch at a time.
 *
 * Invariants:
 * - Batches run one after another in arrival order, whatever their source: the owner step's
 *   state (windows, throttles, per-group ledgers) must see one order of matches.
 * - Plain rules keep nothing in memory: their (rule, event) dedup is the alert id, unique in
 *   the store, checked in the batch's transaction.
 * - Embedded (no `matchSink`): everything a batch causes — alerts, owner group states,
 *   acknowledgement holds, delivery jobs, digest entries — is stored in ONE transaction;
 *   `process` resolves only after it committed, so HTTP answers 202 only after that.
 * - Cluster (`matchSink`): the plain alerts are committed, then the stateful match records are
 *   handed to the sink; `process` resolves after both, so Kafka offsets are committed after.
 * - If the commit fails, the in-memory owner has run ahead of the store: it is rebuilt from
 *   the store before the next batch, so a retry of the same events is judged as new again.
 */
export function createEventProcessor(deps: {
  /** The source stage's matching, behind an async batch port (the worker pool, or one thread). */
  matcher: EventMatcher;
  store: Store;
  metrics: Metrics;
  logger: Logger;
  listeners: CommitListener[];
  /** How long an acknowledged group must be quiet before it re-arms. */
  ackQuietMs: number;
  recentEvents?: RecentEvents;
  now?: () => Date;
  matchSink?: MatchSink;
}) {
  const now = deps.now ?? (() => new Date());
  let owner: AlertEngine | undefined;
  /** Rules forgotten while no owner state was in memory: applied right after the next restore. */
  const forgottenBeforeRestore: string[] = [];
  let queue: Promise<unknown> = Promise.resolve();
  let batches = 0;
  let newestEventTime = 0;

  async function restoreOwner(): Promise<AlertEngine> {
    const rows = await deps.store.pipeline.loadOwnerGroups(
      embeddedPartition.topic,
      embeddedPartition.partition,
    );
    const restored = createAlertEngine(rows);
    for (const ruleId of forgottenBeforeRestore.splice(0)) restored.forgetRule(ruleId);
    return restored;
  }

  async function run(
    events: IntelEvent[],
    source: EventSource,
    receivedAt: number,
    origin: EventOrigin | undefined,
  ): Promise<ProcessedBatch> {
    if (deps.matchSink === undefined) owner ??= await restoreOwner();
    try {
      return await evaluateAndStore(events, source, receivedAt, origin);
    } catch (error) {
      // The owner has run ahead of the store (a read before the commit or the commit failed):
      // rebuild it from the store, so a retry of these events is judged as new again.
      owner = undefined;
      throw error;
    }
  }

  async function evaluateAndStore(
    events: IntelEvent[],
    source: EventSource,
    receivedAt: number,
    origin: EventOrigin | undefined,
  ): Promise<ProcessedBatch> {
    const alerts: Alert[] = [];
    const records: MatchRecord[] = [];
    const overBudget: ProcessedBatch['overBudget'] = [];
    const evaluated: IntelEvent[] = [];
    const termTexts: (string | null | undefined)[] = [];
    const matchingStarted = performance.now();
    // In the batch's order, whichever worker matched what: the owner step must see one order.
    const results = await deps.matcher.matchEvents(events);
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const result = results[i]!;
      if (result.kind === 'over_budget') {
        overBudget.push({ index: i, budgetMs: result.budgetMs });
        continue;
      }
      if (result.kind !== 'matched')
        throw new Error(`the matcher refused a validated event: ${result.message}`);
      evaluated.push(event);
      termTexts.push(result.termText);
      let index = 0;
      for (const output of sourceStep(event, result.matches, DEFAULT_TENANT)) {
        if (output.alert) alerts.push(output.alert);
        else if (origin && !owner) {
          output.record.source = { partition: origin.partition, offset: origin.offsets[i]!, index: index++ };
          records.push(output.record);
        } else if (owner) {
          const time = Date.parse(output.record.eventTime);
          if (time > newestEventTime) newestEventTime = time;
          for (const alert of owner.applyRecord(output.record)) alerts.push(alert);
        } else records.push(output.record);
      }
    }
    deps.metrics.matchingSeconds.observe((performance.now() - matchingStarted) / 1000);
    if (owner && ++batches % sweepEveryBatches === 0) owner.sweep(newestEventTime);

    const routed = await routeWithStore(deps.store, alerts, now(), deps.ackQuietMs);
    const inputs = routed.alerts;
    const result = await deps.store.pipeline.commit({
      alerts: inputs,
      ledger: [],
      groupStates: [],
      jobs: routed.jobs,
      digestEntries: routed.digestEntries,
      acks: routed.acks,
      ...(owner ? { owner: { ...embeddedPartition, groups: owner.takeChanges() } } : {}),
    });
    // Streams and deliveries first: the preview ring is not on the path to a trading desk.
    for (const listener of deps.listeners) listener.committed(result.alerts, result.jobsCreated);
    if (records.length > 0) await deps.matchSink!.send(records);
    deps.metrics.eventsProcessed.inc({ source }, evaluated.length);
    for (const input of inputs)
      deps.metrics.alertsEmitted.inc({ severity: input.severity, status: input.status });
    deps.metrics.processingSeconds.observe((performance.now() - receivedAt) / 1000);
    // Not the events over the budget: a preview would match them again, on the event loop.
    await keepForPreview(evaluated, termTexts);
    return { alerts: result.alerts, overBudget };
  }

  /**
   * After the commit, in batch order, so the ring keeps ingest order. Previews are a convenience:
   * a failure here is logged and the batch, already committed, still succeeds.
   */
  async function keepForPreview(events: IntelEvent[], terms: (string | null | undefined)[]): Promise<void> {
    if (deps.recentEvents === undefined || events.length === 0) return;
    try {
      await deps.recentEvents.append(events, terms);
    } catch (error) {
      deps.logger.warn({ err: error, events: events.length }, 'could not keep events for rule previews');
    }
  }

  return {
    /** Evaluates and stores a batch; resolves with the alerts it newly stored, once committed. */
    process(events: IntelEvent[], source: EventSource, origin?: EventOrigin): Promise<ProcessedBatch> {
      const receivedAt = performance.now();
      const result = queue.then(() => run(events, source, receivedAt, origin));
      queue = result.catch(() => undefined);
      return result;
    },

    /** A rule was removed or redefined: its groups are dropped with the next commit. */
    forgetRule(ruleId: string): void {
      if (deps.matchSink) return; // the owners' groups restart on the rule's new version
      queue = queue.then(() => {
        if (owner) owner.forgetRule(ruleId);
        else forgottenBeforeRestore.push(ruleId);
      });
    },
  };
}

export type EventProcessor = ReturnType<typeof createEventProcessor>;
