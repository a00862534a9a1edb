import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { StreamHub } from './stream-hub.ts';

/** `GET /v1/stream`: upgrades to a WebSocket that receives `{type: "alert", cursor, alert}` messages. */
export function streamRoutes(deps: { hub: StreamHub }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/stream',
      {
        websocket: true,
        schema: {
          summary: 'Live alert stream (WebSocket)',
          description:
            'Upgrades to a WebSocket. Server messages: {"type":"alert","cursor","alert"}, {"type":"heartbeat","time"}, ' +
            '{"type":"error","code","message"}.',
          tags: ['stream'],
        },
      },
      (socket) => deps.hub.attach(socket),
    );
  };
}
