import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import type { Alert } from '../../alerts/alert.ts';

/** Messages the server sends on `/v1/stream` (shared/spec/contracts.md, WebSocket). */
export type StreamServerMessage =
  | { type: 'alert'; cursor: string; alert: Alert }
  | { type: 'heartbeat'; time: string }
  | { type: 'error'; code: string; message: string };

type Connection = { socket: WebSocket; isAlive: boolean };

/**
 * Fans alerts out to every connected dashboard. Each alert gets a cursor in the order the
 * hub accepted it; suppressed alerts are recorded upstream but never streamed.
 *
 * Invariant: `accept` sends to each connection in cursor order, because sends happen
 * synchronously inside `accept` and `accept` calls are serialised by the event processor.
 */
export function createStreamHub(deps: { logger: Logger; heartbeatMs: number }) {
  const connections = new Set<Connection>();
  let position = 0;
  let heartbeat: NodeJS.Timeout | undefined;

  function send(connection: Connection, message: StreamServerMessage): void {
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    connection.socket.send(JSON.stringify(message));
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
    start(): void {
      heartbeat = setInterval(beat, deps.heartbeatMs);
      heartbeat.unref();
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

    async accept(alerts: Alert[]): Promise<void> {
      for (const alert of alerts) {
        if (alert.suppressed) continue;
        position += 1;
        const message: StreamServerMessage = { type: 'alert', cursor: String(position), alert };
        for (const connection of connections) send(connection, message);
      }
    },

    connectionCount(): number {
      return connections.size;
    },

    /** Closes every socket with 1001 (going away) so clients reconnect to another instance. */
    async close(): Promise<void> {
      if (heartbeat) clearInterval(heartbeat);
      for (const connection of connections) connection.socket.close(1001, 'server shutting down');
      connections.clear();
    },
  };
}

export type StreamHub = ReturnType<typeof createStreamHub>;
