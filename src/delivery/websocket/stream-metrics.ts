import { Counter, Gauge, type Registry } from 'prom-client';

/** Close codes a client may send that get their own label value; any other is `other`. */
const knownClientCodes = new Set([1000, 1001, 1005, 1006]);

/**
 * The WebSocket stream's metrics, on the app's registry: clients connected now, connections
 * opened, and closes by code and by who closed (`server`: this service chose the code, e.g.
 * 1013 for a client that fell behind, 1001 at shutdown, 1006 for a peer that stopped answering
 * pings; `client`: the peer's close frame, or 1006 when its connection dropped).
 */
export function createStreamMetrics(registry: Registry) {
  const clients = new Gauge({
    name: 'tocsin_stream_clients',
    help: 'WebSocket stream connections open now',
    registers: [registry],
  });
  const connections = new Counter({
    name: 'tocsin_stream_connections_total',
    help: 'WebSocket stream connections accepted',
    registers: [registry],
  });
  const closes = new Counter({
    name: 'tocsin_stream_closes_total',
    help: 'WebSocket stream connections closed, by close code and by who closed (server, client)',
    labelNames: ['code', 'by'] as const,
    registers: [registry],
  });
  return {
    clients,
    connections,
    closes,
    opened(): void {
      connections.inc();
      clients.inc();
    },
    /** A connection ended; a client's own code (any of 1000–4999) is labelled only when it is a common one. */
    closed(by: 'server' | 'client', code: number): void {
      clients.dec();
      const label = by === 'server' || knownClientCodes.has(code) ? String(code) : 'other';
      closes.inc({ code: label, by });
    },
  };
}

export type StreamMetrics = ReturnType<typeof createStreamMetrics>;
