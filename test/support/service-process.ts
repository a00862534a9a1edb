// The service as a real child process (`node --import tsx src/server.ts`), for tests that kill it
// with SIGKILL and start it again on the same configuration: what a crash in production is.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { repoRoot } from './test-app.ts';

/** The API key every service process of the tests gets (TOCSIN_API_KEY, at least 16 characters). */
export const testApiKey = 'tocsin-test-key-0123456789abcdef';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export type ServiceProcess = {
  /** `http://127.0.0.1:<port>` (the same port on every start). */
  readonly url: string;
  readonly env: Readonly<Record<string, string>>;
  /** How many times the process was started. */
  readonly starts: number;
  /** True while the current process has not exited. */
  running(): boolean;
  /** Starts the process again with the same environment (after `kill` or `stop`), waits for /healthz. */
  restart(): Promise<void>;
  /** SIGKILL: no shutdown code runs. Resolves once the process has exited. */
  kill(): Promise<void>;
  /** SIGTERM, the graceful shutdown; resolves with the exit code (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Sends `signal` to the current process (SIGSTOP / SIGCONT to freeze and resume it). */
  signal(signal: NodeJS.Signals): void;
  /** stdout and stderr of every start so far, for failure messages. */
  output(): string;
};

/**
 * Starts the service with `env` (added to the test's environment, with PORT set to a free port,
 * LOG_LEVEL=warn and TOCSIN_API_KEY=testApiKey unless given), and waits until /healthz answers 200.
 * A start that fails or times out rejects with the process output.
 */
export async function startService(
  env: Record<string, string>,
  options: { healthTimeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const port = env.PORT ?? String(await freePort());
  const fullEnv: Record<string, string> = {
    LOG_LEVEL: 'warn',
    TOCSIN_API_KEY: testApiKey,
    HOST: '127.0.0.1',
    ...env,
    PORT: port,
  };
  const url = `http://127.0.0.1:${port}`;
  const healthTimeoutMs = options.healthTimeoutMs ?? 30_000;
  let log = '';
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let alive = false;
  let starts = 0;

  const launch = async () => {
    starts += 1;
    log += `--- start ${starts} ---\n`;
    const current = spawn(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', '--import', 'tsx', 'src/server.ts'],
      {
        cwd: repoRoot,
        env: { ...process.env, ...fullEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = current;
    alive = true;
    current.stdout!.on('data', (chunk) => {
      log += chunk;
    });
    current.stderr!.on('data', (chunk) => {
      log += chunk;
    });
    exited = new Promise((resolve) => {
      current.once('exit', (code, signal) => {
        alive = false;
        log += `--- exit ${code ?? signal} ---\n`;
        resolve(code);
      });
    });
    try {
      await waitForHealth(url, healthTimeoutMs, () => alive);
    } catch (error) {
      current.kill('SIGKILL');
      await exited;
      throw new Error(`${(error as Error).message}\n${tail(log)}`);
    }
  };

  const service: ServiceProcess = {
    url,
    env: fullEnv,
    get starts() {
      return starts;
    },
    running: () => alive,
    async restart() {
      if (alive) throw new Error('restart(): the service is still running; kill or stop it first');
      await launch();
    },
    async kill() {
      if (alive) child?.kill('SIGKILL');
      await exited;
    },
    async stop(timeoutMs = 15_000) {
      if (!alive) return exited;
      child?.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    signal(signal) {
      if (alive) child?.kill(signal);
    },
    output: () => log,
  };
  await launch();
  return service;
}

async function waitForHealth(url: string, withinMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error('the service exited before /healthz answered');
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url}/healthz did not answer 200 within ${withinMs} ms`);
}

function tail(text: string, lines = 80): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
