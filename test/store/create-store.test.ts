import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { createStore, sqliteFileName } from '../../src/store/create-store.ts';
import type { Store } from '../../src/store/store.ts';
import { testServerSecret } from '../support/test-secret.ts';
import { assertPostgresReachable, testDatabaseUrl } from './store-harness.ts';

describe('createStore', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });
  const track = (store: Store) => {
    cleanup.push(() => store.close());
    return store;
  };

  it('uses a SQLite file in the data directory when no URL is given', async () => {
    const dataDir = join(await mkdtemp(join(tmpdir(), 'tocsin-data-')), 'nested');
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const store = track(createStore({ dataDir, secret: testServerSecret }));
    await store.migrate();
    expect(store.dialect).toBe('sqlite');
    expect(existsSync(join(dataDir, sqliteFileName))).toBe(true);
  });

  it('takes sqlite::memory: and postgres:// URLs', async () => {
    const memory = track(
      createStore({ databaseUrl: 'sqlite::memory:', dataDir: '/nonexistent', secret: testServerSecret }),
    );
    await memory.migrate();
    expect(memory.dialect).toBe('sqlite');

    await assertPostgresReachable();
    const postgres = track(
      createStore({ databaseUrl: testDatabaseUrl, dataDir: '/nonexistent', secret: testServerSecret }),
    );
    expect(postgres.dialect).toBe('postgres');
    await postgres.ping();
  });

  it('refuses other URLs with a configuration error', () => {
    const error = (() => {
      try {
        createStore({ databaseUrl: 'mysql://localhost/x', dataDir: '.', secret: testServerSecret });
      } catch (e) {
        return e;
      }
    })();
    expect(isAppError(error, 'TOCSIN_INVALID_CONFIG')).toBe(true);
  });

  it('reports an unreachable PostgreSQL as a retryable store error', async () => {
    const store = track(
      createStore({
        databaseUrl: 'postgres://postgres@127.0.0.1:1/test',
        dataDir: '.',
        secret: testServerSecret,
      }),
    );
    const error = await store.ping().catch((e: unknown) => e);
    expect(isAppError(error, 'TOCSIN_STORE_UNAVAILABLE')).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
  });
});
