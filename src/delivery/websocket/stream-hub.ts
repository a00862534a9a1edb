import type { WebSocket } from 'ws';
import type { Logger } from '../../logger.ts';
import type { StoredAlert } from '../../store/store.ts';

/** Messages the server sends on `/v1/stream` (shared/spec/contracts.md, WebSocket). */
export type StreamServerMessage =
  | { type: 'alert'; cursor: string; alert: StoredAlert }
  | { type: 'heartbeat'; time: string }
  | { type: 'error'; code: string; message: string };

/** The part of the store the hub reads: the alert log, in commit order. */
export type AlertLog = {
  after(cursor: string | null, limit: number): Promise<StoredAlert[]>;
  headCursor(): Promise<string>;
};

type Connection = { socket: WebSocket; isAlive: boolean };

const pageSize = 500;

/**
 * Streams the alert log to every connected dashboard. The hub tails the log from the head
 * it saw at start: after each local commit (`committed`) and every `pollMs` (alerts committed
 * by other instances sharing the store). Only `active` alerts are streamed; suppressed and
 * silenced ones stay in the log.
 *
 * Invariant: one drain runs at a time and moves `cursor` forward only past alerts it has
 * sent, so every connection receives the log in cursor order, without gaps or repeats.
 */
export function createStreamHub(deps: {
  log: AlertLog;
  logger: Logger;
  heartbeatMs: number;
  pollMs?: number;
}) {
  const connections = new Set<Connection>();
  let cursor: string | null = null;
  let draining: Promise<void> | undefined;
  let drainAgain = false;
  let timers: NodeJS.Timeout[] = [];

  function send(connection: Connection, message: StreamServerMessage): void {
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    connection.socket.send(JSON.stringify(message));
  }

  async function drainLog(): Promise<void> {
    for (;;) {
      const alerts = await deps.log.after(cursor, pageSize);
      for (const alert of alerts) {
        cursor = alert.cursor;
        if (alert.status !== 'active') continue;
        const message: StreamServerMessage = { type: 'alert', cursor: alert.cursor, alert };
        for (const connection of connections) send(connection, message);
      }
      if (alerts.length < pageSize) return;
    }
  }

  function drain(): Promise<void> {
    if (draining) {
      drainAgain = true;
      return draining;
    }
    draining = (async () => {
      do {
        drainAgain = false;
        await drainLog();
      } while (drainAgain);
    })()
      .catch((error: unknown) =>
        deps.logger.warn({ err: error }, 'reading the alert log failed; retrying on the next poll'),
      )
      .finally(() => {
        draining = undefined;
      });
    return draining;
  }

  function beat(): void {
    const time = new Date().toISOString();
    for (const connection of connections) {
      // A peer that did not answer the previous ping is gone (laptop asleep, network cut).
      if (!connection.isAlive) {
        connection.socket.terminate();
        connections.delete(connection);
        continue;
      }
      connection.isAlive = false;
      connection.socket.ping();
      send(connection, { type: 'heartbeat', time });
    }
  }

  return {
    async start(): Promise<void> {
      cursor = await deps.log.headCursor();
      timers = [setInterval(beat, deps.heartbeatMs), setInterval(() => void drain(), deps.pollMs ?? 1_000)];
      for (const timer of timers) timer.unref();
    },

    attach(socket: WebSocket): void {
      const connection: Connection = { socket, isAlive: true };
      connections.add(connection);
      socket.on('pong', () => {
        connection.isAlive = true;
      });
      socket.on('close', () => connections.delete(connection));
      socket.on('error', (error) => deps.logger.debug({ err: error }, 'stream socket error'));
    },

    /** A local commit stored alerts: stream them now rather than at the next poll. */
    committed(alerts: StoredAlert[]): void {
      if (alerts.length > 0) void drain();
    },

    /** Waits for the drain in progress, if any (tests, shutdown). */
    settled(): Promise<void> {
      return draining ?? Promise.resolve();
    },

    connectionCount(): number {
      return connections.size;
    },

    /** Closes every socket with 1001 (going away) so clients reconnect to another instance. */
    async close(): Promise<void> {
      for (const timer of timers) clearInterval(timer);
      await draining;
      for (const connection of connections) connection.socket.close(1001, 'server shutting down');
      connections.clear();
    },
  };
}

export type StreamHub = ReturnType<typeof createStreamHub>;
