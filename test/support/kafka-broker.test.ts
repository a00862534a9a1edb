// The local broker behind `npm run kafka` and the test run: it starts, serves, stops without a
// trace, and does not outlive a parent that is killed without calling stop().
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { startLocalBroker } from '../../scripts/kafka-broker.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function isListening(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = connect(Number(port), host!);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return check();
}

// Java and Maven are required, never skipped: without them `npm test` has no broker either.
describe('local Kafka broker (needs Java and Maven)', () => {
  it('serves produce and fetch, then stops and removes its folder', async () => {
    const broker = await startLocalBroker();
    const folder = dirname(broker.logFile);
    try {
      const kafka = new kafkajs.Kafka({ brokers: [broker.brokers], logLevel: kafkajs.logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'probe', numPartitions: 1 }], waitForLeaders: true });
      const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
      await producer.connect();
      await producer.send({ topic: 'probe', messages: [{ value: 'x'.repeat(10 * 1024 * 1024) }] });
      await producer.disconnect();
      const [offsets] = await admin.fetchTopicOffsets('probe');
      expect(offsets!.high).toBe('1');
      await admin.disconnect();
    } finally {
      await broker.stop();
    }
    expect(existsSync(folder)).toBe(false);
    expect(await isListening(broker.brokers)).toBe(false);
  });

  it('stops the JVM when its parent process is killed', async () => {
    const script = `
      import { startLocalBroker } from './scripts/kafka-broker.ts';
      const broker = await startLocalBroker();
      console.log(JSON.stringify(broker));
      setInterval(() => {}, 1000);
    `;
    const parent: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const started = await new Promise<{ brokers: string; logFile: string }>((resolve, reject) => {
      parent.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString())));
      parent.once('exit', (code) =>
        reject(new Error(`the parent exited (${code}) before the broker started`)),
      );
    });
    expect(await isListening(started.brokers)).toBe(true);

    parent.kill('SIGKILL');

    expect(await eventually(async () => !(await isListening(started.brokers)), 30_000)).toBe(true);
    expect(await eventually(async () => !existsSync(dirname(started.logFile)), 10_000)).toBe(true);
  });
});
