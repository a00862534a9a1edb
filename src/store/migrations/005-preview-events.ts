import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from '../context.ts';

/**
 * The preview ring (store/groups/preview-event-group.ts): the newest ingested events of each
 * tenant, compressed, so a draft rule can be tried on them. `seq` is gap-free per tenant (the
 * counter row hands out a range under its row lock), so "the newest N" is `seq >= next - N`.
 */
export function previewEventsMigration(dialect: StoreDialect): Migration {
  const isPg = dialect === 'postgres';
  const millis = isPg ? 'bigint' : 'integer';
  const bytes = isPg ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const { schema } = db;
      await schema
        .createTable('preview_event_counter')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey())
        .addColumn('next_seq', millis, (c) => c.notNull())
        .execute();
      await schema
        .createTable('preview_events')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('seq', millis, (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('published_at', millis, (c) => c.notNull())
        .addColumn('received_at', millis, (c) => c.notNull())
        .addColumn('body', bytes, (c) => c.notNull())
        .addPrimaryKeyConstraint('preview_events_pk', ['tenant_id', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('preview_events').execute();
      await db.schema.dropTable('preview_event_counter').execute();
    },
  };
}
