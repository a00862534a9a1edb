import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';

/**
 * Per-key request rate limits (@fastify/rate-limit): each API key — or, on the open routes, each
 * client address — may send `max` requests per `windowMs`, and `eventsMax` to the ingest
 * routes (`POST /v1/events`, whose one request may carry many events, so pipelines get more
 * room). Past it: `429 TOCSIN_RATE_LIMITED` with `Retry-After` (seconds) and the
 * `x-ratelimit-*` headers. 0 turns a limit off.
 *
 * The count runs in a route `onRequest` hook, after the authentication hook (an instance
 * hook runs first), so it is keyed by the key that authenticated; a request refused with 401
 * is not counted. Counters live in this process: behind a load balancer, each instance
 * allows its own `max`.
 */

export type RateLimitSettings = { max: number; eventsMax: number; windowMs: number };

function keyOf(request: FastifyRequest): string {
  const principal = request.principal;
  if (principal === null) return `ip:${request.ip}`;
  return `key:${principal.tenantId}:${principal.keyId ?? principal.name}`;
}

export function rateLimits(settings: RateLimitSettings): FastifyPluginAsync {
  const plugin: FastifyPluginAsync = async (app) => {
    const limitOf = (request: FastifyRequest) =>
      request.routeOptions.config?.access === 'ingest' ? settings.eventsMax : settings.max;
    await app.register(rateLimit, {
      global: true,
      timeWindow: settings.windowMs,
      // A limit of 0 is none: such requests are let through before they are counted.
      allowList: (request) => limitOf(request) === 0,
      max: (request) => limitOf(request),
      keyGenerator: keyOf,
      errorResponseBuilder: (_request, context) =>
        new AppError(
          'TOCSIN_RATE_LIMITED',
          `rate limit reached: ${context.max} requests per ${context.after} for this key; retry after ${Math.ceil(context.ttl / 1000)} s`,
          { details: { limit: context.max, retryAfterSeconds: Math.ceil(context.ttl / 1000) } },
        ),
    });
  };
  // Not encapsulated (like fastify-plugin): the hooks cover every route of the server.
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'tocsin-rate-limits',
  });
  return plugin;
}
