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
import { errorHandler, notFoundHandler } from './error-handler.ts';

/**
 * The Fastify instance: zod validates requests and serialises responses, and the OpenAPI
 * document served at `/docs` is generated from the same route schemas.
 */
export async function createHttpServer(deps: {
  logger: Logger;
  maxBodyBytes: number;
  /** Registered first, unencapsulated: the API-key hook that guards every /v1 route. */
  auth?: FastifyPluginAsync;
  routes: FastifyPluginAsync[];
}) {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.maxBodyBytes,
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

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
            description: 'An API key: `Authorization: Bearer <key>`',
          },
        },
      },
      // Every /v1 route needs a key; /healthz, /readyz, /metrics, /docs and unsubscribe links do not.
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  app.get('/docs', { schema: { hide: true } }, async () => app.swagger());
  if (deps.auth) await app.register(deps.auth);
  for (const routes of deps.routes) await app.register(routes);
  return app;
}

export type HttpServer = Awaited<ReturnType<typeof createHttpServer>>;
