import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { issueApiKey } from '../../../src/http/api-keys.ts';
import { createAuditTrail } from '../../../src/http/audit-trail.ts';
import { createApiKeyAuth } from '../../../src/http/auth.ts';
import { healthRoutes } from '../../../src/http/health-routes.ts';
import { createHttpServer, type HttpServer } from '../../../src/http/http-server.ts';
import { createMetrics } from '../../../src/http/metrics.ts';
import { alertRoutes } from '../../../src/http/routes/alert-routes.ts';
import { apiKeyRoutes } from '../../../src/http/routes/api-key-routes.ts';
import { auditRoutes } from '../../../src/http/routes/audit-routes.ts';
import { deliveryRoutes } from '../../../src/http/routes/delivery-routes.ts';
import { rulePreviewRoutes } from '../../../src/http/routes/rule-preview-routes.ts';
import { ruleRoutes } from '../../../src/http/routes/rule-routes.ts';
import { silenceRoutes } from '../../../src/http/routes/silence-routes.ts';
import { subscriberRoutes } from '../../../src/http/routes/subscriber-routes.ts';
import { subscriptionRoutes } from '../../../src/http/routes/subscription-routes.ts';
import { webhookRoutes } from '../../../src/http/routes/webhook-routes.ts';
import { createLogger } from '../../../src/logger.ts';
import { compileRule } from '../../../src/rules/compile-rule.ts';
import type { CompiledRule, RuleMatcher } from '../../../src/rules/compiled-rule.ts';
import { createRuleIndex } from '../../../src/rules/rule-index.ts';
import { createPostgresStore } from '../../../src/store/postgres-store.ts';
import type { Store } from '../../../src/store/store.ts';
import {
  type Backend,
  type Clock,
  createClock,
  dropSchema,
  type Harness,
  sqliteHarness,
  testDatabaseUrl,
} from '../../store/store-harness.ts';

export const testSecret = 'api-test-secret-0123456789abcdef';

/**
 * PostgreSQL stores are made here rather than by `postgresHarness.create()` so that migrate
 * can be retried: Kysely's migrator introspects every schema of the database
 * (`has_schema_privilege(nspname, …)`), which fails with 3F000 "schema … does not exist"
 * when another test process drops its own schema at that moment. Migrating is idempotent.
 */
export async function createBackend(harness: Harness): Promise<Backend> {
  if (harness.name !== 'postgres') return harness.create();
  const schema = `tocsin_test_${randomBytes(6).toString('hex')}`;
  const clock = createClock();
  const opened: Store[] = [];
  const open = () => {
    const store = createPostgresStore({
      connectionString: testDatabaseUrl,
      schema,
      secret: testSecret,
      now: clock.now,
    });
    opened.push(store);
    return store;
  };
  const store = open();
  const dispose = async () => {
    await Promise.all(opened.map((s) => s.close()));
    await dropSchema(schema);
  };
  for (let attempt = 1; ; attempt++) {
    try {
      await store.migrate();
      break;
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      if (attempt >= 5 || cause?.code !== '3F000') {
        await dispose();
        throw error;
      }
    }
  }
  return { store, clock, open, schema, dispose };
}

export type ApiServerOptions = {
  harness?: Harness;
  staticKey?: string;
  fileRules?: CompiledRule[];
  /** Issue the stored key `key` (default true). */
  issueKey?: boolean;
  /** Extra route plugins (registered after auth, like the app's own). */
  routes?: FastifyPluginAsync[];
};

export type ApiServer = {
  app: HttpServer;
  store: Store;
  clock: Clock;
  matcher: RuleMatcher;
  /** A stored key of the default tenant, named `test-key`. */
  key: string;
  /** Rule ids passed to `onRuleRemoved`, in order. */
  forgotten: string[];
  request(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    options?: { body?: unknown; key?: string | null },
    // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as JSON
  ): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  dispose(): Promise<void>;
};

/** A file rule as the loader would give it. */
export function fileRule(
  document: Record<string, unknown>,
  file = '/etc/tocsin/rules/desk.yaml',
): CompiledRule {
  return compileRule(document, file);
}

/**
 * The real HTTP server (createHttpServer: zod, swagger, websocket, the error handler) with API
 * key auth and every /v1 route plugin, on a real migrated store and a real rule index.
 */
export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const backend = await createBackend(options.harness ?? sqliteHarness);
  const { store, clock } = backend;
  const fileRules = options.fileRules ?? [];
  const matcher = createRuleIndex(fileRules);
  const forgotten: string[] = [];
  const now = clock.now;
  const app = await createHttpServer({
    logger: createLogger('silent'),
    maxBodyBytes: 1024 * 1024,
    auth: createApiKeyAuth({ store, secret: testSecret, staticKey: options.staticKey }),
    audit: createAuditTrail({ store }),
    routes: [
      healthRoutes({ metrics: createMetrics(), checks: [{ name: 'store', check: () => store.ping() }] }),
      rulePreviewRoutes({ store }),
      ruleRoutes({
        store,
        matcher,
        fileRules: () => fileRules,
        onRuleRemoved: (id) => forgotten.push(id),
        now,
      }),
      silenceRoutes({ store, now }),
      alertRoutes({ store, now }),
      subscriberRoutes({ store }),
      webhookRoutes({ store, now }),
      subscriptionRoutes({ store }),
      deliveryRoutes({ store, now }),
      apiKeyRoutes({ store, secret: testSecret, now }),
      auditRoutes({ store }),
      ...(options.routes ?? []),
    ],
  });
  await app.ready();
  const key =
    options.issueKey === false
      ? ''
      : (await issueApiKey({ store, secret: testSecret }, { name: 'test-key' })).key;

  return {
    app,
    store,
    clock,
    matcher,
    key,
    forgotten,
    async request(method, url, requestOptions = {}) {
      const presented = requestOptions.key === undefined ? key : requestOptions.key;
      const response = await app.inject({
        method,
        url,
        headers: presented === null ? {} : { authorization: `Bearer ${presented}` },
        ...(requestOptions.body === undefined ? {} : { payload: requestOptions.body as object }),
      });
      const isJson = String(response.headers['content-type'] ?? '').startsWith('application/json');
      return {
        status: response.statusCode,
        body: isJson ? JSON.parse(response.body) : response.body,
        headers: response.headers,
      };
    },
    async dispose() {
      await app.close();
      await backend.dispose();
    },
  };
}
