import { join } from 'node:path';
import { AppError } from '../errors.ts';
import { createPostgresStore } from './postgres-store.ts';
import type { StoreLogger } from './sql-store.ts';
import { createSqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';

export type CreateStoreOptions = {
  /** `postgres://…` or `postgresql://…`: PostgreSQL; `sqlite::memory:` or `sqlite:<path>`: SQLite; unset: SQLite in `dataDir`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** The server secret (`loadOrCreateSecret`): webhook secrets are stored encrypted under a key derived from it. */
  secret: string;
  logger?: StoreLogger;
  now?: () => Date;
};

/** The embedded database file inside the data directory. */
export const sqliteFileName = 'tocsin.db';

/** Picks the store by URL. Nothing connects until the first query (`migrate()` at start). */
export function createStore(options: CreateStoreOptions): Store {
  const common = {
    secret: options.secret,
    ...(options.logger && { logger: options.logger }),
    ...(options.now && { now: options.now }),
  };
  const url = options.databaseUrl;
  if (url === undefined || url === '') {
    return createSqliteStore({ filename: join(options.dataDir, sqliteFileName), ...common });
  }
  if (/^postgres(ql)?:\/\//.test(url)) return createPostgresStore({ connectionString: url, ...common });
  if (url.startsWith('sqlite:'))
    return createSqliteStore({ filename: url.slice('sqlite:'.length), ...common });
  throw new AppError(
    'TOCSIN_INVALID_CONFIG',
    'DATABASE_URL must start with postgres://, postgresql:// or sqlite:',
  );
}
