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
