import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import type { Alert } from '../../src/alerts/alert.ts';
import { createPostgresStore } from '../../src/store/postgres-store.ts';
import { createSqliteStore } from '../../src/store/sqlite-store.ts';
import type { AlertInput, Store } from '../../src/store/store.ts';
import { testServerSecret } from '../support/test-secret.ts';

/** The run's PostgreSQL, chosen once by test/global-setup.ts (see test/support/test-postgres.ts). */
export const testDatabaseUrl = inject('postgresUrl');

/** A controllable clock shared by the stores of one test. */
export type Clock = { ms: number; now(): Date; advance(ms: number): void };

export function createClock(start = '2026-03-01T00:00:00.000Z'): Clock {
  const clock: Clock = {
    ms: Date.parse(start),
    now: () => new Date(clock.ms),
    advance: (ms) => {
      clock.ms += ms;
    },
  };
  return clock;
}

/** One fresh database for one test: `store` is migrated; `open()` gives another store (other connections) on it. */
export type Backend = {
  store: Store;
  clock: Clock;
  open(): Store;
  /** PostgreSQL only: the schema, for tests that open their own connections. */
  schema?: string;
  dispose(): Promise<void>;
};

export type Harness = { name: 'sqlite' | 'postgres'; create(): Promise<Backend> };

export const sqliteHarness: Harness = {
  name: 'sqlite',
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'tocsin-store-'));
    const filename = join(dir, 'tocsin.db');
    const clock = createClock();
    const opened: Store[] = [];
    const open = () => {
      const store = createSqliteStore({ filename, secret: testServerSecret, now: clock.now });
      opened.push(store);
      return store;
    };
    const store = open();
    await store.migrate();
    return {
      store,
      clock,
      open,
      async dispose() {
        await Promise.all(opened.map((s) => s.close()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
};

/** Fails loudly, naming the URL, when PostgreSQL cannot be reached: these tests never skip. */
export async function assertPostgresReachable(): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${testDatabaseUrl} (set TEST_DATABASE_URL, or TOCSIN_TEST_PG=embedded): ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

export const postgresHarness: Harness = {
  name: 'postgres',
  async create() {
    const schema = `tocsin_test_${randomBytes(6).toString('hex')}`;
    const clock = createClock();
    const opened: Store[] = [];
    const open = () => {
      const store = createPostgresStore({
        connectionString: testDatabaseUrl,
        schema,
        secret: testServerSecret,
        now: clock.now,
      });
      opened.push(store);
      return store;
    };
    const store = open();
    await store.migrate();
    return {
      store,
      clock,
      open,
      schema,
      async dispose() {
        await Promise.all(opened.map((s) => s.close()));
        await dropSchema(schema);
      },
    };
  },
};

let alertCounter = 0;

/** An alert as the pipeline would store it; ids are unique per call unless given. */
export function makeAlert(overrides: Partial<AlertInput> = {}): AlertInput {
  alertCounter += 1;
  const n = alertCounter;
  const base: Alert = {
    id: `alert-${n}-${randomBytes(4).toString('hex')}`,
    ruleId: 'rare-earth',
    ruleName: 'Rare earth export controls',
    severity: 'high',
    tags: ['trade', 'china'],
    group: null,
    eventIds: [`evt-${n}`],
    eventTime: '2026-02-28T12:00:00.000Z',
    matches: [{ field: 'title', text: 'rare earth', start: 0, end: 10 }],
    event: {
      id: `evt-${n}`,
      title: 'Rare earth exports restricted',
      summary: 'New licensing rules',
      url: 'https://example.com/a',
      publishedAt: '2026-02-28T12:00:00Z',
      source: { name: 'Example Wire' },
    },
    suppressed: false,
  };
  return { ...base, status: 'active', receivedAt: '2026-03-01T00:00:00.000Z', ...overrides };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves to 'pending' when `promise` has not settled within `ms`. */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<'settled' | 'pending'> {
  return Promise.race([promise.then(() => 'settled' as const), sleep(ms).then(() => 'pending' as const)]);
}
