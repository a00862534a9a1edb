import type { FastifyReply, FastifyRequest } from 'fastify';
import { Histogram, type Registry } from 'prom-client';

/**
 * HTTP request latency by route, on the app's registry. `route` is the route's pattern
 * (`/v1/rules/:id`), never the raw path, and `unmatched` for a 404 without a route, so the label
 * set stays as small as the route table whatever clients send.
 */
export function createHttpMetrics(registry: Registry) {
  const requestSeconds = new Histogram({
    name: 'tocsin_http_request_duration_seconds',
    help: 'HTTP requests, by method, route pattern and status code: time until the response was sent',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    requestSeconds,
    /** For Fastify's onResponse hook. */
    observe(request: FastifyRequest, reply: FastifyReply): void {
      requestSeconds.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
    },
  };
}

export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
