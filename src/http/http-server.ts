import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyPluginAsync } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from '../logger.ts';
import { checkAccessDeclaration } from './auth.ts';
import { clientErrorHandler, errorHandler, frameworkErrorHandler, notFoundHandler } from './error-handler.ts';
import type { HttpMetrics } from './http-metrics.ts';
import { type RateLimitSettings, rateLimits } from './rate-limits.ts';
import { type Access, isAccess, rolesWith } from './roles.ts';
import { securityHeaders } from './security-headers.ts';

/**
 * The Fastify instance: zod validates requests and serialises responses, and the OpenAPI
 * document served at `/docs` is generated from the same route schemas.
 */
export async function createHttpServer(deps: {
  logger: Logger;
  maxBodyBytes: number;
  /** Registered first, unencapsulated: the API-key hook that guards every /v1 route. */
  auth?: FastifyPluginAsync;
  /** Registered after auth, unencapsulated: the audit trail of changing routes (audit-trail.ts). */
  audit?: FastifyPluginAsync;
  /** Per-key request rate limits (rate-limits.ts); unset: none. */
  rateLimit?: RateLimitSettings;
  /** Origins allowed to call the API from a browser (security-headers.ts); unset or empty: CORS off. */
  corsOrigins?: string[];
  routes: FastifyPluginAsync[];
  metrics?: HttpMetrics;
}) {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.maxBodyBytes,
    forceCloseConnections: true,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // Every route says who may call it (auth.ts reads it); one that does not fails to register.
  app.addHook('onRoute', checkAccessDeclaration);
  const { metrics } = deps;
  if (metrics) app.addHook('onResponse', async (request, reply) => metrics.observe(request, reply));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tocsin',
        version: '0.1.0',
        description:
          'Real-time alerting on intelligence events: ingest, rules, alerts over WebSocket, webhooks and email.',
      },
      components: {
        securitySchemes: {
          apiKey: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API key: `Authorization: Bearer <key>`. Each key has one role — admin, editor, ingest or ' +
              'reader — and each operation lists the roles it accepts in `x-tocsin-roles` (and its ' +
              'description); any other role gets 403 TOCSIN_FORBIDDEN.',
          },
        },
      },
      // Every /v1 route needs a key; /healthz, /readyz, /metrics, /docs and unsubscribe links do not.
      security: [{ apiKey: [] }],
    },
    transform: withRoles,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  // Request bodies sent with `Content-Encoding: gzip`, `deflate` or `br` (upstream pipelines
  // compress) are decoded before parsing, and `bodyLimit` counts the DECODED bytes (Fastify
  // reads the decoder's output), so a zip bomb stops at TOCSIN_MAX_BODY with 413. Another
  // encoding answers 415, a corrupt stream 400. Responses are not compressed.
  await app.register(compress, {
    globalCompression: false,
    globalDecompression: true,
    requestEncodings: ['gzip', 'deflate', 'br'],
    // Copied onto the decoder's error as own properties (the plugin's default error class keeps
    // its status on the prototype, which that copy loses: a 500).
    onInvalidRequestPayload: (encoding: string) => {
      const error = {
        name: 'InvalidRequestPayload',
        statusCode: 400,
        code: 'FST_CP_ERR_INVALID_CONTENT',
        message: `the request body is not valid ${encoding} data (Content-Encoding: ${encoding})`,
      };
      return error;
    },
  });

  // Before auth: a CORS preflight is answered in @fastify/cors's own hook (it carries no key).
  await app.register(securityHeaders({ corsOrigins: deps.corsOrigins ?? [] }));
  if (deps.auth) await app.register(deps.auth);
  if (deps.audit) await app.register(deps.audit);
  if (deps.rateLimit) await app.register(rateLimits(deps.rateLimit));
  app.get('/docs', { config: { access: 'open' }, schema: { hide: true } }, async () => app.swagger());
  for (const routes of deps.routes) await app.register(routes);
  return app;
}

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];

/**
 * The zod transform, plus each operation's roles from its route's `access` (roles.ts): the
 * `x-tocsin-roles` extension for tools and a sentence in the description for people. Open
 * routes need no key at all.
 */
function withRoles(input: TransformInput) {
  const transformed = jsonSchemaTransform(input);
  const access = (input.route.config as { access?: unknown } | undefined)?.access;
  if (!isAccess(access)) return transformed;
  const schema = transformed.schema as Record<string, unknown>;
  if (access === 'open') return { ...transformed, schema: { ...schema, security: [] } };
  const description = [schema.description, rolesSentence(access)].filter(Boolean).join('\n\n');
  return {
    ...transformed,
    schema: { ...schema, description, 'x-tocsin-roles': [...rolesWith(access)] },
  };
}

function rolesSentence(access: Access): string {
  return `Roles: ${rolesWith(access).join(', ')}.`;
}

export type HttpServer = Awaited<ReturnType<typeof createHttpServer>>;
