import WebSocket from 'ws';

type Message = { type: string; [key: string]: unknown };

/**
 * A real `ws` client on `/v1/stream` that records every message, so a test can wait for the
 * one it expects (`next`) and still see all that came before and after.
 */
export async function openStream(
  url: string,
  options: {
    headers?: Record<string, string>;
    /** Answer pings (default true); false plays a peer that is gone. */
    autoPong?: boolean;
  } = {},
) {
  const socket = new WebSocket(url, { headers: options.headers, autoPong: options.autoPong ?? true });
  const messages: Message[] = [];
  const waiters: { predicate: (message: Message) => boolean; resolve: (message: Message) => void }[] = [];
  let closed: { code: number; reason: string } | undefined;
  const closing = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );

  socket.on('message', (data) => {
    const message = JSON.parse(data.toString()) as Message;
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  socket.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`upgrade refused with HTTP ${response.statusCode}`)),
    );
  });

  return {
    socket,
    messages,
    closed: () => closed,
    /** Resolves with the close code and reason once the socket has closed. */
    waitForClose(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
      return Promise.race([
        closing,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`the stream did not close within ${timeoutMs} ms`)), timeoutMs),
        ),
      ]);
    },
    /** The first message (already received or still to come) that satisfies the predicate. */
    next(predicate: (message: Message) => boolean, timeoutMs = 5_000): Promise<Message> {
      const seen = messages.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const index = waiters.findIndex((waiter) => waiter.resolve === done);
          if (index >= 0) waiters.splice(index, 1);
          reject(
            new Error(
              `no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages).slice(0, 500)}`,
            ),
          );
        }, timeoutMs);
        const done = (message: Message) => {
          clearTimeout(timer);
          resolve(message);
        };
        waiters.push({ predicate, resolve: done });
      });
    },
    close(): Promise<void> {
      if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise((resolve) => {
        socket.once('close', () => resolve());
        socket.close();
      });
    },
  };
}

export const isAlertFor = (ruleId: string, eventId?: string) => (message: Message) => {
  if (message.type !== 'alert') return false;
  const alert = message.alert as { ruleId: string; eventIds: string[] };
  return alert.ruleId === ruleId && (eventId === undefined || alert.eventIds.includes(eventId));
};

/** The HTTP status that answers an upgrade request (101 when it is accepted, then closed at once). */
export function upgradeStatus(
  url: string,
  options: { headers?: Record<string, string> } = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: options.headers });
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      response.resume();
      socket.terminate();
    });
    socket.on('error', (error) => reject(error));
  });
}
