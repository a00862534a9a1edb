import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { StoredAlert } from '../../store/store.ts';

/**
 * The Alertmanager webhook body (version "4", as Prometheus Alertmanager's `webhook_config`
 * posts it), for endpoints with format `alertmanager`: receivers written for Alertmanager
 * (PagerDuty bridges, chat relays, home-grown scripts) take Tocsin's alerts unchanged.
 *
 * Mapping: Tocsin alerts are events, not conditions, so they are always `firing` and never
 * resolve (`endsAt` is Alertmanager's zero time). Labels identify the alert's kind
 * (`alertname` = rule id, `severity`, `group`, `tags`); annotations carry the text. The
 * fingerprint is derived from the alert id, so retries and replays keep it. The requests are
 * signed with the Standard Webhooks headers all the same; Alertmanager receivers ignore them.
 */

const labelSet = z.record(z.string(), z.string());

export const alertmanagerAlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labelSet,
  annotations: labelSet,
  startsAt: z.iso.datetime({ offset: true }),
  endsAt: z.string(),
  generatorURL: z.string(),
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
});

export const alertmanagerPayloadSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().min(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: labelSet,
  commonLabels: labelSet,
  commonAnnotations: labelSet,
  externalURL: z.string(),
  alerts: z.array(alertmanagerAlertSchema).min(1),
});

export type AlertmanagerPayload = z.infer<typeof alertmanagerPayloadSchema>;
type AlertmanagerAlert = z.infer<typeof alertmanagerAlertSchema>;

/** Alertmanager's "no end time" (Go's zero time.Time). */
const zeroTime = '0001-01-01T00:00:00Z';

function labelsOf(alert: StoredAlert): Record<string, string> {
  return {
    alertname: alert.ruleId,
    severity: alert.severity,
    ...(alert.group !== null && { group: alert.group }),
    ...(alert.tags.length > 0 && { tags: alert.tags.join(',') }),
  };
}

function annotationsOf(alert: StoredAlert, publicUrl: string): Record<string, string> {
  const { event } = alert;
  return {
    summary: event.title,
    ...(event.summary !== undefined && { description: event.summary }),
    rule_name: alert.ruleName,
    alert_id: alert.id,
    alert_url: `${publicUrl}/v1/alerts/${encodeURIComponent(alert.id)}`,
    event_ids: alert.eventIds.join(','),
    ...(event.url !== undefined && { event_url: event.url }),
    ...(event.source !== undefined && { source: event.source.name }),
    ...(alert.matches.length > 0 && { matched: [...new Set(alert.matches.map((m) => m.text))].join(', ') }),
  };
}

function toAlertmanagerAlert(alert: StoredAlert, publicUrl: string): AlertmanagerAlert {
  return {
    status: 'firing',
    labels: labelsOf(alert),
    annotations: annotationsOf(alert, publicUrl),
    startsAt: alert.eventTime,
    endsAt: zeroTime,
    generatorURL: `${publicUrl}/v1/alerts/${encodeURIComponent(alert.id)}`,
    fingerprint: createHash('sha256').update(alert.id).digest('hex').slice(0, 16),
  };
}

/** The pairs every record holds with the same value. */
function common(records: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = records;
  if (!first) return {};
  return Object.fromEntries(
    Object.entries(first).filter(([key, value]) => rest.every((record) => record[key] === value)),
  );
}

/** `{}:{alertname="…"}`, the shape of Alertmanager's group keys (route matchers, then group labels). */
function groupKeyOf(groupLabels: Record<string, string>): string {
  const labels = Object.entries(groupLabels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(', ');
  return `{}:{${labels}}`;
}

/**
 * One request for `alerts` (one alert, or a digest's alerts). Alerts of one rule are grouped
 * by `alertname` (and `group` when they share one), as an Alertmanager route grouping by
 * those labels would.
 */
export function alertmanagerPayload(
  alerts: StoredAlert[],
  context: { receiver: string; publicUrl: string },
): AlertmanagerPayload {
  const converted = alerts.map((alert) => toAlertmanagerAlert(alert, context.publicUrl));
  const commonLabels = common(converted.map((alert) => alert.labels));
  const groupLabels = Object.fromEntries(
    Object.entries(commonLabels).filter(([key]) => key === 'alertname' || key === 'group'),
  );
  return {
    version: '4',
    groupKey: groupKeyOf(groupLabels),
    truncatedAlerts: 0,
    status: 'firing',
    receiver: context.receiver,
    groupLabels,
    commonLabels,
    commonAnnotations: common(converted.map((alert) => alert.annotations)),
    externalURL: context.publicUrl,
    alerts: converted,
  };
}
