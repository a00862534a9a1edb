import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One real Kafka broker for the whole run: KAFKA_BROKERS, a Testcontainers broker or a local JVM.
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // kafkajs 2.2.4 arms a timer with a negative delay when nothing is throttled, which Node 24
    // clamps to 1 ms (what kafkajs means) with a TimeoutNegativeWarning each time (Dockerfile).
    execArgv: ['--disable-warning=TimeoutNegativeWarning'],
    // The machines have 2 cores, and the broker's JVM needs some of them.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
