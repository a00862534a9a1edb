import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per app instance (tests start several apps in one process, so nothing
 * registers on prom-client's global registry). The pipeline's metrics are here; each delivery
 * part and the HTTP server create theirs on this registry in their own module
 * (`*-metrics.ts` beside the code that records them), wired in app.ts.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    eventsReceived: new Counter({
      name: 'tocsin_events_received_total',
      help: 'Events received, valid or not, by source (http, kafka)',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    eventsRejected: new Counter({
      name: 'tocsin_events_rejected_total',
      help: 'Events rejected by validation, by source and reason (not_json, invalid_event, too_large, match_budget)',
      labelNames: ['source', 'reason'] as const,
      registers: [registry],
    }),
    eventsProcessed: new Counter({
      name: 'tocsin_events_processed_total',
      help: 'Valid events evaluated against the rules, by source',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'tocsin_dead_letters_total',
      help: 'Kafka messages sent to the dead-letter topic, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    alertsEmitted: new Counter({
      name: 'tocsin_alerts_emitted_total',
      help: 'Alerts stored, by severity and status (active, suppressed, silenced)',
      labelNames: ['severity', 'status'] as const,
      registers: [registry],
    }),
    consumerLag: new Gauge({
      name: 'tocsin_kafka_consumer_lag',
      help: 'Messages between the last offset processed and the end of the partition, after each batch',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    processingSeconds: new Histogram({
      name: 'tocsin_event_processing_seconds',
      help: 'Time from an event batch being received to its alerts being stored (end-to-end latency)',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    matchingSeconds: new Histogram({
      name: 'tocsin_matching_seconds',
      help: 'Time matching one batch of events against the rules (rule index and alert engine), per batch; its _sum over tocsin_events_processed_total is the time per event',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Delivery jobs by status, read from the store at each scrape. */
export function registerDeliveryGauge(
  metrics: Metrics,
  countByStatus: () => Promise<Record<string, number>>,
): void {
  new Gauge({
    name: 'tocsin_delivery_jobs',
    help: 'Delivery jobs in the outbox, by status',
    labelNames: ['status'] as const,
    registers: [metrics.registry],
    async collect() {
      try {
        for (const [status, count] of Object.entries(await countByStatus())) this.set({ status }, count);
      } catch {
        // The store is unreachable: /readyz says so; the scrape still returns every other metric.
      }
    },
  });
}
