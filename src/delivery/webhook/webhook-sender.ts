import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import type { SsrfGuard } from './ssrf-guard.ts';
import { isSsrfRefusal } from './ssrf-guard.ts';

/**
 * POSTs one signed body to one URL and reports what happened, never throwing: the channel
 * decides what a status or an error means.
 *
 * - One undici Agent: a keep-alive connection pool per origin, reused across deliveries.
 * - Every new connection resolves its host through the SSRF guard's `lookup`, and an IP
 *   literal is checked before the request starts (see ssrf-guard.ts): nothing is sent to a
 *   refused address, not even a TCP SYN.
 * - Redirects are not followed (undici's `request` does not): a 3xx is an answer like any other.
 * - `timeoutMs` bounds the whole attempt (connect, headers, the first bytes of the body).
 * - Only the first `snippetBytes` of the answer are kept for the delivery log; up to
 *   `drainBytes` more are read and dropped so the connection can be reused, a longer answer
 *   closes it.
 */

export type WebhookRequest = {
  url: string;
  headers: Record<string, string>;
  body: string;
  signal?: AbortSignal;
};

export type WebhookExchange =
  | {
      kind: 'response';
      statusCode: number;
      retryAfter: string | undefined;
      snippet: string;
      durationMs: number;
    }
  | { kind: 'error'; error: string; refused: boolean; timedOut: boolean; durationMs: number };

export type WebhookSenderOptions = {
  guard: SsrfGuard;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  userAgent?: string;
};

const snippetBytes = 1_000;
const drainBytes = 64 * 1024;

export function createWebhookSender(options: WebhookSenderOptions) {
  const { guard } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const userAgent = options.userAgent ?? 'Tocsin-Webhooks/1.0';
  const agent = new Agent({
    connect: { lookup: guard.lookup, timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // Idle connections are kept for this long, or less when the server's Keep-Alive says so.
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
  });

  async function send(input: WebhookRequest): Promise<WebhookExchange> {
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = input.signal ? AbortSignal.any([input.signal, timeout]) : timeout;
    try {
      const url = new URL(input.url);
      guard.checkUrl(url);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': userAgent,
        ...input.headers,
      };
      // Credentials in the URL become Basic auth; undici would not send them otherwise.
      if (url.username !== '' || url.password !== '') {
        const user = decodeURIComponent(url.username);
        const password = decodeURIComponent(url.password);
        headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
        url.username = '';
        url.password = '';
      }
      const response = await request(url, {
        method: 'POST',
        headers,
        body: input.body,
        dispatcher: agent,
        signal,
      });
      const snippet = await readSnippet(response.body);
      const retryAfter = response.headers['retry-after'];
      return {
        kind: 'response',
        statusCode: response.statusCode,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        snippet,
        durationMs: elapsed(),
      };
    } catch (error) {
      const timedOut = (timeout.aborted || isUndiciTimeout(error)) && !input.signal?.aborted;
      return {
        kind: 'error',
        error: timedOut ? `timed out after ${timeoutMs} ms` : describeError(error),
        refused: isSsrfRefusal(error),
        timedOut,
        durationMs: elapsed(),
      };
    }
  }

  return {
    send,
    /** Closes idle connections and waits for requests in flight. */
    async close(): Promise<void> {
      await agent.close();
    },
  };
}

export type WebhookSender = ReturnType<typeof createWebhookSender>;

async function readSnippet(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let seen = 0;
  for await (const chunk of body) {
    seen += chunk.length;
    if (keptBytes < snippetBytes) {
      kept.push(chunk.subarray(0, snippetBytes - keptBytes));
      keptBytes += Math.min(chunk.length, snippetBytes - keptBytes);
    }
    if (seen > drainBytes) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(kept).toString('utf8');
}

const undiciTimeouts = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** undici's own timers (set to the same budget) may fire just before the attempt's signal. */
function isUndiciTimeout(error: unknown): boolean {
  return undiciTimeouts.has((error as { code?: string } | undefined)?.code ?? '');
}

/** `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9` — the innermost cause says most. */
function describeError(error: unknown): string {
  let current: unknown = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  if (!(current instanceof Error)) return String(error);
  if (isSsrfRefusal(current)) return current.message;
  const code = (current as NodeJS.ErrnoException).code;
  return code && !current.message.includes(code) ? `${code}: ${current.message}` : current.message;
}
