/// <reference lib="dom" />
import type { PageAlert } from './page-types.ts';

/**
 * What the page knows of alerts beyond the alert record: the silences in force (from
 * `GET /v1/silences?state=active` and the stream's `state` messages) and the state an alert
 * card shows — acknowledged (by whom), silenced (stored so, or covered now by a silence),
 * suppressed (by a throttle).
 */

export type PageSilence = {
  id: string;
  matchers: { ruleIds?: string[]; tags?: string[]; severities?: string[]; groups?: (string | null)[] };
  startsAt: string;
  endsAt: string;
  state: 'pending' | 'active' | 'expired';
  createdBy: string;
};

export type StateMessage =
  | {
      type: 'state';
      change: 'acknowledged';
      ack: { alertId: string; ruleId: string; group: string | null; ackedBy: string; ackedAt: string };
    }
  | { type: 'state'; change: 'silenced' | 'unsilenced'; silence: PageSilence };

/** Whether a silence in force covers the alert (every matcher given must hold, as the server decides). */
export function isCovered(silence: PageSilence, alert: PageAlert, now: number): boolean {
  if (Date.parse(silence.startsAt) > now || Date.parse(silence.endsAt) <= now) return false;
  const { ruleIds, tags, severities, groups } = silence.matchers;
  if (ruleIds && !ruleIds.includes(alert.ruleId)) return false;
  if (tags && !tags.some((tag) => alert.tags.includes(tag))) return false;
  if (severities && !severities.includes(alert.severity)) return false;
  if (groups && !groups.includes(alert.group)) return false;
  return true;
}

export type CardState = { acknowledged: string | null; silencedUntil: string | null; suppressed: boolean };

export function cardState(alert: PageAlert, silences: Iterable<PageSilence>, now = Date.now()): CardState {
  let silencedUntil: string | null = alert.status === 'silenced' ? '' : null;
  for (const silence of silences) {
    if (!isCovered(silence, alert, now)) continue;
    if (silencedUntil === null || silencedUntil === '' || silence.endsAt > silencedUntil)
      silencedUntil = silence.endsAt;
  }
  return {
    acknowledged: alert.ackedBy,
    silencedUntil,
    suppressed: alert.status === 'suppressed',
  };
}
