import type { Store } from '../../store/store.ts';
import { createEndpointRateLimit } from './endpoint-rate-limit.ts';
import { createSsrfGuard } from './ssrf-guard.ts';
import { createWebhookChannel } from './webhook-channel.ts';
import type { WebhookMetrics } from './webhook-metrics.ts';
import { createWebhookSender } from './webhook-sender.ts';

/** The webhook settings of the configuration (config.ts, README "Configuration"). */
export type WebhookSettings = {
  /** Per attempt (TOCSIN_WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Hosts, addresses and CIDR ranges allowed in spite of the SSRF rules (TOCSIN_WEBHOOK_ALLOWLIST). */
  allowlist: string[];
  /** Requests in flight per endpoint (TOCSIN_WEBHOOK_CONCURRENCY). */
  concurrencyPerEndpoint: number;
  /** Requests per second per endpoint, unset: no limit (TOCSIN_WEBHOOK_RATE_LIMIT). */
  ratePerSecond: number | undefined;
  /** An endpoint whose attempts all failed for this long is disabled (TOCSIN_WEBHOOK_DISABLE_AFTER). */
  disableAfterMs: number;
};

/**
 * The webhook delivery part, assembled: the SSRF guard, the keep-alive HTTP sender, the
 * optional rate limit and the outbox channel. `close()` after the outbox dispatcher has
 * closed (no send in flight), to close the pooled connections.
 */
export function createWebhookService(deps: {
  store: Pick<Store, 'alerts' | 'endpoints' | 'digests'>;
  settings: WebhookSettings;
  publicUrl: string;
  logger: { warn(obj: object, msg?: string): void };
  metrics?: WebhookMetrics;
  now?: () => Date;
}) {
  const { settings } = deps;
  const sender = createWebhookSender({
    guard: createSsrfGuard({ allowlist: settings.allowlist }),
    timeoutMs: settings.timeoutMs,
  });
  const channel = createWebhookChannel({
    store: deps.store,
    sender,
    publicUrl: deps.publicUrl,
    logger: deps.logger,
    concurrencyPerEndpoint: settings.concurrencyPerEndpoint,
    disableAfterMs: settings.disableAfterMs,
    ...(settings.ratePerSecond !== undefined && {
      rateLimit: createEndpointRateLimit({ perSecond: settings.ratePerSecond }),
    }),
    ...(deps.metrics && { metrics: deps.metrics }),
    ...(deps.now && { now: deps.now }),
  });
  return {
    channel,
    ping: channel.ping,
    close: () => sender.close(),
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
