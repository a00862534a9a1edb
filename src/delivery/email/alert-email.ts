import type { Alert } from '../../alerts/alert.ts';
import { alertHtmlTemplate, alertTextTemplate } from './email-templates.ts';
import { type EmailContext, formatLocalTime, reasonSentence, safeLink, severityBadge } from './email-view.ts';
import { headerText } from './header-safety.ts';
import { highlightSegments, otherMatches, rangesOf } from './highlight.ts';

/** A rendered email: the subject (one safe header line) and both bodies. */
export type RenderedEmail = { subject: string; html: string; text: string };

export type AlertEmailInput = EmailContext & {
  alert: Pick<Alert, 'id' | 'ruleId' | 'ruleName' | 'severity' | 'matches' | 'event'>;
  /** Said at the top when this email used up the recipient's hourly allowance. */
  limitNote?: string | null;
};

const shownFields = ['title', 'summary'];

/**
 * One alert as an email: `[HIGH] <rule name>: <event title>`; the title and summary with
 * the matched words marked, the other matches listed by field, the source, when it was
 * published in the recipient's time zone, why the recipient got it and how to leave.
 */
export function renderAlertEmail(input: AlertEmailInput): RenderedEmail {
  const { alert } = input;
  const { event } = alert;
  const severity = severityBadge(alert.severity);
  const summary = event.summary ?? null;
  const view = {
    documentTitle: `${alert.ruleName}: ${event.title}`,
    preheader: summary ?? event.title,
    kicker: 'alert',
    severity,
    ruleName: alert.ruleName,
    ruleId: alert.ruleId,
    alertId: alert.id,
    eventId: event.id,
    title: highlightSegments(event.title, rangesOf(alert.matches, 'title', event.title)),
    summary:
      summary === null ? null : highlightSegments(summary, rangesOf(alert.matches, 'summary', summary)),
    otherMatches: otherMatches(alert.matches, shownFields),
    eventUrl: safeLink(event.url),
    source: event.source ? { name: event.source.name, url: safeLink(event.source.url) } : null,
    publishedAt: formatLocalTime(event.publishedAt, input.recipient.timeZone),
    reason: reasonSentence(input),
    unsubscribeUrl: input.unsubscribeUrl,
    limitNote: input.limitNote ?? null,
  };
  return {
    subject: headerText(`[${severity.label}] ${alert.ruleName}: ${event.title}`, 180),
    html: alertHtmlTemplate(view),
    text: alertTextTemplate(view),
  };
}
