import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { createTransactionRunner } from './context.ts';
import { runMigrations } from './migrate.ts';
import type { Database } from './schema.ts';
import { createSecretBox } from './secret-box.ts';
import { createSqlStore, type StoreLogger } from './sql-store.ts';
import type { Store } from './store.ts';

export type SqliteStoreOptions = {
  /** A file path, or `:memory:`. */
  filename: string;
  /** The server secret (TOCSIN_SECRET or `<dataDir>/secret`); webhook secrets are encrypted under a key derived from it. */
  secret: string;
  /** How long a writer waits for another process's write lock (default 5 s). */
  busyTimeoutMs?: number;
  now?: () => Date;
  logger?: StoreLogger;
};

/**
 * The embedded store: one better-sqlite3 connection in WAL mode (readers never block the
 * writer), foreign keys on (cascades), `synchronous = NORMAL` (durable across a process
 * crash; WAL keeps the database consistent across a power loss, which may lose the last
 * commits). One process owns the file; another process (the CLI) may share it, waiting
 * `busy_timeout` for the write lock.
 */
export function createSqliteStore(options: SqliteStoreOptions): Store {
  const isMemory = options.filename === ':memory:';
  if (!isMemory) mkdirSync(dirname(options.filename), { recursive: true });
  const database = new BetterSqlite3(options.filename);
  database.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5_000)}`);
  if (!isMemory) database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');

  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  const ctx = {
    db,
    dialect: 'sqlite' as const,
    now: options.now ?? (() => new Date()),
    secrets: createSecretBox(options.secret),
    transaction: createTransactionRunner(db, 'sqlite'),
  };
  return createSqlStore(ctx, {
    async migrate() {
      await runMigrations(db as Kysely<unknown>, 'sqlite', {
        secrets: ctx.secrets,
        ...(options.logger && { logger: options.logger }),
      });
      // Pages rewritten by a migration (003 seals webhook secrets) reach the database file and
      // the WAL is emptied, so their old contents stay nowhere. Busy (another process reading)
      // leaves the WAL for SQLite's own checkpoints; nothing fails.
      if (!isMemory) database.pragma('wal_checkpoint(TRUNCATE)');
    },
    // Kysely's destroy closes the better-sqlite3 database.
    close: () => db.destroy(),
  });
}
