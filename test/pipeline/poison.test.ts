// 1 % poison (issue 4): messages that are not JSON, are not valid events, or are larger than
// TOCSIN_MAX_BODY are mixed into 5,000 events. Every one of them lands in the DLQ topic once, with
// the right `tocsin-reason` and its origin; every valid event is processed (exact alert set).
import { describe, expect, it } from 'vitest';
import { consumeAll } from '../support/kafka.ts';
import { generateStream, produceStream, topicSize } from './pipeline-harness.ts';
import { cleanupAfterEach, startPipelineRun } from './pipeline-run.ts';

const cleanup = cleanupAfterEach();

describe('poison messages in the stream (real broker, SQLite)', () => {
  it('dead-letters every poison message with its reason and origin, and processes every valid event', async () => {
    // Valid events are under 500 bytes; too-large ones are 3,000 bytes, over the 2 kB limit.
    const messages = generateStream({ seed: 1, poisonRate: 0.01, tooLargeBytes: 3_000 });
    const poison = messages
      .map((message, offset) => ({ ...message, offset }))
      .filter((message) => message.kind !== 'event' && message.kind !== 'redelivery');
    expect(poison.length).toBeGreaterThanOrEqual(50);

    const run = await startPipelineRun(cleanup, {
      messages,
      store: 'sqlite',
      env: { TOCSIN_MAX_BODY: '2kb' },
    });
    const { kafka, topic, dlqTopic, service } = run;

    await produceStream(kafka, topic, messages, { burst: 500, pauseMs: 100 });
    await run.waitForAllConsumed(60_000);

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

    const result = await run.expectStoredExactly();
    console.log(
      `[poison] ${poison.length} of ${messages.length} messages dead-lettered as expected; ` +
        `${result.alerts} alerts, ${result.jobs} delivery jobs, all as expected`,
    );
  }, 120_000);
});
