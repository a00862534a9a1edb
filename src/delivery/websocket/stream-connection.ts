import type WebSocket from 'ws';
import type { Principal } from '../../http/auth.ts';
import type { Logger } from '../../logger.ts';
import { createRateLimiter } from './rate-limiter.ts';
import { createSendQueue } from './send-queue.ts';
import { type AlertPredicate, compileStreamFilter, type StreamFilter } from './stream-filter.ts';
import {
  messageFrame,
  type StreamErrorCode,
  type StreamServerMessage,
  streamClientMessageSchema,
  streamCloseCodes,
  streamErrorCodes,
} from './stream-messages.ts';
import type { StreamMetrics } from './stream-metrics.ts';

export type StreamLimits = {
  /** Unsent bytes a connection may hold before it is closed with 1013. */
  maxQueueBytes: number;
  /** Largest message a client may send; larger closes with 1009. */
  maxMessageBytes: number;
  /** Messages a second a client may send (bursts of twice that); more closes with 1008. */
  messagesPerSecond: number;
};

/**
 * `starting`: waiting for its tenant's tail; `catching-up`: reading its backlog from the store
 * (the broadcast passes it by); `live`: fed by the broadcast; `closed`: gone.
 */
export type ConnectionPhase = 'starting' | 'catching-up' | 'live' | 'closed';

/**
 * One dashboard socket: its principal, filter and log position, its bounded send queue, the
 * messages it sends (size, rate, `subscribe`) and its ends (peer gone, token expired, fallen
 * behind). The hub decides what to send and when; this decides how.
 */
export function createStreamConnection(deps: {
  socket: WebSocket;
  principal: Principal;
  filter: StreamFilter;
  /** Expiry (epoch ms) of the token the connection was opened with; closes with 4001 then. */
  expiresAt?: number | undefined;
  limits: StreamLimits;
  logger: Logger;
  metrics?: StreamMetrics;
  onClosed: () => void;
}) {
  const { socket, limits } = deps;
  const rate = createRateLimiter({ perSecond: limits.messagesPerSecond });
  const queue = createSendQueue(socket, {
    maxBytes: limits.maxQueueBytes,
    onOverflow: () => connection.close(streamCloseCodes.tryAgainLater, 'client too slow: resume with since'),
  });
  let expiryTimer: NodeJS.Timeout | undefined;

  const connection = {
    principal: deps.principal,
    phase: 'starting' as ConnectionPhase,
    /** Log order (see cursor-order.ts) of the last alert this connection has passed, sent or not. */
    order: 0,
    matches: compileStreamFilter(deps.filter) as AlertPredicate,
    /** Cleared at each ping, set by the pong: a peer that stays silent a whole interval is gone. */
    isAlive: true,
    queue,

    /** Batches the frames of one read of the log into one write (see send-queue.ts). */
    cork(): void {
      queue.cork();
    },

    uncork(): void {
      queue.uncork();
    },

    /** A method, not a field read, so callers re-check it after every await. */
    isClosed(): boolean {
      return connection.phase === 'closed';
    },

    /** Queues a prepared frame; false when the connection is closed or just got closed for falling behind. */
    send(frame: Buffer): boolean {
      return connection.phase !== 'closed' && queue.push(frame);
    },

    sendMessage(message: StreamServerMessage): boolean {
      return connection.send(messageFrame(message));
    },

    sendError(code: StreamErrorCode, message: string = streamErrorCodes[code]): boolean {
      return connection.sendMessage({ type: 'error', code, message });
    },

    /** Ends the connection: no more frames are queued; the close frame follows the ones in flight. */
    close(code: number, reason: string): void {
      if (connection.phase === 'closed') return;
      finish('server', code);
      socket.close(code, reason);
      // A peer that never answers the close handshake (not reading at all) is cut off.
      setTimeout(() => socket.terminate(), 10_000).unref();
    },

    /** One heartbeat (`frame`: the heartbeat message): terminates a peer that did not answer the previous ping, else pings it again. */
    beat(frame: Buffer): void {
      if (!connection.isAlive) {
        deps.logger.debug({ tenantId: deps.principal.tenantId }, 'stream peer did not answer a ping');
        finish('server', 1006);
        socket.terminate();
        return;
      }
      connection.isAlive = false;
      socket.ping();
      connection.send(frame);
    },
  };

  /** `by`: who ended it (`server` with the code it chose, 1006 for a silent peer cut off; `client`: its close frame's code). */
  function finish(by: 'server' | 'client', code: number): void {
    if (connection.phase === 'closed') return;
    connection.phase = 'closed';
    clearTimeout(expiryTimer);
    queue.clear();
    deps.metrics?.closed(by, code);
    deps.onClosed();
  }

  function onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (connection.phase === 'closed') return;
    const size = Array.isArray(data) ? data.reduce((sum, part) => sum + part.length, 0) : data.byteLength;
    if (size > limits.maxMessageBytes) {
      connection.close(
        streamCloseCodes.messageTooBig,
        `messages are limited to ${limits.maxMessageBytes} bytes`,
      );
      return;
    }
    if (!rate.take()) {
      connection.sendError('rate_limited');
      connection.close(streamCloseCodes.policyViolation, 'too many messages');
      return;
    }
    let parsed: unknown;
    try {
      if (isBinary) throw new Error('binary frame');
      parsed = JSON.parse(
        Array.isArray(data)
          ? Buffer.concat(data).toString('utf8')
          : Buffer.from(data as Buffer).toString('utf8'),
      );
    } catch {
      connection.sendError('invalid_message', 'messages are JSON text frames, e.g. {"type": "subscribe", …}');
      return;
    }
    const result = streamClientMessageSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      connection.sendError('invalid_message', `${where}${issue?.message ?? 'invalid message'}`);
      return;
    }
    // `subscribe` replaces the filter from the next alert on, backlog included.
    const { rules, tags, minSeverity } = result.data;
    connection.matches = compileStreamFilter({ rules, tags, minSeverity });
  }

  socket.on('message', onMessage);
  socket.on('pong', () => {
    connection.isAlive = true;
  });
  deps.metrics?.opened();
  socket.on('close', (code: number) => finish('client', code));
  socket.on('error', (error) => deps.logger.debug({ err: error }, 'stream socket error'));
  if (deps.expiresAt !== undefined) armExpiry(deps.expiresAt);

  /** Timers hold at most 2^31-1 ms (24.8 days): a longer wait is taken in steps. */
  function armExpiry(expiresAt: number): void {
    const left = expiresAt - Date.now();
    expiryTimer = setTimeout(
      () => {
        if (Date.now() >= expiresAt) connection.close(streamCloseCodes.tokenExpired, 'token expired');
        else armExpiry(expiresAt);
      },
      Math.min(Math.max(left, 0), 2 ** 31 - 1),
    );
    expiryTimer.unref();
  }

  return connection;
}

export type StreamConnection = ReturnType<typeof createStreamConnection>;
