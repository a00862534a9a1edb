/// <reference lib="dom" />
import type { CardState } from './alert-state.ts';
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

/** What a card shows and offers beyond the alert: its state, and the actions of an editor. */
export type CardContext = {
  state: CardState;
  canEdit: boolean;
  onAck(alert: PageAlert): void;
  onSilence(alert: PageAlert, scope: 'rule' | 'group', duration: string): void;
  onDetails(alert: PageAlert): void;
};

const silenceDurations = ['1h', '24h', '7d'];

function option(value: string, label: string): HTMLOptionElement {
  const node = document.createElement('option');
  node.value = value;
  node.textContent = label;
  return node;
}

function button(label: string, className: string, onClick: () => void): HTMLButtonElement {
  const node = element('button', className, label);
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

/** The state badges (acknowledged, silenced, suppressed) and, for an editor, the actions. */
function renderCardControls(alert: PageAlert, context: CardContext): HTMLElement[] {
  const { state } = context;
  const badges = element('div', 'alert-state');
  const states: string[] = [];
  if (state.acknowledged !== null) {
    states.push('acknowledged');
    badges.append(element('span', 'state acknowledged', `acknowledged by ${state.acknowledged}`));
  }
  if (state.silencedUntil !== null) {
    states.push('silenced');
    const until =
      state.silencedUntil === '' ? '' : ` until ${timeFormat.format(new Date(state.silencedUntil))}`;
    badges.append(element('span', 'state silenced', `silenced${until}`));
  }
  if (state.suppressed) {
    states.push('suppressed');
    badges.append(element('span', 'state suppressed', 'suppressed by its throttle'));
  }
  badges.dataset.states = states.join(' ');

  const actions = element('div', 'alert-actions');
  actions.append(button('Details', 'details', () => context.onDetails(alert)));
  if (context.canEdit) {
    if (state.acknowledged === null) actions.append(button('Acknowledge', 'ack', () => context.onAck(alert)));
    const scope = element('select', 'silence-scope');
    scope.setAttribute('aria-label', 'silence scope');
    scope.append(option('rule', 'this rule'), option('group', 'this rule and group'));
    const duration = element('select', 'silence-duration');
    duration.setAttribute('aria-label', 'silence duration');
    duration.append(...silenceDurations.map((d) => option(d, d)), option('custom', 'custom…'));
    const custom = element('input', 'silence-custom');
    custom.placeholder = 'e.g. 90m, 3d';
    custom.setAttribute('aria-label', 'custom silence duration');
    custom.hidden = true;
    duration.addEventListener('change', () => {
      custom.hidden = duration.value !== 'custom';
    });
    actions.append(
      scope,
      duration,
      custom,
      button('Silence', 'silence', () => {
        const chosen = duration.value === 'custom' ? custom.value.trim() : duration.value;
        if (chosen !== '') context.onSilence(alert, scope.value as 'rule' | 'group', chosen);
      }),
    );
  }
  return [badges, actions];
}

/** One feed entry: severity, rule, time, tags; the title (a link to the source) and summary with the matched text marked. */
export function renderAlert(alert: PageAlert, context?: CardContext): HTMLLIElement {
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
  if (context) {
    const [badges, actions] = renderCardControls(alert, context);
    item.dataset.states = badges!.dataset.states;
    item.append(badges!, actions!);
  }
  return item;
}
