/**
 * A delivery worker in its own process, for the crash test: the SQLite store at `TOCSIN_DB`,
 * the webhook channel (127.0.0.1 allowlisted) and an outbox dispatcher with a short lease.
 * The test kills it with SIGKILL while a request is in flight: a real crash between the send
 * and its record.
 */
import { createOutboxDispatcher } from '../../../src/delivery/outbox/outbox-dispatcher.ts';
import { parseRetrySchedule } from '../../../src/delivery/outbox/retry-schedule.ts';
import { createSsrfGuard } from '../../../src/delivery/webhook/ssrf-guard.ts';
import { createWebhookChannel } from '../../../src/delivery/webhook/webhook-channel.ts';
import { createWebhookSender } from '../../../src/delivery/webhook/webhook-sender.ts';
import { createSqliteStore } from '../../../src/store/sqlite-store.ts';
import { testServerSecret } from '../../support/test-secret.ts';

const silent = { info() {}, warn() {}, error() {} };
const store = createSqliteStore({ filename: process.env.TOCSIN_DB!, secret: testServerSecret });
const sender = createWebhookSender({
  guard: createSsrfGuard({ allowlist: ['127.0.0.1'] }),
  timeoutMs: 10_000,
});
const channel = createWebhookChannel({ store, sender, publicUrl: 'http://tocsin.test', logger: silent });
const outbox = createOutboxDispatcher({
  store,
  channels: [channel],
  logger: silent,
  schedule: parseRetrySchedule('0s,100ms,100ms'),
  leaseMs: Number(process.env.TOCSIN_LEASE_MS),
  pollMs: 20,
});
await outbox.start();
process.stdout.write('ready\n');
