import { z } from 'zod';
import { severities } from '../../rules/rule-schema.ts';
import type { StoredAlert } from '../../store/store.ts';

/**
 * The body of a `standard` webhook (shared/spec/contracts.md, "Webhook deliveries"):
 * `{"type", "timestamp", "data"}` as the Standard Webhooks spec recommends. The zod schema is
 * the documentation: `schemas/webhook-payload.schema.json` is rendered from it.
 *
 * - `alert.fired`: one alert. `timestamp` is when Tocsin stored the alert, so every retry of a
 *   delivery sends the same bytes (only `webhook-timestamp` and the signature change).
 * - `alert.digest`: the alerts of an hourly or daily digest subscription, newest first.
 * - `ping`: sent by `POST /v1/webhooks/:id/test`.
 *
 * No ordering is guaranteed between deliveries (retries, concurrency): receivers order by
 * `data.eventTime` and drop duplicates by the `webhook-id` header.
 */

const isoTime = z.iso.datetime({ offset: true });

const matchSchema = z.object({
  field: z.string().describe('dot path of the matched field, e.g. title or entities.name'),
  text: z.string().describe('the matched text'),
  start: z.number().int().describe('offset in UTF-16 code units into the original value, inclusive'),
  end: z.number().int().describe('offset in UTF-16 code units, exclusive'),
  index: z.number().int().optional().describe('position of the value when the field holds several'),
});

const eventSnapshotSchema = z.object({
  id: z.string(),
  title: z.string(),
  summary: z.string().optional(),
  url: z.string().optional(),
  publishedAt: z.string(),
  source: z.object({ name: z.string(), url: z.string().optional() }).optional(),
});

export const webhookAlertSchema = z
  .object({
    id: z.string().describe('the alert id: deterministic from the rule, group and events'),
    ruleId: z.string(),
    ruleName: z.string(),
    severity: z.enum(severities),
    tags: z.array(z.string()),
    group: z.string().nullable().describe('the threshold group value; null for a rule without groupBy'),
    eventIds: z.array(z.string()).describe('one id for a plain rule, N for a threshold alert, oldest first'),
    eventTime: isoTime.describe('event time of the newest event: order alerts by it'),
    receivedAt: isoTime.describe('when Tocsin stored the alert'),
    matches: z.array(matchSchema).describe('why the rule matched the newest event'),
    event: eventSnapshotSchema.describe('the newest event that fired the alert'),
    url: z.string().describe("the alert in Tocsin's API"),
  })
  .meta({ id: 'WebhookAlert' });

export const webhookPayloadSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('alert.fired'),
      timestamp: isoTime.describe('when the alert was stored: the same on every retry'),
      data: webhookAlertSchema,
    }),
    z.object({
      type: z.literal('alert.digest'),
      timestamp: isoTime.describe('when the digest was built'),
      data: z.object({ alerts: z.array(webhookAlertSchema).describe('newest first') }),
    }),
    z.object({
      type: z.literal('ping'),
      timestamp: isoTime,
      data: z.object({ endpointId: z.string(), message: z.string() }),
    }),
  ])
  .meta({
    title: 'Tocsin webhook payload',
    description:
      'The body of a Standard Webhooks request from Tocsin. Verify the webhook-signature header ' +
      'before parsing; order by data.eventTime and deduplicate by the webhook-id header.',
  });

export type WebhookAlert = z.infer<typeof webhookAlertSchema>;
export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;

/** The alert as receivers see it: no tenant, no log cursor, no acknowledgement state. */
export function webhookAlert(alert: StoredAlert, publicUrl: string): WebhookAlert {
  return {
    id: alert.id,
    ruleId: alert.ruleId,
    ruleName: alert.ruleName,
    severity: alert.severity,
    tags: alert.tags,
    group: alert.group,
    eventIds: alert.eventIds,
    eventTime: alert.eventTime,
    receivedAt: alert.receivedAt,
    matches: alert.matches,
    event: alert.event,
    url: `${publicUrl}/v1/alerts/${encodeURIComponent(alert.id)}`,
  };
}

export function alertFiredPayload(alert: StoredAlert, publicUrl: string): WebhookPayload {
  return { type: 'alert.fired', timestamp: alert.receivedAt, data: webhookAlert(alert, publicUrl) };
}

export function alertDigestPayload(
  alerts: StoredAlert[],
  builtAt: string,
  publicUrl: string,
): WebhookPayload {
  return {
    type: 'alert.digest',
    timestamp: builtAt,
    data: { alerts: alerts.map((alert) => webhookAlert(alert, publicUrl)) },
  };
}

export function pingPayload(endpointId: string, at: Date): WebhookPayload {
  return {
    type: 'ping',
    timestamp: at.toISOString(),
    data: {
      endpointId,
      message: 'A test delivery from Tocsin: the endpoint is reachable and the signature verifies.',
    },
  };
}
