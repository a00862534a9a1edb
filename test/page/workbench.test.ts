import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { repoRoot, testApiKey } from '../support/test-app.ts';

/** Debian's Chromium with the flags of the live-page test. */
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
const day = 86_400_000;

/** Briefs of the last days: four about cobalt refineries, the others about grain. */
const now = Date.now();
const briefs = Array.from({ length: 12 }, (_, i) => ({
  id: `wb-${i}`,
  publishedAt: new Date(now - (12 - i) * (day / 3)).toISOString(),
  title: i % 3 === 0 ? `Cobalt refinery output cut at plant ${i}` : `Wheat shipments resume from port ${i}`,
  summary:
    i % 3 === 0
      ? 'The refinery lowered its cobalt guidance for the quarter.'
      : 'Ports reopened after the storm.',
  source: { name: 'Workbench Wire' },
}));
const cobaltBriefs = briefs.filter((_, i) => i % 3 === 0);

/** The YAML an analyst types: line 6 leaves a parenthesis open. */
const brokenRule =
  'id: cobalt-watch\nname: Cobalt refineries\nseverity: high\nquery: |\n  cobalt AND\n  (refinery OR\n';
const fixedRule =
  'id: cobalt-watch\nname: Cobalt refineries\nseverity: high\nquery: |\n  cobalt AND\n  (refinery OR smelter)\n';

describe('the analyst workbench in Chromium (real service, real browser)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-workbench-'));
  let app: App | undefined;
  let browser: Browser | undefined;
  let baseUrl: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  const api = async (method: string, path: string, body?: unknown, key = testApiKey) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as JSON
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      TOCSIN_DATA_DIR: dataDir,
      TOCSIN_RULES_DIR: join(repoRoot, 'rules'),
      TOCSIN_API_KEY: testApiKey,
      TOCSIN_HEARTBEAT_MS: '2000',
      LOG_LEVEL: 'warn',
    });
    app = await buildApp(config, { logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
    await app.start();
    baseUrl = app.url();
    // The recent briefs a preview runs over (the ring keeps what ingest accepted).
    const ingested = await api('POST', '/v1/events', briefs);
    expect(ingested.status).toBe(202);
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumFlags });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function openPage(key: string): Promise<Page> {
    const context = await browser!.newContext({ viewport: { width: 1200, height: 1000 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/ERR_CONNECTION_REFUSED|WebSocket/.test(message.text())) {
        problems.push(message.text());
      }
    });
    await page.goto(`${baseUrl}/#key=${key}`);
    await expect
      .poll(() => page.locator('#connection').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('live');
    return page;
  }

  const cardOf = (page: Page, title: string) => page.locator('#feed li.alert').filter({ hasText: title });

  let editor: Page;
  let viewer: Page;
  const fresh = {
    id: 'wb-live',
    publishedAt: new Date().toISOString(),
    title: 'Cobalt smelter fire halts exports',
    summary: 'A fire at the cobalt smelter stopped shipments.',
    source: { name: 'Workbench Wire' },
  };

  it('marks a syntax error at its line, previews the fixed rule with highlights and counts, saves it', async () => {
    editor = await openPage(testApiKey);
    await editor.locator('nav.views button[data-view=rules]').click();
    // Every rule with its counts: the repository's file rules, read-only.
    await expect.poll(() => editor.locator('#rules-body tr').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await editor.locator('#rules-body tr td.count.day').first().textContent()).toBe('0');

    await editor.locator('#rule-text').fill(brokenRule);
    const problem = editor.locator('#rule-problems li.problem');
    await problem.first().waitFor({ timeout: 10_000 });
    expect(await problem.first().getAttribute('data-line')).toBe('6');
    expect(await problem.first().textContent()).toContain('line 6, column');
    expect(await editor.locator('#rule-gutter span.error').allTextContents()).toEqual(['6\n']);
    expect(await editor.locator('#rule-text').getAttribute('aria-invalid')).toBe('true');
    mkdirSync(outputDir, { recursive: true });
    await editor.screenshot({ path: join(outputDir, 'workbench-syntax-error.png'), fullPage: true });

    await editor.locator('#rule-text').fill(fixedRule);
    await expect
      .poll(() => editor.locator('#rule-text').getAttribute('data-valid'), { timeout: 10_000 })
      .toBe('true');
    expect(await problem.count()).toBe(0);

    await editor.locator('#rule-preview').click();
    const counts = editor.locator('#preview-counts');
    await counts.waitFor({ state: 'visible', timeout: 15_000 });
    await expect.poll(() => counts.getAttribute('data-matched')).toBe(String(cobaltBriefs.length));
    expect(await counts.getAttribute('data-alerts')).toBe(String(cobaltBriefs.length));
    expect(await counts.textContent()).toContain(`${cobaltBriefs.length} matched of ${briefs.length}`);
    // The per-day chart adds up to the matches; the samples are newest first, matches marked.
    const perDay = await editor
      .locator('#preview-chart g.day')
      .evaluateAll((days) => days.map((node) => Number(node.getAttribute('data-events'))));
    expect(perDay.reduce((sum, n) => sum + n, 0)).toBe(cobaltBriefs.length);
    const samples = editor.locator('#preview-samples li.sample');
    expect(await samples.count()).toBe(cobaltBriefs.length);
    expect(await samples.first().getAttribute('data-event-id')).toBe(cobaltBriefs.at(-1)!.id);
    const marked = (await samples.first().locator('mark').allTextContents()).map((text) =>
      text.toLowerCase(),
    );
    expect(marked).toContain('cobalt');
    expect(marked).toContain('refinery');
    await editor.screenshot({ path: join(outputDir, 'workbench-preview.png'), fullPage: true });

    await editor.locator('#rule-save').click();
    await expect
      .poll(() => editor.locator('#rule-status').textContent(), { timeout: 10_000 })
      .toContain('Saved');
    const row = editor.locator('#rules-body tr[data-rule-id=cobalt-watch]');
    await row.waitFor();
    expect(await row.locator('.rule-origin').textContent()).toBe('API');
    expect((await api('GET', '/v1/rules/cobalt-watch')).body.document.query).toBe(
      'cobalt AND\n(refinery OR smelter)\n',
    );

    // Disable and enable through the page: the API follows.
    await editor.locator('#rule-disable').click();
    await expect.poll(() => row.locator('.rule-state').textContent()).toBe('disabled');
    expect((await api('GET', '/v1/rules/cobalt-watch')).body.enabled).toBe(false);
    await editor.locator('#rule-enable').click();
    await expect.poll(() => row.locator('.rule-state').textContent()).toBe('enabled');
  }, 120_000);

  it('shows a brief posted after saving on the live feed; acknowledging and silencing it updates a second viewer', async () => {
    await editor.locator('nav.views button[data-view=alerts]').click();
    viewer = await openPage(testApiKey);
    expect((await api('POST', '/v1/events', fresh)).status).toBe(202);
    const onEditor = cardOf(editor, fresh.title);
    const onViewer = cardOf(viewer, fresh.title);
    await onEditor.waitFor({ timeout: 15_000 });
    await onViewer.waitFor({ timeout: 15_000 });
    expect(await onEditor.locator('.rule').textContent()).toBe('Cobalt refineries');
    expect(
      (await onEditor.locator('.alert-title mark').allTextContents()).map((t) => t.toLowerCase()),
    ).toContain('cobalt');
    expect(await onViewer.getAttribute('data-states')).toBe('');

    await onEditor.locator('button.ack').click();
    // The second browser context hears it on its stream (a `state` message), without a reload.
    await expect.poll(() => onViewer.getAttribute('data-states'), { timeout: 10_000 }).toBe('acknowledged');
    expect(await onViewer.locator('.state.acknowledged').textContent()).toContain('acknowledged by');
    expect(await onEditor.locator('button.ack').count()).toBe(0);

    await onEditor.locator('select.silence-duration').selectOption('24h');
    await onEditor.locator('button.silence').click();
    await expect
      .poll(() => onViewer.getAttribute('data-states'), { timeout: 10_000 })
      .toBe('acknowledged silenced');
    const silences = (await api('GET', '/v1/silences?state=active')).body.items;
    expect(silences).toEqual([expect.objectContaining({ matchers: { ruleIds: ['cobalt-watch'] } })]);
    await viewer.screenshot({ path: join(outputDir, 'workbench-second-viewer.png'), fullPage: true });

    // The explain view: the rule's clauses that held, the brief's matches, the deliveries.
    await onEditor.locator('button.details').click();
    const dialog = editor.locator('#alert-detail');
    await dialog.locator('.explain-query .query').waitFor({ timeout: 10_000 });
    const held = await dialog.locator('.q-word.held').allTextContents();
    expect(held).toEqual(['cobalt', 'smelter']);
    expect(await dialog.locator('.q-word:not(.held)').allTextContents()).toEqual(['refinery']);
    expect(
      (await dialog.locator('.explain-brief mark').allTextContents()).map((t) => t.toLowerCase()),
    ).toContain('smelter');
    expect(await dialog.locator('.explain-deliveries').textContent()).toContain('Deliveries');
    await editor.screenshot({ path: join(outputDir, 'workbench-explain.png'), fullPage: true });
    await dialog.locator('#alert-detail-close').click();
  }, 120_000);

  it('shows a reader key everything without a single edit control', async () => {
    const reader = (await api('POST', '/v1/api-keys', { name: 'workbench reader', role: 'reader' })).body.key;
    const page = await openPage(reader);
    const card = cardOf(page, fresh.title);
    await card.waitFor({ timeout: 15_000 });
    expect(await card.getAttribute('data-states')).toBe('acknowledged silenced');
    expect(await card.locator('button.ack, button.silence, select').count()).toBe(0);
    expect(await card.locator('button.details').count()).toBe(1);

    await page.locator('nav.views button[data-view=rules]').click();
    await page.locator('#rules-body tr[data-rule-id=cobalt-watch]').waitFor({ timeout: 10_000 });
    await page.locator('#rules-body tr[data-rule-id=cobalt-watch]').click();
    await expect.poll(() => page.locator('#rule-text').inputValue()).toContain('cobalt-watch');
    expect(await page.locator('#rule-text').getAttribute('readonly')).not.toBeNull();
    for (const control of [
      '#new-rule',
      '#rule-preview',
      '#rule-save',
      '#rule-enable',
      '#rule-disable',
      '#rule-delete',
    ]) {
      expect(await page.locator(control).count(), control).toBe(0);
    }
    expect(await page.locator('#editor-note').textContent()).toContain('no editor role');
    // The counts of the saved rule include the alert of the live brief.
    expect(await page.locator('#rules-body tr[data-rule-id=cobalt-watch] td.count.day').textContent()).toBe(
      '1',
    );
    await page.screenshot({ path: join(outputDir, 'workbench-reader.png'), fullPage: true });
    expect(problems).toEqual([]);
  }, 60_000);
});
