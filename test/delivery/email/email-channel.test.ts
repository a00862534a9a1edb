import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../../src/app.ts';
import { loadConfig } from '../../../src/config.ts';
import { createEmailDelivery, publicUrlWarning } from '../../../src/delivery/email/email-delivery.ts';
import { createOutboxDispatcher } from '../../../src/delivery/outbox/outbox-dispatcher.ts';
import { parseRetrySchedule } from '../../../src/delivery/outbox/retry-schedule.ts';
import { isAppError } from '../../../src/errors.ts';
import { type Backend, makeAlert, sqliteHarness } from '../../store/store-harness.ts';
import { headerLines, headerValue } from './smtp-receiver.ts';

/**
 * The channel as the app assembles it (createEmailDelivery from a parsed configuration), on
 * a real store, writing `.eml` files: what it refuses to send, and DKIM.
 */

const silent = { info() {}, warn() {}, error() {} };

let backend: Backend | undefined;
let dataDir: string | undefined;
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await backend?.dispose();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  backend = undefined;
  dataDir = undefined;
});

async function startRig(env: Record<string, string> = {}) {
  backend = await sqliteHarness.create();
  dataDir = mkdtempSync(join(tmpdir(), 'tocsin-email-channel-'));
  const { store, clock } = backend;
  const config = loadConfig({
    TOCSIN_DATA_DIR: dataDir,
    TOCSIN_PUBLIC_URL: 'https://tocsin.example.test',
    ...env,
  });
  const email = createEmailDelivery({
    config,
    store,
    secret: 'channel-test-secret-0123456789',
    logger: silent,
    wake: () => {},
    now: clock.now,
  });
  const dispatcher = createOutboxDispatcher({
    store,
    channels: [email.channel],
    logger: silent,
    schedule: parseRetrySchedule('0s,1s'),
    now: clock.now,
  });
  closers.push(
    () => email.channel.close(),
    () => dispatcher.close(),
  );
  const subscriber = await store.subscribers.create({ name: 'Desk', email: 'desk@example.com' });
  const subscription = await store.subscriptions.create({ subscriberId: subscriber.id, channel: 'email' });

  async function routeAlert(): Promise<string> {
    const alert = makeAlert({ matches: [] });
    await store.pipeline.commit({
      alerts: [alert],
      ledger: [],
      groupStates: [],
      jobs: [{ alertId: alert.id, subscriptionId: subscription.id, channel: 'email' }],
    });
    const [job] = (await store.deliveries.list({ alertId: alert.id })).items;
    return job!.id;
  }

  return { store, dispatcher, subscriber, subscription, routeAlert, mailDir: join(dataDir, 'mail') };
}

describe('the email channel refuses to send', () => {
  it('for a subscription unsubscribed after the alert was routed', async () => {
    const rig = await startRig();
    const jobId = await rig.routeAlert();
    await rig.store.subscriptions.unsubscribe(rig.subscription.id);
    expect(await rig.dispatcher.runOnce()).toMatchObject({ failed: 1 });
    expect(await rig.store.deliveries.get(jobId)).toMatchObject({
      status: 'failed',
      lastError: 'not sent: the recipient unsubscribed',
    });
  });

  it('to an address that is not valid', async () => {
    const rig = await startRig();
    const jobId = await rig.routeAlert();
    await rig.store.subscribers.update(rig.subscriber.id, { email: 'desk@example.com\r\nBcc: x@y' });
    expect(await rig.dispatcher.runOnce()).toMatchObject({ failed: 1 });
    expect((await rig.store.deliveries.get(jobId))?.lastError).toContain('invalid email address');
  });

  it('for a subscription that was deleted', async () => {
    const rig = await startRig();
    const jobId = await rig.routeAlert();
    await rig.store.subscriptions.delete(rig.subscription.id);
    expect(await rig.dispatcher.runOnce()).toMatchObject({ failed: 1 });
    expect((await rig.store.deliveries.get(jobId))?.lastError).toBe(
      `subscription ${rig.subscription.id} no longer exists`,
    );
  });
});

describe('List-Unsubscribe', () => {
  it('offers a mailto: besides the one-click URL when TOCSIN_UNSUBSCRIBE_MAILTO is set', async () => {
    const rig = await startRig({ TOCSIN_UNSUBSCRIBE_MAILTO: 'unsubscribe@tocsin.example.test' });
    const jobId = await rig.routeAlert();
    await rig.dispatcher.runOnce();
    const raw = readFileSync(join(rig.mailDir, `${jobId}.eml`), 'utf8');
    expect(headerValue(raw, 'List-Unsubscribe')).toMatch(
      new RegExp(
        `^<https://tocsin\\.example\\.test/u/[\\w-]+\\.[\\w-]{32}>, <mailto:unsubscribe@tocsin\\.example\\.test\\?subject=unsubscribe%20${rig.subscription.id}>$`,
      ),
    );
    expect(headerValue(raw, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
  });
});

describe('DKIM', () => {
  it('signs both List-Unsubscribe headers, and the signature verifies', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const rig = await startRig({
      TOCSIN_DKIM_DOMAIN: 'tocsin.example.test',
      TOCSIN_DKIM_SELECTOR: 'mail2026',
      // As an environment variable usually carries it: one line, `\n` for the line breaks.
      TOCSIN_DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n'),
    });
    const jobId = await rig.routeAlert();
    expect(await rig.dispatcher.runOnce()).toMatchObject({ sent: 1 });
    const raw = readFileSync(join(rig.mailDir, `${jobId}.eml`), 'utf8');

    const signature = dkimTags(raw);
    expect(signature.d).toBe('tocsin.example.test');
    expect(signature.s).toBe('mail2026');
    const signed = signature.h!.split(':').map((name) => name.trim().toLowerCase());
    expect(signed).toEqual(
      expect.arrayContaining(['list-unsubscribe', 'list-unsubscribe-post', 'from', 'subject']),
    );
    expect(verifyDkim(raw, publicKey.export({ type: 'spki', format: 'pem' }).toString())).toBe(true);
    // Tampering with a signed header breaks it.
    const tampered = raw.replace(/^List-Unsubscribe: <https:/m, 'List-Unsubscribe: <http:');
    expect(verifyDkim(tampered, publicKey.export({ type: 'spki', format: 'pem' }).toString())).toBe(false);
  });

  it('stops the start when the key is neither PEM nor a readable file', async () => {
    backend = await sqliteHarness.create();
    const config = loadConfig({
      TOCSIN_DKIM_DOMAIN: 'tocsin.example.test',
      TOCSIN_DKIM_SELECTOR: 's',
      TOCSIN_DKIM_PRIVATE_KEY: '/nonexistent/dkim.pem',
    });
    try {
      createEmailDelivery({
        config,
        store: backend.store,
        secret: 'x'.repeat(32),
        logger: silent,
        wake: () => {},
      });
      expect.unreachable();
    } catch (error) {
      expect(isAppError(error, 'TOCSIN_INVALID_CONFIG')).toBe(true);
      expect((error as Error).message).toContain('TOCSIN_DKIM_PRIVATE_KEY');
    }
  });
});

describe('configuration', () => {
  it('names every bad email variable at once', () => {
    try {
      loadConfig({
        SMTP_FROM: 'a@example.com, b@example.com',
        SMTP_POOL_SIZE: '0',
        TOCSIN_EMAIL_HOURLY_LIMIT: 'lots',
        TOCSIN_UNSUBSCRIBE_MAILTO: 'Name <u@example.com>',
        TOCSIN_DKIM_DOMAIN: 'example.com',
      });
      expect.unreachable();
    } catch (error) {
      const variables = (
        (error as { details: { problems: { variable: string }[] } }).details.problems ?? []
      ).map((problem) => problem.variable);
      expect(variables.sort()).toEqual([
        'SMTP_FROM',
        'SMTP_POOL_SIZE',
        'TOCSIN_DKIM_PRIVATE_KEY',
        'TOCSIN_DKIM_SELECTOR',
        'TOCSIN_EMAIL_HOURLY_LIMIT',
        'TOCSIN_UNSUBSCRIBE_MAILTO',
      ]);
    }
  });

  it('has defaults', () => {
    expect(loadConfig({}).email).toEqual({
      poolSize: 5,
      ratePerSecond: 10,
      hourlyLimit: 20,
      digestMaxAlerts: 50,
      unsubscribeMailto: undefined,
      dkim: undefined,
    });
  });

  it('warns when links are not https', () => {
    expect(publicUrlWarning('http://127.0.0.1:8080')).toContain('not https');
    expect(publicUrlWarning('https://alerts.example.com')).toBeUndefined();
  });

  it.each([
    ['http://127.0.0.1:8080', true],
    ['https://alerts.example.com', false],
  ])('the start with TOCSIN_PUBLIC_URL=%s warns: %s', async (url, warns) => {
    dataDir = mkdtempSync(join(tmpdir(), 'tocsin-email-start-'));
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const app = await buildApp(
      loadConfig({
        PORT: '0',
        TOCSIN_DATA_DIR: dataDir,
        TOCSIN_RULES_DIR: join(dataDir, 'no-rules'),
        TOCSIN_API_KEY: 'email-start-test-key-0123456789',
        TOCSIN_PUBLIC_URL: url,
      }),
      { logger },
    );
    await app.start();
    await app.close();
    const warning = lines
      .map((line) => JSON.parse(line) as { msg: string })
      .find((entry) => entry.msg.includes('one-click'));
    expect(Boolean(warning)).toBe(warns);
  });
});

// ─── A small DKIM verifier (RFC 6376, relaxed/relaxed, rsa-sha256) ──────────────

function dkimTags(raw: string): Record<string, string> {
  const line = headerLines(raw).find((header) => /^dkim-signature:/i.test(header));
  if (!line) throw new Error('no DKIM-Signature header');
  const value = line.slice(line.indexOf(':') + 1);
  return Object.fromEntries(
    value
      .split(';')
      .map((tag) => tag.trim())
      .filter(Boolean)
      .map((tag) => [
        tag.slice(0, tag.indexOf('=')).trim(),
        tag.slice(tag.indexOf('=') + 1).replace(/\s+/g, ''),
      ]),
  );
}

function verifyDkim(raw: string, publicKeyPem: string): boolean {
  const message = raw.replace(/\r?\n/g, '\r\n');
  const split = message.indexOf('\r\n\r\n');
  const head = message.slice(0, split);
  const body = message.slice(split + 4);
  const tags = dkimTags(raw);
  if (tags.a !== 'rsa-sha256' || tags.c !== 'relaxed/relaxed')
    throw new Error(`unexpected a=${tags.a} c=${tags.c}`);

  const relaxedBody = `${body
    .split('\r\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').replace(/ $/, ''))
    .join('\r\n')
    .replace(/(\r\n)*$/, '')}\r\n`;
  if (createHash('sha256').update(relaxedBody).digest('base64') !== tags.bh) return false;

  // Header fields, unfolded, bottom-up per name as RFC 6376 §5.4.2 picks them.
  const fields = head.split(/\r\n(?![ \t])/).map((field) => {
    const colon = field.indexOf(':');
    return { name: field.slice(0, colon).trim().toLowerCase(), raw: field };
  });
  const relaxed = (field: string) => {
    const colon = field.indexOf(':');
    const name = field.slice(0, colon).trim().toLowerCase();
    const value = field
      .slice(colon + 1)
      .replace(/\r\n/g, '')
      .replace(/[ \t]+/g, ' ')
      .trim();
    return `${name}:${value}`;
  };
  const used = new Map<string, number>();
  let data = '';
  for (const name of tags.h!.split(':').map((item) => item.trim().toLowerCase())) {
    const candidates = fields.filter((field) => field.name === name);
    const count = used.get(name) ?? 0;
    used.set(name, count + 1);
    const field = candidates[candidates.length - 1 - count];
    if (field) data += `${relaxed(field.raw)}\r\n`;
  }
  const signatureField = fields.find((field) => field.name === 'dkim-signature')!;
  data += relaxed(signatureField.raw).replace(/([;:\s]b=)[^;]*/, '$1');
  return verify('sha256', Buffer.from(data), createPublicKey(publicKeyPem), Buffer.from(tags.b!, 'base64'));
}
