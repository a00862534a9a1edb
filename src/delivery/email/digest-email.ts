import { DateTime } from 'luxon';
import type { Alert } from '../../alerts/alert.ts';
import type { RenderedEmail } from './alert-email.ts';
import { digestHtmlTemplate, digestTextTemplate } from './email-templates.ts';
import {
  type EmailContext,
  formatLocalDate,
  formatLocalTime,
  reasonSentence,
  safeLink,
  severityBadge,
} from './email-view.ts';
import { headerText } from './header-safety.ts';
import { highlightSegments, rangesOf } from './highlight.ts';

export type DigestAlert = Pick<Alert, 'id' | 'ruleId' | 'ruleName' | 'severity' | 'matches' | 'event'>;

export type DigestEmailInput = EmailContext & {
  /** The period's alerts, newest first (as `store.digests.alerts` gives them). */
  alerts: readonly DigestAlert[];
  period: { start: Date; end: Date };
  /** At most this many alerts are listed; the rest are counted in an "and N more" link. */
  maxAlerts: number;
  /**
   * Set for the digest of an immediate subscription: the alerts that came past the
   * recipient's hourly limit of this many emails.
   */
  hourlyLimit?: number | undefined;
};

/**
 * One email for a period's alerts: grouped by rule (the rule with the newest alert first),
 * newest first within a rule, every alert once; at most `maxAlerts` listed, then "and N more".
 */
export function renderDigestEmail(input: DigestEmailInput): RenderedEmail {
  const { alerts, subscription, recipient } = input;
  const listed = alerts.slice(0, input.maxAlerts);
  const totals = new Map<string, number>();
  for (const alert of alerts) totals.set(alert.ruleId, (totals.get(alert.ruleId) ?? 0) + 1);

  const groups = new Map<
    string,
    { ruleName: string; severity: DigestAlert['severity']; alerts: DigestAlert[] }
  >();
  for (const alert of listed) {
    const group = groups.get(alert.ruleId) ?? {
      ruleName: alert.ruleName,
      severity: alert.severity,
      alerts: [],
    };
    group.alerts.push(alert);
    groups.set(alert.ruleId, group);
  }

  const count = alerts.length;
  const noun = count === 1 ? 'alert' : 'alerts';
  const isOverflow = subscription.mode === 'immediate';
  const heading = isOverflow
    ? `${count} more ${noun} from the last hour`
    : `${subscription.mode === 'daily' ? 'Daily' : 'Hourly'} digest: ${count} ${noun}`;
  const periodLabel = `${formatLocalDate(input.period.start, recipient.timeZone)} – ${formatLocalDate(input.period.end, recipient.timeZone)} (${recipient.timeZone})`;
  const limitNote = isOverflow
    ? `You reached your limit of ${input.hourlyLimit ?? 'N'} alert emails per hour, so ${count === 1 ? 'this alert was' : `these ${count} alerts were`} collected here instead of being sent one by one.`
    : null;

  const view = {
    documentTitle: heading,
    preheader: `${heading}: ${listed[0]?.event.title ?? ''}`,
    kicker: isOverflow ? 'alerts past your hourly limit' : `${subscription.mode} digest`,
    heading,
    periodLabel,
    limitNote,
    groups: [...groups].map(([ruleId, group]) => {
      const total = totals.get(ruleId) ?? group.alerts.length;
      const shown = group.alerts.length;
      return {
        ruleName: group.ruleName,
        severity: severityBadge(group.severity),
        countLabel:
          shown === total ? `${total} ${total === 1 ? 'alert' : 'alerts'}` : `${shown} of ${total} alerts`,
        alerts: group.alerts.map((alert) => ({
          title: highlightSegments(alert.event.title, rangesOf(alert.matches, 'title', alert.event.title)),
          eventUrl: safeLink(alert.event.url),
          sourceName: alert.event.source?.name ?? null,
          publishedAt: formatLocalTime(alert.event.publishedAt, recipient.timeZone),
        })),
      };
    }),
    more: count > listed.length ? { count: count - listed.length, url: `${input.publicUrl}/` } : null,
    reason: reasonSentence(input),
    unsubscribeUrl: input.unsubscribeUrl,
  };

  const short = (at: Date) =>
    DateTime.fromJSDate(at, { zone: recipient.timeZone }).setLocale('en-GB').toFormat('d LLL HH:mm');
  const subject = isOverflow
    ? `Tocsin: ${count} more ${noun} past your hourly limit`
    : `Tocsin ${subscription.mode} digest: ${count} ${noun} (${short(input.period.start)} – ${short(input.period.end)})`;
  return {
    subject: headerText(subject, 180),
    html: digestHtmlTemplate(view),
    text: digestTextTemplate(view),
  };
}
