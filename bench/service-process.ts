/**
 * A Tocsin service as a child process for the benchmarks (`node --import tsx src/server.ts`,
 * from the sources), on a free loopback port, with `/metrics` read as the process exposes it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startLocalBroker } from '../scripts/kafka-broker.ts';

export const benchApiKey = 'tocsin-bench-key-0123456789abcdef';
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** The broker of a bench: KAFKA_BROKERS when set, else a local one started (and stopped) here. */
export async function benchBroker(): Promise<{ brokers: string; stop(): Promise<void> }> {
  const given = process.env.KAFKA_BROKERS;
  if (given) return { brokers: given, stop: async () => {} };
  process.stderr.write('starting a local Kafka broker…\n');
  const broker = await startLocalBroker();
  return { brokers: broker.brokers, stop: () => broker.stop() };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

/** The value of one sample of a Prometheus text exposition, e.g. `name{label="x"}`. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

export type ServiceProcess = {
  url: string;
  child: ChildProcess;
  /** `/metrics` once it answers; undefined while it is not listening yet. Throws once the process exited. */
  metrics(): Promise<string | undefined>;
  /** Waits until `/readyz` answers 200. */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
};

/** `nodeArgs`: e.g. `--cpu-prof --cpu-prof-dir <dir>` (a profile is written when it stops). */
export async function startServiceProcess(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<ServiceProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/server.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      TOCSIN_API_KEY: benchApiKey,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const checkAlive = () => {
    if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}):\n${stderr}`);
  };
  return {
    url,
    child,
    async metrics() {
      checkAlive();
      try {
        return await (await fetch(`${url}/metrics`)).text();
      } catch {
        return undefined;
      }
    },
    async ready(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        checkAlive();
        const status = await fetch(`${url}/readyz`).then(
          (response) => response.status,
          () => 0,
        );
        if (status === 200) return;
        if (Date.now() > deadline)
          throw new Error(`the service was not ready within ${timeoutMs} ms:\n${stderr}`);
        await sleep(200);
      }
    },
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}
