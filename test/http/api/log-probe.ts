// Run as a child process by log-redaction.test.ts: serves requests with the real logger
// (src/logger.ts, level trace, writing to stdout) so the test can read every log line.
import { createApiKeyAuth } from '../../../src/http/auth.ts';
import { createHttpServer } from '../../../src/http/http-server.ts';
import { createLogger } from '../../../src/logger.ts';
import { createSqliteStore } from '../../../src/store/sqlite-store.ts';

const [key, token] = process.argv.slice(2) as [string, string];
const store = createSqliteStore({ filename: ':memory:', secret: 'log-probe-secret-0123456789' });
await store.migrate();
const app = await createHttpServer({
  logger: createLogger('trace'),
  maxBodyBytes: 1024 * 1024,
  auth: createApiKeyAuth({ store, secret: 'log-probe-secret-0123456789', staticKey: key }),
  routes: [
    async (instance) => {
      instance.get('/v1/probe', { config: { access: 'read' } }, async () => ({ ok: true }));
      instance.get('/u/:token', { config: { access: 'open' } }, async () => ({ ok: true }));
    },
  ],
});
for (const headers of [{ authorization: `Bearer ${key}` }, { authorization: `Bearer ${key}x` }, {}]) {
  await app.inject({ method: 'GET', url: `/v1/probe?token=${token}&rules=a`, headers });
}
// A key in the query string (a client's mistake) and the other credential-carrying names.
for (const name of ['key', 'api_key', 'apiKey', 'access_token', 'password', 'KEY']) {
  await app.inject({ method: 'GET', url: `/v1/probe?${name}=${key}&rules=a` });
}
await app.inject({ method: 'GET', url: `/v1/probe?rules=${key}` });
await app.inject({ method: 'GET', url: `/u/${token}` });
await app.close();
await store.close();
