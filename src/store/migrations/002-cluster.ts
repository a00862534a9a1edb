import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from '../context.ts';

/**
 * Cluster mode (README "Running a cluster"):
 * - `change_versions`: one row per change-feed channel (change-feed.ts), bumped with every
 *   announced change, so an instance that missed a NOTIFY finds the change by polling.
 * - `owner_partitions`: a partition of the matches topic, owned by one instance at a time.
 *   `epoch` is taken (incremented) at assignment and every commit of the owner checks it, so
 *   an owner that lost the partition cannot write; `next_offset` is the offset the next owner
 *   resumes from (-1: nothing applied yet).
 * - `owner_groups`: the state of one (tenant, rule, group) of a stateful rule, owned through
 *   its matches-topic partition: threshold window, throttle mark, counted event ids.
 */
export function clusterMigration(dialect: StoreDialect): Migration {
  const isPg = dialect === 'postgres';
  const millis = isPg ? 'bigint' : 'integer';
  const json = isPg ? 'jsonb' : 'text';

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const { schema } = db;
      await schema
        .createTable('change_versions')
        .addColumn('channel', 'text', (c) => c.primaryKey())
        .addColumn('version', millis, (c) => c.notNull())
        .execute();

      await schema
        .createTable('owner_partitions')
        .addColumn('topic', 'text', (c) => c.notNull())
        .addColumn('partition', 'integer', (c) => c.notNull())
        .addColumn('epoch', millis, (c) => c.notNull())
        .addColumn('next_offset', millis, (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .addPrimaryKeyConstraint('owner_partitions_pk', ['topic', 'partition'])
        .execute();

      await schema
        .createTable('owner_groups')
        .addColumn('topic', 'text', (c) => c.notNull())
        .addColumn('partition', 'integer', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('group_key', 'text', (c) => c.notNull())
        .addColumn('state', json, (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .addPrimaryKeyConstraint('owner_groups_pk', [
          'topic',
          'partition',
          'tenant_id',
          'rule_id',
          'group_key',
        ])
        .execute();
    },
  };
}
