/// <reference lib="dom" />
import type { StreamServerMessage } from '../../delivery/websocket/stream-messages.ts';
import type { StateMessage } from './alert-state.ts';
import { filterParams } from './page-filter.ts';
import type { PageAlert, PageFilter } from './page-types.ts';

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'unauthorized';

/**
 * The page's client of the public stream API, with no private door: it trades the API key for
 * a short-lived token (`POST /v1/stream/tokens`), opens `/v1/stream?token=…&since=<last cursor>`
 * and, whenever the socket ends (server restart, 1013, token expiry 4001, a dead link noticed by
 * the missing heartbeats), reconnects with the cursor of the last alert it received, so the
 * server sends what was missed, then live alerts: nothing lost, nothing twice.
 */
export function createAlertStream(options: {
  apiKey: string;
  filter: PageFilter;
  /** Resume after this cursor (the newest alert the page already shows). */
  since: string | undefined;
  onAlert: (alert: PageAlert, cursor: string) => void;
  onState: (state: StreamState, detail?: string) => void;
  onNotice: (text: string) => void;
  /** An acknowledgement or a silence, made by anyone (see alert-state.ts). */
  onStateChange?: (message: StateMessage) => void;
}) {
  let filter = options.filter;
  let cursor = options.since;
  let socket: WebSocket | undefined;
  let failures = 0;
  let heartbeatMs = 25_000;
  let watchdog: number | undefined;
  let retryTimer: number | undefined;
  let isStopped = false;

  async function connect(): Promise<void> {
    retryTimer = undefined;
    if (isStopped) return;
    options.onState('connecting');
    let token: string;
    try {
      const response = await fetch('/v1/stream/tokens', {
        method: 'POST',
        headers: { authorization: `Bearer ${options.apiKey}` },
      });
      if (response.status === 401 || response.status === 403) {
        options.onState('unauthorized', 'the API key was refused');
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as { token: string; heartbeatMs: number };
      token = body.token;
      heartbeatMs = body.heartbeatMs;
    } catch {
      retryLater();
      return;
    }
    if (isStopped) return;

    const url = new URL('/v1/stream', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const params = { token, ...filterParams(filter), ...(cursor === undefined ? {} : { since: cursor }) };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);

    const current = new WebSocket(url);
    socket = current;
    current.onopen = () => {
      failures = 0;
      options.onState('live');
      armWatchdog(current);
    };
    current.onmessage = (event) => {
      armWatchdog(current);
      const message = JSON.parse(String(event.data)) as StreamServerMessage;
      if (message.type === 'alert') {
        cursor = message.cursor;
        options.onAlert(message.alert, message.cursor);
      } else if (message.type === 'state') {
        options.onStateChange?.(message as StateMessage);
      } else if (message.type === 'error') {
        if (message.code === 'cursor_invalid') {
          // The server's log is behind the page's cursor (reset or restored): the cursor means
          // nothing there any more; the next reconnect resumes from alerts received from now on.
          cursor = undefined;
          options.onNotice(
            'The server’s alert log was reset or restored: the feed goes on with new alerts; older ones may be gone.',
          );
        } else {
          options.onNotice(
            message.code === 'cursor_expired'
              ? 'Some alerts were missed while disconnected: they are older than the retention.'
              : message.message,
          );
        }
      }
    };
    current.onclose = (event) => {
      if (socket !== current) return;
      socket = undefined;
      window.clearTimeout(watchdog);
      if (isStopped) return;
      if (event.code === 4001) {
        void connect(); // the token expired: a new one, at once
      } else if (event.code === 4003) {
        options.onState('unauthorized', 'the API key was revoked'); // reconnecting cannot help
      } else {
        if (event.code === 1008) options.onNotice(`The server closed the stream: ${event.reason}`);
        retryLater();
      }
    };
  }

  /** Exponential backoff with jitter, 250 ms up to 5 s: a restarted server is found again quickly. */
  function retryLater(): void {
    if (isStopped || retryTimer !== undefined) return;
    options.onState('reconnecting');
    const delay = Math.min(5_000, 250 * 2 ** failures++) * (0.5 + Math.random() / 2);
    retryTimer = window.setTimeout(() => void connect(), delay);
  }

  /** No message (the server sends a heartbeat every heartbeatMs) for 2.5 intervals: the link is dead. */
  function armWatchdog(current: WebSocket): void {
    window.clearTimeout(watchdog);
    watchdog = window.setTimeout(() => {
      if (socket !== current) return;
      socket = undefined;
      current.close();
      retryLater();
    }, heartbeatMs * 2.5);
  }

  void connect();

  return {
    /** Replaces the filter: at once on the open stream (`subscribe`), and in the URL of the next one. */
    setFilter(next: PageFilter): void {
      filter = next;
      if (socket?.readyState === WebSocket.OPEN) {
        socket.send(
          JSON.stringify({
            type: 'subscribe',
            rules: next.rules,
            tags: next.tags,
            ...(next.minSeverity === '' ? {} : { minSeverity: next.minSeverity }),
          }),
        );
      }
    },

    stop(): void {
      isStopped = true;
      window.clearTimeout(watchdog);
      window.clearTimeout(retryTimer);
      socket?.close();
    },
  };
}
