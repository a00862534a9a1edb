import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiPath, renderOpenApi } from '../../scripts/generate-openapi.ts';

// openapi.json is the committed copy of what the service serves at GET /docs, for readers and
// client generators that have no running service. It is generated, never edited: a route or a
// schema that changed without `npm run openapi` fails here.

describe('openapi.json', () => {
  it('is what GET /docs serves (run `npm run openapi` when this fails)', async () => {
    const committed = readFileSync(openApiPath, 'utf8');
    const served = await renderOpenApi();
    if (committed !== served) {
      const routes = (text: string) =>
        Object.entries(JSON.parse(text).paths as Record<string, object>).flatMap(([path, methods]) =>
          Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
        );
      const before = new Set(routes(committed));
      const now = new Set(routes(served));
      const added = [...now].filter((route) => !before.has(route));
      const removed = [...before].filter((route) => !now.has(route));
      expect.fail(
        `openapi.json is stale: run \`npm run openapi\` and commit it` +
          (added.length > 0 ? `\n  routes not in it: ${added.join(', ')}` : '') +
          (removed.length > 0 ? `\n  routes gone from /docs: ${removed.join(', ')}` : '') +
          (added.length + removed.length === 0 ? '\n  (the routes are the same; a schema changed)' : ''),
      );
    }
    expect(JSON.parse(committed).openapi).toBe('3.1.0');
  }, 60_000);
});
