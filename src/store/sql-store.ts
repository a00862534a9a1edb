import { sql } from 'kysely';
import { AppError } from '../errors.ts';
import { createChangeFeed, type NotificationListener } from './change-feed.ts';
import type { StoreContext } from './context.ts';
import { createAlertGroup } from './groups/alert-group.ts';
import { createApiKeyGroup } from './groups/api-key-group.ts';
import { createAttemptGroup } from './groups/attempt-group.ts';
import { createAuditGroup } from './groups/audit-group.ts';
import { createDeliveryGroup } from './groups/delivery-group.ts';
import { createDigestGroup } from './groups/digest-group.ts';
import { createEndpointGroup } from './groups/endpoint-group.ts';
import { createPipelineGroup } from './groups/pipeline-group.ts';
import { createPreviewEventGroup } from './groups/preview-event-group.ts';
import { createRuleGroup } from './groups/rule-group.ts';
import { createSilenceGroup } from './groups/silence-group.ts';
import { createSubscriberGroup } from './groups/subscriber-group.ts';
import { createSubscriptionGroup } from './groups/subscription-group.ts';
import { purgeExpired } from './purge.ts';
import type { Store } from './store.ts';

/** The slice of a pino logger the store uses. */
export type StoreLogger = {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
};

/** What differs between the dialects: how to migrate and how to let go of the connections. */
export type StoreLifecycle = {
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** PostgreSQL's LISTEN connection for the change feed; SQLite has none (versions are polled). */
  listener?: NotificationListener;
  /** How often the change feed compares versions (default 1 s). */
  changeCheckMs?: number;
  logger?: StoreLogger;
};

/** One Store over Kysely: every method group is the same code for SQLite and PostgreSQL. */
export function createSqlStore(ctx: StoreContext, lifecycle: StoreLifecycle): Store {
  const changes = createChangeFeed({
    db: ctx.db,
    dialect: ctx.dialect,
    transaction: ctx.transaction,
    checkMs: lifecycle.changeCheckMs ?? 1_000,
    ...(lifecycle.listener && { listener: lifecycle.listener }),
    ...(lifecycle.logger && { logger: lifecycle.logger }),
  });
  const endpoints = createEndpointGroup(ctx);
  return {
    dialect: ctx.dialect,
    changes,
    alerts: createAlertGroup(ctx),
    pipeline: createPipelineGroup(ctx),
    rules: createRuleGroup(ctx, changes),
    silences: createSilenceGroup(ctx),
    subscribers: createSubscriberGroup(ctx),
    endpoints,
    subscriptions: createSubscriptionGroup(ctx),
    deliveries: createDeliveryGroup(ctx),
    attempts: createAttemptGroup(ctx),
    digests: createDigestGroup(ctx),
    apiKeys: createApiKeyGroup(ctx, changes),
    audit: createAuditGroup(ctx),
    previewEvents: createPreviewEventGroup(ctx),
    async migrate() {
      await lifecycle.migrate();
      await endpoints.checkSecretKey();
    },
    async ping() {
      try {
        await sql`select 1`.execute(ctx.db);
      } catch (error) {
        throw new AppError('TOCSIN_STORE_UNAVAILABLE', `the ${ctx.dialect} store cannot be reached`, {
          cause: error,
          retryable: true,
        });
      }
    },
    async close() {
      await changes.close();
      await lifecycle.close();
    },
    purge: (retention, now) => purgeExpired(ctx, retention, now),
  };
}
