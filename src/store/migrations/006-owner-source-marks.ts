import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../context.ts';

/**
 * Owner state (README "Running a cluster"): `owner_partitions.source_marks`, per source
 * partition feeding this matches-topic partition, the (source offset, index) of the last match
 * applied. A source instance that crashed after producing its matches but before committing its
 * source offsets produces them again; the owner skips every match at or below the mark, so a
 * replay of any length counts nothing twice (the per-group ledgers only reach back as far as a
 * rule's window and throttle). JSON text: `{"<topic>/<partition>": [offset, index]}`.
 */
export function ownerSourceMarksMigration(dialect: StoreDialect): Migration {
  const json = dialect === 'postgres' ? 'jsonb' : 'text';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('owner_partitions')
        .addColumn('source_marks', json, (c) => c.notNull().defaultTo(sql`'{}'`))
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('owner_partitions').dropColumn('source_marks').execute();
    },
  };
}
