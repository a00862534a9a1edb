import { type Kysely, Migrator } from 'kysely';
import { AppError } from '../errors.ts';
import type { StoreDialect } from './context.ts';
import { createMigrationProvider } from './migrations/index.ts';
import type { StoreLogger } from './sql-store.ts';

/**
 * Runs the pending migrations. Kysely's migrator takes a lock first (an advisory lock on
 * PostgreSQL, the lock row on SQLite), so instances starting together migrate once.
 * `schema`: where the PostgreSQL migration bookkeeping lives (the store's own schema).
 */
export async function runMigrations(
  db: Kysely<unknown>,
  dialect: StoreDialect,
  options: { schema?: string; logger?: StoreLogger } = {},
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: createMigrationProvider(dialect),
    ...(options.schema !== undefined && { migrationTableSchema: options.schema }),
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  for (const result of results) {
    options.logger?.info({ migration: result.migrationName, status: result.status }, 'store migration');
  }
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName;
    throw new AppError(
      'TOCSIN_STORE_UNAVAILABLE',
      failed ? `store migration ${failed} failed` : 'store migration failed',
      {
        cause: error,
        details: { migration: failed },
      },
    );
  }
}
