import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Store } from '../../store/store.ts';
import { issueApiKey, viewApiKey } from '../api-keys.ts';
import { principalOf } from '../auth.ts';
import { errorBodySchema } from '../error-handler.ts';
import { roles } from '../roles.ts';
import { notFound } from './owned-record.ts';

/**
 * API keys of the caller's tenant (`/v1/api-keys`, admin only) and the calling key itself
 * (`/v1/me`, any role). A key is shown once, in the answer to its creation; lists show its
 * prefix. Revoking takes effect on the next request.
 */

export type ApiKeyRoutesDeps = {
  store: Store;
  secret: string;
  now?: () => Date;
};

const apiKeyRecord = z
  .object({
    id: z.string(),
    prefix: z.string().describe('the first characters of the key'),
    name: z.string(),
    role: z.enum(roles),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'ApiKey' });

const me = z
  .object({
    id: z.string().nullable().describe('the stored key id; null for TOCSIN_API_KEY'),
    name: z.string(),
    role: z.enum(roles),
    tenant: z.string(),
  })
  .meta({ id: 'Me' });

export function apiKeyRoutes(deps: ApiKeyRoutesDeps): FastifyPluginAsyncZod {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());

  return async (app) => {
    app.get(
      '/v1/me',
      {
        config: { access: 'any' },
        schema: {
          summary: 'The calling key: id, name, role and tenant',
          description: 'What a client (the live page) may do with the key it holds.',
          tags: ['api keys'],
          response: { 200: me },
        },
      },
      async (request) => {
        const { keyId, name, role, tenantId } = principalOf(request);
        return { id: keyId, name, role, tenant: tenantId };
      },
    );

    app.get(
      '/v1/api-keys',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'List API keys (prefix only)',
          tags: ['api keys'],
          response: { 200: z.object({ items: z.array(apiKeyRecord) }) },
        },
      },
      async (request) => ({
        items: (await store.apiKeys.list({ tenantId: request.tenantId })).map(viewApiKey),
      }),
    );

    app.post(
      '/v1/api-keys',
      {
        config: { access: 'admin', audit: { resource: 'api_key', action: 'create' } },
        schema: {
          summary: 'Create an API key',
          description: 'The answer holds the key itself; it is never shown again (only its hash is stored).',
          tags: ['api keys'],
          body: z.strictObject({
            name: z.string().trim().min(1).max(200),
            role: z
              .enum(roles)
              .default('admin')
              .describe(
                'admin, editor, ingest or reader; admin when left out, as for keys from before roles',
              ),
          }),
          response: { 201: apiKeyRecord.extend({ key: z.string() }), 400: errorBodySchema },
        },
      },
      async (request, reply) => {
        const { key, record } = await issueApiKey(
          { store, secret: deps.secret },
          { name: request.body.name, role: request.body.role, tenantId: request.tenantId },
        );
        return reply.code(201).send({ ...record, key });
      },
    );

    app.delete(
      '/v1/api-keys/:id',
      {
        config: { access: 'admin', audit: { resource: 'api_key', action: 'revoke' } },
        schema: {
          summary: 'Revoke an API key',
          description:
            'Requests with it answer 401 from now on, its stream tokens are refused, and its open streams close with code 4003. Revoking a revoked key changes nothing.',
          tags: ['api keys'],
          params: z.object({ id: z.string().min(1) }),
          response: { 200: apiKeyRecord, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        const scope = { tenantId: request.tenantId };
        if (!(await store.apiKeys.list(scope)).some((key) => key.id === id)) throw notFound('API key', id);
        await store.apiKeys.revoke(id, now());
        const revoked = (await store.apiKeys.list(scope)).find((key) => key.id === id);
        if (revoked === undefined) throw notFound('API key', id);
        return viewApiKey(revoked);
      },
    );
  };
}
