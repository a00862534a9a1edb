import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from '../context.ts';

/**
 * Key roles and the audit log (issue 12). Keys that existed before roles keep every right
 * they had: the column's default makes them `admin` (contracts.md, HTTP).
 *
 * `audit_log` rows are written by the routes that change something, read newest first by
 * `(tenant_id, at, id)` and deleted by retention by `at`.
 */
export function rolesAndAuditMigration(dialect: StoreDialect): Migration {
  const millis = dialect === 'postgres' ? 'bigint' : 'integer';
  const json = dialect === 'postgres' ? 'jsonb' : 'text';

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const { schema } = db;
      await schema
        .alterTable('api_keys')
        .addColumn('role', 'text', (c) => c.notNull().defaultTo('admin'))
        .execute();

      await schema
        .createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('at', millis, (c) => c.notNull())
        .addColumn('actor_key_id', 'text')
        .addColumn('actor_name', 'text', (c) => c.notNull())
        .addColumn('actor_role', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('resource_type', 'text', (c) => c.notNull())
        .addColumn('resource_id', 'text', (c) => c.notNull())
        .addColumn('before', json)
        .addColumn('after', json)
        .execute();
      await schema
        .createIndex('audit_log_tenant_at')
        .on('audit_log')
        .columns(['tenant_id', 'at', 'id'])
        .execute();
      await schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
    },
  };
}
