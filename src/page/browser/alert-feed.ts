/// <reference lib="dom" />
import type { PageAlert } from './page-types.ts';

type Range = { start: number; end: number };

/** Fields of the event snapshot the page shows; matches in other fields are listed under the text. */
const shownFields = new Set(['title', 'summary']);

/**
 * `text` with the matched ranges wrapped in `<mark>`, built from text nodes (never HTML, so an
 * event cannot inject markup). Offsets are UTF-16 code units into the original value, as the
 * rule engine reports them; ranges that do not fit the text are ignored, overlaps merged.
 */
export function highlightText(text: string, ranges: readonly Range[]): DocumentFragment {
  const fragment = document.createDocumentFragment();
  const merged: Range[] = [];
  for (const range of [...ranges].sort((a, b) => a.start - b.start)) {
    if (range.start < 0 || range.end > text.length || range.start >= range.end) continue;
    const last = merged.at(-1);
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  let at = 0;
  for (const range of merged) {
    if (range.start > at) fragment.append(text.slice(at, range.start));
    const mark = document.createElement('mark');
    mark.textContent = text.slice(range.start, range.end);
    fragment.append(mark);
    at = range.end;
  }
  if (at < text.length) fragment.append(text.slice(at));
  return fragment;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.append(...children);
  return node;
}

/** Only http(s) links are followed: an event's url is data, not a place to run script from. */
function safeUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** One feed entry: severity, rule, time, tags; the title (a link to the source) and summary with the matched text marked. */
export function renderAlert(alert: PageAlert): HTMLLIElement {
  const item = element('li', 'alert');
  item.dataset.severity = alert.severity;
  item.dataset.alertId = alert.id;
  item.dataset.cursor = alert.cursor;

  const time = element('time', 'received', timeFormat.format(new Date(alert.receivedAt)));
  time.dateTime = alert.receivedAt;
  const meta = element(
    'div',
    'alert-meta',
    element('span', 'severity', alert.severity),
    element('span', 'rule', alert.ruleName),
    time,
  );
  if (alert.tags.length > 0)
    meta.append(element('span', 'tags', alert.tags.map((tag) => `#${tag}`).join(' ')));
  if (alert.event.source) meta.append(element('span', 'source', alert.event.source.name));

  const rangesOf = (field: string) => alert.matches.filter((match) => match.field === field);
  const href = safeUrl(alert.event.url);
  const titleText = highlightText(alert.event.title, rangesOf('title'));
  const title = element('h3', 'alert-title');
  if (href) {
    const link = element('a', 'source-link', titleText);
    link.href = href;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    title.append(link);
  } else {
    title.append(titleText);
  }
  item.append(meta, title);

  if (alert.event.summary) {
    item.append(element('p', 'alert-summary', highlightText(alert.event.summary, rangesOf('summary'))));
  }

  const elsewhere = alert.matches.filter((match) => !shownFields.has(match.field));
  if (elsewhere.length > 0) {
    const matched = element('p', 'alert-matched', 'matched ');
    const seen = new Set<string>();
    for (const match of elsewhere) {
      const key = `${match.field}\u0000${match.text.toLowerCase()}`;
      if (seen.has(key)) continue;
      seen.add(key);
      matched.append(element('span', 'field', match.field), ' ', element('mark', '', match.text), ' ');
    }
    item.append(matched);
  }
  return item;
}
