// Cluster mode end to end (README "Running a cluster"): instances of the real service as child
// processes on one consumer group and one PostgreSQL, a real broker, a real webhook receiver and
// a real WebSocket client; instances are killed with SIGKILL and frozen with SIGSTOP for real.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { generateStream, sleep, storedAlerts, storedJobs } from '../pipeline/pipeline-harness.ts';
import { cleanupAfterEach } from '../pipeline/pipeline-run.ts';
import { testApiKey } from '../support/service-process.ts';
import { openStream } from '../support/stream-client.ts';
import {
  type Cluster,
  expectClusterInvariants,
  expectNoDeadlocks,
  factsOf,
  plainRule,
  sessionTimeoutMs,
  startCluster,
  waitUntil,
} from './cluster-harness.ts';

describe('cluster (real broker, real PostgreSQL, instances as child processes)', () => {
  const cleanup = cleanupAfterEach();

  it('3 instances, 6 partitions, a paced stream: the alerts of tocsin match, every webhook once, one WebSocket client sees every active alert once in cursor order', async () => {
    const messages = generateStream({ seed: 101, events: 400 });
    const cluster = await startCluster(cleanup, { messages, instances: 3, partitions: 6 });
    const wsUrl = cluster.instances[0]!.url.replace(/^http/, 'ws');
    const stream = await openStream(`${wsUrl}/v1/stream`, {
      headers: { authorization: `Bearer ${testApiKey}` },
    });
    cleanup.push(async () => stream.socket.close());

    await cluster.produce({ pauseMs: 40 });
    await cluster.waitForAllConsumed(90_000);

    const alerts = await storedAlerts(cluster.database.store);
    expect(factsOf(alerts)).toEqual(factsOf(cluster.expected));
    await expectClusterInvariants(cluster, messages);

    const jobs = await storedJobs(cluster.database.store);
    await cluster.receiver.waitFor(jobs.length, 60_000);
    const ids = cluster.receiver.requests.map((request) => request.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(jobs.map((job) => job.id)));

    // The stream carries active alerts (suppressed and silenced ones are stored, not streamed).
    const cursors = alerts.filter((alert) => alert.status === 'active').map((alert) => alert.cursor);
    await stream.next((message) => message.cursor === cursors.at(-1), 15_000);
    const received = stream.messages.filter((message) => message.type === 'alert').map((m) => m.cursor);
    expect(received).toEqual(cursors);
    expectNoDeadlocks(cluster);
  }, 240_000);

  it('kill -9 of an instance mid-stream and its restart, and an instance added mid-stream: nothing lost, nothing twice', async () => {
    const messages = generateStream({ seed: 102, events: 500 });
    const cluster = await startCluster(cleanup, { messages, instances: 2, partitions: 6 });
    // The new instance and the restart start while the stream goes on.
    let added: Promise<unknown> = Promise.resolve();
    let restarted: Promise<unknown> = Promise.resolve();
    await cluster.produce({
      pauseMs: 25,
      at: {
        150: async () => {
          added = cluster.addInstance();
        },
        300: async () => {
          await cluster.instances[0]!.kill();
          restarted = sleep(1_000).then(() => cluster.instances[0]!.restart());
        },
      },
    });
    await Promise.all([added, restarted]);
    await cluster.waitForAllConsumed(120_000);
    await expectClusterInvariants(cluster, messages);
    expect(cluster.instances).toHaveLength(3);
    expectNoDeadlocks(cluster);
  }, 240_000);

  it('an instance frozen with SIGSTOP past the session timeout, then resumed, cannot commit: its successor fenced it', async () => {
    const messages = generateStream({ seed: 103, events: 400 });
    const cluster = await startCluster(cleanup, { messages, instances: 2, partitions: 4 });
    const frozen = cluster.instances[0]!;
    await cluster.produce({
      pauseMs: 40,
      at: {
        150: async () => frozen.signal('SIGSTOP'),
        // Past the session timeout the group gives its partitions to the other instance.
        350: async () => {
          await waitUntil(
            'the other instance to own every partition',
            async () => {
              const rows = await partitionRows(cluster);
              return rows.length > 0 && new Set(rows.map((row) => row.owner)).size === 1;
            },
            sessionTimeoutMs * 6,
            cluster.context,
          );
          frozen.signal('SIGCONT');
        },
      },
    });
    await cluster.waitForAllConsumed(120_000);
    await expectClusterInvariants(cluster, messages);
    // Partitions changed hands: they were claimed again (a newer epoch).
    expect(Math.max(...(await partitionRows(cluster)).map((row) => row.epoch))).toBeGreaterThanOrEqual(2);
    const refused = (frozen.output().match(/fenced: another instance owns the partition now/g) ?? []).length;
    console.log(`[cluster sigstop] commits refused by the fence after SIGCONT: ${refused}`);
    expectNoDeadlocks(cluster);
  }, 240_000);
  it('two instances hammering the same groups for a minute: no deadlock, no retry storm, nothing twice', async () => {
    // Every event matches all three fixture rules, from two sources: the same few groups and
    // the same throttle, from every partition, for 60 s.
    const base = Date.parse('2026-03-01T00:00:00Z');
    const messages = Array.from({ length: 3_000 }, (_, i) => {
      const event = {
        id: `hammer-${String(i).padStart(5, '0')}`,
        publishedAt: new Date(base + i * 20_000).toISOString(),
        title: 'sanctions hit two tankers',
        summary: 'New rare-earth export controls were announced today. A cyberattack disrupted port systems.',
        source: { name: i % 2 === 0 ? 'Reuters' : 'Nikkei' },
        category: 'news',
      };
      return { key: event.id, value: JSON.stringify(event), kind: 'event' as const };
    });
    const cluster = await startCluster(cleanup, { messages, instances: 2, partitions: 4 });
    const started = Date.now();
    await cluster.produce({ pauseMs: 15 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45_000);
    await cluster.waitForAllConsumed(180_000);
    const { alerts } = await expectClusterInvariants(cluster, messages);
    expect(alerts.filter((alert) => alert.ruleId === plainRule)).toHaveLength(messages.length);
    expectNoDeadlocks(cluster);
    for (const service of cluster.instances) {
      expect(service.output()).not.toMatch(/TOCSIN_STORE_UNAVAILABLE|could not serialize|eachBatch/);
    }
  }, 300_000);
});

/** owner_partitions of the matches topic: who took each partition last, at which epoch. */
async function partitionRows(
  cluster: Cluster,
): Promise<{ partition: number; epoch: number; owner: string }[]> {
  const client = new pg.Client({ connectionString: cluster.database.env.DATABASE_URL });
  await client.connect();
  try {
    const result = await client.query(
      'select partition, epoch::int as epoch, owner from owner_partitions where topic = $1 order by partition',
      [`${cluster.topic}.matches`],
    );
    return result.rows as { partition: number; epoch: number; owner: string }[];
  } finally {
    await client.end();
  }
}
