import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';

/**
 * `npm run openapi`: writes `openapi.json`, the document the service serves at `GET /docs`,
 * taken from the real app (every route it registers, with the zod schemas it validates with)
 * so the committed copy is never written by hand. test/docs/openapi.test.ts fails when a route
 * or schema changed and this was not run.
 */
export const openApiPath = join(import.meta.dirname, '..', 'openapi.json');

/** The `/docs` document of a freshly built app (embedded store in a temporary directory), as committed. */
export async function renderOpenApi(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tocsin-openapi-'));
  const app = await buildApp(
    loadConfig({
      PORT: '0',
      TOCSIN_DATA_DIR: dataDir,
      TOCSIN_RULES_DIR: dataDir,
      LOG_LEVEL: 'silent',
      // Given a key, the first start does not mint (and print) one.
      TOCSIN_API_KEY: 'openapi-generator-key-not-used',
    }),
    { logger: createLogger('silent') },
  );
  try {
    await app.start();
    const response = await fetch(`${app.url()}/docs`);
    if (response.status !== 200) throw new Error(`GET /docs answered ${response.status}`);
    return `${JSON.stringify(await response.json(), null, 2)}\n`;
  } finally {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename) {
  await writeFile(openApiPath, await renderOpenApi());
  process.stdout.write('wrote openapi.json\n');
}
