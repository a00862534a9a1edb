/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { countByHour, renderChart } from './alert-chart.ts';
import { createAlertDetail } from './alert-detail.ts';
import { type CardContext, renderAlert } from './alert-feed.ts';
import { cardState, type PageSilence, type StateMessage } from './alert-state.ts';
import { createAlertStream, type StreamState } from './alert-stream.ts';
import { createPageApi, errorMessage } from './page-api.ts';
import {
  filterFromForm,
  filterFromUrl,
  filterParams,
  matchesFilter,
  showFilterInForm,
} from './page-filter.ts';
import type { PageAlert, PageFilter } from './page-types.ts';
import { createRulesView } from './rules-view.ts';

/**
 * The live page at `/`: the alert feed (newest first), filters, the connection state and a
 * chart of the last 24 hours. It uses only the public API with an API key the user gives once
 * (kept in localStorage, or passed as `/#key=<key>`): `GET /v1/alerts` for the last 24 hours,
 * then `/v1/stream` resumed after the newest of them.
 *
 * The analyst's workbench lives here too: each card shows its state (acknowledged, silenced,
 * suppressed) and, for a key with the editor role, "Acknowledge" and "Silence"; the stream's
 * `state` messages keep every viewer's cards current. "Details" opens the explain view
 * (alert-detail.ts); the Rules view (rules-view.ts) lists, edits and previews rules.
 */

const keyStorage = 'tocsin.apiKey';
const dayMs = 86_400_000;
const maxShown = 500;

const byId = <T extends HTMLElement | SVGSVGElement>(id: string) => document.getElementById(id) as T;

function readApiKey(): string | undefined {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('key');
  if (fromHash) {
    localStorage.setItem(keyStorage, fromHash);
    // The key leaves the address bar (and the history) at once.
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  return localStorage.getItem(keyStorage) ?? undefined;
}

async function loadLastDay(apiKey: string): Promise<PageAlert[] | 'unauthorized' | 'forbidden'> {
  const items: PageAlert[] = [];
  let cursor: string | null = null;
  const from = new Date(Date.now() - dayMs).toISOString();
  for (let page = 0; page < 5; page++) {
    const url = new URL('/v1/alerts', location.href);
    url.search = new URLSearchParams({
      status: 'active',
      from,
      limit: '1000',
      ...(cursor ? { cursor } : {}),
    }).toString();
    const response = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` } });
    if (response.status === 401) return 'unauthorized';
    // A key whose role may not read (an ingest key): the page needs a reader key.
    if (response.status === 403) return 'forbidden';
    if (!response.ok) break;
    const body = (await response.json()) as { items: PageAlert[]; nextCursor: string | null };
    items.push(...body.items);
    cursor = body.nextCursor;
    if (cursor === null) break;
  }
  return items;
}

function askForKey(message?: string): void {
  const form = byId<HTMLFormElement>('key-form');
  form.hidden = false;
  const error = byId<HTMLParagraphElement>('key-error');
  error.hidden = message === undefined;
  error.textContent = message ?? '';
  form.addEventListener(
    'submit',
    (event) => {
      event.preventDefault();
      const key = String(new FormData(form).get('key') ?? '').trim();
      if (key === '') return;
      localStorage.setItem(keyStorage, key);
      location.reload();
    },
    { once: true },
  );
}

function showState(state: StreamState | 'no key', detail?: string): void {
  const output = byId<HTMLOutputElement>('connection');
  output.dataset.state = state;
  output.textContent = detail ? `${state}: ${detail}` : state;
}

async function main(): Promise<void> {
  const apiKey = readApiKey();
  const forget = byId<HTMLButtonElement>('forget-key');
  forget.addEventListener('click', () => {
    localStorage.removeItem(keyStorage);
    location.reload();
  });
  if (apiKey === undefined) {
    showState('no key');
    askForKey();
    return;
  }
  forget.hidden = false;

  const feed = byId<HTMLOListElement>('feed');
  const empty = byId<HTMLParagraphElement>('empty');
  const notice = byId<HTMLParagraphElement>('notice');
  const chart = byId<SVGSVGElement>('chart');
  const chartTotal = byId<HTMLSpanElement>('chart-total');
  const filterForm = byId<HTMLFormElement>('filters');

  let filter: PageFilter = filterFromUrl(new URL(location.href));
  showFilterInForm(filterForm, filter);
  /** Newest first; `seen` makes a repeat impossible even if a server sent one. */
  let alerts: PageAlert[] = [];
  const seen = new Set<string>();
  let chartTimer: number | undefined;
  /** Silences in force, by id: from the API at start, then from the stream's state messages. */
  const silences = new Map<string, PageSilence>();
  let canEdit = false;
  let detail: ReturnType<typeof createAlertDetail> | undefined;
  let actions:
    | {
        ack(alert: PageAlert): Promise<void>;
        silence(alert: PageAlert, scope: 'rule' | 'group', duration: string): Promise<void>;
      }
    | undefined;
  const showNotice = (text: string) => {
    notice.hidden = false;
    notice.textContent = text;
  };
  const contextOf = (alert: PageAlert): CardContext => ({
    state: cardState(alert, silences.values()),
    canEdit,
    onAck: (target) => void actions?.ack(target),
    onSilence: (target, scope, duration) => void actions?.silence(target, scope, duration),
    onDetails: (target) => void detail?.open(target),
  });
  const card = (alert: PageAlert) => renderAlert(alert, contextOf(alert));
  /** Applies a change to the alert and redraws its card, if shown. */
  const updateAlert = (id: string, change: Partial<PageAlert>) => {
    const alert = alerts.find((candidate) => candidate.id === id);
    if (!alert) return;
    Object.assign(alert, change);
    const shown = feed.querySelector(`li.alert[data-alert-id="${CSS.escape(id)}"]`);
    shown?.replaceWith(card(alert));
  };

  const drawChart = () => {
    chartTimer = undefined;
    const now = Date.now();
    const recent = alerts.filter(
      (alert) => matchesFilter(filter, alert) && now - Date.parse(alert.receivedAt) < dayMs,
    );
    const counts = countByHour(
      recent.map((alert) => alert.receivedAt),
      now,
    );
    renderChart(chart, counts, now);
    chartTotal.textContent = `(${counts.reduce((sum, count) => sum + count, 0)})`;
  };
  const scheduleChart = () => {
    if (chartTimer === undefined) chartTimer = window.setTimeout(drawChart, 100);
  };
  const drawFeed = () => {
    const shown = alerts.filter((alert) => matchesFilter(filter, alert)).slice(0, maxShown);
    feed.replaceChildren(...shown.map(card));
    empty.hidden = shown.length > 0;
    scheduleChart();
  };

  const lastDay = await loadLastDay(apiKey).catch(() => [] as PageAlert[]);
  if (lastDay === 'unauthorized' || lastDay === 'forbidden') {
    showState('unauthorized', 'the API key was refused');
    askForKey(
      lastDay === 'forbidden'
        ? 'That API key may not read alerts: the page needs a key with the reader role (or editor, admin).'
        : 'That API key was refused.',
    );
    return;
  }
  for (const alert of lastDay) {
    if (seen.has(alert.id)) continue;
    seen.add(alert.id);
    alerts.push(alert);
  }

  const api = createPageApi(apiKey);
  const me = await api.get<{ role: string; name: string }>('/v1/me');
  canEdit = me.ok && (me.body.role === 'admin' || me.body.role === 'editor');
  document.body.dataset.role = me.ok ? me.body.role : 'unknown';
  const activeSilences = await api.get<{ items: PageSilence[] }>('/v1/silences?state=active');
  if (activeSilences.ok) for (const silence of activeSilences.body.items) silences.set(silence.id, silence);
  detail = createAlertDetail(api);
  actions = {
    async ack(alert) {
      const answer = await api.post<{ alert: PageAlert }>(
        `/v1/alerts/${encodeURIComponent(alert.id)}/ack`,
        {},
      );
      if (!answer.ok) return showNotice(errorMessage(answer));
      updateAlert(answer.body.alert.id, {
        ackedBy: answer.body.alert.ackedBy,
        ackedAt: answer.body.alert.ackedAt,
      });
    },
    async silence(alert, scope, duration) {
      const matchers = { ruleIds: [alert.ruleId], ...(scope === 'group' ? { groups: [alert.group] } : {}) };
      const answer = await api.post<PageSilence>('/v1/silences', {
        matchers,
        duration,
        comment: `from the live page, alert ${alert.id}`,
      });
      if (!answer.ok) return showNotice(errorMessage(answer));
      silences.set(answer.body.id, answer.body);
      drawFeed();
    },
  };
  const rulesView = createRulesView({ api, canEdit });
  const views = { alerts: byId<HTMLElement>('alerts-view'), rules: byId<HTMLElement>('rules-view') };
  const show = (name: keyof typeof views) => {
    for (const [key, view] of Object.entries(views)) view.hidden = key !== name;
    for (const tab of document.querySelectorAll<HTMLButtonElement>('nav.views button')) {
      tab.setAttribute('aria-pressed', String(tab.dataset.view === name));
    }
    if (name === 'rules') void rulesView.show();
  };
  for (const tab of document.querySelectorAll<HTMLButtonElement>('nav.views button')) {
    tab.addEventListener('click', () => show(tab.dataset.view as keyof typeof views));
  }
  drawFeed();

  const stream = createAlertStream({
    apiKey,
    filter,
    since: alerts[0]?.cursor,
    onAlert(alert) {
      if (seen.has(alert.id)) return;
      seen.add(alert.id);
      alerts.unshift(alert);
      if (alerts.length > 5_000) alerts = alerts.slice(0, 5_000);
      if (!matchesFilter(filter, alert)) return;
      feed.prepend(card(alert));
      while (feed.children.length > maxShown) feed.lastElementChild?.remove();
      empty.hidden = true;
      scheduleChart();
    },
    onState(state, detail) {
      showState(state, detail);
      if (state === 'unauthorized') askForKey('That API key was refused.');
    },
    onNotice: showNotice,
    onStateChange(message: StateMessage) {
      if (message.change === 'acknowledged') {
        updateAlert(message.ack.alertId, { ackedBy: message.ack.ackedBy, ackedAt: message.ack.ackedAt });
        return;
      }
      if (message.change === 'silenced' && message.silence.state !== 'expired')
        silences.set(message.silence.id, message.silence);
      else silences.delete(message.silence.id);
      drawFeed();
    },
  });

  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    filter = filterFromForm(filterForm);
    const url = new URL(location.href);
    url.search = new URLSearchParams(filterParams(filter)).toString();
    window.history.replaceState(null, '', url);
    stream.setFilter(filter);
    drawFeed();
  });
  // The bars move with the clock.
  window.setInterval(drawChart, 60_000);
}

void main();
