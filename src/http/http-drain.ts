import { errorBody } from './error-handler.ts';
import type { HttpServer } from './http-server.ts';

/**
 * The HTTP side of a graceful shutdown, in the order a load balancer needs it:
 * 1. `begin()`: /readyz answers 503 (health-routes asks `isDraining`) while every route still
 *    serves, for TOCSIN_DRAIN_DELAY_MS, so the balancer takes the instance out before it stops;
 * 2. `stopAccepting()`: no new TCP connections (the listening socket closes, idle keep-alive
 *    connections with it), and a request arriving on a connection still open gets
 *    `503` with `Connection: close`; requests already running finish, and upgraded
 *    WebSocket streams stay open until the hub closes them after the last deliveries.
 */
export function createHttpDrain() {
  let draining = false;
  let accepting = true;
  let server: HttpServer | undefined;

  return {
    isDraining: () => draining,
    /** Installs the hook that refuses requests once accepting stops (before the server is ready). */
    attach(http: HttpServer): void {
      server = http;
      http.addHook('onRequest', async (_request, reply) => {
        if (accepting) return;
        reply.header('connection', 'close');
        await reply
          .code(503)
          .send(errorBody('TOCSIN_SHUTTING_DOWN', 'the instance is shutting down; retry on another one'));
      });
    },
    begin(): void {
      draining = true;
    },
    stopAccepting(): void {
      draining = true;
      if (!accepting) return;
      accepting = false;
      // Fastify's close() later closes the server again and ignores ERR_SERVER_NOT_RUNNING.
      if (server?.server.listening) server.server.close(() => {});
    },
  };
}

export type HttpDrain = ReturnType<typeof createHttpDrain>;
