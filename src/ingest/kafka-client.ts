// The one place a kafkajs client is made: every consumer, producer and admin client of the process
// comes from createKafkaClient, so TLS, SASL, the client id and the compression codecs are the same
// for all of them (a producer built elsewhere would reach a secured cluster without credentials).
import kafkajs, { type Kafka, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { KafkaConnection } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { registerKafkaCodecs } from './kafka-codecs.ts';

const { Kafka: KafkaClient, logLevel } = kafkajs;

/**
 * A kafkajs client for the configured cluster. kafkajs logs (warnings and errors) go to the
 * process logger under `component: kafka`; the SASL password is only ever in the client options.
 */
export function createKafkaClient(
  connection: KafkaConnection,
  logger: Logger,
  options: Pick<KafkaConfig, 'retry' | 'connectionTimeout'> = {},
): Kafka {
  registerKafkaCodecs();
  const log = logger.child({ component: 'kafka' });
  return new KafkaClient({
    clientId: connection.clientId,
    brokers: connection.brokers,
    ssl: connection.ssl === undefined ? false : { ...connection.ssl },
    sasl: saslOptions(connection.sasl),
    ...options,
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      log[entry.level === logLevel.ERROR ? 'error' : 'warn']({ kafka: rest }, message);
    },
  });
}

function saslOptions(sasl: KafkaConnection['sasl']): SASLOptions | undefined {
  if (sasl === undefined) return undefined;
  const { username, password } = sasl;
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
  }
}

/** Node's codes for a peer certificate that does not chain to a trusted CA or does not fit. */
const untrustedCertificateCodes = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * Turns a kafkajs failure into TOCSIN_KAFKA_UNAVAILABLE with a sentence that says what is wrong
 * (credentials, the broker's certificate, TLS against a plaintext port, the network) and which
 * setting to look at. kafkajs wraps the cause in retry errors, so the chain is searched.
 */
export function describeKafkaFailure(error: unknown, connection: KafkaConnection): AppError {
  const chain = causes(error);
  const find = (test: (candidate: Record<string, unknown>) => boolean) => chain.find(test);
  const brokers = connection.brokers.join(',');
  const wrap = (message: string) =>
    new AppError('TOCSIN_KAFKA_UNAVAILABLE', message, { cause: error, retryable: false });

  const sasl = find((candidate) => candidate.name === 'KafkaJSSASLAuthenticationError');
  if (sasl && connection.sasl) {
    const unsupported = /not supported by the server/.test(String(sasl.message));
    return wrap(
      unsupported
        ? `Kafka SASL authentication failed: the brokers do not offer ${connection.sasl.mechanism.toUpperCase()} (KAFKA_SASL_MECHANISM)`
        : `Kafka SASL authentication failed for user '${connection.sasl.username}' (${connection.sasl.mechanism.toUpperCase()}): wrong KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD`,
    );
  }
  const certificate = find((candidate) => untrustedCertificateCodes.has(String(candidate.code)));
  if (certificate) {
    return wrap(
      `the Kafka broker's TLS certificate is not trusted (${String(certificate.code)}): set KAFKA_SSL_CA to the CA that signed it`,
    );
  }
  const hostname = find((candidate) => candidate.code === 'ERR_TLS_CERT_ALTNAME_INVALID');
  if (hostname) {
    return wrap(
      `the Kafka broker's TLS certificate does not name the host it was reached at (${String(hostname.message)})`,
    );
  }
  const expired = find((candidate) => candidate.code === 'CERT_HAS_EXPIRED');
  if (expired) return wrap("the Kafka broker's TLS certificate has expired");
  const handshake = find((candidate) =>
    /wrong version number|EPROTO|packet length too long/i.test(String(candidate.message)),
  );
  if (handshake && connection.ssl) {
    return wrap(
      `TLS to the Kafka brokers at ${brokers} failed (${String(handshake.message)}): is it a plaintext listener?`,
    );
  }
  const closed = find((candidate) => candidate.name === 'KafkaJSConnectionClosedError');
  if (closed && !connection.ssl) {
    return wrap(
      `the Kafka brokers at ${brokers} closed the connection: a TLS or SASL listener needs KAFKA_SSL / KAFKA_SASL_MECHANISM`,
    );
  }
  const root = chain.at(-1);
  return wrap(`Kafka at ${brokers} cannot be reached: ${String(root?.message ?? error)}`);
}

function causes(error: unknown): Record<string, unknown>[] {
  const chain: Record<string, unknown>[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && chain.length < 20) {
    const next = queue.shift();
    if (typeof next !== 'object' || next === null || chain.includes(next as Record<string, unknown>))
      continue;
    const candidate = next as Record<string, unknown>;
    chain.push(candidate);
    queue.push(candidate.cause, candidate.originalError);
    if (Array.isArray(candidate.errors)) queue.push(...candidate.errors);
  }
  return chain;
}
