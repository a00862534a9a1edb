import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from './support/test-app.ts';

type Run = { child: ChildProcess; stdout: () => string; stderr: () => string; exit: Promise<number | null> };

function run(command: string, args: string[], env: Record<string, string>): Run {
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForHealth(url: string, withinMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < withinMs) {
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`/healthz did not answer 200 within ${withinMs} ms`);
}

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tocsin-server-'));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the service process', () => {
  it('starts with `npm start` in an empty directory, answers /healthz, and exits 0 on SIGTERM', async () => {
    const dir = tempDir();
    cpSync(join(repoRoot, 'rules'), join(dir, 'rules'), { recursive: true });
    const port = await freePort();
    const service = run('npm', ['start', '--silent'], {
      PORT: String(port),
      TOCSIN_DATA_DIR: join(dir, 'data'),
      TOCSIN_RULES_DIR: join(dir, 'rules'),
    });
    try {
      // Generous: this checks that it starts, not how fast (npm, tsx and two match workers on a busy machine).
      await waitForHealth(`http://127.0.0.1:${port}`, 30_000);
    } catch (error) {
      service.child.kill('SIGKILL');
      throw new Error(
        `${(error as Error).message}\nstdout: ${service.stdout()}\nstderr: ${service.stderr()}`,
      );
    }
    service.child.kill('SIGTERM');
    expect(await service.exit).toBe(0);
  }, 30_000);

  it.each([
    [{ PORT: 'abc' }, /PORT: expected a port number/],
    [{ KAFKA_BROKERS: ':::' }, /KAFKA_BROKERS: expected a comma-separated list of host:port/],
    [{ KAFKA_START_FROM: 'yesterday' }, /KAFKA_START_FROM: /],
    [{ TOCSIN_MAX_BODY: 'huge' }, /TOCSIN_MAX_BODY: expected a size/],
  ])(
    'refuses invalid configuration %j, naming the variable, before listening',
    async (env, message) => {
      const service = run(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
        TOCSIN_DATA_DIR: join(tempDir(), 'data'),
        ...env,
      });
      expect(await service.exit).not.toBe(0);
      expect(service.stderr()).toMatch(message);
      expect(service.stdout()).not.toMatch(/Tocsin started/);
    },
    20_000,
  );

  it('lists every bad variable, one per line', async () => {
    const service = run(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      PORT: 'abc',
      KAFKA_BROKERS: ':::',
    });
    expect(await service.exit).not.toBe(0);
    expect(service.stderr()).toMatch(/^ {2}PORT: .*\n {2}KAFKA_BROKERS: /m);
  }, 20_000);

  it('stops on an invalid rule file, naming the file', async () => {
    const dir = tempDir();
    const rules = join(dir, 'rules');
    cpSync(join(repoRoot, 'rules'), rules, { recursive: true });
    writeFileSync(join(rules, 'zz-broken.yaml'), 'id: broken-rule\nname: Broken\nquery: "rare earth\n');
    const service = run(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      PORT: '0',
      TOCSIN_DATA_DIR: join(dir, 'data'),
      TOCSIN_RULES_DIR: rules,
    });
    expect(await service.exit).not.toBe(0);
    expect(service.stderr()).toMatch(/zz-broken\.yaml/);
  }, 20_000);

  it('stops on a YAML alias bomb with one line per problem and exit 2, no stack trace', async () => {
    const dir = tempDir();
    const rules = join(dir, 'rules');
    cpSync(join(repoRoot, 'test/fixtures/cli/alias-bomb'), rules, { recursive: true });
    const service = run(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      PORT: '0',
      TOCSIN_DATA_DIR: join(dir, 'data'),
      TOCSIN_RULES_DIR: rules,
    });
    expect(await service.exit).toBe(2);
    expect(service.stderr()).toBe(
      `Invalid rules in ${rules}:\n  ${join(rules, 'bomb.yaml')}:2:1: cannot read the YAML: Excessive alias count indicates a resource exhaustion attack\n`,
    );
  }, 20_000);
});
