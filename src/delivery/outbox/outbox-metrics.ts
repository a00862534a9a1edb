import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DeliveryStore } from '../../store/store.ts';

/** How one attempt ended for the dispatcher (`lost`: another worker had taken the lease over). */
export type AttemptOutcome = 'sent' | 'retried' | 'failed' | 'dead' | 'lost' | 'error';

/**
 * The outbox's metrics, on the app's registry. `jobs` reads the store on each scrape when
 * `deliveries` is given (one grouped count), so it is right across instances.
 */
export function createOutboxMetrics(
  registry: Registry,
  options: { deliveries?: Pick<DeliveryStore, 'countByStatus'> } = {},
) {
  const { deliveries } = options;
  return {
    attempts: new Counter({
      name: 'tocsin_outbox_attempts_total',
      help: 'Delivery attempts, by channel and outcome (sent, retried, failed, dead, lost, error)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
    sendSeconds: new Histogram({
      name: 'tocsin_outbox_send_seconds',
      help: 'Duration of one send by a channel, by channel',
      labelNames: ['channel'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    loopErrors: new Counter({
      name: 'tocsin_outbox_loop_errors_total',
      help: 'Errors of the dispatcher loop (claiming, recording, finishing); the loop backs off and goes on',
      registers: [registry],
    }),
    jobs: new Gauge({
      name: 'tocsin_outbox_jobs',
      help: 'Delivery jobs in the store, by status',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        if (!deliveries) return;
        const counts = await deliveries.countByStatus();
        for (const [status, count] of Object.entries(counts)) this.set({ status }, count);
      },
    }),
  };
}

export type OutboxMetrics = ReturnType<typeof createOutboxMetrics>;
