import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createTopic, kafkaBrokers, produce } from '../support/kafka.ts';
import { repoRoot, seedEventPath, testApiKey } from '../support/test-app.ts';

/** Debian's Chromium, as CI installs it (.ci/run), with the flags the issue names. */
const chromiumPath = '/usr/bin/chromium';
const chromiumFlags = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const outputDir = join(repoRoot, 'test-results');

const seedText = readFileSync(seedEventPath, 'utf8');
const seed = JSON.parse(seedText) as Record<string, unknown> & { id: string; title: string };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('the live page in Chromium (real broker, real service, real browser)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-page-'));
  const userDataDir = mkdtempSync(join(tmpdir(), 'tocsin-chromium-'));
  let env: Record<string, string>;
  let app: App | undefined;
  let context: BrowserContext | undefined;
  let baseUrl: string;

  /** The service as `npm start` runs it; the same port and data directory on every start. */
  async function startService(): Promise<App> {
    const started = await buildApp(loadConfig(env), {
      logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    });
    await started.start();
    return started;
  }

  beforeAll(async () => {
    const topic = await createTopic();
    const port = await freePort();
    env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      TOCSIN_DATA_DIR: dataDir,
      TOCSIN_RULES_DIR: join(repoRoot, 'rules'),
      TOCSIN_API_KEY: testApiKey,
      TOCSIN_HEARTBEAT_MS: '2000',
      KAFKA_BROKERS: kafkaBrokers(),
      KAFKA_TOPIC: topic,
      KAFKA_GROUP_ID: `${topic}-group`,
      KAFKA_START_FROM: 'earliest',
      LOG_LEVEL: 'warn',
    };
    baseUrl = `http://127.0.0.1:${port}`;
    app = await startService();
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumFlags,
      viewport: { width: 1100, height: 900 },
    });
  });

  afterAll(async () => {
    await context?.close();
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(userDataDir, { recursive: true, force: true });
  });

  const stateOf = (page: Page) => page.locator('#connection').getAttribute('data-state');
  const itemsOf = (page: Page, text: string) => page.locator('#feed li.alert').filter({ hasText: text });

  it('shows a Kafka alert with its matched text marked, and resumes after a server restart', async () => {
    const page = context!.pages()[0] ?? (await context!.newPage());
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/ERR_CONNECTION_REFUSED|WebSocket/.test(message.text())) {
        problems.push(message.text());
      }
    });

    // The key is given once in the hash, kept in localStorage, and leaves the address bar.
    await page.goto(`${baseUrl}/#key=${testApiKey}`);
    await expect.poll(() => stateOf(page), { timeout: 10_000 }).toBe('live');
    expect(page.url()).toBe(`${baseUrl}/`);
    expect(await page.evaluate(() => localStorage.getItem('tocsin.apiKey'))).toBe(testApiKey);

    await produce(env.KAFKA_TOPIC!, [{ key: seed.id, value: seedText }]);
    const first = itemsOf(page, seed.title);
    await first.waitFor({ timeout: 15_000 });
    expect(await first.getAttribute('data-severity')).toBe('high');
    expect(await first.locator('.rule').textContent()).toBe('Rare-earth export-control change');
    const marked = (await first.locator('mark').allTextContents()).map((text) => text.toLowerCase());
    expect(marked.length).toBeGreaterThan(0);
    expect(marked.some((text) => text.includes('rare earth') || text.includes('export control'))).toBe(true);

    // The server goes away; an alert is stored while the page is disconnected.
    await app!.close();
    app = undefined;
    await expect.poll(() => stateOf(page), { timeout: 10_000 }).not.toBe('live');
    const second = {
      ...seed,
      id: `${seed.id}-after-restart`,
      title: 'Rare earth export controls tighten again after the restart',
      url: 'https://example.com/briefs/after-restart',
    };
    await produce(env.KAFKA_TOPIC!, [{ key: second.id, value: JSON.stringify(second) }]);
    app = await startService();

    await expect.poll(() => stateOf(page), { timeout: 20_000 }).toBe('live');
    const resumed = itemsOf(page, second.title);
    await resumed.waitFor({ timeout: 30_000 });
    expect(await resumed.locator('a.source-link').getAttribute('href')).toBe(second.url);
    expect(await resumed.locator('.alert-title mark').count()).toBeGreaterThan(0);
    // Nothing twice: each alert once, newest first; the chart counts both.
    expect(await itemsOf(page, seed.title).count()).toBe(1);
    expect(await itemsOf(page, second.title).count()).toBe(1);
    const titles = await page.locator('#feed li.alert .alert-title').allTextContents();
    expect(titles.indexOf(second.title)).toBeLessThan(titles.indexOf(seed.title));
    await expect.poll(() => page.locator('#chart-total').textContent()).toBe('(2)');

    mkdirSync(outputDir, { recursive: true });
    await page.screenshot({ path: join(outputDir, 'live-page.png'), fullPage: true });
    expect(problems).toEqual([]);
  }, 120_000);

  it('goes live with a reader key, and tells an ingest key that it needs the reader role', async () => {
    const keyOf = async (role: string) => {
      const response = await fetch(`${baseUrl}/v1/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${testApiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `page ${role}`, role }),
      });
      return ((await response.json()) as { key: string }).key;
    };
    const page = await context!.newPage();
    await page.goto(`${baseUrl}/#key=${await keyOf('reader')}`);
    await expect.poll(() => stateOf(page), { timeout: 10_000 }).toBe('live');
    await expect.poll(() => page.locator('#feed li.alert').count()).toBe(2);

    await page.goto(`${baseUrl}/#key=${await keyOf('ingest')}`);
    await page.reload();
    await expect.poll(() => stateOf(page), { timeout: 10_000 }).toBe('unauthorized');
    expect(await page.locator('#key-error').textContent()).toContain('reader role');
    await page.evaluate(() => localStorage.clear());
    await page.close();
  }, 60_000);

  it('asks for a key, reports a refused one, and filters through the form (URL, subscribe, feed, chart)', async () => {
    const page = await context!.newPage();
    await page.goto(`${baseUrl}/`);
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await expect.poll(() => stateOf(page)).toBe('no key');
    await page.locator('#key-input').fill('tk_this-key-does-not-exist');
    await page.locator('#key-form button[type=submit]').click();
    await expect.poll(() => stateOf(page), { timeout: 10_000 }).toBe('unauthorized');
    expect(await page.locator('#key-error').isVisible()).toBe(true);

    await page.locator('#key-input').fill(testApiKey);
    await page.locator('#key-form button[type=submit]').click();
    await expect.poll(() => stateOf(page), { timeout: 10_000 }).toBe('live');
    // The two high alerts of the first test, from GET /v1/alerts.
    await expect.poll(() => page.locator('#feed li.alert').count()).toBe(2);

    await page.locator('#filters select[name=minSeverity]').selectOption('critical');
    await page.locator('#filters button[type=submit]').click();
    await expect.poll(() => page.locator('#feed li.alert').count()).toBe(0);
    expect(new URL(page.url()).search).toBe('?minSeverity=critical');
    await expect.poll(() => page.locator('#chart-total').textContent()).toBe('(0)');

    // A high alert and a critical one: the stream (subscribed to critical) brings only the second.
    const high = { ...seed, id: `${seed.id}-filtered-high`, title: 'Rare earth export controls, once more' };
    const critical = {
      ...seed,
      id: `${seed.id}-critical`,
      title: 'Dysprosium prices spike on supply shock',
      severity: 5,
      marketImpact: { direction: 'up', score: 0.9 },
    };
    await produce(env.KAFKA_TOPIC!, [
      { key: high.id, value: JSON.stringify(high) },
      { key: critical.id, value: JSON.stringify(critical) },
    ]);
    await itemsOf(page, critical.title).waitFor({ timeout: 15_000 });
    expect(await itemsOf(page, critical.title).getAttribute('data-severity')).toBe('critical');
    expect(await page.locator('#feed li.alert').count()).toBe(1);

    // The filter survives a reload: it lives in the URL and goes into the stream's query.
    await page.reload();
    await expect.poll(() => stateOf(page), { timeout: 10_000 }).toBe('live');
    expect(await page.locator('#filters select[name=minSeverity]').inputValue()).toBe('critical');
    await expect.poll(() => page.locator('#feed li.alert').count()).toBe(1);
    await page.close();
  }, 60_000);
});
