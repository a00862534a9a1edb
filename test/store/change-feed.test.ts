import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../../src/store/postgres-store.ts';
import type { Store } from '../../src/store/store.ts';
import { testServerSecret } from '../support/test-secret.ts';
import {
  assertPostgresReachable,
  type Backend,
  type Harness,
  makeAlert,
  postgresHarness,
  sqliteHarness,
  testDatabaseUrl,
} from './store-harness.ts';

/** Collects what one channel of a store's change feed delivers. */
function heard(store: Store, channel: string) {
  const payloads: (string | undefined)[] = [];
  let read = 0;
  store.changes.on(channel, (payload) => payloads.push(payload));
  return {
    payloads,
    /** The next payload not yet taken (waiting up to `withinMs` for it). */
    async next(withinMs: number): Promise<string | undefined> {
      const deadline = Date.now() + withinMs;
      while (payloads.length <= read) {
        if (Date.now() > deadline) throw new Error(`nothing heard on ${channel} within ${withinMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return payloads[read++];
    },
    /** Takes everything heard so far. */
    skip(): void {
      read = payloads.length;
    },
  };
}

const rule = {
  id: 'fed-rule',
  name: 'Fed rule',
  severity: 'medium' as const,
  enabled: true,
  tags: [],
  query: 'title:fed',
};

describe.each<Harness>([sqliteHarness, postgresHarness])('change feed ($name)', (harness) => {
  let backend: Backend;

  beforeAll(async () => {
    if (harness.name === 'postgres') await assertPostgresReachable();
  });

  afterEach(async () => {
    await backend?.dispose();
  });

  async function twoInstances() {
    backend = await harness.create();
    const other = backend.open();
    await backend.store.changes.start();
    await other.changes.start();
    return { here: backend.store, there: other };
  }

  it('delivers a published change to the other instance and to itself, with its payload', async () => {
    const { here, there } = await twoInstances();
    const onThere = heard(there, 'keys');
    const onHere = heard(here, 'keys');
    await here.changes.publish('keys', 'key_1');
    // NOTIFY on PostgreSQL; the version check (every 1 s) for another SQLite connection.
    const remote = await onThere.next(harness.name === 'postgres' ? 500 : 2_500);
    expect(remote).toBe(harness.name === 'postgres' ? 'key_1' : undefined);
    expect(await onHere.next(500)).toBe('key_1');
  });

  it('announces every rule mutation on "rules" with the rule id', async () => {
    const { here, there } = await twoInstances();
    const onThere = heard(there, 'rules');
    const within = harness.name === 'postgres' ? 500 : 2_500;
    const expected = harness.name === 'postgres' ? 'fed-rule' : undefined;
    await here.rules.upsert(rule);
    expect(await onThere.next(within)).toBe(expected);
    await here.rules.setEnabled('fed-rule', false);
    expect(await onThere.next(within)).toBe(expected);
    await here.rules.delete('fed-rule');
    expect(await onThere.next(within)).toBe(expected);
    // A mutation of a missing rule changes nothing and announces nothing.
    const count = onThere.payloads.length;
    expect(await here.rules.delete('fed-rule')).toBe(false);
    expect(await here.rules.setEnabled('fed-rule', true)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, within));
    expect(onThere.payloads.length).toBe(count);
  });

  it('does not hear a change rolled back', async () => {
    const { here, there } = await twoInstances();
    const onThere = heard(there, 'rules');
    await expect(here.rules.upsert({ ...rule, id: undefined as unknown as string })).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(onThere.payloads).toEqual([]);
  });
});

describe('change feed (postgres only)', () => {
  it('wakes other instances on a pipeline commit that stored alerts, not on one that stored none', async () => {
    const backend = await postgresHarness.create();
    const here = backend.store;
    const there = backend.open();
    await here.changes.start();
    await there.changes.start();
    const onThere = heard(there, 'alerts');
    await here.pipeline.commit({ alerts: [makeAlert()], ledger: [], groupStates: [], jobs: [] });
    expect(await onThere.next(500)).toBeUndefined();
    await here.pipeline.commit({ alerts: [], ledger: [], groupStates: [], jobs: [] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(onThere.payloads.length).toBe(1);
    await backend.dispose();
  });
  it('reconnects, and a change announced while it was down is found by the version check', async () => {
    await assertPostgresReachable();
    const backend = await postgresHarness.create();
    const name = `feed_${randomBytes(4).toString('hex')}`;
    const there = createPostgresStore({
      connectionString: testDatabaseUrl,
      schema: backend.schema!,
      secret: testServerSecret,
      applicationName: name,
    });
    try {
      await backend.store.changes.start();
      await there.changes.start();
      const onThere = heard(there, 'rules');
      await terminate(`${name}-listen`);
      // The NOTIFY of this change reaches no connection of `there`.
      await backend.store.rules.upsert(rule);
      expect(await onThere.next(3_000)).toBeUndefined();
      // Listening again (it reconnects after 1 s): the next change comes by NOTIFY, with its payload.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      onThere.skip();
      await backend.store.rules.setEnabled('fed-rule', false);
      expect(await onThere.next(500)).toBe('fed-rule');
    } finally {
      await there.close();
      await backend.dispose();
    }
  });
});

async function terminate(applicationName: string): Promise<void> {
  const admin = new pg.Client({ connectionString: testDatabaseUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1',
      [applicationName],
    );
    expect(rows.length).toBe(1);
  } finally {
    await admin.end();
  }
}
