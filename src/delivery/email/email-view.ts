import { DateTime } from 'luxon';
import type { Severity } from '../../rules/rule-schema.ts';
import type { Subscription } from '../../store/store.ts';

/**
 * What the alert and digest emails have in common: dates in the subscriber's time zone, the
 * severity badge, links that are safe to put in an `href`, and the sentence that tells the
 * recipient why they got the email.
 */

/** Everything an email needs to explain itself and let its reader leave. */
export type EmailContext = {
  subscription: Pick<Subscription, 'id' | 'ruleIds' | 'tags' | 'minSeverity' | 'mode' | 'dailyHour'>;
  recipient: { address: string; timeZone: string };
  /** The confirmation page of the one-click link (`GET /u/:token`). */
  unsubscribeUrl: string;
  /** Base of other links (the live page), no trailing slash. */
  publicUrl: string;
};

const severityColors: Record<Severity, string> = {
  critical: '#b91c1c',
  high: '#c2410c',
  medium: '#b45309',
  low: '#1d4ed8',
  info: '#4b5563',
};

export type SeverityBadge = { label: string; color: string };

export function severityBadge(severity: Severity): SeverityBadge {
  return { label: severity.toUpperCase(), color: severityColors[severity] ?? '#4b5563' };
}

/**
 * `Thu 2 Jul 2026, 11:30 CEST` in the zone; the input unchanged when it is not a date. Zone
 * abbreviations depend on the locale's habits (en-GB knows CEST but writes GMT-4 for New
 * York, en-US the other way round): the first real abbreviation wins, else the GMT offset.
 */
export function formatLocalTime(iso: string, timeZone: string): string {
  const time = DateTime.fromISO(iso, { zone: 'utc' });
  if (!time.isValid) return iso;
  const local = time.setZone(timeZone).setLocale('en-GB');
  const names = ['en-GB', 'en-US'].map((locale) => local.setLocale(locale).toFormat('ZZZZ'));
  const name = names.find((candidate) => !/^GMT[+-]/.test(candidate)) ?? names[0];
  return `${local.toFormat('ccc d LLL yyyy, HH:mm')} ${name}`;
}

/** `28 Mar 2026, 08:00` in the zone. */
export function formatLocalDate(at: Date, timeZone: string): string {
  return DateTime.fromJSDate(at, { zone: timeZone }).setLocale('en-GB').toFormat('d LLL yyyy, HH:mm');
}

/** An http(s) URL to link to, or null: a `javascript:` or otherwise odd URL from a feed is never a link. */
export function safeLink(url: string | undefined | null): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** "… as they happen" / "… in a daily digest at 08:00 (Europe/Berlin)". */
export function deliveryPhrase(context: EmailContext): string {
  const { subscription, recipient } = context;
  switch (subscription.mode) {
    case 'immediate':
      return 'as they happen';
    case 'hourly':
      return 'in an hourly digest';
    case 'daily': {
      const hour = String(subscription.dailyHour ?? 0).padStart(2, '0');
      return `in a daily digest at ${hour}:00 (${recipient.timeZone})`;
    }
  }
}

/** Why this email: which subscription selected it, and for which address. */
export function reasonSentence(context: EmailContext): string {
  const { subscription, recipient } = context;
  const rules =
    subscription.ruleIds === null
      ? 'any rule'
      : `${subscription.ruleIds.length === 1 ? 'rule' : 'rules'} ${subscription.ruleIds.join(', ')}`;
  const tags = subscription.tags === null ? '' : ` tagged ${subscription.tags.join(' or ')}`;
  return (
    `You get this email because subscription ${subscription.id} sends alerts of ${rules}${tags}, ` +
    `severity ${subscription.minSeverity} or higher, to ${recipient.address} ${deliveryPhrase(context)}.`
  );
}
