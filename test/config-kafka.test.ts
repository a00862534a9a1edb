// The Kafka connection settings of config.ts: defaults, PEM text or files, and every combination
// that cannot work reported as one line naming the variable, without ever echoing the password.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCertificateAuthority,
  createTlsMaterial,
  signCertificate,
  type TlsMaterial,
} from '../scripts/kafka-tls.ts';
import { loadConfig } from '../src/config.ts';
import { isAppError } from '../src/errors.ts';

let dir: string;
let tls: TlsMaterial;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tocsin-config-kafka-'));
  tls = await createTlsMaterial(dir);
  const otherCa = await createCertificateAuthority(dir, 'other-ca', 'Another CA');
  await signCertificate(dir, otherCa, 'other', 'other'); // other.key: a key of another certificate
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { KAFKA_BROKERS: 'broker-1:9093,broker-2:9093' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env, dir);
  } catch (error) {
    if (!isAppError(error, 'TOCSIN_INVALID_CONFIG')) throw error;
    return error.message.split('\n');
  }
  return [];
}

describe('Kafka connection settings', () => {
  it('defaults: plaintext, no SASL, client id tocsin-<group>, no topic creation', () => {
    const kafka = loadConfig({ ...base, KAFKA_GROUP_ID: 'alerts' }, dir).kafka!;
    expect(kafka).toMatchObject({
      clientId: 'tocsin-alerts',
      ssl: undefined,
      sasl: undefined,
      createTopics: undefined,
    });
    expect(loadConfig({ ...base, KAFKA_CLIENT_ID: 'acme-tocsin' }, dir).kafka!.clientId).toBe('acme-tocsin');
  });

  it('KAFKA_SSL=true alone is TLS with the system CAs', () => {
    expect(loadConfig({ ...base, KAFKA_SSL: 'true' }, dir).kafka!.ssl).toEqual({});
  });

  it('reads KAFKA_SSL_* from files (relative to the working directory) or PEM text, and turns TLS on', () => {
    const ca = readFileSync(tls.caFile, 'utf8');
    const kafka = loadConfig(
      {
        ...base,
        KAFKA_SSL_CA: ca.replace(/\n/g, '\\n'),
        KAFKA_SSL_CERT: tls.client.certFile,
        KAFKA_SSL_KEY: 'client.key',
      },
      dir,
    ).kafka!;
    expect(kafka.ssl).toEqual({
      ca,
      cert: readFileSync(tls.client.certFile, 'utf8'),
      key: readFileSync(tls.client.keyFile, 'utf8'),
    });
  });

  it.each(['plain', 'SCRAM-SHA-256', 'scram-sha-512'])(
    'takes SASL mechanism %s with its credentials',
    (mechanism) => {
      const kafka = loadConfig(
        {
          ...base,
          KAFKA_SSL: 'true',
          KAFKA_SASL_MECHANISM: mechanism,
          KAFKA_SASL_USERNAME: 'u',
          KAFKA_SASL_PASSWORD: 'p w',
        },
        dir,
      ).kafka!;
      expect(kafka.sasl).toEqual({ mechanism: mechanism.toLowerCase(), username: 'u', password: 'p w' });
    },
  );

  it('TOCSIN_KAFKA_CREATE_TOPICS with partitions and replication', () => {
    expect(loadConfig({ ...base, TOCSIN_KAFKA_CREATE_TOPICS: 'true' }, dir).kafka!.createTopics).toEqual({
      partitions: undefined,
      replicationFactor: undefined,
    });
    expect(
      loadConfig(
        {
          ...base,
          TOCSIN_KAFKA_CREATE_TOPICS: 'true',
          TOCSIN_KAFKA_TOPIC_PARTITIONS: '12',
          TOCSIN_KAFKA_TOPIC_REPLICATION: '3',
        },
        dir,
      ).kafka!.createTopics,
    ).toEqual({ partitions: 12, replicationFactor: 3 });
  });

  it.each([
    [{ KAFKA_SSL: 'yes' }, 'KAFKA_SSL: expected true or false'],
    [{ KAFKA_SSL: 'false', KAFKA_SSL_CA: 'ca.pem' }, 'KAFKA_SSL: is false, but KAFKA_SSL_CA is set'],
    [{ KAFKA_SSL_CERT: 'client.pem' }, 'KAFKA_SSL_KEY: required with KAFKA_SSL_CERT (mutual TLS)'],
    [{ KAFKA_SSL_KEY: 'client.key' }, 'KAFKA_SSL_CERT: required with KAFKA_SSL_KEY (mutual TLS)'],
    [{ KAFKA_SSL_CA: 'missing.pem' }, 'KAFKA_SSL_CA: neither PEM text nor a readable file (ENOENT)'],
    [{ KAFKA_SSL_CA: 'client.csr' }, 'KAFKA_SSL_CA: not a usable PEM certificate'],
    [{ KAFKA_SSL_CA: 'ca.key' }, 'KAFKA_SSL_CA: not a usable PEM certificate'],
    [
      { KAFKA_SSL_CERT: 'client.pem', KAFKA_SSL_KEY: 'other.key' },
      'KAFKA_SSL_KEY: is not the private key of KAFKA_SSL_CERT',
    ],
    [
      { KAFKA_SASL_MECHANISM: 'gssapi' },
      'KAFKA_SASL_MECHANISM: expected plain, scram-sha-256 or scram-sha-512',
    ],
    [
      { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'x' },
      'KAFKA_SASL_USERNAME: required with KAFKA_SASL_MECHANISM',
    ],
    [
      { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' },
      'KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM',
    ],
    [
      { KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'hunter22' },
      'KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD is set',
    ],
    [
      { TOCSIN_KAFKA_TOPIC_PARTITIONS: '0' },
      'TOCSIN_KAFKA_TOPIC_PARTITIONS: expected a positive integer, got "0"',
    ],
  ])('%o is one line: %s', (env, line) => {
    const lines = problems({ ...base, ...env });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(line);
    expect(lines[0]).not.toContain('hunter22');
  });

  it('security settings without KAFKA_BROKERS are one error naming them', () => {
    expect(problems({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'plain' })).toEqual([
      'KAFKA_BROKERS: required when KAFKA_SSL, KAFKA_SASL_MECHANISM is set',
    ]);
  });

  it('reports every bad variable, one line each', () => {
    expect(
      problems({
        ...base,
        KAFKA_SSL_CERT: 'client.pem',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'u',
      }),
    ).toEqual([
      'KAFKA_SSL_KEY: required with KAFKA_SSL_CERT (mutual TLS)',
      'KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM',
    ]);
  });
});
