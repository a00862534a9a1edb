/// <reference lib="dom" />
import { countByHour, renderChart } from './alert-chart.ts';
import { renderAlert } from './alert-feed.ts';
import { createAlertStream, type StreamState } from './alert-stream.ts';
import {
  filterFromForm,
  filterFromUrl,
  filterParams,
  matchesFilter,
  showFilterInForm,
} from './page-filter.ts';
import type { PageAlert, PageFilter } from './page-types.ts';

/**
 * The live page at `/`: the alert feed (newest first), filters, the connection state and a
 * chart of the last 24 hours. It uses only the public API with an API key the user gives once
 * (kept in localStorage, or passed as `/#key=<key>`): `GET /v1/alerts` for the last 24 hours,
 * then `/v1/stream` resumed after the newest of them.
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
    feed.replaceChildren(...shown.map(renderAlert));
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
      feed.prepend(renderAlert(alert));
      while (feed.children.length > maxShown) feed.lastElementChild?.remove();
      empty.hidden = true;
      scheduleChart();
    },
    onState(state, detail) {
      showState(state, detail);
      if (state === 'unauthorized') askForKey('That API key was refused.');
    },
    onNotice(text) {
      notice.hidden = false;
      notice.textContent = text;
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
