// Tocsin against the test broker's secure listeners (those of `npm run kafka -- --secure`):
// it consumes and dead-letters over SASL_SSL with each SASL mechanism and over mutual TLS, and a
// wrong password or an untrusted broker certificate fails the start with a message saying which
// (server.ts prints it as "Tocsin failed to start: …" and exits 1), the password in no log line.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { mutualTlsSettings, saslSslSettings } from '../../scripts/kafka-broker.ts';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { isAppError } from '../../src/errors.ts';
import { consumeAll, createTopic, produce } from '../support/kafka.ts';
import { isAlertFor, openStream } from '../support/stream-client.ts';
import { authHeaders, repoRoot, seedEventPath, startTestApp } from '../support/test-app.ts';

const secure = inject('kafkaSecure');
const seedText = readFileSync(seedEventPath, 'utf8');
const seed = JSON.parse(seedText) as { id: string };

const listeners: [string, Record<string, string>][] = [
  ['SASL_SSL with SCRAM-SHA-256', saslSslSettings(secure, 'scram-sha-256')],
  ['SASL_SSL with SCRAM-SHA-512', saslSslSettings(secure, 'scram-sha-512')],
  ['SASL_SSL with PLAIN', saslSslSettings(secure, 'plain')],
  ['mutual TLS', mutualTlsSettings(secure)],
];

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** Builds and starts the app (trace-level log collected), expecting the start to fail. */
async function failedStart(env: Record<string, string>): Promise<{ failure: unknown; log: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-kafka-security-'));
  temps.push(dataDir);
  let log = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      log += chunk;
      done();
    },
  });
  const app = await buildApp(
    loadConfig({ ...env, PORT: '0', TOCSIN_DATA_DIR: dataDir, TOCSIN_RULES_DIR: join(repoRoot, 'rules') }),
    { logger: pino({ level: 'trace' }, sink) },
  );
  try {
    const failure = await app.start().then(
      () => new Error('the start succeeded'),
      (error: unknown) => error,
    );
    return { failure, log };
  } finally {
    await app.close();
  }
}

describe('Kafka over TLS and SASL (the secure listeners of the test broker)', () => {
  it.each(listeners)('consumes and dead-letters over %s', async (_name, settings) => {
    const topic = await createTopic();
    const dlqTopic = await createTopic();
    const service = await startTestApp({
      ...settings,
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlqTopic,
      KAFKA_GROUP_ID: `${topic}-group`,
      KAFKA_START_FROM: 'earliest',
    });
    try {
      const stream = await openStream(`${service.wsUrl}/v1/stream`, { headers: authHeaders });
      await produce(topic, [
        { key: 'bad', value: '{not json' },
        { key: seed.id, value: seedText },
      ]);
      const message = await stream.next(isAlertFor('rare-earth-export-controls', seed.id), 15_000);
      expect(message.alert).toMatchObject({ eventIds: [seed.id] });
      await stream.close();
      const [dead] = await consumeAll(dlqTopic, 1);
      expect(dead).toMatchObject({ key: 'bad', value: '{not json' });
      expect(dead!.headers['tocsin-reason']).toMatch(/^not_json: /);

      const ready = await fetch(`${service.url}/readyz`);
      const body = await ready.text();
      expect(ready.status, body).toBe(200);
      expect(body).not.toContain(secure.password);
    } finally {
      await service.close();
    }
  });

  it('a wrong password fails the start, saying so, and the password is in no log line', async () => {
    const wrong = 'not-the-password-0123';
    const { failure, log } = await failedStart({
      ...saslSslSettings(secure, 'scram-sha-512'),
      KAFKA_SASL_PASSWORD: wrong,
    });
    expect(isAppError(failure, 'TOCSIN_KAFKA_UNAVAILABLE')).toBe(true);
    expect((failure as Error).message).toBe(
      "Kafka SASL authentication failed for user 'tocsin' (SCRAM-SHA-512): wrong KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD",
    );
    expect(log).toContain('SASL SCRAM SHA512 authentication failed'); // kafkajs' own lines reach the log
    expect(log).not.toContain(wrong);
  });

  it('a broker certificate the client does not trust fails the start, saying so', async () => {
    const settings = saslSslSettings(secure, 'scram-sha-512');
    delete settings.KAFKA_SSL_CA; // the system CAs do not know the run's CA
    const { failure, log } = await failedStart(settings);
    expect(isAppError(failure, 'TOCSIN_KAFKA_UNAVAILABLE')).toBe(true);
    expect((failure as Error).message).toMatch(
      /^the Kafka broker's TLS certificate is not trusted \([A-Z_]+\): set KAFKA_SSL_CA to the CA that signed it$/,
    );
    expect(log).not.toContain(secure.password);
  });
});
