// Broker restart during consumption (issue 4): a private broker of this test (not the run's shared
// one) is stopped while the service consumes from it, and started again on the same ports and
// data; the same service process resumes and nothing is lost nor stored twice.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LocalBroker, startLocalBroker } from '../../scripts/kafka-broker.ts';
import { freePort } from '../support/service-process.ts';
import { alertCounter, generateStream, produceStream, sleep, topicSize } from './pipeline-harness.ts';
import { cleanupAfterEach, startPipelineRun } from './pipeline-run.ts';

const cleanup = cleanupAfterEach();

describe('Kafka broker restarted mid-consumption (private broker)', () => {
  it('resumes consuming after the broker comes back, losing nothing', async () => {
    const messages = generateStream({ seed: 77 });

    // One broker, twice: the same data folder and ports, so the restarted one is the same broker.
    const dir = await mkdtemp(join(tmpdir(), 'tocsin-pipeline-broker-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const brokerOptions = { dir, port: await freePort(), controllerPort: await freePort(), heapMb: 384 };
    let broker: LocalBroker = await startLocalBroker(brokerOptions);
    cleanup.push(() => broker.stop());

    const run = await startPipelineRun(cleanup, {
      messages,
      store: 'postgres',
      brokers: broker.brokers,
      describe: () => `broker log: ${broker.logFile}`,
    });
    const { expected, kafka, topic, database, service } = run;

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

    await run.waitForAllConsumed(90_000);
    expect(service.running()).toBe(true);
    expect(service.starts).toBe(1);
    expect(await service.stop()).toBe(0);

    const result = await run.expectStoredExactly();
    console.log(
      `[broker restart] stopped after ${firstPart} messages with ${beforeStop} alerts stored ` +
        `(${storedWhileDown} after 3 s down); ${result.alerts} alerts, ${result.jobs} delivery jobs, all as expected`,
    );
  }, 180_000);
});
