// PostgreSQL connections killed mid-stream (issue 4): while events flow, every connection of the
// service (and only the service's: they carry a unique application_name) is terminated with
// pg_terminate_backend, again and again. The same process reconnects and loses nothing.
import { describe, expect, it } from 'vitest';
import { generateStream, produceStream, sleep, withPostgres } from './pipeline-harness.ts';
import { cleanupAfterEach, startPipelineRun } from './pipeline-run.ts';

const cleanup = cleanupAfterEach();

describe('PostgreSQL connections terminated while events flow (real broker, real PostgreSQL)', () => {
  it('reconnects, in the same process, and stores every alert exactly once', async () => {
    const messages = generateStream({ seed: 4242 });
    const run = await startPipelineRun(cleanup, { messages, store: 'postgres' });
    const { kafka, topic, service } = run;
    const applicationName = run.database.serviceApplicationName!;

    // The service's connections are the only ones with its application_name, in this database.
    const terminate = () =>
      withPostgres(async (client) => {
        const { rows } = await client.query<{ terminated: boolean }>(
          `select pg_terminate_backend(pid) as terminated from pg_stat_activity
            where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()`,
          [applicationName],
        );
        return rows.filter((row) => row.terminated).length;
      });

    let feeding = true;
    const feed = produceStream(kafka, topic, messages, { burst: 200, pauseMs: 150 }).finally(() => {
      feeding = false;
    });
    let rounds = 0;
    let terminated = 0;
    await sleep(300);
    while (feeding) {
      terminated += await terminate();
      rounds += 1;
      await sleep(250 + (rounds % 3) * 100);
    }
    await feed;
    // Once more at the end, then let it catch up.
    terminated += await terminate();

    await run.waitForAllConsumed(60_000);
    expect(service.running()).toBe(true);
    expect(service.starts).toBe(1);
    expect(terminated).toBeGreaterThanOrEqual(rounds / 2);
    expect(await service.stop()).toBe(0);

    const result = await run.expectStoredExactly();
    console.log(
      `[pg_terminate_backend] ${terminated} connections terminated in ${rounds + 1} rounds; ` +
        `${result.alerts} alerts, ${result.jobs} delivery jobs, all as expected`,
    );
  }, 120_000);
});
