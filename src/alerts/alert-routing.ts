import { severityRank } from '../rules/rule-schema.ts';
import type { Alert } from './alert.ts';

/**
 * What happens to an alert after the engine fired it: whether a silence or an
 * acknowledgement holds it back, and which subscriptions it goes to. Pure: the pipeline
 * reads silences, acknowledgements and subscriptions from the store and passes them in.
 */

export type SilenceMatcherSet = {
  ruleIds?: string[];
  tags?: string[];
  severities?: string[];
  groups?: (string | null)[];
};

export type RoutableSubscription = {
  id: string;
  ruleIds: string[] | null;
  tags: string[] | null;
  minSeverity: Alert['severity'];
  channel: 'email' | 'webhook';
  endpointId: string | null;
  mode: 'immediate' | 'hourly' | 'daily';
};

/** An acknowledgement hold on the alert's (rule, group); `lastAlertAt` is epoch ms. */
export type AckHold = { lastAlertAt: number };

export type AlertDisposition =
  | { status: 'suppressed'; reason: 'throttle' | 'acknowledged' }
  | { status: 'silenced'; silenceId: string }
  | { status: 'active' };

/** Every matcher given must hold (AND); within one, any value may (OR); an absent one holds. */
export function silenceCovers(matchers: SilenceMatcherSet, alert: Alert): boolean {
  if (matchers.ruleIds && !matchers.ruleIds.includes(alert.ruleId)) return false;
  if (matchers.tags && !matchers.tags.some((tag) => alert.tags.includes(tag))) return false;
  if (matchers.severities && !matchers.severities.includes(alert.severity)) return false;
  if (matchers.groups && !matchers.groups.includes(alert.group)) return false;
  return true;
}

/**
 * Throttle first (the engine already decided it), then silences, then an acknowledgement
 * hold: a held group stays held while alerts keep coming less than `quietMs` apart.
 */
export function disposeAlert(
  alert: Alert,
  context: {
    silences: { id: string; matchers: SilenceMatcherSet }[];
    hold: AckHold | undefined;
    now: number;
    quietMs: number;
  },
): AlertDisposition {
  if (alert.suppressed) return { status: 'suppressed', reason: 'throttle' };
  const silence = context.silences.find((candidate) => silenceCovers(candidate.matchers, alert));
  if (silence) return { status: 'silenced', silenceId: silence.id };
  if (context.hold && context.now - context.hold.lastAlertAt < context.quietMs) {
    return { status: 'suppressed', reason: 'acknowledged' };
  }
  return { status: 'active' };
}

export function subscriptionWants(subscription: RoutableSubscription, alert: Alert): boolean {
  if (subscription.ruleIds && !subscription.ruleIds.includes(alert.ruleId)) return false;
  if (subscription.tags && !subscription.tags.some((tag) => alert.tags.includes(tag))) return false;
  return severityRank[alert.severity] >= severityRank[subscription.minSeverity];
}

/** An alert with what routing decided: its status and when it was received (ISO 8601). */
export type RoutedAlert = Alert & { status: AlertDisposition['status']; receivedAt: string };
export type RoutedJob = {
  alertId: string;
  subscriptionId: string;
  channel: RoutableSubscription['channel'];
  endpointId: string | null;
};
export type RoutedDigestEntry = { subscriptionId: string; alertId: string; receivedAt: string };
/** An acknowledgement hold moved (`lastAlertAt` ISO 8601) or re-armed (`null`). */
export type RoutedAck = { ruleId: string; group: string | null; lastAlertAt: string | null };

export type RoutingContext = {
  silences: { id: string; matchers: SilenceMatcherSet }[];
  subscriptions: readonly RoutableSubscription[];
  /** The acknowledgement holds in force; `lastAlertAt` epoch ms. */
  holds: readonly { ruleId: string; group: string | null; lastAlertAt: number }[];
  /** Epoch ms: the batch's receive time. */
  now: number;
  quietMs: number;
};

/**
 * Routes a batch of fired alerts, in order: each gets its status (`disposeAlert`); an active
 * one gets a delivery job per immediate subscription that wants it and a digest entry per
 * digest subscription; acknowledgement holds move or re-arm as the batch goes (a later alert
 * of the same group sees what an earlier one did to its hold). A suppressed or silenced alert
 * gets neither job nor digest entry, whoever routes it and however often.
 *
 * An alert whose id came earlier in the batch is dropped, job, digest entry and hold change
 * with it: the first decides, as the store keeps the first it stored. (An event redelivered
 * after its group's ledger let it go fires its alert id again, later in time, so suppressed;
 * when the original and the redelivery commit together, the original still wins.)
 */
export function routeAlerts(alerts: readonly Alert[], context: RoutingContext) {
  const receivedAt = new Date(context.now).toISOString();
  const routed: RoutedAlert[] = [];
  const jobs: RoutedJob[] = [];
  const digestEntries: RoutedDigestEntry[] = [];
  const acks: RoutedAck[] = [];
  /** (rule, group) → the hold's last alert time (epoch ms), or null once it re-armed in this batch. */
  const holds = new Map<string, number | null>(
    context.holds.map((hold) => [holdKeyOf(hold.ruleId, hold.group), hold.lastAlertAt]),
  );
  const seen = new Set<string>();
  for (const alert of alerts) {
    if (seen.has(alert.id)) continue;
    seen.add(alert.id);
    const holdKey = holdKeyOf(alert.ruleId, alert.group);
    const lastAlertAt = alert.suppressed ? undefined : holds.get(holdKey);
    const disposition = disposeAlert(alert, {
      silences: context.silences,
      hold: typeof lastAlertAt === 'number' ? { lastAlertAt } : undefined,
      now: context.now,
      quietMs: context.quietMs,
    });
    if (typeof lastAlertAt === 'number' && !alert.suppressed && disposition.status !== 'silenced') {
      // A held group's quiet period restarts with every alert; a quiet one re-arms.
      const held = disposition.status === 'suppressed';
      holds.set(holdKey, held ? context.now : null);
      acks.push({ ruleId: alert.ruleId, group: alert.group, lastAlertAt: held ? receivedAt : null });
    }
    routed.push({ ...alert, status: disposition.status, receivedAt });
    if (disposition.status !== 'active') continue;
    for (const subscription of context.subscriptions) {
      if (!subscriptionWants(subscription, alert)) continue;
      if (subscription.mode === 'immediate') {
        jobs.push({
          alertId: alert.id,
          subscriptionId: subscription.id,
          channel: subscription.channel,
          endpointId: subscription.endpointId,
        });
      } else {
        digestEntries.push({ subscriptionId: subscription.id, alertId: alert.id, receivedAt });
      }
    }
  }
  return { alerts: routed, jobs, digestEntries, acks };
}

function holdKeyOf(ruleId: string, group: string | null): string {
  return `${ruleId}\u0000${group ?? ''}`;
}
