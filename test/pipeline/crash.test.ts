// Crash test (issue 4): 5,000 events flow through the service, which is killed with SIGKILL at a
// seeded point of its work and started again; once its consumer group has caught up, the stored
// alerts are exactly the expected ones (none missing, none twice) and so are the delivery jobs.
import { describe, expect, it } from 'vitest';
import {
  alertCounter,
  committedOffset,
  generateStream,
  produceStream,
  seededRandom,
  sleep,
  topicSize,
} from './pipeline-harness.ts';
import { cleanupAfterEach, startPipelineRun } from './pipeline-run.ts';

const cleanup = cleanupAfterEach();

describe('crash: kill -9 mid-stream, restart, nothing lost, nothing twice (real broker)', () => {
  it.each([
    { point: 0.15, store: 'postgres', seed: 15 },
    { point: 0.5, store: 'sqlite', seed: 50 },
    { point: 0.85, store: 'postgres', seed: 85 },
  ] as const)(
    'killed after ~$point of the alerts are stored ($store, seed $seed)',
    async ({ point, store, seed }) => {
      const messages = generateStream({ seed });
      const random = seededRandom(seed * 7919);
      const run = await startPipelineRun(cleanup, { messages, store });
      const { expected, kafka, topic, groupId, database, service, context } = run;

      // The feed comes in bursts while the service consumes it, and keeps going while the service
      // is dead, so the restarted service finds a backlog as well as half-finished work. A burst
      // is fetched as one batch of several chunks: each chunk is stored in its own transaction,
      // and the batch's offset is committed after the last one, so a kill between the two
      // leaves stored alerts that the restarted service replays (and must not store twice).
      const feed = produceStream(kafka, topic, messages, { burst: 1_000, pauseMs: 600 });
      const counter = alertCounter(database.store);
      const target = Math.ceil(point * expected.length);
      const deadline = Date.now() + 45_000;
      for (let stored = await counter.poll(); stored < target; stored = await counter.poll()) {
        if (Date.now() > deadline)
          throw new Error(`only ${stored} of ${target} alerts stored in 45 s\n${context()}`);
        if (!service.running()) throw new Error(`the service exited\n${context()}`);
        await sleep(20);
      }
      // A seeded moment just after the target: in the middle of some chunk, commit or fetch.
      await sleep(Math.floor(random() * 15));
      await service.kill();
      const atKill = await counter.poll();
      const committedAtKill = await committedOffset(kafka, groupId, topic);
      // Alerts stored past what the committed offset covers: work the restart replays (dedup's job).
      const replayed = atKill - run.alertsBefore(committedAtKill);

      await feed;
      expect(await topicSize(kafka, topic)).toBe(messages.length);
      expect(atKill).toBeLessThan(expected.length);

      await service.restart();
      // The dead member holds its partition until its session times out (30 s in kafkajs).
      await run.waitForAllConsumed(75_000);
      expect(await service.stop()).toBe(0);

      const result = await run.expectStoredExactly();
      expect(result.alerts).toBe(expected.length);
      console.log(
        `[crash ${point} ${store}] ${messages.length} messages, ${expected.length} alerts ` +
          `(${atKill} stored at the kill, offset ${committedAtKill} committed, ${replayed} stored ` +
          `alerts past it), ${result.jobs} delivery jobs`,
      );
    },
    150_000,
  );
});
