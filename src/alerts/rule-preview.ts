import type { IntelEvent } from '../ingest/event-schema.ts';
import type { CompiledRule } from '../rules/compiled-rule.ts';
import { createRuleIndex } from '../rules/rule-index.ts';
import type { MatchExplanation } from './alert.ts';
import { createAlertEngine } from './alert-engine.ts';
import { type AlertOutput, alertOutput } from './alert-output.ts';

/**
 * What a draft rule would have done to a stream of events: the events it matches and the
 * alerts it would fire, through the same matcher and alert engine as the service and
 * `tocsin match` (so a preview and `tocsin match --include-suppressed` over the same events in
 * the same order give the same alerts). Pure: it takes the events as an async iterable and
 * reads them one at a time; what it keeps is the engine's state for one rule, the per-day
 * counts, the newest `sampleLimit` matches and at most `alertLimit` alerts.
 *
 * The events may be only the candidates of a larger window (`windowEvents`), those a prefilter
 * (rules/event-terms.ts) could not rule out: an event the rule does not match changes nothing
 * here (the engine only ever sees matches), so leaving such events out changes no result.
 */

export type PreviewSample = { event: IntelEvent; matches: MatchExplanation[] };

export type PreviewDay = {
  /** UTC day of the event time, YYYY-MM-DD. */
  day: string;
  /** Events of that day the rule matched. */
  events: number;
  /** Alerts of that day (by the alert's event time) that a throttle did not suppress. */
  alerts: number;
};

export type RulePreview = {
  /** Events read. */
  scannedEvents: number;
  /** Distinct events the rule matched (a repeated event id counts once, as the engine sees it). */
  matchedEvents: number;
  perDay: PreviewDay[];
  /** Every alert, suppressed ones too: `alerts.length` may stop at `alertLimit`, this does not. */
  alertCount: number;
  alerts: AlertOutput[];
  /** The newest `sampleLimit` matched events with their explanations, newest first. */
  samples: PreviewSample[];
};

export type PreviewOptions = {
  sampleLimit?: number;
  alertLimit?: number;
  /** The size of the window when `events` are only its candidates (reported as `scannedEvents`). */
  windowEvents?: number;
};

export async function previewRule(
  rule: CompiledRule,
  events: AsyncIterable<IntelEvent> | Iterable<IntelEvent>,
  options: PreviewOptions = {},
): Promise<RulePreview> {
  const sampleLimit = options.sampleLimit ?? 50;
  const alertLimit = options.alertLimit ?? Number.POSITIVE_INFINITY;
  // A draft is previewed as if enabled: the point is to see what it would catch.
  const draft: CompiledRule = rule.definition.enabled
    ? rule
    : { ...rule, definition: { ...rule.definition, enabled: true } };
  const matcher = createRuleIndex([draft]);
  const engine = createAlertEngine(undefined, { trackChanges: false, dedupIds: true });

  const days = new Map<string, PreviewDay>();
  const dayOf = (iso: string): PreviewDay => {
    const day = new Date(iso).toISOString().slice(0, 10);
    let entry = days.get(day);
    if (entry === undefined) {
      entry = { day, events: 0, alerts: 0 };
      days.set(day, entry);
    }
    return entry;
  };
  const matchedIds = new Set<string>();
  /** A ring of the newest samples; `next` is where the next one goes. */
  const ring: PreviewSample[] = [];
  let next = 0;
  const alerts: AlertOutput[] = [];
  let alertCount = 0;
  let scannedEvents = 0;

  for await (const event of events) {
    scannedEvents += 1;
    const matches = matcher.match(event);
    if (matches.length === 0) continue;
    if (!matchedIds.has(event.id)) {
      matchedIds.add(event.id);
      dayOf(event.publishedAt).events += 1;
      const sample = { event, matches: matches[0]!.matches };
      if (ring.length < sampleLimit) ring.push(sample);
      else if (sampleLimit > 0) {
        ring[next] = sample;
        next = (next + 1) % sampleLimit;
      }
    }
    for (const alert of engine.process(event, matches)) {
      alertCount += 1;
      if (!alert.suppressed) dayOf(alert.eventTime).alerts += 1;
      if (alerts.length < alertLimit) alerts.push(alertOutput(alert));
    }
  }

  const samples = [...ring.slice(next), ...ring.slice(0, next)].reverse();
  return {
    scannedEvents: options.windowEvents ?? scannedEvents,
    matchedEvents: matchedIds.size,
    perDay: [...days.values()].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)),
    alertCount,
    alerts,
    samples,
  };
}
