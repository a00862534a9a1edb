import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyPluginAsync } from 'fastify';

/**
 * Security headers on every answer (@fastify/helmet) and CORS (@fastify/cors), only for the
 * origins TOCSIN_CORS_ORIGINS lists; with none listed, no CORS header is ever sent, so a page
 * of another origin cannot read any answer.
 *
 * The API answers JSON, so its Content-Security-Policy allows nothing at all; the two kinds of
 * HTML page set their own, narrower-than-default policy on their routes (page/page-routes.ts:
 * the live page's own script, styles and `connect-src 'self'` for the API and the stream;
 * delivery/email/unsubscribe-routes.ts: no script, a form to itself), which replaces this one.
 * `upgrade-insecure-requests` is left out: on plain http (`npm start`), it would send the live
 * page's WebSocket to wss:// and break it.
 */
export function securityHeaders(options: { corsOrigins: string[] }): FastifyPluginAsync {
  const plugin: FastifyPluginAsync = async (app) => {
    await app.register(helmet, {
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] },
      },
    });
    if (options.corsOrigins.length === 0) return;
    await app.register(cors, {
      origin: options.corsOrigins,
      // Browsers send the key in Authorization; no cookie is ever involved.
      credentials: false,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'content-encoding'],
      exposedHeaders: ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
      maxAge: 600,
    });
  };
  // Not encapsulated (like fastify-plugin): the hooks cover every route of the server.
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'tocsin-security-headers',
  });
  return plugin;
}
