// No secret in the log, over a whole run: the service as a child process at LOG_LEVEL=trace goes
// through everything that handles a credential — API keys created and used (header, ?key=,
// ?token=, ?api_key=), revoked; stream tokens; webhook secrets created and rotated, deliveries
// signed with them; email through an SMTP server that requires a password; Kafka over SASL_SSL
// with SCRAM-SHA-512; unsubscribe links — and every byte it wrote to stdout and stderr is
// searched for each of those secrets.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { saslSslSettings } from '../scripts/kafka-broker.ts';
import {
  startWebhookReceiver,
  verifyWithLibraries,
  type WebhookReceiver,
} from './delivery/webhook/webhook-receiver.ts';
import { createTopic, produce } from './support/kafka.ts';
import { startService, testApiKey } from './support/service-process.ts';
import { isAlertFor, openStream } from './support/stream-client.ts';
import { seedEventPath } from './support/test-app.ts';

const secure = inject('kafkaSecure');

/** A real SMTP server that offers AUTH over plain SMTP and accepts one user and password. */
async function startAuthSmtp(username: string, password: string) {
  const mails: { raw: string; to: string[] }[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: false,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === username && auth.password === password) callback(null, { user: username });
      else callback(new Error('invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push({
          raw: Buffer.concat(chunks).toString('utf8'),
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
        });
        callback(null);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the log of a whole run', () => {
  let hooks: WebhookReceiver;
  let smtp: Awaited<ReturnType<typeof startAuthSmtp>>;
  let dataDir: string;
  const smtpUser = 'tocsin-mailer';
  const smtpPassword = `smtp-pw-${randomBytes(12).toString('hex')}`;
  const serverSecret = `server-secret-${randomBytes(16).toString('hex')}`;

  beforeAll(async () => {
    hooks = await startWebhookReceiver();
    smtp = await startAuthSmtp(smtpUser, smtpPassword);
    dataDir = await mkdtemp(join(tmpdir(), 'tocsin-log-scan-'));
  });
  afterAll(async () => {
    await hooks?.close();
    await smtp?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('holds none of the keys, tokens, webhook secrets and SMTP/Kafka passwords the service used', async () => {
    const topic = await createTopic();
    const kafka = saslSslSettings(secure, 'scram-sha-512');
    const service = await startService({
      ...kafka,
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: await createTopic(),
      KAFKA_GROUP_ID: `${topic}-group`,
      KAFKA_START_FROM: 'earliest',
      SMTP_URL: `smtp://${smtpUser}:${smtpPassword}@127.0.0.1:${smtp.port}`,
      TOCSIN_SECRET: serverSecret,
      TOCSIN_DATA_DIR: dataDir,
      TOCSIN_WEBHOOK_ALLOWLIST: '127.0.0.1',
      TOCSIN_RETRY_SCHEDULE: '0s,200ms,200ms',
      LOG_LEVEL: 'trace',
    });
    const secrets: Record<string, string> = {
      TOCSIN_API_KEY: testApiKey,
      TOCSIN_SECRET: serverSecret,
      'SMTP password': smtpPassword,
      'Kafka SASL password': kafka.KAFKA_SASL_PASSWORD!,
    };
    const call = async (method: string, path: string, key: string | undefined, body?: unknown) => {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers: {
          ...(key !== undefined && { authorization: `Bearer ${key}` }),
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : text };
    };

    try {
      // API keys: created, used in the header and (by mistake) in the query, revoked.
      const admin = await call('POST', '/v1/api-keys', testApiKey, { name: 'ops', role: 'admin' });
      const reader = await call('POST', '/v1/api-keys', testApiKey, { name: 'wallboard', role: 'reader' });
      expect([admin.status, reader.status]).toEqual([201, 201]);
      const adminKey = admin.body.key as string;
      const readerKey = reader.body.key as string;
      secrets['admin key'] = adminKey;
      secrets['reader key'] = readerKey;
      expect((await call('GET', '/v1/alerts', readerKey)).status).toBe(200);
      for (const name of ['key', 'token', 'api_key', 'apiKey'])
        await call('GET', `/v1/alerts?${name}=${encodeURIComponent(readerKey)}&limit=1`, undefined);
      expect((await call('GET', '/v1/rules', `${adminKey.slice(0, -2)}xx`)).status).toBe(401);

      // Stream tokens: one minted and used, one tampered with.
      const minted = await call('POST', '/v1/stream/tokens', readerKey);
      expect(minted.status).toBe(200);
      const token = minted.body.token as string;
      secrets['stream token'] = token;
      const stream = await openStream(
        `${service.url.replace(/^http/, 'ws')}/v1/stream?token=${encodeURIComponent(token)}`,
      );
      const tampered = new WebSocket(
        `${service.url.replace(/^http/, 'ws')}/v1/stream?token=${encodeURIComponent(`${token}x`)}`,
      );
      await new Promise((resolve) => {
        tampered.once('error', resolve);
        tampered.once('close', resolve);
      });

      // Webhook secrets: a given one and a generated one, rotated; deliveries signed with them.
      const givenSecret = `whsec_${randomBytes(32).toString('base64')}`;
      const endpoint = await call('POST', '/v1/webhooks', adminKey, { url: hooks.url, secret: givenSecret });
      expect(endpoint.status).toBe(201);
      const rotated = await call('POST', `/v1/webhooks/${endpoint.body.id}/rotate`, adminKey, {
        previousSecretValidFor: '1h',
      });
      expect(rotated.status).toBe(200);
      const newSecret = rotated.body.secret as string;
      secrets['webhook secret'] = givenSecret;
      secrets['rotated webhook secret'] = newSecret;
      const other = await call('POST', '/v1/webhooks', adminKey, { url: `${hooks.url}/other` });
      secrets['generated webhook secret'] = other.body.secret as string;

      const subscriber = await call('POST', '/v1/subscribers', adminKey, {
        name: 'Desk',
        email: 'desk@example.com',
      });
      for (const channel of [{ channel: 'webhook', endpointId: endpoint.body.id }, { channel: 'email' }]) {
        const made = await call('POST', '/v1/subscriptions', adminKey, {
          subscriberId: subscriber.body.id,
          ruleIds: ['rare-earth-export-controls'],
          ...channel,
        });
        expect(made.status).toBe(201);
      }

      // The seed brief through Kafka over SASL_SSL: a stream message, a signed webhook, an email.
      const seedText = await import('node:fs').then((fs) => fs.readFileSync(seedEventPath, 'utf8'));
      const seed = JSON.parse(seedText) as { id: string };
      await produce(topic, [{ key: seed.id, value: seedText }]);
      await stream.next(isAlertFor('rare-earth-export-controls', seed.id), 30_000);
      await hooks.waitFor(1, 30_000);
      verifyWithLibraries(givenSecret, hooks.requests[0]!);
      verifyWithLibraries(newSecret, hooks.requests[0]!);
      const mail = await until('the alert email', () => smtp.mails[0]);
      const head = mail.raw.split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]+/g, ' ');
      const unsubscribe = /^list-unsubscribe:.*?<(https?:\/\/[^>]+\/u\/[^>]+)>/im.exec(head)?.[1];
      expect(unsubscribe, 'a List-Unsubscribe URL').toBeDefined();
      const unsubscribeToken = unsubscribe!.slice(unsubscribe!.lastIndexOf('/u/') + 3);
      secrets['unsubscribe token'] = decodeURIComponent(unsubscribeToken);
      expect((await fetch(`${service.url}/u/${unsubscribeToken}`)).status).toBe(200);

      // Revocation: the key stops working, its stream closes.
      const revoked = await call('DELETE', `/v1/api-keys/${reader.body.id}`, adminKey);
      expect(revoked.status).toBeLessThan(300);
      expect((await call('GET', '/v1/alerts', readerKey)).status).toBe(401);
      expect((await stream.waitForClose(15_000)).code).toBe(4003);
    } finally {
      expect(await service.stop()).toBe(0);
    }

    const log = service.output();
    // The run was logged, request by request (the scan would pass on an empty log).
    expect(log).toContain('"url":"/v1/alerts?key=[redacted]&limit=1"');
    expect(log).toContain('/v1/webhooks');
    expect(log).toContain('"url":"/u/[redacted]"');
    expect(log.split('\n').length).toBeGreaterThan(50);
    const found = Object.entries(secrets)
      .flatMap(([name, secret]) => {
        const forms = [secret, encodeURIComponent(secret)];
        // A webhook secret's key is the base64 after whsec_; a leak of either form counts.
        if (secret.startsWith('whsec_')) forms.push(secret.slice('whsec_'.length));
        return forms.filter((form) => log.includes(form)).map(() => name);
      })
      .filter((name, index, all) => all.indexOf(name) === index);
    expect(found, 'secrets found in the log').toEqual([]);
  });
});
