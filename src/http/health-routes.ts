import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Metrics } from './metrics.ts';

/** A dependency /readyz asks: the store, Kafka. Resolves when reachable, rejects with why not. */
export type ReadinessCheck = { name: string; check(): Promise<void> };

const readiness = z.object({
  ready: z.boolean(),
  /** True from SIGTERM on: the instance is shutting down and must get no new traffic. */
  draining: z.boolean().optional(),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() })),
});

export function healthRoutes(deps: {
  metrics: Metrics;
  checks: ReadinessCheck[];
  /** True once a graceful shutdown began (http-drain.ts): /readyz answers 503 at once. */
  isDraining?: () => boolean;
}): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/healthz',
      {
        config: { access: 'open' },
        schema: {
          summary: 'The process is up',
          tags: ['operations'],
          security: [],
          response: { 200: z.object({ status: z.literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        config: { access: 'open' },
        schema: {
          summary: 'The store and, when configured, Kafka are reachable (503 while shutting down)',
          tags: ['operations'],
          security: [],
          response: { 200: readiness, 503: readiness },
        },
      },
      async (_request, reply) => {
        if (deps.isDraining?.()) return reply.code(503).send({ ready: false, draining: true, checks: {} });
        const results = await Promise.all(
          deps.checks.map(async ({ name, check }) => {
            try {
              await withTimeout(check(), 3_000);
              return [name, { ok: true }] as const;
            } catch (error) {
              return [name, { ok: false, error: (error as Error).message }] as const;
            }
          }),
        );
        const ready = results.every(([, result]) => result.ok);
        return reply.code(ready ? 200 : 503).send({ ready, checks: Object.fromEntries(results) });
      },
    );

    app.get(
      '/metrics',
      {
        config: { access: 'open' },
        schema: {
          summary: 'Prometheus metrics (text exposition format)',
          tags: ['operations'],
          security: [],
        },
      },
      async (_request, reply) => {
        reply.header('content-type', deps.metrics.registry.contentType);
        return deps.metrics.registry.metrics();
      },
    );
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
