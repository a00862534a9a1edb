/// <reference lib="dom" />
import { highlightText } from './alert-feed.ts';
import { errorMessage, type PageApi } from './page-api.ts';
import type { PageAlert } from './page-types.ts';

/**
 * The explain view of one alert (`GET /v1/alerts/:id` and its rule): the rule's query with the
 * clauses that held marked, next to the brief with every match highlighted, and the alert's
 * deliveries (channel, status, attempts).
 *
 * A clause "held" when its word is among the matched text: the alert's explanations are the
 * matched clauses' text (field, offsets), so a query word is marked when a token of some
 * explanation equals it (or starts with it, for `word*`), compared the way the rule language
 * analyses text (NFKD, combining marks dropped, lower case). Operators and field names are
 * never marked; a NOT clause holds exactly when its word is absent, so it is not marked either.
 */

type Delivery = { id: string; channel: string; status: string; attempts: number; lastError: string | null };
type AlertDetail = PageAlert & { deliveries: Delivery[] };

const operators = new Set(['AND', 'OR', 'NOT', 'TO']);

/** The rule language's analysis, for marking: tokens are runs of letters and digits. */
function tokensOf(text: string): string[] {
  return (
    text
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** The query text as spans; `data-held` on the words found among the matched text. */
export function markQuery(query: string, matchedText: readonly string[]): DocumentFragment {
  const tokens = new Set(matchedText.flatMap(tokensOf));
  const fragment = document.createDocumentFragment();
  const word = /(-?)([\p{L}\p{N}_.]+)(\*?)(:?)/gu;
  let at = 0;
  let negated = false;
  for (const found of query.matchAll(word)) {
    const [whole, minus, body, star, colon] = found as unknown as [string, string, string, string, string];
    const start = found.index ?? 0;
    if (start > at) fragment.append(query.slice(at, start));
    at = start + whole.length;
    const span = document.createElement('span');
    span.textContent = whole;
    if (colon !== '' || operators.has(body) || /^NEAR\/|^ONEAR\//.test(query.slice(start))) {
      span.className = colon !== '' ? 'q-field' : 'q-op';
      negated = body === 'NOT';
      fragment.append(span);
      continue;
    }
    const parts = tokensOf(body);
    const held =
      !negated &&
      minus === '' &&
      parts.length > 0 &&
      parts.every((part, i) =>
        star !== '' && i === parts.length - 1
          ? [...tokens].some((t) => t.startsWith(part))
          : tokens.has(part),
      );
    negated = false;
    span.className = held ? 'q-word held' : 'q-word';
    if (held) span.dataset.held = 'true';
    fragment.append(span);
  }
  if (at < query.length) fragment.append(query.slice(at));
  return fragment;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  ...children: (Node | string)[]
) {
  const node = document.createElement(tag);
  node.className = className;
  node.append(...children);
  return node;
}

export function createAlertDetail(api: PageApi) {
  const dialog = document.getElementById('alert-detail') as HTMLDialogElement;
  const body = document.getElementById('alert-detail-body') as HTMLDivElement;
  document.getElementById('alert-detail-close')!.addEventListener('click', () => dialog.close());

  return {
    async open(alert: PageAlert): Promise<void> {
      body.replaceChildren(element('p', 'hint', 'Loading…'));
      if (!dialog.open) dialog.showModal();
      const [detail, rule] = await Promise.all([
        api.get<AlertDetail>(`/v1/alerts/${encodeURIComponent(alert.id)}`),
        api.get<{ document: { query: string; name: string } }>(
          `/v1/rules/${encodeURIComponent(alert.ruleId)}`,
        ),
      ]);
      if (!detail.ok) {
        body.replaceChildren(element('p', 'error', errorMessage(detail)));
        return;
      }
      const shown = detail.body;
      dialog.dataset.alertId = shown.id;

      const query = element('section', 'explain-query');
      query.append(element('h3', '', `Rule ${shown.ruleName} (${shown.ruleId})`));
      if (rule.ok) {
        query.append(
          element(
            'pre',
            'query',
            markQuery(
              rule.body.document.query,
              shown.matches.map((m) => m.text),
            ),
          ),
        );
      } else {
        query.append(element('p', 'hint', 'The rule is gone: its query cannot be shown.'));
      }

      const brief = element('section', 'explain-brief');
      const rangesOf = (field: string) => shown.matches.filter((match) => match.field === field);
      brief.append(element('h3', 'alert-title', highlightText(shown.event.title, rangesOf('title'))));
      if (shown.event.summary)
        brief.append(element('p', 'alert-summary', highlightText(shown.event.summary, rangesOf('summary'))));
      const matches = element('ul', 'matches');
      for (const match of shown.matches) {
        matches.append(
          element(
            'li',
            '',
            element('span', 'field', `${match.field}${match.index === undefined ? '' : `[${match.index}]`}`),
            ' ',
            element('mark', '', match.text),
            ` ${match.start}–${match.end}`,
          ),
        );
      }
      brief.append(element('h4', '', 'Every match'), matches);

      const deliveries = element('section', 'explain-deliveries');
      deliveries.append(element('h3', '', 'Deliveries'));
      if (shown.deliveries.length === 0) {
        deliveries.append(element('p', 'hint', 'No deliveries: no subscription took this alert.'));
      } else {
        const table = element('table', 'deliveries');
        const head = element(
          'tr',
          '',
          element('th', '', 'channel'),
          element('th', '', 'status'),
          element('th', '', 'attempts'),
          element('th', '', 'last error'),
        );
        table.append(element('thead', '', head));
        const rows = element('tbody', '');
        for (const delivery of shown.deliveries) {
          const row = element(
            'tr',
            'delivery',
            element('td', 'channel', delivery.channel),
            element('td', 'status', delivery.status),
            element('td', 'attempts', String(delivery.attempts)),
            element('td', 'last-error', delivery.lastError ?? ''),
          );
          row.dataset.status = delivery.status;
          rows.append(row);
        }
        table.append(rows);
        deliveries.append(table);
      }
      body.replaceChildren(element('div', 'explain', query, brief), deliveries);
    },
  };
}
