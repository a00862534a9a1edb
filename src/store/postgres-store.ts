import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { AppError } from '../errors.ts';
import type { NotificationListener } from './change-feed.ts';
import { createTransactionRunner } from './context.ts';
import { runMigrations } from './migrate.ts';
import type { Database } from './schema.ts';
import { createSecretBox } from './secret-box.ts';
import { createSqlStore, type StoreLogger } from './sql-store.ts';
import type { Store } from './store.ts';

export type PostgresStoreOptions = {
  connectionString: string;
  /** The server secret (TOCSIN_SECRET or `<dataDir>/secret`); webhook secrets are encrypted under a key derived from it. */
  secret: string;
  /** The schema to use (created by `migrate`); default: the server's `search_path`. */
  schema?: string;
  /** Pool size (default 10). */
  maxConnections?: number;
  /** `application_name` of the connections (default `tocsin`), as shown in pg_stat_activity. */
  applicationName?: string;
  now?: () => Date;
  logger?: StoreLogger;
  /** How often the change feed compares versions (default 1 s). */
  changeCheckMs?: number;
};

const int8 = 20;
const json = 114;
const jsonb = 3802;

/**
 * Type parsing for this pool only (not pg's global registry): int8 → number (epoch ms and
 * log positions stay far below 2^53), json/jsonb → the raw text, so one JSON codec serves
 * both dialects (schema.ts).
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === int8) return (value: string) => Number(value);
    if (oid === json || oid === jsonb) return (value: string) => value;
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  },
} as pg.CustomTypesConfig;

export function createPostgresPool(options: Omit<PostgresStoreOptions, 'secret'>): pg.Pool {
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
    throw new AppError('TOCSIN_INVALID_CONFIG', `not a usable schema name: ${options.schema}`);
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'tocsin',
    types,
    ...(options.schema !== undefined && { options: `-c search_path=${options.schema}` }),
  });
  // A connection that dies (server restart, pg_terminate_backend) emits 'error': on the pool
  // when the client is idle, on the client itself when it is checked out (e.g. between a
  // failed query and its release). Without listeners either would crash the process; the
  // query in flight fails on its own, and the pool drops the dead client and opens another.
  const onLost = (error: Error) => options.logger?.warn({ err: error }, 'PostgreSQL connection lost');
  pool.on('error', onLost);
  pool.on('connect', (client) => client.on('error', onLost));
  return pool;
}

/** The cluster store: a pg pool, READ COMMITTED transactions, jsonb, row locks for ordering. */
export function createPostgresStore(options: PostgresStoreOptions): Store {
  const pool = createPostgresPool(options);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const ctx = {
    db,
    dialect: 'postgres' as const,
    now: options.now ?? (() => new Date()),
    secrets: createSecretBox(options.secret),
    transaction: createTransactionRunner(db, 'postgres'),
  };
  return createSqlStore(ctx, {
    async migrate() {
      if (options.schema !== undefined)
        await sql`create schema if not exists ${sql.id(options.schema)}`.execute(db);
      const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
      const schema = rows[0]?.schema;
      if (!schema)
        throw new AppError('TOCSIN_INVALID_CONFIG', 'PostgreSQL search_path names no existing schema');
      await runMigrations(db as Kysely<unknown>, 'postgres', {
        schema,
        secrets: ctx.secrets,
        ...(options.logger && { logger: options.logger }),
      });
    },
    close: () => db.destroy(),
    listener: createPgListener(options),
    ...(options.changeCheckMs !== undefined && { changeCheckMs: options.changeCheckMs }),
    ...(options.logger && { logger: options.logger }),
  });
}

/**
 * The change feed's LISTEN connection: its own client (a pooled one would be handed to other
 * queries), with the pool's search_path, so `current_schema()` names the same schema.
 */
function createPgListener(options: PostgresStoreOptions): NotificationListener {
  return {
    async listen(channel, onNotify, onLost) {
      const client = new pg.Client({
        connectionString: options.connectionString,
        application_name: `${options.applicationName ?? 'tocsin'}-listen`,
        ...(options.schema !== undefined && { options: `-c search_path=${options.schema}` }),
      });
      let lost = false;
      const drop = (error: Error) => {
        if (lost) return;
        lost = true;
        onLost(error);
      };
      client.on('error', drop);
      client.on('end', () => drop(new Error('the listening connection ended')));
      client.on('notification', (message) => {
        if (message.channel === channel && message.payload !== undefined) onNotify(message.payload);
      });
      await client.connect();
      await client.query(`listen "${channel}"`);
      return {
        async close() {
          lost = true;
          await client.end().catch(() => {});
        },
      };
    },
  };
}
