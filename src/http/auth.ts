import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_TENANT, type Store } from '../store/store.ts';
import { hashApiKey, isApiKeyShaped, secretsEqual } from './api-keys.ts';
import { errorBody } from './error-handler.ts';
import { type Access, isAccess, mayUse, type Role, rolesWith } from './roles.ts';

/**
 * API key authentication (contracts.md, HTTP): every route under `/v1` — the WebSocket
 * upgrade `/v1/stream` included — needs `Authorization: Bearer <key>`; everything else
 * (`/healthz`, `/readyz`, `/metrics`, `/docs`, unsubscribe links `/u/*`, the page and its
 * assets) is open. The check runs in `onRequest`, before body parsing and before
 * @fastify/websocket upgrades, so a refused upgrade gets a plain HTTP 401.
 *
 * Every route declares the access it needs, `config: { access: 'read' }` (roles.ts): `open`
 * routes skip the check, the others need a key whose role has that access, else `403
 * TOCSIN_FORBIDDEN`. A route registered without a declaration fails the registration, so a
 * new route cannot be forgotten open or forgotten closed. A request that matches no route is
 * judged by its path: under /v1 it needs a key (any role), so probing says nothing.
 *
 * A route may accept one more credential (the stream's `?token=`): it names a check in its
 * config, `config: { credential: (request) => Principal | undefined }`, tried only when the
 * request carries no Authorization header. A wrong Authorization header is never rescued.
 * The check answers undefined when the request does not carry its credential at all, and
 * throws AppError TOCSIN_UNAUTHORIZED, saying why, when it carries a bad one (a tampered or
 * expired stream token is not "an API key is required").
 */

/** Who is calling: the tenant every query of the request is scoped to, and a name for audit fields. */
export type Principal = {
  tenantId: string;
  /** The key's name (`TOCSIN_API_KEY` for the static key): `createdBy` of silences, `ackedBy`. */
  name: string;
  /** The stored key's id; null for the static key or another credential. */
  keyId: string | null;
  /** What the key may do (roles.ts); the static key is `admin`. */
  role: Role;
};

/** Another credential a route accepts besides an API key. */
export type CredentialCheck = (
  request: FastifyRequest,
) => Promise<Principal | undefined> | Principal | undefined;

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's tenant (set on authenticated routes; '' on open ones). */
    tenantId: string;
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** A credential this route accepts besides `Authorization: Bearer <api key>`. */
    credential?: CredentialCheck;
    /** Who may call this route (roles.ts). Required on every route. */
    access?: Access;
  }
}

export const staticKeyName = 'TOCSIN_API_KEY';

export type ApiKeyAuthDeps = {
  store: Store;
  /** The server secret the stored hashes are keyed with (see `loadOrCreateSecret`). */
  secret: string;
  /** TOCSIN_API_KEY: accepted besides the stored keys, for the default tenant. */
  staticKey?: string | undefined;
};

/** Resolves a presented key to its principal, or undefined. One store lookup per stored-key attempt. */
export function createApiKeyVerifier(deps: ApiKeyAuthDeps) {
  const { store, secret, staticKey } = deps;
  return async function verifyApiKey(key: string): Promise<Principal | undefined> {
    if (staticKey !== undefined && secretsEqual(secret, key, staticKey)) {
      return { tenantId: DEFAULT_TENANT, name: staticKeyName, keyId: null, role: 'admin' };
    }
    if (!isApiKeyShaped(key)) return undefined;
    const record = await store.apiKeys.findByHash(hashApiKey(secret, key));
    if (record === undefined || record.revokedAt !== null) return undefined;
    return { tenantId: record.tenantId, name: record.name, keyId: record.id, role: record.role };
  };
}

const underV1 = (path: string | undefined) => path !== undefined && /^\/v1(\/|$)/.test(path);

/** The access a request needs: its route's declaration, or (no route matched) by its path. */
function accessOf(request: FastifyRequest): Access {
  const declared = request.routeOptions.config?.access;
  if (declared !== undefined) return declared;
  // A CORS preflight (only @fastify/cors registers OPTIONS routes) never carries credentials.
  if (request.method === 'OPTIONS') return 'open';
  return underV1(request.url.split('?')[0]) ? 'any' : 'open';
}

/** Throws unless a route declares a valid access; /v1 routes may not be open (contracts.md). */
export function checkAccessDeclaration(route: { method: string | string[]; url: string; config?: unknown }) {
  const access = (route.config as { access?: unknown } | undefined)?.access;
  const methods = [route.method].flat();
  // @fastify/cors's preflight route: preflights never carry credentials (see accessOf).
  if (methods.every((method) => method === 'OPTIONS') && access === undefined) return;
  const name = `${methods.join(',')} ${route.url}`;
  if (!isAccess(access))
    throw new Error(
      `${name} declares no access: add config: { access: 'open' | 'any' | 'read' | 'edit' | 'ingest' | 'admin' } (src/http/roles.ts)`,
    );
  if (access === 'open' && underV1(route.url)) throw new Error(`${name} is under /v1 and cannot be open`);
}

function bearerOf(request: FastifyRequest): string | undefined | null {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match ? match[1]! : null;
}

function refuse(reply: FastifyReply, message: string) {
  return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('TOCSIN_UNAUTHORIZED', message));
}

function forbid(reply: FastifyReply, access: Access, role: Role) {
  const allowed = rolesWith(access).join(', ');
  return reply.code(403).send(
    errorBody('TOCSIN_FORBIDDEN', `this route needs a key with role ${allowed}; this key is ${role}`, {
      role,
      allowed: rolesWith(access),
    }),
  );
}

/**
 * The authentication plugin. Register it before the route plugins: like `fastify-plugin`, it
 * is not encapsulated, so its hook guards every route of the server.
 */
export function createApiKeyAuth(deps: ApiKeyAuthDeps): FastifyPluginAsync {
  const verifyApiKey = createApiKeyVerifier(deps);

  const plugin: FastifyPluginAsync = async (app) => {
    app.decorateRequest('tenantId', '');
    app.decorateRequest('principal', null);

    app.addHook('onRequest', async (request, reply) => {
      const access = accessOf(request);
      if (access === 'open') return;
      const key = bearerOf(request);
      let principal: Principal | undefined;
      if (typeof key === 'string') {
        principal = await verifyApiKey(key);
      } else if (key === undefined) {
        principal = await request.routeOptions.config.credential?.(request);
        if (principal === undefined)
          return refuse(reply, 'an API key is required: Authorization: Bearer <key>');
      }
      // Neither the key nor why it failed (unknown, revoked, malformed) is told or logged.
      if (principal === undefined) return refuse(reply, 'invalid API key');
      if (!mayUse(principal.role, access)) return forbid(reply, access, principal.role);
      request.principal = principal;
      request.tenantId = principal.tenantId;
    });
  };
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'tocsin-api-key-auth',
  });
  return plugin;
}

/** The caller of an authenticated route (the hook guarantees it on /v1 routes). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null) throw new Error(`no principal on ${request.method} ${request.url}`);
  return request.principal;
}
