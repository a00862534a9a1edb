import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OwnerGroupState } from '../../src/alerts/owner-step.ts';
import type { CommitBatch, Store } from '../../src/store/store.ts';
import { OwnerFencedError } from '../../src/store/store-errors.ts';
import {
  assertPostgresReachable,
  type Backend,
  type Harness,
  makeAlert,
  postgresHarness,
  sqliteHarness,
} from './store-harness.ts';

const topic = 'intel.events.matches';

const groupState = (ids: string[]): OwnerGroupState => ({
  version: 'v1',
  events: ids.map((id, i) => ({ id, time: i, publishedAt: new Date(i).toISOString() })),
  seen: Object.fromEntries(ids.map((id, i) => [id, i])),
  newest: ids.length - 1,
  horizonMs: 60_000,
  pruneAt: 16,
});

const batchOf = (owner: CommitBatch['owner'], alerts = [makeAlert()]): CommitBatch => ({
  alerts,
  ledger: [],
  groupStates: [],
  jobs: [],
  owner,
});

describe.each([sqliteHarness, postgresHarness])('$name owner state', (harness: Harness) => {
  let backend: Backend;
  let store: Store;

  beforeAll(async () => {
    if (harness.name === 'postgres') await assertPostgresReachable();
  });
  beforeEach(async () => {
    backend = await harness.create();
    store = backend.store;
  });
  afterEach(async () => {
    await backend?.dispose();
  });

  it('claims a partition with a new epoch each time, starting at 1 with no offset', async () => {
    expect(await store.pipeline.claimPartition(topic, 3, 'a')).toEqual({
      epoch: 1,
      nextOffset: -1,
      sourceMarks: {},
    });
    expect(await store.pipeline.claimPartition(topic, 3, 'b')).toEqual({
      epoch: 2,
      nextOffset: -1,
      sourceMarks: {},
    });
    expect(await store.pipeline.claimPartition(topic, 4, 'b')).toEqual({
      epoch: 1,
      nextOffset: -1,
      sourceMarks: {},
    });
  });

  it('writes groups and the next offset with the alerts; the next owner resumes from them', async () => {
    const { epoch } = await store.pipeline.claimPartition(topic, 0, 'a');
    await store.pipeline.commit(
      batchOf({
        topic,
        partition: 0,
        epoch,
        nextOffset: 42,
        groups: [
          { tenantId: 'default', ruleId: 'r', group: '"acme"', state: groupState(['e1', 'e2']) },
          { tenantId: 'default', ruleId: 'r', group: '"zeta"', state: groupState(['e3']) },
        ],
      }),
    );
    await store.pipeline.commit(
      batchOf({
        topic,
        partition: 0,
        epoch,
        nextOffset: 43,
        sourceMarks: { 'intel.events/0': [7, 1] },
        groups: [{ tenantId: 'default', ruleId: 'r', group: '"zeta"', state: null }],
      }),
    );
    expect(await store.pipeline.claimPartition(topic, 0, 'b')).toEqual({
      epoch: epoch + 1,
      nextOffset: 43,
      sourceMarks: { 'intel.events/0': [7, 1] },
    });
    expect(await store.pipeline.loadOwnerGroups(topic, 0)).toEqual([
      { tenantId: 'default', ruleId: 'r', group: '"acme"', state: groupState(['e1', 'e2']) },
    ]);
    expect(await store.pipeline.loadOwnerGroups(topic, 1)).toEqual([]);
  });

  it('refuses the commit of an owner whose epoch is no longer current, and writes nothing of it', async () => {
    const stale = await store.pipeline.claimPartition(topic, 0, 'a');
    const current = await store.pipeline.claimPartition(topic, 0, 'b');
    const alert = makeAlert();
    const refused = store.pipeline.commit(
      batchOf(
        {
          topic,
          partition: 0,
          epoch: stale.epoch,
          nextOffset: 10,
          groups: [{ tenantId: 'default', ruleId: 'r', group: '', state: groupState(['e1']) }],
        },
        [alert],
      ),
    );
    await expect(refused).rejects.toBeInstanceOf(OwnerFencedError);
    expect(await store.alerts.get(alert.id)).toBeUndefined();
    expect(await store.pipeline.loadOwnerGroups(topic, 0)).toEqual([]);
    expect(await store.pipeline.claimPartition(topic, 0, 'c')).toEqual({
      epoch: current.epoch + 1,
      nextOffset: -1,
      sourceMarks: {},
    });
  });

  it('drops the jobs and digest entries of an alert already stored: the first routing decided', async () => {
    const subscriber = await store.subscribers.create({ name: 'Desk', timeZone: 'UTC' });
    const endpoint = await store.endpoints.create({ url: 'https://desk.example/hook' });
    const subscription = await store.subscriptions.create({
      subscriberId: subscriber.id,
      channel: 'webhook',
      endpointId: endpoint.id,
    });
    const alert = makeAlert({ status: 'suppressed', suppressed: true });
    const first = await store.pipeline.commit({ alerts: [alert], ledger: [], groupStates: [], jobs: [] });
    expect(first.alerts).toHaveLength(1);
    // A replay routes the same alert as active now: it must not get a job.
    const replay = await store.pipeline.commit({
      alerts: [{ ...alert, status: 'active', suppressed: false }],
      ledger: [],
      groupStates: [],
      jobs: [
        { alertId: alert.id, subscriptionId: subscription.id, channel: 'webhook', endpointId: endpoint.id },
      ],
    });
    expect(replay).toEqual({ alerts: [], jobsCreated: 0 });
    expect((await store.alerts.get(alert.id))?.deliveries).toEqual([]);
  });
});
