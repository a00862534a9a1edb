import type { Alert } from '../alerts/alert.ts';
import type { Metrics } from '../http/metrics.ts';
import type { RuleMatcher } from '../rules/compiled-rule.ts';
import type { IntelEvent } from './event-schema.ts';

/** The next stage: whatever takes the alerts an event batch caused (the log, the hub, the outbox). */
export type AlertSink = { accept(alerts: Alert[]): Promise<void> };

/** The stateful part of alerting: dedup, thresholds, throttles (src/alerts). */
export type AlertDecider = {
  process(event: IntelEvent, matches: ReturnType<RuleMatcher['match']>): Alert[];
};

export type EventSource = 'http' | 'kafka';

/**
 * Runs validated events through the matcher and the alert engine, then hands the alerts to
 * the sink. Batches are processed one at a time, in arrival order: the alert engine's state
 * (windows, throttles, the dedup ledger) must see events in one order, whichever source they
 * come from. The returned promise settles once the sink has accepted the alerts, so a caller
 * can acknowledge (HTTP 202) or commit (Kafka offsets) only after that.
 */
export function createEventProcessor(deps: {
  matcher: RuleMatcher;
  decider: AlertDecider;
  sink: AlertSink;
  metrics: Metrics;
}) {
  let queue: Promise<unknown> = Promise.resolve();

  async function run(events: IntelEvent[], source: EventSource, receivedAt: number): Promise<Alert[]> {
    const alerts: Alert[] = [];
    for (const event of events) {
      alerts.push(...deps.decider.process(event, deps.matcher.match(event)));
    }
    await deps.sink.accept(alerts);
    deps.metrics.eventsProcessed.inc({ source }, events.length);
    for (const alert of alerts) {
      deps.metrics.alertsEmitted.inc({ severity: alert.severity, outcome: alert.suppressed ? 'suppressed' : 'delivered' });
    }
    deps.metrics.processingSeconds.observe((performance.now() - receivedAt) / 1000);
    return alerts;
  }

  return {
    process(events: IntelEvent[], source: EventSource): Promise<Alert[]> {
      const receivedAt = performance.now();
      const result = queue.then(() => run(events, source, receivedAt));
      queue = result.catch(() => undefined);
      return result;
    },
  };
}

export type EventProcessor = ReturnType<typeof createEventProcessor>;
