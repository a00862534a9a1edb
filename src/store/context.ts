import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.ts';
import type { SecretBox } from './secret-box.ts';

export type StoreDialect = 'sqlite' | 'postgres';

/** What every method group needs: the database, its dialect, a clock and a transaction runner. */
export type StoreContext = {
  db: Kysely<Database>;
  dialect: StoreDialect;
  now(): Date;
  /** Seals and opens the secrets kept encrypted at rest (webhook signing secrets). */
  secrets: SecretBox;
  /**
   * Runs `fn` in one transaction. SQLite: `BEGIN IMMEDIATE`, so the write lock is taken up
   * front and two writers never deadlock on a lock upgrade. PostgreSQL: READ COMMITTED.
   * Not reentrant: code inside takes the transaction as a parameter.
   */
  transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
};

export function createTransactionRunner(
  db: Kysely<Database>,
  dialect: StoreDialect,
): StoreContext['transaction'] {
  if (dialect === 'postgres') return (fn) => db.transaction().execute(fn);
  // Kysely's SQLite driver has one connection behind a mutex: `connection()` holds it for the
  // whole callback, so no other query of this process runs inside our transaction.
  return (fn) =>
    db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const result = await fn(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (error) {
        await sql`rollback`.execute(conn);
        throw error;
      }
    });
}

export const toMillis = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new TypeError(`not an ISO 8601 time: ${iso}`);
  return ms;
};
export const toIso = (ms: number): string => new Date(ms).toISOString();
export const toIsoOrNull = (ms: number | null): string | null => (ms === null ? null : toIso(ms));

export const encodeJson = (value: unknown): string => JSON.stringify(value);
export const decodeJson = <T>(text: string): T => JSON.parse(text) as T;
export const decodeJsonOrNull = <T>(text: string | null): T | null =>
  text === null ? null : decodeJson<T>(text);

export const encodeFlag = (value: boolean): number => (value ? 1 : 0);
export const decodeFlag = (value: boolean | number): boolean => value === true || value === 1;

/** A random id with a readable prefix, e.g. `sub_3q2…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** Splits rows so a multi-row insert stays under both dialects' bound-parameter limits. */
export function chunk<T>(items: readonly T[], size = 200): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
