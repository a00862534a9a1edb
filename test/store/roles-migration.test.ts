import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createMigrationProvider } from '../../src/store/migrations/index.ts';
import { createSecretBox } from '../../src/store/secret-box.ts';
import { createSqliteStore } from '../../src/store/sqlite-store.ts';
import { testServerSecret } from '../support/test-secret.ts';

describe('migration 004: key roles', () => {
  it('makes the keys that existed before roles admin, and keeps the role a new key is given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tocsin-roles-migration-'));
    const filename = join(dir, 'tocsin.db');
    try {
      // A database as the version before roles left it: only the first migration ran.
      const db = new Kysely<unknown>({
        dialect: new SqliteDialect({ database: new BetterSqlite3(filename) }),
      });
      const migrated = await new Migrator({
        db,
        provider: createMigrationProvider('sqlite', { secrets: createSecretBox(testServerSecret) }),
      }).migrateTo('001-initial');
      expect(migrated.error).toBeUndefined();
      await db
        .insertInto('api_keys' as never)
        .values({
          id: 'key_old',
          tenant_id: 'default',
          prefix: 'tk_old0000',
          hash: 'hash-of-an-old-key',
          name: 'from before roles',
          created_at: 1,
          revoked_at: null,
        } as never)
        .execute();
      await db.destroy();

      const store = createSqliteStore({ filename, secret: testServerSecret });
      try {
        await store.migrate();
        expect(await store.apiKeys.findByHash('hash-of-an-old-key')).toMatchObject({
          id: 'key_old',
          role: 'admin',
        });
        await store.apiKeys.create({
          prefix: 'tk_new0000',
          hash: 'h-new',
          name: 'wallboard',
          role: 'reader',
        });
        expect(await store.apiKeys.findByHash('h-new')).toMatchObject({ role: 'reader' });
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
