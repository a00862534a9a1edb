import { join } from 'node:path';
import { compileStreamFilter, type StreamFilter } from '../../../src/delivery/websocket/stream-filter.ts';
import type { StoredAlert } from '../../../src/store/store.ts';
import { authHeaders, startTestApp, type TestApp } from '../../support/test-app.ts';

/** Three plain rules (no throttle): "copper" → metals-watch (high), "oil" → energy-watch (low), "wheat" → grain-watch (critical). */
export const streamRulesDir = join(import.meta.dirname, 'fixtures', 'rules');

export function startStreamApp(env: Record<string, string> = {}): Promise<TestApp> {
  return startTestApp({ TOCSIN_RULES_DIR: streamRulesDir, ...env });
}

export const brief = (id: string, title: string, extra: Record<string, unknown> = {}) => ({
  id,
  publishedAt: '2026-07-03T08:00:00Z',
  title,
  ...extra,
});

/** Ingests events over HTTP (the real pipeline: rules, alert engine, one store transaction). */
export async function postEvents(service: TestApp, events: object[]): Promise<void> {
  const response = await fetch(`${service.url}/v1/events`, {
    method: 'POST',
    headers: { ...authHeaders, 'content-type': 'application/x-ndjson' },
    body: events.map((event) => JSON.stringify(event)).join('\n'),
  });
  if (response.status !== 202)
    throw new Error(`POST /v1/events: ${response.status} ${await response.text()}`);
}

export async function issueToken(service: TestApp, headers: Record<string, string> = authHeaders) {
  const response = await fetch(`${service.url}/v1/stream/tokens`, { method: 'POST', headers });
  return { status: response.status, body: (await response.json()) as { token: string; expiresAt: string } };
}

/** The ground truth: the active alerts of the log after `since` that pass `filter`, in log order. */
export async function logAfter(service: TestApp, since: string | null, filter: StreamFilter = {}) {
  const matches = compileStreamFilter(filter);
  const alerts: StoredAlert[] = [];
  let cursor = since;
  for (;;) {
    const page = await service.app.store.alerts.after(cursor, 500);
    alerts.push(...page.filter((alert) => alert.status === 'active' && matches(alert)));
    if (page.length < 500) return alerts;
    cursor = page.at(-1)!.cursor;
  }
}

type Message = { type: string; [key: string]: unknown };

export const alertMessages = (messages: Message[]) =>
  messages.filter((message) => message.type === 'alert') as (Message & {
    cursor: string;
    alert: StoredAlert;
  })[];

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
