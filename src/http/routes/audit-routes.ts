import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Store } from '../../store/store.ts';
import { auditResources } from '../audit-trail.ts';
import { errorBodySchema } from '../error-handler.ts';
import { roles } from '../roles.ts';

/** `GET /v1/audit`: the tenant's audit log (http/audit-trail.ts), newest first, admin only. */

const auditEntry = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z.object({
      keyId: z.string().nullable().describe('the key that made the change; null for TOCSIN_API_KEY'),
      name: z.string(),
      role: z.enum(roles),
    }),
    action: z.string().describe('create, update, delete, enable, disable, rotate, revoke'),
    resourceType: z.string().describe(`one of ${auditResources.join(', ')}`),
    resourceId: z.string(),
    before: z.unknown().describe('the record before the change (null for a create), secrets masked'),
    after: z.unknown().describe('the record after the change (null for a delete), secrets masked'),
  })
  .meta({ id: 'AuditEntry' });

export function auditRoutes(deps: { store: Store }): FastifyPluginAsyncZod {
  const { store } = deps;
  return async (app) => {
    app.get(
      '/v1/audit',
      {
        config: { access: 'admin' },
        schema: {
          summary: 'The audit log: who changed what, newest first',
          description:
            'Every change to a rule, silence, subscriber, webhook, subscription or API key, with the key ' +
            'that made it and the record before and after (secrets masked). Kept TOCSIN_RETENTION_AUDIT_DAYS.',
          tags: ['audit'],
          querystring: z.object({
            resourceType: z.enum(auditResources).optional(),
            resourceId: z.string().min(1).max(200).optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(50),
            cursor: z.string().min(1).max(200).optional().describe('nextCursor of the previous page'),
          }),
          response: {
            200: z.object({ items: z.array(auditEntry), nextCursor: z.string().nullable() }),
            400: errorBodySchema,
          },
        },
      },
      async (request) => {
        const { resourceType, resourceId, limit, cursor } = request.query;
        const page = await store.audit.list({
          tenantId: request.tenantId,
          limit,
          ...(resourceType === undefined ? {} : { resourceType }),
          ...(resourceId === undefined ? {} : { resourceId }),
          ...(cursor === undefined ? {} : { cursor }),
        });
        return {
          items: page.items.map(({ tenantId: _tenant, ...entry }) => entry),
          nextCursor: page.nextCursor,
        };
      },
    );
  };
}
