import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';

export type ReceivedWebhook = {
  id: string;
  timestamp: string;
  signature: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as received. */
  body: string;
  /** performance.now() when the body was complete. */
  at: number;
};

export type Reply =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | 'hang';

/**
 * A real webhook receiver on 127.0.0.1:0. `reply(request, n)` answers the n-th request
 * (1-based) carrying that webhook-id; 'hang' never answers until `close()`.
 */
export async function startWebhookReceiver() {
  const requests: ReceivedWebhook[] = [];
  const hanging = new Set<ServerResponse>();
  let connections = 0;
  const waiters: { count: number; resolve: () => void }[] = [];
  const receiver = {
    requests,
    url: '',
    reply: (_request: ReceivedWebhook, _n: number): Reply => ({ status: 204 }),
    connections: () => connections,
    of: (id: string) => requests.filter((request) => request.id === id),
    /** Resolves once `count` requests have arrived. */
    waitFor(count: number, timeoutMs = 15_000): Promise<void> {
      if (requests.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${count} requests (got ${requests.length})`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received: ReceivedWebhook = {
        id: String(request.headers['webhook-id'] ?? ''),
        timestamp: String(request.headers['webhook-timestamp'] ?? ''),
        signature: String(request.headers['webhook-signature'] ?? ''),
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: performance.now(),
      };
      requests.push(received);
      for (const waiter of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      const reply = receiver.reply(received, receiver.of(received.id).length);
      if (reply === 'hang') {
        hanging.add(response);
        response.on('close', () => hanging.delete(response));
        return;
      }
      setTimeout(() => {
        response.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
        response.end(reply.body ?? `status ${reply.status}`);
      }, reply.delayMs ?? 0);
    });
  });
  server.on('connection', () => {
    connections += 1;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/tocsin`;
  return receiver;
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

/**
 * Verifies a received request with the official `standardwebhooks` package and with svix's
 * verifier; returns the parsed body. Throws when either rejects it.
 */
export function verifyWithLibraries(
  secret: string,
  request: Pick<ReceivedWebhook, 'body' | 'headers'>,
): unknown {
  const headers = {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  };
  const standard = new StandardWebhook(secret).verify(request.body, headers);
  new SvixWebhook(secret).verify(request.body, headers);
  return standard;
}
