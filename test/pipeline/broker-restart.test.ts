// Broker restart during consumption (issue 4): a private broker of this test (not the run's shared
// one) is stopped while the service consumes from it, and started again on the same ports and
// data; the same service process resumes and nothing is lost nor stored twice.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalBroker, startLocalBroker } from '../../scripts/kafka-broker.ts';
import { freePort, startService } from '../support/service-process.ts';
import {
  alertCounter,
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
  topicSize,
  waitForZeroLag,
} from './pipeline-harness.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

describe('Kafka broker restarted mid-consumption (private broker)', () => {
  it('resumes consuming after the broker comes back, losing nothing', async () => {
    const messages = generateStream({ seed: 77 });
    const { alerts: expected } = await expectedAlerts(messages);

    // One broker, twice: the same data folder and ports, so the restarted one is the same broker.
    const dir = await mkdtemp(join(tmpdir(), 'tocsin-pipeline-broker-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const brokerOptions = { dir, port: await freePort(), controllerPort: await freePort(), heapMb: 384 };
    let broker: LocalBroker = await startLocalBroker(brokerOptions);
    cleanup.push(() => broker.stop());

    const kafka = kafkaFor(broker.brokers);
    const topic = await createTopicOn(kafka);
    const dlqTopic = await createTopicOn(kafka);
    const groupId = `${topic}-group`;
    const database = await createTestDatabase('postgres');
    cleanup.push(() => database.dispose());
    const subscriptions = await createSubscriptions(database.store);

    const service = await startService({
      KAFKA_BROKERS: broker.brokers,
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: groupId,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_START_FROM: 'earliest',
      TOCSIN_RULES_DIR: pipelineRulesDir,
      ...database.env,
    });
    cleanup.push(() => service.kill());
    const context = () =>
      `service output:\n${service.output().split('\n').slice(-60).join('\n')}\nbroker log: ${broker.logFile}`;

    // Feed at a live pace until the service has stored a quarter of the alerts, then pull the
    // broker from under it while it still has messages to consume.
    const counter = alertCounter(database.store);
    const target = Math.ceil(0.25 * expected.length);
    const firstPart = await produceStream(kafka, topic, messages, {
      burst: 200,
      pauseMs: 150,
      stopWhen: async () => (await counter.poll()) >= target,
    });
    const beforeStop = await counter.poll();
    await broker.stop();
    // The service keeps working on what it had fetched, then retries against no broker.
    await sleep(3_000);
    const storedWhileDown = await counter.poll();

    broker = await startLocalBroker(brokerOptions);
    expect(await topicSize(kafka, topic)).toBe(firstPart);
    await produceStream(kafka, topic, messages.slice(firstPart), { burst: 500 });

    await waitForZeroLag(kafka, groupId, topic, {
      timeoutMs: 90_000,
      expectedEnd: messages.length,
      describe: context,
    });
    expect(service.running()).toBe(true);
    expect(service.starts).toBe(1);
    expect(await service.stop()).toBe(0);

    const result = await expectStoredExactly(database.store, expected, subscriptions);
    console.log(
      `[broker restart] stopped after ${firstPart} messages with ${beforeStop} alerts stored ` +
        `(${storedWhileDown} after 3 s down); ${result.alerts} alerts, ${result.jobs} delivery jobs, all as expected`,
    );
  }, 180_000);
});
