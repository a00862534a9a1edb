import type { MatchExplanation } from '../alerts/alert.ts';
import { highlightSegments, otherMatches, rangesOf } from '../delivery/email/highlight.ts';

/** What `tocsin tail` prints of an alert: the stream's alert record, the fields it shows. */
export type TailedAlert = {
  ruleId: string;
  severity: string;
  group: string | null;
  eventTime: string;
  matches: MatchExplanation[];
  event: { title: string; source?: { name: string } };
};

/** How matched text is marked: ANSI bold reverse on a terminal, `**…**` in a pipe or file. */
export type Marker = { open: string; close: string };

export const terminalMarker: Marker = { open: '\u001b[1;7m', close: '\u001b[0m' };
export const plainMarker: Marker = { open: '**', close: '**' };

const severityWidth = 'CRITICAL'.length;

/**
 * One alert as terminal lines: event time, severity, rule (and threshold group), the title with
 * its matched words marked, the source; then one indented line naming the matches outside the
 * title (`summary`, `commodities[0]`, …), so every reason the rule fired is on screen.
 */
export function formatAlertLines(alert: TailedAlert, marker: Marker): string {
  const title = highlightSegments(alert.event.title, rangesOf(alert.matches, 'title', alert.event.title))
    .map((segment) => (segment.marked ? `${marker.open}${segment.text}${marker.close}` : segment.text))
    .join('');
  const rule = alert.group === null ? alert.ruleId : `${alert.ruleId} [${alert.group}]`;
  const source = alert.event.source ? ` (${alert.event.source.name})` : '';
  const lines = [
    `${alert.eventTime}  ${alert.severity.toUpperCase().padEnd(severityWidth)}  ${rule}  ${title}${source}`,
  ];
  const others = otherMatches(alert.matches, ['title']);
  if (others.length > 0) {
    const listed = others.map((match) => `${match.field}: ${marker.open}${match.text}${marker.close}`);
    lines.push(`    also matched ${listed.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
