// The PostgreSQL chosen for the test run: TEST_DATABASE_URL, else 127.0.0.1:5432 when it answers,
// else an embedded server that serves queries, stops without a trace, and does not outlive a parent
// that is killed without calling stop().
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startTestPostgres } from './test-postgres.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** Nothing listens on port 1: the "no local server" case on any machine. */
const NOWHERE = 'postgres://postgres@127.0.0.1:1/test';

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return check();
}

describe('test PostgreSQL', () => {
  it('takes TEST_DATABASE_URL as given and prints it without its password', async () => {
    const url = 'postgres://ci:s3cret@db.example:6543/tocsin';
    const chosen = await startTestPostgres({ env: { TEST_DATABASE_URL: url }, localUrl: NOWHERE });
    expect(chosen.url).toBe(url);
    expect(chosen.describe).toBe('TEST_DATABASE_URL (postgres://ci:***@db.example:6543/tocsin)');
    expect(chosen.dataDir).toBeUndefined();
  });

  it('rejects a TOCSIN_TEST_PG value it does not know', async () => {
    await expect(startTestPostgres({ env: { TOCSIN_TEST_PG: 'local' } })).rejects.toThrow(
      'TOCSIN_TEST_PG must be "embedded" or unset, got "local"',
    );
  });

  it('starts an embedded server when no local one answers, and removes it on stop', async () => {
    const chosen = await startTestPostgres({ env: {}, localUrl: NOWHERE });
    try {
      expect(chosen.describe).toMatch(
        /^an embedded PostgreSQL on port \d+ \(postgres:\/\/postgres@127\.0\.0\.1:1\/test: .+\)$/,
      );
      const client = new pg.Client({ connectionString: chosen.url });
      await client.connect();
      try {
        const { rows } = await client.query('select current_database() as db, current_setting($1) as v', [
          'server_version_num',
        ]);
        expect(rows[0].db).toBe('test');
        expect(Number(rows[0].v)).toBeGreaterThanOrEqual(170000);
        await client.query(
          'create schema probe; create table probe.t (x int); insert into probe.t values (1)',
        );
      } finally {
        await client.end();
      }
    } finally {
      await chosen.stop();
    }
    expect(existsSync(chosen.dataDir!)).toBe(false);
    expect(await answers(chosen.url)).toBe(false);
  });

  it('TOCSIN_TEST_PG=embedded starts one even when TEST_DATABASE_URL is set; a killed parent takes it down', async () => {
    const script = `
      import { startTestPostgres } from './test/support/test-postgres.ts';
      const chosen = await startTestPostgres({
        env: { TOCSIN_TEST_PG: 'embedded', TEST_DATABASE_URL: ${JSON.stringify(NOWHERE)} },
      });
      console.log(JSON.stringify(chosen));
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
    const started = await new Promise<{ url: string; describe: string; dataDir: string }>(
      (resolve, reject) => {
        parent.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString())));
        parent.once('exit', (code) =>
          reject(new Error(`the parent exited (${code}) before PostgreSQL started`)),
        );
      },
    );
    expect(started.describe).toMatch(/^an embedded PostgreSQL on port \d+ \(TOCSIN_TEST_PG=embedded\)$/);
    expect(await answers(started.url)).toBe(true);

    parent.kill('SIGKILL');

    expect(await eventually(async () => !(await answers(started.url)), 30_000)).toBe(true);
    expect(await eventually(async () => !existsSync(started.dataDir), 15_000)).toBe(true);
  });
});
