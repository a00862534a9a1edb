import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { generateWebhookSecret } from '../../src/store/groups/endpoint-group.ts';
import { createMigrationProvider } from '../../src/store/migrations/index.ts';
import { createPostgresPool, createPostgresStore } from '../../src/store/postgres-store.ts';
import { createSecretBox } from '../../src/store/secret-box.ts';
import { createSqliteStore } from '../../src/store/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import {
  startWebhookReceiver,
  verifyWithLibraries,
  type WebhookReceiver,
} from '../delivery/webhook/webhook-receiver.ts';
import { startService, testApiKey } from '../support/service-process.ts';
import { testServerSecret } from '../support/test-secret.ts';
import { assertPostgresReachable, dropSchema, testDatabaseUrl } from './store-harness.ts';

/** The key part of a `whsec_` secret is nowhere in `bytes` (without printing the bytes). */
function expectAbsent(bytes: string, secret: string): void {
  const key = secret.slice('whsec_'.length);
  expect(bytes.includes(key), `the secret ${secret} is in the database's bytes`).toBe(false);
}

type EndpointRow = { id: string; secret: string; previous_secret: string | null };

describe('secret box (AES-256-GCM, key from the server secret)', () => {
  const box = createSecretBox(testServerSecret);

  it('opens what it sealed, with a fresh IV each time, and nothing of the secret in the envelope', () => {
    const secret = generateWebhookSecret();
    const one = box.seal(secret, 'ep_1');
    const two = box.seal(secret, 'ep_1');
    expect(one).toMatch(/^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/);
    expect(one).not.toBe(two);
    expect(one).not.toContain(secret.slice(6, 20));
    expect(box.isSealed(one)).toBe(true);
    expect(box.isSealed(secret)).toBe(false);
    expect(box.open(one, 'ep_1')).toBe(secret);
    expect(box.open(two, 'ep_1')).toBe(secret);
  });

  it('refuses another server secret, another row, and a tampered envelope with TOCSIN_INVALID_CONFIG', () => {
    const sealed = box.seal(generateWebhookSecret(), 'ep_1');
    const other = createSecretBox('another-server-secret-0123456789');
    const attempts = [
      () => other.open(sealed, 'ep_1'),
      () => box.open(sealed, 'ep_2'),
      () => box.open(`${sealed.slice(0, -2)}AA`, 'ep_1'),
      () => box.open('v1:short:x:y', 'ep_1'),
    ];
    for (const attempt of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (error) {
        caught = error;
      }
      expect(isAppError(caught, 'TOCSIN_INVALID_CONFIG'), String(caught)).toBe(true);
    }
    expect(() => other.open(sealed, 'ep_1')).toThrow(/encrypted with another server secret.*TOCSIN_SECRET/);
  });
});

/** One database of each dialect, with raw access beside the store. */
type Database = {
  name: 'sqlite' | 'postgres';
  raw: Kysely<{ webhook_endpoints: EndpointRow }>;
  openStore(secret: string): Store;
  /** Runs every migration but 003: a database of the version before webhook secrets were encrypted. */
  migrateBefore003(): Promise<void>;
  /** Every byte of the database on disk (SQLite: the file and its WAL). */
  bytesOnDisk(): Promise<string>;
  dispose(): Promise<void>;
};

function without003(dialect: 'sqlite' | 'postgres') {
  const all = createMigrationProvider(dialect, { secrets: createSecretBox(testServerSecret) });
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const migrations = await all.getMigrations();
      delete migrations['003-encrypt-webhook-secrets'];
      return migrations;
    },
  };
}

async function sqliteDatabase(): Promise<Database> {
  const dir = await mkdtemp(join(tmpdir(), 'tocsin-secrets-'));
  const filename = join(dir, 'tocsin.db');
  const connection = new BetterSqlite3(filename);
  connection.pragma('journal_mode = WAL');
  const raw = new Kysely<{ webhook_endpoints: EndpointRow }>({
    dialect: new SqliteDialect({ database: connection }),
  });
  const stores: Store[] = [];
  return {
    name: 'sqlite',
    raw,
    openStore(secret) {
      const store = createSqliteStore({ filename, secret });
      stores.push(store);
      return store;
    },
    async migrateBefore003() {
      const migrator = new Migrator({
        db: raw as Kysely<unknown>,
        provider: without003('sqlite'),
        allowUnorderedMigrations: true,
      });
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
    },
    async bytesOnDisk() {
      return readdirSync(dir)
        .map((file) => readFileSync(join(dir, file)).toString('latin1'))
        .join('\n');
    },
    async dispose() {
      await Promise.all(stores.map((store) => store.close()));
      await raw.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function postgresDatabase(): Promise<Database> {
  const schema = `tocsin_secrets_${randomBytes(6).toString('hex')}`;
  const raw = new Kysely<{ webhook_endpoints: EndpointRow }>({
    dialect: new PostgresDialect({ pool: createPostgresPool({ connectionString: testDatabaseUrl, schema }) }),
  });
  await sql`create schema ${sql.id(schema)}`.execute(raw);
  const stores: Store[] = [];
  return {
    name: 'postgres',
    raw,
    openStore(secret) {
      const store = createPostgresStore({ connectionString: testDatabaseUrl, schema, secret });
      stores.push(store);
      return store;
    },
    async migrateBefore003() {
      const migrator = new Migrator({
        db: raw as Kysely<unknown>,
        provider: without003('postgres'),
        allowUnorderedMigrations: true,
        migrationTableSchema: schema,
      });
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
    },
    async bytesOnDisk() {
      // The table's rows as PostgreSQL returns them; the server's files are not ours to read.
      const rows = await raw.selectFrom('webhook_endpoints').selectAll().execute();
      return JSON.stringify(rows);
    },
    async dispose() {
      await Promise.all(stores.map((store) => store.close()));
      await raw.destroy();
      await dropSchema(schema);
    },
  };
}

describe.each([
  ['sqlite', sqliteDatabase],
  ['postgres', postgresDatabase],
] as const)('webhook secrets at rest (%s)', (name, create) => {
  let database: Database;
  beforeAll(async () => {
    if (name === 'postgres') await assertPostgresReachable();
  });
  afterEach(async () => {
    await database?.dispose();
  });

  it('stores the secret and the rotated-out one sealed, and reads them back whole', async () => {
    database = await create();
    const store = database.openStore(testServerSecret);
    await store.migrate();
    const given = generateWebhookSecret();
    const endpoint = await store.endpoints.create({ url: 'https://hooks.example.com/a', secret: given });
    expect(endpoint.secret).toBe(given);
    const rotated = await store.endpoints.rotateSecret(endpoint.id, new Date(Date.now() + 60_000));
    expect(rotated).toMatchObject({ previousSecret: given });
    expect(rotated!.secret).toMatch(/^whsec_/);
    expect(await store.endpoints.get(endpoint.id)).toMatchObject({
      secret: rotated!.secret,
      previousSecret: given,
    });
    expect((await store.endpoints.list())[0]).toMatchObject({
      secret: rotated!.secret,
      previousSecret: given,
    });

    const row = await database.raw.selectFrom('webhook_endpoints').selectAll().executeTakeFirstOrThrow();
    expect(row.secret).toMatch(/^v1:/);
    expect(row.previous_secret).toMatch(/^v1:/);
    const disk = await database.bytesOnDisk();
    for (const secret of [given, rotated!.secret]) expectAbsent(disk, secret);
  });

  it('migration 003 seals the plaintext rows a database from before it holds, rotated-out secrets too', async () => {
    database = await create();
    await database.migrateBefore003();
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    const other = generateWebhookSecret();
    const base = { tenant_id: 'default', format: 'standard', disabled: 0, created_at: 1, updated_at: 1 };
    await database.raw
      .insertInto('webhook_endpoints')
      .values([
        {
          ...base,
          id: 'ep_rotating',
          url: 'https://a.example.com/',
          secret: current,
          previous_secret: previous,
          previous_secret_expires_at: Date.now() + 60_000,
        } as never,
        {
          ...base,
          id: 'ep_plain',
          url: 'https://b.example.com/',
          secret: other,
          previous_secret: null,
        } as never,
      ])
      .execute();

    const store = database.openStore(testServerSecret);
    await store.migrate();
    expect(await store.endpoints.get('ep_rotating')).toMatchObject({
      secret: current,
      previousSecret: previous,
    });
    expect(await store.endpoints.get('ep_plain')).toMatchObject({ secret: other, previousSecret: null });
    const rows = await database.raw.selectFrom('webhook_endpoints').selectAll().orderBy('id').execute();
    expect(rows.map((row) => [row.secret.slice(0, 3), row.previous_secret?.slice(0, 3) ?? null])).toEqual([
      ['v1:', null],
      ['v1:', 'v1:'],
    ]);
    const disk = await database.bytesOnDisk();
    for (const secret of [current, previous, other])
      expect(disk).not.toContain(secret.slice('whsec_'.length));

    // Migrating again (another instance starting) leaves the sealed rows as they are.
    const again = database.openStore(testServerSecret);
    await again.migrate();
    expect(await database.raw.selectFrom('webhook_endpoints').selectAll().orderBy('id').execute()).toEqual(
      rows,
    );
  });

  it('refuses to start on another server secret, naming the fix, instead of signing with garbage', async () => {
    database = await create();
    const store = database.openStore(testServerSecret);
    await store.migrate();
    await store.endpoints.create({ url: 'https://hooks.example.com/a' });
    const changed = database.openStore('a-changed-server-secret-0123456789');
    const error = await changed.migrate().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isAppError(error, 'TOCSIN_INVALID_CONFIG'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/encrypted with another server secret.*TOCSIN_SECRET/);
    // A read with the wrong key fails the same way: no delivery is signed with a wrong secret.
    await expect(changed.endpoints.list()).rejects.toThrow(/another server secret/);
  });
});

describe('webhook secrets through the service process', () => {
  let hooks: WebhookReceiver;
  let dataDir: string;
  beforeAll(async () => {
    hooks = await startWebhookReceiver();
    dataDir = await mkdtemp(join(tmpdir(), 'tocsin-secrets-service-'));
  });
  afterAll(async () => {
    await hooks?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('signs with the decrypted secrets (svix verifies both during a rotation), keeps them off disk, and a changed TOCSIN_SECRET stops the start', async () => {
    const env = {
      TOCSIN_DATA_DIR: dataDir,
      TOCSIN_SECRET: 'the-first-server-secret-0123456789',
      TOCSIN_WEBHOOK_ALLOWLIST: '127.0.0.1',
    };
    const service = await startService(env);
    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${testApiKey}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    try {
      const created = await api('POST', '/v1/webhooks', { url: hooks.url });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      const first = created.body.secret as string;
      expect((await api('POST', `/v1/webhooks/${id}/test`)).body).toMatchObject({ delivered: true });
      await hooks.waitFor(1);
      verifyWithLibraries(first, hooks.requests[0]!);

      const rotated = await api('POST', `/v1/webhooks/${id}/rotate`, { previousSecretValidFor: '1h' });
      expect(rotated.status).toBe(200);
      const second = rotated.body.secret as string;
      expect((await api('POST', `/v1/webhooks/${id}/test`)).body).toMatchObject({ delivered: true });
      await hooks.waitFor(2);
      verifyWithLibraries(first, hooks.requests[1]!);
      verifyWithLibraries(second, hooks.requests[1]!);

      const disk = readdirSync(dataDir)
        .filter((file) => file.startsWith('tocsin.db'))
        .map((file) => readFileSync(join(dataDir, file)).toString('latin1'))
        .join('\n');
      expect(disk.length).toBeGreaterThan(0);
      for (const secret of [first, second]) expectAbsent(disk, secret);
    } finally {
      expect(await service.stop()).toBe(0);
    }

    const restarted = startService({ ...env, TOCSIN_SECRET: 'a-changed-server-secret-0123456789' });
    const failure = await restarted.then(
      () => new Error('the service started on a changed TOCSIN_SECRET'),
      (error: Error) => error,
    );
    expect(failure.message).toContain('Tocsin failed to start: the webhook secrets in the store (e.g. ep_');
    expect(failure.message).toContain('--- exit 2 ---');
    expect(failure.message).not.toMatch(/\n\s+at /);
  });
});
