import { randomUUID } from 'node:crypto';
import type { ClaimedJob, Store, StoredAlert, WebhookEndpoint } from '../../store/store.ts';
import type { DeliveryChannel, SendResult } from '../outbox/channel.ts';
import { alertmanagerPayload } from './alertmanager-payload.ts';
import type { EndpointRateLimit } from './endpoint-rate-limit.ts';
import type { WebhookMetrics } from './webhook-metrics.ts';
import { classifyExchange } from './webhook-outcome.ts';
import { alertDigestPayload, alertFiredPayload, pingPayload } from './webhook-payload.ts';
import type { WebhookSender } from './webhook-sender.ts';
import { signingSecrets, webhookHeaders } from './webhook-signature.ts';

/**
 * The webhook delivery channel: one outbox job → one signed POST to its endpoint.
 *
 * - `webhook-id` is the job id, the same on every retry and replay (and after a crash between
 *   the send and its record, when another worker sends the job again): receivers dedup by it.
 *   `webhook-timestamp` is fresh per attempt, and so is the signature.
 * - The body is built from the stored alert on each attempt, deterministically, so every
 *   attempt of a delivery sends the same bytes.
 * - One lane per endpoint (`laneOf`): at most `concurrencyPerEndpoint` requests in flight to
 *   an endpoint, so a slow endpoint only delays its own deliveries.
 * - Endpoint health: a success clears the endpoint's failure run; a failed attempt starts it;
 *   an endpoint whose attempts have all failed for `disableAfterMs`, or that answered 410, is
 *   disabled with the reason (visible on the endpoint). Jobs of a disabled or deleted endpoint
 *   fail at once; after re-enabling, `POST /v1/deliveries/replay` recovers them.
 */

export type WebhookChannelOptions = {
  store: Pick<Store, 'alerts' | 'endpoints' | 'digests'>;
  sender: WebhookSender;
  /** Base of the links in payloads (TOCSIN_PUBLIC_URL). */
  publicUrl: string;
  logger: { warn(obj: object, msg?: string): void };
  /** Requests in flight per endpoint (default 4). */
  concurrencyPerEndpoint?: number;
  rateLimit?: EndpointRateLimit;
  /** An endpoint failing for this long is disabled (default 5 days). */
  disableAfterMs?: number;
  /** Attempts before a 3xx or a plain 4xx fails the delivery (default 3). */
  clientErrorAttempts?: number;
  metrics?: WebhookMetrics;
  now?: () => Date;
};

export type PingResult = {
  webhookId: string;
  delivered: boolean;
  statusCode: number | null;
  durationMs: number;
  responseSnippet: string | null;
  error: string | null;
};

const alertCacheSize = 1_000;

export function createWebhookChannel(options: WebhookChannelOptions) {
  const { store, sender, publicUrl, logger } = options;
  const concurrencyPerEndpoint = options.concurrencyPerEndpoint ?? 4;
  const disableAfterMs = options.disableAfterMs ?? 5 * 86_400_000;
  const now = options.now ?? (() => new Date());
  // An alert routed to many endpoints is read once; what a payload holds of it never changes.
  const alertCache = new Map<string, StoredAlert>();

  async function loadAlert(id: string): Promise<StoredAlert | undefined> {
    const cached = alertCache.get(id);
    if (cached) return cached;
    const found = await store.alerts.get(id);
    if (!found) return undefined;
    const { deliveries: _deliveries, ...alert } = found;
    alertCache.set(id, alert);
    if (alertCache.size > alertCacheSize) alertCache.delete(alertCache.keys().next().value!);
    return alert;
  }

  /** The bytes to send for a job, or why there is nothing to send. */
  async function bodyOf(job: ClaimedJob, endpoint: WebhookEndpoint): Promise<string | { missing: string }> {
    let alerts: StoredAlert[];
    if (job.kind === 'digest') {
      alerts = await store.digests.alerts(job.id);
      if (alerts.length === 0)
        return { missing: 'the digest holds no alerts any more (purged by retention)' };
    } else {
      const alert = job.alertId === null ? undefined : await loadAlert(job.alertId);
      if (!alert) return { missing: `alert ${job.alertId} no longer exists (purged by retention)` };
      alerts = [alert];
    }
    if (endpoint.format === 'alertmanager') {
      return JSON.stringify(alertmanagerPayload(alerts, { receiver: endpoint.id, publicUrl }));
    }
    const payload =
      job.kind === 'digest'
        ? alertDigestPayload(alerts, job.createdAt, publicUrl)
        : alertFiredPayload(alerts[0]!, publicUrl);
    return JSON.stringify(payload);
  }

  function sign(endpoint: WebhookEndpoint, id: string, body: string) {
    const at = now();
    return webhookHeaders(signingSecrets(endpoint, at), id, Math.floor(at.getTime() / 1000), body);
  }

  /** Records the attempt on the endpoint; disables it on 410 or after a long enough failure run. */
  async function noteHealth(endpoint: WebhookEndpoint, result: SendResult, isGone: boolean) {
    const at = now();
    try {
      if (result.kind === 'ok') {
        if (endpoint.failingSince !== null) await store.endpoints.noteResult(endpoint.id, true, at);
        return;
      }
      const noted = await store.endpoints.noteResult(endpoint.id, false, at);
      if (!noted || noted.disabled) return;
      if (isGone) {
        await store.endpoints.disable(endpoint.id, 'the endpoint answered HTTP 410 Gone', at);
        return;
      }
      const since = noted.failingSince === null ? at.getTime() : Date.parse(noted.failingSince);
      if (at.getTime() - since >= disableAfterMs) {
        const reason =
          `every delivery attempt failed since ${noted.failingSince} ` +
          `(${Math.round((at.getTime() - since) / 3_600_000)} h); the last one: ${result.error}`;
        await store.endpoints.disable(endpoint.id, reason, at);
        logger.warn({ endpointId: endpoint.id, reason }, 'webhook: endpoint disabled');
      }
    } catch (error) {
      // Health is advisory; the delivery's own outcome must still reach the dispatcher.
      logger.warn({ err: error, endpointId: endpoint.id }, 'webhook: recording the endpoint health failed');
    }
  }

  const channel: DeliveryChannel & { ping(endpoint: WebhookEndpoint): Promise<PingResult> } = {
    name: 'webhook',

    laneOf: (job: ClaimedJob) => job.endpointId ?? undefined,
    laneConcurrency: concurrencyPerEndpoint,

    async send(job: ClaimedJob, signal: AbortSignal): Promise<SendResult> {
      if (job.endpointId === null) return { kind: 'fail', error: 'the delivery has no webhook endpoint' };
      const endpoint = await store.endpoints.get(job.endpointId);
      if (!endpoint) return { kind: 'fail', error: `webhook endpoint ${job.endpointId} was deleted` };
      if (endpoint.disabled) {
        return {
          kind: 'fail',
          error: `webhook endpoint is disabled: ${endpoint.disabledReason ?? 'no reason'}`,
        };
      }
      const body = await bodyOf(job, endpoint);
      if (typeof body !== 'string') return { kind: 'fail', error: body.missing };

      await options.rateLimit?.acquire(endpoint.id, signal);
      const exchange = await sender.send({
        url: endpoint.url,
        headers: sign(endpoint, job.id, body),
        body,
        signal,
      });
      const { result, isGone } = classifyExchange(exchange, job.attempts, {
        ...(options.clientErrorAttempts !== undefined && {
          clientErrorAttempts: options.clientErrorAttempts,
        }),
        now: now().getTime(),
      });
      options.metrics?.attempted(endpoint.id, exchange.durationMs, result.kind);
      // An attempt cut short by the dispatcher (closing, lease) says nothing about the endpoint.
      if (!signal.aborted) await noteHealth(endpoint, result, isGone);
      return result;
    },

    /**
     * Sends a signed `ping` to the endpoint now, outside the outbox (nothing is retried or
     * logged), also to a disabled endpoint: what `POST /v1/webhooks/:id/test` answers.
     */
    async ping(endpoint: WebhookEndpoint): Promise<PingResult> {
      const webhookId = `msg_ping_${randomUUID().replaceAll('-', '')}`;
      const body = JSON.stringify(pingPayload(endpoint.id, now()));
      const exchange = await sender.send({
        url: endpoint.url,
        headers: sign(endpoint, webhookId, body),
        body,
      });
      if (exchange.kind === 'error') {
        return {
          webhookId,
          delivered: false,
          statusCode: null,
          durationMs: exchange.durationMs,
          responseSnippet: null,
          error: exchange.error,
        };
      }
      const delivered = exchange.statusCode >= 200 && exchange.statusCode < 300;
      return {
        webhookId,
        delivered,
        statusCode: exchange.statusCode,
        durationMs: exchange.durationMs,
        responseSnippet: exchange.snippet,
        error: delivered ? null : `HTTP ${exchange.statusCode}`,
      };
    },
  };

  return channel;
}

export type WebhookChannel = ReturnType<typeof createWebhookChannel>;
