import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Store } from '../store/store.ts';
import { viewApiKey } from './api-keys.ts';

/**
 * The audit trail: who changed which rule, silence, subscriber, webhook, subscription or key,
 * when, and what. A route that changes something declares it,
 * `config: { audit: { resource: 'silence', action: 'delete' } }`; the routes themselves write
 * nothing. Before the handler runs, the record as it is (`before`) is read from the store by
 * the route's `:id`; once the handler has answered 2xx, the answer is the record as it is now
 * (`after`, null for a delete). Failed requests change nothing and are not recorded.
 *
 * Secrets never enter the log: every field that can hold one (`secret`, `previousSecret`, an
 * API key's `key` and `hash`, tokens, passwords) is masked, at any depth, in both records.
 *
 * The entry is written before the answer leaves (onSend), so a client that sees the answer
 * can read the entry. It is not in the change's transaction: if the audit write itself fails
 * (the store went away between the two), the change stands and the failure is logged.
 */

export const auditResources = [
  'rule',
  'silence',
  'subscriber',
  'webhook',
  'subscription',
  'api_key',
] as const;

export type AuditResource = (typeof auditResources)[number];

export type AuditDeclaration = { resource: AuditResource; action: string };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route changes a record: write an audit entry when it succeeds. */
    audit?: AuditDeclaration;
  }
  interface FastifyRequest {
    /** The record before the change, read by the audit trail (undefined: none). */
    auditBefore: unknown;
  }
}

const secretFields = new Set(['secret', 'previoussecret', 'key', 'hash', 'token', 'password']);

/** `whsec_…abcd` for a webhook secret (enough to tell two apart), `[masked]` for anything else. */
function maskValue(value: unknown): unknown {
  if (typeof value !== 'string') return value === null ? null : '[masked]';
  return value.startsWith('whsec_') ? `whsec_…${value.slice(-4)}` : '[masked]';
}

/** A copy of `value` with every secret-bearing field masked, at any depth. */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([name, field]) => [
      name,
      secretFields.has(name.toLowerCase()) ? maskValue(field) : maskSecrets(field),
    ]),
  );
}

/** The stored record a route's `:id` names, within the caller's tenant. */
async function loadRecord(store: Store, resource: AuditResource, id: string, tenantId: string) {
  const owned = <T extends { tenantId: string }>(record: T | undefined) =>
    record !== undefined && record.tenantId === tenantId ? record : undefined;
  switch (resource) {
    case 'rule':
      return store.rules.get(id, { tenantId });
    case 'silence':
      return owned(await store.silences.get(id));
    case 'subscriber':
      return owned(await store.subscribers.get(id));
    case 'webhook':
      return owned(await store.endpoints.get(id));
    case 'subscription':
      return owned(await store.subscriptions.get(id));
    case 'api_key': {
      const key = (await store.apiKeys.list({ tenantId })).find((candidate) => candidate.id === id);
      return key === undefined ? undefined : viewApiKey(key);
    }
  }
}

const idParam = (request: FastifyRequest) => {
  const id = (request.params as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
};

function parseAnswer(payload: unknown): unknown {
  if (typeof payload !== 'string') return undefined;
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}

/** The plugin: register after auth, before the routes (it is not encapsulated). */
export function createAuditTrail(deps: { store: Store }): FastifyPluginAsync {
  const { store } = deps;

  const plugin: FastifyPluginAsync = async (app) => {
    app.decorateRequest('auditBefore', undefined);

    app.addHook('preHandler', async (request) => {
      const audit = request.routeOptions.config?.audit;
      const id = idParam(request);
      if (audit === undefined || id === undefined || request.principal === null) return;
      request.auditBefore = await loadRecord(store, audit.resource, id, request.tenantId);
    });

    app.addHook('onSend', async (request, reply, payload) => {
      const audit = request.routeOptions.config?.audit;
      const principal = request.principal;
      if (audit === undefined || principal === null || reply.statusCode < 200 || reply.statusCode >= 300)
        return payload;
      const answer = parseAnswer(payload) as { id?: unknown } | undefined;
      const isDelete = request.method === 'DELETE' && audit.action === 'delete';
      const after = isDelete ? null : (answer ?? null);
      const resourceId = idParam(request) ?? (typeof answer?.id === 'string' ? answer.id : '');
      try {
        await store.audit.record({
          tenantId: principal.tenantId,
          actor: { keyId: principal.keyId, name: principal.name, role: principal.role },
          action: audit.action,
          resourceType: audit.resource,
          resourceId,
          before: maskSecrets(request.auditBefore ?? null),
          after: maskSecrets(after),
        });
      } catch (error) {
        request.log.error(
          { err: error, resource: audit.resource, resourceId, action: audit.action },
          'audit entry not written',
        );
      }
      return payload;
    });
  };
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'tocsin-audit-trail',
  });
  return plugin;
}
