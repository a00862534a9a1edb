import type { MatchExplanation } from '../../alerts/alert.ts';

/**
 * Matched text, highlighted. An alert explains itself with `matches`: the field, the matched
 * text and its `[start, end)` offsets in UTF-16 code units into the original string value.
 * These functions cut a value into plain and marked segments; the templates escape every
 * segment's text and wrap the marked ones in `<mark>`, so no text of an event ever reaches
 * the HTML unescaped.
 */

export type Segment = { text: string; marked: boolean };

export type Range = { start: number; end: number };

/**
 * Cuts `text` at the ranges: out-of-bounds ranges are clamped, empty ones dropped, overlapping
 * and touching ones merged, and a range never splits a surrogate pair (it grows to the whole
 * character).
 */
export function highlightSegments(text: string, ranges: readonly Range[]): Segment[] {
  const clean = ranges
    .map(({ start, end }) => ({
      start: widenStart(text, clamp(Math.min(start, end), 0, text.length)),
      end: widenEnd(text, clamp(Math.max(start, end), 0, text.length)),
    }))
    .filter((range) => range.end > range.start)
    .sort((a, b) => a.start - b.start || a.end - b.end);

  const merged: Range[] = [];
  for (const range of clean) {
    const last = merged.at(-1);
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }

  const segments: Segment[] = [];
  let at = 0;
  for (const range of merged) {
    if (range.start > at) segments.push({ text: text.slice(at, range.start), marked: false });
    segments.push({ text: text.slice(range.start, range.end), marked: true });
    at = range.end;
  }
  if (at < text.length || segments.length === 0) segments.push({ text: text.slice(at), marked: false });
  return segments;
}

/**
 * The ranges of `matches` that explain one top-level string field (`title`, `summary`). A
 * match whose offsets no longer point at its text (a snapshot cut short) is left out rather
 * than marking the wrong words.
 */
export function rangesOf(matches: readonly MatchExplanation[], field: string, value: string): Range[] {
  return matches
    .filter((match) => match.field === field && match.index === undefined)
    .filter((match) => value.slice(match.start, match.end) === match.text)
    .map(({ start, end }) => ({ start, end }));
}

/** A match in a field the email does not show in full (body, topics, entities…): its field and text. */
export type OtherMatch = { field: string; text: string };

/** The matches outside `shownFields`, one per (field, index, text), in the alert's order. */
export function otherMatches(
  matches: readonly MatchExplanation[],
  shownFields: readonly string[],
): OtherMatch[] {
  const seen = new Set<string>();
  const result: OtherMatch[] = [];
  for (const match of matches) {
    if (shownFields.includes(match.field) && match.index === undefined) continue;
    const field = match.index === undefined ? match.field : `${match.field}[${match.index}]`;
    const key = `${field}\u0000${match.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    result.push({ field, text: match.text });
  }
  return result;
}

function clamp(value: number, min: number, max: number): number {
  return Number.isFinite(value) ? Math.min(max, Math.max(min, Math.trunc(value))) : min;
}

const isHigh = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff;

function widenStart(text: string, start: number): number {
  return start > 0 && isLow(text.charCodeAt(start)) && isHigh(text.charCodeAt(start - 1)) ? start - 1 : start;
}

function widenEnd(text: string, end: number): number {
  return end > 0 && end < text.length && isLow(text.charCodeAt(end)) && isHigh(text.charCodeAt(end - 1))
    ? end + 1
    : end;
}
