import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const seedEventPath = join(repoRoot, 'test/fixtures/seed-event.json');

/** The API key test apps accept (TOCSIN_API_KEY). */
export const testApiKey = 'tocsin-test-key-0123456789';
export const authHeaders = { authorization: `Bearer ${testApiKey}` };

/**
 * Starts the real app on a free port with a private data directory. `env` takes the same
 * variables as the service (contracts.md), so tests configure it the way users do.
 */
export async function startTestApp(env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-test-'));
  const config = loadConfig({
    PORT: '0',
    TOCSIN_DATA_DIR: dataDir,
    TOCSIN_RULES_DIR: join(repoRoot, 'rules'),
    LOG_LEVEL: 'warn',
    TOCSIN_API_KEY: testApiKey,
    // One match worker: every test app matches through the pool as the service does, at half
    // the start-up cost of the default (one per core) over the suite's many apps.
    TOCSIN_MATCH_WORKERS: '1',
    ...env,
  });
  const app = await buildApp(config, { logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
  await app.start();
  const url = app.url();
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof startTestApp>>;
