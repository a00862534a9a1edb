import { type Kysely, Migrator } from 'kysely';
import { AppError } from '../errors.ts';
import type { StoreDialect } from './context.ts';
import { createMigrationProvider } from './migrations/index.ts';
import type { SecretBox } from './secret-box.ts';
import type { StoreLogger } from './sql-store.ts';

/**
 * Runs the pending migrations. Kysely's migrator takes a lock first (an advisory lock on
 * PostgreSQL, the lock row on SQLite), so instances starting together migrate once.
 * `secrets`: migration 003 encrypts the webhook secrets with it. `schema`: where the PostgreSQL migration bookkeeping lives (the store's own schema).
 */
export async function runMigrations(
  db: Kysely<unknown>,
  dialect: StoreDialect,
  options: { schema?: string; logger?: StoreLogger; secrets: SecretBox },
): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: createMigrationProvider(dialect, { secrets: options.secrets }),
    // Migration numbers are reserved per piece of work and may land out of order (004 before
    // 002): a database that already ran a later one still runs an earlier one it lacks. Each
    // migration touches only its own tables, so their order between them does not matter.
    allowUnorderedMigrations: true,
    ...(options.schema !== undefined && { migrationTableSchema: options.schema }),
  });
  let outcome = await migrator.migrateToLatest();
  // Kysely's migrator introspects every table of the database; a schema dropped by someone
  // else at that moment (e.g. another test run, a tenant being removed) fails the lookup.
  // Nothing was applied then, so trying again is safe.
  for (let attempt = 1; attempt < 5 && isCatalogRace(outcome.error); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    outcome = await migrator.migrateToLatest();
  }
  const { error, results = [] } = outcome;
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

/** PostgreSQL errors of a catalog object vanishing mid-query: invalid_schema_name, undefined_table, cache lookup. */
function isCatalogRace(error: unknown): boolean {
  if (error === undefined || error === null) return false;
  const { code, message } = error as { code?: string; message?: string };
  return code === '3F000' || code === '42P01' || /cache lookup failed/.test(message ?? '');
}
