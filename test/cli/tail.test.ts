import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceProcess, startService, testApiKey } from '../support/service-process.ts';
import { jsonLines, repoRoot, runTocsin } from './run-tocsin.ts';

// `tocsin tail` against the real service (a child process) over a real WebSocket: the sample
// feed of the README, posted in two halves with a SIGKILL and a restart of the service between
// them. What tail prints must be exactly the alerts `tocsin match` computes for the feed, once
// each, in order.

const bin = join(repoRoot, 'bin/tocsin.js');
const feed = join(repoRoot, 'examples/events.jsonl');

type MatchedAlert = { id: string; ruleId: string; eventIds: string[]; severity: string; eventTime: string };

type TailProcess = {
  stdout(): string;
  stderr(): string;
  /** Resolves once `predicate` holds for the output so far (polled; the process writes in chunks). */
  waitFor(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code once the process has exited by itself. */
  exit(): Promise<number | null>;
  /** SIGINT, as Ctrl-C; resolves with the exit code. */
  interrupt(): Promise<number | null>;
};

function startTail(args: string[], env: Record<string, string>): TailProcess {
  const child: ChildProcess = spawn(process.execPath, [bin, 'tail', ...args], {
    cwd: repoRoot,
    env: { ...withoutClientSettings(process.env), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    async waitFor(what, predicate, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (child.exitCode !== null)
          throw new Error(`tail exited (${child.exitCode}) before ${what}:\n${stderr}`);
        if (Date.now() > deadline)
          throw new Error(`no ${what} within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    exit: () => exited,
    async interrupt() {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

async function post(service: ServiceProcess, lines: string[]): Promise<void> {
  const response = await fetch(`${service.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${testApiKey}`, 'content-type': 'application/x-ndjson' },
    body: `${lines.join('\n')}\n`,
  });
  expect(response.status).toBe(202);
}

describe('tocsin tail', () => {
  let dataDir: string;
  let service: ServiceProcess;
  let expected: MatchedAlert[];
  let feedLines: string[];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tocsin-tail-'));
    feedLines = (await readFile(feed, 'utf8')).split('\n').filter((line) => line.trim() !== '');
    const [match, started] = await Promise.all([
      runTocsin(['match', '--rules', 'rules', '--events', 'examples/events.jsonl']),
      startService(
        {
          TOCSIN_DATA_DIR: dataDir,
          TOCSIN_RULES_DIR: join(repoRoot, 'rules'),
          KAFKA_BROKERS: '',
          DATABASE_URL: '',
        },
        // Two cores shared by many test processes: a tsx start can take a while.
        { healthTimeoutMs: 90_000 },
      ),
    ]);
    expect(match.code).toBe(0);
    expected = jsonLines(match.stdout) as MatchedAlert[];
    service = started;
  }, 120_000);

  afterAll(async () => {
    await service?.kill();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints the feed’s alerts once each, in order, across a kill and restart of the service', async () => {
    const port = new URL(service.url).port;
    // One tail configured by the environment (as the README's quickstart does), one by flags.
    const json = startTail(['--json'], { PORT: port, TOCSIN_API_KEY: testApiKey });
    const plain = startTail(['--url', service.url, '--key', testApiKey, '--color', 'never'], {});
    const tails = [json, plain];
    try {
      for (const tail of tails)
        await tail.waitFor('connection', () => tail.stderr().includes('connected to'));

      const alertsOf = () => jsonLines(json.stdout()) as { cursor: string; alert: MatchedAlert }[];
      const half = Math.floor(feedLines.length / 2);
      const firstHalfIds = new Set(feedLines.slice(0, half).map((line) => JSON.parse(line).id as string));
      const beforeKill = expected.filter((alert) => alert.eventIds.every((id) => firstHalfIds.has(id)));
      expect(beforeKill.length).toBeGreaterThan(0);
      expect(beforeKill.length).toBeLessThan(expected.length);

      await post(service, feedLines.slice(0, half));
      await json.waitFor(`${beforeKill.length} alerts`, () => alertsOf().length >= beforeKill.length);
      const lastCursor = alertsOf().at(-1)!.cursor;

      // SIGKILL: no goodbye frame, the client sees the connection drop.
      await service.kill();
      await service.restart();
      await post(service, feedLines.slice(half));
      await json.waitFor(`${expected.length} alerts`, () => alertsOf().length >= expected.length);
      await plain.waitFor(
        `${expected.length} alerts`,
        () => alertLinesOf(plain.stdout()).length >= expected.length,
      );

      // Nothing missed, nothing twice: exactly the alerts of the offline evaluation, in order.
      expect(alertsOf().map((message) => message.alert.id)).toEqual(expected.map((alert) => alert.id));
      expect(json.stderr()).toContain(`resuming after ${lastCursor}`);

      const lines = alertLinesOf(plain.stdout());
      expect(lines.map((line) => line.split(/\s+/).slice(0, 3).join(' '))).toEqual(
        // The service stores event times normalised to ISO with milliseconds; `tocsin match` prints them as given.
        expected.map(
          (alert) =>
            `${new Date(alert.eventTime).toISOString()} ${alert.severity.toUpperCase()} ${alert.ruleId}`,
        ),
      );
      // The matched words are marked in the title, and the other matched fields listed.
      expect(plain.stdout()).toContain(
        'rare-earth-export-controls  China tightens **export licensing** for heavy **rare earths** and magnet alloys (Reuters)\n' +
          '    also matched commodities[1]: **dysprosium**',
      );
      expect(plain.stdout()).toContain('semiconductor-export-pressure [ASML]  ');
    } finally {
      for (const tail of tails) expect(await tail.interrupt()).toBe(0);
    }
  }, 180_000);

  it('exits 1 and says so when the service refuses the key', async () => {
    const tail = startTail(['--url', service.url, '--key', 'not-a-key-of-this-service'], {});
    expect(await tail.exit()).toBe(1);
    expect(tail.stderr()).toContain('tocsin tail: the service refused the API key (HTTP 401)');
    expect(tail.stdout()).toBe('');
  }, 60_000);

  it.each([
    [
      ['--min-severity', 'urgent', '--key', testApiKey],
      '--min-severity must be one of info, low, medium, high, critical',
    ],
    [['--url', 'ftp://example.com', '--key', testApiKey], '--url must be an http(s) URL'],
    [[], 'an API key is needed: --key <api key> or TOCSIN_API_KEY'],
  ])('%j is a usage error', async (args, message) => {
    const run = await runTocsin(['tail', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

/** The first line of each alert in the plain output (the "also matched" lines are indented). */
function alertLinesOf(text: string): string[] {
  return text.split('\n').filter((line) => /^\d{4}-\d\d-\d\dT/.test(line));
}

/** The test's own environment, less what would configure tail behind the test's back. */
function withoutClientSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { PORT: _port, TOCSIN_API_KEY: _key, ...rest } = env;
  return rest;
}
