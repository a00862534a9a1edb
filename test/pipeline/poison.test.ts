// 1 % poison (issue 4): messages that are not JSON, are not valid events, or are larger than
// TOCSIN_MAX_BODY are mixed into 5,000 events. Every one of them lands in the DLQ topic once, with
// the right `tocsin-reason` and its origin; every valid event is processed (exact alert set).
import { afterEach, describe, expect, it } from 'vitest';
import { consumeAll, kafkaBrokers } from '../support/kafka.ts';
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
  topicSize,
  waitForZeroLag,
} from './pipeline-harness.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
});

describe('poison messages in the stream (real broker, SQLite)', () => {
  it('dead-letters every poison message with its reason and origin, and processes every valid event', async () => {
    // Valid events are under 500 bytes; too-large ones are 3,000 bytes, over the 2 kB limit.
    const messages = generateStream({ seed: 1, poisonRate: 0.01, tooLargeBytes: 3_000 });
    const poison = messages
      .map((message, offset) => ({ ...message, offset }))
      .filter((message) => message.kind !== 'event' && message.kind !== 'redelivery');
    expect(poison.length).toBeGreaterThanOrEqual(50);
    const { alerts: expected } = await expectedAlerts(messages);

    const kafka = kafkaFor(kafkaBrokers());
    const topic = await createTopicOn(kafka);
    const dlqTopic = await createTopicOn(kafka);
    const groupId = `${topic}-group`;
    const database = await createTestDatabase('sqlite');
    cleanup.push(() => database.dispose());
    const subscriptions = await createSubscriptions(database.store);

    const service = await startService({
      KAFKA_BROKERS: kafkaBrokers(),
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: groupId,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_START_FROM: 'earliest',
      TOCSIN_RULES_DIR: pipelineRulesDir,
      TOCSIN_MAX_BODY: '2kb',
      ...database.env,
    });
    cleanup.push(() => service.kill());
    const context = () => `service output:\n${service.output().split('\n').slice(-60).join('\n')}`;

    await produceStream(kafka, topic, messages, { burst: 500, pauseMs: 100 });
    await waitForZeroLag(kafka, groupId, topic, {
      timeoutMs: 60_000,
      expectedEnd: messages.length,
      describe: context,
    });

    const dead = await consumeAll(dlqTopic, poison.length, 30_000);
    expect(await topicSize(kafka, dlqTopic)).toBe(poison.length);
    const deadByOffset = new Map(dead.map((message) => [message.headers['tocsin-origin-offset'], message]));
    expect(deadByOffset.size).toBe(poison.length);
    const mismatches = poison.flatMap((sent) => {
      const got = deadByOffset.get(String(sent.offset));
      const problems: string[] = [];
      if (!got) return [`offset ${sent.offset} (${sent.kind}): not in the DLQ`];
      if (!got.headers['tocsin-reason']?.startsWith(`${sent.kind}: `))
        problems.push(`reason "${got.headers['tocsin-reason']}", expected ${sent.kind}:`);
      if (got.headers['tocsin-origin-topic'] !== topic)
        problems.push(`origin topic ${got.headers['tocsin-origin-topic']}`);
      if (got.headers['tocsin-origin-partition'] !== '0')
        problems.push(`origin partition ${got.headers['tocsin-origin-partition']}`);
      if (got.key !== sent.key) problems.push(`key ${got.key}`);
      if (got.value !== sent.value) problems.push('value changed');
      return problems.map((problem) => `offset ${sent.offset} (${sent.kind}): ${problem}`);
    });
    expect(mismatches).toEqual([]);

    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    for (const reason of ['not_json', 'invalid_event', 'too_large'] as const) {
      const count = poison.filter((message) => message.kind === reason).length;
      expect(count).toBeGreaterThan(0);
      expect(metrics).toContain(`tocsin_dead_letters_total{reason="${reason}"} ${count}`);
    }
    expect(await service.stop()).toBe(0);

    const result = await expectStoredExactly(database.store, expected, subscriptions);
    console.log(
      `[poison] ${poison.length} of ${messages.length} messages dead-lettered as expected; ` +
        `${result.alerts} alerts, ${result.jobs} delivery jobs, all as expected`,
    );
  }, 120_000);
});
