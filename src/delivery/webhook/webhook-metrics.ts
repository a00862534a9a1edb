import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WebhookEndpointStore } from '../../store/store.ts';
import type { SendResult } from '../outbox/channel.ts';

/**
 * Webhook metrics per endpoint (its id: as many label values as endpoints configured), on the
 * app's registry: request latency, attempts by result, and which endpoints are disabled, read
 * from the store at each scrape so every instance reports the same.
 */
export function createWebhookMetrics(
  registry: Registry,
  options: { endpoints?: Pick<WebhookEndpointStore, 'list'> } = {},
) {
  const { endpoints } = options;
  const requestSeconds = new Histogram({
    name: 'tocsin_webhook_request_duration_seconds',
    help: 'Webhook requests, by endpoint id: time until the answer (or the error)',
    labelNames: ['endpoint'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'tocsin_webhook_attempts_total',
    help: 'Webhook delivery attempts, by endpoint id and result (ok; retry, fail: failures)',
    labelNames: ['endpoint', 'result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'tocsin_webhook_endpoint_disabled',
    help: 'Webhook endpoints, by id: 1 when disabled (410 Gone or failing past TOCSIN_WEBHOOK_DISABLE_AFTER), else 0',
    labelNames: ['endpoint'] as const,
    registers: [registry],
    async collect() {
      if (!endpoints) return;
      try {
        const list = await endpoints.list();
        this.reset();
        for (const endpoint of list) this.set({ endpoint: endpoint.id }, endpoint.disabled ? 1 : 0);
      } catch {
        // The store is unreachable: /readyz says so; the scrape still returns every other metric.
      }
    },
  });
  return {
    /** One attempt that reached the sender: its duration and how the channel judged it. */
    attempted(endpointId: string, durationMs: number, result: SendResult['kind']): void {
      requestSeconds.observe({ endpoint: endpointId }, durationMs / 1000);
      attempts.inc({ endpoint: endpointId, result });
    },
  };
}

export type WebhookMetrics = ReturnType<typeof createWebhookMetrics>;
