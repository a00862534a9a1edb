// PostgreSQL connections killed mid-stream (issue 4): while events flow, every connection of the
// service (and only the service's: they carry a unique application_name) is terminated with
// pg_terminate_backend, again and again. The same process reconnects and loses nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { kafkaBrokers } from '../support/kafka.ts';
import { startService } from '../support/service-process.ts';
import {
  createSubscriptions,
  createTestDatabase,
  createTopicOn,
  expectedAlerts,
  expectStoredExactly,
  generateStream,
  kafkaFor,
  pipelineRulesDir,
  produceStream,
  sleep,
  waitForZeroLag,
  withPostgres,
} from './pipeline-harness.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

describe('PostgreSQL connections terminated while events flow (real broker, real PostgreSQL)', () => {
  it('reconnects, in the same process, and stores every alert exactly once', async () => {
    const messages = generateStream({ seed: 4242 });
    const { alerts: expected } = await expectedAlerts(messages);

    const kafka = kafkaFor(kafkaBrokers());
    const topic = await createTopicOn(kafka);
    const dlqTopic = await createTopicOn(kafka);
    const groupId = `${topic}-group`;
    const database = await createTestDatabase('postgres');
    cleanup.push(() => database.dispose());
    const subscriptions = await createSubscriptions(database.store);
    const applicationName = database.serviceApplicationName!;

    const service = await startService({
      KAFKA_BROKERS: kafkaBrokers(),
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: groupId,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_START_FROM: 'earliest',
      TOCSIN_RULES_DIR: pipelineRulesDir,
      ...database.env,
    });
    cleanup.push(() => service.kill());
    const context = () => `service output:\n${service.output().split('\n').slice(-60).join('\n')}`;

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

    await waitForZeroLag(kafka, groupId, topic, {
      timeoutMs: 60_000,
      expectedEnd: messages.length,
      describe: context,
    });
    expect(service.running()).toBe(true);
    expect(service.starts).toBe(1);
    expect(terminated).toBeGreaterThanOrEqual(rounds / 2);
    expect(await service.stop()).toBe(0);

    const result = await expectStoredExactly(database.store, expected, subscriptions);
    console.log(
      `[pg_terminate_backend] ${terminated} connections terminated in ${rounds + 1} rounds; ` +
        `${result.alerts} alerts, ${result.jobs} delivery jobs, all as expected`,
    );
  }, 120_000);
});
